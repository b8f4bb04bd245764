"""What a question's form says about its answers (used to constrain Finish(...))."""

from __future__ import annotations

import pytest

from interlace.bench._scoring import answer_choices, is_correct


@pytest.mark.parametrize(
    ("question", "choices"),
    [
        ("Which band was formed first, Wavves or Social Code?", ("Wavves", "Social Code")),
        # the names end where the capitalised words do, commas and predicates included
        (
            "Which band, Letters to Cleo or Screaming Trees, had more members?",
            ("Letters to Cleo", "Screaming Trees"),
        ),
        ("Which film is older, Monsters, Inc. or Earth?", ("Monsters, Inc.", "Earth")),
        ("Which came out first, Dinosaur or McFarland, USA", ("Dinosaur", "McFarland, USA")),
        (
            "Which case came first, Craig v. Boren or United States v. Paramount Pictures, Inc.?",
            ("Craig v. Boren", "United States v. Paramount Pictures, Inc."),
        ),
        # a colon, no separator at all, or a yes/no opening that names two alternatives
        (
            "Which film was released first: Sacred Planet or Oz the Great and Powerful?",
            ("Sacred Planet", "Oz the Great and Powerful"),
        ),
        ("Which Genus has more species Eucryphia or Lepidozamia ?", ("Eucryphia", "Lepidozamia")),
        (
            "Was Hoobastank or Fountains of Wayne formed first?",
            ("Hoobastank", "Fountains of Wayne"),
        ),
        ("Is the Marsilea or the Brabejum the genus of more species?", ("Marsilea", "Brabejum")),
        # "either"/"both" keep a yes/no question yes/no
        ("Are either The Pogues or Pillar an electronic dance music group?", ("yes", "no")),
        # a yes/no opening with alternatives that are not names: any answer
        ("Was it published or broadcast first?", None),
        ("Are both Jim McBride and Neil Jordan American?", ("yes", "no")),
        ("Did Oasis form before Blur?", ("yes", "no")),
        ("Woman's Era and Naj are what kind of magazines?", None),
        ("How many people live in Rome?", None),
    ],
)
def test_choices_from_the_question_form(question: str, choices: tuple[str, ...] | None) -> None:
    assert answer_choices(question) == choices


@pytest.mark.parametrize(
    ("prediction", "label", "options", "correct"),
    [
        # the label gives the full name of the option the question names
        (
            "Arthur Conan Doyle",
            "Arthur Ignatius Conan Doyle",
            ("Arthur Conan Doyle", "Penelope Lively"),
            True,
        ),
        (
            "Penelope Lively",
            "Arthur Ignatius Conan Doyle",
            ("Arthur Conan Doyle", "Penelope Lively"),
            False,
        ),
        (
            "712 Fifth Avenue",
            "712 5th Avenue",
            ("712 Fifth Avenue", "Manhattan Life Building"),
            True,
        ),
        ("Emilio Sánchez", "Sanchez", ("Piet Norval", "Emilio Sánchez"), True),
        # a tie between options designates neither: only exact match counts
        ("John Smith", "John", ("John Smith", "John Doe"), False),
        ("John", "John", ("John Smith", "John Doe"), True),
        # an answer naming both options is no answer
        (
            "Arthur Conan Doyle or Penelope Lively",
            "Arthur Ignatius Conan Doyle",
            ("Arthur Conan Doyle", "Penelope Lively"),
            False,
        ),
    ],
)
def test_an_option_answer_is_scored_by_the_option_the_label_designates(
    prediction: str, label: str, options: tuple[str, ...], correct: bool
) -> None:
    assert is_correct(prediction, label, options=options) is correct


def test_hotpotqa_scores_with_the_options_its_question_names() -> None:
    from interlace.bench._benchmarks import hotpotqa as bench
    from interlace.bench._registry import Question, QuestionId

    q = Question(
        id=QuestionId("q"),
        text="Who was born first, Arthur Conan Doyle or Penelope Lively?",
        label="Arthur Ignatius Conan Doyle",
    )
    assert bench.score_answer(q, "Arthur Conan Doyle")
    assert not bench.score_answer(q, "Penelope Lively")
    yes_no = Question(id=QuestionId("y"), text="Are Oasis and Blur both bands?", label="yes")
    assert bench.score_answer(yes_no, "Yes") and not bench.score_answer(yes_no, "no")


def test_options_win() -> None:
    assert answer_choices("Which movie is like Heat?", ["Ronin", "Up"]) == ("Ronin", "Up")


def test_every_benchmark_builds_its_agents_with_the_run_settings() -> None:
    from pathlib import Path

    from interlace.bench._benchmarks import build_agent
    from interlace.bench._examples import HOTPOTQA
    from interlace.bench._registry import Question, RunOptions
    from interlace.testing import ScriptedLLM

    question = Question(id="q", text="Did Oasis form before Blur?", label="no")
    options = RunOptions(data_dir=Path("."), observation_tokens=7)
    for method in ("compiler", "react"):
        agent = build_agent(method, ScriptedLLM([]), [], HOTPOTQA, options, question)
        assert agent is not None
        assert agent.observation_tokens == 7 and agent.answer_choices == ("yes", "no")  # type: ignore[attr-defined]
    off = RunOptions(data_dir=Path("."), answer_choices=False)
    agent = build_agent("react", ScriptedLLM([]), [], HOTPOTQA, off, question)
    assert agent is not None and agent.answer_choices is None  # type: ignore[attr-defined]
    assert build_agent("magic", ScriptedLLM([]), [], HOTPOTQA, off, question) is None


@pytest.mark.anyio
async def test_the_joiner_thought_is_optional_only_when_the_answer_is_a_choice() -> None:
    from interlace import LLMCompiler, tool
    from interlace._grammars import joiner_grammar
    from interlace.testing import ScriptedLLM

    @tool
    def search(query: str) -> str:
        """Look a topic up.

        Args:
            query: the topic.
        """
        return f"{query} formed in 1991."

    plan = '1. search("Oasis")\n2. join()<END_OF_PLAN>'
    for choices, thought in ((("yes", "no"), False), (None, True)):
        llm = ScriptedLLM([plan, "Action: Finish(no)"])
        result = await LLMCompiler(llm, [search], answer_choices=choices).run("Did Oasis form?")
        assert result.answer == "no" and not result.errors
        joiner = llm.requests[-1].config.grammar
        assert joiner == joiner_grammar(final=False, thought=thought, choices=choices)


def test_eval_rescore_judges_stored_answers_by_this_versions_rule(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    from interlace.bench._eval import rescore_records
    from interlace.cli import app

    def record(method: str, prediction: str, correct: bool, bench: str = "hotpotqa") -> dict:  # type: ignore[type-arg]
        return {
            "benchmark": bench,
            "question_id": "q1",
            "question": "Who was born first, Arthur Conan Doyle or Penelope Lively?",
            "label": "Arthur Ignatius Conan Doyle",
            "prediction": prediction,
            "correct": correct,
            "method": method,
            "latency": 1.0,
            "config": {"benchmark": bench},
        }

    # stored by an older rule: the short name was judged wrong
    stored = [
        record("compiler", "Arthur Conan Doyle", False),
        record("react", "Penelope Lively", True),
    ]
    fresh = rescore_records(stored)
    assert [r["correct"] for r in fresh] == [True, False]
    assert stored[0]["correct"] is False  # copies, not changed in place
    # a benchmark whose verdict is not the answer's keeps the stored one
    assert rescore_records([record("sync", "x", True, bench="bfcl")])[0]["correct"] is True

    store = tmp_path / "old.jsonl"
    store.write_text("".join(json.dumps(r) + "\n" for r in stored))
    as_stored = json.loads(CliRunner().invoke(app, ["eval", str(store), "--json"]).stdout)
    rescored = json.loads(
        CliRunner().invoke(app, ["eval", str(store), "--json", "--rescore"]).stdout
    )

    def accuracy(report: dict, method: str) -> float:  # type: ignore[type-arg]
        return next(s["accuracy"] for s in report["summaries"] if s["method"] == method)

    assert (accuracy(as_stored, "compiler"), accuracy(as_stored, "react")) == (0.0, 1.0)
    assert (accuracy(rescored, "compiler"), accuracy(rescored, "react")) == (1.0, 0.0)
