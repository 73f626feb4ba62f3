package httpx

import (
	"context"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/fluxbase/fluxbase/internal/jsonenc"
)

// lineSink is a log handler that takes complete JSON lines
// (obs.JSONHandler).
type lineSink interface {
	Enabled(context.Context, slog.Level) bool
	WriteLine([]byte) error
}

// linePool holds the buffers access log lines are formatted in; lines
// longer than maxPooledLine (a huge user agent, say) are not kept.
var linePool = sync.Pool{New: func() any {
	b := make([]byte, 0, 1024)
	return &b
}}

const maxPooledLine = 16 << 10

// plainExtras reports whether appendJSON can write every extra attribute
// exactly as slog's JSONHandler would; the others (times, groups, values
// slog encodes with encoding/json) take slog's path.
func (e *accessEntry) plainExtras() bool {
	for _, a := range e.extra {
		if a.Key == "" {
			return false
		}
		switch a.Value.Kind() {
		case slog.KindString, slog.KindInt64, slog.KindUint64, slog.KindFloat64, slog.KindBool, slog.KindDuration:
		default:
			return false
		}
	}
	return true
}

// appendJSON appends e as the line slog's JSONHandler writes for the
// record "request" at t and level with e.attrs(): the same keys in the
// same order, the same number and string encodings, one line.
func (e *accessEntry) appendJSON(b []byte, t time.Time, level slog.Level) []byte {
	b = append(b, `{"time":"`...)
	b = t.Round(0).AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":`...)
	b = jsonenc.AppendString(b, level.String())
	b = append(b, `,"msg":"request","request_id":`...)
	b = jsonenc.AppendString(b, e.requestID)
	b = append(b, `,"method":`...)
	b = jsonenc.AppendString(b, e.method)
	b = append(b, `,"route":`...)
	b = jsonenc.AppendString(b, e.route)
	b = append(b, `,"path":`...)
	b = jsonenc.AppendString(b, e.path)
	if e.query != "" {
		b = append(b, `,"query":`...)
		b = jsonenc.AppendString(b, e.query)
	}
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, `,"duration_ms":`...)
	b = appendLogFloat(b, e.durationMS)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, e.bytes, 10)
	b = append(b, `,"ip":`...)
	b = jsonenc.AppendString(b, e.ip)
	b = append(b, `,"user_agent":`...)
	b = jsonenc.AppendString(b, e.userAgent)
	b = append(b, `,"proto":`...)
	b = jsonenc.AppendString(b, e.proto)
	if e.aborted {
		b = append(b, `,"aborted":true`...)
	}
	for _, a := range e.extra {
		b = append(b, ',')
		b = jsonenc.AppendString(b, a.Key)
		b = append(b, ':')
		b = appendLogValue(b, a.Value)
	}
	if e.cause != nil {
		b = append(b, `,"error":`...)
		b = jsonenc.AppendString(b, e.cause.Error())
	}
	return append(b, "}\n"...)
}

// appendLogValue encodes the kinds plainExtras accepts as slog does.
func appendLogValue(b []byte, v slog.Value) []byte {
	switch v.Kind() {
	case slog.KindString:
		return jsonenc.AppendString(b, v.String())
	case slog.KindInt64:
		return strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindUint64:
		return strconv.AppendUint(b, v.Uint64(), 10)
	case slog.KindFloat64:
		return appendLogFloat(b, v.Float64())
	case slog.KindBool:
		return strconv.AppendBool(b, v.Bool())
	case slog.KindDuration:
		return strconv.AppendInt(b, int64(v.Duration()), 10)
	}
	return append(b, "null"...)
}

// appendLogFloat encodes f as encoding/json does (which slog uses for
// floats): the shortest representation, in exponent form only for very
// small and very large magnitudes. NaN and infinities, which JSON cannot
// hold (and a duration never is), are written as strings so that the line
// stays valid JSON.
func appendLogFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return jsonenc.AppendString(b, strconv.FormatFloat(f, 'g', -1, 64))
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// 1e-07, not 1e-7: keep json's two-digit exponent clean-up.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
