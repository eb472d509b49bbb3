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

create or replace view prospectpro.webhook_success_rates as
select
    webhook_type,
    count(*) as total_webhooks,
    count(*) filter (where status = 'success') as successful,
    round(
        count(*) filter (where status = 'success')::decimal / count(*) * 100, 2
    ) as success_rate
from prospectpro.delivery_attempts
group by webhook_type;
comment on view prospectpro.webhook_success_rates is
'Delivery attempts and the share that succeeded, per webhook type.';

create or replace view prospectpro.delivery_queue as
select
    t.webhook_type::text as webhook_type,
    count(o.id) filter (where o.status = 'pending') as pending,
    count(o.id) filter (
        where o.status = 'pending' and o.next_attempt_at <= now()
    ) as due,
    count(o.id) filter (where o.status = 'dead') as dead,
    coalesce(extract(epoch from now() - min(o.next_attempt_at) filter (
        where o.status = 'pending' and o.next_attempt_at <= now()
    )), 0)::double precision as oldest_due_seconds
from prospectpro.webhook_types as t
left join prospectpro.outbox as o
    on t.webhook_type = o.webhook_type and o.status <> 'delivered'
group by t.webhook_type;
comment on view prospectpro.delivery_queue is
'Per webhook type: events waiting (pending), due now, dead, and how long the oldest due one has waited.';

create or replace view prospectpro.delivery_latency as
select
    a.webhook_type,
    b.le,
    count(a.id) filter (where a.latency_ms <= b.le * 1000) as attempts,
    sum(a.latency_ms) / 1000 as sum_seconds,
    count(a.id) as count
from prospectpro.delivery_attempts as a
cross join
    unnest(
        array[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]::double precision[]
    ) as b (le)
group by a.webhook_type, b.le;
comment on view prospectpro.delivery_latency is
'Cumulative histogram of delivery attempt latency (seconds, Prometheus buckets) per webhook type.';

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
