-- Helpers of the REST engine.
--
-- rest_planned_count answers Prefer: count=planned|estimated with the
-- planner's row estimate for the rows a request selects. The engine passes
-- the row query it built (identifiers from the schema cache, values as $n
-- placeholders) and the values separately; the query is prepared, so the
-- values are bound as parameters, never spliced into its text, and it runs
-- with the caller's role (SECURITY INVOKER), so RLS shapes the estimate.
create function fluxbase.rest_planned_count(query text, args text[])
returns bigint
language plpgsql
volatile
security invoker
set search_path = pg_catalog
as $$
declare
    plan json;
    vals text;
begin
    if exists (select 1 from pg_prepared_statements where name = 'fluxbase_rest_count') then
        deallocate fluxbase_rest_count;
    end if;
    execute 'prepare fluxbase_rest_count as ' || query;
    select string_agg(quote_nullable(a), ', ' order by i) into vals
      from unnest(args) with ordinality as u(a, i);
    execute 'explain (format json) execute fluxbase_rest_count' || coalesce('(' || vals || ')', '') into plan;
    deallocate fluxbase_rest_count;
    return (plan -> 0 -> 'Plan' ->> 'Plan Rows')::numeric::bigint;
end
$$;

comment on function fluxbase.rest_planned_count(text, text[]) is
    'The planner''s row estimate of a REST request''s rows (Prefer: count=planned).';

-- Request roles reach this one function in the fluxbase schema and nothing
-- else: functions are executable by PUBLIC by default, so that default is
-- withdrawn for the schema's existing and future functions first.
revoke execute on all functions in schema fluxbase from public;
alter default privileges in schema fluxbase revoke execute on functions from public;
grant usage on schema fluxbase to anon, authenticated, service_role;
grant execute on function fluxbase.rest_planned_count(text, text[]) to anon, authenticated, service_role;
