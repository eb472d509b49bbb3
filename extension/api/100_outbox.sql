-- The outbox's API: emit events, configure endpoints, run delivery rounds,
-- redeliver dead events. Private helpers start with an underscore.

create or replace function prospectpro._emit(
    webhook_type prospectpro.webhook_type,
    payload jsonb,
    ordering_key text default null
) returns bigint
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
    insert into prospectpro.outbox (webhook_type, payload, ordering_key)
    values (webhook_type, payload, ordering_key)
    returning id
$$;
comment on function prospectpro._emit(prospectpro.webhook_type, jsonb, text) is
'Internal: queue one event in the caller''s transaction; returns its outbox id.';

create or replace function prospectpro._webhook_type_list() returns text
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
    select string_agg(t.webhook_type, ', ' order by t.webhook_type)
    from prospectpro.webhook_types as t
$$;
comment on function prospectpro._webhook_type_list() is
'Internal: the webhook types, comma-separated, for error hints.';

-- Wake a sleeping worker. A worker arms the wakeup before it sleeps and
-- disarms it once awake; writers only read the flag, so none waits on
-- another for it. Only transactions that queue events while a worker sleeps
-- send a NOTIFY (which serialises commits); under steady load the workers do
-- not sleep, and writers send none. The flag is read at commit (a deferred
-- trigger), not when the event is queued: a transaction that queues an event
-- while a worker is awake and commits after it went to sleep still wakes it.
-- Security definer: at commit it runs as the session's user, whom the
-- writer role does not let read the flag.
create or replace function prospectpro._notify_outbox() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    if exists (select from prospectpro.delivery_wakeup where armed) then
        perform pg_notify('prospectpro_outbox', '');
    end if;
    return null;
end
$$;

create or replace function prospectpro.arm_wakeup() returns void
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
    update prospectpro.delivery_wakeup set armed = true where not armed
$$;
comment on function prospectpro.arm_wakeup() is
'Called by a worker about to sleep: transactions that queue events will NOTIFY until a worker disarms it.';

create or replace function prospectpro.disarm_wakeup() returns void
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
    update prospectpro.delivery_wakeup set armed = false where armed
$$;
comment on function prospectpro.disarm_wakeup() is
'Called by a worker once awake: transactions that queue events stop sending NOTIFYs.';

-- A constraint trigger (the only kind that can wait for the commit) is per
-- row: its WHEN, evaluated as each row is inserted, queues it for the first
-- row of a transaction only (a rolled-back savepoint forgets both), so a bulk
-- insert pays a setting's read per row, not a call at commit. (Inline: a
-- function with its own search_path cost a single-row transaction 30 us.)
-- CREATE OR REPLACE cannot replace a constraint trigger (1.1's was per statement).
drop trigger if exists _900_notify_outbox on prospectpro.outbox;
create constraint trigger _900_notify_outbox
after insert on prospectpro.outbox
deferrable initially deferred
for each row
when (
    pg_catalog.current_setting('prospectpro.wakeup_queued', true) is distinct from 'yes'
    and pg_catalog.set_config('prospectpro.wakeup_queued', 'yes', true) = 'yes'
)
execute function prospectpro._notify_outbox();

create or replace function prospectpro.endpoint_url_problem(url text)
returns text
language plpython3u
immutable strict parallel safe
set search_path = pg_catalog, pg_temp
as $python$
#PROSPECTPRO_IMPORT
from prospectpro_pl import urls
return urls.problem(url)
$python$;
comment on function prospectpro.endpoint_url_problem(text) is
'Why a URL cannot be an endpoint''s (scheme, host, port, form, userinfo), or null when it can; '
'endpoint_status reports it.';

create or replace function prospectpro._ca_file_problem(ca_file text)
returns text
language plpython3u
strict
set search_path = pg_catalog, pg_temp
as $python$
#PROSPECTPRO_IMPORT
from prospectpro_pl import delivery_transport
return delivery_transport.ca_file_problem(ca_file)
$python$;
comment on function prospectpro._ca_file_problem(text) is
'Internal: why the server cannot load a PEM file of trusted CAs, or null when it can.';

-- The app.<type>_webhook_url fallback, when it is a URL an endpoint may have.
create or replace function prospectpro.endpoint_setting_url(webhook_type text)
returns text
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
    select u.url
    from (
        select nullif(current_setting('app.' || webhook_type || '_webhook_url', true), '') as url
    ) as u
    where prospectpro.endpoint_url_problem(u.url) is null
$$;
comment on function prospectpro.endpoint_setting_url(text) is
'The database setting app.<webhook_type>_webhook_url, the fallback when prospectpro.endpoints '
'has no row for the type, if it is a URL an endpoint may have; else null.';

create or replace function prospectpro._endpoint_config()
returns table (
    webhook_type text,
    url text,
    token text,
    signing_secret text,
    retry_schedule double precision[],
    jitter double precision,
    timeout_ms integer,
    max_connections integer,
    breaker_threshold integer,
    probe_interval double precision,
    breaker_state text,
    probe_due boolean,
    next_probe_at timestamptz,
    ca_file text
)
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
-- PL/pgSQL keeps the query's plan for the session; a SQL function's body is
-- planned again at every call (every delivery round calls this).
begin
    -- The endpoints table wins; the database settings are the fallback.
    -- An invalid URL leaves the type unconfigured, its events waiting: the
    -- fallback's is checked only here, and an endpoint's may predate the checks
    -- of configure_endpoint (1.0 admitted userinfo and fragments).
    return query select
        t.webhook_type::text,
        case
            when e.url is null then prospectpro.endpoint_setting_url(t.webhook_type)
            when prospectpro.endpoint_url_problem(e.url) is null then e.url
        end,
        coalesce(e.token, nullif(current_setting('app.webhook_token', true), '')),
        e.signing_secret,
        coalesce(e.retry_schedule, '{1,2,4,8,16}'),
        coalesce(e.jitter, 0.1),
        coalesce(e.timeout_ms, 10000),
        coalesce(e.max_connections, 16),
        coalesce(e.breaker_threshold, 10),
        coalesce(e.probe_interval, 30),
        h.state,
        h.state = 'open' and h.next_probe_at <= clock_timestamp(),
        h.next_probe_at,
        e.ca_file
    from prospectpro.webhook_types as t
    left join prospectpro.endpoints as e on t.webhook_type = e.webhook_type
    inner join prospectpro.endpoint_health as h on t.webhook_type = h.webhook_type
    where coalesce(e.enabled, true);
end
$$;
comment on function prospectpro._endpoint_config() is
'Internal: the effective, enabled delivery configuration of each webhook type, secrets and breaker state included.';

create or replace function prospectpro._record_endpoint_outcomes(
    webhook_types text[],
    successes integer[],
    failures integer[],
    gone boolean[],
    thresholds integer[],
    probe_intervals double precision[],
    last_errors text[]
) returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
-- PL/pgSQL, for a plan kept for the session (see _endpoint_config).
begin
    -- The common round: successes only, to closed breakers with no failures
    -- counted. Nothing changes, and this check costs a twentieth of the
    -- statement below finding no row to change.
    if not (true = any(gone) or 0 < any(failures)) and not exists (
        select from prospectpro.endpoint_health as h
        where
            h.webhook_type = any(webhook_types)
            and (h.state <> 'closed' or h.consecutive_failures <> 0)
    ) then
        return;
    end if;
    -- Row locks serialise concurrent rounds that change a breaker; each adds
    -- to the latest count.
    with outcome as (
        select
            h.webhook_type,
            case when o.ok > 0 then 0 else h.consecutive_failures + o.failed end as failures,
            case
                when o.gone or h.state = 'disabled' then 'disabled'
                when o.ok > 0 then 'closed'
                when h.state = 'open' or h.consecutive_failures + o.failed >= o.threshold
                    then 'open'
                else 'closed'
            end as state,
            case when h.state = 'open' then h.opened_at else clock_timestamp() end as opened_at,
            o.probe_interval,
            case
                when o.gone then 'HTTP 410 Gone: disabled until prospectpro.enable_endpoint()'
                when h.state = 'disabled' then h.reason
                when o.ok > 0 then null
                else o.last_error
            end as reason
        from prospectpro.endpoint_health as h
        inner join unnest(
            webhook_types, successes, failures, gone, thresholds, probe_intervals, last_errors
        ) as o (webhook_type, ok, failed, gone, threshold, probe_interval, last_error)
            on h.webhook_type = o.webhook_type
        -- Successes to a closed breaker with no failures counted change
        -- nothing: that row is neither locked nor written, so rounds of
        -- successes do not queue on it. Judged on the latest committed row
        -- (a failure counted since the round read its configuration is
        -- reset), and again on the newer row after waiting for its lock.
        where o.failed > 0 or o.gone or h.state <> 'closed' or h.consecutive_failures <> 0
        for update of h
    )

    update prospectpro.endpoint_health as h
    set
        consecutive_failures = n.failures,
        state = n.state,
        opened_at = case when n.state = 'open' then n.opened_at end,
        -- An open breaker probes after a fifteenth of the time it has been
        -- open, at least 1 s and at most probe_interval: an outage of T s is
        -- followed by a probe within max(1, T / 15) s of its end (2 s for
        -- T <= 30), and a dead endpoint soon costs one probe per probe_interval.
        next_probe_at = case when n.state = 'open' then clock_timestamp() + make_interval(
            secs => least(
                n.probe_interval,
                greatest(1, extract(epoch from clock_timestamp() - n.opened_at) / 15)
            )
        ) end,
        reason = n.reason,
        updated_at = clock_timestamp()
    from outcome as n
    where h.webhook_type = n.webhook_type;
end
$$;

create or replace function prospectpro.enable_endpoint(webhook_type text)
returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform prospectpro._require_primary('enable_endpoint');
    update prospectpro.endpoint_health as h
    set state = 'closed', consecutive_failures = 0, next_probe_at = null, reason = null,
        opened_at = null, updated_at = now()
    where h.webhook_type = enable_endpoint.webhook_type;
    if not found then
        raise exception 'unknown webhook type: %', coalesce(webhook_type, 'NULL')
        using errcode = 'invalid_parameter_value',
        hint = 'Use one of: ' || prospectpro._webhook_type_list() || '.';
    end if;
    perform pg_notify('prospectpro_outbox', '');
end
$$;
comment on function prospectpro.enable_endpoint(text) is
'Close the circuit breaker of an endpoint (after a 410 Gone disabled it, or to stop waiting for the next probe).';

create or replace function prospectpro.configure_endpoint(
    webhook_type text,
    url text,
    token text default null,
    signing_secret text default null,
    enabled boolean default true,
    retry_schedule double precision[] default '{1,2,4,8,16}',
    timeout_ms integer default 10000,
    jitter double precision default 0.1,
    max_connections integer default 16,
    breaker_threshold integer default 10,
    probe_interval double precision default 30,
    ca_file text default null
) returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    problem text := prospectpro.endpoint_url_problem(url);
begin
    perform prospectpro._require_primary('configure_endpoint');
    if problem is not null then
        raise exception 'invalid endpoint URL: %', problem
        using errcode = 'invalid_parameter_value',
        hint = 'An endpoint URL is http:// or https://, a host name (IDNA) or an IP '
        || 'address (IPv6 in brackets), an optional port from 1 to 65535, a path, '
        || 'no user:password@ (pass the secret as token) and no #fragment.';
    end if;
    problem := prospectpro._ca_file_problem(ca_file);
    if problem is not null then
        raise exception 'invalid ca_file: %', problem
        using errcode = 'invalid_parameter_value',
        hint = 'ca_file is the absolute path of a PEM file of CA certificates that the '
        || 'database server''s OS user can read; null trusts the system''s store.';
    end if;
    insert into prospectpro.endpoints as e (
        webhook_type, url, token, signing_secret, enabled, retry_schedule,
        timeout_ms, jitter, max_connections, breaker_threshold, probe_interval, ca_file
    ) values (
        webhook_type, url, token, signing_secret, enabled, retry_schedule,
        timeout_ms, jitter, max_connections, breaker_threshold, probe_interval, ca_file
    )
    on conflict on constraint endpoints_pkey do update set
        url = excluded.url,
        token = excluded.token,
        signing_secret = excluded.signing_secret,
        enabled = excluded.enabled,
        retry_schedule = excluded.retry_schedule,
        timeout_ms = excluded.timeout_ms,
        jitter = excluded.jitter,
        max_connections = excluded.max_connections,
        breaker_threshold = excluded.breaker_threshold,
        probe_interval = excluded.probe_interval,
        ca_file = excluded.ca_file,
        updated_at = now();
    -- A reconfigured endpoint starts with a closed breaker.
    perform prospectpro.enable_endpoint(webhook_type);
    -- Events of a newly configured type are due now.
    perform pg_notify('prospectpro_outbox', '');
exception when check_violation or not_null_violation then
    raise exception using
        errcode = sqlstate,
        message = 'invalid endpoint configuration: ' || sqlerrm,
        hint = 'webhook_type is one of ' || prospectpro._webhook_type_list() || '; '
        || 'url is http(s)://... of at most 2048 characters; token is 1 to 4096 visible '
        || 'ASCII characters; signing_secret is whsec_ and base64; '
        || 'retry_schedule is a list of 0 to 20 delays of 0 to 86400 s; '
        || 'timeout_ms is 100 to 60000; jitter is 0 to 1; max_connections is 1 to 256; '
        || 'breaker_threshold is 1 to 10000; probe_interval is 0.1 to 86400 s; '
        || 'ca_file is an absolute path.';
end
$$;
comment on function prospectpro.configure_endpoint(
    text, text, text, text, boolean, double precision[], integer, double precision, integer,
    integer, double precision, text
) is
'Set where a webhook type is delivered, its bearer token and optional Standard Webhooks signing secret (whsec_...), its retry schedule (seconds), timeout, connection limit, circuit breaker (consecutive failures that open it, seconds between probes), and the CAs trusted for https (ca_file, a PEM path; null: the system''s).';

create or replace function prospectpro._deliver_round(max_events integer)
returns integer
language plpython3u
security definer
set search_path = pg_catalog, pg_temp
-- A round's queries are small; compiling them costs more than it saves.
set jit = off
as $python$
#PROSPECTPRO_IMPORT
from prospectpro_pl import delivery
return delivery.deliver_due(plpy, max_events)
$python$;
comment on function prospectpro._deliver_round(integer) is
'Internal: the body of deliver_due, once it is known to run on the primary.';

-- PL/pgSQL around the PL/Python round, so that a standby's error carries no traceback.
create or replace function prospectpro.deliver_due(max_events integer default 100)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform prospectpro._require_primary('deliver_due');
    return prospectpro._deliver_round(max_events);
end
$$;
comment on function prospectpro.deliver_due(integer) is
'Run one delivery round: claim up to max_events due events, POST them concurrently, record every attempt and schedule retries. Returns the number of events attempted.';

create or replace function prospectpro.delivery_round_costs()
returns jsonb
language plpython3u
security definer
set search_path = pg_catalog, pg_temp
as $python$
#PROSPECTPRO_IMPORT
import json
from prospectpro_pl import delivery
return json.dumps(delivery.costs)
$python$;
comment on function prospectpro.delivery_round_costs() is
'What this session''s delivery rounds cost so far: rounds, events attempted, and the backend''s '
'CPU seconds per phase (pass, claim, sign, send, record). A worker logs it on exit.';

create or replace function prospectpro.next_due_in()
returns double precision
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
-- PL/pgSQL, for a plan kept for the session (see _endpoint_config).
begin
    -- An open breaker holds its events back until its next probe.
    -- (greatest() ignores nulls: with nothing waiting the answer must be null.)
    return (select case when due is not null then greatest(due, 0) end
    from (
        select extract(epoch from min(
            case when c.breaker_state = 'open'
                then greatest(o.next_attempt_at, c.next_probe_at)
                else o.next_attempt_at
            end
        ) - clock_timestamp())::double precision as due
        from prospectpro.outbox as o
        inner join prospectpro._endpoint_config() as c on o.webhook_type = c.webhook_type
        where
            o.status = 'pending'
            and c.url is not null
            and c.breaker_state <> 'disabled'
            -- An event held back by an earlier one of its ordering key is due
            -- when that one is done: the earlier one's time counts, not its own.
            and (o.ordering_key is null or not exists (
                select from prospectpro.outbox as earlier
                where
                    earlier.ordering_key = o.ordering_key
                    and earlier.status = 'pending' and earlier.id < o.id
            ))
    ) as next_event);
end
$$;
comment on function prospectpro.next_due_in() is
'Seconds until the next deliverable event falls due (0 if one is due now, null if none waits).';

-- run_delivery commits, which rules out a SET search_path clause and SECURITY
-- DEFINER: its body calls only schema-qualified functions and holds no
-- operator, so the caller's search_path has nothing to resolve. The arithmetic
-- is in these two; the first, the owner's, also refuses a standby (the worker
-- role may not call the internal check itself).
create or replace function prospectpro.delivery_deadline(max_seconds double precision)
returns timestamptz
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform prospectpro._require_primary('run_delivery');
    if max_seconds is null or max_seconds not between 0 and 86400 then
        raise exception 'max_seconds must be between 0 and 86400, got %',
            coalesce(max_seconds::text, 'NULL')
        using errcode = 'invalid_parameter_value',
        hint = 'Call prospectpro.run_delivery(55) to deliver for 55 seconds.';
    end if;
    return clock_timestamp() + make_interval(secs => max_seconds);
end
$$;
comment on function prospectpro.delivery_deadline(double precision) is
'A step of run_delivery: the moment max_seconds (0 to 86400) from now, when its rounds stop; '
'raises 25006 on a hot standby.';

create or replace function prospectpro.delivery_pause(
    deadline timestamptz, attempted integer, max_events integer
) returns boolean
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    if clock_timestamp() >= deadline then
        return false;
    end if;
    -- A round that took less than a full batch emptied the queue: poll. One
    -- that found nothing though an event is due (another round holds it) waits
    -- 10 ms at least, instead of spinning.
    if attempted < max_events then
        perform pg_sleep(
            least(coalesce(prospectpro.next_due_in(), 0.2), 0.2)
            + case when attempted = 0 then 0.01 else 0 end
        );
    end if;
    return true;
end
$$;
comment on function prospectpro.delivery_pause(timestamptz, integer, integer) is
'A step of run_delivery, between its rounds: false once the deadline has passed; after a round '
'that emptied the queue, waits until the next event is due (at most 0.2 s).';

create or replace procedure prospectpro.run_delivery(
    max_seconds double precision default 55,
    max_events integer default 100
)
language plpgsql
as $$
declare
    deadline timestamptz := prospectpro.delivery_deadline(max_seconds);
    attempted integer;
begin
    loop
        attempted := prospectpro.deliver_due(max_events);
        commit;
        exit when not prospectpro.delivery_pause(deadline, attempted, max_events);
    end loop;
end
$$;
comment on procedure prospectpro.run_delivery(double precision, integer) is  -- noqa: LT01
'Run delivery rounds for max_seconds, committing after each: the body of the pg_cron job.';

-- pg_cron is optional: the functions that schedule with it go through here.
create or replace function prospectpro._cron_schedule(
    job_name text, schedule text, command text, without_cron text
) returns bigint
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    if not exists (select from pg_extension where extname = 'pg_cron') then
        raise exception 'pg_cron is not installed in this database'
        using hint = 'Install pg_cron (add it to shared_preload_libraries, set '
        || 'cron.database_name to this database, restart, CREATE EXTENSION pg_cron), '
        || 'or ' || without_cron || '.';
    end if;
    if schedule is null then
        raise exception 'schedule is required'
        using errcode = 'invalid_parameter_value',
        hint = 'Pass a cron schedule such as ''* * * * *''.';
    end if;
    begin
        return cron.schedule(job_name, schedule, command);
    exception when invalid_parameter_value then
        raise exception using
            errcode = sqlstate, message = sqlerrm,
            hint = 'A schedule is five cron fields, e.g. ''*/10 * * * *''.';
    end;
end
$$;

create or replace function prospectpro.schedule_delivery(
    schedule text default '* * * * *'
) returns bigint
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    -- Each run delivers for 55 s, so a once-a-minute job keeps delivering
    -- continuously; scheduling again replaces the job of the same name.
    return prospectpro._cron_schedule(
        'prospectpro-delivery', schedule, 'call prospectpro.run_delivery(55)',
        'run the prospectpro worker command instead: it delivers without pg_cron'
    );
end
$$;
comment on function prospectpro.schedule_delivery(text) is
'Install (or replace) the pg_cron job "prospectpro-delivery" that runs delivery without a worker process.';

create or replace function prospectpro._redeliver(events bigint[])
returns integer
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
    with revived as (
        update prospectpro.outbox as o
        set status = 'pending', attempts = 0, next_attempt_at = clock_timestamp(),
            last_error = null
        where o.id = any(events) and o.status = 'dead'
        returning 1
    )
    select count(*)::integer
    from revived, lateral (select pg_notify('prospectpro_outbox', '')) as n
$$;

create or replace function prospectpro.redeliver(event_id bigint)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    current_status text;
begin
    perform prospectpro._require_primary('redeliver');
    select o.status into current_status
    from prospectpro.outbox as o where o.id = event_id;
    if current_status is distinct from 'dead' then
        raise exception 'event % is %', event_id,
            coalesce('not dead but ' || current_status, 'unknown')
        using errcode = 'invalid_parameter_value',
        hint = 'Only dead events are redelivered; see status in prospectpro.outbox.';
    end if;
    return prospectpro._redeliver(array[event_id]);
end
$$;
comment on function prospectpro.redeliver(bigint) is
'Put one dead event back in the queue, with a fresh set of attempts.';

create or replace function prospectpro.redeliver(
    webhook_type text,
    since timestamptz default '-infinity'
) returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform prospectpro._require_primary('redeliver');
    if not exists (
        select from prospectpro.webhook_types as t
        where t.webhook_type = redeliver.webhook_type
    ) then
        raise exception 'unknown webhook type: %', coalesce(webhook_type, 'NULL')
        using errcode = 'invalid_parameter_value',
        hint = 'Use one of: ' || prospectpro._webhook_type_list() || '.';
    end if;
    return prospectpro._redeliver(array(
        select o.id from prospectpro.outbox as o
        where o.status = 'dead' and o.webhook_type = redeliver.webhook_type
            and o.created_at >= coalesce(since, '-infinity')
    ));
end
$$;
comment on function prospectpro.redeliver(text, timestamptz) is
'Put every dead event of a webhook type created since a time back in the queue; returns how many.';
