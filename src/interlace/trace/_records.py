"""Reading traces back out of a benchmark store file (JSON lines, one record per run).

The store (``interlace.bench``) writes one JSON object per (question, method) with at least
``"question_id"``, ``"method"`` and ``"trace"`` (the :func:`interlace.trace.trace_to_dict` dict,
or ``null`` when the run produced none). This module is the only place that knows those keys.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interlace._errors import UsageError
from interlace.trace._serial import trace_from_dict
from interlace.trace._spans import Trace


@dataclass(frozen=True, kw_only=True)
class TraceRecord:
    """One run's trace from a store file.

    Attributes:
        question_id: the benchmark question's id.
        method: the method that answered it (``"compiler"``, ``"react"``, ...).
        trace: its trace (origin 0, seconds).
        record: the whole store record, for anything else it holds.
    """

    question_id: str
    method: str
    trace: Trace
    record: Mapping[str, Any]


def record_to_trace(record: Mapping[str, Any]) -> TraceRecord | None:
    """The trace of one store record, or ``None`` when the record has none.

    Raises:
        UsageError: the record lacks ``question_id``/``method`` or its trace is malformed.
    """
    trace = record.get("trace")
    if not trace:
        return None
    try:
        question_id, method = str(record["question_id"]), str(record["method"])
    except KeyError as exc:
        raise UsageError(f"store record has no {exc.args[0]!r} key: {dict(record)!r:.200}") from exc
    return TraceRecord(
        question_id=question_id, method=method, trace=trace_from_dict(trace), record=record
    )


def iter_trace_records(lines: Iterable[str]) -> list[TraceRecord]:
    """Every record with a trace, in file order; blank lines and trace-less records are skipped.

    Raises:
        UsageError: a line is not a JSON object, or a record is malformed (the message names
            the line number).
    """
    out: list[TraceRecord] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise UsageError("not a JSON object")
            found = record_to_trace(record)
        except (json.JSONDecodeError, UsageError) as exc:
            raise UsageError(f"line {number}: {exc}") from exc
        if found is not None:
            out.append(found)
    return out


def read_trace_records(path: str | Path) -> list[TraceRecord]:
    """:func:`iter_trace_records` over a store file.

    Raises:
        UsageError: the file does not exist or a record is malformed.
    """
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"no such store file: {file}")
    with file.open(encoding="utf-8") as handle:
        return iter_trace_records(handle)
