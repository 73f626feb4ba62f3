package rest

import (
	"context"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/fluxbase/fluxbase/internal/testutil"
)

// TestScanResultRowMatchesScan checks the raw decoding of the result row
// against pgx's Scan into the same destinations, for both shapes of the
// row, NULLs, empty and large values, both result formats of bigint, and
// that anything else is left to Scan.
func TestScanResultRowMatchesScan(t *testing.T) {
	ctx := context.Background()
	db := testutil.NewDB(t)
	conn, err := db.DB.Admin.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	rows := []string{
		`SELECT NULL::bigint, 3::bigint, '[{"a":1}]'::text, NULL::text, NULL::text`,
		`SELECT 9000000000::bigint, 0::bigint, ''::text, '[{"Set-Cookie":"x"}]'::text, '201'::text`,
		`SELECT -1::bigint, 1::bigint, NULL::text, ''::text, ''::text`,
		`SELECT NULL::bigint, count(*), repeat('é"\', 5000), NULL::text, NULL::text FROM generate_series(1, 7)`,
		`SELECT NULL::bigint, 2::bigint, '[]'::text, '["1","a b"]'::text, 2::bigint, NULL::text, NULL::text`,
		`SELECT 5::bigint, 2::bigint, NULL::text, NULL::text, NULL::bigint, '[]'::text, '204'::text`,
	}
	unknown := []string{
		`SELECT NULL::bigint, NULL::bigint, '[]'::text, NULL::text, NULL::text`, // Scan's error
		`SELECT 1::int, 1::bigint, '[]'::text, NULL::text, NULL::text`,
		`SELECT 1::bigint, 1::bigint, '[]'::json, NULL::text, NULL::text`,
		`SELECT 1::bigint, 1::bigint, '[]'::text, NULL::text`,
		`SELECT 1::bigint, 1::bigint, '[]'::text, 1::bigint, 2::bigint, NULL::text, NULL::text`,
	}
	scan := func(sql string, mode pgx.QueryExecMode, fast bool) (result, bool, error) {
		var res result
		rs, err := conn.Query(ctx, sql, mode)
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		if !rs.Next() {
			t.Fatalf("%s: no row: %v", sql, rs.Err())
		}
		if fast {
			ok := scanResultRow(rs, &res)
			return res, ok, nil
		}
		dest := []any{&res.total, &res.page, &res.body}
		if len(rs.FieldDescriptions()) > 5 {
			dest = append(dest, &res.location, &res.inserted)
		}
		dest = append(dest, &res.respHeaders, &res.respStatus)
		return res, true, rs.Scan(dest...)
	}
	// Extended protocol with binary bigints (pgx's choice), and the simple
	// protocol, where every value is text.
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
		for _, sql := range rows {
			want, _, err := scan(sql, mode, false)
			if err != nil {
				t.Fatalf("%s: Scan: %v", sql, err)
			}
			got, ok, _ := scan(sql, mode, true)
			if !ok {
				t.Errorf("%s (mode %v): not decoded", sql, mode)
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s (mode %v):\n got %+v\nwant %+v", sql, mode, got, want)
			}
		}
		for _, sql := range unknown {
			if _, ok, _ := scan(sql, mode, true); ok {
				t.Errorf("%s (mode %v): decoded, should be left to Scan", sql, mode)
			}
		}
	}
}
