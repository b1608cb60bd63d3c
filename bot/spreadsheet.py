"""CSV files organizers open in a spreadsheet program: safe cells, and a byte-order mark for Excel."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

# Spreadsheet programs run cells that start with these as formulas.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: str) -> str:
    """Text a member typed, made inert: a leading quote keeps "=HYPERLINK(...)" a string."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def csv_bytes(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers)
    writer.writerows(rows)
    # A byte-order mark lets Excel open the names (accents, non-Latin scripts) correctly.
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
