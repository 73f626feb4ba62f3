-- Roles and schemas of the Supabase security model.
--
-- Requests log in as the NOINHERIT "authenticator" and switch, per
-- transaction, to anon (no token), authenticated (a signed-in user) or
-- service_role (trusted servers; bypasses row level security). Row level
-- security policies are the gate to user data.
--
-- Roles are cluster-wide while this file runs once per database, possibly in
-- several databases of one cluster at the same time: every role statement
-- checks first and tolerates losing a race to another database.

do $$
declare
  r record;
begin
  for r in
    select * from (values
      ('anon',          'create role anon nologin noinherit'),
      ('authenticated', 'create role authenticated nologin noinherit'),
      ('service_role',  'create role service_role nologin noinherit bypassrls'),
      ('authenticator', 'create role authenticator login noinherit')
    ) as t(name, stmt)
  loop
    if not exists (select 1 from pg_roles where rolname = r.name) then
      begin
        execute r.stmt;
      exception when duplicate_object or unique_violation then
        null; -- created concurrently from another database
      end;
    end if;
  end loop;

  for r in
    select * from (values ('anon'), ('authenticated'), ('service_role')) as t(name)
  loop
    if not exists (
      select 1 from pg_auth_members m
      where m.roleid = (select oid from pg_roles where rolname = r.name)
        and m.member = (select oid from pg_roles where rolname = 'authenticator')
    ) then
      begin
        execute format('grant %I to authenticator', r.name);
      exception when unique_violation then
        null;
      end;
    end if;
  end loop;
end
$$;

create schema if not exists auth;
create schema if not exists storage;
create schema if not exists realtime;
create schema if not exists fluxbase;

-- Fluxbase's own state (secrets, migration history, signing keys) is for the
-- owner only.
revoke all on schema fluxbase from public;

-- The API roles reach the helper functions in auth and the tables of
-- storage and realtime; privileges on each object and RLS decide the rest.
grant usage on schema auth, storage, realtime to anon, authenticated, service_role;

-- Supabase's model for the user's own tables: the API roles may use whatever
-- is created in public, and row level security policies decide which rows.
-- Default privileges apply to objects created later by the role running the
-- migrations (the admin connection), which is who runs the user's migrations.
grant usage on schema public to anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
