"""Reading result stores for ``interlace eval``: refuse files that are not stores."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from interlace._errors import DataError, UsageError
from interlace.bench._eval import method_label
from interlace.bench._store import read_records

DEFAULT_BASELINE = "react"


def read_stores(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Every record of the store files ``paths``, in order.

    Raises:
        DataError: a file cannot be read, is empty, or holds no result records (JSON lines
            with a ``method`` and a ``question_id``): it is not a store ``interlace bench``
            wrote.
    """
    records: list[dict[str, Any]] = []
    for path in paths:
        if path.is_dir():
            raise DataError(f"{path} is a directory, not a result store (a .jsonl file)")
        rows = [r for r in read_records(path) if "method" in r and "question_id" in r]
        if not rows:
            what = "is empty" if path.stat().st_size == 0 else "holds no result records"
            raise DataError(f"{path} {what}: not a result store written by `interlace bench`")
        records += rows
    return records


def resolve_baseline(
    records: Sequence[dict[str, Any]], baseline: str | None, split: Sequence[str] = ()
) -> str:
    """The method the others are compared with: ``baseline``, else ``react``.

    Args:
        records: the stores' records.
        baseline: a method label (with ``split``, e.g. ``compiler@7f95125``), or ``None``.
        split: the configuration keys the labels carry
            (:func:`~interlace.bench._eval.method_label`).

    Raises:
        UsageError: ``baseline`` was given but no record has that method or method label
            (with ``split``, either names a baseline: ``react`` or ``react@7f95125``).
    """
    if baseline is None:
        return DEFAULT_BASELINE
    methods = sorted({method_label(r, s) for r in records for s in {(), tuple(split)}})
    if baseline not in methods:
        raise UsageError(
            f"--baseline {baseline!r} is not a method of these stores; they have: "
            f"{', '.join(methods)}"
        )
    return baseline
