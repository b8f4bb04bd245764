"""What a question's form says about its answers (used to constrain Finish(...))."""

from __future__ import annotations

import pytest

from interlace.bench._scoring import answer_choices


@pytest.mark.parametrize(
    ("question", "choices"),
    [
        ("Which band was formed first, Wavves or Social Code?", ("Wavves", "Social Code")),
        ("Who is older, Ann, Bo or Cy?", ("Ann", "Bo", "Cy")),
        ("Are both Jim McBride and Neil Jordan American?", ("yes", "no")),
        ("Did Oasis form before Blur?", ("yes", "no")),
        ("Woman's Era and Naj are what kind of magazines?", None),
        ("How many people live in Rome?", None),
    ],
)
def test_choices_from_the_question_form(question: str, choices: tuple[str, ...] | None) -> None:
    assert answer_choices(question) == choices


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
