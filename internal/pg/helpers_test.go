package pg_test

import (
	"testing"

	"github.com/fluxbase/fluxbase/internal/pg"
	"github.com/fluxbase/fluxbase/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// newDB returns a migrated database of the test's own with both pools open,
// and the superuser DSN for opening more.
func newDB(t *testing.T) (*pg.DB, string) {
	t.Helper()
	tdb := testutil.NewDB(t)
	return tdb.DB, tdb.AdminDSN
}
