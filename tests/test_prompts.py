"""Prompts keep the fixed part first, and the joiner/ReAct output parser reads actions whole."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from interlace.agents._parse import (
    fallback_answer,
    find_action,
    find_thought,
    parse_joiner_output,
)
from interlace.agents._prompts import (
    END_OF_PLAN,
    joiner_messages,
    joiner_system,
    planner_messages,
    planner_system,
    react_system,
)


@dataclass(frozen=True)
class FakeTool:
    name: str

    def render(self) -> str:
        return f"{self.name}(query: str) - looks {self.name} up"


TOOLS = [FakeTool("search"), FakeTool("lookup")]


def test_planner_prompt_lists_tools_rules_and_examples_in_system() -> None:
    system = planner_system(TOOLS, 'Question: q\n1. search("q")\n2. join()\n<END_OF_PLAN>')
    assert "search(query: str) - looks search up" in system
    assert "lookup(query: str)" in system
    assert "join()" in system and END_OF_PLAN in system and "$N" in system
    assert system.rstrip().endswith("<END_OF_PLAN>")  # examples come last in the system message


def test_planner_prefix_is_identical_across_questions_and_replans() -> None:
    system = planner_system(TOOLS)
    first = planner_messages(system, "Who?")
    other = planner_messages(system, "Where?")
    replan = planner_messages(
        system, "Who?", history="1. search('x')\nObservation: nothing", thought="need more"
    )
    assert first[0] == other[0] == replan[0]
    assert first[1].content.startswith("Question: Who?\n")
    assert first[1].content.endswith("then join().")  # the cue to start planning
    assert replan[1].content.startswith("Question: Who?\n")
    assert "Observation: nothing" in replan[1].content and "need more" in replan[1].content


def test_joiner_prompt_final_round_forbids_replanning() -> None:
    system = joiner_system("Question: a\nThought: b\nAction: Finish(c)")
    normal = joiner_messages(system, "Q?", "1. search('x')\nObservation: y", final=False)
    final = joiner_messages(system, "Q?", "1. search('x')\nObservation: y", final=True)
    assert "Replan(" in system and "Finish(" in system
    assert "Observation: y" in normal[1].content
    assert "No more tool calls" in final[1].content
    assert "No more tool calls" not in normal[1].content


def test_react_prompt_has_format_and_tools() -> None:
    system = react_system(TOOLS, "Question: z")
    assert "Observation:" in system and "Finish(" in system and "search(query: str)" in system


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("Thought: t\nAction: Finish(Star Wars (film))", "Star Wars (film)"),
        ('Action: Finish("Paris")\n', "Paris"),
        ("Thought: ok\nAction: Finish(1,234 (approx.))  ", "1,234 (approx.)"),
        ("Finish(yes)", "yes"),
        ("Action: Finish[Oslo]", "Oslo"),
        ("Action: Finish(cut off", "cut off"),
    ],
)
def test_finish_answer_is_taken_whole(text: str, answer: str) -> None:
    decision = parse_joiner_output(text)
    assert decision is not None and decision.kind == "finish"
    assert decision.text == answer


def test_replan_and_thought() -> None:
    decision = parse_joiner_output("Thought: not enough\nAction: Replan(need the year)")
    assert decision is not None
    assert (decision.kind, decision.thought, decision.text) == (
        "replan",
        "not enough",
        "need the year",
    )


@pytest.mark.parametrize(
    "text",
    [
        "Thought: hmm",
        "",
        "Action: Finish()",
        "Action: Dance(now)",
        # copied format placeholders are not answers
        "Action: Finish(answer)",
        "Action: Finish(<your best answer>)",
        "Action: Finish(...)",
        "Action: Finish(The answer)",
    ],
)
def test_unreadable_joiner_output_is_none(text: str) -> None:
    assert parse_joiner_output(text) is None


def test_fallback_answer() -> None:
    assert fallback_answer("Thought: x\nAnswer: 42") == "42"
    assert fallback_answer("Thought: it is Paris\n\n") == "it is Paris"
    assert fallback_answer("blah\nThe capital is Oslo.") == "The capital is Oslo."
    assert fallback_answer("  \n") == ""


def test_find_action_reads_tool_calls() -> None:
    action = find_action('Thought: look\nAction: search("Nolan (director)")\n')
    assert action is not None
    assert (action.name, action.argument) == ("search", '"Nolan (director)"')
    assert find_thought("Thought: look\nAction: x(1)") == "look"
