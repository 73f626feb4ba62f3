package rest_test

import (
	"testing"

	"github.com/fluxbase/fluxbase/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }
