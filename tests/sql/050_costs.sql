-- Cost monitoring: each rule (daily_spend, cost_per_lead, rate_limit,
-- spending_anomaly) fires a cent above its threshold, not at it nor a cent
-- below, so threshold_exceeded_by is always positive; overrides win
-- over global values; one alert per (type, scope, period) and escalation
-- level; the alert lifecycle and its refusals; automatic resolution of ended
-- periods; the queued cost_alert event and its keys; running aggregates kept
-- exact by updates and deletes. Costs are dated in 2100 so no period ends
-- during the test, except those of 2000 that test the resolution.
begin;
select plan(83);

-- Alerts of one (type, scope, period).
create function pg_temp.alerts(kind text, about text, during text)
returns integer
language sql as $$
    select count(*)::integer from prospectpro.cost_alerts
    where alert_type = kind and scope = about and period = during
$$;

-- The alert of one (type, scope, period) and level.
create function pg_temp.alert(kind text, about text, during text, lvl integer default 0)
returns prospectpro.cost_alerts
language sql as $$
    select * from prospectpro.cost_alerts
    where alert_type = kind and scope = about and period = during and level = lvl
$$;

-- Record one cost, in a statement of its own.
create function pg_temp.spend(
    campaign bigint, api text, amount numeric, at timestamptz, requests integer default 1
) returns void
language sql as $$
    insert into prospectpro.api_costs (campaign_id, api_name, cost, created_at, request_count)
    values (campaign, api, amount, at, requests)
$$;

select is(
    (select (tgtype & 1) = 0 from pg_trigger where tgname = '_500_cost_monitoring'),
    true, 'the cost rules run once per statement'
);

insert into prospectpro.campaigns (id, name) values
(9001, 'Daily A'), (9002, 'Daily B'), (9003, 'Own daily limit'), (9004, 'Per lead'),
(9005, 'Anomaly robust'), (9006, 'Anomaly mean');

-- daily_spend, global: 49.99 is below, 50.00 at the threshold, 50.01 exceeds it.
insert into prospectpro.api_costs (campaign_id, api_name, cost, created_at) values
(9001, 'google_places', 30.00, '2100-01-01 10:00Z'),
(9002, 'hunter_email_verifier', 19.99, '2100-01-01 10:05Z');
select is(
    pg_temp.alerts('daily_spend', 'global', '2100-01-01'), 0, 'daily spend 49.99: no alert'
);
select pg_temp.spend(9001, 'scraper', 0.01, '2100-01-01 11:00Z');
select is(
    pg_temp.alerts('daily_spend', 'global', '2100-01-01'), 0,
    'daily spend 50.00, at the threshold: no alert'
);
select pg_temp.spend(9001, 'scraper', 0.01, '2100-01-01 11:01Z');
select is(
    pg_temp.alerts('daily_spend', 'global', '2100-01-01'), 1, 'daily spend 50.01: an alert'
);
select results_eq(
    $$select level, severity, threshold_value, current_value, status
    from pg_temp.alert('daily_spend', 'global', '2100-01-01')$$,
    $$values (0, 'warning', 50::numeric, 50.01::numeric, 'open')$$,
    'the alert records level 0, its threshold and the day''s spend'
);
select is(
    (
        select count(*)::integer from prospectpro.cost_alerts
        where alert_type = 'daily_spend' and scope like 'campaign:%'
    ),
    0, 'campaigns without their own daily threshold get no daily alert of their own'
);

-- The queued event carries the seed's keys.
create temporary table first_event as
select
    o.webhook_type,
    o.status,
    o.payload
from prospectpro.outbox as o
where o.id = (pg_temp.alert('daily_spend', 'global', '2100-01-01')).event_id;
select is((select webhook_type::text from first_event), 'cost_alert', 'a cost_alert event is queued');
select is((select status from first_event), 'pending', 'the event waits for delivery');
select is(
    (select array_agg(k order by k) from first_event as e, jsonb_object_keys(e.payload) as k),
    array[
        'alert_id', 'alert_metadata', 'alert_type', 'current_value', 'scope', 'severity',
        'threshold_exceeded_by', 'threshold_value', 'time_period'
    ],
    'the payload has the contract''s keys, plus alert_id, severity and scope'
);
select is(
    (
        select array_agg(k order by k)
        from first_event as e, jsonb_object_keys(e.payload -> 'alert_metadata') as k
    ),
    array['alert_triggered_at', 'campaign_ids', 'period_end', 'period_start', 'top_cost_apis'],
    'alert_metadata has the contract''s keys, plus the window judged'
);
select is(
    (
        select
            array[
                payload -> 'alert_metadata' ->> 'period_start', payload -> 'alert_metadata' ->> 'period_end'
            ]
        from first_event
    ),
    array['2100-01-01T00:00:00Z', '2100-01-02T00:00:00Z'],
    'period_start and period_end bound the UTC day, in RFC 3339'
);
select is(
    (
        select jsonb_build_object(
            'alert_id', (payload ->> 'alert_id')::bigint,
            'alert_type', payload -> 'alert_type',
            'threshold_value', payload -> 'threshold_value',
            'current_value', payload -> 'current_value',
            'threshold_exceeded_by', payload -> 'threshold_exceeded_by',
            'time_period', payload -> 'time_period',
            'scope', payload -> 'scope'
        ) from first_event
    ),
    jsonb_build_object(
        'alert_id', (pg_temp.alert('daily_spend', 'global', '2100-01-01')).id,
        'alert_type', 'daily_spend', 'threshold_value', 50, 'current_value', 50.01,
        'threshold_exceeded_by', 0.01, 'time_period', 'daily', 'scope', 'global'
    ),
    'the payload has the alert''s values, exceeded by a cent'
);
select is(
    (select payload -> 'alert_metadata' -> 'top_cost_apis' from first_event),
    '["google_places", "hunter_email_verifier", "scraper"]'::jsonb,
    'top_cost_apis: the day''s APIs by spend'
);
select is(
    (select payload -> 'alert_metadata' -> 'campaign_ids' from first_event),
    '[9001, 9002]'::jsonb,
    'campaign_ids: the campaigns that spent that day'
);

-- More costs: the same alert, until the excess doubles (100.00).
select pg_temp.spend(null, 'google_places', 49.97, '2100-01-01 12:00Z');
select pg_temp.spend(null, 'google_places', 0.01, '2100-01-01 12:01Z');
select is(
    pg_temp.alerts('daily_spend', 'global', '2100-01-01'), 1,
    'daily spend 99.99: still one alert for the day'
);
select pg_temp.spend(null, 'google_places', 0.01, '2100-01-01 12:02Z');
select is(
    pg_temp.alerts('daily_spend', 'global', '2100-01-01'), 2,
    'daily spend 100.00: the doubled excess escalates'
);
select results_eq(
    $$select severity, current_value, status
    from pg_temp.alert('daily_spend', 'global', '2100-01-01', 1)$$,
    $$values ('critical', 100::numeric, 'open')$$,
    'the escalated alert is level 1, critical'
);
select is(
    (
        select count(*)::integer from prospectpro.outbox
        where
            payload ->> 'alert_type' = 'daily_spend'
            and payload -> 'alert_metadata' ->> 'period_start' = '2100-01-01T00:00:00Z'
    ),
    2, 'one event per alert'
);

-- A campaign's own threshold wins over the global one.
select is(
    prospectpro.set_cost_threshold('daily_spend', 10), 10::numeric,
    'set_cost_threshold returns the global threshold in force'
);
select is(
    prospectpro.set_cost_threshold('daily_spend', 20, 9003), 20::numeric,
    'set_cost_threshold returns the campaign''s threshold in force'
);
select pg_temp.spend(9003, 'google_places', 19.99, '2100-01-02 10:00Z');
select is(
    (pg_temp.alert('daily_spend', 'global', '2100-01-02')).threshold_value, 10::numeric,
    'the global rule uses the global override'
);
select is(
    pg_temp.alerts('daily_spend', 'campaign:9003', '2100-01-02'), 0,
    'campaign spend 19.99 under its own 20 (over the global 10): no campaign alert'
);
select pg_temp.spend(9003, 'scraper', 0.01, '2100-01-02 10:01Z');
select is(
    pg_temp.alerts('daily_spend', 'campaign:9003', '2100-01-02'), 0,
    'campaign spend 20.00, at its own threshold: no campaign alert'
);
select pg_temp.spend(9003, 'scraper', 0.01, '2100-01-02 10:02Z');
select results_eq(
    $$select threshold_value, current_value, payload -> 'alert_metadata' -> 'campaign_ids'
    from pg_temp.alert('daily_spend', 'campaign:9003', '2100-01-02')$$,
    $$values (20::numeric, 20.01::numeric, '[9003]'::jsonb)$$,
    'campaign spend 20.01: a campaign alert over the campaign''s threshold'
);
select is(
    prospectpro.set_cost_threshold('daily_spend', null), 50::numeric,
    'removing the global override restores the default'
);
select is(
    prospectpro.set_cost_threshold('daily_spend', null, 9003), null,
    'without its own threshold a campaign has no daily rule'
);

-- cost_per_lead: spend / leads of the campaign, as the last delivery round
-- counted them (prospectpro._campaign_pass, run here by hand).
insert into prospectpro.enhanced_leads (campaign_id, business_name)
select
    9004 as campaign_id,
    'Lead ' || n as business_name
from generate_series(1, 10) as n;
select prospectpro._campaign_pass();
select pg_temp.spend(9004, 'google_places', 2.40, '2100-01-03 10:00Z');
select pg_temp.spend(9004, 'hunter_email_verifier', 0.09, '2100-01-03 10:01Z');
select is(
    pg_temp.alerts('cost_per_lead', 'campaign:9004', '2100-01-03'), 0,
    '2.49 for 10 leads (0.249 per lead): no alert'
);
select pg_temp.spend(9004, 'scraper', 0.01, '2100-01-03 10:02Z');
select is(
    pg_temp.alerts('cost_per_lead', 'campaign:9004', '2100-01-03'), 0,
    '2.50 for 10 leads (0.25 per lead, at the threshold): no alert'
);
select pg_temp.spend(9004, 'scraper', 0.01, '2100-01-03 10:03Z');
select results_eq(
    $$select threshold_value, current_value, level,
    payload -> 'current_value', payload -> 'threshold_exceeded_by',
    payload -> 'alert_metadata' -> 'top_cost_apis'
    from pg_temp.alert('cost_per_lead', 'campaign:9004', '2100-01-03')$$,
    $$values (
        0.25::numeric, 0.251::numeric, 0, '0.251'::jsonb, '0.001'::jsonb,
        '["google_places", "hunter_email_verifier", "scraper"]'::jsonb
    )$$,
    '2.51 for 10 leads (0.251 per lead): an alert'
);
select is(
    prospectpro.campaign_spend(9004), 2.51::numeric, 'campaign_spend is the running total'
);
select is(prospectpro.campaign_spend(-1), 0::numeric, 'campaign_spend of no costs is 0');

-- rate_limit: requests of one API in a UTC minute.
select is(
    prospectpro.set_api_rate_limit('test_rate_api', 10), 10,
    'set_api_rate_limit returns the API''s limit'
);
select is(
    prospectpro.set_api_rate_limit('other_api', null), 100,
    'an API without its own limit has the default'
);
select pg_temp.spend(null, 'test_rate_api', 0, '2100-01-04 10:00:10Z', 9);
select is(
    pg_temp.alerts('rate_limit', 'api:test_rate_api', '2100-01-04T10:00Z'), 0,
    '9 requests in a minute under a limit of 10: no alert'
);
select pg_temp.spend(null, 'test_rate_api', 0, '2100-01-04 10:00:40Z', 1);
select is(
    pg_temp.alerts('rate_limit', 'api:test_rate_api', '2100-01-04T10:00Z'), 0,
    '10 requests in a minute, at the limit: no alert'
);
select pg_temp.spend(null, 'test_rate_api', 0, '2100-01-04 10:00:50Z', 1);
select is(
    (pg_temp.alert('rate_limit', 'api:test_rate_api', '2100-01-04T10:00Z')).current_value,
    11::numeric, '11 requests in a minute: an alert'
);
select pg_temp.spend(null, 'test_rate_api', 0, '2100-01-04 10:01:00Z', 9);
select is(
    pg_temp.alerts('rate_limit', 'api:test_rate_api', '2100-01-04T10:01Z'), 0,
    'the next minute counts afresh'
);

-- spending_anomaly, median_mad (default): earlier hours 10, 10, 40 make a
-- threshold of max(median 10 + 3.5 x 1.4826 x MAD 0, 3 x 10, 10 + 1) = 30.
select is(
    prospectpro.set_cost_threshold('spending_anomaly', 3, 9005), 3::numeric,
    'a campaign gets its own anomaly rule'
);
select pg_temp.spend(9005, 'google_places', 10, '2100-01-05 01:00Z');
select pg_temp.spend(9005, 'google_places', 10, '2100-01-05 02:00Z');
select pg_temp.spend(9005, 'google_places', 40, '2100-01-05 03:00Z');
select pg_temp.spend(9005, 'google_places', 29.99, '2100-01-05 04:00Z');
select is(
    pg_temp.alerts('spending_anomaly', 'campaign:9005', '2100-01-05T04:00Z'), 0,
    'median_mad: 29.99 is below the threshold of 30'
);
select pg_temp.spend(9005, 'google_places', 0.01, '2100-01-05 04:20Z');
select is(
    pg_temp.alerts('spending_anomaly', 'campaign:9005', '2100-01-05T04:00Z'), 0,
    'median_mad: 30.00 is not above the threshold of 30'
);
select pg_temp.spend(9005, 'google_places', 0.01, '2100-01-05 04:30Z');
select results_eq(
    $$select threshold_value, current_value
    from pg_temp.alert('spending_anomaly', 'campaign:9005', '2100-01-05T04:00Z')$$,
    $$values (30::numeric, 30.01::numeric)$$,
    'median_mad: 30.01 is an anomaly'
);

-- spending_anomaly, mean_ratio (the seed's rule): 3 x mean(10, 10, 40) = 60.
select is(
    prospectpro.configure_anomaly_detection('mean_ratio'),
    '{"detector": "mean_ratio", "history_windows": 24}'::jsonb,
    'the detector is a setting'
);
select is(
    prospectpro.set_cost_threshold('spending_anomaly', 3, 9006), 3::numeric,
    'a second campaign gets its own anomaly rule'
);
select pg_temp.spend(9006, 'google_places', 10, '2100-01-06 01:00Z');
select pg_temp.spend(9006, 'google_places', 10, '2100-01-06 02:00Z');
select pg_temp.spend(9006, 'google_places', 40, '2100-01-06 03:00Z');
select pg_temp.spend(9006, 'google_places', 45, '2100-01-06 04:00Z');
select is(
    pg_temp.alerts('spending_anomaly', 'campaign:9006', '2100-01-06T04:00Z'), 0,
    'mean_ratio: 45 (an anomaly to median_mad) is not above 60'
);
select pg_temp.spend(9006, 'google_places', 14.99, '2100-01-06 04:05Z');
select is(
    pg_temp.alerts('spending_anomaly', 'campaign:9006', '2100-01-06T04:00Z'), 0,
    'mean_ratio: 59.99 is below 60'
);
select pg_temp.spend(9006, 'google_places', 0.01, '2100-01-06 04:10Z');
select is(
    pg_temp.alerts('spending_anomaly', 'campaign:9006', '2100-01-06T04:00Z'), 0,
    'mean_ratio: 60.00 is not above 60'
);
select pg_temp.spend(9006, 'google_places', 0.01, '2100-01-06 04:20Z');
select results_eq(
    $$select threshold_value, current_value
    from pg_temp.alert('spending_anomaly', 'campaign:9006', '2100-01-06T04:00Z')$$,
    $$values (60::numeric, 60.01::numeric)$$,
    'mean_ratio: 60.01 is an anomaly'
);
select is(
    prospectpro.configure_anomaly_detection('median_mad') ->> 'detector', 'median_mad',
    'the default detector is restored'
);

-- time_period names the kind of window; alert_metadata bounds the window itself.
select results_eq(
    $$select a.alert_type, a.payload ->> 'time_period',
        a.payload -> 'alert_metadata' ->> 'period_start',
        a.payload -> 'alert_metadata' ->> 'period_end'
    from prospectpro.cost_alerts as a
    where a.level = 0 and (a.alert_type, a.scope, a.period) in (
        ('cost_per_lead', 'campaign:9004', '2100-01-03'),
        ('rate_limit', 'api:test_rate_api', '2100-01-04T10:00Z'),
        ('spending_anomaly', 'campaign:9005', '2100-01-05T04:00Z')
    )
    order by a.alert_type$$,
    $$values
        ('cost_per_lead', 'daily', '2100-01-03T00:00:00Z', '2100-01-04T00:00:00Z'),
        ('rate_limit', 'minute', '2100-01-04T10:00:00Z', '2100-01-04T10:01:00Z'),
        ('spending_anomaly', 'hourly', '2100-01-05T04:00:00Z', '2100-01-05T05:00:00Z')$$,
    'time_period: daily for cost per lead, minute for rate limits, hourly for anomalies'
);

-- Lifecycle: open -> acknowledged -> resolved, or open -> resolved.
create temporary table lifecycle as
select
    (pg_temp.alert('daily_spend', 'global', '2100-01-01', 0)).id as acknowledged,
    (pg_temp.alert('daily_spend', 'global', '2100-01-01', 1)).id as direct;
select lives_ok(
    $$select prospectpro.acknowledge_alert((select acknowledged from lifecycle), 'looking')$$,
    'an open alert can be acknowledged'
);
select results_eq(
    $$select status, acknowledged_at is not null, acknowledgement
    from prospectpro.cost_alerts where id = (select acknowledged from lifecycle)$$,
    $$values ('acknowledged', true, 'looking')$$,
    'the acknowledgement is recorded'
);
select throws_ok(
    $$select prospectpro.acknowledge_alert((select acknowledged from lifecycle))$$,
    '55000', null, 'an acknowledged alert cannot be acknowledged again'
);
select lives_ok(
    $$select prospectpro.resolve_alert((select acknowledged from lifecycle), 'budget raised')$$,
    'an acknowledged alert can be resolved'
);
select results_eq(
    $$select status, resolved_at is not null, resolution
    from prospectpro.cost_alerts where id = (select acknowledged from lifecycle)$$,
    $$values ('resolved', true, 'budget raised')$$,
    'the resolution is recorded'
);
select throws_ok(
    $$select prospectpro.resolve_alert((select acknowledged from lifecycle))$$,
    '55000', null, 'a resolved alert cannot be resolved again'
);
select lives_ok(
    $$select prospectpro.resolve_alert((select direct from lifecycle))$$,
    'an open alert can be resolved directly'
);
select throws_ok(
    $$select prospectpro.acknowledge_alert((select direct from lifecycle))$$,
    '55000', null, 'a resolved alert cannot be acknowledged'
);
select isnt(
    hint_of($$select prospectpro.acknowledge_alert((select direct from lifecycle))$$),
    null, 'a refused transition gives a hint'
);
select throws_ok(
    'select prospectpro.resolve_alert(-1)', 'P0002', null, 'an unknown alert is refused'
);
select isnt(
    hint_of('select prospectpro.resolve_alert(-1)'), null, 'an unknown alert gives a hint'
);

-- Periods that ended resolve themselves.
select pg_temp.spend(null, 'google_places', 60, '2000-01-01 12:00Z');
select is(
    (pg_temp.alert('daily_spend', 'global', '2000-01-01')).status, 'open',
    'a late cost raises an alert for its ended day'
);
select is(prospectpro.resolve_expired_alerts(), 1, 'resolve_expired_alerts resolves it');
select results_eq(
    $$select status, resolution from pg_temp.alert('daily_spend', 'global', '2000-01-01')$$,
    $$values ('resolved', 'period ended')$$,
    'the ended day''s alert is resolved'
);
select is(
    (pg_temp.alert('daily_spend', 'campaign:9003', '2100-01-02')).status, 'open',
    'alerts of periods still running stay open'
);
select pg_temp.spend(null, 'google_places', 60, '2000-01-02 12:00Z');
select pg_temp.spend(null, 'google_places', 1, '2100-01-07 12:00Z');
select is(
    (pg_temp.alert('daily_spend', 'global', '2000-01-02')).status, 'resolved',
    'the next cost insert resolves ended periods too'
);

-- Updates and deletes of costs keep the aggregates exact, and raise nothing.
update prospectpro.api_costs set cost = 2.60
where campaign_id = 9004 and api_name = 'hunter_email_verifier';
select is(prospectpro.campaign_spend(9004), 5.02::numeric, 'an updated cost is re-counted');
delete from prospectpro.api_costs where campaign_id = 9004 and api_name = 'google_places';
select is(prospectpro.campaign_spend(9004), 2.62::numeric, 'a deleted cost is taken off');
select is(
    (
        select spend from prospectpro.cost_windows
        where
            scope = 'global' and kind = 'day' and api_name = ''
            and window_start = '2100-01-03 00:00Z'
    ),
    2.62::numeric, 'the global day follows'
);
select is(
    pg_temp.alerts('cost_per_lead', 'campaign:9004', '2100-01-03'), 1,
    'corrections raise no alert, even past a doubling (0.502 per lead)'
);

-- Bad arguments are refused with a hint.
select isnt(
    hint_of($$select prospectpro.set_cost_threshold('sms_spend', 1)$$), null,
    'set_cost_threshold: an unknown alert type gives a hint'
);
select throws_ok(
    $$select prospectpro.set_cost_threshold('daily_spend', -1)$$, '22023', null,
    'set_cost_threshold: a negative threshold is refused'
);
select isnt(
    hint_of($$select prospectpro.set_cost_threshold('daily_spend', 'NaN')$$), null,
    'set_cost_threshold: NaN gives a hint'
);
select isnt(
    hint_of($$select prospectpro.set_cost_threshold('rate_limit', 10, 9001)$$), null,
    'set_cost_threshold: a campaign rate limit gives a hint'
);
select isnt(
    hint_of($$select prospectpro.set_cost_threshold('rate_limit', 10.5)$$), null,
    'set_cost_threshold: a fractional rate limit gives a hint'
);
select isnt(
    hint_of($$select prospectpro.set_cost_threshold('daily_spend', 5, -1)$$), null,
    'set_cost_threshold: an unknown campaign gives a hint'
);
select isnt(
    hint_of($$select prospectpro.set_api_rate_limit('Not An API', 5)$$), null,
    'set_api_rate_limit: a malformed api_name gives a hint'
);
select isnt(
    hint_of($$select prospectpro.configure_anomaly_detection('zscore')$$), null,
    'configure_anomaly_detection: an unknown detector gives a hint'
);
select isnt(
    hint_of(
        $$select prospectpro.configure_anomaly_detection(history_windows => 1)$$
    ),
    null, 'configure_anomaly_detection: too short a history gives a hint'
);

-- Writers record costs (the rules run as the owner); admins manage alerts.
select table_privs_are(
    'prospectpro', 'cost_alerts', 'prospectpro_writer', array[]::text[],
    'writers cannot write alerts'
);
select table_privs_are(
    'prospectpro', 'cost_alert_history', 'prospectpro_reader', array['SELECT'],
    'readers read the alert history'
);
select function_privs_are(
    'prospectpro', 'set_cost_threshold', array['text', 'numeric', 'bigint'],
    'prospectpro_writer', array[]::text[], 'writers cannot change thresholds'
);
select function_privs_are(
    'prospectpro', 'resolve_alert', array['bigint', 'text'],
    'prospectpro_admin', array['EXECUTE'], 'admins resolve alerts'
);

-- The seed's debug query runs verbatim.
set local search_path = prospectpro, public;
select lives_ok(
    'SELECT * FROM cost_alert_history ORDER BY created_at DESC LIMIT 10',
    'the seed''s cost_alert_history query runs'
);

select * from finish();
rollback;
