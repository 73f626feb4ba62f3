package config

import (
	"strings"
	"testing"
	"time"
)

func TestRESTValidation(t *testing.T) {
	cases := []struct {
		name   string
		modify func(*RESTConfig)
		key    string
		want   string
	}{
		{"no schema", func(r *RESTConfig) { r.Schemas = nil }, "rest.schemas", "at least one schema"},
		{"own schema", func(r *RESTConfig) { r.Schemas = []string{"public", "auth"} }, "rest.schemas", "never exposed"},
		{"catalog", func(r *RESTConfig) { r.Schemas = []string{"pg_catalog"} }, "rest.schemas", "never exposed"},
		{"pg_ prefix", func(r *RESTConfig) { r.Schemas = []string{"pg_temp_3"} }, "rest.schemas", "never exposed"},
		{"information_schema", func(r *RESTConfig) { r.Schemas = []string{"information_schema"} }, "rest.schemas", "never exposed"},
		{"bad name", func(r *RESTConfig) { r.Schemas = []string{"a b"} }, "rest.schemas", "not a valid schema name"},
		{"twice", func(r *RESTConfig) { r.Schemas = []string{"public", "public"} }, "rest.schemas", "listed twice"},
		{"negative max rows", func(r *RESTConfig) { r.MaxRows = -1 }, "rest.max_rows", "must not be negative"},
		{"depth zero", func(r *RESTConfig) { r.MaxEmbedDepth = 0 }, "rest.max_embed_depth", "between 1 and 32"},
		{"depth large", func(r *RESTConfig) { r.MaxEmbedDepth = 33 }, "rest.max_embed_depth", "between 1 and 32"},
		{"timeout shape", func(r *RESTConfig) { r.StatementTimeouts = []string{"anon"} }, "rest.statement_timeouts", "role=duration"},
		{"timeout role", func(r *RESTConfig) { r.StatementTimeouts = []string{"Bad Role=1s"} }, "rest.statement_timeouts", "role=duration"},
		{"timeout value", func(r *RESTConfig) { r.StatementTimeouts = []string{"anon=soon"} }, "rest.statement_timeouts", "not a duration"},
		{"timeout negative", func(r *RESTConfig) { r.StatementTimeouts = []string{"anon=-1s"} }, "rest.statement_timeouts", "not a duration"},
		{"extra search path", func(r *RESTConfig) { r.ExtraSearchPath = []string{"public", "a;b"} }, "rest.extra_search_path", "not a valid schema name"},
		{"pre-request quoted", func(r *RESTConfig) { r.PreRequest = `public."check"` }, "rest.pre_request", "not a function name"},
		{"pre-request three parts", func(r *RESTConfig) { r.PreRequest = "a.b.c" }, "rest.pre_request", "not a function name"},
		{"pre-request call", func(r *RESTConfig) { r.PreRequest = "public.check()" }, "rest.pre_request", "not a function name"},
	}
	for _, c := range cases {
		cfg := Default()
		c.modify(&cfg.REST)
		err := cfg.Validate()
		if err == nil {
			t.Errorf("%s: validated", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.key) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %s ... %s", c.name, err, c.key, c.want)
		}
	}
	cfg := Default()
	cfg.REST.Schemas = []string{"public", "api", "Shop_2"}
	cfg.REST.MaxRows = 0
	cfg.REST.StatementTimeouts = []string{"anon=1s", " authenticated = 2m ", "service_role=0s"}
	cfg.REST.PreRequest = "check_request"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("valid rest section rejected: %v", err)
	}
	if s, n, ok := cfg.REST.PreRequestFunction(); !ok || s != "public" || n != "check_request" {
		t.Errorf("pre-request without a schema = %q.%q %v, want the first exposed schema", s, n, ok)
	}
	cfg.REST.PreRequest = "api.Check_1"
	if s, n, ok := cfg.REST.PreRequestFunction(); !ok || s != "api" || n != "Check_1" {
		t.Errorf("pre-request = %q.%q %v", s, n, ok)
	}
	for role, want := range map[string]time.Duration{"anon": time.Second, "authenticated": 2 * time.Minute, "service_role": 0} {
		if d, ok := cfg.REST.StatementTimeout(role); !ok || d != want {
			t.Errorf("StatementTimeout(%s) = %v, %v", role, d, ok)
		}
	}
	if _, ok := cfg.REST.StatementTimeout("other"); ok {
		t.Error("a role not listed has a timeout")
	}
}
