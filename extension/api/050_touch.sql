-- Trigger names set the firing order: PostgreSQL fires the triggers of one
-- event on one table in the order of their names, so every trigger of the
-- extension (here and in the files after this one) starts with a prefix that
-- says when it runs: _100_ first (keeping the row right: updated_at, the
-- campaign state machine), then _500_ (turning the change into events and
-- aggregates), then _900_ last (the NOTIFY that wakes the workers, once the
-- events are written).

-- updated_at follows every change of a campaign or a lead.

create or replace function prospectpro._touch_updated_at() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    new.updated_at := now();
    return new;
end
$$;

create or replace trigger _100_touch_updated_at
before update on prospectpro.campaigns
for each row execute function prospectpro._touch_updated_at();

create or replace trigger _100_touch_updated_at
before update on prospectpro.enhanced_leads
for each row execute function prospectpro._touch_updated_at();
