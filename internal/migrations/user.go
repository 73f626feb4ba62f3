package migrations

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// User migrations are the *.sql files directly inside a directory (default
// ./migrations), applied in lexical (byte) order of their names and recorded
// by name, so a name must never change once applied. Name them so that the
// order is obvious and stable: a UTC timestamp, 20240101120000_create_todos.sql,
// or a zero-padded sequence, 0001_create_todos.sql. Subdirectories and names
// starting with "." are ignored.
//
// Each file runs in its own transaction and may hold several statements.
// Statements that cannot run inside a transaction block (CREATE INDEX
// CONCURRENTLY, VACUUM, ...) are therefore not supported, and a file must not
// COMMIT or ROLLBACK itself.

// ErrNoMigrationsDir is wrapped by the errors of ApplyUser and UserStatus
// when the directory does not exist, so that a caller can treat an absent
// default directory as "nothing to do".
var ErrNoMigrationsDir = errors.New("migrations directory does not exist")

// UserMigrationError is a user migration that PostgreSQL rejected.
type UserMigrationError struct {
	// File is the path of the file (the directory joined with its name).
	File string
	// Line and Column locate the error within the file (1-based); zero when
	// PostgreSQL did not report a position.
	Line, Column int
	// Err is the cause, usually a *pgconn.PgError.
	Err error
}

func (e *UserMigrationError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Column)
	}
	var pe *pgconn.PgError
	if !errors.As(e.Err, &pe) {
		return fmt.Sprintf("migration %s failed: %v", loc, e.Err)
	}
	return fmt.Sprintf("migration %s failed: %s", loc, pgErrorText(pe))
}

func (e *UserMigrationError) Unwrap() error { return e.Err }

type userFile struct {
	name, path, sql, checksum string
}

// userFiles lists the migration files of dir in order.
func userFiles(dir string) ([]userFile, error) {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoMigrationsDir, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("migrations directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("migrations directory %s is not a directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("migrations directory: %w", err)
	}
	var files []userFile
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".sql") {
			continue
		}
		path := filepath.Join(dir, name)
		st, err := os.Stat(path) // follows symlinks
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", path, err)
		}
		if !st.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", path, err)
		}
		files = append(files, userFile{name: name, path: path, sql: string(b), checksum: checksum(b)})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	return files, nil
}

// ApplyUser applies the user's migrations in dir that have not been applied
// yet and returns their names. Each runs in its own transaction together with
// its row in fluxbase.user_migrations, under the same advisory lock as
// Fluxbase's own migrations. A file changed after it was applied is a
// *ChecksumError and nothing runs; a failing file stops the run with a
// *UserMigrationError, leaving the files before it applied. A missing dir
// wraps ErrNoMigrationsDir.
func ApplyUser(ctx context.Context, pool *pgxpool.Pool, dir string, log *slog.Logger) ([]string, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	files, err := userFiles(dir)
	if err != nil {
		return nil, err
	}
	var done []string
	err = withLock(ctx, pool, func(conn *pgx.Conn) error {
		applied, err := readHistory[string](ctx, conn, "user_migrations", "name")
		if err != nil {
			return err
		}
		// Refuse before running anything if history was rewritten.
		last := ""
		for _, f := range files {
			if a, ok := applied[f.name]; ok {
				if a.checksum != f.checksum {
					return &ChecksumError{File: f.path, Applied: a.checksum, Actual: f.checksum}
				}
				last = max(last, f.name)
			}
		}
		for _, f := range files {
			if _, ok := applied[f.name]; ok {
				continue
			}
			if f.name < last {
				log.Warn("applying a migration that sorts before one already applied", "file", f.path, "latest_applied", last)
			}
			start := time.Now()
			err := applyFile(ctx, conn, f.sql,
				`insert into fluxbase.user_migrations (name, checksum) values ($1, $2)`, f.name, f.checksum)
			if err != nil {
				me := &UserMigrationError{File: f.path, Err: err}
				var pe *pgconn.PgError
				if errors.As(err, &pe) && pe.Position > 0 {
					me.Line, me.Column = lineCol(f.sql, int(pe.Position))
				}
				return me
			}
			done = append(done, f.name)
			log.Info("applied user migration", "file", f.path, "duration_ms", time.Since(start).Milliseconds())
		}
		return nil
	})
	return done, err
}

// UserStatusRow is one line of UserStatus.
type UserStatusRow struct {
	Name      string
	Applied   bool
	AppliedAt time.Time
	// Changed: applied, but the file differs from what ran.
	Changed bool
	// Missing: recorded as applied, but no longer in the directory.
	Missing bool
}

// State is a one-word summary: applied, pending, changed or missing.
func (r UserStatusRow) State() string {
	return state(r.Applied, r.Changed, r.Missing, "missing")
}

// UserStatus lists the user's migrations in dir and those recorded as
// applied, in name order. It creates nothing. A missing dir wraps
// ErrNoMigrationsDir.
func UserStatus(ctx context.Context, pool *pgxpool.Pool, dir string) ([]UserStatusRow, error) {
	files, err := userFiles(dir)
	if err != nil {
		return nil, err
	}
	applied, err := historyIfExists[string](ctx, pool, "user_migrations", "name")
	if err != nil {
		return nil, err
	}
	var out []UserStatusRow
	for _, f := range files {
		r := UserStatusRow{Name: f.name}
		r.Applied, r.AppliedAt, r.Changed = take(applied, f.name, f.checksum)
		out = append(out, r)
	}
	for n, a := range applied {
		out = append(out, UserStatusRow{Name: n, Applied: true, AppliedAt: a.at, Missing: true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
