"""BFCL data: the ``bfcl-eval`` wheel, read with :mod:`zipfile` (never installed).

The Berkeley Function Calling Leaderboard ships its questions as JSON Lines in the wheel
``bfcl-eval==2026.3.23`` (Apache-2.0): ``bfcl_eval/data/BFCL_v4_<category>.json`` with ground
truth in ``bfcl_eval/data/possible_answer/``. The wheel is cached as ``<data dir>/bfcl/<wheel>``.

Categories: ``parallel`` (one function, several calls), ``parallel_multiple`` (several functions,
several calls), ``multi_turn_base`` (the first turn of each multi-turn entry, on its executable
backends) and ``multi_step`` (AsyncLM's multi-step parallel set: the first turns of three
``multi_turn_base`` entries whose backend classes do not overlap, asked together).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from interlace._errors import ChecksumError, DatasetNotFoundError
from interlace.bench._registry import Question, QuestionId

REQUIREMENT = "bfcl-eval==2026.3.23"
WHEEL = "bfcl_eval-2026.3.23-py3-none-any.whl"
SHA256 = "3bb6dfa5f0c68ad403c9ec50b00db2bb3b4cc9b38ab1ff33f48fe30d853d3a0a"
CATEGORIES = ("parallel", "parallel_multiple", "multi_turn_base", "multi_step")
MULTI_TURN = ("multi_turn_base", "multi_step")  # scored on executable backends
_DATA = "bfcl_eval/data/"


def wheel_path(root: Path) -> Path:
    """Where the wheel lives inside data directory ``root``."""
    return root / "bfcl" / WHEEL


def fetch_wheel(root: Path, pip_download: Callable[[str], bytes] | None = None) -> Path:
    """Download the wheel with ``pip download --no-deps`` (if absent) and verify its sha256
    (a cached wheel is verified too).

    Raises:
        NetworkUnavailableError: pip could not download it.
        ChecksumError: the bytes are not the published wheel.
    """
    target = wheel_path(root)
    if target.exists():
        verify_wheel(target)
        return target
    if pip_download is None:
        from interlace.bench._data import _pip_download

        pip_download = _pip_download
    data = pip_download(REQUIREMENT)
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        raise ChecksumError(f"{REQUIREMENT}: sha256 {digest}, expected {SHA256}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target


_VERIFIED: set[tuple[str, int, int]] = set()  # (path, size, mtime_ns) whose sha256 matched


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes (hex), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def verify_wheel(path: Path) -> None:
    """Check the cached wheel's sha256 against the published one (once per version of the file
    in a process: a file whose size or mtime changed is hashed again).

    Raises:
        ChecksumError: the bytes are not the published wheel (corrupt or replaced).
    """
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _VERIFIED:
        return
    digest = sha256_file(path)
    if digest != SHA256:
        raise ChecksumError(
            f"{path}: sha256 {digest}, expected {SHA256} (corrupt or replaced); delete it and "
            "fetch it again with `interlace data fetch bfcl`"
        )
    _VERIFIED.add(key)


def open_wheel(root: Path) -> zipfile.ZipFile:
    """The cached wheel as a zip archive, its sha256 verified.

    Raises:
        DatasetNotFoundError: not downloaded yet (the message says how to fetch it).
        ChecksumError: the file is not the published wheel.
    """
    path = wheel_path(root)
    if not path.exists():
        raise DatasetNotFoundError(
            f"{path} is missing; fetch it with `interlace data fetch bfcl` or "
            f"`pip download --no-deps --dest {path.parent} {REQUIREMENT}`"
        )
    verify_wheel(path)
    return zipfile.ZipFile(path)


def read_jsonl(archive: zipfile.ZipFile, member: str) -> list[dict[str, Any]]:
    """Read one JSON Lines member of the wheel."""
    text = archive.read(member).decode("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _category(archive: zipfile.ZipFile, category: str) -> list[Question]:
    entries = read_jsonl(archive, f"{_DATA}BFCL_v4_{category}.json")
    answers = {
        a["id"]: a["ground_truth"]
        for a in read_jsonl(archive, f"{_DATA}possible_answer/BFCL_v4_{category}.json")
    }
    questions = []
    for entry in entries:
        turn = entry["question"][0]
        text = "\n".join(m["content"] for m in turn if m["role"] == "user")
        questions.append(
            Question(
                id=QuestionId(entry["id"]),
                text=text,
                label=json.dumps(answers[entry["id"]]),
                meta={
                    "category": category,
                    "functions": entry["function"],
                    "ground_truth": answers[entry["id"]],
                },
            )
        )
    return questions


def multi_step_groups(entries: list[dict[str, Any]], size: int = 3) -> list[list[dict[str, Any]]]:
    """Group ``multi_turn_base`` entries ``size`` at a time, greedily in file order, so that no
    two entries of a group use the same backend class (their states stay independent)."""
    groups: list[list[dict[str, Any]]] = []
    left = list(entries)
    while left:
        group = [left.pop(0)]
        used = set(group[0]["involved_classes"])
        for entry in list(left):
            if len(group) == size:
                break
            if used.isdisjoint(entry["involved_classes"]):
                group.append(entry)
                used.update(entry["involved_classes"])
                left.remove(entry)
        if len(group) == size:
            groups.append(group)
    return groups


def _multi_turn(archive: zipfile.ZipFile, category: str) -> list[Question]:
    """``multi_turn_base`` (each entry's first turn) or ``multi_step`` (three at a time)."""
    entries = read_jsonl(archive, f"{_DATA}BFCL_v4_multi_turn_base.json")
    answers = {
        a["id"]: a["ground_truth"]
        for a in read_jsonl(archive, f"{_DATA}possible_answer/BFCL_v4_multi_turn_base.json")
    }
    questions = []
    groups = multi_step_groups(entries) if category == "multi_step" else [[e] for e in entries]
    for group in groups:
        parts = [
            " ".join(m["content"] for m in e["question"][0] if m["role"] == "user") for e in group
        ]
        ids = [e["id"] for e in group]
        if category == "multi_step":
            qid = "multi_step_" + "+".join(i.rsplit("_", 1)[-1] for i in ids)
            text = "\n".join(f"Task {n}: {p}" for n, p in enumerate(parts, 1))
        else:
            qid, text = ids[0], parts[0]
        questions.append(
            Question(
                id=QuestionId(qid),
                text=text,
                label=json.dumps([answers[i][0] for i in ids]),
                meta={
                    "category": category,
                    "entries": [
                        {
                            "id": e["id"],
                            "initial_config": e.get("initial_config", {}),
                            "involved_classes": e["involved_classes"],
                            "excluded_function": e.get("excluded_function", []),
                            "ground_truth": answers[e["id"]][0],
                        }
                        for e in group
                    ],
                },
            )
        )
    return questions


def load(root: Path, categories: tuple[str, ...] = CATEGORIES) -> list[Question]:
    """Questions of ``categories``, in category order then file order.

    Raises:
        DatasetNotFoundError: the wheel is not in ``root``.
    """
    with open_wheel(root) as archive:
        questions: list[Question] = []
        for category in categories:
            if category in MULTI_TURN:
                questions += _multi_turn(archive, category)
            else:
                questions += _category(archive, category)
    return questions
