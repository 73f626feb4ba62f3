-- Realtime: the publication that feeds database changes to subscribers, the
-- functions that add and remove tables from it, and the messages table whose
-- row level security policies authorise private broadcast and presence
-- channels.

do $$
begin
  if not exists (select 1 from pg_publication where pubname = 'fluxbase_realtime') then
    create publication fluxbase_realtime;
  end if;
end
$$;

-- set_realtime adds a table to the publication or removes it. It is
-- idempotent and runs with the owner's rights (altering a publication needs
-- ownership), so it and its two wrappers are granted to service_role only.
create or replace function realtime.set_realtime(tbl regclass, enabled boolean)
returns void
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  published boolean := exists (
    select 1 from pg_publication_rel pr
    join pg_publication p on p.oid = pr.prpubid
    where p.pubname = 'fluxbase_realtime' and pr.prrelid = tbl);
begin
  if enabled and not published then
    execute format('alter publication fluxbase_realtime add table %s', tbl);
  elsif not enabled and published then
    execute format('alter publication fluxbase_realtime drop table %s', tbl);
  end if;
end
$$;

create or replace function realtime.enable_realtime(tbl regclass)
returns void language sql security definer set search_path = pg_catalog
as $$ select realtime.set_realtime(tbl, true) $$;

create or replace function realtime.disable_realtime(tbl regclass)
returns void language sql security definer set search_path = pg_catalog
as $$ select realtime.set_realtime(tbl, false) $$;

-- realtime_tables lists what is enabled, for the admin API and dashboards.
create or replace view realtime.realtime_tables as
  select n.nspname::text as schema, c.relname::text as "table",
         case c.relreplident when 'f' then 'full' when 'd' then 'default'
              when 'i' then 'index' else 'nothing' end as replica_identity
  from pg_publication_rel pr
  join pg_publication p on p.oid = pr.prpubid
  join pg_class c on c.oid = pr.prrelid
  join pg_namespace n on n.oid = c.relnamespace
  where p.pubname = 'fluxbase_realtime';

revoke all on function realtime.set_realtime(regclass, boolean) from public;
revoke all on function realtime.enable_realtime(regclass) from public;
revoke all on function realtime.disable_realtime(regclass) from public;
grant execute on function realtime.enable_realtime(regclass) to service_role;
grant execute on function realtime.disable_realtime(regclass) to service_role;
grant select on realtime.realtime_tables to service_role;

-- Private channels: a subscriber may join (and receive) when a SELECT policy
-- on realtime.messages lets it see a row for the channel's topic, and may
-- send when an INSERT policy lets it insert one. Fluxbase evaluates them in
-- the caller's request transaction with realtime.topic() set, inserting
-- nothing permanent.
create table if not exists realtime.messages (
  id bigint generated always as identity primary key,
  topic text not null,
  extension text not null check (extension in ('broadcast', 'presence')),
  event text,
  payload jsonb,
  private boolean not null default true,
  inserted_at timestamptz not null default now()
);
alter table realtime.messages enable row level security;

create or replace function realtime.topic()
returns text
language sql
stable
as $$ select nullif(current_setting('realtime.topic', true), '') $$;

grant usage on schema realtime to anon, authenticated, service_role, authenticator;
grant select, insert on realtime.messages to anon, authenticated, service_role;
grant execute on function realtime.topic() to anon, authenticated, service_role;

-- probe_message inserts, as the owner, a candidate message of a topic so
-- that Fluxbase can ask, under the caller's role, whether a SELECT policy
-- lets the caller see it. Fluxbase calls it inside a transaction it always
-- rolls back.
create or replace function realtime.probe_message(p_topic text)
returns bigint
language sql
security definer
set search_path = pg_catalog
as $$
  insert into realtime.messages (topic, extension, event, private)
  values (p_topic, 'broadcast', 'probe', true)
  returning id
$$;
revoke all on function realtime.probe_message(text) from public;
grant execute on function realtime.probe_message(text) to anon, authenticated, service_role;

-- Messages between Fluxbase instances too large for a NOTIFY payload wait
-- here for a minute, for the other instances to read.
create table if not exists realtime.bus (
  id bigint generated always as identity primary key,
  message jsonb not null,
  created_at timestamptz not null default now()
);
create index if not exists bus_created_at on realtime.bus (created_at);

-- visible_to answers, for each identity ({"role": ..., "claims": {...}}),
-- whether the row of tbl whose key columns match rec is visible to it:
-- the table is read under that identity's role and claims, so its row
-- level security policies decide. Fluxbase calls it once per change for
-- every distinct subscriber identity, in a read-only transaction it rolls
-- back. A role that may not read the table sees nothing.
create or replace function realtime.visible_to(tbl regclass, rec json, keys text[], identities json)
returns boolean[]
language plpgsql
set search_path = pg_catalog
as $$
declare
  cond text;
  probe text;
  ident json;
  ok boolean;
  result boolean[] := '{}';
begin
  select string_agg(format('t.%1$I is not distinct from r.%1$I', k), ' and ') into cond from unnest(keys) k;
  probe := format('select exists (select 1 from %s t, json_populate_record(null::%s, $1) r where %s)', tbl, tbl, cond);
  for ident in select value from json_array_elements(identities) loop
    begin
      perform set_config('role', ident->>'role', true);
      perform set_config('request.jwt.claims', ident->>'claims', true);
      execute probe into ok using rec;
    exception when others then
      ok := false;
    end;
    result := result || coalesce(ok, false);
  end loop;
  return result;
end
$$;
revoke all on function realtime.visible_to(regclass, json, text[], json) from public;
grant execute on function realtime.visible_to(regclass, json, text[], json) to authenticator;
