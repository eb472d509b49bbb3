-- Helpers the pgTAP files share, created once in the test database by
-- tools/run-pgtap before pg_prove runs them.

-- The HINT of the error a statement raises, null when it raises none.
create function public.hint_of(statement text) returns text
language plpgsql as $$
declare
    hint text;
begin
    execute statement;
    return null;
exception when others then
    get stacked diagnostics hint = pg_exception_hint;
    return hint;
end
$$;
