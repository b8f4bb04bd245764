"""Named subsets: the ParallelQA ``offline`` subset really is answerable from the offline store."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from rapidfuzz import fuzz
from typer.testing import CliRunner

from interlace._errors import UsageError
from interlace.bench._benchmarks import parallelqa
from interlace.bench._data import load_parallelqa
from interlace.bench._registry import Question, QuestionId
from interlace.bench._search import EvidenceStore, offline_store
from interlace.bench._subsets import (
    PARALLELQA_FACTS,
    PARALLELQA_OFFLINE,
    SUBSETS,
    select_subset,
    subset_names,
)
from interlace.cli import app
from interlace.testing import ScriptedLLM


@pytest.fixture(scope="module")
def data() -> Path:
    root = Path(os.environ.get("INTERLACE_DATA_DIR") or "/work/shared/data")
    needed = ("wiki/summaries_en-us.json", "llmcompiler/parallelqa_dataset.json")
    missing = [n for n in needed if not (root / n).exists()]
    if missing:
        pytest.fail(
            f"benchmark data missing under {root}: {', '.join(missing)}; set INTERLACE_DATA_DIR "
            "to a data directory or run `interlace data fetch all`"
        )
    return root


@pytest.fixture(scope="module")
def store(data: Path) -> EvidenceStore:
    return offline_store(data, parallelqa.sources)  # exactly what the benchmark's tool uses


@pytest.fixture(scope="module")
def questions(data: Path) -> dict[str, Question]:
    return {q.id: q for q in load_parallelqa(data)}


def test_every_offline_entity_resolves_to_a_page_with_its_figure(
    store: EvidenceStore, questions: dict[str, Question]
) -> None:
    for qid, names in PARALLELQA_OFFLINE.items():
        text = questions[qid].text
        for name in names:
            fact = PARALLELQA_FACTS[name]
            # the entity is one the question asks about (Q87 writes "Conga River")
            assert fuzz.partial_ratio(name.lower(), text.lower()) >= 90, (qid, name)
            page = store.resolve(name)
            assert page is not None and page.title == fact.title, (qid, name, page)
            returned = store.search(name)  # the tool's default sentence count
            assert re.search(r"\d", returned), (qid, name)
            # extracts write numbers with no-break spaces ("900,000\xa0km2")
            assert fact.figure in " ".join(returned.split()), (qid, name, returned)


def test_excluded_questions_lack_a_fact(store: EvidenceStore) -> None:
    # entities of questions left out: no page with the needed number comes back
    for name in ("Puerto Rico Trench", "Statue of Unity", "CN Tower", "Mount Elbert"):
        page = store.resolve(name)
        assert page is None or title_words(page.title) != title_words(name), (name, page)
    assert not re.search(r"\d", store.search("Pacific Ocean"))


def title_words(title: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", title.lower()))


def test_select_subset(questions: dict[str, Question]) -> None:
    every = list(questions.values())
    assert select_subset("parallelqa", every, "all") == every
    chosen = select_subset("parallelqa", every, "offline")
    assert [q.id for q in chosen] == list(PARALLELQA_OFFLINE)  # dataset order
    assert len(chosen) == 33 and all(i in questions for i in SUBSETS["parallelqa"]["offline"])
    assert subset_names("parallelqa") == ["all", "offline"]
    with pytest.raises(UsageError, match="known: all, offline"):
        select_subset("parallelqa", every, "nosuch")
    with pytest.raises(UsageError, match=r"known: all$"):
        select_subset("hotpotqa", every, "offline")


def test_cli_bench_subset(data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reply = "Thought: done.\nAction: Finish(1)"
    monkeypatch.setattr(
        "interlace.cli._options.load_llm",
        lambda spec, threads=None: ScriptedLLM(lambda messages: reply),
    )
    out = tmp_path / "pqa.jsonl"
    args = ["bench", "parallelqa", "--methods", "react", "--data-dir", str(data)]
    result = CliRunner().invoke(
        app, [*args, "--subset", "offline", "--limit", "3", "--store", str(out)]
    )
    assert result.exit_code == 0, result.output
    ids = [json.loads(line)["question_id"] for line in out.read_text().splitlines()]
    assert ids == [QuestionId("3"), QuestionId("4"), QuestionId("5")]
    bad = CliRunner().invoke(app, [*args, "--subset", "nosuch", "--store", str(out)])
    assert bad.exit_code == 2 and "no subset 'nosuch'" in bad.output  # misuse
