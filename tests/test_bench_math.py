from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interlace._errors import ExpressionError
from interlace.bench._mathtool import evaluate, extract_expression, make_math


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("1 + 2 * 3", 7.0),
        ("(10994 * 0.8)", 8795.2),
        ("-3 ** 2", -9.0),
        ("7 % 4", 3.0),
        ("max(3, 9, 4) - min(2, 8)", 7.0),
        ("round(2.567, 2)", 2.57),
        ("abs(-4.5)", 4.5),
        ("2 ** 0.5 * 2 ** 0.5", 2.0000000000000004),
        ("max(5)", 5.0),
    ],
)
def test_evaluate_arithmetic(expr: str, value: float) -> None:
    assert evaluate(expr) == pytest.approx(value)


@pytest.mark.parametrize(
    "expr",
    [
        "__import__('os').system('echo hi')",
        "open('x')",
        "x + 1",
        "1 / 0",
        "10 ** 10 ** 10",
        "(-8) ** 0.5",
        "'a' * 3",
        "True + 1",
        "[1, 2]",
        "lambda: 1",
        "1e999",
        "round(1, 2, 3)",
        "max(key=1)",
        "",
        "1 +",
        "(" * 300 + "1" + ")" * 300,
    ],
)
def test_evaluate_rejects(expr: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(expr)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_text_raises_only_expression_error(text: str) -> None:
    try:
        value = evaluate(text)
    except ExpressionError:
        return
    assert isinstance(value, float)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789.+-*/%() ,maxinrouabsd*", max_size=40))
def test_arithmetic_alphabet_raises_only_expression_error(text: str) -> None:
    try:
        value = evaluate(text)
    except ExpressionError:
        return
    assert isinstance(value, float)


def test_expression_error_is_a_tool_argument_error() -> None:
    from interlace import ToolArgumentError

    assert issubclass(ExpressionError, ToolArgumentError)


def test_extract_expression_from_reply() -> None:
    assert extract_expression("```\n12 * 1.25\n```") == "12 * 1.25"
    # thousands separators go, argument commas stay (they were stripped: max(300 / 2 170))
    assert extract_expression("max(300 / 2, 9,200,000)") == "max(300 / 2, 9200000)"
    assert evaluate(extract_expression("max(300 / 2, 170)")) == 170.0
    assert extract_expression("Expression: 1,642 * 1.1.") == "1642 * 1.1"
    assert extract_expression("2^3") == "2**3"


@pytest.mark.anyio
async def test_math_tool_asks_llm_and_evaluates() -> None:
    from interlace.testing import ScriptedLLM

    llm = ScriptedLLM([" 1642 * 1.1\n"])
    math = make_math(llm)
    value = await math("depth increased by 10%", ["Lake Baikal is 1,642 m deep."])
    assert value == pytest.approx(1806.2)
    prompt = llm.requests[0].messages[-1].content
    assert "Lake Baikal is 1,642 m deep." in prompt and "depth increased by 10%" in prompt


@pytest.mark.anyio
async def test_math_tool_results_have_six_significant_digits() -> None:
    from interlace.testing import ScriptedLLM

    llm = ScriptedLLM(["4132 / 14000", "331000 * 1.1", "475 / 307000000000"])
    math = make_math(llm)
    # exactly: 0.29514285714285715, 364100.00000000006, 1.5472312703583062e-09
    assert [str(await math("p")) for _ in range(3)] == ["0.295143", "364100", "1.54723e-09"]


@given(st.floats(min_value=-1e18, max_value=1e18, allow_nan=False))
def test_whole_results_lose_only_their_point_zero(value: float) -> None:
    from interlace.bench._mathtool import whole_as_int

    shown = whole_as_int(value)
    assert shown == value and len(str(shown)) <= len(str(value))
    assert not str(shown).endswith(".0")


@given(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False).filter(lambda v: v != 0))
def test_round_significant_stays_within_a_millionth(value: float) -> None:
    from interlace.bench._mathtool import round_significant

    assert abs(round_significant(value) - value) <= 5e-6 * abs(value)


@pytest.mark.anyio
async def test_math_tool_rejects_non_arithmetic_reply() -> None:
    from interlace.testing import ScriptedLLM

    math = make_math(ScriptedLLM(["import os"]))
    with pytest.raises(ExpressionError):
        await math("anything")


@pytest.mark.anyio
async def test_math_tool_takes_an_earlier_numeric_result_as_context() -> None:
    from interlace._tools import Tool
    from interlace.testing import ScriptedLLM

    llm = ScriptedLLM([" 15.0 * 2\n", " 15.0 + 1\n"])
    tool = Tool.from_function(make_math(llm))
    # `math("...", $3)` where task 3 was itself a math result: a float, alone or in a list
    assert await tool.invoke(("double it", 15.0), {}) == pytest.approx(30.0)
    assert await tool.invoke(("add one", [15.0, "a text"]), {}) == pytest.approx(16.0)
    assert "15.0" in llm.requests[0].messages[-1].content


@pytest.mark.anyio
async def test_math_tool_reads_only_the_relevant_sentences_of_a_long_context() -> None:
    from interlace.testing import ScriptedLLM

    page = (
        "The Gobi is a large desert region in Asia. "
        + "".join(f"A caravan crossed it in {1800 + i} on its way east. " for i in range(6))
        + "It covers an area of 1,295,000 square kilometres. "
        + "".join(f"Winter nights there reach -{30 + i} degrees. " for i in range(6))
    )
    llm = ScriptedLLM([" 1295000 * 0.7\n", " 1295000 * 0.7\n"])
    value = await make_math(llm)("the area reduced by 30%", [page])
    assert value == pytest.approx(906500.0)
    prompt = llm.requests[0].messages[-1].content
    assert "area of 1,295,000 square kilometres" in prompt  # the number the problem is about
    assert "large desert region" not in prompt  # a sentence without a number cannot help
    assert prompt.count("caravan") + prompt.count("Winter") <= 3
    assert len(prompt) < len(page) / 2
    await make_math(llm, context_tokens=0)("the area reduced by 30%", [page])
    assert page.strip() in llm.requests[1].messages[-1].content  # 0 keeps the whole text


def test_math_prompt_examples_copy_their_numbers_from_their_context() -> None:
    """Each worked example of the math prompt is valid arithmetic over numbers of its own
    problem and context (the model copies what the examples do), and a percent change is
    written with the percentage copied from the problem, never as a worked-out factor."""
    from interlace.bench._mathtool import _PROMPT

    def numbers(text: str) -> set[str]:
        return set(re.findall(r"\d+(?:\.\d+)?", text.replace(",", "")))

    blocks = [block for block in _PROMPT.split("\n\n")[1:] if block.strip()]
    assert len(blocks) >= 3
    for block in blocks:
        problem, rest = block.removeprefix("Problem: ").split("\nContext: ")
        context, expression = rest.split("\nExpression: ")
        evaluate(expression)
        percent = re.search(r"(\d+(?:\.\d+)?)%", problem)
        allowed = numbers(problem) | numbers(context) | ({"1", "100"} if percent else set())
        assert numbers(expression) <= allowed, block
        if percent:
            assert f"{percent[1]}/100" in expression, block
