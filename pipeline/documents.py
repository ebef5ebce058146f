"""The text of the documents leads send: PDF, Word (DOCX), Excel (XLSX) and CSV.

Leads send their requirements as a Word file and their bills of quantities as a spreadsheet as
often as a PDF. `extract_text` turns each into text the agent reads like a message, trimmed to
`max_chars` (`MEDIA_PDF_MAX_CHARS`) with a flag saying whether it was:

- PDF (pypdf): the text layer of the first `PDF_MAX_PAGES` pages; a scan has none.
- DOCX (python-docx): paragraphs and tables in document order, a table row as `a | b | c`.
- XLSX (openpyxl, read-only and cached values, so no formula is evaluated): the first
  `MAX_SHEETS` sheets, each under `## <sheet name>`, a row as `a | b | c`, empty rows dropped.
- CSV (the standard library): the delimiter sniffed, UTF-8 or else Windows-1252, rows as above.

Rows and columns read are capped (`MAX_ROWS`, `MAX_COLUMNS`), so a sheet that declares a million
empty rows costs nothing. A password-protected file raises `DocumentLocked`, which the agent
tells the lead about; anything else that cannot be read raises the library's error. Parsing is
CPU-bound and the input is hostile (a zip bomb is a valid XLSX): these are `pipeline.sandbox`
jobs, never run on the event loop.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Callable, Iterable
from datetime import date, datetime, time
from typing import Literal, TypeVar

from pipeline.sandbox import MediaRefused

__all__ = [
    "DocumentKind",
    "DocumentLocked",
    "document_kind",
    "extract_text",
]

DocumentKind = Literal["pdf", "docx", "xlsx", "csv"]
T = TypeVar("T")

PDF_MAX_PAGES = 50  # text beyond the limit is not needed; parsing every page of a book is slow
MAX_SHEETS = 3
MAX_ROWS = 2000
MAX_COLUMNS = 30

_BY_MIME: dict[str, DocumentKind] = {
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/csv": "csv",
    "application/csv": "csv",
    "text/comma-separated-values": "csv",
}
_BY_EXTENSION: dict[str, DocumentKind] = {
    ".pdf": "pdf", ".docx": "docx", ".xlsx": "xlsx", ".xlsm": "xlsx", ".csv": "csv",
}
# Encrypted Word and Excel files are not ZIP packages but OLE compound files holding an
# "EncryptionInfo" stream (its directory name is UTF-16).
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTION_INFO = "EncryptionInfo".encode("utf-16-le")


class DocumentLocked(MediaRefused):
    """The document is password-protected."""


def document_kind(mime_type: str | None, filename: str | None) -> DocumentKind | None:
    """Which reader a document needs, by its type or else its file name; None for others."""
    if mime_type in _BY_MIME:
        return _BY_MIME[mime_type]
    name = (filename or "").lower()
    for extension, kind in _BY_EXTENSION.items():
        if name.endswith(extension):
            return kind
    return None


def extract_text(kind: DocumentKind, data: bytes, *, max_chars: int) -> tuple[str, bool]:
    """The document's text, tidied and cut at `max_chars`; and whether it was trimmed.

    Raises `DocumentLocked`, or the parser's error for a broken file. A sandbox job: call it
    through `DecodeSandbox.run`."""
    if data.startswith(_OLE_MAGIC) and _ENCRYPTION_INFO in data:
        raise DocumentLocked()
    pieces, complete = _READERS[kind](data, max_chars)
    text = "\n\n".join(piece for piece in pieces if piece)
    return _trim(text, max_chars, trimmed=not complete)


def _trim(text: str, max_chars: int, *, trimmed: bool) -> tuple[str, bool]:
    if len(text) > max_chars:
        trimmed = True
        cut = text.rfind(" ", 0, max_chars)
        text = text[: cut if cut > max_chars * 0.8 else max_chars].rstrip()
    return text, trimmed


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t\f\v]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# Each reader returns its pieces of text (joined by blank lines) and whether it read everything;
# it stops once it holds more than `max_chars`.
_Reader = Callable[[bytes, int], tuple[list[str], bool]]


def _pdf(data: bytes, max_chars: int) -> tuple[list[str], bool]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted and not reader.decrypt(""):
        raise DocumentLocked()
    pieces: list[str] = []
    total = 0
    for page in reader.pages[:PDF_MAX_PAGES]:
        text = _tidy(page.extract_text() or "")
        if text:
            pieces.append(text)
            total += len(text) + 2
        if total > max_chars:
            return pieces, False
    return pieces, len(reader.pages) <= PDF_MAX_PAGES


def _docx(data: bytes, max_chars: int) -> tuple[list[str], bool]:
    from docx import Document
    from docx.table import Table

    document = Document(io.BytesIO(data))
    pieces: list[str] = []
    total = 0
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            text = "\n".join(_rows(
                [cell.text for cell in _unmerged(row.cells)] for row in block.rows
            ))
        else:
            text = _tidy(block.text)
        if text:
            pieces.append(text)
            total += len(text) + 2
        if total > max_chars:
            return pieces, False
    return pieces, True


def _unmerged(cells: Iterable[T]) -> list[T]:
    """A merged cell is repeated (the same object) once per grid column it spans; keep it once."""
    kept: list[T] = []
    for cell in cells:
        if not kept or cell is not kept[-1]:
            kept.append(cell)
    return kept


def _xlsx(data: bytes, max_chars: int) -> tuple[list[str], bool]:
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        pieces: list[str] = []
        total = 0
        complete = len(workbook.worksheets) <= MAX_SHEETS
        for sheet in workbook.worksheets[:MAX_SHEETS]:
            complete = complete and (sheet.max_row or 0) <= MAX_ROWS
            rows = sheet.iter_rows(max_row=MAX_ROWS, max_col=MAX_COLUMNS, values_only=True)
            lines = _rows(rows, budget=max_chars - total)
            if lines:
                text = "\n".join([f"## {sheet.title}", *lines])
                pieces.append(text)
                total += len(text) + 2
            if total > max_chars:
                return pieces, False
        return pieces, complete
    finally:
        workbook.close()


def _csv(data: bytes, max_chars: int) -> tuple[list[str], bool]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    text = text.replace("\x00", "")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            text[:4096], delimiters=",;\t|"
        )
    except csv.Error:
        dialect = csv.excel
    rows = list(itertools.islice(csv.reader(io.StringIO(text), dialect), MAX_ROWS + 1))
    lines = _rows((row[:MAX_COLUMNS] for row in rows[:MAX_ROWS]), budget=max_chars)
    return ["\n".join(lines)], len(rows) <= MAX_ROWS


def _rows(rows: Iterable[Iterable[object]], *, budget: int | None = None) -> list[str]:
    """Rows as `a | b | c` lines, empty cells at the end and empty rows dropped; stops once the
    lines hold more than `budget` characters."""
    lines: list[str] = []
    total = 0
    for row in rows:
        cells = [_cell(value) for value in row]
        while cells and not cells[-1]:
            cells.pop()
        if not any(cells):
            continue
        line = " | ".join(cells)
        lines.append(line)
        total += len(line) + 1
        if budget is not None and total > budget:
            break
    return lines


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.10g}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes").removesuffix(" 00:00")
    if isinstance(value, date | time):
        return value.isoformat()
    return " ".join(str(value).split())


_READERS: dict[DocumentKind, _Reader] = {"pdf": _pdf, "docx": _docx, "xlsx": _xlsx, "csv": _csv}
