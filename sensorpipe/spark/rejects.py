"""The spec's reject cascade as Spark column expressions, the one both Spark engines use.

The first reason that applies (DESIGN.md): malformed_row, missing_required, invalid_value.
Each engine says what malformed means for its input (split CSV fields in jobs/parse.py, a
JSON object in streaming/source.py) and which columns hold a field's text and its checked
value; duplicate_key is decided later, over rows (batch) or in the per-device state (stream).
"""

from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql import Column as C
from pyspark.sql import functions as F

from sensorpipe.core.rows import INVALID, MALFORMED, MISSING
from sensorpipe.core.spec import Column


def any_of(conds: Iterable[C]) -> C:
    """True when one of the conditions is (false for none)."""
    out = F.lit(False)
    for c in conds:
        out = out | c
    return out


def missing_required(texts: Iterable[tuple[Column, C]]) -> C:
    """A required column's text (stripped, a null token made null) is null.

    `texts`: (spec column, its text) pairs; the columns that are not required are skipped.
    """
    return any_of(text.isNull() for col, text in texts if col.required)


def invalid_value(values: Iterable[tuple[Column, C, C]]) -> C:
    """A column that rejects invalid values has a text but no checked value (it does not
    parse as its type, is not finite, or is outside its range).

    `values`: (spec column, its text, its checked value) triples; the other columns are skipped.
    """
    return any_of(text.isNotNull() & value.isNull() for col, text, value in values if col.rejects_invalid)


def reject_reason(malformed: C, missing: C, invalid: C) -> C:
    """The first reason that applies, in the spec's order; null for a row that passes."""
    return F.when(malformed, MALFORMED).when(missing, MISSING).when(invalid, INVALID)
