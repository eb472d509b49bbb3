-- The outbox: events exist only if their transaction commits, one per row,
-- and every public function rejects bad arguments with a HINT.
begin;
select plan(13);

select is(
    (select count(*)::integer from prospectpro.outbox), 0, 'the outbox starts empty'
);

create function pg_temp.emit_then_fail() returns void
language plpgsql as $$
begin
    perform prospectpro._emit('lead_enrichment', '{"n": 1}');
    raise exception 'the statement fails after emitting';
end
$$;
select throws_ok(
    'select pg_temp.emit_then_fail()', 'P0001', null, 'the emitting statement fails'
);
select is(
    (select count(*)::integer from prospectpro.outbox), 0,
    'an event emitted in a rolled-back (sub)transaction never existed'
);

select prospectpro._emit('cost_alert', jsonb_build_object('n', n))
from generate_series(1, 1000) as n;
select is(
    (select count(*)::integer from prospectpro.outbox where webhook_type = 'cost_alert'),
    1000, 'a 1000-row statement queues 1000 events'
);
select is(
    (select count(distinct webhook_id)::integer from prospectpro.outbox),
    1000, 'every event has its own webhook-id'
);
select is(
    (select array_agg(distinct status) from prospectpro.outbox),
    array['pending'], 'new events are pending'
);
select throws_ok(
    $$select prospectpro._emit('sms', '{}')$$,
    '23514', null, 'an unknown webhook type is rejected'
);

select isnt(
    hint_of($$select prospectpro.configure_endpoint('sms', 'http://x')$$),
    null, 'configure_endpoint: unknown type gives a hint'
);
select isnt(
    hint_of(
        $$select prospectpro.configure_endpoint('cost_alert', 'ftp://example.com')$$
    ),
    null, 'configure_endpoint: a non-HTTP URL gives a hint'
);
select isnt(
    hint_of(
        $$select prospectpro.configure_endpoint('cost_alert', 'http://x', timeout_ms => 5)$$
    ),
    null, 'configure_endpoint: an out-of-range timeout gives a hint'
);
select isnt(
    hint_of($$select prospectpro.redeliver(123456789)$$),
    null, 'redeliver: an unknown event gives a hint'
);
select isnt(
    hint_of($$select prospectpro.redeliver('nonsense')$$),
    null, 'redeliver: an unknown type gives a hint'
);
select isnt(
    hint_of($$select prospectpro.deliver_due(0)$$),
    null, 'deliver_due: a zero batch gives a hint'
);

select * from finish();
rollback;
