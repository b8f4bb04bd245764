"""One call syntax (issue 11): plans, CML and ReAct read a call body alike, with one repeat key."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interlace import Tool
from interlace._calls import MAX_DEPTH, call_key, parse_call
from interlace._errors import CallSyntaxError, CMLError, DanglingReferenceError
from interlace._plan import Ref, RefScope, TaskId, Template
from interlace._planner import LineError, PlanParser, TaskParsed
from interlace.agents._parse import find_action
from interlace.agents._react import parse_call as react_parse_call
from interlace.cml import parse_call as cml_parse_call


def _two(a: Any = None, b: Any = None, c: Any = None, d: Any = None) -> str:
    return "x"


TOOL = Tool.from_function(_two, name="f")

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8).filter(lambda s: "$" not in s),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.tuples(children, children),
        st.dictionaries(st.text(max_size=4).filter(lambda s: "$" not in s), children, max_size=3),
    ),
    max_leaves=8,
)
_KEYS = st.sampled_from(["a", "b", "c", "d"])


def _body(args: list[Any], kwargs: dict[str, Any]) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"f({', '.join(parts)})"


def _three(body: str) -> list[tuple[str, tuple[Any, ...], dict[str, Any]] | type]:
    """What the plan parser, the CML monitor's parser and ReAct read from ``body``."""
    out: list[tuple[str, tuple[Any, ...], dict[str, Any]] | type] = []
    [event] = PlanParser().feed(f"1. {body}\n")
    if isinstance(event, TaskParsed):
        out.append((event.task.tool, event.task.args, dict(event.task.kwargs)))
    else:
        assert isinstance(event, LineError)
        out.append(LineError)
    try:
        call = cml_parse_call(f"[CALL] c1 [HEAD] {body} [END]")
        out.append((call.name, call.args, dict(call.kwargs)))
    except CMLError:
        out.append(LineError)
    action = find_action(f"Action: {body}")
    assert action is not None
    try:
        args, kwargs = react_parse_call(action, TOOL)
        out.append((action.name, args, kwargs))
    except CallSyntaxError:
        out.append(LineError)
    return out


@settings(max_examples=200, deadline=None)
@given(args=st.lists(_VALUES, max_size=2), kwargs=st.dictionaries(_KEYS, _VALUES, max_size=2))
def test_the_three_front_ends_read_a_call_alike(args: list[Any], kwargs: dict[str, Any]) -> None:
    plan, cml, react = _three(_body(args, kwargs))
    assert plan == cml == react == ("f", tuple(args), kwargs)


_PIECES = st.sampled_from(
    [
        "f(", ")", "x=", "1", "2.5", "'a'", '"b"', "true", "null", "[", "]", "{", "}", ":", ",",
        "*", "**", "$1", "${1}", "$c1", "20*60", "-", "1e13", "/0", "\ud800", "\x00", "(" * 300,
        "[" * 100, "lambda: 0", "__import__('os')", "b'x'", "...", "f'{x}'", ";",
    ]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(pieces=st.lists(st.one_of(_PIECES, st.text(max_size=3)), max_size=12))
def test_any_text_is_a_call_or_a_typed_error_in_all_three(pieces: list[str]) -> None:
    inner = "".join(pieces)
    for marker in ("\n", "[END]", "[HEAD]"):  # the front ends' own framing, not the syntax
        inner = inner.replace(marker, " ")
    results = _three(f"f({inner})")  # raises nothing but the asserted types
    assert results[0] == results[1] == results[2]
    for scope in (None, RefScope.numbers({1}), RefScope({"c1": TaskId(1)}, "name")):
        with contextlib.suppress(CallSyntaxError):
            parse_call(inner, scope)


def test_json_literals_arithmetic_and_json_objects_are_one_rule() -> None:
    expected = parse_call("f(a=True, b=None, d=1200, e=-6)")
    for body in ("f(a=true, b=null, d=20*60, e=-2*3)", '{"name": "f", "arguments": '
                 '{"a": true, "b": null, "d": 1200, "e": -6}}'):  # fmt: skip
        assert parse_call(body) == expected
    bad_bodies = ("f(a=x)", "f(a=10**1000)", "f(a=true+1)", "f(a=open(1))", "f(a=1e13*1e13)",
                  "f(1/0)", "f(*a)", "f(**k)", "f(x=1, x=2)", "(lambda: 0)()")  # fmt: skip
    for bad in bad_bodies:
        with pytest.raises(CallSyntaxError):
            parse_call(bad)


def test_deep_nesting_and_lone_surrogates_are_typed_errors() -> None:
    for body in (
        "f(" + "[" * 1000 + "]" * 1000 + ")",
        "f(" + "[" * (MAX_DEPTH + 2) + "]" * (MAX_DEPTH + 2) + ")",
        '{"name": "f", "arguments": {"x": ' + "[" * 1000 + "]" * 1000 + "}}",
        "f(" + "-" * 100_000 + "1)",
        'f(x="\ud800")',
        "f(\x00)",
    ):
        with pytest.raises(CallSyntaxError):
            parse_call(body)
    assert parse_call('f(x="\\ud800")').kwargs == {"x": "\ud800"}  # escaped in ASCII source


def test_references_follow_the_plan_rule_for_numbers_and_call_ids() -> None:
    plan = RefScope.numbers({1, 2})
    call = parse_call('f($1, "${2} km", "costs $5", "$1 million")', plan)
    assert call.args == (
        Ref(TaskId(1)),
        Template((Ref(TaskId(2)), " km")),
        "costs $5",
        "$1 million",
    )
    futures = RefScope({"c1": TaskId(4)}, "name")
    call = parse_call('get_weather(city=$c1, note="for ${c1}", price="$5")', futures)
    assert call.kwargs == {
        "city": Ref(TaskId(4)), "note": Template(("for ", Ref(TaskId(4)))), "price": "$5",
    }  # fmt: skip
    for body, scope in (("f($c2)", futures), ("f($1)", futures), ("f($3)", plan)):
        with pytest.raises(CallSyntaxError, match="does not name an earlier"):
            parse_call(body, scope)
    with pytest.raises(CallSyntaxError) as info:
        parse_call('f("${c9}")', futures)
    assert isinstance(info.value.__cause__, DanglingReferenceError)
    with pytest.raises(CallSyntaxError, match="not allowed here"):
        parse_call("f($c1)")  # no scope (ReAct, futures off): no references
    assert parse_call('f("$c1")').args == ("$c1",)


@settings(max_examples=100, deadline=None)
@given(kwargs=st.dictionaries(_KEYS, _VALUES, min_size=2, max_size=4))
def test_the_repeat_key_ignores_keyword_order_and_name_case(kwargs: dict[str, Any]) -> None:
    backwards = dict(reversed(list(kwargs.items())))
    assert call_key("Get", (), kwargs) == call_key("get", (), backwards)
    changed = {**kwargs, "a": ("changed", kwargs.get("a"))}
    assert call_key("get", (), kwargs) != call_key("get", (), changed)


def test_the_repeat_key_tells_apart_what_a_tool_tells_apart() -> None:
    keys = {call_key("f", (v,), {}) for v in (1, 1.0, True, "1", [1], (1,))}
    assert len(keys) == 6
    assert call_key("f", ({1, 2},), {}) == call_key("f", ({2, 1},), {})
    assert call_key("f", (Ref(TaskId(1)),), {}) != call_key("f", (Ref(TaskId(2)),), {})
