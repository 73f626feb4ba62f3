package obs

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/fluxbase/fluxbase/internal/config"
)

// NewLogger builds the process logger. Format "auto" writes human-readable
// text when w is a terminal and JSON otherwise, so that a developer sees
// readable lines while log shippers always get one JSON object per line.
// Empty values mean the defaults (info, auto).
func NewLogger(cfg config.LogConfig, w io.Writer) (*slog.Logger, error) {
	level, err := ParseLevel(cfg.Level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}

	format := strings.ToLower(strings.TrimSpace(cfg.Format))
	switch format {
	case "", "auto":
		if isTerminal(w) {
			format = "text"
		} else {
			format = "json"
		}
	case "json", "text":
	default:
		return nil, fmt.Errorf("log.format: invalid value %q (use auto, json or text)", cfg.Format)
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return slog.New(NewJSONHandler(w, opts)), nil
}

// ParseLevel parses a log level name: debug, info, warn (or warning) or
// error. The empty string is info.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log.level: invalid value %q (use debug, info, warn or error)", s)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}
