-- ProspectPro 1.0 -> 1.1: the schema changes of release 1.1, each under the
-- heading of what it is for. Functions, triggers, views and grants follow from
-- extension/api/ (see README.md in this folder).

-- Issue 12: delivery that real endpoints receive. Each endpoint may name the
-- CAs it trusts for https (configure_endpoint's new ca_file parameter).
alter table prospectpro.endpoints
add column ca_file text
constraint endpoint_ca_file_absolute check (
    ca_file ~ '^/' and pg_catalog.length(ca_file) <= 4096
);
-- Both functions gain a ca_file (a parameter, a result column): extension/api/
-- creates them anew.
drop function prospectpro._endpoint_config();
drop function prospectpro.configure_endpoint(
    text, text, text, text, boolean, double precision[], integer, double precision, integer,
    integer, double precision
);
