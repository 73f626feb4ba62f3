package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/go-chi/chi/v5"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/identity"
	"github.com/fluxbase/fluxbase/internal/pg"
)

// Service is realtime as the app wires it: the change stream, the hub and
// the HTTP endpoints.
type Service struct {
	cfg          config.RealtimeConfig
	checkSession func(context.Context, identity.Identity) error
	db           *pg.DB
	ids          *identity.Service
	stream       *Stream
	hub          *Hub
	limits       *ConnLimits
	log          *slog.Logger
}

// Options are what New needs.
type Options struct {
	Config   config.RealtimeConfig
	DB       *pg.DB
	Identity *identity.Service
	// ReplicationDSN reaches the database as a role with REPLICATION.
	ReplicationDSN string
	// CheckSession, when set, refuses user tokens whose session ended
	// (the auth server's session check).
	CheckSession func(context.Context, identity.Identity) error
	Logger       *slog.Logger
}

// New builds the service; Run starts streaming.
func New(opts Options) *Service {
	s := &Service{cfg: opts.Config, db: opts.DB, ids: opts.Identity, log: opts.Logger, checkSession: opts.CheckSession,
		limits: &ConnLimits{Total: opts.Config.MaxConnections, PerIP: opts.Config.MaxConnectionsPerIP, PerUser: opts.Config.MaxConnectionsPerUser}}
	s.hub = NewHub(HubOptions{DB: opts.DB, Logger: opts.Logger, QueueSize: opts.Config.QueueSize})
	s.stream = NewStream(StreamOptions{
		DSN:      opts.ReplicationDSN,
		Logger:   opts.Logger,
		OnChange: func(ch *Change) { s.hub.HandleChange(context.Background(), ch) },
		OnState:  s.onStreamState,
	})
	s.hub.opts.Stream = s.stream
	return s
}

// Hub is the service's hub.
func (s *Service) Hub() *Hub { return s.hub }

func (s *Service) onStreamState(ev StreamEvent) {
	switch ev.State {
	case StreamDown:
		s.hub.System("error", "the database change stream broke; changes committed until it resumes are not delivered")
	case StreamLive:
		s.hub.System("ok", "the database change stream is live")
	}
}

// EnableTables enables the configured tables for database changes.
func (s *Service) EnableTables(ctx context.Context) error {
	for _, t := range s.cfg.Tables {
		if !strings.Contains(t, ".") {
			t = "public." + t
		}
		if _, err := s.db.Admin.Exec(ctx, `select realtime.enable_realtime($1::regclass)`, t); err != nil {
			return fmt.Errorf("realtime.tables: %s: %w", t, err)
		}
	}
	return nil
}

// Run streams changes and runs the instance bus until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.hub.RunBus(ctx, s.db.Admin) })
	err := s.stream.Run(ctx)
	wg.Wait()
	return err
}

func (s *Service) protocolOptions(origins []string) ProtocolOptions {
	return ProtocolOptions{
		Identity:          s.ids,
		MaxMessageBytes:   s.cfg.MaxMessageBytes,
		HeartbeatTimeout:  s.cfg.HeartbeatTimeout,
		MessagesPerSecond: s.cfg.MessagesPerSecond,
		Limits:            s.limits,
		OriginPatterns:    origins,
		CheckSession:      s.checkSession,
	}
}

// PhoenixHandler serves the Phoenix channels protocol.
func (s *Service) PhoenixHandler(origins []string) http.Handler {
	return s.hub.PhoenixHandler(s.protocolOptions(origins))
}

// NativeHandler serves Fluxbase's own JSON protocol.
func (s *Service) NativeHandler(origins []string) http.Handler {
	return s.hub.NativeHandler(s.protocolOptions(origins))
}

var errServiceRoleOnly = httpx.NewError(http.StatusForbidden, "forbidden", "this endpoint needs the service_role key")

// StatsHandler serves GET /api/v1/realtime/stats (service_role).
func (s *Service) StatsHandler(w http.ResponseWriter, r *http.Request) {
	if id, _ := identity.FromContext(r.Context()); id.Role != identity.RoleServiceRole {
		httpx.WriteError(w, r, errServiceRoleOnly)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, s.hub.Stats())
}

// BroadcastHandler serves POST /api/v1/realtime/broadcast (service_role or
// an API key with write:realtime):
// {"messages": [{"topic", "event", "payload"}]}, as Supabase's REST
// broadcast.
func (s *Service) BroadcastHandler(w http.ResponseWriter, r *http.Request) {
	// The service role, or an API key with the write:realtime scope.
	switch id, _ := identity.FromContext(r.Context()); {
	case id.APIKeyID != "":
		if err := id.RequireScope(identity.ScopeWriteRealtime); err != nil {
			httpx.WriteError(w, r, err)
			return
		}
	case id.Role != identity.RoleServiceRole:
		httpx.WriteError(w, r, errServiceRoleOnly)
		return
	}
	var body struct {
		Messages []struct {
			Topic   string          `json:"topic"`
			Event   string          `json:"event"`
			Payload json.RawMessage `json:"payload"`
		} `json:"messages"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Messages) == 0 {
		httpx.WriteError(w, r, httpx.NewError(http.StatusBadRequest, "invalid_body",
			"expected {\"messages\": [{\"topic\", \"event\", \"payload\"}]}"))
		return
	}
	for _, m := range body.Messages {
		if m.Topic == "" || m.Event == "" || len(m.Topic) > 255 || len(m.Event) > 255 {
			httpx.WriteError(w, r, httpx.NewError(http.StatusBadRequest, "invalid_message",
				"every message needs a topic and an event of 1 to 255 characters"))
			return
		}
	}
	for _, m := range body.Messages {
		s.hub.BroadcastTopic(hubTopic(m.Topic), BroadcastMessage{Event: m.Event, Payload: m.Payload})
	}
	w.WriteHeader(http.StatusAccepted)
}

// TablesHandler serves the realtime tables admin API (service_role):
// GET lists the tables enabled for database changes, POST {"table":
// "schema.table"} enables one, DELETE .../{table} disables one.
func (s *Service) TablesHandler(w http.ResponseWriter, r *http.Request) {
	if id, _ := identity.FromContext(r.Context()); id.Role != identity.RoleServiceRole {
		httpx.WriteError(w, r, errServiceRoleOnly)
		return
	}
	ctx := r.Context()
	var table string
	switch r.Method {
	case http.MethodPost:
		var body struct {
			Table string `json:"table"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Table == "" {
			httpx.WriteError(w, r, httpx.NewError(http.StatusBadRequest, "invalid_body", `expected {"table": "schema.table"}`))
			return
		}
		table = body.Table
	case http.MethodDelete:
		table = chi.URLParam(r, "table")
	}
	if table != "" {
		fn := "realtime.enable_realtime"
		if r.Method == http.MethodDelete {
			fn = "realtime.disable_realtime"
		}
		if !strings.Contains(table, ".") {
			table = "public." + table
		}
		if _, err := s.db.Admin.Exec(ctx, `select `+fn+`($1::regclass)`, table); err != nil {
			httpx.WriteError(w, r, pg.ErrorFrom(err))
			return
		}
	}
	rows, err := s.db.Admin.Query(ctx, `select schema, "table", replica_identity from realtime.realtime_tables order by 1, 2`)
	if err != nil {
		httpx.WriteError(w, r, pg.ErrorFrom(err))
		return
	}
	type entry struct {
		Schema          string `json:"schema"`
		Table           string `json:"table"`
		ReplicaIdentity string `json:"replica_identity"`
	}
	list := []entry{}
	for rows.Next() {
		var e entry
		if err := rows.Scan(&e.Schema, &e.Table, &e.ReplicaIdentity); err != nil {
			rows.Close()
			httpx.WriteError(w, r, pg.ErrorFrom(err))
			return
		}
		list = append(list, e)
	}
	rows.Close()
	httpx.WriteJSON(w, http.StatusOK, list)
}
