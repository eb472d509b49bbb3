-- A sorted, comparable description of everything the prospectpro extension
-- owns: used by tools/check-upgrades to compare an upgraded database with a
-- fresh install (pg_dump leaves extension members out). Range partitions are
-- not members: maintain_partitions() makes them as time goes by, and an
-- upgraded database keeps its old tables as the first ones; they, their
-- columns, constraints and indexes are left out (the partitioned tables'
-- own definitions, which every partition follows, are in).
with members as (
    select d.classid, d.objid
    from pg_catalog.pg_depend as d
    inner join pg_catalog.pg_extension as e on d.refobjid = e.oid
    where d.refclassid = 'pg_extension'::regclass and d.deptype = 'e'
    and e.extname = 'prospectpro'
),

range_partitions as (
    select c.oid
    from pg_catalog.pg_class as c
    where
        c.relnamespace = 'prospectpro'::regnamespace and c.relispartition
        and c.relkind in ('r', 'p')
        and c.oid not in (
            select m.objid from members as m where m.classid = 'pg_class'::regclass
        )
    union all
    select i.indexrelid
    from pg_catalog.pg_index as i
    inner join pg_catalog.pg_class as c on i.indrelid = c.oid
    where
        c.relnamespace = 'prospectpro'::regnamespace and c.relispartition
        and c.oid not in (
            select m.objid from members as m where m.classid = 'pg_class'::regclass
        )
)

select pg_catalog.pg_describe_object(m.classid, m.objid, 0) as item
from members as m
union all
select 'function ' || p.oid::regprocedure || ': '
    || pg_catalog.pg_get_functiondef(p.oid)
    || coalesce(' acl ' || p.proacl::text, '')
    || coalesce(' comment ' || pg_catalog.obj_description(p.oid, 'pg_proc'), '')
from pg_catalog.pg_proc as p
where p.pronamespace = 'prospectpro'::regnamespace
union all
select 'relation ' || c.oid::regclass || ' ' || c.relkind::text
    || coalesce(' acl ' || c.relacl::text, '')
    || coalesce(' comment ' || pg_catalog.obj_description(c.oid, 'pg_class'), '')
    || coalesce(' view ' || pg_catalog.pg_get_viewdef(c.oid), '')
from pg_catalog.pg_class as c
where
    c.relnamespace = 'prospectpro'::regnamespace
    and c.oid not in (select r.oid from range_partitions as r)
union all
select 'column ' || a.attrelid::regclass || '.' || a.attname || ' '
    || pg_catalog.format_type(a.atttypid, a.atttypmod)
    || case when a.attnotnull then ' not null' else '' end
    || coalesce(' default ' || pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), '')
    || coalesce(' identity ' || nullif(a.attidentity::text, ''), '')
from pg_catalog.pg_attribute as a
inner join pg_catalog.pg_class as c on a.attrelid = c.oid
left join pg_catalog.pg_attrdef as ad
    on a.attrelid = ad.adrelid and a.attnum = ad.adnum
where
    c.relnamespace = 'prospectpro'::regnamespace
    and a.attnum > 0 and not a.attisdropped
    and c.oid not in (select r.oid from range_partitions as r)
union all
select 'constraint ' || co.conrelid::regclass || ' ' || co.conname || ' '
    || pg_catalog.pg_get_constraintdef(co.oid)
from pg_catalog.pg_constraint as co
where
    co.connamespace = 'prospectpro'::regnamespace
    and co.conrelid not in (select r.oid from range_partitions as r)
union all
select 'index ' || pg_catalog.pg_get_indexdef(i.indexrelid)
from pg_catalog.pg_index as i
inner join pg_catalog.pg_class as c on i.indrelid = c.oid
where
    c.relnamespace = 'prospectpro'::regnamespace
    and c.oid not in (select r.oid from range_partitions as r)
union all
select 'trigger ' || pg_catalog.pg_get_triggerdef(t.oid)
from pg_catalog.pg_trigger as t
inner join pg_catalog.pg_class as c on t.tgrelid = c.oid
where
    c.relnamespace = 'prospectpro'::regnamespace and not t.tgisinternal
    and c.oid not in (select r.oid from range_partitions as r)
union all
-- In name order: registration order differs between a fresh install and an
-- upgrade, and means nothing.
select 'config dump ' || pg_catalog.array_to_string(array(
    select c::regclass::text from unnest(e.extconfig) as c order by 1
), ', ')
from pg_catalog.pg_extension as e
where e.extname = 'prospectpro'
union all
-- The rows the extension ships, which upgrades must match too.
select 'row webhook_types ' || t::text from prospectpro.webhook_types as t
union all
select 'row campaign_transitions ' || t::text from prospectpro.campaign_transitions as t
order by 1;
