package pg

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fluxbase/fluxbase/internal/config"
)

// TestTextParamsMatchPgx checks that the settings statement's parameters
// go out as the very bytes, in the format, that pgx's own encoding of
// setupValues.args sends.
func TestTextParamsMatchPgx(t *testing.T) {
	v := setupValues{role: "anon", claims: []byte(`{"role":"anon","sub":"é\u0000"}`), method: "GET", path: "", headers: []byte(`{}`), cookies: []byte(`{"a":"b"}`)}
	for _, m := range []string{"sub-1", "日本\xff", "a\"b'c\\", "", string(make([]byte, 600))} {
		v.add(m)
	}
	textOIDs := func(n int) []uint32 {
		oids := make([]uint32, n)
		for i := range oids {
			oids[i] = pgtype.TextOID
		}
		return oids
	}
	sd := &pgconn.StatementDescription{ParamOIDs: textOIDs(v.count())}
	var eqb pgx.ExtendedQueryBuilder
	if err := eqb.Build(pgtype.NewMap(), sd, v.args()); err != nil {
		t.Fatal(err)
	}
	var s readStmts
	for round := 0; round < 2; round++ { // the second reuses the buffers
		got, ok := s.textParams(sd, &v)
		if !ok {
			t.Fatal("textParams refused text parameters")
		}
		if len(got) != len(eqb.ParamValues) {
			t.Fatalf("%d values, pgx has %d", len(got), len(eqb.ParamValues))
		}
		for i := range got {
			if got[i] == nil || !bytes.Equal(got[i], eqb.ParamValues[i]) {
				t.Errorf("param %d = %q, pgx sends %q", i+1, got[i], eqb.ParamValues[i])
			}
		}
		for i, f := range eqb.ParamFormats {
			if f != pgtype.TextFormatCode {
				t.Errorf("pgx sends param %d in format %d; textParams sends text", i+1, f)
			}
		}
	}

	// Anything else is left to pgx.
	int4 := textOIDs(v.count())
	int4[2] = pgtype.Int4OID
	for _, oids := range [][]uint32{int4, textOIDs(v.count() - 1), textOIDs(v.count() + 1)} {
		if _, ok := s.textParams(&pgconn.StatementDescription{ParamOIDs: oids}, &v); ok {
			t.Errorf("textParams accepted parameters %v", oids)
		}
	}
	noHeaders := v
	noHeaders.headers = nil
	if _, ok := s.textParams(sd, &noHeaders); ok {
		t.Error("textParams accepted a NULL")
	}
}

// BenchmarkSetupParams is the Go side of a read's settings statement:
// building it for a request and encoding its parameters, through pgx's
// generic encoding (what reads did before textParams, and what writes
// still do) and through textParams.
//
//	go test -run '^$' -bench SetupParams -benchmem ./internal/pg/
func BenchmarkSetupParams(b *testing.B) {
	db := &DB{API: new(pgxpool.Pool), cfg: config.DatabaseConfig{StatementTimeout: 8 * time.Second}}
	req := Request{
		Role:         "authenticated",
		Claims:       []byte(`{"sub":"7c1e0b9a-3f43-4c1e-9a8e-4b7a1f2f9c11","role":"authenticated","email":"a@example.com","aud":"authenticated","exp":4102444800}`),
		LegacyClaims: LegacyClaims{Sub: "7c1e0b9a-3f43-4c1e-9a8e-4b7a1f2f9c11", Role: "authenticated", Email: "a@example.com", Known: true},
		Method:       "GET",
		Path:         "/rest/v1/bench_items",
		Headers:      []byte(`{"accept":"application/json","user-agent":"bench","x-request-id":"0192"}`),
		HeadersValid: true,
		ReadOnly:     true,
	}
	st, err := db.requestSetup(req)
	if err != nil {
		b.Fatal(err)
	}
	oids := make([]uint32, st.vals.count())
	for i := range oids {
		oids[i] = pgtype.TextOID
	}
	sd := &pgconn.StatementDescription{ParamOIDs: oids}
	m := pgtype.NewMap()
	b.Run("pgx", func(b *testing.B) {
		var eqb pgx.ExtendedQueryBuilder
		b.ReportAllocs()
		for b.Loop() {
			st, _ := db.requestSetup(req)
			if err := eqb.Build(m, sd, st.vals.args()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("text", func(b *testing.B) {
		var s readStmts
		b.ReportAllocs()
		for b.Loop() {
			st, _ := db.requestSetup(req)
			if _, ok := s.textParams(sd, &st.vals); !ok {
				b.Fatal("not text")
			}
		}
	})
}

func TestValidRoleName(t *testing.T) {
	pattern := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*$`)
	names := []string{"", "anon", "authenticated", "service_role", "_x", "x$1", "$x", "1x", "a b", "a-b", "é", "a\x00",
		"Role9", "a;drop", strings.Repeat("a", 63), strings.Repeat("a", 64), "A_$9z", "x\n"}
	for c := 0; c < 256; c++ {
		names = append(names, string(rune(c)), "a"+string([]byte{byte(c)}))
	}
	for _, n := range names {
		want := len(n) <= 63 && pattern.MatchString(n)
		if got := validRoleName(n); got != want {
			t.Errorf("validRoleName(%q) = %v, want %v", n, got, want)
		}
	}
}
