"""Constrained decoding and the KV policy on real models (slow: loads GGUF weights)."""

from __future__ import annotations

import pytest

from interlace import LLMCompiler, tool
from interlace._errors import LLMModelNotFoundError
from interlace._grammars import cml_grammar, expression_grammar, joiner_grammar, plan_grammar
from interlace._planner import JoinParsed, LineError, PlanParser, TaskParsed
from interlace.agents._parse import parse_joiner_output
from interlace.bench._mathtool import evaluate
from interlace.bench.bfcl._tools import simple_tools
from interlace.llm import GenerationConfig, Grammar, LocalLLM, Message, resolve_model

pytestmark = [pytest.mark.slow]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def tiny() -> LocalLLM:
    try:
        resolve_model("smollm2-135m")
    except LLMModelNotFoundError as exc:  # fail, never skip: CI must have the model
        pytest.fail(f"{exc} (run `interlace models fetch smollm2-135m`)")
    return LocalLLM("smollm2-135m", n_ctx=2048, n_threads=1, prefix_cache_entries=2)


@tool
def search(query: str) -> str:
    """Look a topic up.

    Args:
        query: the topic.
    """
    return f"about {query}"


@tool
def scale(value: float, factor: int = 2) -> float:
    """Multiply.

    Args:
        value: a number.
        factor: how many times.
    """
    return value * factor


def _ask(system: str, user: str) -> list[Message]:
    return [Message(role="system", content=system), Message(role="user", content=user)]


@pytest.mark.anyio
async def test_the_plan_grammar_holds_even_on_a_135m_model(tiny: LocalLLM) -> None:
    messages = _ask("Write a plan.", "Question: how tall are the Alps and Andes, doubled?")
    config = GenerationConfig(max_tokens=120, grammar=plan_grammar([search, scale], max_tasks=4))
    completion = await tiny.complete(messages, config)
    parser = PlanParser()
    events = [*parser.feed(completion.text), *parser.close()]
    assert not [e for e in events if isinstance(e, LineError)], completion.text
    tasks = [e.task for e in events if isinstance(e, TaskParsed)]
    assert any(isinstance(e, JoinParsed) for e in events), completion.text
    assert tasks and completion.text.endswith(f"{len(tasks) + 1}. join()")
    assert [t.id for t in tasks] == list(range(1, len(tasks) + 1))
    assert {t.tool for t in tasks} <= {"search", "scale"}
    assert all(dep < t.id for t in tasks for dep in t.deps)  # $N only to earlier calls
    assert completion.timing.grammar is not None and completion.warnings == ()
    # without the grammar the same model writes no such plan
    free = await tiny.complete(messages, GenerationConfig(max_tokens=60))
    assert not free.text.startswith("1. search(") and not free.text.startswith("1. scale(")


@pytest.mark.anyio
async def test_joiner_and_expression_grammars_hold(tiny: LocalLLM) -> None:
    joiner = await tiny.complete(
        _ask("Decide.", "Results: Paris is in France. Which country is Paris in?"),
        GenerationConfig(max_tokens=80, grammar=joiner_grammar(final=True)),
    )
    decision = parse_joiner_output(joiner.text)
    assert decision is not None and decision.kind == "finish" and joiner.finish_reason == "stop"
    expression = await tiny.complete(
        _ask("Write arithmetic.", "Problem: twelve apples and 25% more\nExpression:"),
        GenerationConfig(max_tokens=40, grammar=expression_grammar()),
    )
    assert isinstance(evaluate(expression.text), float), expression.text


_BFCL_DOCS = [
    {
        "name": "math.gcd",
        "description": "gcd",
        "parameters": {
            "type": "dict",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
    {
        "name": "weather",
        "description": "forecast",
        "parameters": {
            "type": "dict",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["C", "F"]},
                "days": {"type": "float"},
            },
            "required": ["city"],
        },
    },
]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("Sure. [CALL] c1 [HEAD] math.gcd(a=12, b=8) [END]\n[TRAP][END]\nThe gcd is 4.", True),
        (
            '[CALL] w [HEAD] weather(city="Oslo", days=2.5) [END]'
            "[CALL] x [HEAD] weather(city=$w) [END]",
            True,
        ),
        ('[CALL] c1 [HEAD] weather(city="Oslo", unit="F") [END]', True),
        ("[CALL] c1 [HEAD] weather(city='Oslo', unit='F') [END]", True),  # Python's other quote
        ('[CALL] c1 [HEAD] weather(city="Oslo", unit="K") [END]', False),  # not in the enum
        ("[CALL] c1 [HEAD] math.gcd(a=12) [END]", False),  # a required parameter missing
        ("[CALL] c1 [HEAD] math.gcd(12, 8) [END]", False),  # positional
        ('[CALL] c1 [HEAD] math.gcd(a="12", b=8) [END]', False),  # a string for an integer
        ("[CALL] c1 [HEAD] math.lcm(a=1, b=2) [END]", False),  # not a listed function
        ('[CALL] c1 [HEAD] weather(city="Oslo", wind=1) [END]', False),  # unknown parameter
        ("[INTR] c1 [HEAD] 4 [END]", False),  # only the runtime writes interrupts
        ("[CALL] 1c [HEAD] math.gcd(a=1, b=2) [END]", False),  # not an identifier
        ("[TRAP] now [END]", False),
    ],
)
async def test_the_cml_grammar_accepts_exactly_well_formed_calls(
    tiny: LocalLLM, text: str, ok: bool
) -> None:
    grammar = cml_grammar(simple_tools(_BFCL_DOCS), futures=True)
    async with tiny.exclusive() as engine:
        constraint = engine.grammars.constraint(grammar)
        tokens = engine.tokenize(text, add_bos=False, special=False)
        accepted = all(constraint.accept([t]) for t in tokens)
    assert accepted == ok, (text, constraint.error)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("final", "text", "ok"),
    [
        (False, "Action: Finish(yes)", True),
        (False, "Thought: both are American\nAction: Finish(yes)", True),
        (False, "Thought: the birth year is missing\nAction: Replan(the birth year)", True),
        (False, "Action: Replan(1, 2)", False),  # a replan must say why first
        (True, "Action: Finish(no)", True),
        (True, "Thought: the year is missing\nAction: Replan(the year)", False),
    ],
)
async def test_the_joiner_grammar_replans_only_after_a_thought(
    tiny: LocalLLM, final: bool, text: str, ok: bool
) -> None:
    grammar = joiner_grammar(final=final, thought=False, choices=("yes", "no"))
    if "Replan" in text and not final:
        grammar = joiner_grammar(final=final, thought=False)  # a free-text answer and reason
    async with tiny.exclusive() as engine:
        constraint = engine.grammars.constraint(grammar)
        tokens = engine.tokenize(text, add_bos=False, special=False)
        accepted = all(constraint.accept([t]) for t in tokens)
    assert accepted == ok, (text, constraint.error)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("9200000 * 0.7\n", True),
        ("max(9200000 * 0.7, 350000 * 3.5)\n", True),
        ("(8848.86 - 5895) / 5895 * 100\n", True),
        ("1 + 2 + 3 + 4\n", True),
        ("1 + 2 + 3 + 4 + 5\n", False),  # at most 4 terms: the runaway the 0.5B model wrote
        ("1 * 2 * 3 * 4 * 5\n", False),  # at most 4 factors
        ("((1 + 2) * 3)\n", False),  # one level of parentheses
        ("9,200,000 * 0.7\n", False),  # no thousands separators
        ("30% * 2\n", False),
    ],
)
async def test_the_expression_grammar_is_short_arithmetic(
    tiny: LocalLLM, text: str, ok: bool
) -> None:
    async with tiny.exclusive() as engine:
        constraint = engine.grammars.constraint(expression_grammar())
        tokens = engine.tokenize(text, add_bos=False, special=False)
        accepted = all(constraint.accept([t]) for t in tokens)
    assert accepted == ok, (text, constraint.error)
    if ok:
        assert isinstance(evaluate(text), float)


@pytest.mark.anyio
async def test_a_grammar_that_does_not_compile_falls_back_with_a_warning(tiny: LocalLLM) -> None:
    broken = Grammar(lark="start: UNDEFINED_TERMINAL", name="broken")
    llm_reply = await tiny.complete(
        _ask("Say hi.", "Hi"), GenerationConfig(max_tokens=5, grammar=broken)
    )
    assert llm_reply.text and any("broken" in w for w in llm_reply.warnings)
    agent = LLMCompiler(
        tiny, [search], planner_config=GenerationConfig(max_tokens=40, grammar=broken)
    )
    result = await agent.run("Where is Paris?")
    assert any("decoded without the grammar" in e for e in result.errors)


@pytest.mark.anyio
async def test_a_fixed_prefix_outlives_the_lru(tiny: LocalLLM) -> None:
    planner = "You plan tool calls. " * 30
    first = await tiny.complete(_ask(planner, "Question: one"), GenerationConfig(max_tokens=2))
    for k in range(6):  # more distinct prompts than the 2 unpinned snapshots the cache keeps
        other = f"Role {k} has its own instructions. " * 12
        await tiny.complete(_ask(other, f"Question: {k}"), GenerationConfig(max_tokens=2))
    messages = _ask(planner, "Question: two")
    again = await tiny.complete(messages, GenerationConfig(max_tokens=2))
    async with tiny.exclusive() as engine:  # the system message's tokens: the fixed prefix
        fixed = engine.fixed_prefix(messages, engine.tokenize(engine.chat_prefix(messages)))
    assert fixed > 100 and first.usage.cached_prompt_tokens < 20
    assert again.usage.cached_prompt_tokens >= fixed, again.usage
    assert tiny.prefix_cache.stats.pinned_hits >= 1


@pytest.mark.anyio
async def test_an_open_ended_prefill_serves_the_request_that_extends_it(tiny: LocalLLM) -> None:
    head = _ask("You join results. " * 10, "Results:\n1. search('a')\nObservation: A is big.\n")
    evaluated = await tiny.prefill(head, open_end=True)
    assert evaluated > 0
    full = [
        head[0],
        Message(role="user", content=head[1].content + "2. search('b')\nObservation: B.\n"),
    ]
    completion = await tiny.complete(full, GenerationConfig(max_tokens=2))
    uncached = completion.usage.prompt_tokens - completion.usage.cached_prompt_tokens
    assert uncached <= 25, completion.usage  # only the second result and the turn markers
    assert await tiny.prefill(head, open_end=True) <= 1  # already cached


@pytest.mark.anyio
async def test_completions_say_how_long_their_fixed_prefix_is(tiny: LocalLLM) -> None:
    system = "You are a careful assistant. " * 12
    first = await tiny.complete(_ask(system, "Question: a"), GenerationConfig(max_tokens=1))
    second = await tiny.complete(_ask(system, "Question: b"), GenerationConfig(max_tokens=1))
    assert first.fixed_prompt_tokens is not None and first.fixed_prompt_tokens > 60
    assert second.fixed_prompt_tokens == first.fixed_prompt_tokens
    assert second.usage.cached_prompt_tokens >= second.fixed_prompt_tokens
    no_system = [Message(role="user", content="Question: c")]
    assert (await tiny.complete(no_system, GenerationConfig(max_tokens=1))).fixed_prompt_tokens == 0
