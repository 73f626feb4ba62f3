package storage_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/fluxbase/fluxbase/internal/testutil"
)

// The helpers policies use, as Supabase Storage defines them.
func TestSQLHelpers(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	for _, c := range []struct{ name, folders, file, ext string }{
		{"a/b/c.png", "{a,b}", "c.png", "png"},
		{"c.tar.gz", "{}", "c.tar.gz", "gz"},
		{"dir/README", "{dir}", "README", ""},
		{"u1/.env", "{u1}", ".env", "env"},
	} {
		var folders, file, ext string
		err := db.DB.Admin.QueryRow(context.Background(),
			`select storage.foldername($1)::text, storage.filename($1), storage.extension($1)`, c.name).Scan(&folders, &file, &ext)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(folders, " ", file, " ", ext); got != fmt.Sprint(c.folders, " ", c.file, " ", c.ext) {
			t.Errorf("%s: %s", c.name, got)
		}
	}
}
