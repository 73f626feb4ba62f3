package config

import (
	"bytes"
	"encoding/json"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// redactedValue replaces secrets wherever configuration is shown.
const redactedValue = "[redacted]"

// kvPassword finds password and sslpassword in key=value connection
// strings, quoted ('a b', 'a\'b') or not.
var kvPassword = regexp.MustCompile(`(\b(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s']\S*)`)

// RedactDSN hides the passwords in a PostgreSQL connection string (URL or
// key=value form) and keeps the rest, so that the user, host and database
// stay visible: postgres://app:[redacted]@db:5432/app.
func RedactDSN(dsn string) string {
	if dsn == "" {
		return ""
	}
	scheme, rest, isURL := strings.Cut(dsn, "://")
	if !isURL {
		return kvPassword.ReplaceAllString(dsn, "${1}"+redactedValue)
	}
	var b strings.Builder
	b.WriteString(scheme + "://")
	authEnd := userinfoEnd(rest)
	if at := strings.LastIndex(rest[:authEnd], "@"); at >= 0 {
		user, _, hasPW := strings.Cut(rest[:at], ":")
		b.WriteString(user)
		if hasPW {
			b.WriteString(":" + redactedValue)
		}
		b.WriteByte('@')
		rest = rest[at+1:]
	}
	path, query, hasQuery := strings.Cut(rest, "?")
	b.WriteString(path)
	if hasQuery {
		params := strings.Split(query, "&")
		for i, p := range params {
			k, _, hasV := strings.Cut(p, "=")
			name, err := url.QueryUnescape(k)
			if err != nil {
				name = k
			}
			if hasV && (name == "password" || name == "sslpassword") {
				params[i] = k + "=" + redactedValue
			}
		}
		b.WriteString("?" + strings.Join(params, "&"))
	}
	return b.String()
}

// userinfoEnd bounds the search for the '@' that ends the userinfo of a
// URL: the query. The last '@' before it is taken, so that an unencoded
// '@' or '/' in a password is hidden too; at worst more is hidden than
// needed.
func userinfoEnd(rest string) int {
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		return i
	}
	return len(rest)
}

// passwordsIn extracts what may be passwords from a connection string, in
// raw and decoded forms, so that error messages can be scrubbed of them.
func passwordsIn(dsn string) []string {
	var out []string
	add := func(s string) {
		s = strings.Trim(s, "'")
		if s == "" {
			return
		}
		out = append(out, s)
		if dec, err := url.QueryUnescape(s); err == nil && dec != s {
			out = append(out, dec)
		}
	}
	if _, rest, isURL := strings.Cut(dsn, "://"); isURL {
		authEnd := userinfoEnd(rest)
		if at := strings.LastIndex(rest[:authEnd], "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
				add(pw)
			}
		}
		if _, query, ok := strings.Cut(rest, "?"); ok {
			for _, p := range strings.Split(query, "&") {
				k, v, _ := strings.Cut(p, "=")
				if k == "password" || k == "sslpassword" {
					add(v)
				}
			}
		}
	}
	for _, m := range kvPassword.FindAllStringSubmatch(dsn, -1) {
		add(m[2])
	}
	return out
}

// entry is one node of the configuration tree in struct order, for
// printing.
type entry struct {
	name     string
	key      string
	value    any // string, bool, int64, []string; nil for sections
	children []entry
}

// tree renders c in struct order with secrets redacted, durations and
// sizes written as a person would write them in fluxbase.yaml.
func (c *Config) tree() []entry {
	return treeOf(reflect.ValueOf(c).Elem(), keys.tree)
}

// treeOf reads the keys of nodes from cfg, a Config.
func treeOf(cfg reflect.Value, nodes []node) []entry {
	out := make([]entry, 0, len(nodes))
	for _, n := range nodes {
		e := entry{name: n.name, key: n.key}
		if n.field < 0 {
			e.children = treeOf(cfg, n.children)
		} else {
			f := &keys.fields[n.field]
			e.value = displayValue(f, cfg.FieldByIndex(f.index))
		}
		out = append(out, e)
	}
	return out
}

// displayValue is the printable form of one setting.
func displayValue(f *field, v reflect.Value) any {
	switch {
	case f.secret == "dsn":
		return RedactDSN(v.String())
	case f.secret != "":
		if v.String() == "" {
			return ""
		}
		return redactedValue
	case f.typ == durationType:
		return formatDuration(time.Duration(v.Int()))
	case f.bytes:
		return formatBytes(v.Int())
	}
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int()
	case reflect.Slice:
		out := make([]string, v.Len())
		for i := range out {
			out[i] = v.Index(i).String()
		}
		return out
	}
	return v.Interface()
}

// Redacted returns the configuration as nested maps keyed like
// fluxbase.yaml, with every secret replaced by "[redacted]" (only the
// password of database.url), durations as "30s" and sizes as "10MiB".
func (c *Config) Redacted() map[string]any {
	return toMap(c.tree())
}

func toMap(es []entry) map[string]any {
	m := make(map[string]any, len(es))
	for _, e := range es {
		if e.children != nil || keys.sections[e.key] {
			m[e.name] = toMap(e.children)
		} else {
			m[e.name] = e.value
		}
	}
	return m
}

// RedactedJSON renders Redacted as indented JSON in the order of the
// configuration file.
func (c *Config) RedactedJSON() ([]byte, error) {
	var buf bytes.Buffer
	if err := writeJSON(&buf, c.tree()); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func writeJSON(buf *bytes.Buffer, es []entry) error {
	buf.WriteByte('{')
	for i, e := range es {
		if i > 0 {
			buf.WriteByte(',')
		}
		name, _ := json.Marshal(e.name)
		buf.Write(name)
		buf.WriteByte(':')
		if keys.sections[e.key] {
			if err := writeJSON(buf, e.children); err != nil {
				return err
			}
			continue
		}
		b, err := json.Marshal(e.value)
		if err != nil {
			return err
		}
		buf.Write(b)
	}
	buf.WriteByte('}')
	return nil
}

// RedactedYAML renders Redacted as YAML in the order of the configuration
// file. When sources is given, each value that does not come from the
// defaults carries a comment saying where it was set.
func (c *Config) RedactedYAML(sources map[string]Source) ([]byte, error) {
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{yamlMapping(c.tree(), sources)}}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func yamlMapping(es []entry, sources map[string]Source) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, e := range es {
		k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: e.name}
		var v *yaml.Node
		if keys.sections[e.key] {
			v = yamlMapping(e.children, sources)
		} else {
			v = yamlValue(e.value)
			if src, ok := sources[e.key]; ok && src.Kind != SourceDefault {
				v.LineComment = "from " + src.String()
			}
		}
		m.Content = append(m.Content, k, v)
	}
	return m
}

func yamlValue(v any) *yaml.Node {
	n := &yaml.Node{}
	switch x := v.(type) {
	case []string:
		n.Kind, n.Tag, n.Style = yaml.SequenceNode, "!!seq", yaml.FlowStyle
		for _, s := range x {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s})
		}
		return n
	default:
		if err := n.Encode(x); err != nil {
			// Only strings, booleans and integers reach here.
			n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!str", ""
		}
	}
	return n
}
