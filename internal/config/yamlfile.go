package config

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// yamlLineErr matches the position yaml.v3 puts in syntax errors.
var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseFile reads a fluxbase.yaml into a flat layer. It walks the YAML
// node tree itself, rather than decoding into the struct, so that every
// value keeps its line for error messages, and so that an unknown key is
// reported with its position and the valid key it was probably meant to be.
func parseFile(path string, data []byte) (layer, []Problem) {
	l := newLayer()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		src := Source{Kind: SourceFile, Name: path}
		if m := yamlLineErr.FindStringSubmatch(err.Error()); m != nil {
			src.Line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		return l, []Problem{{Message: "invalid YAML: " + msg, Source: src}}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return l, nil // empty file
	}
	root := resolveAlias(doc.Content[0])
	if isNull(root) {
		return l, nil
	}
	if root.Kind != yaml.MappingNode {
		return l, []Problem{{
			Message: "the top level must be a mapping of settings such as \"http:\" and \"database:\"",
			Source:  Source{Kind: SourceFile, Name: path, Line: root.Line},
		}}
	}
	w := fileWalker{path: path, layer: l}
	w.mapping(root, "")
	return w.layer, w.problems
}

type fileWalker struct {
	path     string
	layer    layer
	problems []Problem
}

func (w *fileWalker) problem(key string, line int, format string, args ...any) {
	w.problems = append(w.problems, Problem{
		Key:     key,
		Message: fmt.Sprintf(format, args...),
		Source:  Source{Kind: SourceFile, Name: w.path, Line: line},
	})
}

func (w *fileWalker) mapping(n *yaml.Node, prefix string) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], resolveAlias(n.Content[i+1])
		if kn.Kind != yaml.ScalarNode {
			w.problem(prefix, kn.Line, "keys must be plain names")
			continue
		}
		name := kn.Value
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		if name == "<<" {
			w.problem(prefix, kn.Line, "YAML merge keys (<<) are not supported here; write the settings out")
			continue
		}
		if first, dup := seen[name]; dup {
			w.problem(key, kn.Line, "is set twice (first on line %d); keep one", first)
			continue
		}
		seen[name] = kn.Line

		switch {
		case keys.byKey[key] != nil:
			w.leaf(keys.byKey[key], kn, vn)
		case keys.sections[key]:
			switch {
			case isNull(vn):
				// An empty section leaves every default in place.
			case vn.Kind == yaml.MappingNode:
				w.mapping(vn, key)
			default:
				w.problem(key, vn.Line, "is a section; expected a mapping of its settings (%s)",
					strings.Join(childNames(key), ", "))
			}
		default:
			msg := "unknown key"
			if s := closestKey(key); s != "" {
				msg += "; did you mean " + s + "?"
			} else if prefix != "" {
				msg += "; valid keys in " + prefix + " are " + strings.Join(childNames(prefix), ", ")
			} else {
				msg += "; valid top-level keys are " + strings.Join(childNames(""), ", ")
			}
			w.problem(key, kn.Line, "%s", msg)
		}
	}
}

func (w *fileWalker) leaf(f *field, kn, vn *yaml.Node) {
	if isNull(vn) {
		return // "key:" with no value leaves the default in place
	}
	src := Source{Kind: SourceFile, Name: w.path, Line: vn.Line}
	switch vn.Kind {
	case yaml.ScalarNode:
		w.layer.values[f.key] = vn.Value
	case yaml.SequenceNode:
		items := make([]string, 0, len(vn.Content))
		for _, it := range vn.Content {
			it = resolveAlias(it)
			if it.Kind != yaml.ScalarNode {
				w.problem(f.key, it.Line, "expected a list of single values")
				return
			}
			items = append(items, it.Value)
		}
		if f.typ.Kind() != reflect.Slice {
			w.problem(f.key, vn.Line, "expected a single value, got a list")
			return
		}
		w.layer.values[f.key] = items
	default:
		w.problem(f.key, vn.Line, "expected a value, got a mapping")
		return
	}
	w.layer.sources[f.key] = src
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// childNames lists the direct children of a section, in struct order.
func childNames(section string) []string {
	var out []string
	add := func(name string) {
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	prefix := section + "."
	if section == "" {
		prefix = ""
	}
	for _, f := range keys.fields {
		if rest, ok := strings.CutPrefix(f.key, prefix); ok {
			name, _, _ := strings.Cut(rest, ".")
			add(name)
		}
	}
	return out
}
