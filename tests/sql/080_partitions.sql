-- History partitions: partitions are made ahead, an insert lands whatever its
-- date, retention drops only expired partitions and keeps pending and dead
-- events with their attempts, idempotency holds across partitions, counters
-- never go down, and bad arguments raise with a HINT and change nothing.
-- (prune() commits, so it runs in tests/python/test_retention.py; here its
-- steps run one by one.)
begin;
select plan(25);

-- Made ahead.
select is(
    (select count(*)::integer from prospectpro.history_partitions where not is_default), 0,
    'a fresh install has only the default partitions (range partitions are not extension members)'
);
select prospectpro._emit('cost_alert', '{"n": "early"}');
select is(
    (select tableoid::regclass::text from prospectpro.outbox),
    'prospectpro.outbox_default', 'an event written before any range partition lands in the default'
);
select is(
    prospectpro.maintain_partitions(), 4 + 4 + 3,
    'maintain_partitions makes the current day and 3 ahead, for each table...'
);
select is(
    (
        select min(lower_bound) from prospectpro.history_partitions
        where table_name = 'outbox' and not is_default
    ),
    date_bin('1 day', now(), '2000-01-01 00:00+00') + interval '1 day',
    '... but the outbox''s current day, of which the default partition holds a row, is skipped'
);
select results_eq(
    $$select p.table_name,
          bool_or(p.lower_bound <= now() + interval '1 day'
              and now() + interval '1 day' < p.upper_bound),
          max(p.upper_bound) >= now() + interval '3 days'
      from prospectpro.history_partitions as p
      group by p.table_name order by 1$$,
    $$values ('applied_deliveries', true, true), ('delivery_attempts', true, true),
      ('outbox', true, true)$$,
    'each table has partitions to 3 days ahead'
);
select is(prospectpro.maintain_partitions(), 0, 'run again, it makes none');
select cmp_ok(
    prospectpro.configure_partitions(interval '12 hours', 10), '>', 0,
    'configure_partitions makes what the new settings call for'
);
select results_eq(
    $$select bool_and(lower_bound = previous_upper),
          max(upper_bound) >= now() + interval '5 days',
          array_agg(distinct upper_bound - lower_bound order by upper_bound - lower_bound)
      from (
          select lower_bound, upper_bound,
              lag(upper_bound) over (order by lower_bound) as previous_upper
          from prospectpro.history_partitions
          where table_name = 'delivery_attempts' and not is_default
      ) as p$$,
    $$values (true, true, array[interval '12 hours', interval '1 day'])$$,
    '... continuing after the last partition, without gap, in partitions of the new width'
);

-- Lands whatever the date.
insert into prospectpro.outbox (webhook_type, payload, created_at) values
('cost_alert', '{"n": "past"}', '1990-01-01'),
('cost_alert', '{"n": "future"}', '2200-01-01'),
('cost_alert', '{"n": "tomorrow"}', now() + interval '1 day');
select results_eq(
    $$select payload ->> 'n', tableoid::regclass::text from prospectpro.outbox
      where payload ->> 'n' <> 'early' order by id$$,
    $$values ('past', 'prospectpro.outbox_default'), ('future', 'prospectpro.outbox_default'),
      ('tomorrow', 'prospectpro.outbox_' || to_char(
          date_bin('1 day', now(), '2000-01-01 00:00+00') at time zone 'UTC' + interval '1 day',
          'YYYYMMDD_HH24MI'
      ))$$,
    'an insert lands whatever its date: past and far future in the default partition'
);

-- Retention. Two old days, as partitions made back then would hold them.
delete from prospectpro.outbox;
create table prospectpro.outbox_20200101_0000 partition of prospectpro.outbox
for values from ('2020-01-01 00:00+00') to ('2020-01-02 00:00+00');
create table prospectpro.outbox_20200102_0000 partition of prospectpro.outbox
for values from ('2020-01-02 00:00+00') to ('2020-01-03 00:00+00');
create table prospectpro.delivery_attempts_20200101_0000 partition of prospectpro.delivery_attempts
for values from ('2020-01-01 00:00+00') to ('2020-01-02 00:00+00');
insert into prospectpro.outbox (id, webhook_type, payload, status, created_at) values
(1, 'cost_alert', '{}', 'delivered', '2020-01-01 10:00+00'),
(2, 'cost_alert', '{}', 'dead', '2020-01-01 11:00+00'),
(3, 'cost_alert', '{}', 'pending', '2020-01-01 12:00+00'),
(4, 'cost_alert', '{}', 'delivered', '2020-01-02 10:00+00');
insert into prospectpro.delivery_attempts (
    event_id, webhook_id, webhook_type, attempt, status, latency_ms, created_at
)
select
    o.id,
    o.webhook_id,
    o.webhook_type,
    1 as attempt,
    'failed' as status,
    5 as latency_ms,
    o.created_at + interval '1 minute' as created_at
from prospectpro.outbox as o where o.id <= 3;
insert into prospectpro.delivery_counters (
    webhook_type, slot, succeeded, failed, latency_seconds_sum, latency_buckets
) values ('cost_alert', 0, 2, 3, 0.5, '{1,1,1,0,0,0,0,0,0,0,0,3}');

select is(
    prospectpro.expired_partitions('2020-01-02 12:00+00'),
    array['outbox_20200101_0000', 'delivery_attempts_20200101_0000'],
    'expired: the partitions whose range ended before the cutoff, the outbox first'
);
select ok(
    prospectpro.drop_expired_partition('outbox_20200101_0000', '2020-01-02 12:00+00'),
    'the expired outbox partition is dropped'
);
select ok(
    prospectpro.drop_expired_partition('delivery_attempts_20200101_0000', '2020-01-02 12:00+00'),
    '... and the attempt log''s'
);
select hasnt_table('prospectpro', 'outbox_20200101_0000', 'the partition is gone');
select has_table('prospectpro', 'outbox_20200102_0000', 'the one not yet expired stays');
select results_eq(
    $$select id, status, created_at, tableoid::regclass::text from prospectpro.outbox
      order by id$$,
    $$values (2::bigint, 'dead', '2020-01-01 11:00+00'::timestamptz, 'prospectpro.outbox_default'),
      (3, 'pending', '2020-01-01 12:00+00', 'prospectpro.outbox_default'),
      (4, 'delivered', '2020-01-02 10:00+00', 'prospectpro.outbox_20200102_0000')$$,
    'the dead and the pending event outlive their partition, ids and times kept'
);
select results_eq(
    $$select event_id from prospectpro.delivery_attempts order by event_id$$,
    $$values (2::bigint), (3)$$,
    '... and so do their attempts; the delivered event''s attempt went with its partition'
);
select results_eq(
    $$select total_webhooks, successful from prospectpro.webhook_success_rates
      where webhook_type = 'cost_alert'$$,
    $$values (5::bigint, 2::bigint)$$,
    'dropping history leaves the counters as they were'
);
select results_eq(
    $$select le, attempts from prospectpro.delivery_latency
      where webhook_type = 'cost_alert' and le <= 0.025 order by le$$,
    $$values (0.005::float8, 1::bigint), (0.01, 2), (0.025, 3)$$,
    'the latency histogram reads cumulative from the counters'
);

-- Idempotency across partitions: a webhook-id recorded in an older
-- partition is still a duplicate.
insert into prospectpro.campaigns (id, name) values (8801, 'Partitions');
insert into prospectpro.enhanced_leads (id, campaign_id, business_name)
values (880100, 8801, 'Old Record Cafe');
insert into prospectpro.applied_deliveries (webhook_id, lead_id, stage, applied, applied_at)
values ('b0000000-0000-0000-0000-000000000001', 880100, 'stage1', true, '1990-01-01');
select is(
    prospectpro.apply_enrichment(
        'b0000000-0000-0000-0000-000000000001', 880100, 'stage1', '{}'
    ) ->> 'reason',
    'duplicate delivery', 'a webhook-id applied in another partition is a duplicate'
);

-- Bad arguments.
select throws_ok(
    $$select prospectpro.configure_partitions(null, 3)$$, '22023', null,
    'configure_partitions: a null interval is refused'
);
select isnt(
    hint_of($$select prospectpro.configure_partitions(interval '1 day', 0)$$), null,
    '... zero partitions ahead is refused with a HINT'
);
select throws_ok(
    $$select prospectpro.configure_partitions(interval '1 month', 3)$$, '22023', null,
    '... an interval of months is refused'
);
select results_eq(
    $$select partition_interval, partitions_ahead from prospectpro.partition_settings$$,
    $$values (interval '12 hours', 10)$$,
    '... and the settings are as they were'
);
select throws_ok(
    $$select prospectpro.drop_expired_partition('outbox_20200102_0000', '2020-01-02 12:00+00')$$,
    '22023', null, 'drop_expired_partition refuses a partition not yet expired'
);
select throws_ok(
    $$select prospectpro.drop_expired_partition('outbox_default', 'infinity')$$,
    '22023', null, '... and the default partition'
);

select * from finish();
rollback;
