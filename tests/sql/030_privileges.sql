-- Privileges: least privilege per role; secrets are readable by the owner and
-- prospectpro_admin only; PUBLIC can run nothing.
begin;
select plan(16);

select has_role(r) from unnest(array[
    'prospectpro_reader', 'prospectpro_writer', 'prospectpro_worker', 'prospectpro_admin'
]) as r;

select table_privs_are(
    'prospectpro', 'endpoints', 'prospectpro_reader', array[]::text[],
    'readers cannot read endpoint secrets'
);
select table_privs_are(
    'prospectpro', 'endpoints', 'prospectpro_writer', array[]::text[],
    'writers cannot read endpoint secrets'
);
select table_privs_are(
    'prospectpro', 'endpoints', 'prospectpro_worker', array[]::text[],
    'workers cannot read endpoint secrets (deliver_due reads them for them)'
);
select table_privs_are(
    'prospectpro', 'endpoints', 'prospectpro_admin',
    array['DELETE', 'INSERT', 'SELECT', 'UPDATE'],
    'admins manage endpoints'
);
select table_privs_are(
    'prospectpro', 'endpoints', 'public', array[]::text[],
    'PUBLIC cannot read endpoint secrets'
);
select table_privs_are(
    'prospectpro', 'enhanced_leads', 'prospectpro_writer',
    array['DELETE', 'INSERT', 'SELECT', 'UPDATE'],
    'writers write leads'
);
select table_privs_are(
    'prospectpro', 'enhanced_leads', 'prospectpro_reader', array['SELECT'],
    'readers only read leads'
);
select table_privs_are(
    'prospectpro', 'outbox', 'prospectpro_writer', array[]::text[],
    'nobody but the extension writes the outbox'
);
select function_privs_are(
    'prospectpro', 'deliver_due', array['integer'], 'public', array[]::text[],
    'PUBLIC cannot run delivery rounds'
);
select function_privs_are(
    'prospectpro', 'deliver_due', array['integer'], 'prospectpro_worker', array['EXECUTE'],
    'workers run delivery rounds'
);
select function_privs_are(
    'prospectpro', '_emit', array['prospectpro.webhook_type', 'jsonb', 'text'],
    'prospectpro_writer', array[]::text[],
    'writers cannot forge events'
);

-- Behaviour, not only the catalog: an unprivileged login role is refused.
create role pgtap_nobody login;
grant usage on schema prospectpro to pgtap_nobody;
select throws_ok(
    $$set local role pgtap_nobody; select token from prospectpro.endpoints$$,
    '42501', null, 'an unprivileged role cannot read tokens'
);

select * from finish();
rollback;
