package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	vcs := &debug.BuildInfo{
		GoVersion: "go1.0",
		Main:      debug.Module{Path: "github.com/fluxbase/fluxbase", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2025-01-31T12:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	tests := []struct {
		name                   string
		version, commit, date  string
		bi                     *debug.BuildInfo
		wantVersion, wantShort string
		wantDate               string
		wantModified           bool
	}{
		{name: "linker values win", version: "v1.2.3", commit: "abc1234", date: "2025-02-01", bi: vcs,
			wantVersion: "v1.2.3", wantShort: "abc1234", wantDate: "2025-02-01", wantModified: true},
		{name: "falls back to VCS info", version: "dev", bi: vcs,
			wantVersion: "dev", wantShort: "0123456789ab", wantDate: "2025-01-31T12:00:00Z", wantModified: true},
		{name: "module version from go install", version: "dev",
			bi:          &debug.BuildInfo{Main: debug.Module{Version: "v0.4.0"}},
			wantVersion: "v0.4.0", wantShort: "unknown"},
		{name: "no build info at all", bi: nil, wantVersion: "dev", wantShort: "unknown"},
		{name: "dirty describe", version: "v1.0.0-3-gabc-dirty", bi: nil,
			wantVersion: "v1.0.0-3-gabc-dirty", wantShort: "unknown", wantModified: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolve(tt.version, tt.commit, tt.date, tt.bi)
			if got.Version != tt.wantVersion || got.ShortCommit() != tt.wantShort || got.Date != tt.wantDate ||
				got.Modified != tt.wantModified {
				t.Errorf("got %+v (short %s)", got, got.ShortCommit())
			}
			if got.GoVersion != runtime.Version() || got.Platform != runtime.GOOS+"/"+runtime.GOARCH {
				t.Errorf("runtime fields: %+v", got)
			}
			if s := got.String(); !strings.HasPrefix(s, "fluxbase "+tt.wantVersion+" (") {
				t.Errorf("String() = %q", s)
			}
		})
	}
}

func TestGet(t *testing.T) {
	if Get().Version == "" {
		t.Error("Version must never be empty")
	}
}
