package config

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// decode converts a raw value from a source (a YAML scalar or sequence, an
// environment variable, a flag) into the Go type of f. The error message
// says what was expected in the user's terms; the caller adds the key and
// where the value came from.
func decode(f *field, raw any) (reflect.Value, error) {
	if f.typ.Kind() == reflect.Slice {
		list, err := asList(raw)
		if err != nil {
			return reflect.Value{}, err
		}
		return reflect.ValueOf(list), nil
	}
	s, err := asScalar(raw)
	if err != nil {
		return reflect.Value{}, err
	}
	v := reflect.New(f.typ).Elem()
	switch {
	case f.typ == durationType:
		d, err := parseDuration(s)
		if err != nil {
			return reflect.Value{}, err
		}
		v.SetInt(int64(d))
	case f.typ.Kind() == reflect.String:
		v.SetString(s)
	case f.typ.Kind() == reflect.Bool:
		b, err := parseBool(s)
		if err != nil {
			return reflect.Value{}, err
		}
		v.SetBool(b)
	case f.typ.Kind() >= reflect.Int && f.typ.Kind() <= reflect.Int64:
		var n int64
		if f.bytes {
			n, err = parseBytes(s)
		} else {
			n, err = parseInt(s)
		}
		if err != nil {
			return reflect.Value{}, err
		}
		if v.OverflowInt(n) {
			return reflect.Value{}, fmt.Errorf("%s is too large (at most %d)", s, maxInt(f.typ))
		}
		v.SetInt(n)
	default:
		// Only reachable if a field of a new type is added to Config
		// without teaching decode about it.
		return reflect.Value{}, fmt.Errorf("settings of Go type %s are not supported", f.typ)
	}
	return v, nil
}

func maxInt(t reflect.Type) int64 {
	return int64(math.MaxInt64 >> (64 - t.Bits()))
}

func asScalar(raw any) (string, error) {
	switch v := raw.(type) {
	case string:
		return strings.TrimSpace(v), nil
	case []string, []any:
		return "", fmt.Errorf("expected a single value, got a list")
	case map[string]any:
		return "", fmt.Errorf("expected a single value, got a mapping")
	case time.Duration:
		return v.String(), nil
	default:
		return fmt.Sprint(v), nil
	}
}

// asList accepts a YAML sequence, or a comma-separated string (the only
// way to write a list in an environment variable). Blank items are
// dropped, so "a, b," is [a b].
func asList(raw any) ([]string, error) {
	var items []string
	switch v := raw.(type) {
	case []string:
		items = v
	case []any:
		for _, it := range v {
			s, err := asScalar(it)
			if err != nil {
				return nil, fmt.Errorf("expected a list of single values")
			}
			items = append(items, s)
		}
	case string:
		items = strings.Split(v, ",")
	case map[string]any:
		return nil, fmt.Errorf("expected a list, got a mapping")
	default:
		items = []string{fmt.Sprint(v)}
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out, nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean; use true or false", s)
}

func parseInt(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	return n, nil
}

func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err == nil {
		return d, nil
	}
	if _, intErr := strconv.ParseInt(s, 10, 64); intErr == nil {
		return 0, fmt.Errorf("%q has no unit; write a duration such as %ss (seconds), %sm or %sms", s, s, s, s)
	}
	return 0, fmt.Errorf("%q is not a duration; use a number with a unit such as 30s, 5m or 1h30m", s)
}

// byteUnits are the suffixes accepted for sizes, longest first so that
// "MiB" is tried before "B".
var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1},
}

// parseBytes reads a size: a plain number of bytes, or a whole number with
// one of the units B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers
// of 1024).
func parseBytes(s string) (int64, error) {
	bad := fmt.Errorf("%q is not a size; use a number of bytes or a size such as 512KiB, 10MiB or 1GB", s)
	num, mult := s, int64(1)
	for _, u := range byteUnits {
		if len(s) > len(u.suffix) && strings.EqualFold(s[len(s)-len(u.suffix):], u.suffix) {
			num, mult = strings.TrimSpace(s[:len(s)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(num, "_", ""), 10, 64)
	if err != nil {
		return 0, bad
	}
	if n != 0 && (n > math.MaxInt64/mult || n < math.MinInt64/mult) {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// formatBytes writes n with the largest binary unit that divides it, so
// that parseBytes(formatBytes(n)) == n.
func formatBytes(n int64) string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// formatDuration writes d the way people write it: "1h", "10m", "1m30s"
// rather than Go's "1h0m0s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
