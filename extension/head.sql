-- The head of every generated script, install and upgrade (pgai's head.sql).
--
-- Views, constraints, defaults and index predicates bind their operators,
-- functions and types when they are created: a fixed search_path binds the
-- unqualified ones to pg_catalog, whatever path the installing session had.
-- SET LOCAL lasts until the script ends (CREATE EXTENSION restores the path).
set local search_path = pg_catalog, pg_temp;

-- Every function and view is created with CREATE OR REPLACE (extension/api/ is
-- re-run by each upgrade), and the functions call each other by qualified
-- name. Both are safe only while no untrusted role can create objects in the
-- schema: such a role could plant an object for a CREATE OR REPLACE to adopt,
-- or an overload that a qualified call would prefer. CREATE EXTENSION creates
-- the schema for its (superuser) caller; a schema made beforehand is refused
-- while a role other than a superuser may create in it.
do $guard$
declare
    creators text;
begin
    select pg_catalog.string_agg(r.rolname, ', ' order by r.rolname)
    into creators
    from pg_catalog.pg_namespace as n
    cross join pg_catalog.pg_roles as r
    where
        n.nspname = 'prospectpro'
        and not r.rolsuper
        and pg_catalog.has_schema_privilege(r.oid, n.oid, 'CREATE');
    if creators is not null then
        raise exception 'schema prospectpro lets non-superusers create objects in it: %',
            creators
        using errcode = 'insufficient_privilege',
        hint = 'Only superusers may own or create in schema prospectpro: '
        || 'ALTER SCHEMA prospectpro OWNER TO a superuser and REVOKE CREATE ON '
        || 'SCHEMA prospectpro FROM the roles named.';
    end if;
end
$guard$;
