"""The ``math`` tool of LLMCompiler's benchmarks, and the safe evaluator behind it.

As published (arXiv 2312.04511, Appendix), the math tool asks an LLM to turn a problem and its
context into one arithmetic expression, then evaluates it. We evaluate with an AST walker that
allows only numbers, ``+ - * / ** %``, unary ``-``/``+``, parentheses and
``min``/``max``/``round``/``abs`` — never ``eval``.
"""

from __future__ import annotations

import ast
import math as _pymath
import operator
import re
from collections.abc import Callable, Sequence
from typing import Any

from interlace._errors import ExpressionError
from interlace._grammars import expression_grammar
from interlace.agents._common import ToolLLM
from interlace.agents._observe import fit_observation, split_sentences
from interlace.llm._base import LLM, GenerationConfig, Message

MAX_EXPRESSION_CHARS = 500
MAX_EXPONENT = 1000.0
_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
}
_FUNCS: dict[str, Callable[..., Any]] = {"min": min, "max": max, "abs": abs, "round": round}


def evaluate(expression: str) -> float:
    """Evaluate plain arithmetic.

    Args:
        expression: e.g. ``"(10994 * 0.8) - max(8376, 8648) ** 0.5"``.

    Returns:
        the value as a finite float.

    Raises:
        ExpressionError: anything but allowed arithmetic, a syntax error, division by zero, an
            overflow or a non-finite/complex result.
    """
    text = expression.strip()
    if not text:
        raise ExpressionError("empty expression")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(text, mode="eval")
        value = _eval(tree.body)
        if isinstance(value, complex) or not _pymath.isfinite(value):
            raise ExpressionError(f"{text!r} does not evaluate to a finite real number")
        return float(value)
    except ExpressionError:
        raise
    except Exception as exc:  # model-written text: any failure is the expression's error
        raise ExpressionError(f"cannot evaluate {text!r}: {type(exc).__name__}: {exc}") from exc


def _eval(node: ast.expr) -> Any:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ExpressionError(f"only numbers are allowed, got {node.value!r}")
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _eval(node.operand)
        return -operand if isinstance(node.op, ast.USub) else +operand
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow):
            if abs(right) > MAX_EXPONENT or abs(left) > 1e100:
                raise ExpressionError("power too large")
            return float(left) ** float(right)
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise ExpressionError(f"operator {type(node.op).__name__} is not allowed")
        return op(float(left), float(right))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        func = _FUNCS.get(node.func.id)
        if func is None or node.keywords or not node.args:
            raise ExpressionError(f"call {ast.unparse(node)!r} is not allowed")
        args = [_eval(arg) for arg in node.args]
        if func is round:
            if len(args) > 2:
                raise ExpressionError("round takes one or two arguments")
            return round(args[0], int(args[1])) if len(args) == 2 else round(args[0])
        return func(*args) if len(args) > 1 or func is abs else func(args)
    raise ExpressionError(f"{type(node).__name__} is not allowed in arithmetic")


# Fixed instructions and four worked examples (fictional places, so no benchmark fact leaks).
# The examples take their numbers from a context (the 0.5B model copied the numbers of
# context-free examples into its answers), and they write a percent change as
# ``(1 + p/100)``: the model copies ``p`` from the problem instead of working out the factor,
# which it got wrong ("1.2" for 12 %, "1.5" for 5 %). Replaying the 86 math calls of 33
# stored ParallelQA plans (2026-12-03), the factor was right in 48 of 66 percent problems
# against 28 of 66 with factors such as ``* 1.2``; the "n times" example keeps the model from
# writing every change as a percentage, and the ratio example's problem names no quantity
# (an earlier "ratio of the first length" example was copied into every length problem).
_PROMPT = (
    "Rewrite the problem as ONE short arithmetic expression over the numbers in the context, "
    "using only numbers, + - * / **, parentheses, min, max, round and abs. Copy the numbers, "
    "do not work them out: a change of p% is * (1 + p/100) or * (1 - p/100), and n times is "
    "* n. Write numbers without commas. Reply with the expression alone on one line.\n\n"
    "Problem: the height increased by 20%\n"
    "Context: Mount Orla is a peak of the Tarn range. Its summit is 2,140 metres above sea level.\n"
    "Expression: 2140 * (1 + 20/100)\n\n"
    "Problem: the population decreased by 15%\n"
    "Context: Velden is a market town. It had 48,500 inhabitants in 2020.\n"
    "Expression: 48500 * (1 - 15/100)\n\n"
    "Problem: the area made 2.5 times larger\n"
    "Context: Lake Wend is a glacial lake. It covers 38 square kilometres.\n"
    "Expression: 38 * 2.5\n\n"
    "Problem: the ratio of the first to the second\nContext: 712.5\n304\n"
    "Expression: 712.5 / 304\n\n"
)

DEFAULT_CONTEXT_TOKENS = 48
"""Each text in the math tool's context is cut to about this many tokens, keeping the sentences
that hold numbers, the most relevant to the problem first (:func:`_numeric_context`): the math
tool needs one number from a search result, and every context token is prefill time (a whole
Wikipedia extract is ~110 tokens, ~0.8 s at 134 tokens/s on 2 threads)."""


SIGNIFICANT_DIGITS = 6
"""The math tool's results are rounded to this many significant digits. Qwen2.5's tokenizer
writes one token per digit, so ``0.29514285714285715`` is 19 tokens that the joiner prefills
and then often copies into its thought; six digits are far inside the benchmarks' 10 %
tolerance."""


def round_significant(value: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """``value`` rounded to ``digits`` significant digits (364100.00000000006 -> 364100.0)."""
    return float(f"{value:.{digits}g}")


def whole_as_int(value: float) -> float:
    """``value`` as an ``int`` when it is a whole number below 1e16 (``6440000.0`` ->
    ``6440000``): the ``.0`` is two more tokens in every observation and thought that shows it,
    and from 1e16 on Python writes floats with an exponent, which is shorter."""
    return int(value) if value.is_integer() and abs(value) < 1e16 else value


_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


def extract_expression(text: str) -> str:
    """Pull the expression out of the model's reply (first non-empty line, fences removed)."""
    for line in text.replace("```", "\n").splitlines():
        line = re.sub(r"^\s*(expression|answer)\s*:\s*", "", line.strip(), flags=re.I)
        # thousands separators go ("9,200,000"); the commas between min/max arguments stay
        line = _THOUSANDS.sub("", line.strip().rstrip(".")) if line.strip() else ""
        if line and not line.lower().startswith(("text", "python")):
            return line.replace("^", "**").replace("×", "*").replace("÷", "/")
    return ""


def _render_context(context: str | float | Sequence[Any] | None, problem: str, tokens: int) -> str:
    """The context as the prompt shows it: one item per line, each text cut to ``tokens``."""
    if context is None or context == "":
        return "none"
    items = [context] if isinstance(context, str | int | float) else list(context)
    return "\n".join(
        _numeric_context(item, problem, tokens) if isinstance(item, str) else str(item)
        for item in items
    )


def _numeric_context(text: str, problem: str, tokens: int) -> str:
    """``text`` cut to about ``tokens`` tokens for the math tool: only its sentences that hold
    a number (all an expression can use), the first of them and then the others by relevance to
    ``problem`` (:func:`~interlace.agents._observe.fit_observation`). A text without a digit, or
    ``tokens`` <= 0, is kept whole."""
    if tokens <= 0:
        return text.strip()
    numeric = [s for s in split_sentences(text) if any(c.isdigit() for c in s)]
    return fit_observation(" ".join(numeric) if numeric else text, problem, tokens)


def make_math(
    llm: LLM, *, max_tokens: int = 32, context_tokens: int = DEFAULT_CONTEXT_TOKENS
) -> Callable[..., Any]:
    """Build the async ``math(problem, context)`` tool function bound to ``llm``.

    Args:
        llm: the model that writes the expression (its requests are traced as role ``math``).
        max_tokens: the expression's token limit.
        context_tokens: each text in the context is cut to about this many tokens by relevance
            to the problem (0 keeps whole texts).

    The returned function returns the expression's value rounded to :data:`SIGNIFICANT_DIGITS`
    significant digits (an ``int`` when whole, :func:`whole_as_int`), and raises
    ExpressionError when the model's expression is not valid arithmetic (the task fails; the
    joiner sees why).
    """
    # The expression grammar: on a backend that enforces it the reply is always arithmetic;
    # the fixed instructions are the system message, so they stay a pinned, cached prefix.
    config = GenerationConfig(max_tokens=max_tokens, stop=("\n\n",), grammar=expression_grammar())
    system = Message(role="system", content=_PROMPT.strip())

    async def math(problem: str, context: list[str | float] | str | float | None = None) -> float:
        """Solve an arithmetic problem; give the numbers (or the texts holding them) as context.

        Args:
            problem: the arithmetic question, e.g. "the depth increased by 10%".
            context: the texts or numbers it is about: earlier results ($1, a math result).
        """
        shown = _render_context(context, problem, context_tokens)
        prompt = f"Problem: {problem}\nContext: {shown}\nExpression:"
        messages = [system, Message(role="user", content=prompt)]
        # ToolLLM: the request counts in the run's LLM calls and is traced as role "math"
        reply = await ToolLLM(llm, "math").complete(messages, config)
        return whole_as_int(round_significant(evaluate(extract_expression(reply.text))))

    return math
