-- configure_endpoint refuses, where they enter, URLs no request could be sent
-- to and CA files the server cannot load: invalid_parameter_value (22023) with
-- a HINT, and nothing written. (Issue 12; the other bad input is in 070.)
begin;
select plan(22);

-- How a statement was refused: its SQLSTATE, and whether it carried a hint.
create function pg_temp.refusal(statement text) returns text
language plpgsql as $$
declare
    state text;
    hint text;
begin
    execute statement;
    return 'accepted';
exception when others then
    get stacked diagnostics state = returned_sqlstate, hint = pg_exception_hint;
    return state || case when coalesce(hint, '') <> '' then ' with a hint' else ' without a hint' end;
end
$$;

select is(
    pg_temp.refusal(format('select prospectpro.configure_endpoint(%L, %L)', 'cost_alert', t.url)),
    '22023 with a hint',
    'configure_endpoint refuses ' || t.what
) from (
    values
    ('http://127.0.0.1:99999/x', 'port 99999'),
    ('http://127.0.0.1:0/x', 'port 0'),
    ('http://example.com:http/x', 'a port that is not a number'),
    ('http://[::1/x', 'an unclosed IPv6 bracket'),
    ('http://::1/x', 'an IPv6 address without brackets'),
    ('http://[::g]/x', 'brackets around something that is not IPv6'),
    ('http://a..b/x', 'a host with an empty label'),
    ('http://ex%41mple.com/x', 'a host with a percent sign'),
    ('http://' || repeat('a', 64) || '.com/x', 'a host label over 63 characters'),
    ('http:///x', 'no host'),
    ('http://user:hunter2@example.com/x', 'userinfo'),
    ('https://example.com/x#top', 'a fragment'),
    ('mailto:ops@example.com', 'a mailto: URL')
) as t (url, what);

select is(
    pg_temp.refusal(format(
        'select prospectpro.configure_endpoint(%L, %L, ca_file => %L)',
        'cost_alert', 'https://example.com/x', t.ca_file
    )),
    t.refusal,
    'configure_endpoint refuses ' || t.what
) from (
    values
    ('ca.pem', '22023 with a hint', 'a relative ca_file'),
    ('/nonexistent/ca.pem', '22023 with a hint', 'a ca_file that does not exist'),
    ('/etc/hostname', '22023 with a hint', 'a ca_file that holds no certificate')
) as t (ca_file, refusal, what);

select throws_ok(
    $$select prospectpro.configure_endpoint('cost_alert', 'http://127.0.0.1:99999/x')$$,
    '22023', 'invalid endpoint URL: the port is not a number from 1 to 65535',
    'the error says what is wrong with the URL'
);
select throws_like(
    $$select prospectpro.configure_endpoint(
        'cost_alert', 'https://example.com/x', ca_file => '/nonexistent/ca.pem'
    )$$,
    'invalid ca_file: TLS: cannot load ca_file /nonexistent/ca.pem: not a PEM file%',
    'the error says why the ca_file cannot be loaded'
);
select is(
    (select count(*) from prospectpro.endpoints), 0::bigint,
    'nothing refused was written'
);

select is(
    pg_temp.refusal(format(
        'select prospectpro.configure_endpoint(%L, %L, ca_file => %L)',
        'cost_alert', 'https://bücher.example:8443/pfad/ä?q=1',
        '/etc/ssl/certs/ca-certificates.crt'
    )),
    'accepted',
    'an IDNA host, a non-ASCII path and a readable ca_file are accepted'
);
select is(
    (select ca_file from prospectpro.endpoints where webhook_type = 'cost_alert'),
    '/etc/ssl/certs/ca-certificates.crt', 'the ca_file is stored with its endpoint'
);
select is(
    pg_temp.refusal(
        $$select prospectpro.configure_endpoint('cost_alert', 'http://[::1]:8080/x')$$
    ),
    'accepted', 'IPv6 in brackets is accepted'
);

select * from finish();
rollback;
