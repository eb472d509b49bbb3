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
