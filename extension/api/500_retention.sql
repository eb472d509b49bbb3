-- Retention: delivered events and their attempt logs, idempotency records and
-- fine-grained cost windows are deleted past a retention period, in small
-- batches that commit one by one. Dead events stay until redelivered or
-- discarded.

-- prune commits, which rules out a SET search_path clause: its body calls only
-- schema-qualified functions and holds no operator, so the caller's
-- search_path has nothing to resolve. The work is in these three.
create or replace function prospectpro._retention_cutoff(
    older_than interval, batch_size integer
) returns timestamptz
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
    if older_than is null or older_than < interval '0' or batch_size is null
        or batch_size not between 1 and 100000 then
        raise exception 'invalid retention: older_than %, batch_size %', older_than, batch_size
        using errcode = 'invalid_parameter_value',
        hint = 'Call prospectpro.prune(interval ''7 days'') or pass a batch_size of 1 to 100000.';
    end if;
    return now() - older_than;
end
$$;

create or replace function prospectpro._prune_batch(
    cutoff timestamptz, batch_size integer
) returns boolean
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
    -- SKIP LOCKED: a batch never waits on (nor blocks) a delivery round.
    with events as (
        delete from prospectpro.outbox as o
        where o.id in (
            select d.id from prospectpro.outbox as d
            where d.status = 'delivered' and d.delivered_at < cutoff
            order by d.delivered_at limit batch_size
            for update skip locked
        )
        returning 1
    ),

    records as (
        delete from prospectpro.applied_deliveries as a
        where a.webhook_id in (
            select d.webhook_id from prospectpro.applied_deliveries as d
            where d.applied_at < cutoff limit batch_size
        )
        returning 1
    )

    select
        (select count(*) from events) = batch_size
        or (select count(*) from records) = batch_size
$$;
comment on function prospectpro._prune_batch(timestamptz, integer) is
'Internal: delete one batch of delivered events (their attempt logs cascade) and one of '
'idempotency records older than cutoff; true while a batch was full (more may remain).';

create or replace function prospectpro._prune_cost_windows(cutoff timestamptz)
returns void
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
    -- Minute windows serve the rate rule only; hours feed a day of anomaly history.
    delete from prospectpro.cost_window_slots as w
    where
        (w.kind = 'minute' and w.window_start < now() - interval '1 hour')
        or (w.kind = 'hour' and w.window_start < least(cutoff, now() - interval '2 days'));
    select prospectpro.resolve_expired_alerts();
$$;

create or replace procedure prospectpro.prune(
    older_than interval default '7 days',
    batch_size integer default 1000
)
language plpgsql
as $$
declare
    cutoff timestamptz := prospectpro._retention_cutoff(older_than, batch_size);
    more boolean;
begin
    perform prospectpro._require_primary('prune');
    loop
        more := prospectpro._prune_batch(cutoff, batch_size);
        commit;
        exit when not more;
    end loop;
    perform prospectpro._prune_cost_windows(cutoff);
end
$$;
comment on procedure prospectpro.prune(interval, integer) is  -- noqa: LT01
'Delete delivered events (with their attempt logs) and idempotency records older than older_than, in committed batches that never block delivery; also old minute and hour cost windows. Dead events are kept.';

create or replace function prospectpro.discard(event_id bigint)
returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform prospectpro._require_primary('discard');
    delete from prospectpro.outbox as o
    where o.id = discard.event_id and o.status = 'dead';
    if not found then
        raise exception 'event % is not a dead event', coalesce(event_id::text, 'NULL')
        using errcode = 'invalid_parameter_value',
        hint = 'Only dead events are discarded; see status in prospectpro.outbox.';
    end if;
end
$$;
comment on function prospectpro.discard(bigint) is
'Delete a dead event and its attempt log, when it will never be redelivered.';

create or replace function prospectpro.schedule_maintenance(
    retention interval default '7 days',
    schedule text default '*/10 * * * *'
) returns bigint
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    if retention is null or retention < interval '0' then
        raise exception 'retention must be a positive interval, got %',
            coalesce(retention::text, 'NULL')
        using errcode = 'invalid_parameter_value',
        hint = 'Pass e.g. interval ''7 days''.';
    end if;
    return prospectpro._cron_schedule(
        'prospectpro-maintenance', schedule, format('call prospectpro.prune(%L)', retention),
        'call prospectpro.prune() from a scheduler of your own every few minutes'
    );
end
$$;
comment on function prospectpro.schedule_maintenance(interval, text) is
'Install (or replace) the pg_cron job "prospectpro-maintenance" that runs prospectpro.prune(retention).';
