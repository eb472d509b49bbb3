-- Roles of least privilege. Roles are cluster-wide, so they are created only
-- when missing and survive DROP EXTENSION; grant them to login roles:
--   prospectpro_reader  reads the data tables and the monitoring views
--   prospectpro_writer  writes campaigns, leads and costs; applies enrichment
--   prospectpro_worker  runs delivery rounds
--   prospectpro_admin   all of the above, plus endpoints and their secrets
do $roles$
declare
    r text;
begin
    foreach r in array array[
        'prospectpro_reader', 'prospectpro_writer',
        'prospectpro_worker', 'prospectpro_admin'
    ] loop
        if not exists (select from pg_catalog.pg_roles where rolname = r) then
            execute pg_catalog.format('create role %I nologin', r);
        end if;
    end loop;
    grant prospectpro_reader, prospectpro_writer, prospectpro_worker
    to prospectpro_admin;
end
$roles$;

grant usage on schema prospectpro to
prospectpro_reader, prospectpro_writer, prospectpro_worker;
