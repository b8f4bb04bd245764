"""Plan model: references (the $N rule), task deps, validation errors."""

from __future__ import annotations

import pytest

from interlace._errors import (
    ArityError,
    CycleError,
    DanglingReferenceError,
    DuplicateTaskError,
    UnknownToolError,
)
from interlace._plan import Plan, Ref, Task, TaskId, Template, parse_references
from interlace._tools import Tool

EARLIER = {1, 2, 3}


def search(query: str) -> str:
    return query


TOOLS = {"search": Tool.from_function(search)}


def T(i: int, *args: object, tool: str = "search", **kwargs: object) -> Task:
    return Task(id=TaskId(i), tool=tool, args=tuple(args), kwargs=kwargs)


@pytest.mark.parametrize(
    "text",
    [
        "$1 million",
        "worth $2 billion",
        "$3bn in sales",
        "costs $5",  # 5 is not an earlier task
        "$1.50 each",
        "$3,000 total",
        "50% of $1%",
        "US$2",
        "$1k",
        "$$1",
        "12$1",
        "$2 M",
        "$1_x",
        "no dollar at all",
    ],
)
def test_money_is_not_a_reference(text: str) -> None:
    assert parse_references(text, EARLIER) == text


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("population of $1", ("population of ", Ref(TaskId(1)))),
        ("$1 and $2.", (Ref(TaskId(1)), " and ", Ref(TaskId(2)), ".")),
        ("${1} million", (Ref(TaskId(1)), " million")),  # braces always reference
        ("ratio ${2}/${3}", ("ratio ", Ref(TaskId(2)), "/", Ref(TaskId(3)))),
        ("($1)", ("(", Ref(TaskId(1)), ")")),
        ("$3, then", (Ref(TaskId(3)), ", then")),
    ],
)
def test_embedded_references_become_templates(text: str, parts: tuple[object, ...]) -> None:
    assert parse_references(text, EARLIER) == Template(parts)  # type: ignore[arg-type]


def test_whole_string_is_a_ref_and_dangling_ones_raise() -> None:
    assert parse_references("$1", EARLIER) == Ref(TaskId(1))
    assert parse_references(" ${2} ", EARLIER) == Ref(TaskId(2))
    with pytest.raises(DanglingReferenceError):
        parse_references("$7", EARLIER)
    with pytest.raises(DanglingReferenceError):
        parse_references("see ${7}", EARLIER)


def test_template_render_uses_str() -> None:
    t = Template(("a ", Ref(TaskId(1)), " b ", Ref(TaskId(2))))
    assert t.render({TaskId(1): [1, 2], TaskId(2): 3.5}) == "a [1, 2] b 3.5"


def test_task_deps_look_inside_containers_and_templates() -> None:
    task = T(
        5,
        [Ref(TaskId(1)), {"k": (Ref(TaskId(2)),)}],
        x=Template(("v", Ref(TaskId(3)))),
    )
    assert task.deps == frozenset({1, 2, 3})
    assert T(1, "plain").deps == frozenset()
    assert T(9, tool="join").is_join


def test_valid_plan_passes() -> None:
    Plan([T(1, "a"), T(2, Ref(TaskId(1))), T(3, tool="join")]).validate(TOOLS)


@pytest.mark.parametrize(
    ("tasks", "error"),
    [
        ([T(1, "a"), T(1, "b")], DuplicateTaskError),
        ([T(2, "a"), T(1, "b")], DuplicateTaskError),
        ([T(1, "a", tool="nope")], UnknownToolError),
        ([T(1)], ArityError),
        ([T(1, "a", "b")], ArityError),
        ([T(1, "a", extra=1)], ArityError),
        ([T(1, Ref(TaskId(4)))], DanglingReferenceError),
        ([T(1, Ref(TaskId(2))), T(2, "a")], DanglingReferenceError),  # forward reference
        ([T(1, Ref(TaskId(2))), T(2, Ref(TaskId(1)))], CycleError),
        ([T(1, Ref(TaskId(1)))], CycleError),
    ],
)
def test_validation_errors(tasks: list[Task], error: type[Exception]) -> None:
    plan = Plan(tasks)
    with pytest.raises(error):
        plan.validate(TOOLS)
    assert any(isinstance(e, error) for e in plan.errors(TOOLS))


def test_cycle_message_names_the_path() -> None:
    plan = Plan([T(1, Ref(TaskId(3))), T(2, Ref(TaskId(1))), T(3, Ref(TaskId(2)))])
    with pytest.raises(CycleError, match=r"\$1 -> \$3 -> \$2 -> \$1"):
        plan.validate(TOOLS)
