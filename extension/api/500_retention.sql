-- Retention by partition: the outbox, the attempt log and the idempotency
-- records are partitioned by time (extension/schema/030_outbox.sql). Range
-- partitions are made ahead of need; retention drops whole partitions past
-- the retention period, after moving what must outlive them (pending and dead
-- events, and their attempts) into the default partition. Nothing is deleted
-- row by row but the few rows the default partition holds.

create or replace view prospectpro.history_partitions as
select
    t.table_name,
    c.relname::text as partition_name,
    b.bound = 'DEFAULT' as is_default,
    m.bounds[1]::timestamptz as lower_bound,
    m.bounds[2]::timestamptz as upper_bound,
    c.reltuples::bigint as estimated_rows,
    pg_catalog.pg_total_relation_size(c.oid) as total_bytes
from (values ('outbox'), ('delivery_attempts'), ('applied_deliveries')) as t (table_name)
inner join pg_catalog.pg_inherits as i
    on i.inhparent = pg_catalog.to_regclass('prospectpro.' || t.table_name)
inner join pg_catalog.pg_class as c on i.inhrelid = c.oid
cross join
    lateral (
        select pg_catalog.pg_get_expr(c.relpartbound, c.oid) as bound
    ) as b
left join lateral (
    -- FROM (MINVALUE) reads as a null lower bound: from the start of time.
    select pg_catalog.regexp_match(
        b.bound, '^FOR VALUES FROM \((?:MINVALUE|''([^'']*)'')\) TO \(''([^'']*)''\)$'
    ) as bounds
) as m on true;
comment on view prospectpro.history_partitions is
'The partitions of the outbox, the attempt log and the idempotency records: each range '
'partition''s bounds (lower_bound null: from the start of time), the default partition '
'(is_default: rows no range covers, and the pending and dead events of dropped partitions), '
'estimated rows and bytes on disk.';

-- The indexes of one partition, by the table it belongs to.
create or replace function prospectpro._index_partition(
    table_name text, partition_name text
) returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    if table_name in ('outbox', 'delivery_attempts') then
        execute format(
            'create unique index if not exists %I on prospectpro.%I (id)',
            partition_name || '_pkey', partition_name
        );
    end if;
    if table_name = 'outbox' then
        -- Matches the claim's order: a round reads its batch off the front of
        -- the index instead of sorting the whole backlog.
        execute format(
            'create index if not exists %I on prospectpro.%I (next_attempt_at, id) '
            'where status = ''pending''',
            partition_name || '_due', partition_name
        );
        execute format(
            'create index if not exists %I on prospectpro.%I (webhook_type, created_at) '
            'where status = ''dead''',
            partition_name || '_dead', partition_name
        );
        -- Events of one ordering key (one campaign) are delivered in order:
        -- the claim looks for an earlier pending one of the key.
        execute format(
            'create index if not exists %I on prospectpro.%I (ordering_key, id) '
            'where status = ''pending'' and ordering_key is not null',
            partition_name || '_ordering', partition_name
        );
    elsif table_name = 'delivery_attempts' then
        execute format(
            'create index if not exists %I on prospectpro.%I (event_id)',
            partition_name || '_event', partition_name
        );
        execute format(
            'create index if not exists %I on prospectpro.%I (created_at)',
            partition_name || '_created', partition_name
        );
    elsif table_name = 'applied_deliveries' then
        execute format(
            'create unique index if not exists %I on prospectpro.%I (webhook_id)',
            partition_name || '_pkey', partition_name
        );
    end if;
end
$$;
comment on function prospectpro._index_partition(text, text) is
'Internal: make the indexes a partition of the outbox, the attempt log or the idempotency '
'records has (if it lacks them).';

select prospectpro._index_partition(p.table_name, p.partition_name)
from prospectpro.history_partitions as p where p.is_default;

-- DDL on a partitioned table takes its exclusive lock, which waits for the
-- delivery rounds and writers using it and holds back those that come after.
-- Each try waits at most lock_timeout, then steps aside for them.
create or replace function prospectpro._lock_for_ddl(table_name text)
returns boolean
language plpgsql
set search_path = pg_catalog, pg_temp
set lock_timeout = '100ms'
as $$
begin
    for try in 1..10 loop
        begin
            execute format('lock table prospectpro.%I in access exclusive mode', table_name);
            return true;
        exception when lock_not_available then
            perform pg_sleep(0.05 * try);
        end;
    end loop;
    raise warning 'prospectpro: % stayed busy; its partitions are left for the next run',
        table_name;
    return false;
end
$$;
comment on function prospectpro._lock_for_ddl(text) is
'Internal: lock a partitioned table for partition DDL, waiting at most 100 ms a try so that '
'rounds and writers are never held back longer; false after 10 busy tries.';

create or replace function prospectpro.maintain_partitions()
returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
-- Every lock it waits for, not only the table's: a wait behind a round that
-- waits in turn for this session must end before it becomes a deadlock.
set lock_timeout = '100ms'
as $$
declare
    width interval;
    ahead integer;
    t record;
    lower_bound timestamptz;
    upper_bound timestamptz;
    partition_name text;
    made integer := 0;
begin
    perform prospectpro._require_primary('maintain_partitions');
    select coalesce(max(s.partition_interval), '1 day'), coalesce(max(s.partitions_ahead), 3)
    into width, ahead
    from prospectpro.partition_settings as s;
    -- Every partitioned table has its default partition, so each is listed;
    -- in the order the writers lock them (an enrichment result's records
    -- before its events, a round's events before its attempts), so that no
    -- wait here is the reverse of theirs.
    for t in
        select p.table_name
        from prospectpro.history_partitions as p
        group by p.table_name
        order by array_position(
            array['applied_deliveries', 'outbox', 'delivery_attempts'], p.table_name
        )
    loop
        -- Continue from the last range partition, or start with the current
        -- period (aligned to the partition interval) when there is none or it
        -- ended before: what was written meanwhile is in the default partition.
        select greatest(
            max(p.upper_bound),
            date_bin(width, now(), timestamptz '2000-01-01 00:00+00')
        ) into lower_bound
        from prospectpro.history_partitions as p
        where p.table_name = t.table_name and not p.is_default;
        while lower_bound < now() + ahead * width loop
            exit when not prospectpro._lock_for_ddl(t.table_name);
            -- To the next multiple of the interval: after a partition that
            -- ended off it (the upgrade's, or one of another width), the
            -- first one is shorter and the rest are aligned.
            upper_bound := date_bin(
                width, lower_bound, timestamptz '2000-01-01 00:00+00'
            ) + width;
            begin
                partition_name := t.table_name || '_'
                    || to_char(lower_bound at time zone 'UTC', 'YYYYMMDD_HH24MI');
                execute format(
                    'create table prospectpro.%I partition of prospectpro.%I '
                    'for values from (%L) to (%L)',
                    partition_name, t.table_name, lower_bound, upper_bound
                );
                perform prospectpro._index_partition(t.table_name, partition_name);
                made := made + 1;
            exception
                when check_violation then
                    -- The default partition holds rows of this range (written
                    -- before any partition covered it): they stay there, and
                    -- the range after it gets the next partition.
                    null;
                when duplicate_table then
                    -- Another session (a second worker) made it meanwhile.
                    null;
                when lock_not_available then
                    -- Busy beyond the table's lock: the next run goes on.
                    exit;
            end;
            lower_bound := upper_bound;
        end loop;
    end loop;
    return made;
end
$$;
comment on function prospectpro.maintain_partitions() is
'Make the range partitions of the outbox, the attempt log and the idempotency records up to '
'partitions_ahead intervals ahead (prospectpro.partition_settings); returns how many it made. '
'prune() calls it, and so does the worker every few minutes; until it first runs, events go '
'to the default partition.';

create or replace function prospectpro.configure_partitions(
    partition_interval interval default '1 day',
    partitions_ahead integer default 3
) returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform prospectpro._require_primary('configure_partitions');
    insert into prospectpro.partition_settings as s (partition_interval, partitions_ahead)
    values (configure_partitions.partition_interval, configure_partitions.partitions_ahead)
    on conflict (id) do update set
        partition_interval = excluded.partition_interval,
        partitions_ahead = excluded.partitions_ahead;
    return prospectpro.maintain_partitions();
exception when check_violation or not_null_violation then
    raise exception using
        errcode = 'invalid_parameter_value',
        message = format(
            'invalid partitioning: partition_interval %s, partitions_ahead %s',
            coalesce(partition_interval::text, 'NULL'),
            coalesce(partitions_ahead::text, 'NULL')
        ),
        hint = 'partition_interval is 1 minute to 7 days, without months or years; '
        || 'partitions_ahead is 1 to 1000. Call e.g. prospectpro.configure_partitions('
        || 'interval ''1 day'', 3).';
end
$$;
comment on function prospectpro.configure_partitions(interval, integer) is
'Set the width of the time partitions and how many are made ahead (new partitions follow the '
'last one with the new width), then make them; returns how many it made.';

-- prune commits, which rules out a SET search_path clause and SECURITY
-- DEFINER: its body calls only schema-qualified functions and holds no
-- operator, so the caller's search_path has nothing to resolve. The work is in
-- the steps below, the owner's (security definer); a role that may prune is
-- granted them too, so they have public names.
create or replace function prospectpro.retention_cutoff(
    older_than interval, batch_size integer
) returns timestamptz
language plpgsql
security definer  -- for the standby check, which the roles may not call
set search_path = pg_catalog, pg_temp
as $$
begin
    perform prospectpro._require_primary('prune');
    if older_than is null or older_than < interval '0' or batch_size is null
        or batch_size not between 1 and 100000 then
        raise exception 'invalid retention: older_than %, batch_size %', older_than, batch_size
        using errcode = 'invalid_parameter_value',
        hint = 'Call prospectpro.prune(interval ''7 days'') or pass a batch_size of 1 to 100000.';
    end if;
    return now() - older_than;
end
$$;
comment on function prospectpro.retention_cutoff(interval, integer) is
'A step of prune(): the retention cutoff, now() - older_than, once older_than and batch_size '
'are checked (a bad one raises 22023 with a HINT); raises 25006 on a hot standby.';

create or replace function prospectpro.expired_partitions(cutoff timestamptz)
returns text[]
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    -- The outbox first: its survivors are what the attempt log's keep.
    select coalesce(array_agg(p.partition_name order by p.table_name <> 'outbox', p.upper_bound), '{}')
    from prospectpro.history_partitions as p
    where not p.is_default and p.upper_bound <= cutoff
$$;
comment on function prospectpro.expired_partitions(timestamptz) is
'A step of prune(): the range partitions whose upper bound is at or before cutoff, the '
'outbox''s first.';

create or replace function prospectpro.drop_expired_partition(
    partition_name text, cutoff timestamptz
) returns boolean
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
set lock_timeout = '100ms'  -- as maintain_partitions, for every lock it takes
as $$
declare
    p prospectpro.history_partitions;
    events prospectpro.outbox[];
    attempts prospectpro.delivery_attempts[];
begin
    perform prospectpro._require_primary('drop_expired_partition');
    select * into p from prospectpro.history_partitions as h
    where h.partition_name = drop_expired_partition.partition_name;
    if not found or p.is_default or p.upper_bound > cutoff then
        raise exception 'not an expired partition: %', partition_name
        using errcode = 'invalid_parameter_value',
        hint = 'See prospectpro.history_partitions; prune() drops range partitions whose '
        || 'upper bound is past the retention.';
    end if;
    if not prospectpro._lock_for_ddl(p.table_name) then
        return false;
    end if;
    -- What outlives the partition: its pending and dead events, and the
    -- attempts of every pending or dead event. They keep their ids and times,
    -- and move to the default partition, which now covers their range.
    begin
        if p.table_name = 'outbox' then
            events := array(
                select o from prospectpro.outbox as o
                where
                    o.created_at >= coalesce(p.lower_bound, '-infinity')
                    and o.created_at < p.upper_bound
                    and (o.status = 'pending' or o.status = 'dead')
            );
        elsif p.table_name = 'delivery_attempts' then
            attempts := array(
                select a from prospectpro.delivery_attempts as a
                where
                    a.created_at >= coalesce(p.lower_bound, '-infinity')
                    and a.created_at < p.upper_bound
                    and a.event_id in (
                        select o.id from prospectpro.outbox as o
                        where o.status = 'pending' or o.status = 'dead'
                    )
            );
        end if;
        execute format('drop table prospectpro.%I', partition_name);
        insert into prospectpro.outbox select * from unnest(events);
        insert into prospectpro.delivery_attempts select * from unnest(attempts);
    exception when lock_not_available then
        -- Another lock (the outbox's, for the survivors) stayed busy: nothing
        -- was done, and the next run tries again.
        return false;
    end;
    return true;
end
$$;
comment on function prospectpro.drop_expired_partition(text, timestamptz) is
'A step of prune(): drop one range partition past the retention cutoff (any other name raises '
'22023), moving its pending and dead events (or their attempts) to the default partition; '
'false when the table stayed busy.';

create or replace function prospectpro.prune_default_batch(
    cutoff timestamptz, batch_size integer
) returns boolean
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
    select prospectpro._require_primary('prune_default_batch');
    -- The default partitions hold few rows (events written before the first
    -- range partition, survivors of dropped ones): past retention, they go
    -- row by row. SKIP LOCKED: a batch never waits on (nor blocks) a round.
    with events as (
        delete from prospectpro.outbox_default as o
        where o.id in (
            select d.id from prospectpro.outbox_default as d
            where d.status = 'delivered' and d.created_at < cutoff
            limit batch_size
            for update skip locked
        )
        returning 1
    ),

    attempts as (
        delete from prospectpro.delivery_attempts_default as a
        where a.id in (
            select d.id from prospectpro.delivery_attempts_default as d
            where d.created_at < cutoff and not exists (
                select from prospectpro.outbox as o
                where o.id = d.event_id and o.status in ('pending', 'dead')
            )
            limit batch_size
        )
        returning 1
    ),

    records as (
        delete from prospectpro.applied_deliveries_default as a
        where a.webhook_id in (
            select d.webhook_id from prospectpro.applied_deliveries_default as d
            where d.applied_at < cutoff limit batch_size
        )
        returning 1
    )

    select
        (select count(*) from events) = batch_size
        or (select count(*) from attempts) = batch_size
        or (select count(*) from records) = batch_size
$$;
comment on function prospectpro.prune_default_batch(timestamptz, integer) is
'A step of prune(): delete one batch each of delivered events, attempts (of events neither '
'pending nor dead) and idempotency records older than cutoff from the default partitions; true '
'while a batch was full (more may remain).';

create or replace function prospectpro.prune_cost_windows(cutoff timestamptz)
returns void
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
    select prospectpro._require_primary('prune_cost_windows');
    -- Minute windows serve the rate rule only; hours feed a day of anomaly history.
    delete from prospectpro.cost_window_slots as w
    where
        (w.kind = 'minute' and w.window_start < now() - interval '1 hour')
        or (w.kind = 'hour' and w.window_start < least(cutoff, now() - interval '2 days'));
    select prospectpro.resolve_expired_alerts();
$$;
comment on function prospectpro.prune_cost_windows(timestamptz) is
'A step of prune(): delete minute cost windows past an hour and hour windows past both cutoff '
'and two days (the anomaly history), then resolve the alerts whose period ended.';

create or replace procedure prospectpro.prune(
    older_than interval default '7 days',
    batch_size integer default 1000
)
language plpgsql
as $$
declare
    cutoff timestamptz := prospectpro.retention_cutoff(older_than, batch_size);
    expired text;
begin
    perform prospectpro.maintain_partitions();
    commit;
    foreach expired in array prospectpro.expired_partitions(cutoff) loop
        perform prospectpro.drop_expired_partition(expired, cutoff);
        commit;
    end loop;
    loop
        exit when not prospectpro.prune_default_batch(cutoff, batch_size);
        commit;
    end loop;
    perform prospectpro.prune_cost_windows(cutoff);
end
$$;
comment on procedure prospectpro.prune(interval, integer) is  -- noqa: LT01
'Retention: make the partitions ahead (maintain_partitions), drop the partitions of the outbox, '
'the attempt log and the idempotency records whose time range ended before older_than ago '
'(pending and dead events, and their attempts, are kept), delete what the default partitions '
'hold past it in committed batches of batch_size, and expire old minute and hour cost windows. '
'Each step commits; none waits on a delivery round for more than 100 ms at a time.';

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
    delete from prospectpro.delivery_attempts as a where a.event_id = discard.event_id;
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
