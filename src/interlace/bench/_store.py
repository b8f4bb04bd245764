"""The results store: JSONL, one record per (question, method, configuration), append-only.

Each record is written as one line with a single ``write`` on an ``O_APPEND`` descriptor, then
flushed and fsync'ed, so a killed run loses at most the line being written. On open, a partial
last line (no trailing newline) is cut off, so a resumed run never builds on half a record.

Record fields: ``benchmark``, ``question_id``, ``question``, ``label``, ``prediction``,
``correct``, ``method``, ``latency`` (seconds), ``llm_calls``, ``tokens_in``, ``tokens_out``,
``cost_usd``, ``tool_calls``, ``rounds``, ``errors`` (list of strings), ``config`` (benchmark,
method, llm, model, tool_latency, stream, search, git_commit, interlace_version), ``trace``
(the spans, :func:`interlace.trace.trace_to_dict` format), ``details``, ``time`` (Unix seconds).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from interlace._errors import DataError

RECORD_FIELDS = (
    "benchmark",
    "question_id",
    "question",
    "label",
    "prediction",
    "correct",
    "method",
    "latency",
    "llm_calls",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "tool_calls",
    "rounds",
    "errors",
    "config",
    "trace",
)
_VARIANT_KEYS = ("llm", "tool_latency", "stream", "search")


def variant(config: Mapping[str, Any]) -> str:
    """The part of a run configuration that makes two runs of one method not comparable.

    ``llm``, ``tool_latency``, ``stream`` and ``search``, joined with ``|``.
    """
    return "|".join(str(config.get(k)) for k in _VARIANT_KEYS)


def record_key(record: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """``(benchmark, method, variant, question_id)``: what resume uses to skip done work."""
    config = record.get("config") or {}
    return (
        str(record.get("benchmark")),
        str(record.get("method")),
        variant(config),
        str(record.get("question_id")),
    )


def _repair(path: Path) -> None:
    """Cut a partial last line (a record whose write was interrupted)."""
    with path.open("rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        # Walk back to the last newline.
        pos, chunk = size, 4096
        while pos > 0:
            start = max(0, pos - chunk)
            fh.seek(start)
            block = fh.read(pos - start)
            idx = block.rfind(b"\n")
            if idx >= 0:
                fh.truncate(start + idx + 1)
                return
            pos = start
        fh.truncate(0)


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Every complete record in ``path`` (unparsable lines, e.g. a partial last one, skipped).

    Raises:
        DataError: the file cannot be read.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read store {path}: {exc}") from exc
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            yield item


class Store:
    """An append-only JSONL results file.

    Args:
        path: the file; created (with its folder) if missing, repaired if its last line is
            partial.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            _repair(path)
        else:
            path.touch()
        self._done = {record_key(r) for r in read_records(path)}

    def __contains__(self, key: object) -> bool:
        return key in self._done

    def __len__(self) -> int:
        return len(self._done)

    def records(self) -> list[dict[str, Any]]:
        """Every record in the file, in order."""
        return list(read_records(self.path))

    def append(self, record: Mapping[str, Any]) -> None:
        """Write ``record`` as one line, durably (write + fsync)."""
        line = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, line)
            if written != len(line):  # pragma: no cover - short write on a full disk
                raise DataError(f"short write to {self.path}: {written} of {len(line)} bytes")
            os.fsync(fd)
        finally:
            os.close(fd)
        self._done.add(record_key(record))

    def extend(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Append several records."""
        for record in records:
            self.append(record)
