package config

import (
	"reflect"
	"slices"
	"strings"
	"time"
)

// EnvPrefix starts the name of every environment variable that sets a key.
const EnvPrefix = "FLUXBASE_"

// field describes one settable key: a leaf of the Config struct.
type field struct {
	key    string // "http.cors.allowed_origins"
	env    string // "FLUXBASE_HTTP_CORS_ALLOWED_ORIGINS"
	index  []int  // path for reflect.Value.FieldByIndex
	typ    reflect.Type
	secret string // "", "true" (whole value) or "dsn" (password only)
	bytes  bool   // accepts sizes such as "10MiB"
}

// node is one key in the shape of the configuration file: a section with
// the keys inside it, or a settable key.
type node struct {
	name     string // "allowed_origins"
	key      string // "http.cors.allowed_origins"
	field    int    // index into schema.fields; -1 for a section
	children []node // of a section
}

// schema is the set of keys, derived once from the struct tags. It is
// immutable after construction and shared read-only.
type schema struct {
	fields   []field           // in struct order
	byKey    map[string]*field // key → field
	byEnv    map[string]*field // env var name → field
	sections map[string]bool   // "http", "http.cors", ...
	tree     []node            // the top-level keys, in struct order
}

var durationType = reflect.TypeFor[time.Duration]()

func newSchema() *schema {
	s := &schema{
		byKey:    map[string]*field{},
		byEnv:    map[string]*field{},
		sections: map[string]bool{},
	}
	s.tree = s.walk(reflect.TypeFor[Config](), nil, "")
	for i := range s.fields {
		f := &s.fields[i]
		if _, dup := s.byEnv[f.env]; dup {
			panic("config: two keys map to environment variable " + f.env)
		}
		s.byKey[f.key] = f
		s.byEnv[f.env] = f
	}
	return s
}

// walk collects the keys of struct type t, found at index within Config
// and named below prefix, and returns them as a tree.
func (s *schema) walk(t reflect.Type, index []int, prefix string) []node {
	var nodes []node
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name := sf.Tag.Get("koanf")
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		idx := append(slices.Clone(index), i)
		if sf.Type.Kind() == reflect.Struct && sf.Type != durationType {
			s.sections[key] = true
			nodes = append(nodes, node{name: name, key: key, field: -1, children: s.walk(sf.Type, idx, key)})
			continue
		}
		nodes = append(nodes, node{name: name, key: key, field: len(s.fields)})
		s.fields = append(s.fields, field{
			key:    key,
			env:    EnvVar(key),
			index:  idx,
			typ:    sf.Type,
			secret: sf.Tag.Get("secret"),
			bytes:  sf.Tag.Get("unit") == "bytes",
		})
	}
	return nodes
}

// keys is the schema of Config. Derived from types only, so it is a
// constant in all but syntax.
var keys = newSchema()

// Keys lists every configuration key in the order of the Config struct.
func Keys() []string {
	out := make([]string, len(keys.fields))
	for i, f := range keys.fields {
		out[i] = f.key
	}
	return out
}

// IsKey reports whether key names a setting.
func IsKey(key string) bool { return keys.byKey[key] != nil }

// EnvVar is the environment variable that sets key: "http.addr" is
// FLUXBASE_HTTP_ADDR.
func EnvVar(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// closestKey suggests the known key nearest to an unknown one: a key that
// ends with it (the user left out a section), else one within a small edit
// distance. It returns "" when nothing is close enough to be a typo.
func closestKey(unknown string) string {
	var suffixMatch []string
	for _, f := range keys.fields {
		if strings.HasSuffix(f.key, "."+unknown) {
			suffixMatch = append(suffixMatch, f.key)
		}
	}
	for sec := range keys.sections {
		if strings.HasSuffix(sec, "."+unknown) {
			suffixMatch = append(suffixMatch, sec)
		}
	}
	if len(suffixMatch) == 1 {
		return suffixMatch[0]
	}
	candidates := make([]string, 0, len(keys.fields)+len(keys.sections))
	for _, f := range keys.fields {
		candidates = append(candidates, f.key)
	}
	for sec := range keys.sections {
		candidates = append(candidates, sec)
	}
	slices.Sort(candidates)
	return nearest(unknown, candidates)
}

// nearest returns the candidate closest to s by edit distance, if it is
// close enough to be a plausible typo of it.
func nearest(s string, candidates []string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		d := editDistance(s, c)
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	if bestDist < 0 || bestDist > typoBudget(s) {
		return ""
	}
	return best
}

// typoBudget is how many edits still look like a typo of a word of this
// length: one for short words, up to three for long ones.
func typoBudget(s string) int {
	return max(1, min(3, len(s)/5))
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and transpositions of neighbours
// ("levle" → "level") each count as one edit.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
