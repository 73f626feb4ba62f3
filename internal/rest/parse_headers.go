package rest

import (
	"mime"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// Prefer is the parsed Prefer header.
type Prefer struct {
	Return      string // minimal, headers-only, representation ("" = default)
	Count       string // exact, planned, estimated
	Resolution  string // merge-duplicates, ignore-duplicates
	Missing     string // default, null
	Handling    string // strict, lenient
	Tx          string // commit, rollback
	MaxAffected int64  // 0 = unset
	HasMax      bool
	Params      string // single-object (legacy RPC)
	// Timezone is a name of pg_timezone_names the transaction runs in.
	Timezone string
	// Applied lists the preferences honoured, for Preference-Applied.
	applied []string
	invalid []string
}

var preferValues = map[string][]string{
	"return":     {"minimal", "headers-only", "representation"},
	"count":      {"exact", "planned", "estimated"},
	"resolution": {"merge-duplicates", "ignore-duplicates"},
	"missing":    {"default", "null"},
	"handling":   {"strict", "lenient"},
	"tx":         {"commit", "rollback"},
	"params":     {"single-object"},
}

// ParsePrefer reads every Prefer header as PostgREST does: preferences
// are comma-separated, possibly over several headers, and the first one of
// a kind wins. timezone= is honoured when validZone accepts the name (nil
// accepts none). Unknown or malformed preferences are ignored unless
// handling=strict asks for an error (PGRST122); a max-affected= that is no
// number is ignored either way.
func ParsePrefer(h http.Header, validZone func(string) bool) (Prefer, error) {
	var p Prefer
	for _, line := range h.Values("Prefer") {
		for _, part := range strings.Split(line, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			k, v, _ := strings.Cut(part, "=")
			switch k {
			case "max-affected":
				if n, err := strconv.ParseInt(v, 10, 64); err == nil && !p.HasMax {
					p.MaxAffected, p.HasMax = n, true
				}
				continue
			case "timezone":
				if validZone != nil && validZone(v) {
					if p.Timezone == "" {
						p.Timezone = v
					}
				} else {
					p.invalid = append(p.invalid, part)
				}
				continue
			}
			allowed, known := preferValues[k]
			if !known || !contains(allowed, v) {
				p.invalid = append(p.invalid, part)
				continue
			}
			var field *string
			switch k {
			case "return":
				field = &p.Return
			case "count":
				field = &p.Count
			case "resolution":
				field = &p.Resolution
			case "missing":
				field = &p.Missing
			case "handling":
				field = &p.Handling
			case "tx":
				field = &p.Tx
			case "params":
				field = &p.Params
			}
			if *field == "" {
				*field = v
			}
		}
	}
	if p.Handling == "strict" && len(p.invalid) > 0 {
		return p, httpx.NewError(http.StatusBadRequest, "PGRST122", "Invalid preferences given with handling=strict").
			WithDetails("Invalid preferences: " + strings.Join(p.invalid, ", "))
	}
	return p, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// apply records a preference as honoured.
func (p *Prefer) apply(s string) { p.applied = append(p.applied, s) }

// applyCommon records the preferences every response reports when given:
// handling and timezone.
func (p *Prefer) applyCommon() {
	if p.Handling != "" {
		p.apply("handling=" + p.Handling)
	}
	if p.Timezone != "" {
		p.apply("timezone=" + p.Timezone)
	}
}

// appliedOrder is the order PostgREST lists applied preferences in.
var appliedOrder = []string{"resolution", "missing", "return", "params", "count", "tx", "handling", "timezone", "max-affected"}

// appliedHeader renders Preference-Applied, in PostgREST's order.
func (p *Prefer) appliedHeader() string {
	rank := func(s string) int {
		k, _, _ := strings.Cut(s, "=")
		for i, x := range appliedOrder {
			if x == k {
				return i
			}
		}
		return len(appliedOrder)
	}
	sort.SliceStable(p.applied, func(i, j int) bool { return rank(p.applied[i]) < rank(p.applied[j]) })
	return strings.Join(p.applied, ", ")
}

// Media types Fluxbase produces.
const (
	mediaJSON   = "application/json"
	mediaObject = "application/vnd.pgrst.object+json"
	mediaArray  = "application/vnd.pgrst.array+json"
	mediaCSV    = "text/csv"
	mediaPlan   = "application/vnd.pgrst.plan"
	// mediaHandler is a function's own media type (Accept.Handler): the
	// function returns a domain named after it, and its value is the body.
	mediaHandler = "handler"
)

// Accept is the representation chosen from the Accept header.
type Accept struct {
	Media string // one of the media* constants
	// Handler is the media type of the function's handler when Media is
	// mediaHandler.
	Handler      string
	NullsStrip   bool
	PlanFormat   string // text or json
	PlanFor      string
	PlanAnalyze  bool
	PlanVerbose  bool
	PlanSettings bool
	PlanBuffers  bool
	PlanWAL      bool
}

type acceptRange struct {
	typ    string
	params map[string]string
	q      float64
	order  int
}

// ParseAccept picks the representation: the acceptable media type with the
// highest quality that Fluxbase produces. None → 406 PGRST107. handlers are
// the media types of the endpoint's media type handlers (PostgREST's: a
// function returning a domain of that name, or an aggregate for a
// relation's rows), which the request gets when it accepts one of them
// before any other representation; they override the built-in JSON and
// CSV, not the vendor types, and "*/*" answers every request.
func ParseAccept(h http.Header, handlers ...string) (Accept, error) {
	handles := func(typ string) bool {
		return typ != "" && !strings.HasPrefix(typ, "application/vnd.pgrst.") && slices.Contains(handlers, typ)
	}
	handler := func(typ string) Accept { return Accept{Media: mediaHandler, Handler: typ} }
	if handles("*/*") {
		return handler("*/*"), nil
	}
	raw := strings.Join(h.Values("Accept"), ",")
	if strings.TrimSpace(raw) == "" {
		if handles(mediaJSON) {
			return handler(mediaJSON), nil
		}
		return Accept{Media: mediaJSON}, nil
	}
	var ranges []acceptRange
	for i, part := range strings.Split(raw, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		typ, params, err := mime.ParseMediaType(part)
		if err != nil {
			continue
		}
		q := 1.0
		if s, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				q = f
			}
		}
		ranges = append(ranges, acceptRange{typ: typ, params: params, q: q, order: i})
	}
	sort.SliceStable(ranges, func(i, j int) bool { return ranges[i].q > ranges[j].q })
	for _, r := range ranges {
		if r.q <= 0 {
			continue
		}
		a := Accept{NullsStrip: r.params["nulls"] == "stripped"}
		if handles(r.typ) {
			return handler(r.typ), nil
		}
		if (r.typ == "*/*" || r.typ == "application/*") && handles(mediaJSON) {
			return handler(mediaJSON), nil
		}
		switch r.typ {
		case "application/json", "*/*", "application/*":
			a.Media = mediaJSON
		case mediaObject:
			a.Media = mediaObject
		case mediaArray:
			a.Media = mediaJSON
		case mediaCSV:
			a.Media = mediaCSV
		case mediaPlan, mediaPlan + "+text", mediaPlan + "+json":
			a.Media = mediaPlan
			a.PlanFormat = "text"
			if r.typ == mediaPlan+"+json" {
				a.PlanFormat = "json"
			}
			a.PlanFor = r.params["for"]
			for _, o := range strings.Split(r.params["options"], "|") {
				switch o {
				case "analyze":
					a.PlanAnalyze = true
				case "verbose":
					a.PlanVerbose = true
				case "settings":
					a.PlanSettings = true
				case "buffers":
					a.PlanBuffers = true
				case "wal":
					a.PlanWAL = true
				}
			}
		default:
			continue
		}
		return a, nil
	}
	return Accept{}, httpx.NewError(http.StatusNotAcceptable, "PGRST107", "None of these media types are available: "+raw)
}

var rangePattern = regexp.MustCompile(`^([0-9]+)-([0-9]*)$`)

// Page is the window of rows a read returns.
type Page struct {
	Offset int64
	// Limit < 0 means no limit.
	Limit int64
}

// ParseRange reads the Range header (items lo-hi), PostgREST style: a
// value it cannot read means all rows. Returns (offset, limit) where limit
// < 0 is unbounded.
func ParseRange(h http.Header) (Page, error) {
	v := strings.TrimSpace(h.Get("Range"))
	if v == "" {
		return Page{Limit: -1}, nil
	}
	v = strings.TrimPrefix(v, "items=")
	m := rangePattern.FindStringSubmatch(v)
	if m == nil {
		return Page{Limit: -1}, nil
	}
	lo, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return Page{Limit: -1}, nil
	}
	if m[2] == "" {
		return Page{Offset: lo, Limit: -1}, nil
	}
	hi, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil {
		return Page{Offset: lo, Limit: -1}, nil
	}
	if hi < lo {
		return Page{}, httpx.NewError(http.StatusRequestedRangeNotSatisfiable, "PGRST103", "Requested range not satisfiable").
			WithDetails("The lower boundary must be lower than or equal to the upper boundary in the Range header.")
	}
	return Page{Offset: lo, Limit: hi - lo + 1}, nil
}

// intersect narrows a page by limit/offset from the query string, as
// PostgREST does: offset= intersects with the Range, and limit= counts from
// the resulting first row.
func (p Page) intersect(offset, limit int64, hasOffset, hasLimit bool) Page {
	const inf = int64(1) << 62
	hi := inf
	if p.Limit >= 0 {
		hi = p.Offset + p.Limit - 1
	}
	lo := p.Offset
	if hasOffset {
		lo = max(lo, offset)
	}
	if hasLimit {
		hi = min(hi, lo+limit-1)
	}
	if hi == inf {
		return Page{Offset: lo, Limit: -1}
	}
	return Page{Offset: lo, Limit: max(hi-lo+1, 0)}
}
