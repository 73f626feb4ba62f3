package schema

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/fluxbase/fluxbase/internal/config"
)

// roleSettingSQL reads one setting of a role as ALTER ROLE ... SET stored
// it, the database's own value before the role-wide one.
const roleSettingSQL = `select split_part(cfg, '=', 2) from (
    select unnest(s.setconfig) as cfg, s.setdatabase
    from pg_catalog.pg_db_role_setting s
    join pg_catalog.pg_roles r on r.oid = s.setrole
    where r.rolname = $1
      and s.setdatabase in (0, (select oid from pg_catalog.pg_database where datname = current_database()))
) c
where split_part(cfg, '=', 1) = $2
order by setdatabase desc
limit 1`

// reloadConfig reads the role's configuration again (NOTIFY pgrst, 'reload
// config') and replaces the current snapshot with one that differs only in
// it; the catalog is not read again.
func (s *Service) reloadConfig(ctx context.Context) error {
	if s.configRole == "" {
		return nil
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	pre, err := s.preRequestOf(ctx)
	if err != nil {
		return err
	}
	cur := s.cur.Load()
	if cur == nil || cur.PreRequest == pre {
		return nil
	}
	next := *cur
	next.PreRequest = pre
	s.cur.Store(&next)
	s.log.Info("PostgREST configuration reloaded", "role", s.configRole, "pre_request", pre)
	return nil
}

// preRequestOf reads pgrst.db_pre_request of s.configRole and returns it
// quoted and qualified (a name without a schema is in the first exposed
// schema). A value that is not a function name is logged, and the current
// snapshot's function stays, as PostgREST keeps its configuration when a
// reload finds it invalid: a typo neither stops the API nor drops a check
// that was in force.
func (s *Service) preRequestOf(ctx context.Context) (string, error) {
	var v string
	err := s.pool.QueryRow(ctx, roleSettingSQL, s.configRole, "pgrst.db_pre_request").Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && v == "") {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("schema cache: read the settings of role %s: %w", s.configRole, err)
	}
	schema, name, ok := config.FunctionName(v, s.schemas)
	if !ok {
		prev := ""
		if cur := s.cur.Load(); cur != nil {
			prev = cur.PreRequest
		}
		s.log.Error("pgrst.db_pre_request is not a function name; keeping the previous pre-request function",
			"role", s.configRole, "value", v, "previous", prev)
		return prev, nil
	}
	return pgx.Identifier{schema, name}.Sanitize(), nil
}
