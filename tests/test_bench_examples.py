"""No benchmark question may appear in its own few-shot examples (checked on the whole files)."""

from __future__ import annotations

import json
import re

import pytest

from _bench_helpers import SHARED_DATA
from interlace.bench._examples import HOTPOTQA, MOVIE, PARALLELQA, Examples
from interlace.bench._scoring import normalize

FILES = {
    "hotpotqa": ("llmcompiler/hotpotqa_comparison.json", HOTPOTQA),
    "movie": ("llmcompiler/movie_recommendations_formatted.json", MOVIE),
    "parallelqa": ("llmcompiler/parallelqa_dataset.json", PARALLELQA),
}


def _questions(rel: str) -> list[str]:
    return [row["question"] for row in json.loads((SHARED_DATA / rel).read_text())]


def _example_blocks(examples: Examples) -> list[str]:
    return [
        b for text in (examples.planner, examples.joiner, examples.react) for b in text.split("###")
    ]


def _example_questions(examples: Examples) -> list[str]:
    out = []
    for block in _example_blocks(examples):
        body = block.strip().removeprefix("Question:").strip()
        lines = []
        for line in body.splitlines():
            if re.match(r"^(\d+\.|Thought:|Action:|Observation( \d+)?:)", line):
                break
            lines.append(line)
        out.append("\n".join(lines))
    return out


def _entities(block: str) -> set[str]:
    return {m.lower() for m in re.findall(r'search\("([^"]+)"\)', block)}


@pytest.mark.parametrize("name", sorted(FILES))
def test_no_dataset_question_is_an_example(name: str) -> None:
    rel, examples = FILES[name]
    dataset = {normalize(q) for q in _questions(rel)}
    for question in _example_questions(examples):
        assert question and normalize(question) not in dataset


@pytest.mark.parametrize("name", sorted(FILES))
def test_no_dataset_question_has_the_examples_entities(name: str) -> None:
    """Entities of an example question = every entity searched for it in any example."""
    rel, examples = FILES[name]
    by_question: dict[str, set[str]] = {}
    for block, question in zip(
        _example_blocks(examples), _example_questions(examples), strict=True
    ):
        by_question.setdefault(question, set()).update(_entities(block))
    questions = [q.lower() for q in _questions(rel)]
    for example, entities in by_question.items():
        assert len(entities) >= 2, example
        for q in questions:
            assert not all(e in q for e in entities), (entities, q)


def test_examples_use_the_documented_formats() -> None:
    for _, examples in FILES.values():
        for block in examples.planner.split("###"):
            assert block.strip().startswith("Question:")
            assert "join()" in block and block.strip().endswith("<END_OF_PLAN>")
        for block in examples.joiner.split("###") + examples.react.split("###"):
            assert re.search(r"Action: (Finish|Replan)\(.+\)", block)
        assert "Observation:" in examples.react


def test_examples_are_short() -> None:
    # ~4 characters per token; keep every prompt's examples below ~450 tokens.
    for _, examples in FILES.values():
        for text in (examples.planner, examples.joiner, examples.react):
            assert len(text) < 1800, len(text)
