"""PlanParser: the line rules, streaming behaviour and chunking invariance (hypothesis)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interlace._errors import PlanParseError
from interlace._plan import Ref, TaskId, Template
from interlace._planner import (
    EndOfPlan,
    JoinParsed,
    LineError,
    PlanEvent,
    PlanParser,
    TaskParsed,
    parse_plan,
)

PLAN = """Thought: I need both populations.
1. search("Paris population")
2. search(query="Rome population")
3. math("ratio of $1 to ${2}", [$1, {"b": $2}], scale=-1.5)
Thought: Done.
4. join()
<END_OF_PLAN>"""


def parse_all(text: str) -> list[PlanEvent]:
    parser = PlanParser()
    return [*parser.feed(text), *parser.close()]


def tasks(events: list[PlanEvent]) -> list[TaskParsed]:
    return [e for e in events if isinstance(e, TaskParsed)]


def errors(events: list[PlanEvent]) -> list[PlanParseError]:
    return [e.error for e in events if isinstance(e, LineError)]


def test_the_published_format() -> None:
    events = parse_all(PLAN)
    assert [type(e) for e in events] == [TaskParsed, TaskParsed, TaskParsed, JoinParsed, EndOfPlan]
    t1, t2, t3 = (e.task for e in tasks(events))
    assert (t1.id, t1.tool, t1.args, t1.thought) == (
        1,
        "search",
        ("Paris population",),
        "I need both populations.",
    )
    assert t2.kwargs == {"query": "Rome population"} and t2.thought is None
    assert t3.args == (
        Template(("ratio of ", Ref(TaskId(1)), " to ", Ref(TaskId(2)))),
        [Ref(TaskId(1)), {"b": Ref(TaskId(2))}],
    )
    assert t3.kwargs == {"scale": -1.5}
    assert t3.deps == {1, 2}
    assert events[3] == JoinParsed(thought="Done.", task_id=TaskId(4))


def test_a_task_is_emitted_exactly_when_its_line_completes() -> None:
    parser = PlanParser()
    assert parser.feed('1. search("a")') == []
    [event] = parser.feed("\n2. sear")
    assert isinstance(event, TaskParsed) and event.task.id == 1
    assert parser.feed('ch("b")') == []
    [last] = parser.close()
    assert isinstance(last, TaskParsed) and last.task.args == ("b",)


def test_end_marker_split_across_chunks_and_text_after_it_ignored() -> None:
    parser = PlanParser()
    assert parser.feed('1. f("a")\n2. f("b")<END_OF') == [
        TaskParsed(task=parse_all('1. f("a")')[0].task)  # type: ignore[union-attr]
    ]
    events = parser.feed("_PLAN>\n3. f('c')\n")
    assert [type(e) for e in events] == [TaskParsed, EndOfPlan]
    assert parser.ended and parser.feed("4. g()\n") == [] and parser.close() == []


@pytest.mark.parametrize(
    "line",
    [
        '  1. search("x")  ',
        '- 1. search("x")',
        '* 1. search("x")',
        '`1. search("x")`',
        '> 1. search("x")',
        '1) search("x")',
        '1.search("x")',
        '1. search("x");',
        '1. search("x")  # a comment',
        "1. search('x',)",
        '1. search("x")\r',
    ],
)
def test_small_model_noise_is_tolerated(line: str) -> None:
    [event] = parse_all(line + "\n")
    assert isinstance(event, TaskParsed)
    assert (event.task.id, event.task.tool, event.task.args) == (1, "search", ("x",))


def test_chatter_and_fences_are_ignored() -> None:
    text = 'Here is the plan:\n```\n1. search("x")\n```\nHope this helps!\n'
    assert [type(e) for e in parse_all(text)] == [TaskParsed]


@pytest.mark.parametrize(
    ("line", "task_id"),
    [
        ('3. search("x"', 3),
        ("3. search(Paris)", 3),
        ("3. First I will search for Paris", 3),
        ("3. search(*args)", 3),
        ("3. search(**kw)", 3),
        ("3. search(x=1, x=2)", 3),
        ("3. os.system(rm)", 3),
        ("3. search(__import__('os'))", 3),
        ("3. search($7)", 3),  # not an earlier task
        ('3. search("${9}")', 3),
        ("3. search($3)", 3),  # itself
        ("3. search(x + 2)", 3),
        ("3. search(10 ** 3)", 3),
        ("3. search(b'x')", 3),
        ("3. search(...)", 3),
        ('3. search(f"{x}")', 3),
    ],
)
def test_malformed_numbered_lines_are_line_errors_with_their_id(line: str, task_id: int) -> None:
    [event] = parse_all(line)
    assert isinstance(event, LineError)
    assert event.error.task_id == task_id and event.error.line == line


def test_plan_lines_use_the_one_call_syntax_of_cml_and_react() -> None:
    # Before issue 11, `f(x=true)` passed in CML and failed in a plan; one rule now serves all.
    events = parse_all("1. f(x=true, y=null, d=20*60, e=-2)\n2. math.hypot(3, 4)\n")
    assert next(e.task.kwargs for e in events if isinstance(e, TaskParsed)) == {
        "x": True, "y": None, "d": 1200, "e": -2,
    }  # fmt: skip
    assert isinstance(events[1], TaskParsed) and events[1].task.tool == "math.hypot"


def test_line_error_ids_still_count_as_earlier_tasks() -> None:
    events = parse_all('1. search("x"\n2. search($1)\n')
    assert isinstance(events[0], LineError)
    assert isinstance(events[1], TaskParsed) and events[1].task.deps == {1}


def test_duplicate_or_decreasing_ids_are_line_errors_without_id() -> None:
    events = parse_all('2. f("a")\n2. f("b")\n1. f("c")\n3. f("d")\n')
    assert [type(e) for e in events] == [TaskParsed, LineError, LineError, TaskParsed]
    assert [e.task_id for e in errors(events)] == [None, None]


def test_bare_join_and_lines_after_join_ignored() -> None:
    events = parse_all('1. f("a")\nThought: ok\njoin()\n2. f("b")\n')
    assert events[1:] == [JoinParsed(thought="ok", task_id=None)]


def test_money_in_strings_is_not_a_dependency() -> None:
    [_, event] = parse_all('1. f("a")\n2. f("$1 million", "costs $5", "$1.50")\n')
    assert isinstance(event, TaskParsed)
    assert event.task.args == ("$1 million", "costs $5", "$1.50") and event.task.deps == set()


def test_nested_literals() -> None:
    [event] = parse_all("1. f([1, (2, 3)], {'a': [None, True]}, {4}, c=-2, d=+1.0)\n")
    assert isinstance(event, TaskParsed)
    assert event.task.args == ([1, (2, 3)], {"a": [None, True]}, frozenset({4}))
    assert event.task.kwargs == {"c": -2, "d": 1.0}


def test_parse_plan_collects_tasks_and_errors() -> None:
    plan, errs = parse_plan('1. f("a")\n2. f(\n3. g($1)\n4. join()\n')
    assert [t.id for t in plan.tasks] == [1, 3]
    assert [e.task_id for e in errs] == [2]


# -- properties --------------------------------------------------------------------------------

PLANISH = st.sampled_from(
    [
        "1. ",
        "2) ",
        "search(",
        '"x"',
        "'y'",
        "$1",
        "${2}",
        ", ",
        "k=",
        "[",
        "]",
        "{",
        "}",
        ")",
        "\n",
        "\r\n",
        "Thought: ",
        "join()",
        "<END_OF_PLAN>",
        "<END_",
        "OF_PLAN>",
        "`",
        "- ",
        " million",
        "9",
        "\\",
        "\x00",
    ]
)
TEXTS = st.one_of(
    st.text(max_size=200),
    st.lists(PLANISH, max_size=40).map("".join),
    st.lists(st.one_of(PLANISH, st.text(max_size=5)), max_size=40).map("".join),
)


def chunked(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    bounds = [0, *points, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=300, deadline=None)
@given(text=TEXTS, cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=30))
def test_any_chunking_gives_the_same_events_and_never_raises(text: str, cuts: list[int]) -> None:
    whole = parse_all(text)
    parser = PlanParser()
    streamed: list[PlanEvent] = []
    for chunk in chunked(text, cuts):
        streamed.extend(parser.feed(chunk))
    streamed.extend(parser.close())
    assert streamed == whole
    assert parser.text == text
    assert sum(isinstance(e, EndOfPlan) for e in whole) <= 1


@st.composite
def valid_plans(draw: st.DrawFn) -> tuple[str, list[tuple[int, int, frozenset[int]]]]:
    n = draw(st.integers(min_value=1, max_value=12))
    lines: list[str] = []
    expected: list[tuple[int, int, frozenset[int]]] = []
    task_id = 0
    for _ in range(n):
        task_id += draw(st.integers(min_value=1, max_value=3))
        earlier = [i for i, _, _ in expected]
        deps = draw(st.lists(st.sampled_from(earlier), max_size=3)) if earlier else []
        args = ", ".join(f"${d}" for d in deps)
        value = draw(st.integers(min_value=-5, max_value=5))
        sep = ", " if args else ""
        lines.append(f"{task_id}. tool_{task_id % 3}({value}{sep}{args})")
        expected.append((task_id, value, frozenset(deps)))
    lines.append(f"{task_id + 1}. join()")
    return "\n".join(lines) + "\n<END_OF_PLAN>", expected


@settings(max_examples=150, deadline=None)
@given(plan=valid_plans(), cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=20))
def test_generated_plans_round_trip(
    plan: tuple[str, list[tuple[int, int, frozenset[int]]]], cuts: list[int]
) -> None:
    text, expected = plan
    parser = PlanParser()
    events: list[PlanEvent] = []
    for chunk in chunked(text, cuts):
        events.extend(parser.feed(chunk))
    got = [(e.task.id, e.task.args[0], e.task.deps) for e in tasks(events)]
    assert got == expected
    assert isinstance(events[-1], EndOfPlan) and isinstance(events[-2], JoinParsed)
