-- ProspectPro 1.0 -> 1.1: the schema changes of release 1.1, each under the
-- heading of what it is for. Functions, triggers, views and grants follow from
-- extension/api/ (see README.md in this folder).

-- Issue 13: without pg_cron, the scheduling functions name the alternative.
drop function prospectpro._cron_schedule(text, text, text);
