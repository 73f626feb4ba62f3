// Package apitest runs the whole Fluxbase server stack in-process against a
// fresh clone of the test database, and checks API behaviour with
// declarative scenario tables.
//
// It lives apart from testutil so that packages whose own tests use
// testutil do not import the app (and with it themselves) through it.
package apitest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/app"
	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/identity"
	"github.com/fluxbase/fluxbase/internal/testutil"
)

// Server is a running in-process Fluxbase.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:43127.
	URL    string
	Config *config.Config
	DB     *testutil.TestDB
	// AnonKey and ServiceRoleKey are the instance's API keys.
	AnonKey, ServiceRoleKey string
}

// NewServer starts Fluxbase on a free loopback port with the defaults, its
// database a fresh clone of the migrated template, then applies configure to
// the configuration. It stops when the test ends.
func NewServer(t testing.TB, configure ...func(*config.Config)) *Server {
	t.Helper()
	db := testutil.NewDB(t)
	cfg := config.Default()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Database.URL = db.AdminDSN
	cfg.Database.MaxConns = 8
	cfg.HTTP.ShutdownTimeout = 5 * time.Second
	for _, f := range configure {
		f(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("apitest: invalid configuration: %v", err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Serve(ctx, app.Options{Config: cfg, Logger: log, Ready: func(a net.Addr) { ready <- a }})
	}()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("apitest: server did not start: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("apitest: server did not become ready within 60s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("apitest: server stopped with error: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("apitest: server did not stop within 30s")
		}
	})

	// The keys the server minted are in its database; the test database's
	// own pool reads them without opening another connection to it.
	ids, err := identity.New(ctx, db.DB.Admin, cfg.Auth, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("apitest: reading the API keys: %v", err)
	}
	return &Server{URL: "http://" + addr.String(), Config: cfg, DB: db,
		AnonKey: ids.AnonKey(), ServiceRoleKey: ids.ServiceRoleKey()}
}

// testWriter sends server logs to the test's log, shown when it fails.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}
