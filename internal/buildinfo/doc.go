// Package buildinfo says which build of Fluxbase is running. The release
// build sets Version, Commit and Date with the linker:
//
//	go build -ldflags "-X github.com/fluxbase/fluxbase/internal/buildinfo.Version=v1.2.3 \
//	    -X github.com/fluxbase/fluxbase/internal/buildinfo.Commit=abc1234 \
//	    -X github.com/fluxbase/fluxbase/internal/buildinfo.Date=2025-01-31T12:00:00Z"
//
// A plain go build or go install still reports the module version and the
// VCS revision that Go records in the binary. This package only reports;
// it must not depend on any other Fluxbase package.
package buildinfo
