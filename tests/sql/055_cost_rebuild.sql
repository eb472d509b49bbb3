-- The running cost aggregates: recomputed from the api_costs ledger by
-- prospectpro.rebuild_cost_windows(), and exact whatever the session's DateStyle.
begin;
select plan(6);

-- Costs of two campaigns and no campaign, over three APIs and two days, one
-- of them corrected and one deleted, as the triggers saw them.
insert into prospectpro.campaigns (id, name, target_count)
values (9501, 'Rebuild A', 10), (9502, 'Rebuild B', 10);
insert into prospectpro.api_costs (campaign_id, api_name, cost, request_count, created_at)
select
    (array[9501, 9502, null])[1 + n % 2 + n % 5 / 4] as campaign_id,
    (array['google_places', 'hunter_io', 'website_scrape'])[1 + n % 3] as api_name,
    0.01 * n as cost,
    1 + n % 4 as request_count,
    timestamptz '2100-02-01 08:00:00+00' + n * interval '7 minutes' as created_at
from generate_series(1, 300) as n;
update prospectpro.api_costs set cost = cost * 2 where api_name = 'hunter_io' and cost < 1;
delete from prospectpro.api_costs where api_name = 'website_scrape' and cost > 2.5;

-- A rebuild recomputes the windows from api_costs: the very sums the triggers
-- keep, plus costs loaded with the triggers off; it raises no alert.
-- (Corrections can leave a window at zero; a rebuild makes none.)
create temporary table kept_windows as
select
    scope,
    kind,
    window_start,
    api_name,
    spend,
    requests
from prospectpro.cost_windows
where spend <> 0 or requests <> 0;
create temporary table alerts_before as
select count(*) as n from prospectpro.cost_alerts;
select is(
    prospectpro.rebuild_cost_windows(),
    (select count(*) from kept_windows),
    'a rebuild of windows the triggers kept finds as many'
);
select set_eq(
    'select scope, kind, window_start, api_name, spend, requests from prospectpro.cost_windows',
    'select * from kept_windows',
    '... with the same sums'
);
set local session_replication_role = replica;
insert into prospectpro.api_costs (api_name, cost, created_at)
values ('loaded_api', 7.5, '2020-05-01 10:00:00+00');
set local session_replication_role = origin;
select is(
    (
        select count(*)::integer from prospectpro.cost_windows
        where api_name = 'loaded_api'
    ),
    0, 'costs loaded with the triggers off are in no window'
);
select prospectpro.rebuild_cost_windows() as windows;
select is(
    (
        select array_agg(w.spend order by w.kind) from prospectpro.cost_windows as w
        where w.scope = 'global' and w.api_name = 'loaded_api'
    ),
    array[7.5, 7.5, 7.5, 7.5]::numeric[],
    '... and in its minute, hour, day and total windows after a rebuild'
);
select is(
    (select count(*) from prospectpro.cost_alerts),
    (select n from alerts_before),
    '... which raises no alert'
);

-- Whatever the session's DateStyle and zone, a cost lands in its own minute
-- (a zone abbreviation such as IST would be read back as another zone).
set local timezone = 'Asia/Kolkata';
set local datestyle = 'SQL, DMY';
insert into prospectpro.api_costs (api_name, cost, created_at)
values ('zoned_api', 1, '2100-03-01 00:10:00+00');
select is(
    (
        select w.window_start from prospectpro.cost_windows as w
        where w.scope = 'global' and w.kind = 'minute' and w.api_name = 'zoned_api'
    ),
    '2100-03-01 00:10:00+00'::timestamptz,
    'a cost is placed in its UTC minute whatever the DateStyle and time zone'
);
reset datestyle;
reset timezone;

select * from finish();
rollback;
