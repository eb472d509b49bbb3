-- Bad input to every public function: NULLs, negatives, unknown types and
-- statuses, unknown ids, oversize values. Each call must be refused with a
-- clear error (not an internal one, not an unhandled Python exception) that
-- carries a HINT, and must change nothing. Known bugs are TODO tests: they
-- report "TODO passed" once fixed, and then should leave their TODO block.
begin;
select plan(121);

-- Every table of the extension, as text: what "changes nothing" compares.
create function pg_temp.snapshot() returns text
language plpgsql as $$
declare
    tables text;
    result text;
begin
    select string_agg(
        format(
            '(select coalesce(jsonb_agg(to_jsonb(t) order by to_jsonb(t)::text)::text, '''')'
            ' from prospectpro.%I as t)',
            c.relname
        ),
        ' || '
        order by c.relname
    ) into tables
    from pg_catalog.pg_class as c
    where c.relnamespace = 'prospectpro'::regnamespace and c.relkind = 'r';
    execute 'select md5(' || tables || ')' into result;
    return result;
end
$$;

-- What a statement did: "refused with a hint and changed nothing" is what bad
-- input must get. A statement that succeeds is undone after its snapshot.
create function pg_temp.verdict(statement text) returns text
language plpgsql as $$
declare
    before text := pg_temp.snapshot();
    accepted_and_changed boolean;
    state text;
    hint text;
begin
    begin
        execute statement;
        accepted_and_changed := pg_temp.snapshot() <> before;
        raise exception 'undo' using errcode = 'PPUND';
    exception when others then
        get stacked diagnostics state = returned_sqlstate, hint = pg_exception_hint;
    end;
    if state = 'PPUND' then
        return 'accepted and '
        || case when accepted_and_changed then 'changed data' else 'changed nothing' end;
    end if;
    return case
        -- internal_error (a plpy.error without a SQLSTATE) and
        -- external_routine_exception (an unhandled Python exception)
        when left(state, 2) in ('XX', '38') then 'crashed (' || state || ')'
        else 'refused'
    end
    || case when coalesce(hint, '') <> '' then ' with a hint' else ' without a hint' end
    || case when pg_temp.snapshot() <> before then ' and changed data' else ' and changed nothing' end;
end
$$;

-- Bad input must be refused with a hint and change nothing; the test is named
-- after the function the statement calls.
create function pg_temp.refused(statement text, what text) returns text
language sql as $$
    select is(
        pg_temp.verdict(statement), 'refused with a hint and changed nothing',
        substring(statement from 'prospectpro\.(\w+)\(') || ': ' || what
    )
$$;

-- Data for the unknown-id and wrong-state cases.
-- 7001 has a lead (so it is processing), 7002 none (so it is still created).
insert into prospectpro.campaigns (id, name) values (7001, 'Bad input'), (7002, 'Created');
insert into prospectpro.enhanced_leads (id, campaign_id, business_name)
values (7001, 7001, 'Bad input lead');
select prospectpro._emit('cost_alert', '{"pending": true}');
insert into prospectpro.cost_alerts (
    id, alert_type, scope, period, period_end, level, severity, threshold_value,
    current_value, status
) values (
    7001, 'daily_spend', 'global', '2026-01-01', '2026-01-02', 0, 'warning', 50, 60,
    'resolved'
);
create temporary table start_state as select pg_temp.snapshot() as snapshot;

-- configure_endpoint
select pg_temp.refused(t.statement, t.what) from (
    values
    ($$select prospectpro.configure_endpoint(null, 'http://127.0.0.1:9/x')$$, 'null webhook_type'),
    (
        $$select prospectpro.configure_endpoint('sms', 'http://127.0.0.1:9/x')$$,
        'unknown webhook_type'
    ),
    (
        $$select prospectpro.configure_endpoint('cost_alert', 'ftp://example.com')$$,
        'a URL that is not http(s)'
    ),
    ($$select prospectpro.configure_endpoint('cost_alert', 'http://a b')$$, 'a URL with a space'),
    (
        $$select prospectpro.configure_endpoint('cost_alert', 'http://x', timeout_ms => -1)$$,
        'negative timeout_ms'
    ),
    (
        $$select prospectpro.configure_endpoint('cost_alert', 'http://x', timeout_ms => null)$$,
        'null timeout_ms'
    ),
    (
        $$select prospectpro.configure_endpoint('cost_alert', 'http://x', retry_schedule => null)$$,
        'null retry_schedule'
    ),
    (
        $$select prospectpro.configure_endpoint('cost_alert', 'http://x', retry_schedule => '{-1}')$$,
        'a negative retry delay'
    ),
    (
        $$select prospectpro.configure_endpoint('cost_alert', 'http://x', retry_schedule => array_fill(1::float8, array[21]))$$,
        '21 retry delays'
    ),
    (
        $$select prospectpro.configure_endpoint('cost_alert', 'http://x', retry_schedule => '{NaN}')$$,
        'a NaN retry delay'
    ),
    (
        $$select prospectpro.configure_endpoint('cost_alert', 'http://x', jitter => 'NaN')$$,
        'NaN jitter'
    ),
    (
        $$select prospectpro.configure_endpoint('cost_alert', 'http://x', jitter => -0.1)$$,
        'negative jitter'
    ),
    (
        $$select prospectpro.configure_endpoint('cost_alert', 'http://x', max_connections => 0)$$,
        'zero max_connections'
    ),
    (
        $$select prospectpro.configure_endpoint('cost_alert', 'http://x', max_connections => 257)$$,
        '257 max_connections'
    ),
    (
        $$select prospectpro.configure_endpoint('cost_alert', 'http://x', breaker_threshold => 0)$$,
        'zero breaker_threshold'
    ),
    (
        $$select prospectpro.configure_endpoint('cost_alert', 'http://x', probe_interval => 'Infinity')$$,
        'infinite probe_interval'
    ),
    (
        $$select prospectpro.configure_endpoint('cost_alert', 'http://x', enabled => null)$$,
        'null enabled'
    )
) as t (statement, what);

select pg_temp.refused(t.statement, t.what) from (
    values
    (
        $$select prospectpro.configure_endpoint('cost_alert', 'http://x', retry_schedule => '{1,NULL}')$$,
        'a NULL retry delay (deliver_due: None * float)'
    ),
    (
        $$select prospectpro.configure_endpoint('cost_alert', 'http://x', retry_schedule => '{{1,2},{3,4}}')$$,
        'a two-dimensional retry_schedule (deliver_due: list * float)'
    ),
    (
        $$select prospectpro.configure_endpoint('cost_alert', 'http://x' || repeat('a', 1000000))$$,
        'a 1 MB URL'
    ),
    (
        $$select prospectpro.configure_endpoint('cost_alert', 'http://x', token => repeat('t', 1000000))$$,
        'a 1 MB token (no receiver accepts such a header)'
    ),
    (
        $$select prospectpro.configure_endpoint('cost_alert', 'http://x', token => e'tok\r\nx-injected: 1')$$,
        'a token with CR/LF (httpx refuses it, quoting it into webhook_logs)'
    ),
    (
        $$select prospectpro.configure_endpoint('cost_alert', 'http://x', token => 'jeton-façade')$$,
        'a non-ASCII token (deliver_due: UnicodeEncodeError)'
    ),
    (
        $$select prospectpro.configure_endpoint('cost_alert', 'http://x', signing_secret => 'whsec_abc')$$,
        'a whsec_ secret that is not base64 (deliver_due: binascii.Error)'
    )
) as t (statement, what);

-- enable_endpoint
select pg_temp.refused(t.statement, t.what) from (
    values
    ($$select prospectpro.enable_endpoint(null)$$, 'null webhook_type'),
    ($$select prospectpro.enable_endpoint('sms')$$, 'unknown webhook_type')
) as t (statement, what);

-- deliver_due and run_delivery
select pg_temp.refused(t.statement, t.what) from (
    values
    ($$select prospectpro.deliver_due(null)$$, 'null max_events'),
    ($$select prospectpro.deliver_due(-1)$$, 'negative max_events'),
    ($$select prospectpro.deliver_due(10001)$$, '10001 max_events')
) as t (statement, what);
select pg_temp.refused(t.statement, t.what) from (
    values
    ($$call prospectpro.run_delivery(null)$$, 'null max_seconds'),
    ($$call prospectpro.run_delivery('Infinity')$$, 'infinite max_seconds')
) as t (statement, what);

-- redeliver, both overloads, and discard
select pg_temp.refused(t.statement, t.what) from (
    values
    ($$select prospectpro.redeliver(null::bigint)$$, 'null event id'),
    ($$select prospectpro.redeliver(-1)$$, 'negative event id'),
    ($$select prospectpro.redeliver(123456789)$$, 'unknown event id'),
    (
        $$select prospectpro.redeliver(min(id)) from prospectpro.outbox where status = 'pending'$$,
        'an event that is not dead'
    ),
    ($$select prospectpro.redeliver(null::text)$$, 'null webhook_type'),
    ($$select prospectpro.redeliver('sms', now())$$, 'unknown webhook_type'),
    ($$select prospectpro.discard(null)$$, 'null event id'),
    ($$select prospectpro.discard(-1)$$, 'negative event id'),
    (
        $$select prospectpro.discard(min(id)) from prospectpro.outbox where status = 'pending'$$,
        'an event that is not dead'
    )
) as t (statement, what);

-- prune (checks its arguments before its first commit)
select pg_temp.refused(t.statement, t.what) from (
    values
    ($$call prospectpro.prune(null)$$, 'null older_than'),
    ($$call prospectpro.prune('-1 day')$$, 'negative older_than'),
    ($$call prospectpro.prune('1 day', 0)$$, 'zero batch_size'),
    ($$call prospectpro.prune('1 day', null)$$, 'null batch_size'),
    ($$call prospectpro.prune('1 day', 100001)$$, 'oversize batch_size')
) as t (statement, what);

-- schedule_delivery and schedule_maintenance (pg_cron is not in this database)
select pg_temp.refused(t.statement, t.what) from (
    values
    ($$select prospectpro.schedule_delivery(null)$$, 'without pg_cron'),
    ($$select prospectpro.schedule_maintenance(null)$$, 'without pg_cron')
) as t (statement, what);

-- apply_enrichment
select pg_temp.refused(t.statement, t.what) from (
    values
    ($$select prospectpro.apply_enrichment(null, 7001, 'stage1')$$, 'null webhook_id'),
    ($$select prospectpro.apply_enrichment(gen_random_uuid(), null, 'stage1')$$, 'null lead_id'),
    ($$select prospectpro.apply_enrichment(gen_random_uuid(), 7001, null)$$, 'null stage'),
    ($$select prospectpro.apply_enrichment(gen_random_uuid(), 7001, 'stage9')$$, 'unknown stage'),
    (
        $$select prospectpro.apply_enrichment(gen_random_uuid(), 7001, 'completed')$$,
        'a stage that is no stage'
    ),
    ($$select prospectpro.apply_enrichment(gen_random_uuid(), -1, 'stage1')$$, 'negative lead_id'),
    (
        $$select prospectpro.apply_enrichment(gen_random_uuid(), 123456789, 'stage1')$$,
        'unknown lead_id'
    ),
    (
        $$select prospectpro.apply_enrichment(gen_random_uuid(), 7001, 'stage1', '[1]')$$,
        'a result that is an array'
    ),
    (
        $$select prospectpro.apply_enrichment(gen_random_uuid(), 7001, 'stage1', 'null')$$,
        'a JSON null result'
    ),
    (
        $$select prospectpro.apply_enrichment(gen_random_uuid(), 7001, 'stage1', jsonb_build_object('x', repeat('a', 300000)))$$,
        'a 300 kB result'
    ),
    (
        $$select prospectpro.apply_enrichment(gen_random_uuid(), 7001, 'stage1', '{}', '{}')$$,
        'costs that are no array'
    ),
    (
        $$select prospectpro.apply_enrichment(gen_random_uuid(), 7001, 'stage1', '{}', '[{"api_name": "hunter", "cost": -1}]')$$,
        'a negative cost'
    ),
    (
        $$select prospectpro.apply_enrichment(gen_random_uuid(), 7001, 'stage1', '{}', '[{"api_name": "hunter", "cost": "NaN"}]')$$,
        'a NaN cost'
    ),
    (
        $$select prospectpro.apply_enrichment(gen_random_uuid(), 7001, 'stage1', '{}', '[{"api_name": "hunter", "cost": 1, "request_count": 0}]')$$,
        'zero request_count'
    ),
    (
        $$select prospectpro.apply_enrichment(gen_random_uuid(), 7001, 'stage1', '{}', '[{"cost": 1}]')$$,
        'a cost without api_name'
    )
) as t (statement, what);

select pg_temp.refused(t.statement, t.what) from (
    values
    (
        $$select prospectpro.apply_enrichment(gen_random_uuid(), 7001, 'stage1', '{}', '[{"api_name": "Bad Name", "cost": 1}]')$$,
        'an api_name api_costs refuses (23514, no hint)'
    ),
    (
        $$select prospectpro.apply_enrichment(gen_random_uuid(), 7001, 'stage1', '{}', '[{"api_name": "hunter", "cost": 1e20}]')$$,
        'a cost over numeric(12, 4) (22003, no hint)'
    ),
    (
        $$select prospectpro.apply_enrichment(gen_random_uuid(), 7001, 'stage1', '{}', '[{"api_name": "hunter", "cost": 1, "request_count": 1099511627776}]')$$,
        'a request_count over integer (22003, no hint)'
    ),
    (
        $$select prospectpro.apply_enrichment(gen_random_uuid(), 7001, 'stage1', '{}', '[{"api_name": "hunter", "cost": 1, "request_count": true}]')$$,
        'request_count true (a Python int: 22P02, no hint)'
    ),
    (
        $$select prospectpro.apply_enrichment(gen_random_uuid(), 7001, 'stage1', '{"lead": "not an object"}')$$,
        'result.lead not an object (AttributeError)'
    )
) as t (statement, what);

-- apply_enrichment_batch
select pg_temp.refused(t.statement, t.what) from (
    values
    ($$select prospectpro.apply_enrichment_batch(null)$$, 'null outcomes'),
    ($$select prospectpro.apply_enrichment_batch('{}')$$, 'outcomes that are no array'),
    ($$select prospectpro.apply_enrichment_batch('[]')$$, 'no outcome'),
    (
        $$select prospectpro.apply_enrichment_batch(
            (select jsonb_agg(jsonb_build_object('webhook_id', gen_random_uuid(),
                'lead_id', 7001, 'stage', 'stage1')) from generate_series(1, 1001)))$$,
        'more than 1000 outcomes'
    ),
    ($$select prospectpro.apply_enrichment_batch('[1]')$$, 'an outcome that is no object'),
    (
        $$select prospectpro.apply_enrichment_batch('[{"webhook_id": "x", "lead_id": 7001, "stage": "stage1"}]')$$,
        'a webhook_id that is no UUID'
    ),
    (
        $$select prospectpro.apply_enrichment_batch('[{"webhook_id": "a0000000-0000-0000-0000-000000000001", "lead_id": 7001.5, "stage": "stage1"}]')$$,
        'a lead_id that is no integer'
    ),
    (
        $$select prospectpro.apply_enrichment_batch('[{"webhook_id": "a0000000-0000-0000-0000-000000000001", "lead_id": 7001, "stage": "stage1", "costs": [{"api_name": "hunter", "cost": -1}]}]')$$,
        'a negative cost'
    ),
    (
        $$select prospectpro.apply_enrichment_batch('[{"webhook_id": "a0000000-0000-0000-0000-000000000001", "lead_id": 7001, "stage": "stage1", "colour": "red"}]')$$,
        'an unknown key'
    ),
    (
        -- The first outcome is fine: the second refuses the whole batch.
        $$select prospectpro.apply_enrichment_batch('[{"webhook_id": "a0000000-0000-0000-0000-000000000001", "lead_id": 7001, "stage": "stage1"}, {"webhook_id": "a0000000-0000-0000-0000-000000000002", "lead_id": 7001, "stage": "stage9"}]')$$,
        'one bad outcome among good ones'
    )
) as t (statement, what);

-- configure_scoring
select pg_temp.refused(t.statement, t.what) from (
    values
    ($$select prospectpro.configure_scoring('[1]')$$, 'weights that are an array'),
    ($$select prospectpro.configure_scoring('{"charm": 10}')$$, 'unknown factor'),
    ($$select prospectpro.configure_scoring('{"rating": -1}')$$, 'negative weight'),
    ($$select prospectpro.configure_scoring('{"rating": "ten"}')$$, 'a weight that is a string'),
    ($$select prospectpro.configure_scoring(null, -1)$$, 'negative threshold'),
    ($$select prospectpro.configure_scoring(null, 101)$$, 'threshold over 100')
) as t (statement, what);

select pg_temp.refused(t.statement, t.what) from (
    values
    ($$select prospectpro.configure_scoring('{"rating": 1e400}')$$, 'a weight of 1e400')
) as t (statement, what);

-- set_campaign_status
select pg_temp.refused(t.statement, t.what) from (
    values
    ($$select prospectpro.set_campaign_status(null, 'processing')$$, 'null campaign_id'),
    ($$select prospectpro.set_campaign_status(-1, 'processing')$$, 'negative campaign_id'),
    ($$select prospectpro.set_campaign_status(123456789, 'processing')$$, 'unknown campaign_id'),
    ($$select prospectpro.set_campaign_status(7001, null)$$, 'null status'),
    ($$select prospectpro.set_campaign_status(7001, 'flying')$$, 'unknown status'),
    (
        $$select prospectpro.set_campaign_status(7002, 'completed')$$,
        'a transition the state machine refuses'
    ),
    ($$select prospectpro.set_campaign_status(7002, 'paused')$$, 'paused is the guard''s')
) as t (statement, what);

select pg_temp.refused(t.statement, t.what) from (
    values
    (
        $$select prospectpro.set_campaign_status(7002, 'processing', repeat('x', 1000000))$$,
        'a 1 MB reason'
    )
) as t (statement, what);

-- set_cost_threshold and set_api_rate_limit
select pg_temp.refused(t.statement, t.what) from (
    values
    ($$select prospectpro.set_cost_threshold(null, 1)$$, 'null alert_type'),
    ($$select prospectpro.set_cost_threshold('hourly_spend', 1)$$, 'unknown alert_type'),
    ($$select prospectpro.set_cost_threshold('daily_spend', -1)$$, 'negative value'),
    ($$select prospectpro.set_cost_threshold('daily_spend', 0)$$, 'zero'),
    ($$select prospectpro.set_cost_threshold('daily_spend', 'NaN')$$, 'NaN'),
    ($$select prospectpro.set_cost_threshold('daily_spend', 1e20)$$, 'oversize value'),
    ($$select prospectpro.set_cost_threshold('daily_spend', 1, -1)$$, 'negative campaign_id'),
    ($$select prospectpro.set_cost_threshold('daily_spend', 1, 123456789)$$, 'unknown campaign_id'),
    ($$select prospectpro.set_cost_threshold('rate_limit', 1.5)$$, 'a fractional rate limit'),
    (
        $$select prospectpro.set_cost_threshold('rate_limit', 10, 7001)$$,
        'a rate limit per campaign'
    ),
    ($$select prospectpro.set_api_rate_limit(null, 10)$$, 'null api_name'),
    ($$select prospectpro.set_api_rate_limit('Hunter IO', 10)$$, 'an api_name of bad shape'),
    ($$select prospectpro.set_api_rate_limit(repeat('a', 65), 10)$$, 'a 65-character api_name'),
    ($$select prospectpro.set_api_rate_limit('hunter', -1)$$, 'negative limit'),
    ($$select prospectpro.set_api_rate_limit('hunter', 0)$$, 'zero limit')
) as t (statement, what);

-- configure_anomaly_detection
select pg_temp.refused(t.statement, t.what) from (
    values
    ($$select prospectpro.configure_anomaly_detection('crystal_ball')$$, 'unknown detector'),
    ($$select prospectpro.configure_anomaly_detection(null, -1)$$, 'negative windows'),
    ($$select prospectpro.configure_anomaly_detection(null, 0)$$, 'zero windows'),
    ($$select prospectpro.configure_anomaly_detection(null, 100000)$$, 'oversize windows')
) as t (statement, what);

-- acknowledge_alert and resolve_alert
select pg_temp.refused(t.statement, t.what) from (
    values
    ($$select prospectpro.acknowledge_alert(null)$$, 'null alert_id'),
    ($$select prospectpro.acknowledge_alert(-1)$$, 'negative alert_id'),
    ($$select prospectpro.acknowledge_alert(123456789, 'seen')$$, 'unknown alert_id'),
    ($$select prospectpro.acknowledge_alert(7001, 'seen')$$, 'a resolved alert'),
    ($$select prospectpro.resolve_alert(null)$$, 'null alert_id'),
    ($$select prospectpro.resolve_alert(123456789, 'done')$$, 'unknown alert_id'),
    ($$select prospectpro.resolve_alert(7001, 'again')$$, 'an alert already resolved')
) as t (statement, what);

-- The helper itself: good input is accepted (then undone), so the verdicts
-- above are the functions', not the helper's.
select is(
    pg_temp.verdict($$select prospectpro.set_cost_threshold('daily_spend', 75)$$),
    'accepted and changed data', 'verdict: a valid call is accepted'
);
select is(
    pg_temp.verdict($$select prospectpro.redeliver('cost_alert')$$),
    'accepted and changed nothing', 'verdict: a call with nothing to do changes nothing'
);
select is(
    (select snapshot from start_state), pg_temp.snapshot(),
    'after all of the above, every table is as it was'
);

select * from finish();
rollback;
