-- plpgsql_check on every PL/pgSQL function of the extension (tools/lint-sql),
-- with its performance and extra warnings (and security and compatibility
-- ones). A trigger function is checked once per trigger that calls it, with
-- that trigger's table and transition tables; any finding fails.
\set ON_ERROR_STOP 1
set client_min_messages = warning;
create extension prospectpro cascade;
create extension plpgsql_check;
-- _cron_schedule calls pg_cron, which the test clusters preload when present.
select exists (select from pg_available_extensions where name = 'pg_cron') as has_cron \gset
\if :has_cron
create extension pg_cron;
\endif

create temp table targets as
select
    p.oid::regprocedure as function_name,
    t.tgrelid::regclass as trigger_table,
    t.tgoldtable,
    t.tgnewtable
from pg_proc as p
inner join pg_depend as d
    on d.classid = 'pg_proc'::regclass and p.oid = d.objid and d.deptype = 'e'
inner join pg_extension as e on d.refobjid = e.oid and e.extname = 'prospectpro'
inner join pg_language as l on p.prolang = l.oid and l.lanname = 'plpgsql'
left join pg_trigger as t on p.oid = t.tgfoid;

create temp table findings as
select
    t.function_name,
    t.trigger_table,
    c.level,
    c.lineno,
    c.message,
    c.hint
from targets as t
cross join lateral plpgsql_check_function_tb(
    t.function_name,
    coalesce(t.trigger_table, 0),
    performance_warnings => true,
    extra_warnings => true,
    security_warnings => true,
    compatibility_warnings => true,
    oldtable => t.tgoldtable,
    newtable => t.tgnewtable
) as c;

select exists (select from findings) as failed \gset
\if :failed
select * from findings order by function_name, trigger_table, lineno;
\endif
select format(
    'plpgsql_check: %s PL/pgSQL functions, %s checks (trigger functions per trigger, '
    'transition tables named): %s findings',
    count(distinct t.function_name), count(*), (select count(*) from findings)
) as summary
from targets as t \gset
\echo :summary
do $$
begin
    if exists (select from findings) then
        raise exception 'plpgsql_check: the findings listed above';
    end if;
end
$$;
