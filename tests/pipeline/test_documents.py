"""`extract_text`: PDF, DOCX, XLSX and CSV to compact text; locked and broken files."""

from __future__ import annotations

import zipfile
from datetime import datetime

import pytest

from pipeline.documents import MAX_ROWS, DocumentLocked, document_kind, extract_text
from tests.utils.media_files import encrypt_office, make_docx, make_xlsx
from tests.utils.media_hosts import make_pdf

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_the_reader_is_chosen_by_type_or_file_name() -> None:
    assert document_kind(DOCX, None) == "docx"
    assert document_kind(XLSX, "boq") == "xlsx"
    assert document_kind("text/csv", None) == "csv"
    assert document_kind("application/pdf", None) == "pdf"
    assert document_kind("application/octet-stream", "Quantities.XLSX") == "xlsx"
    assert document_kind("application/zip", "plans.zip") is None


def test_pdf_text_and_trimming() -> None:
    assert extract_text("pdf", make_pdf("short"), max_chars=100) == ("short", False)
    text, trimmed = extract_text("pdf", make_pdf("word " * 100), max_chars=50)
    assert trimmed and len(text) <= 50


def test_docx_paragraphs_and_tables_in_order() -> None:
    data = make_docx(
        "Requirements for the new office",
        "We need   40 desks\tand 2 meeting rooms.",
        table=[["Item", "Qty"], ["Desk", "40"], ["Chair", "40"]],
    )
    assert extract_text("docx", data, max_chars=1000) == (
        "Requirements for the new office\n\nWe need 40 desks and 2 meeting rooms.\n\n"
        "Item | Qty\nDesk | 40\nChair | 40",
        False,
    )


def test_a_merged_docx_cell_is_read_once() -> None:
    from io import BytesIO

    from docx import Document

    document = Document(BytesIO(make_docx(table=[["a", "b", "c"], ["1", "2", "3"]])))
    table = document.tables[0]
    table.cell(0, 0).merge(table.cell(0, 1))
    out = BytesIO()
    document.save(out)
    assert extract_text("docx", out.getvalue(), max_chars=100)[0] == "a b | c\n1 | 2 | 3"


def test_xlsx_first_sheets_as_compact_tables() -> None:
    data = make_xlsx({
        "BoQ": [
            ["Item", "Qty", "Unit price", None],
            ["Cement (bags)", 120, 9.5],
            [None, None, None],
            ["Steel bar", 3, 1200.0],
            ["Delivery", datetime(2026, 5, 4)],
        ],
        "Notes": [["Site in Valencia"]],
        "Empty": [],
        "Fourth": [["never read"]],
    })
    text, trimmed = extract_text("xlsx", data, max_chars=1000)
    assert text == (
        "## BoQ\nItem | Qty | Unit price\nCement (bags) | 120 | 9.5\nSteel bar | 3 | 1200\n"
        "Delivery | 2026-05-04\n\n## Notes\nSite in Valencia"
    )
    assert trimmed  # a fourth sheet was not read


def test_a_large_sheet_is_trimmed_to_the_limit() -> None:
    rows = [[f"item {n}", n, n * 1.5] for n in range(MAX_ROWS * 2)]
    text, trimmed = extract_text("xlsx", make_xlsx({"Big": rows}), max_chars=300)
    assert trimmed and len(text) <= 300 and text.startswith("## Big\nitem 0 | 0 | 0\n")


def test_csv_with_its_delimiter_and_encoding() -> None:
    data = "Producto;Cantidad\nCafé;12\n\nTé;3\n".encode("cp1252")
    assert extract_text("csv", data, max_chars=100) == (
        "Producto | Cantidad\nCafé | 12\nTé | 3", False
    )
    assert extract_text("csv", b"\xef\xbb\xbfa,b\n1,2\n", max_chars=100) == ("a | b\n1 | 2", False)


@pytest.mark.parametrize("kind", ["docx", "xlsx"])
def test_a_password_protected_office_file_is_refused(kind: str) -> None:
    plain = make_docx("secret") if kind == "docx" else make_xlsx({"S": [["secret"]]})
    with pytest.raises(DocumentLocked):
        extract_text(kind, encrypt_office(plain), max_chars=100)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["docx", "xlsx", "pdf"])
def test_a_broken_file_raises(kind: str) -> None:
    with pytest.raises(Exception):  # noqa: B017 - each library raises its own
        extract_text(kind, b"PK\x03\x04 not really a zip", max_chars=100)  # type: ignore[arg-type]


def test_a_zip_without_the_document_inside_raises() -> None:
    from io import BytesIO

    out = BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "not a document")
    with pytest.raises(Exception):  # noqa: B017
        extract_text("docx", out.getvalue(), max_chars=100)
