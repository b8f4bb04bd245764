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


_PROMPT = (
    "Rewrite the problem as ONE arithmetic expression using only numbers, + - * / ** %, "
    "parentheses, min, max, round and abs. Take the numbers from the context. Reply with the "
    "expression alone on one line.\n\n"
    "Problem: a bag holds 12 apples; what is 25% more?\nContext: none\nExpression: 12 * 1.25\n\n"
    "Problem: which is longer after halving the first, 300 or 170?\nContext: none\n"
    "Expression: max(300 / 2, 170)\n\n"
)


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


def _render_context(context: str | float | Sequence[Any] | None) -> str:
    if context is None or context == "":
        return "none"
    if isinstance(context, str | int | float):
        return str(context)
    return "\n".join(str(item) for item in context)


def make_math(llm: LLM, *, max_tokens: int = 48) -> Callable[..., Any]:
    """Build the async ``math(problem, context)`` tool function bound to ``llm``.

    The returned function raises ExpressionError when the model's expression is not valid
    arithmetic (the task fails; the joiner sees why).
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
        prompt = f"Problem: {problem}\nContext: {_render_context(context)}\nExpression:"
        messages = [system, Message(role="user", content=prompt)]
        # ToolLLM: the request counts in the run's LLM calls and is traced as role "math"
        reply = await ToolLLM(llm, "math").complete(messages, config)
        return evaluate(extract_expression(reply.text))

    return math
