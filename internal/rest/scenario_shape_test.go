package rest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

// TestShapeReuse runs reads of one shape with different values against
// PostgreSQL, so that each answer shows its own values were bound, and
// checks that a schema change reaches reads whose shape was seen before.
func TestShapeReuse(t *testing.T) {
	t.Parallel()
	s := apitest.NewServer(t)
	ctx := context.Background()
	if _, err := s.DB.DB.Admin.Exec(ctx, `create table public.shapes (id int primary key, name text not null);
		insert into public.shapes values (1, 'one'), (2, 'two'), (3, 'a*b'), (4, 'a%b'), (5, 'eq.1'), (6, 'été ✓'), (7, 'x,y');
		grant select on public.shapes to anon`); err != nil {
		t.Fatal(err)
	}
	anon := map[string]string{"apikey": s.AnonKey}
	waitFor(t, s, "/rest/v1/shapes?limit=1", anon)
	cases := []struct{ query, want string }{
		{"id=eq.1", `[{"id":1,"name":"one"}]`},
		{"id=eq.2", `[{"id":2,"name":"two"}]`},
		{"id=eq.7", `[{"id":7,"name":"x,y"}]`},
		{"name=eq.a*b", `[{"id":3,"name":"a*b"}]`},
		{"name=eq.eq.1", `[{"id":5,"name":"eq.1"}]`},
		{"name=eq.%C3%A9t%C3%A9%20%E2%9C%93", `[{"id":6,"name":"été ✓"}]`},
		{"name=like.a*b&order=id", `[{"id":3,"name":"a*b"},{"id":4,"name":"a%b"}]`},
		{"name=like.t*&order=id", `[{"id":2,"name":"two"}]`},
		{"id=in.(1,2)&order=id", `[{"id":1,"name":"one"},{"id":2,"name":"two"}]`},
		{"id=in.(7,%22x,y%22)&order=id", ``},
		{"name=in.(%22x,y%22,one)&order=id", `[{"id":1,"name":"one"},{"id":7,"name":"x,y"}]`},
		{"name=in.(two)&order=id", `[{"id":2,"name":"two"}]`},
	}
	for _, c := range cases {
		res, body := s.Do(t, http.MethodGet, "/rest/v1/shapes?"+c.query, anon, nil)
		if c.want == "" {
			if res.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: %d %s, want 400", c.query, res.StatusCode, body)
			}
			continue
		}
		if res.StatusCode != http.StatusOK || compactJSON(body) != c.want {
			t.Errorf("%s: %d %s, want %s", c.query, res.StatusCode, body, c.want)
		}
	}

	// A read served from a kept statement answers with the same headers.
	timing := regexp.MustCompile(`^parse;dur=[0-9.]+, plan;dur=[0-9.]+, transaction;dur=[0-9.]+, response;dur=[0-9.]+$`)
	for _, id := range []string{"1", "2"} {
		res, body := s.Do(t, http.MethodGet, "/rest/v1/shapes?select=name&id=eq."+id, anon, nil)
		if res.StatusCode != http.StatusOK || !timing.MatchString(res.Header.Get("Server-Timing")) ||
			res.Header.Get("Content-Location") != "/shapes?id=eq."+id+"&select=name" || res.Header.Get("Content-Range") != "0-0/*" {
			t.Errorf("id %s: %d %s %v", id, res.StatusCode, body, res.Header)
		}
	}

	if _, err := s.DB.DB.Admin.Exec(ctx, `alter table public.shapes add column extra text default 'x'`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, body := s.Do(t, http.MethodGet, "/rest/v1/shapes?id=eq.1", anon, nil)
		var rows []map[string]any
		if res.StatusCode == http.StatusOK && json.Unmarshal(body, &rows) == nil && len(rows) == 1 {
			if _, ok := rows[0]["extra"]; ok {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new column never appeared: %d %s", res.StatusCode, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	res, body := s.Do(t, http.MethodGet, "/rest/v1/shapes?id=eq.2", anon, nil)
	if want := `[{"id":2,"name":"two","extra":"x"}]`; res.StatusCode != http.StatusOK || compactJSON(body) != want {
		t.Errorf("after the reload: %d %s, want %s", res.StatusCode, body, want)
	}
}

func compactJSON(b []byte) string {
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return string(b)
	}
	return out.String()
}
