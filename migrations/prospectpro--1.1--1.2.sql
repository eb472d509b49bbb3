-- ProspectPro 1.1 -> 1.2: the schema changes of release 1.2, each under the
-- heading of what it is for. Functions, triggers, views and grants follow from
-- extension/api/ (see README.md in this folder).

-- Issue 21: a cost alert's time_period names the kind of window its rule
-- judges (daily, minute, hourly), and alert_metadata.period_start and
-- period_end bound the window itself. 1.1 put the window in time_period (a
-- date, or an hour or minute). Rewrite the payloads it stored: every alert's,
-- and its event's while not yet delivered (pending or dead: what a delivery or
-- a redelivery will send). Delivered events stay as they were sent.
with kinds (alert_type, time_period, span) as (
    values
    ('daily_spend', 'daily', interval '1 day'),
    ('cost_per_lead', 'daily', interval '1 day'),
    ('rate_limit', 'minute', interval '1 minute'),
    ('spending_anomaly', 'hourly', interval '1 hour')
)

update prospectpro.cost_alerts as a
set
    payload = a.payload || pg_catalog.jsonb_build_object(
        'time_period', k.time_period,
        'alert_metadata', (a.payload -> 'alert_metadata') || pg_catalog.jsonb_build_object(
            -- In UTC before subtracting: a day is 24 hours whatever the session's TimeZone.
            'period_start', pg_catalog.to_char(
                (a.period_end at time zone 'UTC') - k.span, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'
            ),
            'period_end', pg_catalog.to_char(
                a.period_end at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'
            )
        )
    )
from kinds as k
where a.alert_type = k.alert_type and a.payload is not null;

update prospectpro.outbox as o
set payload = a.payload
from prospectpro.cost_alerts as a
where o.id = a.event_id and o.webhook_type = 'cost_alert' and o.status <> 'delivered';

-- Issue 21: what a role is granted is public API, so the functions granted to
-- roles lose their leading underscore (extension/api/ creates them under their
-- new names): _round_costs -> delivery_round_costs, _delivery_deadline ->
-- delivery_deadline, _delivery_pause -> delivery_pause, _url_problem ->
-- endpoint_url_problem, _setting_url -> endpoint_setting_url, _campaign_spend
-- -> campaign_spend, _campaign_leads -> campaign_lead_total. The views that
-- call the old ones go first; extension/api/ re-creates them too. (If exists:
-- on the way from 1.0, some of them never existed.)
drop view if exists prospectpro.campaign_lifecycle_dashboard;
drop view if exists prospectpro.endpoint_status;
drop function if exists prospectpro._round_costs();
drop function if exists prospectpro._delivery_deadline(double precision);
drop function if exists prospectpro._delivery_pause(timestamptz, integer, integer);
drop function if exists prospectpro._setting_url(text);
drop function if exists prospectpro._url_problem(text);
drop function if exists prospectpro._campaign_spend(bigint);
drop function if exists prospectpro._campaign_leads(bigint);
