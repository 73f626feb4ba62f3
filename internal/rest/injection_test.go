package rest_test

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/testutil/fixtures"
)

// The injection corpus: every payload goes through every query parameter,
// the JSON body (keys and values), the profile headers and the path. Each
// answer must be a 4xx with PostgREST's error body or a correct, harmless
// result: never a 5xx, never a row that row level security hides, never
// SQL that the engine generated in an error, never a syntax error from the
// database (which would mean input reached the SQL text).

//go:embed testdata/injection_payloads.json
var injectionPayloadsJSON []byte

// Payloads written into the query string as they are: broken
// percent-encoding and encoded bytes that are not UTF-8.
//
//go:embed testdata/injection_raw.json
var injectionRawJSON []byte

type payload struct {
	s   string
	raw bool // s goes into query strings unescaped
	// every sends the payload through every target even when the matrix
	// is thinned (see injectionStride): the oversized ones.
	every bool
}

func (p payload) String() string {
	q := fmt.Sprintf("%q", p.s)
	if len(q) > 80 {
		q = q[:80] + fmt.Sprintf("…(%d bytes)", len(p.s))
	}
	if p.raw {
		return "raw " + q
	}
	return q
}

// q is the payload as a query string value.
func (p payload) q() string {
	if p.raw {
		return p.s
	}
	return url.QueryEscape(p.s)
}

// seg is the payload as a path segment.
func (p payload) seg() string {
	if p.raw {
		return p.s
	}
	return url.PathEscape(p.s)
}

func loadPayloads(t *testing.T) []payload {
	t.Helper()
	var strs, raws []string
	if err := json.Unmarshal(injectionPayloadsJSON, &strs); err != nil {
		t.Fatalf("testdata/injection_payloads.json: %v", err)
	}
	if err := json.Unmarshal(injectionRawJSON, &raws); err != nil {
		t.Fatalf("testdata/injection_raw.json: %v", err)
	}
	var ps []payload
	for _, s := range strs {
		ps = append(ps, payload{s: s})
	}
	for _, s := range raws {
		ps = append(ps, payload{s: s, raw: true})
	}
	// Oversized payloads are built here rather than stored.
	ids := make([]string, 20000)
	for i := range ids {
		ids[i] = fmt.Sprint(i)
	}
	for _, s := range []string{
		strings.Repeat("a", 100_000),
		strings.Repeat("'", 20_000),
		strings.Join(ids, ","),
		strings.Repeat("(", 5_000) + "1" + strings.Repeat(")", 5_000),
		strings.Repeat("or(", 500) + "id.eq.1" + strings.Repeat(")", 500),
		strings.Repeat("categories(", 200) + "id" + strings.Repeat(")", 200),
		strings.Repeat("id,", 3000) + "id",
		strings.Repeat("attributes->", 2000) + "a",
		strings.Repeat("not.", 2000) + "eq.1",
		"{" + strings.Repeat("x,", 20000) + "x}",
	} {
		ps = append(ps, payload{s: s, every: true})
	}
	return ps
}

// probe is one request of the corpus and what it needs to be correct
// beyond the common checks.
type probe struct {
	target  string
	method  string
	path    string
	headers map[string]string
	body    []byte
	// verify checks a 2xx body; it returns a problem or "".
	verify func(body []byte) string
}

// Fragments of the SQL the engine generates. An error that shows one (when
// the payload itself does not contain it) leaks the generated statement.
var generatedSQL = []string{
	"pgrst_", "json_agg", "json_populate", "json_build", "row_to_json", "string_agg", "to_json(", "coalesce(",
	"select count(", "select t0", "select coalesce", "select json", "select null", "select row", "from \"", "from (",
	"lateral", "_f.v", "t0.", "l0.", "$1", "$2",
}

// Things no anon, Alice or injected request may ever see.
var secrets = []string{fixtures.Sentinel, "OLD-001", "Discontinued Widget", "-----BEGIN"}

func TestInjectionCorpus(t *testing.T) {
	t.Parallel()
	shop, c := newShop(t)
	payloads := loadPayloads(t)
	if len(payloads) < 500 {
		t.Fatalf("the corpus has %d payloads, want at least 500", len(payloads))
	}

	rollback := h(c.svc, "Prefer", "return=representation, tx=rollback")
	greeting := func(p payload) func([]byte) string {
		return func(body []byte) string {
			var got string
			if err := json.Unmarshal(body, &got); err != nil {
				return "greet did not answer a JSON string"
			}
			if p.raw {
				return ""
			}
			if want := "Hello, " + p.s + "!"; got != want {
				return fmt.Sprintf("greet answered %q, want %q", got, want)
			}
			return ""
		}
	}
	emptyArray := func(body []byte) string {
		if string(body) != "[]" {
			return "a filter no row meets returned rows: " + truncate(string(body))
		}
		return ""
	}
	onlyAlice := func(body []byte) string {
		var rows []map[string]any
		if err := json.Unmarshal(body, &rows); err != nil {
			return "not a JSON array"
		}
		for _, r := range rows {
			if r["customer_id"] != fixtures.AliceID {
				return "Alice received someone else's order: " + truncate(string(body))
			}
		}
		return ""
	}
	targets := []func(p payload) probe{
		func(p payload) probe {
			return probe{target: "select", path: "/rest/v1/products?select=" + p.q()}
		},
		func(p payload) probe {
			return probe{target: "select in an embed", path: "/rest/v1/products?select=id,categories(" + p.q() + ")"}
		},
		func(p payload) probe {
			return probe{target: "embedded resource name", path: "/rest/v1/products?select=id," + p.q() + "(id)"}
		},
		func(p payload) probe {
			return probe{target: "embedded order", path: "/rest/v1/categories?select=id,products(id)&products.order=" + p.q()}
		},
		func(p payload) probe {
			return probe{target: "embedded limit", path: "/rest/v1/categories?select=id,products(id)&products.limit=" + p.q()}
		},
		func(p payload) probe {
			return probe{target: "eq on a text column", path: "/rest/v1/products?select=id&name=eq." + p.q(), verify: emptyArray}
		},
		func(p payload) probe {
			return probe{target: "eq on an integer column", path: "/rest/v1/products?select=id&id=eq." + p.q()}
		},
		func(p payload) probe {
			return probe{target: "column name of a filter", path: "/rest/v1/products?select=id&" + p.q() + "=eq.1"}
		},
		func(p payload) probe {
			return probe{target: "operator of a filter", path: "/rest/v1/products?select=id&name=" + p.q()}
		},
		func(p payload) probe {
			return probe{target: "json path key", path: "/rest/v1/products?select=id&attributes-%3E%3E" + p.q() + "=eq.1"}
		},
		func(p payload) probe {
			return probe{target: "in list", path: "/rest/v1/products?select=id&name=in.(" + p.q() + ")"}
		},
		func(p payload) probe {
			return probe{target: "array literal", path: "/rest/v1/products?select=id&sizes=cs.%7B" + p.q() + "%7D"}
		},
		func(p payload) probe {
			return probe{target: "full-text search", path: "/rest/v1/products?select=id&search=fts(english)." + p.q()}
		},
		func(p payload) probe {
			return probe{target: "like", path: "/rest/v1/products?select=id&name=ilike." + p.q()}
		},
		func(p payload) probe {
			return probe{target: "or value", path: "/rest/v1/products?select=id&or=(name.eq." + p.q() + ",id.eq.0)"}
		},
		func(p payload) probe {
			return probe{target: "or tree", path: "/rest/v1/products?select=id&or=(" + p.q() + ")"}
		},
		func(p payload) probe {
			return probe{target: "and tree", path: "/rest/v1/products?select=id&and=(id.eq." + p.q() + ",name.eq." + p.q() + ")"}
		},
		func(p payload) probe {
			return probe{target: "embedded filter", path: "/rest/v1/categories?select=id,products(id)&products.name=eq." + p.q()}
		},
		func(p payload) probe {
			return probe{target: "order", path: "/rest/v1/products?select=id&order=" + p.q()}
		},
		func(p payload) probe {
			return probe{target: "limit", path: "/rest/v1/products?select=id&limit=" + p.q()}
		},
		func(p payload) probe {
			return probe{target: "offset", path: "/rest/v1/products?select=id&offset=" + p.q()}
		},
		func(p payload) probe {
			return probe{target: "on_conflict", method: http.MethodPost, path: "/rest/v1/tags?on_conflict=" + p.q(),
				headers: h(c.svc, "Prefer", "resolution=merge-duplicates, tx=rollback"), body: mustMarshal(map[string]any{"name": "sale"})}
		},
		func(p payload) probe {
			return probe{target: "columns", method: http.MethodPost, path: "/rest/v1/tags?columns=" + p.q(),
				headers: rollback, body: mustMarshal(map[string]any{"name": "columns-probe"})}
		},
		func(p payload) probe {
			return probe{target: "body value", method: http.MethodPost, path: "/rest/v1/tags?select=name", headers: rollback,
				body: mustMarshal(map[string]any{"name": p.s}),
				verify: func(body []byte) string {
					var rows []map[string]string
					if err := json.Unmarshal(body, &rows); err != nil || len(rows) != 1 {
						return "insert did not return its one row: " + truncate(string(body))
					}
					var want string
					_ = json.Unmarshal(mustMarshal(p.s), &want)
					if rows[0]["name"] != want {
						return fmt.Sprintf("stored %q, sent %q", rows[0]["name"], p.s)
					}
					return ""
				}}
		},
		func(p payload) probe {
			return probe{target: "body key", method: http.MethodPost, path: "/rest/v1/tags", headers: rollback,
				body: mustMarshal(map[string]any{p.s: "x"})}
		},
		func(p payload) probe {
			return probe{target: "raw body", method: http.MethodPost, path: "/rest/v1/tags", headers: h(rollback, "Content-Type", "application/json"),
				body: []byte(p.s)}
		},
		func(p payload) probe {
			return probe{target: "patch filter", method: http.MethodPatch, path: "/rest/v1/tags?name=eq." + p.q(), headers: rollback,
				body: mustMarshal(map[string]any{"name": "patched"}), verify: emptyArray}
		},
		func(p payload) probe {
			return probe{target: "delete filter", method: http.MethodDelete, path: "/rest/v1/tags?name=eq." + p.q(), headers: rollback, verify: emptyArray}
		},
		func(p payload) probe {
			return probe{target: "rpc GET argument", path: "/rest/v1/rpc/greet?name=" + p.q(), verify: greeting(p)}
		},
		func(p payload) probe {
			return probe{target: "rpc POST argument", method: http.MethodPost, path: "/rest/v1/rpc/greet",
				body: mustMarshal(map[string]any{"name": p.s}), verify: greeting(p)}
		},
		func(p payload) probe {
			return probe{target: "rpc argument name", path: "/rest/v1/rpc/greet?" + p.q() + "=x"}
		},
		func(p payload) probe {
			return probe{target: "rpc POST argument name", method: http.MethodPost, path: "/rest/v1/rpc/greet",
				body: mustMarshal(map[string]any{p.s: "x"})}
		},
		func(p payload) probe {
			return probe{target: "rpc filter", path: "/rest/v1/rpc/products_in_category?category=3&select=id&name=eq." + p.q(), verify: emptyArray}
		},
		func(p payload) probe {
			return probe{target: "table name", path: "/rest/v1/" + p.seg()}
		},
		func(p payload) probe {
			return probe{target: "function name", method: http.MethodPost, path: "/rest/v1/rpc/" + p.seg(), body: []byte("{}")}
		},
		func(p payload) probe {
			return probe{target: "native table name", path: "/api/v1/tables/" + p.seg() + "?select=id"}
		},
		func(p payload) probe {
			return probe{target: "native row id", path: "/api/v1/tables/products/" + p.seg()}
		},
		func(p payload) probe {
			return probe{target: "Accept-Profile", path: "/rest/v1/products?select=id", headers: map[string]string{"Accept-Profile": p.s}}
		},
		func(p payload) probe {
			return probe{target: "Content-Profile", method: http.MethodPost, path: "/rest/v1/tags", headers: h(rollback, "Content-Profile", p.s),
				body: mustMarshal(map[string]any{"name": "profile-probe"})}
		},
		func(p payload) probe {
			return probe{target: "Accept", path: "/rest/v1/products?select=id", headers: map[string]string{"Accept": p.s}}
		},
		func(p payload) probe {
			return probe{target: "Accept of rows with media type handlers", path: "/rest/v1/tags?id=lt.3", headers: map[string]string{"Accept": p.s}}
		},
		func(p payload) probe {
			return probe{target: "Accept of a media type handler function", path: "/rest/v1/rpc/welcome_page", headers: map[string]string{"Accept": p.s}}
		},
		func(p payload) probe {
			return probe{target: "Prefer", path: "/rest/v1/products?select=id", headers: map[string]string{"Prefer": p.s}}
		},
		func(p payload) probe {
			return probe{target: "Range", path: "/rest/v1/products?select=id", headers: map[string]string{"Range": p.s}}
		},
		func(p payload) probe {
			return probe{target: "Alice's orders", path: "/rest/v1/orders?select=id,customer_id&or=(notes.eq." + p.q() + ",notes.is.null)",
				headers: c.alice, verify: onlyAlice}
		},
	}

	type job struct {
		p payload
		t int
	}
	jobs := make(chan job)
	var (
		mu       sync.Mutex
		problems = map[string][]string{}
		sent     int
	)
	report := func(target string, p payload, msg string) {
		mu.Lock()
		defer mu.Unlock()
		problems[target] = append(problems[target], fmt.Sprintf("%s: %s", p, msg))
	}
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16},
	}
	var wg sync.WaitGroup
	for w := 0; w < 12; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				pr := targets[j.t](j.p)
				// Without a token the caller is anon: the hostile case, and
				// no signature to verify on each of thousands of requests.
				if !headersValid(pr.headers) {
					continue
				}
				status, hdrs, body, err := do(client, shop.URL, pr)
				mu.Lock()
				sent++
				mu.Unlock()
				if err != nil {
					report(pr.target, j.p, "transport: "+err.Error())
					continue
				}
				if msg := judge(j.p, pr, status, hdrs, body); msg != "" {
					report(pr.target, j.p, msg)
				}
			}
		}()
	}
	for pi, p := range payloads {
		for ti := range targets {
			if p.every || (pi+ti)%injectionStride == 0 {
				jobs <- job{p: p, t: ti}
			}
		}
	}
	close(jobs)
	wg.Wait()
	t.Logf("%d payloads, %d targets, %d requests (stride %d)", len(payloads), len(targets), sent, injectionStride)

	names := make([]string, 0, len(problems))
	for k := range problems {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		list := problems[k]
		shown := list
		if len(shown) > 8 {
			shown = shown[:8]
		}
		t.Errorf("%s: %d payloads answered wrongly, for example:\n  %s", k, len(list), strings.Join(shown, "\n  "))
	}

	// Nothing the corpus did may have changed the database.
	for query, want := range map[string]int64{
		`select count(*) from internal_notes where body like '` + fixtures.Sentinel + `%'`: 1,
		`select count(*) from products`:                                               10,
		`select count(*) from products where active`:                                  9,
		`select count(*) from tags`:                                                   6,
		`select count(*) from page_views`:                                             3,
		`select count(*) from pg_tables where tablename = 'pwned'`:                    0,
		`select count(*) from pg_class where relname = 'tags'`:                        1,
		`select count(*) from pg_class where relrowsecurity and relname = 'products'`: 1,
		`select count(*) from information_schema.role_table_grants where grantee = 'anon' and table_name = 'internal_notes' and privilege_type <> 'SELECT'`: 0,
		`select count(*) from pg_stat_activity where state = 'active' and query ilike '%pg_sleep%' and pid <> pg_backend_pid()`:                             0,
	} {
		var got int64
		if err := shop.DB.DB.Admin.QueryRow(context.Background(), query).Scan(&got); err != nil {
			t.Errorf("%s: %v", query, err)
		} else if got != want {
			t.Errorf("after the corpus, %s = %d, want %d", query, got, want)
		}
	}
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// headersValid reports whether Go's client can send the values at all
// (no control characters): payloads that cannot be sent are skipped for
// header targets.
func headersValid(hs map[string]string) bool {
	for _, v := range hs {
		for i := 0; i < len(v); i++ {
			if b := v[i]; (b < 0x20 && b != '\t') || b == 0x7f {
				return false
			}
		}
	}
	return true
}

func do(client *http.Client, base string, pr probe) (int, http.Header, []byte, error) {
	method := pr.method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequest(method, base+pr.path, bytes.NewReader(pr.body))
	if err != nil {
		// Go's client will not send this URL (a bad percent-escape, say);
		// a hostile client would, so it goes on the wire as written.
		var ue *url.Error
		if errors.As(err, &ue) {
			return doRaw(base, method, pr)
		}
		return 0, nil, nil, err
	}
	if pr.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range pr.headers {
		req.Header.Set(k, v)
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, body, err
}

// doRaw sends pr with its path exactly as written, on a connection of its
// own.
func doRaw(base, method string, pr probe) (int, http.Header, []byte, error) {
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		return 0, nil, nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: fluxbase\r\nConnection: close\r\nContent-Length: %d\r\n", method, pr.path, len(pr.body))
	if pr.body != nil {
		b.WriteString("Content-Type: application/json\r\n")
	}
	for k, v := range pr.headers {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	b.Write(pr.body)
	if _, err := conn.Write(b.Bytes()); err != nil {
		return 0, nil, nil, err
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, body, err
}

// judge returns what is wrong with an answer, or "".
func judge(p payload, pr probe, status int, hdrs http.Header, body []byte) string {
	if status >= 500 {
		return fmt.Sprintf("status %d: %s", status, truncate(string(body)))
	}
	for _, s := range secrets {
		if bytes.Contains(body, []byte(s)) {
			return "the answer contains " + s
		}
	}
	if status >= 400 {
		var e map[string]any
		if err := json.Unmarshal(body, &e); err != nil {
			return fmt.Sprintf("status %d with a body that is not a JSON error: %s", status, truncate(string(body)))
		}
		for _, k := range []string{"code", "message", "details", "hint"} {
			if _, ok := e[k]; !ok {
				return fmt.Sprintf("error body lacks %q: %s", k, truncate(string(body)))
			}
		}
		if ct := hdrs.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			return "error Content-Type " + ct
		}
		msg, _ := e["message"].(string)
		// A syntax error means text reached the SQL parser, unless the
		// payload asked for a type's own parser: a cast (to regtype,
		// tsquery, ...) or a full-text search query.
		if e["code"] == "42601" && !strings.Contains(msg, "tsquery") && !strings.Contains(p.s, "::") &&
			!strings.Contains(pr.path, "fts") && !strings.Contains(p.s, "fts") {
			return "input reached the SQL text (syntax error): " + truncate(string(body))
		}
		text := strings.ToLower(fmt.Sprint(e["message"], " ", e["details"], " ", e["hint"]))
		lp := strings.ToLower(p.s)
		for _, f := range generatedSQL {
			if strings.Contains(text, f) && !strings.Contains(lp, strings.TrimSpace(f)) {
				return fmt.Sprintf("the error shows generated SQL (%q): %s", f, truncate(string(body)))
			}
		}
		return ""
	}
	if status >= 200 && status < 300 && pr.verify != nil {
		return pr.verify(body)
	}
	return ""
}

func truncate(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}
