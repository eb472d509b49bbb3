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
