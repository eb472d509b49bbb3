-- Functions that write call this first: on a hot standby they would fail at
-- their first write, deep inside (PL/Python adds a traceback), with no word
-- on where to go instead.

create or replace function prospectpro._require_primary(action text)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    if pg_catalog.pg_is_in_recovery() then
        raise exception 'prospectpro.%() writes, and this server is a read-only hot standby',
            action
        using errcode = 'read_only_sql_transaction',
        hint = 'Call it on the primary, e.g. through a connection string with '
        || 'target_session_attrs=read-write (host=primary,standby finds the primary). '
        || 'A standby serves the monitoring views and read-only queries.';
    end if;
end
$$;
comment on function prospectpro._require_primary(text) is
'Internal: raise read_only_sql_transaction, naming the action and the primary, on a hot standby.';
