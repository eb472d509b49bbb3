import csv
import hashlib
import io
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prospectpro_pl import csv_export

LEAD = {
    "lead_id": 1,
    "business_name": 'Joe\'s "Best" Tacos, Inc.',
    "website": None,
    "phone": "(619) 555-0100",
    "address": "12 Main St\nSuite 4",
    "email": "info@joes.example",
    "confidence_score": 85,
    "is_qualified": True,
    "enrichment_stage": "completed",
    "enrichment_data": {"ignored": True},
}


def read(text):
    return list(csv.reader(io.StringIO(text, newline="")))


def test_default_columns():
    assert csv_export.DEFAULT_COLUMNS == (
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


def test_rfc4180_text():
    result = csv_export.build_csv([LEAD, {**LEAD, "lead_id": 2, "is_qualified": False}])
    assert result.csv_text == (
        "lead_id,business_name,website,phone,address,email,confidence_score,is_qualified,"
        "enrichment_stage\r\n"
        '1,"Joe\'s ""Best"" Tacos, Inc.",,(619) 555-0100,"12 Main St\nSuite 4",'
        "info@joes.example,85,true,completed\r\n"
        '2,"Joe\'s ""Best"" Tacos, Inc.",,(619) 555-0100,"12 Main St\nSuite 4",'
        "info@joes.example,85,false,completed\r\n"
    )
    assert result.row_count == 2
    assert result.sha256 == hashlib.sha256(result.csv_text.encode("utf-8")).hexdigest()


def test_no_rows_is_the_header_alone():
    result = csv_export.build_csv([], ["lead_id", "email"])
    assert (result.csv_text, result.row_count) == ("lead_id,email\r\n", 0)
    assert result.sha256 == hashlib.sha256(b"lead_id,email\r\n").hexdigest()


def test_spaces_and_unicode_are_kept():
    result = csv_export.build_csv([{"name": "  Café Ñandú  "}], ["name"])
    assert read(result.csv_text) == [["name"], ["  Café Ñandú  "]]
    assert result.sha256 == hashlib.sha256("name\r\n  Café Ñandú  \r\n".encode()).hexdigest()


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("+1 619 555 0100", "'+1 619 555 0100"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\r=1", "'\r=1"),
        ("a=b", "a=b"),
        (" =1", " =1"),
        ("'quoted", "'quoted"),
        (-5, "-5"),
        (Decimal("-0.50"), "-0.50"),
        (12.5, "12.5"),
    ],
)
def test_formula_injection_is_defused_in_text_only(value, cell):
    assert read(csv_export.build_csv([{"v": value}], ["v"]).csv_text)[1] == [cell]


def test_columns_are_chosen_and_ordered_by_the_caller():
    result = csv_export.build_csv([LEAD], ["email", "lead_id"])
    assert result.csv_text == "email,lead_id\r\ninfo@joes.example,1\r\n"


def test_a_missing_column_is_an_error():
    with pytest.raises(ValueError, match="row 2 has no column 'emial'"):
        csv_export.build_csv([{"emial": "a"}, {"email": "b"}], ["emial"])


def test_no_columns_is_an_error():
    with pytest.raises(ValueError, match="at least one column"):
        csv_export.build_csv([LEAD], [])


def expected_cell(value):
    if value is None:
        return ""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


# PostgreSQL text is UTF-8 without NUL: so is every cell exported.
cells = st.none() | st.text(st.characters(codec="utf-8", exclude_characters="\x00"))


@given(st.lists(st.lists(cells, min_size=3, max_size=3), max_size=10))
def test_any_text_round_trips_through_a_csv_reader(values):
    columns = ["a", "b", "c"]
    rows = [dict(zip(columns, row, strict=True)) for row in values]
    result = csv_export.build_csv(rows, columns)
    assert read(result.csv_text) == [columns] + [[expected_cell(v) for v in row] for row in values]
    assert result.row_count == len(values)
    assert result.sha256 == hashlib.sha256(result.csv_text.encode()).hexdigest()
