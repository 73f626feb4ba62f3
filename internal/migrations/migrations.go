package migrations

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed sql/*.sql
var embedded embed.FS

// Migration is one embedded file of Fluxbase's own schema.
type Migration struct {
	Version  int
	Name     string // file name without the version prefix and extension
	File     string // file name
	SQL      string
	Checksum string // hex SHA-256 of the file
}

var fileName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// All returns the embedded migrations in version order. It fails if a file
// is misnamed or two files share a version, which tests catch before release.
func All() ([]Migration, error) {
	entries, err := fs.ReadDir(embedded, "sql")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	seen := map[int]string{}
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migrations: embedded file %q is not named NNNN_name.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations: %s and %s share version %d", other, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(embedded, "sql/"+e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: m[2], File: e.Name(), SQL: string(b), Checksum: checksum(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// Fingerprint identifies the embedded schema: a SHA-256 over the names and
// contents of all embedded files. Two binaries with the same fingerprint
// expect the same database schema.
func Fingerprint() string {
	ms, err := All()
	if err != nil {
		return "invalid"
	}
	h := sha256.New()
	for _, m := range ms {
		h.Write([]byte(m.File))
		h.Write([]byte{0})
		h.Write([]byte(m.SQL))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ChecksumError reports an applied migration whose file has changed since.
type ChecksumError struct {
	File            string
	Applied, Actual string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("migration %s was changed after it was applied (checksum %.12s… in the database, %.12s… now); restore the file and put the change in a new migration",
		e.File, e.Applied, e.Actual)
}

// Apply brings Fluxbase's own schema up to date: every embedded migration
// not yet recorded in fluxbase.schema_migrations runs in version order, each
// in its own transaction together with its history row, under the
// migrations advisory lock. Instances that start together wait for one
// another and each version is applied exactly once.
func Apply(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ms, err := All()
	if err != nil {
		return err
	}
	return withLock(ctx, pool, func(conn *pgx.Conn) error {
		applied, err := readHistory[int](ctx, conn, "schema_migrations", "version")
		if err != nil {
			return err
		}
		known := map[int]bool{}
		for _, m := range ms {
			known[m.Version] = true
			if a, ok := applied[m.Version]; ok {
				if a.checksum != m.Checksum {
					return &ChecksumError{File: m.File, Applied: a.checksum, Actual: m.Checksum}
				}
				continue
			}
			start := time.Now()
			err := applyFile(ctx, conn, m.SQL,
				`insert into fluxbase.schema_migrations (version, name, checksum) values ($1, $2, $3)`,
				m.Version, m.Name, m.Checksum)
			if err != nil {
				return fmt.Errorf("migration %s failed: %s", m.File, describePgError(m.SQL, err))
			}
			log.Info("applied migration", "version", m.Version, "name", m.Name,
				"duration_ms", time.Since(start).Milliseconds())
		}
		for v, a := range applied {
			if !known[v] {
				// A newer Fluxbase migrated this database, e.g. during a
				// rolling upgrade. Old code keeps working on a newer schema.
				log.Warn("the database has a migration this binary does not know; is an older Fluxbase running against a newer schema?",
					"version", v, "name", a.name)
			}
		}
		return nil
	})
}

// StatusRow is one line of Status.
type StatusRow struct {
	Version int
	Name    string
	// Applied is true once the migration has run; AppliedAt is then set.
	Applied   bool
	AppliedAt time.Time
	// Changed: applied, but the embedded file differs from what ran.
	Changed bool
	// Unknown: recorded in the database but not embedded in this binary.
	Unknown bool
}

// State is a one-word summary: applied, pending, changed or unknown.
func (r StatusRow) State() string {
	return state(r.Applied, r.Changed, r.Unknown, "unknown")
}

// Status lists every embedded migration with whether it has been applied,
// plus any applied version this binary does not know. It reads only and
// creates nothing, so it works on a database never migrated.
func Status(ctx context.Context, pool *pgxpool.Pool) ([]StatusRow, error) {
	ms, err := All()
	if err != nil {
		return nil, err
	}
	applied, err := historyIfExists[int](ctx, pool, "schema_migrations", "version")
	if err != nil {
		return nil, err
	}
	var out []StatusRow
	for _, m := range ms {
		r := StatusRow{Version: m.Version, Name: m.Name}
		r.Applied, r.AppliedAt, r.Changed = take(applied, m.Version, m.Checksum)
		out = append(out, r)
	}
	for v, a := range applied {
		out = append(out, StatusRow{Version: v, Name: a.name, Applied: true, AppliedAt: a.at, Unknown: true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// describePgError renders err on one line with detail and hint, and where
// PostgreSQL gave a position, the line and column within sql.
func describePgError(sql string, err error) string {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err.Error()
	}
	s := pgErrorText(pe)
	if pe.Position > 0 {
		line, col := lineCol(sql, int(pe.Position))
		s = fmt.Sprintf("line %d, column %d: %s", line, col, s)
	}
	return s
}

// pgErrorText renders a PostgreSQL error on one line, with its detail, hint
// and context.
func pgErrorText(pe *pgconn.PgError) string {
	s := fmt.Sprintf("%s: %s (SQLSTATE %s)", pe.Severity, pe.Message, pe.Code)
	if pe.Detail != "" {
		s += "; detail: " + pe.Detail
	}
	if pe.Hint != "" {
		s += "; hint: " + pe.Hint
	}
	if pe.Where != "" {
		s += "; context: " + pe.Where
	}
	return s
}

// lineCol converts PostgreSQL's 1-based character position within sql to a
// 1-based line and column (both counted in characters, as editors do).
func lineCol(sql string, pos int) (line, col int) {
	line, col = 1, 1
	i := 1
	for _, r := range sql {
		if i >= pos {
			break
		}
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
		i++
	}
	return line, col
}
