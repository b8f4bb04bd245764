"""End-to-end: `interlace bench hotpotqa` with the real (tiny) local model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from _bench_helpers import SHARED_DATA
from interlace.bench._store import RECORD_FIELDS
from interlace.cli import app

MODEL = Path.home() / ".cache/interlace/models/smollm2-135m.gguf"


@pytest.mark.slow
def test_bench_hotpotqa_one_question_with_local_model(tmp_path: Path) -> None:
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `interlace models fetch smollm2-135m` first")
    store = tmp_path / "slow.jsonl"
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "hotpotqa",
            "--limit",
            "1",
            "--methods",
            "compiler,react",
            "--llm",
            "local:smollm2-135m",
            "--data-dir",
            str(SHARED_DATA),
            "--store",
            str(store),
        ],
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in store.read_text().splitlines()]
    assert sorted(r["method"] for r in records) == ["compiler", "react"]
    for record in records:
        assert set(RECORD_FIELDS) <= set(record)
        assert record["config"]["llm"] == "local:smollm2-135m"
        assert record["llm_calls"] >= 1 and record["tokens_in"] > 0 and record["latency"] > 0
        assert record["trace"]["spans"]
