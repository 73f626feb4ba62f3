package auth_test

import (
	"testing"

	"github.com/fluxbase/fluxbase/internal/testutil"
)

// TestMain starts the shared PostgreSQL for every test of the package, the
// internal ones included (they share this test binary).
func TestMain(m *testing.M) { testutil.Main(m) }
