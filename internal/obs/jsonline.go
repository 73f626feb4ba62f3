package obs

import (
	"io"
	"log/slog"
	"sync"
)

// JSONHandler is the handler of NewLogger's JSON format: slog's own
// JSONHandler, which formats every line, plus WriteLine for the one line
// written for every request (the HTTP access log), which its caller
// formats itself because slog's generic attribute machinery costs more
// than the rest of the line. Both write through the same lock, one Write
// per line, so lines never interleave.
type JSONHandler struct {
	*slog.JSONHandler
	out *lockedWriter
}

// NewJSONHandler returns a JSONHandler writing to w.
func NewJSONHandler(w io.Writer, opts *slog.HandlerOptions) *JSONHandler {
	out := &lockedWriter{w: w}
	return &JSONHandler{JSONHandler: slog.NewJSONHandler(out, opts), out: out}
}

// WriteLine writes one complete line: a JSON object in the same shape as
// the handler's own lines (time, level, msg first), ending in a newline.
// The caller checks Enabled first.
func (h *JSONHandler) WriteLine(line []byte) error {
	_, err := h.out.Write(line)
	return err
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
