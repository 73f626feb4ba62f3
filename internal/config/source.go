package config

import (
	"fmt"
	"strings"
)

// SourceKind says which kind of source set a value.
type SourceKind int

// The sources of a value, from lowest to highest precedence. DATABASE_URL
// is an environment variable too (SourceEnv) and sits between the file and
// the FLUXBASE_* variables.
const (
	SourceDefault SourceKind = iota
	SourceFile
	SourceEnv
	SourceFlag
)

// Source is where the effective value of a key came from.
type Source struct {
	Kind SourceKind
	// Name is the file path, the environment variable or the flag name
	// (without dashes); empty for defaults.
	Name string
	// Line in the file, when known.
	Line int
}

// String renders the source the way a user would look for it:
// "fluxbase.yaml:12", "FLUXBASE_HTTP_ADDR", "--http" or "default".
func (s Source) String() string {
	switch s.Kind {
	case SourceFile:
		if s.Line > 0 {
			return fmt.Sprintf("%s:%d", s.Name, s.Line)
		}
		return s.Name
	case SourceEnv:
		return s.Name
	case SourceFlag:
		return "--" + s.Name
	}
	return "default"
}

// Problem is one thing wrong with the configuration.
type Problem struct {
	// Key is the setting concerned; empty for problems with the file as a
	// whole (unreadable, malformed YAML).
	Key     string
	Message string
	// Source of the offending value; for a default value the message
	// says where the key can be set instead.
	Source Source
}

// String renders the problem on one line, naming the key and where its
// value came from.
func (p Problem) String() string {
	if p.Key == "" {
		if p.Source.Kind == SourceFile && p.Source.Name != "" {
			return p.Source.String() + ": " + p.Message
		}
		return p.Message
	}
	var where string
	switch p.Source.Kind {
	case SourceDefault:
		where = "set in fluxbase.yaml or " + EnvVar(p.Key)
	case SourceFile:
		where = "in " + p.Source.String()
	default:
		where = "from " + p.Source.String()
	}
	return fmt.Sprintf("%s: %s (%s)", p.Key, p.Message, where)
}

// Error reports every problem found while loading or validating, so that
// a user can fix them all in one go.
type Error struct {
	Problems []Problem
}

// Error renders one problem per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}
