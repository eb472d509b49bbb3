"""docs/reference.md against the catalog it is generated from: the committed file
is what `make docs` writes now, every public object has a comment, and what a
routine raises is read from PL/pgSQL and PL/Python source as it is written."""

from __future__ import annotations

import difflib
from pathlib import Path

from prospectpro_dev import docs

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference.md"


def test_the_committed_reference_is_what_make_docs_writes(dsn, tmp_path):
    fresh = tmp_path / "reference.md"
    docs.write_reference(dsn, fresh)
    committed = REFERENCE.read_text() if REFERENCE.exists() else ""
    diff = list(
        difflib.unified_diff(
            committed.splitlines(), fresh.read_text().splitlines(),
            "docs/reference.md (committed)", "catalog (now)", lineterm="", n=1,
        )
    )  # fmt: skip
    assert not diff, "docs/reference.md is stale: run `make docs`\n" + "\n".join(diff[:60])


def test_every_public_object_has_a_comment(db):
    missing = docs.missing_comments(db)
    assert not missing, "add a COMMENT ON in extension/api for: " + "; ".join(missing)


def test_an_object_without_a_comment_is_found(db):
    db.execute("comment on function prospectpro.discard(bigint) is null")
    db.execute("comment on view prospectpro.delivery_queue is null")
    db.execute("create function prospectpro._granted() returns int language sql as 'select 1'")
    db.execute("create function prospectpro._private() returns int language sql as 'select 1'")
    db.execute("grant execute on function prospectpro._granted() to prospectpro_reader")
    # Executable by PUBLIC (the default) would make it public too.
    db.execute("revoke execute on function prospectpro._private() from public")
    db.execute("create table prospectpro.undocumented (id int)")
    assert docs.missing_comments(db) == [
        "function prospectpro._granted()",
        "function prospectpro.discard(event_id bigint)",
        "table prospectpro.undocumented",
        "view prospectpro.delivery_queue",
    ]


def test_a_catalog_change_shows_in_the_reference(db):
    package = docs.server_package(db)
    before = docs.render(db, package)
    db.execute("comment on function prospectpro.discard(bigint) is 'Changed.'")
    after = docs.render(db, package)
    assert before != after
    assert "Changed." in after.split("### discard(event_id bigint)")[1].split("###")[0]


def test_plpgsql_raises_read_errcode_and_hint():
    source = """
    begin
        -- raise exception 'a comment is not a statement' using errcode = '22000';
        if x then
            raise exception 'bad %; really', x
            using errcode = 'invalid_parameter_value',
            hint = 'Use one of: ' || prospectpro._types() || '.';
        end if;
        raise notice 'not an error';
        raise exception 'plain';
        perform prospectpro._helper(x);
    exception when others then
        raise exception using errcode = sqlstate, message = sqlerrm, hint = 'It''s five fields.';
    end
    """
    raises, callees = docs.plpgsql_raises(source)
    assert raises == [
        ("invalid_parameter_value", "Use one of: {prospectpro._types()}."),
        ("P0001", ""),
        ("{sqlstate}", "It's five fields."),
    ]
    assert callees == ["_helper", "_types"]
    assert [docs.sqlstate_of(code) for code, _ in raises] == [
        "22023",
        "P0001",
        "of the error it caught (re-raised)",
    ]


def test_python_raises_follow_calls_into_the_package(tmp_path):
    (tmp_path / "rules.py").write_text(
        'HINT = "Pass a positive number."\n'
        "LIMIT = 10\n"
        "def _bad(plpy, message, hint):\n"
        '    plpy.error(message, hint=hint, sqlstate="22023")\n'
        "def check(plpy, value):\n"
        "    if value < 0:\n"
        '        _bad(plpy, f"bad {value}", HINT)\n'
        "    if value > LIMIT:\n"
        '        plpy.error("too big", hint=f"At most {LIMIT}, not {value}.", sqlstate="22003")\n'
        "    plpy.error('no state')\n"
    )
    body = "#loader\nfrom prospectpro_pl import rules\nreturn rules.check(plpy, value)\n"
    assert docs.PythonRaises(tmp_path).of_body(body) == [
        ("22003", "At most 10, not {value}."),
        ("22023", "Pass a positive number."),
        ("XX000", ""),
    ]


def test_every_public_routine_is_in_the_reference(db):
    text = docs.render(db, docs.server_package(db))
    for routine in docs.routines(db):
        assert (f"### {routine.signature}\n" in text) == routine.public, routine.signature
    names = db.execute(
        "select relname from pg_class where relnamespace = 'prospectpro'::regnamespace"
        " and relkind in ('r', 'p', 'v') and not relispartition"
    ).fetchall()
    for (name,) in names:
        assert f"### {name}\n" in text


def test_the_reference_shows_an_extracted_hint(db):
    text = docs.render(db, docs.server_package(db))
    section = text.split("### set_campaign_status(")[1].split("\n### ")[0]
    assert "- SQLSTATE `22023` HINT: See prospectpro.campaigns for the ids." in section
