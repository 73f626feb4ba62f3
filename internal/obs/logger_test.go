package obs_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/obs"
)

func TestNewLoggerLevels(t *testing.T) {
	cases := []struct {
		level             string
		debug, info, warn bool
	}{
		{"debug", true, true, true},
		{"info", false, true, true},
		{"", false, true, true},
		{"WARN", false, false, true},
		{"warning", false, false, true},
		{"error", false, false, false},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		log, err := obs.NewLogger(config.LogConfig{Level: c.level, Format: "json"}, &buf)
		if err != nil {
			t.Fatalf("%q: %v", c.level, err)
		}
		log.Debug("d")
		log.Info("i")
		log.Warn("w")
		log.Error("e")
		out := buf.String()
		for msg, want := range map[string]bool{`"msg":"d"`: c.debug, `"msg":"i"`: c.info, `"msg":"w"`: c.warn, `"msg":"e"`: true} {
			if strings.Contains(out, msg) != want {
				t.Errorf("level %q: %s logged=%v, want %v", c.level, msg, !want, want)
			}
		}
	}
}

func TestNewLoggerFormats(t *testing.T) {
	var buf bytes.Buffer
	log, err := obs.NewLogger(config.LogConfig{Level: "info", Format: "json"}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hello", "k", 1)
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil || m["msg"] != "hello" || m["k"] != float64(1) {
		t.Fatalf("json output %q: %v", buf.String(), err)
	}

	buf.Reset()
	log, err = obs.NewLogger(config.LogConfig{Format: "text"}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hello", "k", 1)
	if !strings.Contains(buf.String(), "msg=hello k=1") {
		t.Fatalf("text output %q", buf.String())
	}

	// auto: a pipe, file or buffer is not a terminal, so JSON.
	buf.Reset()
	log, err = obs.NewLogger(config.LogConfig{Format: "auto"}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("x")
	if !json.Valid(bytes.TrimSpace(buf.Bytes())) {
		t.Fatalf("auto on a buffer: %q", buf.String())
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	log, err = obs.NewLogger(config.LogConfig{}, f)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("to file")
	b, _ := os.ReadFile(f.Name())
	if !json.Valid(bytes.TrimSpace(b)) {
		t.Fatalf("auto on a file: %q", b)
	}
}

func TestNewLoggerRejectsInvalidValues(t *testing.T) {
	if _, err := obs.NewLogger(config.LogConfig{Level: "verbose"}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "log.level") {
		t.Errorf("bad level: %v", err)
	}
	if _, err := obs.NewLogger(config.LogConfig{Format: "xml"}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "log.format") {
		t.Errorf("bad format: %v", err)
	}
}
