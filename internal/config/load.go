package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// DefaultFile is the configuration file read from the working directory
// when none is named; its absence is not an error.
const DefaultFile = "fluxbase.yaml"

// ConfigFileEnv names the configuration file, like --config.
const ConfigFileEnv = "FLUXBASE_CONFIG"

// DatabaseURLEnv is the conventional variable that platforms (Heroku,
// Render, Fly, Railway, Compose files) set; it fills database.url unless
// FLUXBASE_DATABASE_URL or --database-url says otherwise.
const DatabaseURLEnv = "DATABASE_URL"

// LoadOptions are the inputs of Load. Nothing is read from the process
// behind the caller's back: pass os.Environ() and the command's flags.
type LoadOptions struct {
	// File is the configuration file named on the command line (--config).
	// Empty means FLUXBASE_CONFIG, then ./fluxbase.yaml when it exists. A
	// file named explicitly (either way) must exist.
	File string
	// Env is the environment in os.Environ form ("KEY=value"); nil means
	// an empty environment.
	Env []string
	// Flags of the command being run. Only flags bound to a key (BindFlag)
	// that the user actually set count; their defaults are ignored.
	Flags *pflag.FlagSet
}

// Loaded is the outcome of Resolve: the configuration and how it came to be.
type Loaded struct {
	Config *Config
	// File is the configuration file that was read; empty if none.
	File string
	// Sources tells, for every key, where its value came from.
	Sources map[string]Source
	// UnknownEnv lists FLUXBASE_* variables that name no setting. They are
	// not an error: the same environment often carries other Fluxbase
	// variables, such as FLUXBASE_ANON_KEY for a client.
	UnknownEnv []string
	// Warnings are worth showing to the user but do not stop start-up:
	// likely typos among UnknownEnv, conflicting variables.
	Warnings []string
}

// Load returns the validated configuration. Precedence, lowest first:
// built-in defaults, the configuration file, DATABASE_URL, FLUXBASE_*
// variables, flags. An error lists every problem found, one per line,
// as an *Error (or a plain error if the file cannot be read at all).
func Load(opts LoadOptions) (*Config, error) {
	l, err := Resolve(opts)
	if err != nil {
		return nil, err
	}
	return l.Config, nil
}

// layer is one source's contribution: flat key → raw value.
type layer struct {
	values  map[string]any
	sources map[string]Source
}

func newLayer() layer {
	return layer{values: map[string]any{}, sources: map[string]Source{}}
}

// Resolve is Load with the details: where each value came from, the file
// read, and warnings for the caller to log.
func Resolve(opts LoadOptions) (*Loaded, error) {
	env := environMap(opts.Env)
	out := &Loaded{Sources: map[string]Source{}}
	var problems []Problem

	path, namedBy, err := chooseFile(opts.File, env)
	if err != nil {
		return nil, err
	}
	fileLayer := newLayer()
	if path != "" {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			out.File = path
			fileLayer, problems = parseFile(path, data)
		case errors.Is(err, fs.ErrNotExist) && namedBy == "":
			// ./fluxbase.yaml is optional.
		case errors.Is(err, fs.ErrNotExist):
			return nil, &Error{Problems: []Problem{{Message: fmt.Sprintf(
				"config file %s (named by %s) does not exist; create it, or remove %s to run without one",
				path, namedBy, namedBy)}}}
		default:
			return nil, &Error{Problems: []Problem{{Message: fmt.Sprintf("cannot read config file: %v", err)}}}
		}
	}

	dbURLLayer, envLayer := envLayers(env, out)
	flagLayer, err := flagsLayer(opts.Flags)
	if err != nil {
		return nil, err
	}

	k := koanf.New(".")
	for _, l := range []layer{fileLayer, dbURLLayer, envLayer} {
		if err := k.Load(confmap.Provider(l.values, "."), nil); err != nil {
			return nil, fmt.Errorf("config: merging settings: %w", err)
		}
		for key, src := range l.sources {
			out.Sources[key] = src
		}
	}
	if opts.Flags != nil {
		if err := k.Load(flagProvider(opts.Flags), nil); err != nil {
			return nil, fmt.Errorf("config: reading flags: %w", err)
		}
		for key, src := range flagLayer.sources {
			out.Sources[key] = src
		}
	}

	cfg := defaults()
	rv := reflect.ValueOf(cfg).Elem()
	failed := map[string]bool{}
	for i := range keys.fields {
		f := &keys.fields[i]
		src, set := out.Sources[f.key]
		if !set {
			out.Sources[f.key] = Source{Kind: SourceDefault}
			continue
		}
		v, err := decode(f, k.Get(f.key))
		if err != nil {
			failed[f.key] = true
			problems = append(problems, Problem{Key: f.key, Message: err.Error(), Source: src})
			continue
		}
		rv.FieldByIndex(f.index).Set(v)
	}
	cfg.normalize()

	for _, p := range cfg.problems() {
		if failed[p.Key] {
			continue
		}
		p.Source = out.Sources[p.Key]
		problems = append(problems, p)
	}
	if len(problems) > 0 {
		return nil, &Error{Problems: problems}
	}
	out.Config = cfg
	return out, nil
}

// chooseFile picks the configuration file: --config, else FLUXBASE_CONFIG,
// else the optional ./fluxbase.yaml. namedBy is "--config" or
// FLUXBASE_CONFIG for a file that must exist, "" for the optional one.
func chooseFile(flagFile string, env map[string]string) (path, namedBy string, err error) {
	switch {
	case flagFile != "":
		path, namedBy = flagFile, "--config"
	case env[ConfigFileEnv] != "":
		path, namedBy = env[ConfigFileEnv], ConfigFileEnv
	default:
		path = DefaultFile
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return "", "", &Error{Problems: []Problem{{Message: fmt.Sprintf(
			"config file %s is a directory; name a YAML file such as %s", path, DefaultFile)}}}
	}
	return path, namedBy, nil
}

// environMap reads KEY=value pairs; the first occurrence of a name wins, as
// it does for os.Getenv.
func environMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		if _, seen := m[k]; !seen {
			m[k] = v
		}
	}
	return m
}

// envLayers maps DATABASE_URL and FLUXBASE_* variables to keys. Names are
// matched against the known keys rather than transformed, because keys
// contain underscores themselves (FLUXBASE_DATA_DIR is data_dir, not
// data.dir). Empty variables count as unset: Compose files and shells
// often define a variable with an empty value.
func envLayers(env map[string]string, out *Loaded) (dbURL, fluxbase layer) {
	dbURL, fluxbase = newLayer(), newLayer()
	if v := env[DatabaseURLEnv]; strings.TrimSpace(v) != "" {
		dbURL.values["database.url"] = v
		dbURL.sources["database.url"] = Source{Kind: SourceEnv, Name: DatabaseURLEnv}
	}
	names := make([]string, 0, len(env))
	for name := range env {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !strings.HasPrefix(name, EnvPrefix) || name == ConfigFileEnv {
			continue
		}
		f := keys.byEnv[name]
		if f == nil {
			out.UnknownEnv = append(out.UnknownEnv, name)
			if s := closestEnv(name); s != "" {
				out.Warnings = append(out.Warnings, fmt.Sprintf(
					"environment variable %s is not a Fluxbase setting and is ignored; did you mean %s?", name, s))
			}
			continue
		}
		v := env[name]
		if strings.TrimSpace(v) == "" {
			continue
		}
		fluxbase.values[f.key] = v
		fluxbase.sources[f.key] = Source{Kind: SourceEnv, Name: name}
	}
	if a, b := strings.TrimSpace(env[DatabaseURLEnv]), strings.TrimSpace(env[EnvVar("database.url")]); a != "" && b != "" && a != b {
		out.Warnings = append(out.Warnings, fmt.Sprintf(
			"both %s and %s are set and differ; using %s", DatabaseURLEnv, EnvVar("database.url"), EnvVar("database.url")))
	}
	return dbURL, fluxbase
}

// closestEnv suggests the variable an unknown FLUXBASE_* name was probably
// meant to be, or "" when it looks unrelated (and so is probably meant for
// something else).
func closestEnv(name string) string {
	unknown := strings.ToLower(strings.TrimPrefix(name, EnvPrefix))
	suffixes := make([]string, len(keys.fields))
	var endsWith []string
	for i, f := range keys.fields {
		suffixes[i] = strings.ToLower(strings.TrimPrefix(f.env, EnvPrefix))
		if strings.HasSuffix(suffixes[i], "_"+unknown) {
			endsWith = append(endsWith, f.env)
		}
	}
	if len(endsWith) == 1 {
		return endsWith[0]
	}
	if s := nearest(unknown, suffixes); s != "" {
		return EnvPrefix + strings.ToUpper(s)
	}
	return ""
}

// flagAnnotation marks a flag with the key it sets.
const flagAnnotation = "fluxbase.dev/config-key"

// BindFlag makes the flag called name in fs set key when the user passes
// it. Binding an unknown key or a missing flag is a programming error and
// panics, so that it shows up in the first test run.
func BindFlag(fs *pflag.FlagSet, name, key string) {
	if !IsKey(key) {
		panic(fmt.Sprintf("config: BindFlag(%q): unknown key %q", name, key))
	}
	if err := fs.SetAnnotation(name, flagAnnotation, []string{key}); err != nil {
		panic(fmt.Sprintf("config: BindFlag(%q, %q): %v", name, key, err))
	}
}

// FlagKey returns the key a flag is bound to, or "".
func FlagKey(f *pflag.Flag) string {
	if v := f.Annotations[flagAnnotation]; len(v) == 1 {
		return v[0]
	}
	return ""
}

// flagProvider reads bound flags with koanf's posflag "changed" semantics:
// given no koanf instance, it returns only flags the user set, so a flag's
// default never overrides the file or the environment.
func flagProvider(fs *pflag.FlagSet) *posflag.Posflag {
	return posflag.ProviderWithFlag(fs, ".", nil, func(f *pflag.Flag) (string, any) {
		key := FlagKey(f)
		if key == "" {
			return "", nil
		}
		return key, posflag.FlagVal(fs, f)
	})
}

// flagsLayer records which keys the user set by flag, and with which flag.
func flagsLayer(fs *pflag.FlagSet) (layer, error) {
	l := newLayer()
	if fs == nil {
		return l, nil
	}
	var err error
	fs.Visit(func(f *pflag.Flag) {
		key := FlagKey(f)
		if key == "" {
			return
		}
		if prev, dup := l.sources[key]; dup && err == nil {
			err = &Error{Problems: []Problem{{Key: key, Message: fmt.Sprintf(
				"set by both --%s and --%s; pass only one", prev.Name, f.Name),
				Source: Source{Kind: SourceFlag, Name: f.Name}}}}
		}
		l.sources[key] = Source{Kind: SourceFlag, Name: f.Name}
	})
	return l, err
}
