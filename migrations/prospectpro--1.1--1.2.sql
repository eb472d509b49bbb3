-- ProspectPro 1.1 -> 1.2: the schema changes of release 1.2, each under the
-- heading of what it is for. Functions, triggers, views and grants follow from
-- extension/api/ (see README.md in this folder).

-- Issue 23, breaker under concurrency: _record_endpoint_outcomes() judges on
-- the latest row whether a round's successes change a breaker, so delivery
-- rounds no longer read consecutive_failures from _endpoint_config(), whose
-- result type loses that column (extension/api/ creates it again). If exists:
-- from 1.0, the 1.0 -> 1.1 migration has dropped it already.
drop function if exists prospectpro._endpoint_config();
