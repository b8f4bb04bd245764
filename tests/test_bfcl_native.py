"""BFCL's ``native`` / ``native-parallel`` methods: BFCL functions offered as OpenAI tools, dotted
names mapped both ways, calls scored by the BFCL checker; against the loopback fake of the
OpenAI chat API of ``test_native``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio
import pytest

from interlace import NativeFunctionCalling, UsageError
from interlace.bench._latency import Latency
from interlace.bench._registry import Question, QuestionId, RunOptions, default_methods
from interlace.bench._runner import MeteredLLM, RunConfig, run_question
from interlace.bench.bfcl import bfcl
from interlace.bench.bfcl._native import openai_schema
from interlace.llm import LocalLLM, OpenAICompatLLM
from interlace.llm._toolcalls import FunctionNames
from test_native import DEADLINE, Serve, _bodies, _call, _llm, _reply, _text, _usage
from test_reliability_llm import Writer
from test_reliability_llm import serve as serve  # the fixture

FACTORIAL = {
    "name": "math.factorial",
    "description": "Calculate the factorial of a number.",
    "parameters": {
        "type": "dict",
        "properties": {"number": {"type": "integer", "description": "The number."}},
        "required": ["number"],
    },
}
HYPOT = {
    "name": "math.hypot",
    "description": "The length of a vector.",
    "parameters": {
        "type": "dict",
        "properties": {
            "coords": {"type": "tuple", "items": {"type": "float"}, "description": "Its coords."},
            "unit": {"type": "any", "description": "A unit, optional."},
        },
        "required": ["coords"],
    },
}
QUESTION = Question(
    id=QuestionId("parallel_multiple_0"),
    text="What are 5! and 7!, and how long is the vector (3, 4)?",
    label="[]",
    meta={
        "category": "parallel_multiple",
        "functions": [FACTORIAL, HYPOT],
        "ground_truth": [
            {"math.factorial": {"number": [5]}},
            {"math.factorial": {"number": [7]}},
            {"math.hypot": {"coords": [[3.0, 4.0]], "unit": ["", "m"]}},
        ],
    },
)


# -- names and schemas ---------------------------------------------------------------------------


def test_dotted_and_colliding_names_round_trip_to_names_openai_accepts() -> None:
    names = ["math.factorial", "math_factorial", "search", "a b", "a_b", "x" * 80, "ü.ber", "-ok"]
    mapping = FunctionNames.of(names)
    offered = [mapping.offer(n) for n in names]
    assert all(re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", o) for o in offered), offered
    assert len(set(offered)) == len(names)  # collision-safe
    assert [mapping.original(o) for o in offered] == names  # reversible
    # valid names keep their names; an invalid one gets the readable form unless it is taken
    assert mapping.offer("math_factorial") == "math_factorial"
    assert mapping.offer("search") == "search" and mapping.offer("-ok") == "-ok"
    assert re.fullmatch(r"math_factorial_[0-9a-f]{8}", mapping.offer("math.factorial"))
    assert mapping.offer("a b") != "a_b" and len(mapping.offer("x" * 80)) == 64
    assert FunctionNames.of(["math.factorial"]).offer("math.factorial") == "math_factorial"
    assert FunctionNames.of(names) == mapping  # deterministic
    assert mapping.original("math.factorial") is None  # only offered names map back
    with pytest.raises(UsageError, match="unique"):
        FunctionNames.of(["a.b", "a.b"])


def test_a_bfcl_document_becomes_an_openai_function_schema() -> None:
    schema = openai_schema(HYPOT)
    assert schema["type"] == "function"
    function = schema["function"]
    assert function["name"] == "math.hypot"  # mapped only when offered
    assert function["parameters"] == {
        "type": "object",
        "properties": {
            "coords": {"type": "array", "items": {"type": "number"}, "description": "Its coords."},
            "unit": {"description": "A unit, optional."},
        },
        "required": ["coords"],
    }
    assert HYPOT["parameters"]["type"] == "dict"  # the document is not changed


# -- the methods -----------------------------------------------------------------------------------

CALLS = [
    _call(0, '{"number": 5}', id="call_a", name="math_factorial"),
    _call(1, '{"number": 7}', id="call_b", name="math_factorial"),
    _call(2, '{"coords": [3, 4]}', id="call_c", name="math_hypot"),
    _usage(90, 30),
]


def _config() -> RunConfig:
    options = RunOptions(data_dir=Path("."), tool_latency=Latency(kind="fixed", a=0.001))
    return RunConfig(
        benchmark=bfcl, methods=("native-parallel",), llm_spec="openai:fake", options=options
    )


async def _run(serve: Serve, calls: list[dict[str, Any]], method: str) -> tuple[Any, Any]:
    async def handler(n: int, writer: Writer) -> None:
        await _reply(writer, calls if n == 0 else [*_text("Done."), _usage(150, 2)])

    server = await serve(handler)
    with anyio.fail_after(DEADLINE):
        record = await run_question(_config(), QUESTION, method, _llm(server))
    return server, record


@pytest.mark.anyio
async def test_native_parallel_calls_under_mapped_names_are_scored_by_bfcl_names(
    serve: Serve,
) -> None:
    server, record = await _run(serve, CALLS, "native-parallel")
    first = _bodies(server)[0]
    assert [t["function"]["name"] for t in first["tools"]] == ["math_factorial", "math_hypot"]
    assert first["tools"][0]["function"]["parameters"]["properties"]["number"]["type"] == "integer"
    assert first["parallel_tool_calls"] is True
    calls = record["details"]["calls"]
    assert [c["name"] for c in calls] == ["math.factorial", "math.factorial", "math.hypot"]
    assert {c["outcome"] for c in calls} == {"succeeded"}
    assert record["correct"] is True
    assert record["llm_calls"] == server.requests == 2
    results = [m for m in _bodies(server)[1]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in results] == ["call_a", "call_b", "call_c"]


@pytest.mark.anyio
async def test_a_wrong_value_or_unparsed_arguments_score_wrong(serve: Serve) -> None:
    wrong = [*CALLS[:1], _call(1, '{"number": 8}', id="call_b", name="math_factorial"), *CALLS[2:]]
    _, record = await _run(serve, wrong, "native-parallel")
    assert record["correct"] is False
    broken = [*CALLS[:2], _call(2, '{"coords": [3, 4]', id="call_c", name="math_hypot"), CALLS[3]]
    _, record = await _run(serve, broken, "native")
    assert record["details"]["calls"][2]["outcome"] == "failed"
    assert record["correct"] is False


def test_native_methods_run_only_when_named_and_need_native_calling() -> None:
    assert {"native", "native-parallel"} <= set(bfcl.methods)
    assert not {"native", "native-parallel"} & set(default_methods(bfcl))
    options = _config().options
    local = MeteredLLM(LocalLLM("smollm2-135m"))  # weights load on first request: none is made
    with pytest.raises(UsageError, match="cannot call functions natively"):
        bfcl.make_agent("native", local, options, QUESTION)
    remote = MeteredLLM(OpenAICompatLLM("m", api_key="k"))
    agent = bfcl.make_agent("native", remote, options, QUESTION)
    assert isinstance(agent, NativeFunctionCalling) and agent.name == "native"
    assert agent.offer.names == ("math_factorial", "math_hypot")
    assert not agent.offer.parallel_tool_calls
