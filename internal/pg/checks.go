package pg

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MinServerVersion is the oldest PostgreSQL Fluxbase runs on (server_version_num).
const MinServerVersion = 150000

// CheckServer checks that the server behind admin offers what Fluxbase
// needs, so that an external DATABASE_URL that falls short is explained at
// start instead of failing later in a migration. Each gap is one line saying
// what to run. Gaps that make Fluxbase unusable are returned joined as err;
// gaps that only disable a feature (logical decoding for realtime database
// changes, when wantLogical) are warnings.
func CheckServer(ctx context.Context, admin *pgxpool.Pool, wantLogical bool) (warnings []string, err error) {
	var (
		versionNum                     int
		version, walLevel, user, dbase string
		super, createRole, replication bool
		createOnDB                     bool
		serviceRoleExists, serviceRLS  bool
	)
	err = admin.QueryRow(ctx, `
select current_setting('server_version_num')::int,
       current_setting('server_version'),
       current_setting('wal_level'),
       current_user, current_database(),
       r.rolsuper, r.rolcreaterole, r.rolreplication,
       has_database_privilege(current_database(), 'CREATE'),
       s.rolname is not null, coalesce(s.rolbypassrls, false)
from pg_roles r
left join pg_roles s on s.rolname = 'service_role'
where r.rolname = current_user`).Scan(
		&versionNum, &version, &walLevel, &user, &dbase,
		&super, &createRole, &replication, &createOnDB,
		&serviceRoleExists, &serviceRLS)
	if err != nil {
		return nil, fmt.Errorf("cannot inspect the PostgreSQL server: %w", err)
	}

	role := pgx.Identifier{user}.Sanitize()
	var gaps []error
	if versionNum < MinServerVersion {
		gaps = append(gaps, fmt.Errorf("PostgreSQL %s is too old: Fluxbase needs PostgreSQL 15 or newer", version))
	}
	if !super {
		if !createRole {
			gaps = append(gaps, fmt.Errorf("role %s cannot create or alter roles, which Fluxbase needs for anon, authenticated, service_role and the authenticator: as a superuser run ALTER ROLE %s CREATEROLE;", role, role))
		}
		if !createOnDB {
			gaps = append(gaps, fmt.Errorf("role %s cannot create schemas in database %s: as a superuser or the database owner run GRANT CREATE ON DATABASE %s TO %s;",
				role, pgx.Identifier{dbase}.Sanitize(), pgx.Identifier{dbase}.Sanitize(), role))
		}
		switch {
		case !serviceRoleExists:
			gaps = append(gaps, fmt.Errorf("role %s is not a superuser, and only a superuser can create service_role WITH BYPASSRLS in PostgreSQL 15: as a superuser run CREATE ROLE service_role NOLOGIN BYPASSRLS; GRANT service_role TO %s WITH ADMIN OPTION;", role, role))
		case !serviceRLS:
			gaps = append(gaps, errors.New("role service_role exists without BYPASSRLS, and only a superuser can add it: as a superuser run ALTER ROLE service_role BYPASSRLS;"))
		}
	}
	if wantLogical {
		if walLevel != "logical" {
			warnings = append(warnings, fmt.Sprintf("wal_level is %q: realtime database changes will not work until you run ALTER SYSTEM SET wal_level = logical; and restart PostgreSQL", walLevel))
		}
		if !super && !replication {
			warnings = append(warnings, fmt.Sprintf("role %s lacks the REPLICATION attribute: realtime database changes will not work until a superuser runs ALTER ROLE %s REPLICATION;", role, role))
		}
	}
	return warnings, errors.Join(gaps...)
}
