-- SQL helpers for row level security policies, reading the claims that each
-- request transaction publishes with set_config('request.jwt.claims', ...).
-- The legacy per-claim settings (request.jwt.claim.sub, ...) set by older
-- PostgREST versions are read when the claims object lacks the value.
-- Unset or empty settings yield NULL, never an error.

create or replace function auth.jwt() returns jsonb
language sql stable
set search_path = ''
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claims', true), ''),
    nullif(current_setting('request.jwt.claim', true), '')
  )::jsonb
$$;

-- The subject as a uuid; NULL when absent or not a uuid, so that a policy
-- comparing it to a uuid column denies instead of failing the query.
create or replace function auth.uid() returns uuid
language sql stable
set search_path = ''
as $$
  select case
    when s ~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$' then s::uuid
  end
  from (
    select coalesce(
      nullif(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub', ''),
      nullif(current_setting('request.jwt.claim.sub', true), '')
    ) as s
  ) t
$$;

create or replace function auth.role() returns text
language sql stable
set search_path = ''
as $$
  select coalesce(
    nullif(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role', ''),
    nullif(current_setting('request.jwt.claim.role', true), '')
  )
$$;

create or replace function auth.email() returns text
language sql stable
set search_path = ''
as $$
  select coalesce(
    nullif(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email', ''),
    nullif(current_setting('request.jwt.claim.email', true), '')
  )
$$;

comment on function auth.jwt() is 'The JWT claims of the current request, or NULL.';
comment on function auth.uid() is 'The sub claim of the current request as a uuid, or NULL.';
comment on function auth.role() is 'The role claim of the current request, or NULL.';
comment on function auth.email() is 'The email claim of the current request, or NULL.';
