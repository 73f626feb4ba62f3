-- Tells the schema cache that the catalog changed.
--
-- An event trigger on ddl_command_end and sql_drop sends NOTIFY
-- fluxbase_schema after every DDL command; the notification is delivered at
-- commit, so a Fluxbase instance that reloads on it sees the new catalog.
-- DDL on temporary objects is ignored: functions that create temporary
-- tables per call would otherwise reload the cache on every request.
--
-- Creating an event trigger needs a superuser. When Fluxbase's database
-- owner is not one (an external DATABASE_URL), the function is created but
-- the triggers are not, and the schema service detects the gap and falls
-- back to a periodic catalog check.
create function fluxbase.notify_schema_change() returns event_trigger
language plpgsql
set search_path = pg_catalog
as $$
begin
    if tg_event = 'sql_drop' then
        if exists (select 1 from pg_event_trigger_dropped_objects() where not is_temporary) then
            perform pg_notify('fluxbase_schema', 'ddl');
        end if;
    elsif exists (
        select 1 from pg_event_trigger_ddl_commands()
        where schema_name is null or schema_name not like 'pg\_temp%'
    ) then
        perform pg_notify('fluxbase_schema', 'ddl');
    end if;
end
$$;

comment on function fluxbase.notify_schema_change() is
    'Event trigger function: NOTIFY fluxbase_schema after DDL so that the REST schema cache reloads.';

do $$
begin
    if (select rolsuper from pg_roles where rolname = current_user) then
        create event trigger fluxbase_schema_ddl on ddl_command_end
            execute function fluxbase.notify_schema_change();
        create event trigger fluxbase_schema_drop on sql_drop
            execute function fluxbase.notify_schema_change();
    else
        raise notice 'fluxbase: not a superuser, so no event trigger; the schema cache polls the catalog for changes instead';
    end if;
end
$$;
