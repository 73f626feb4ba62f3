package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set at link time; see the package documentation. They are variables
// only because -X can set nothing else.
var (
	Version = "dev"
	Commit  = ""
	Date    = ""
)

// Info describes the running binary.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	Modified  bool   `json:"modified"` // built from a working tree with uncommitted changes
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"` // GOOS/GOARCH
}

// Get returns what the linker set, completed with what the Go toolchain
// recorded in the binary.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(Version, Commit, Date, bi)
}

func resolve(version, commit, date string, bi *debug.BuildInfo) Info {
	info := Info{
		Version:   version,
		Commit:    commit,
		Date:      date,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi == nil {
		bi = &debug.BuildInfo{}
	}
	// go install module@vX.Y.Z records the module version.
	if (info.Version == "" || info.Version == "dev") && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	var vcsModified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if info.Commit == "" {
				info.Commit = s.Value
			}
		case "vcs.time":
			if info.Date == "" {
				info.Date = s.Value
			}
		case "vcs.modified":
			vcsModified = s.Value == "true"
		}
	}
	info.Modified = vcsModified || strings.HasSuffix(info.Version, "-dirty")
	return info
}

// ShortCommit is the commit abbreviated to 12 characters, or "unknown".
func (i Info) ShortCommit() string {
	switch {
	case i.Commit == "":
		return "unknown"
	case len(i.Commit) > 12:
		return i.Commit[:12]
	}
	return i.Commit
}

// String is a one-line summary: "fluxbase v1.2.3 (abc1234, 2025-01-31T12:00:00Z, go1.26.0 linux/amd64)".
func (i Info) String() string {
	parts := []string{i.ShortCommit()}
	if i.Modified {
		parts[0] += "+modified"
	}
	if i.Date != "" {
		parts = append(parts, i.Date)
	}
	parts = append(parts, i.GoVersion+" "+i.Platform)
	return fmt.Sprintf("fluxbase %s (%s)", i.Version, strings.Join(parts, ", "))
}
