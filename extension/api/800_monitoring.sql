-- Monitoring views that operators query directly.

create or replace view prospectpro.webhook_logs as
select
    a.id,
    a.event_id,
    a.webhook_id,
    a.webhook_type,
    a.attempt,
    a.status,
    a.http_status,
    a.error,
    a.latency_ms,
    a.response_excerpt,
    a.created_at
from prospectpro.delivery_attempts as a;
comment on view prospectpro.webhook_logs is
'Every delivery attempt: status is success (a 2xx answer) or failed.';

-- The upper bounds (seconds) of the delivery latency histogram's buckets:
-- delivery_counters.latency_buckets has one element per bound, then +Inf.
create or replace function prospectpro.latency_buckets()
returns double precision[]
language sql
immutable parallel safe
set search_path = pg_catalog, pg_temp
as $$
    select '{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}'::double precision []
$$;
comment on function prospectpro.latency_buckets() is
'The upper bounds, in seconds, of the delivery latency histogram (Prometheus'' default buckets).';

-- The totals the delivery rounds count (delivery_counters), whatever
-- retention has dropped. The debug query over webhook_logs gives the same
-- figures for the attempts retention still keeps.
create or replace view prospectpro.webhook_success_rates as
select
    c.webhook_type,
    sum(c.succeeded + c.failed)::bigint as total_webhooks,
    sum(c.succeeded)::bigint as successful,
    round(
        sum(c.succeeded)::decimal / nullif(sum(c.succeeded + c.failed), 0) * 100, 2
    ) as success_rate
from prospectpro.delivery_counters as c
group by c.webhook_type;
comment on view prospectpro.webhook_success_rates is
'Delivery attempts and the share that succeeded, per webhook type, over all time (since '
'install or the upgrade to 1.2): read from counters that retention never lowers. For the '
'retained attempts only, run the success-rate query over webhook_logs.';

create or replace view prospectpro.delivery_queue as
-- Pending and dead events only, each set read once through its partial
-- indexes: the cost follows the backlog, not the history.
with pending as (
    select
        o.webhook_type,
        count(*) as pending,
        count(*) filter (where o.next_attempt_at <= now()) as due,
        min(o.next_attempt_at) filter (where o.next_attempt_at <= now()) as oldest_due
    from prospectpro.outbox as o
    where o.status = 'pending'
    group by o.webhook_type
),

dead as (
    select
        o.webhook_type,
        count(*) as dead
    from prospectpro.outbox as o
    where o.status = 'dead'
    group by o.webhook_type
)

select
    t.webhook_type::text as webhook_type,
    coalesce(p.pending, 0) as pending,
    coalesce(p.due, 0) as due,
    coalesce(d.dead, 0) as dead,
    coalesce(extract(epoch from now() - p.oldest_due), 0)::double precision
        as oldest_due_seconds
from prospectpro.webhook_types as t
left join pending as p on t.webhook_type = p.webhook_type
left join dead as d on t.webhook_type = d.webhook_type;
comment on view prospectpro.delivery_queue is
'Per webhook type: events waiting (pending), due now, dead, and how long the oldest due one '
'has waited. Reads pending and dead events only.';

create or replace view prospectpro.delivery_latency as
with per_bucket as (
    select
        c.webhook_type,
        b.n,
        sum(b.attempts) as attempts
    from prospectpro.delivery_counters as c
    cross join lateral unnest(c.latency_buckets) with ordinality as b (attempts, n)
    group by c.webhook_type, b.n
),

totals as (
    select
        c.webhook_type,
        sum(c.latency_seconds_sum) as sum_seconds,
        sum(c.succeeded + c.failed)::bigint as count
    from prospectpro.delivery_counters as c
    group by c.webhook_type
)

select
    p.webhook_type,
    l.le,
    (sum(p.attempts) over (partition by p.webhook_type order by p.n))::bigint as attempts,
    t.sum_seconds,
    t.count
from per_bucket as p
inner join unnest(prospectpro.latency_buckets()) with ordinality as l (le, n) on p.n = l.n
inner join totals as t on p.webhook_type = t.webhook_type;
comment on view prospectpro.delivery_latency is
'Cumulative histogram of delivery attempt latency (seconds, Prometheus buckets: attempts at or '
'under le) per webhook type, with the sum and count of all attempts, over all time: read from '
'counters that retention never lowers.';

-- Owned by the extension, so readers see each endpoint's state without being
-- able to read its secrets.
create or replace view prospectpro.endpoint_status as
select
    h.webhook_type,
    case
        when e.url is not null then prospectpro.endpoint_url_problem(e.url) is null
        else prospectpro.endpoint_setting_url(h.webhook_type) is not null
    end as configured,
    coalesce(e.enabled, true) as enabled,
    coalesce(e.token, nullif(current_setting('app.webhook_token', true), ''))
    is not null as token_configured,
    h.state as breaker_state,
    h.consecutive_failures,
    h.next_probe_at,
    h.reason,
    h.updated_at,
    h.opened_at,
    -- Why the type counts as unconfigured though it has a URL: a fallback's
    -- is never checked before, and an endpoint's may predate the checks of
    -- configure_endpoint (1.0 admitted userinfo and fragments).
    case
        when e.url is not null
            then 'endpoints.url: ' || prospectpro.endpoint_url_problem(e.url)
        else
            'app.' || h.webhook_type || '_webhook_url: ' || prospectpro.endpoint_url_problem(
                nullif(current_setting('app.' || h.webhook_type || '_webhook_url', true), '')
            )
    end as config_error
from prospectpro.endpoint_health as h
left join prospectpro.endpoints as e on h.webhook_type = e.webhook_type;
comment on view prospectpro.endpoint_status is
'Each endpoint without its secrets: configured (with a valid URL; config_error says why not), enabled, and its circuit breaker (closed, open, disabled).';
