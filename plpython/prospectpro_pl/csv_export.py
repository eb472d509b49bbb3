"""CSV export of a campaign's leads.

RFC 4180: a header row, CRLF line endings, fields quoted when they hold a
comma, a double quote (doubled) or a line break; spaces are data and kept.
None is an empty field and booleans are true/false, as PostgreSQL writes them.

Formula injection: spreadsheets run a cell that starts with =, +, - or @ as
a formula, so an exported business name such as =HYPERLINK(...) could act on
the user's machine. Text cells starting with one of those, or with a tab or
carriage return (OWASP's list), get a leading apostrophe, which spreadsheets
take as "text" and hide. The cost is that other tools show the apostrophe,
e.g. on phone numbers written +1 619...; numbers are never prefixed, as a
number cannot carry a formula.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_COLUMNS = (
    "lead_id",
    "business_name",
    "website",
    "phone",
    "address",
    "email",
    "confidence_score",
    "is_qualified",
    "enrichment_stage",
)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Export:
    csv_text: str
    row_count: int  # data rows, the header not counted
    sha256: str  # hex digest of csv_text's UTF-8 bytes


def build_csv(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str] = DEFAULT_COLUMNS
) -> Export:
    """The CSV of ``rows``, one line per row with ``columns`` in that order.

    Every row must have every column (a missing one is a ValueError, not an
    empty field, so that a misspelt column name cannot pass unnoticed).
    """
    if not columns:
        raise ValueError("an export needs at least one column")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for number, row in enumerate(rows, 1):
        try:
            writer.writerow([_cell(row[column]) for column in columns])
        except KeyError as missing:
            raise ValueError(f"row {number} has no column {missing.args[0]!r}") from None
    text = out.getvalue()
    return Export(text, len(rows), hashlib.sha256(text.encode()).hexdigest())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_PREFIXES) else value
    return str(value)
