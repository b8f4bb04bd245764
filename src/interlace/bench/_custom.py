"""Your own benchmark: your questions, your tools, your few-shot examples, your scoring rule.

``interlace bench custom --questions FILE --tools MODULE:ATTR`` runs LLMCompiler and ReAct on
them through the same runner, store, resume and ``interlace eval`` as the built-in benchmarks;
``--questions FILE`` on a built-in benchmark keeps its tools and examples and swaps the questions.

Questions file: JSON (a list, or ``{"questions": [...]}``) or JSON lines (``.jsonl``), one
object per question: ``{"id": "q1", "question": "...", "answer": "..."}``. ``id`` defaults to
the 1-based position, ``answer`` to ``""``; other keys are kept in ``Question.meta``.

Examples file (optional): TOML or JSON with the keys ``planner``, ``joiner`` and ``react``, each
a text in the formats of docs/architecture.md ("Example formats"), examples separated by
``###``. A missing key means no examples for that role.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interlace._errors import DataError, UsageError
from interlace.bench._examples import Examples
from interlace.bench._latency import with_latency
from interlace.bench._registry import Question, QuestionId, RunOptions
from interlace.bench._scoring import is_correct, normalize

if TYPE_CHECKING:
    from interlace._tools import Tool
    from interlace.agents._result import Agent, RunResult
    from interlace.llm._base import LLM

__all__ = ["SCORERS", "CustomBenchmark", "load_examples", "load_questions"]

NO_EXAMPLES = Examples(planner="", joiner="", react="")

#: ``(prediction, answer) -> correct`` rules by name.
SCORERS: dict[str, Callable[[str, str], bool]] = {
    # the built-in benchmarks' rule: numbers within 10 %, else normalised text
    "match": lambda prediction, answer: is_correct(prediction, answer),
    # normalised text only: lowercase, punctuation and articles dropped
    "exact": lambda prediction, answer: bool(answer) and normalize(prediction) == normalize(answer),
    # the answer's one number equal to the label's within 1e-6 (relative)
    "numeric": lambda prediction, answer: is_correct(prediction, answer, tol=1e-6),
}


def load_questions(path: Path) -> list[Question]:
    """The questions of a JSON or JSON-lines file (see module docstring).

    Raises:
        DataError: the file is missing, not JSON, or an item lacks ``question``; two
            questions share an id.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read questions file {path}: {exc}") from exc
    try:
        if path.suffix == ".jsonl":
            items: Any = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            items = json.loads(text)
    except ValueError as exc:
        raise DataError(f"questions file {path} is not valid JSON: {exc}") from exc
    if isinstance(items, dict):
        items = items.get("questions")
    if not isinstance(items, list) or not items:
        raise DataError(f"{path}: expected a non-empty list of {{id, question, answer}} objects")
    questions = [_question(path, n, item) for n, item in enumerate(items, 1)]
    ids = [q.id for q in questions]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise DataError(f"{path}: question ids repeat: {', '.join(twice)}")
    return questions


def _question(path: Path, n: int, item: Any) -> Question:
    if not isinstance(item, dict) or not isinstance(item.get("question"), str):
        raise DataError(f"{path}: item {n} is not an object with a 'question' text: {item!r}")
    meta = {k: v for k, v in item.items() if k not in ("id", "question", "answer")}
    return Question(
        id=QuestionId(str(item.get("id", n))),
        text=item["question"],
        label=str(item.get("answer", "")),
        meta=meta,
    )


def load_examples(path: Path) -> Examples:
    """The few-shot examples of a TOML or JSON file (see module docstring).

    Raises:
        DataError: the file is missing or malformed, or a value is not a string.
    """
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode()) if path.suffix == ".toml" else json.loads(raw)
    except (OSError, ValueError) as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise DataError(f"cannot read examples file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected keys planner, joiner, react")
    unknown = sorted(set(data) - {"planner", "joiner", "react"})
    if unknown or not all(isinstance(v, str) for v in data.values()):
        raise DataError(f"{path}: keys must be planner, joiner, react with text values")
    return Examples(
        planner=data.get("planner", "").strip(),
        joiner=data.get("joiner", "").strip(),
        react=data.get("react", "").strip(),
    )


@dataclass(frozen=True, kw_only=True)
class CustomBenchmark:
    """A benchmark made of a questions file, tools, examples and a scoring rule.

    Attributes:
        name: registry-style name written to the store (``custom:<file stem>``).
        questions: the questions file.
        tools: the tools every agent gets (simulated latency is added per run).
        examples: few-shot examples (empty: none).
        scorer: ``(prediction, answer) -> correct``.
        methods: ``("compiler", "react")``.
    """

    name: str
    questions: Path
    tools: Sequence[Tool]
    examples: Examples = NO_EXAMPLES
    scorer: Callable[[str, str], bool] = SCORERS["match"]
    methods: tuple[str, ...] = ("compiler", "react")

    def load(self, data_dir: Path) -> list[Question]:
        """The questions file's questions (``data_dir`` is not used)."""
        return load_questions(self.questions)

    def make_agent(self, method: str, llm: LLM, options: RunOptions, question: Question) -> Agent:
        """An LLMCompiler (``"compiler"``) or ReAct (``"react"``) agent over the tools.

        Raises:
            UsageError: unknown method.
        """
        from interlace.bench._benchmarks import build_agent

        tools = list(self.tools)
        if options.tool_latency.kind != "real":
            tools = [t.wrapped(with_latency(t.fn, options.tool_latency)) for t in tools]
        agent = build_agent(method, llm, tools, self.examples, options, question)
        if agent is None:
            raise UsageError(f"{self.name}: unknown method {method!r}; use one of {self.methods}")
        return agent

    def score(self, question: Question, result: RunResult) -> bool:
        """``scorer(answer, label)``."""
        return bool(self.scorer(result.answer, question.label))
