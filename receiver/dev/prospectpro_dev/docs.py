"""docs/reference.md, generated from the installed extension's catalog (make docs).

    python -m prospectpro_dev.docs [--output PATH]

A throwaway cluster gets the extension; every public routine, view and table of
schema prospectpro is read from pg_proc and pg_class with its comment. Public
means a name without a leading underscore, or anything granted to a role. What
a routine raises is read from its source: PL/pgSQL ``raise ... using errcode,
hint`` statements (and those of the private functions it calls), and for a
PL/Python body the ``plpy.error(..., hint=, sqlstate=)`` calls reachable from
the prospectpro_pl function it calls. The output is sorted, so it is
byte-stable.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import psycopg.errors

from .cluster import PG_BIN, Cluster

SCHEMA = "prospectpro"

ROUTINES_SQL = """
select p.proname, p.prokind, pg_catalog.pg_get_function_identity_arguments(p.oid),
       pg_catalog.pg_get_function_arguments(p.oid), pg_catalog.pg_get_function_result(p.oid),
       l.lanname, p.prosecdef, p.prosrc, pg_catalog.obj_description(p.oid, 'pg_proc'),
       array(select pg_catalog.format_type(a.t, null)
             from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]))
                  with ordinality as a (t, n) order by a.n),
       coalesce(p.proargnames, '{}'), coalesce(p.proargmodes, '{}'),
       array(select distinct case a.grantee when 0 then 'PUBLIC' else a.grantee::regrole::text end
             from pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner)))
                  as a
             where a.grantee <> p.proowner and a.privilege_type = 'EXECUTE' order by 1)
from pg_catalog.pg_proc as p join pg_catalog.pg_language as l on l.oid = p.prolang
where p.pronamespace = %s::regnamespace
order by p.proname, 3
"""

TRIGGERS_SQL = """
select p.proname, pg_catalog.format('%%s on %%s', t.tgname, t.tgrelid::regclass)
from pg_catalog.pg_trigger as t join pg_catalog.pg_proc as p on p.oid = t.tgfoid
where p.pronamespace = %s::regnamespace and not t.tgisinternal
order by 1, 2
"""

RELATIONS_SQL = """
select c.relname, c.relkind, pg_catalog.obj_description(c.oid, 'pg_class'),
       array(select g.grantee::regrole::text || ': '
                    || pg_catalog.string_agg(g.privilege_type, ', ' order by g.privilege_type)
             from pg_catalog.aclexplode(coalesce(c.relacl, pg_catalog.acldefault('r', c.relowner)))
                  as g
             where g.grantee not in (0, c.relowner)
             group by g.grantee order by 1),
       array(select pg_catalog.format('%%s|%%s|%%s', a.attname,
                    pg_catalog.format_type(a.atttypid, a.atttypmod),
                    coalesce(pg_catalog.col_description(c.oid, a.attnum), ''))
             from pg_catalog.pg_attribute as a
             where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
             order by a.attnum)
from pg_catalog.pg_class as c
where c.relnamespace = %s::regnamespace and c.relkind in ('r', 'p', 'v', 'm')
  and not c.relispartition
order by c.relname
"""

KINDS = {"f": "function", "p": "procedure", "a": "aggregate", "w": "window function"}
RELKINDS = {"r": "table", "p": "table", "v": "view", "m": "materialized view"}


@dataclass(frozen=True, order=True)
class Raise:
    sqlstate: str  # five characters, or why it is not known
    hint: str  # empty: none


@dataclass
class Routine:
    name: str
    kind: str
    identity: str
    arguments: str
    result: str
    language: str
    security_definer: bool
    source: str
    comment: str | None
    types: list[str]
    names: list[str]
    modes: list[str]
    grantees: list[str]
    raises: list[Raise] | None = field(default=None)  # None: not extracted

    @property
    def public(self) -> bool:
        return not self.name.startswith("_") or bool(self.grantees)

    @property
    def signature(self) -> str:
        """name(arguments), without the IN that procedures' arguments carry."""
        return self.name + "(" + re.sub(r"(^|, )IN ", r"\1", self.identity) + ")"


@dataclass
class Relation:
    name: str
    kind: str
    comment: str | None
    grants: list[str]
    columns: list[tuple[str, str, str]]

    @property
    def public(self) -> bool:
        return not self.name.startswith("_") or bool(self.grants)


# -- reading the catalog ------------------------------------------------------
def routines(conn: psycopg.Connection) -> list[Routine]:
    return [Routine(*row) for row in conn.execute(ROUTINES_SQL, (SCHEMA,))]


def relations(conn: psycopg.Connection) -> list[Relation]:
    return [
        Relation(name, RELKINDS[kind], comment, grants, [tuple(c.split("|", 2)) for c in cols])
        for name, kind, comment, grants, cols in conn.execute(RELATIONS_SQL, (SCHEMA,))
    ]


def missing_comments(conn: psycopg.Connection) -> list[str]:
    """The public routines and relations that have no comment."""
    return sorted(
        [
            f"{KINDS[r.kind]} {SCHEMA}.{r.name}({r.identity})"
            for r in routines(conn)
            if r.public and not r.comment
        ]
        + [f"{r.kind} {SCHEMA}.{r.name}" for r in relations(conn) if r.public and not r.comment]
    )


# -- what a routine raises --------------------------------------------------
def sqlstate_of(errcode: str | None) -> str:
    """A five-character SQLSTATE from a code or a condition name (psycopg knows them all)."""
    if errcode is None:
        return "not literal"
    if errcode == "{sqlstate}":
        return "of the error it caught (re-raised)"
    if "{" in errcode:
        return f"not literal ({errcode.strip('{}')})"
    if re.fullmatch(r"[0-9A-Z]{5}", errcode):
        return errcode
    try:
        return psycopg.errors.lookup(errcode.upper()).sqlstate or errcode
    except KeyError:
        return f"unknown condition {errcode}"


LITERAL = re.compile(r"'(?:[^']|'')*'")
MARK = re.compile(r"\x00(\d+)\x00")
QUIET_LEVELS = {"debug", "log", "info", "notice", "warning"}


def _split_top(text: str, sep: str) -> list[str]:
    """Split text at sep outside parentheses and brackets (literals are masked)."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        if text[i] in "([":
            depth += 1
        elif text[i] in ")]":
            depth -= 1
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i + len(sep)
            i = start
            continue
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def plpgsql_raises(source: str) -> tuple[list[tuple[str | None, str]], list[str]]:
    """(errcode, hint) of each literal `raise` in a PL/pgSQL or SQL body, and the
    private prospectpro functions it calls. A hint's non-literal parts read {expr}."""
    literals: list[str] = []

    def mask(m: re.Match) -> str:
        literals.append(m.group(0)[1:-1].replace("''", "'"))
        return f"\x00{len(literals) - 1}\x00"

    masked = re.sub(r"--[^\n]*|/\*.*?\*/", " ", LITERAL.sub(mask, source), flags=re.S)
    masked = re.sub(r"\s+", " ", masked)

    def literal(expr: str) -> str | None:
        m = MARK.fullmatch(expr.strip())
        return literals[int(m.group(1))] if m else None

    def unmask(expr: str) -> str:
        return MARK.sub(lambda m: "'" + literals[int(m.group(1))].replace("'", "''") + "'", expr)

    found = []
    for statement in masked.split(";"):
        m = re.search(r"\braise\b(.*)", statement, re.I)
        if not m:
            continue
        body = m.group(1).strip()
        level = re.match(r"(\w+)\s*", body)
        if level and level.group(1).lower() in QUIET_LEVELS:
            continue
        if level and level.group(1).lower() == "exception":
            body = body[level.end() :]
        if not body:
            continue  # a bare raise re-raises the error being handled
        head, *rest = re.split(r"\busing\b", body, maxsplit=1, flags=re.I)
        options = rest[0] if rest else ""
        errcode, hint = "P0001", ""
        condition = re.fullmatch(r"(?:sqlstate\s+)?(\S+)", head.strip(), re.I)
        if condition and not MARK.fullmatch(head.strip()):
            errcode = literal(condition.group(1)) or condition.group(1)
        for option in _split_top(options, ","):
            key, _, expr = option.partition("=")
            key = key.strip().lower()
            if key == "errcode":
                errcode = literal(expr) or "{" + unmask(expr.strip()) + "}"
            elif key == "hint":
                hint = "".join(
                    literal(part) if literal(part) is not None else "{" + unmask(part) + "}"
                    for part in _split_top(expr, "||")
                )
        found.append((errcode, hint))
    callees = sorted(set(re.findall(rf"\b{SCHEMA}\.(_\w+)\s*\(", masked)))
    return found, callees


class PythonRaises:
    """The plpy.error calls reachable from a PL/Python body through the functions of
    the prospectpro_pl package (module functions, not methods), with literal or
    module-constant hints and SQLSTATEs; arguments passed down are followed."""

    def __init__(self, package: Path) -> None:
        self.package = package
        self.modules: dict[str, tuple[dict, dict, dict]] = {}

    def module(self, name: str) -> tuple[dict, dict, dict]:
        """(functions, string constants, imports) of one module of the package."""
        if name not in self.modules:
            tree = ast.parse((self.package / f"{name}.py").read_text())
            self.modules[name] = (*self._index(tree.body), self._imports(tree.body))
        return self.modules[name]

    @staticmethod
    def _index(body: list[ast.stmt]) -> tuple[dict, dict]:
        functions = {n.name: n for n in body if isinstance(n, ast.FunctionDef)}
        constants = {
            n.targets[0].id: n.value.value
            for n in body
            if isinstance(n, ast.Assign)
            and isinstance(n.targets[0], ast.Name)
            and isinstance(n.value, ast.Constant)
            and isinstance(n.value.value, str | int)
        }
        return functions, constants

    def _imports(self, body: list[ast.stmt]) -> dict[str, tuple[str, str | None]]:
        """name -> (module, None) for a sibling module, (module, function) for a function."""
        imports = {}
        for node in body:
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.module == "prospectpro_pl" or (node.level == 1 and not node.module):
                for alias in node.names:
                    imports[alias.asname or alias.name] = (alias.name, None)
            elif node.level == 1 and (self.package / f"{node.module}.py").exists():
                for alias in node.names:
                    imports[alias.asname or alias.name] = (node.module, alias.name)
        return imports

    def of_body(self, source: str) -> list[tuple[str | None, str]]:
        # A PL/Python body is a function's body: it may return.
        body = ast.parse("def body():\n" + textwrap.indent(source, "    ")).body[0].body
        scope = (*self._index(body), self._imports(body))
        found: set[tuple[str | None, str]] = set()
        self._walk(body, scope, {}, found, [])
        return sorted(found, key=lambda r: (r[0] or "", r[1]))

    def _walk(self, body, scope, bindings, found, stack) -> None:
        functions, constants, imports = scope
        for node in (n for stmt in body for n in ast.walk(stmt)):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "error"
                and isinstance(func.value, ast.Name)
                and func.value.id == "plpy"
            ):
                kw = {k.arg: k.value for k in node.keywords}
                sqlstate = (
                    self._value(kw["sqlstate"], constants, bindings)
                    if "sqlstate" in kw
                    else "XX000"
                )
                hint = self._value(kw["hint"], constants, bindings) if "hint" in kw else ""
                found.add(
                    (sqlstate, hint if hint is not None else "{" + ast.unparse(kw["hint"]) + "}")
                )
                continue
            target = None
            if isinstance(func, ast.Name) and func.id in functions:
                target = (scope, functions[func.id])
            elif isinstance(func, ast.Name) and imports.get(func.id, (None, None))[1]:
                module, name = imports[func.id]
                target = (self._scope(module), self._scope(module)[0].get(name))
            elif (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id in imports
                and imports[func.value.id][1] is None
            ):
                module = imports[func.value.id][0]
                target = (self._scope(module), self._scope(module)[0].get(func.attr))
            if not target or target[1] is None or target[1] in stack:
                continue
            callee_scope, callee = target
            params = [a.arg for a in callee.args.posonlyargs + callee.args.args]
            passed = dict(zip(params, node.args, strict=False)) | {
                k.arg: k.value for k in node.keywords if k.arg
            }
            callee_bindings = {
                name: self._value(expr, constants, bindings) or "{" + name + "}"
                for name, expr in passed.items()
            }
            self._walk(callee.body, callee_scope, callee_bindings, found, [*stack, callee])

    def _scope(self, module: str) -> tuple[dict, dict, dict]:
        return self.module(module)

    @classmethod
    def _value(cls, expr: ast.expr, constants: dict, bindings: dict) -> str | None:
        """A string expression's text: literals and constants as they are, the
        parts only known at run time as {expr}; None when nothing is literal."""
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return expr.value
        if isinstance(expr, ast.Name):
            value = bindings.get(expr.id, constants.get(expr.id))
            return value if value is None else str(value)
        if isinstance(expr, ast.JoinedStr):
            return "".join(
                str(v.value)
                if isinstance(v, ast.Constant)
                else (None if v.format_spec else cls._value(v.value, constants, bindings))
                or "{" + ast.unparse(v.value) + "}"
                for v in expr.values
            )
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            left = cls._value(expr.left, constants, bindings)
            right = cls._value(expr.right, constants, bindings)
            if left is not None or right is not None:
                return (left or "{" + ast.unparse(expr.left) + "}") + (
                    right or "{" + ast.unparse(expr.right) + "}"
                )
        return None


def attach_raises(all_routines: list[Routine], python: PythonRaises) -> None:
    by_name: dict[str, list[Routine]] = {}
    for r in all_routines:
        by_name.setdefault(r.name, []).append(r)

    def sql_raises(routine: Routine, seen: frozenset[str]) -> set[Raise]:
        own, callees = plpgsql_raises(routine.source)
        found = {Raise(sqlstate_of(code), hint) for code, hint in own}
        for callee in (c for c in callees if c not in seen):
            for r in by_name.get(callee, []):
                found |= set(raises_of(r, seen | {callee}) or ())
        return found

    def raises_of(routine: Routine, seen: frozenset[str]) -> list[Raise] | None:
        if routine.language in ("plpgsql", "sql"):
            return sorted(sql_raises(routine, seen))
        if routine.language == "plpython3u":
            return sorted({Raise(sqlstate_of(c), h) for c, h in python.of_body(routine.source)})
        return None

    for r in all_routines:
        r.raises = raises_of(r, frozenset({r.name}))


# -- markdown -------------------------------------------------------------
def md(text: str) -> str:
    """Prose as markdown shows it: no emphasis, HTML or code from stray characters."""
    text = re.sub(r"([\\`*<|])", r"\\\1", text)
    return re.sub(r"(?<![A-Za-z0-9])_", r"\\_", text)


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def split_arguments(arguments: str) -> list[str]:
    masked = LITERAL.sub(lambda m: "x" * len(m.group(0)), arguments)
    pieces, start = [], 0
    for part in _split_top(masked, ","):
        begin = masked.index(part, start)
        pieces.append(arguments[begin : begin + len(part)])
        start = begin + len(part)
    return pieces


def parameters(r: Routine) -> list[tuple[str, str, str, str]]:
    """(mode, name, type, default) of each argument pg_get_function_arguments shows."""
    modes = r.modes or ["i"] * len(r.types)
    shown = [i for i, m in enumerate(modes) if m != "t"]
    out = []
    for i, piece in zip(shown, split_arguments(r.arguments), strict=True):
        _, _, default = piece.partition(" DEFAULT ")
        mode = {"i": "", "o": "OUT", "b": "INOUT", "v": "VARIADIC"}[modes[i]]
        name = r.names[i] if i < len(r.names) and r.names[i] else f"${i + 1}"
        out.append((mode, name, r.types[i], default))
    return out


def routine_section(r: Routine, triggers: list[str]) -> list[str]:
    heading = r.signature
    facts = [
        KINDS[r.kind],
        {"plpython3u": "PL/Python", "plpgsql": "PL/pgSQL"}.get(r.language, r.language.upper()),
    ]
    if r.security_definer:
        facts.append("security definer")
    facts.append("granted to " + ", ".join(r.grantees) if r.grantees else "owner only")
    lines = [
        f"### {heading}",
        "",
        "*" + " · ".join(facts) + "*",
        "",
        md(r.comment or "(no comment)"),
        "",
    ]
    returns = "" if r.kind == "p" else f" returns {r.result}"
    lines += ["```sql", f"{SCHEMA}.{r.signature}{returns}", "```", ""]
    params = parameters(r)
    if params:
        lines += ["| Parameter | Type | Default |", "|---|---|---|"]
        for mode, name, type_, default in params:
            label = f"{mode} {name}".strip()
            lines.append(f"| `{label}` | `{type_}` | {f'`{default}`' if default else '—'} |")
        lines.append("")
    if triggers:
        lines += ["Fires as: " + ", ".join(f"`{t}`" for t in triggers) + ".", ""]
    if r.raises is None:
        lines += [f"Raises: not extracted ({r.language} source).", ""]
    elif not r.raises:
        lines += ["Raises: nothing found in its source.", ""]
    else:
        lines += ["Raises:", ""]
        for x in r.raises:
            hint = f" HINT: {md(x.hint)}" if x.hint else " (no HINT)"
            code = f"`{x.sqlstate}`" if len(x.sqlstate) == 5 else x.sqlstate
            lines.append(f"- SQLSTATE {code}{hint}")
        lines.append("")
    return lines


def relation_section(r: Relation) -> list[str]:
    lines = [f"### {r.name}", ""]
    facts = [r.kind] + ([f"{g}" for g in r.grants] or ["owner only"])
    lines += ["*" + " · ".join(facts) + "*", "", md(r.comment or "(no comment)"), ""]
    described = any(c for _, _, c in r.columns)
    lines += [
        "| Column | Type |" + (" Comment |" if described else ""),
        "|---|---|" + ("---|" if described else ""),
    ]
    for name, type_, comment in r.columns:
        lines.append(f"| `{name}` | `{type_}` |" + (f" {md(comment)} |" if described else ""))
    return [*lines, ""]


INTRO = """\
Every public function, procedure, view and table of schema `{schema}` in
ProspectPro {version}: those whose name has no leading underscore, and those
granted to one of the product's roles. Generated by `make docs` from the
installed catalog (`pg_proc`, `pg_class`, `COMMENT ON`); do not edit by hand.

*Raises* lists the SQLSTATE and HINT of each error a routine's own source raises
with literal values: PL/pgSQL `raise ... using errcode = ..., hint = ...` (and
those of the private functions it calls), PL/Python `plpy.error(..., hint=...,
sqlstate=...)` reachable from the `prospectpro_pl` function its body calls.
`{{...}}` marks a part of a HINT known only at run time. Errors from triggers a
routine fires, from PostgreSQL itself (a null where a value is required, a
missing privilege) or from Python methods are not listed.
"""


def extension_version(conn: psycopg.Connection) -> str:
    return conn.execute(
        "select extversion from pg_catalog.pg_extension where extname = %s", (SCHEMA,)
    ).fetchone()[0]


def render(conn: psycopg.Connection, package: Path) -> str:
    version = extension_version(conn)
    all_routines = routines(conn)
    attach_raises(all_routines, PythonRaises(package))
    fired: dict[str, list[str]] = {}
    for name, trigger in conn.execute(TRIGGERS_SQL, (SCHEMA,)):
        fired.setdefault(name, []).append(trigger)
    public = [r for r in all_routines if r.public]
    groups = [
        ("Functions and procedures", [r for r in public if r.result != "trigger"]),
        ("Trigger functions", [r for r in public if r.result == "trigger"]),
    ]
    rels = [r for r in relations(conn) if r.public]
    rel_groups = [
        ("Views", [r for r in rels if r.kind != "table"]),
        ("Tables", [r for r in rels if r.kind == "table"]),
    ]

    lines = ["# SQL reference", "", INTRO.format(schema=SCHEMA, version=version), "## Contents", ""]
    for title, items in groups:
        links = ", ".join(f"[{r.name}](#{anchor(r.signature)})" for r in items)
        lines.append(f"- [{title}](#{anchor(title)}): {links}")
    for title, items in rel_groups:
        links = ", ".join(f"[{r.name}](#{anchor(r.name)})" for r in items)
        lines.append(f"- [{title}](#{anchor(title)}): {links}")
    lines.append("")
    for title, items in groups:
        lines += [f"## {title}", ""]
        for r in items:
            lines += routine_section(r, fired.get(r.name, []))
    for title, items in rel_groups:
        lines += [f"## {title}", ""]
        for r in items:
            lines += relation_section(r)
    return "\n".join(lines).rstrip("\n") + "\n"


def server_package(conn: psycopg.Connection) -> Path:
    """The prospectpro_pl package the server runs for the installed version."""
    pkglibdir = subprocess.run(
        [str(PG_BIN / "pg_config"), "--pkglibdir"], check=True, capture_output=True, text=True
    ).stdout.strip()
    version = extension_version(conn)
    return Path(pkglibdir) / SCHEMA / version / "prospectpro_pl"


def write_reference(dsn: str, output: Path) -> None:
    with psycopg.connect(dsn) as conn:
        output.write_text(render(conn, server_package(conn)))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m prospectpro_dev.docs", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--output", type=Path, default=Path("docs/reference.md"))
    args = parser.parse_args(argv)
    print("starting a throwaway cluster and installing the extension", file=sys.stderr)
    with Cluster() as cluster:
        dsn = cluster.create_database("prospectpro_docs")
        with psycopg.connect(dsn) as conn:
            missing = missing_comments(conn)
        write_reference(dsn, args.output)
    print(f"wrote {args.output}", file=sys.stderr)
    for name in missing:
        print(f"no comment: {name}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
