"""Grammars for every role's output: plan lines, joiner decisions, ReAct actions, expressions.

One mechanism for every role (DESIGN.md, "Token economy"): each agent attaches a
:class:`~interlace.llm.Grammar` to its request and a backend that can constrain decoding (the
embedded engine, through llguidance) makes every sampled token keep the output inside it. The
model can then never write a malformed plan line, an unknown tool, a reference to a later task,
or a joiner reply without its ``Action:`` line, so no retry ("nudge") request is needed. Tokens
the grammar forces (``"Action: Finish("`` after a thought, ``"2. "`` after a newline...) are
evaluated in one batch instead of being decoded one by one. Backends that cannot constrain
ignore the grammar, and the agents parse and retry as before.

Grammars are written in llguidance's Lark dialect (https://github.com/guidance-ai/llguidance,
``docs/syntax.md``): lowercase rules, uppercase terminals, ``/regex/`` terminals.

Argument values follow each tool's JSON schema (:func:`value_rule`): strings are double-quoted
Python literals, integers and numbers plain literals, ``True``/``False``/``None``, lists in
brackets; a schema the builder does not know becomes a permissive literal, never an error. In a
plan, a whole argument may instead be a reference ``$N`` to an *earlier* task (LLMCompiler,
Kim et al. 2023, §3.1); references inside strings are left to the parser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from interlace.llm._base import Grammar

__all__ = [
    "MAX_PLAN_TASKS",
    "cml_grammar",
    "expression_grammar",
    "joiner_grammar",
    "plan_grammar",
    "react_grammar",
    "value_rule",
]

MAX_PLAN_TASKS = 12
"""Most tool calls one constrained plan may hold before ``join()`` (the line after is join)."""

# Unbounded regexes with lengths bounded in tokens by rule attributes ([max_tokens=N]): a
# counted repetition such as {1,160} made each mask 7x slower (2.7 ms against 0.36 ms per token
# on Qwen2.5's vocabulary, 2026-12-01).
_STRING = r'/"([^"\\\n]|\\[^\n])*"/'
# Python's own string literals, either quote (CML bodies are Python calls; the fine-tuning traces
# and the 0.5B model both write 'single' quotes too).
_PY_STRING = r"""/"([^"\\\n]|\\[^\n])*"|'([^'\\\n]|\\[^\n])*'/"""
_INT = r"/-?[0-9]{1,18}/"
_NUMBER = r"/-?[0-9]{1,18}(\.[0-9]{1,12})?([eE]-?[0-9]{1,3})?/"
_LITERAL = rf"({_STRING} | {_NUMBER} | \"True\" | \"False\" | \"None\")"
_PY_LITERAL = rf"({_PY_STRING} | {_NUMBER} | \"True\" | \"False\" | \"None\")"
# A flat dict literal ({"k": 1, "n": "x"}): objects are rare arguments, and their keys are not
# typed by every schema (BFCL's "dict" parameters often give no properties).
_DICT = r"/\{[^\n\[\]{}]*\}/"
THOUGHT_TOKENS = 48
"""Most tokens of one ``Thought:`` line; then the grammar forces the line's end."""
ANSWER_TOKENS = 48
"""Most tokens of a free-text ``Finish(...)``/``Replan(...)`` argument."""
# No colon in a thought: the 0.5B model otherwise wrote "Action: ..." or "Observation: ..."
# inside it (the latter hit ReAct's stop sequence and cut the turn, 2026-12-01).
_THOUGHT_RULE = f"thought[max_tokens={THOUGHT_TOKENS}]: /[^\\n:]+/"
_FREE_ANSWER = r"/([^\n()]|\([^\n()]*\))+/"
_SEP = '", "'


class SchemaTool(Protocol):
    """What a grammar needs from a tool: its name and the JSON schema of its parameters."""

    @property
    def name(self) -> str: ...

    @property
    def parameters(self) -> Mapping[str, Any]: ...


def _quote(text: str) -> str:
    """``text`` as a Lark string literal."""
    return json.dumps(text)


def _rule_name(text: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", text.lower())


def value_rule(
    schema: Mapping[str, Any],
    *,
    ref: str | None = None,
    depth: int = 0,
    python_strings: bool = False,
) -> str:
    """A Lark expression for a Python literal of the JSON ``schema`` type.

    Args:
        schema: one property's JSON schema (``type``, ``enum``, ``anyOf``, ``items``...).
        ref: a rule name whose alternatives (references such as ``"$1"``) may stand for the
            whole value, or ``None``.
        depth: nesting level (lists of lists are cut to a permissive literal at depth 2).
        python_strings: strings (and string enum values) in either quote, as Python reads
            them; ``False``: double quotes only.

    Returns:
        The expression; unknown or unsupported schemas give a permissive literal.
    """
    alternatives = _value_alternatives(schema, ref=ref, depth=depth, py=python_strings)
    if ref is not None:
        alternatives.append(ref)
    return "(" + " | ".join(dict.fromkeys(alternatives)) + ")"


def _value_alternatives(
    schema: Mapping[str, Any], *, ref: str | None, depth: int, py: bool = False
) -> list[str]:
    literal = _PY_LITERAL if py else _LITERAL  # what an unknown or unsupported schema allows
    if "enum" in schema and isinstance(schema["enum"], list) and schema["enum"]:
        choices = [_quote(_python_literal(v)) for v in schema["enum"]]
        if py:
            choices += [_quote(repr(v)) for v in schema["enum"] if isinstance(v, str)]
        return list(dict.fromkeys(choices))
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            out: list[str] = []
            for option in options:
                if isinstance(option, Mapping):
                    out += _value_alternatives(option, ref=ref, depth=depth, py=py)
            return out or [literal]
    kind = schema.get("type")
    if isinstance(kind, list):
        out = []
        for k in kind:
            out += _value_alternatives({**schema, "type": k}, ref=ref, depth=depth, py=py)
        return out or [literal]
    if kind == "string":
        return [_PY_STRING if py else _STRING]
    if kind == "integer":
        return [_INT]
    if kind == "number":
        return [_NUMBER]
    if kind == "boolean":
        return ['"True"', '"False"']
    if kind == "null":
        return ['"None"']
    if kind == "object":
        return [_DICT]
    if kind == "array" and depth < 2:
        items = schema.get("items")
        item = value_rule(
            items if isinstance(items, Mapping) else {}, ref=ref, depth=depth + 1, python_strings=py
        )
        return [f'"[" ({item} ({_SEP} {item}){{0,31}})? "]"']
    return [literal]


def _python_literal(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "True" if value else "False"
    return repr(value)


def _call_rule(tool: SchemaTool, ref: str | None) -> str:
    """``name(v1, v2, ...)``, positional in the schema's property order: every parameter up to
    the last required one must be given, the ones after it may be left off from the end."""
    params = tool.parameters
    properties = params.get("properties") if isinstance(params, Mapping) else None
    if not isinstance(properties, Mapping):
        return f'{_quote(tool.name + "(")} (/[^\\n)]{{1,300}}/)? ")"'
    required = set(params.get("required") or ())
    names = list(properties)
    last_required = max((i for i, n in enumerate(names) if n in required), default=-1)
    values = [value_rule(p if isinstance(p, Mapping) else {}, ref=ref) for p in properties.values()]
    head, optional = values[: last_required + 1], values[last_required + 1 :]
    if head:
        body = f" {_SEP} ".join(head) + (f" ({_SEP} {_chain(optional)})?" if optional else "")
    else:
        body = f"({_chain(optional)})?" if optional else ""
    return f'{_quote(tool.name + "(")} {body} ")"' if body else _quote(tool.name + "()")


def _chain(values: Sequence[str]) -> str:
    """``v1 (SEP v2 (SEP v3)?)?``: the values in order, left off from the end."""
    out = values[-1]
    for value in reversed(values[:-1]):
        out = f"{value} ({_SEP} {out})?"
    return out


def plan_grammar(
    tools: Sequence[SchemaTool], *, max_tasks: int = MAX_PLAN_TASKS, thoughts: bool = False
) -> Grammar:
    """Plan lines of LLMCompiler's planner (Kim et al. 2023, §3.1), ending at ``join()``.

    The plan is ``1. tool(args)`` ... ``N. join()``: ids count up from 1 with no gap, every
    call names a listed tool, arguments are typed by the tool's schema, a whole argument may be
    ``$k`` only for an earlier id ``k``, and (with ``thoughts``) an optional ``Thought: ...``
    line may precede any call. After ``max_tasks`` calls the next line must be ``join()``.
    Generation ends at ``join()`` (the parser treats it as the end of the plan).

    Args:
        tools: the tools plans may call.
        max_tasks: most calls before ``join()``.
        thoughts: allow ``Thought:`` lines. Off by default: the 0.5B model spent them copying
            the joiner examples' thoughts into its plans (2 of 2 Movie questions, 2026-12-01).

    Returns:
        The grammar (Lark text).
    """
    maybe = "thought_line? " if thoughts else ""
    lines = [f"start: {maybe}step1", 'thought_line: "Thought: " thought "\\n"', _THOUGHT_RULE]
    for k in range(1, max_tasks + 2):
        head = _quote(f"{k}. ")
        if k == max_tasks + 1:
            lines.append(f'step{k}: {head} "join()"')
            break
        ref = f"ref{k}" if k > 1 else None
        if ref is not None:
            lines.append(f"{ref}: " + " | ".join(_quote(f"${j}") for j in range(1, k)))
        calls = " | ".join(f"call{k}_{_rule_name(t.name)}" for t in tools) or '"join()"'
        lines.append(f'step{k}: {head} ("join()" | ({calls}) "\\n" {maybe}step{k + 1})')
        lines += [f"call{k}_{_rule_name(t.name)}: {_call_rule(t, ref)}" for t in tools]
    return Grammar(lark="\n".join(lines), name="plan")


def _answer_rules(choices: Sequence[str] | None) -> list[str]:
    """``answer`` (one of ``choices``, or free text of at most ANSWER_TOKENS tokens) and
    ``reason`` (always free text)."""
    free = f"[max_tokens={ANSWER_TOKENS}]: {_FREE_ANSWER}"
    answer = (
        "answer: " + " | ".join(_quote(c) for c in dict.fromkeys(choices))
        if choices
        else f"answer{free}"
    )
    return [answer, f"reason{free}"]


def joiner_grammar(
    *, final: bool = False, thought: bool = True, choices: Sequence[str] | None = None
) -> Grammar:
    """The joiner's decision (Kim et al. 2023, §3.3): a one-line ``Thought: ...`` (at most 48
    tokens, no colon), then ``Action: Finish(answer)`` or, unless ``final``,
    ``Action: Replan(what is missing)``. Generation ends at the closing parenthesis.

    A ``Replan`` always comes after a thought, even where the thought is optional: a replan
    costs a whole planner round, so the joiner has to say first why the results do not answer
    the question. Free to skip the thought, the 0.5B default model replanned on 28 of 50
    HotpotQA questions (250-299, 2026-12-03) with reasons such as ``Replan(1, 2)``, and then
    wrote the same plan again on 26 of them.

    Args:
        final: the last round: only ``Finish``.
        thought: require the thought (``False``: optional before ``Finish``). Required by
            default: allowed to skip it, the 0.5B default model answered yes/no questions with
            an entity's name (4 of 4 HotpotQA questions, 2026-12-01) when nothing constrained
            the answer; LLMCompiler makes it optional when ``choices`` are known.
        choices: the answers allowed in ``Finish(...)`` (e.g. ``("yes", "no")`` or a
            multiple-choice question's options); ``None``: any short text.
    """
    finish = '"Action: Finish(" answer ")"'
    replan = '"Action: Replan(" reason ")"'
    start = '"Thought: " thought "\\n" ' + (finish if final else f"({finish} | {replan})")
    if not thought:
        start = f"({start}) | {finish}"
    lark = "\n".join([f"start: {start}", _THOUGHT_RULE, *_answer_rules(choices)])
    return Grammar(lark=lark, name="joiner-final" if final else "joiner")


def react_grammar(tools: Sequence[SchemaTool], *, choices: Sequence[str] | None = None) -> Grammar:
    """One ReAct turn (Yao et al. 2022): ``Thought: ...`` (at most 48 tokens, no colon),
    then ``Action: tool(args)`` for a listed tool with schema-typed arguments, or
    ``Action: Finish(answer)`` (one of ``choices`` when given). Generation ends at the closing
    parenthesis."""
    calls = [f"call_{_rule_name(t.name)}" for t in tools]
    lines = [
        f'start: "Thought: " thought "\\n" "Action: " ({" | ".join([*calls, "finish"])})',
        'finish: "Finish(" answer ")"',
        _THOUGHT_RULE,
        *_answer_rules(choices)[:1],
    ]
    lines += [f"call_{_rule_name(t.name)}: {_call_rule(t, None)}" for t in tools]
    return Grammar(lark="\n".join(lines), name="react")


def expression_grammar() -> Grammar:
    """One short arithmetic expression on one line: numbers, ``+ - * / **``, parentheses one
    level deep, unary minus and ``min``/``max``/``round``/``abs`` calls (a subset of what the math
    tool's evaluator accepts: no ``%``, which the 0.5B model wrote for "percent", e.g. ``30%25``).

    The reply may end after any complete expression (the trailing newline is optional): in a
    chat reply the model ends with its end-of-turn token, which a grammar that required the
    newline forbade, so in ParallelQA runs of 2026-12-01 the 0.5B model, unable to stop, ran on
    to its 48-token limit (``8848.86 * 2.5 + 8848.86 / 2 + 8848.86 / 2 + ...``; 2.5 s a call).
    Bounded as well: at most 4 terms of 4 factors, each factor a number or one parenthesised
    (or function) group of at most 4 terms of plain numbers.
    """
    lark = "\n".join(
        [
            'start: expr "\\n"?',
            "expr: term (ADD term){0,3}",
            "term: factor (MUL factor){0,3}",
            'factor: "-"? atom (POW atom)?',
            'atom: NUMBER | "(" inner ")" | FUNC "(" inner (SEP inner){0,3} ")"',
            "inner: iterm (ADD iterm){0,3}",
            "iterm: ifactor (MUL ifactor){0,3}",
            'ifactor: "-"? NUMBER (POW NUMBER)?',
            'ADD: " + " | " - " | "+" | "-"',
            'MUL: " * " | " / " | "*" | "/"',
            'POW: " ** " | "**"',
            'SEP: ", " | ","',
            'FUNC: "min" | "max" | "round" | "abs"',
            r"NUMBER: /[0-9]{1,12}(\.[0-9]{1,6})?/",
        ]
    )
    return Grammar(lark=lark, name="expression")


_CALL_ID = r"/[A-Za-z_][A-Za-z0-9_]*/"
_FUTURE = r"/\$[A-Za-z_][A-Za-z0-9_]*/"


def _keyword_call_rules(tool: SchemaTool, rule: str, ref: str | None) -> list[str]:
    """Rules for ``name(k1=v1, k2=v2)`` under rule ``rule``: parameters by keyword in the
    schema's property order, every required one present, optional ones left out anywhere.

    ``{rule}_f{i}`` writes parameters ``i..`` when none came before (no leading comma),
    ``{rule}_r{i}`` after one did; both are linear in the number of parameters.
    """
    params = tool.parameters
    properties = params.get("properties") if isinstance(params, Mapping) else None
    head = _quote(tool.name + "(")
    if not isinstance(properties, Mapping):  # no schema: any one-line argument text
        return [f'{rule}: {head} /[^\\n)]*/ ")"']
    if not properties:
        return [f"{rule}: {_quote(tool.name + '()')}"]
    required = set(params.get("required") or ())
    items = [
        (
            name,
            value_rule(spec if isinstance(spec, Mapping) else {}, ref=ref, python_strings=True),
            name in required,
        )
        for name, spec in properties.items()
    ]
    n = len(items)
    lines = [f'{rule}: {head} {rule}_f0 ")"']
    for i, (name, value, needed) in enumerate(items):
        rest_next = f" {rule}_r{i + 1}" if i + 1 < n else ""
        pair = f"{_quote(name + '=')} {value}"
        later = f"{pair}{rest_next}"
        if needed:
            lines.append(f"{rule}_f{i}: {later}")
            lines.append(f'{rule}_r{i}: ", " {later}')
        else:
            skip = f" | {rule}_f{i + 1}" if i + 1 < n else ""
            lines.append(f"{rule}_f{i}: ({later}){skip}")  # never empty: at least one pair
            lines.append(f'{rule}_r{i}: (", " {pair})?{rest_next}')
    if not any(needed for _, _, needed in items):  # every parameter optional: "name()" too
        lines[0] = f'{rule}: {head} {rule}_f0? ")"'
    return lines


def cml_grammar(tools: Sequence[SchemaTool], *, futures: bool = False) -> Grammar:
    """Everything a CML agent decodes (AsyncLM, Gim, Lee, Zhong 2024, §3): free text without
    ``[``, ``[CALL] id [HEAD] name(k=v, ...) [END]`` blocks of listed functions with arguments
    typed by each schema (by keyword, in the schema's order, every required one present;
    strings in either of Python's quotes) and
    ``[TRAP][END]``. The model can never write ``[INTR]``, an unknown function, an unknown or
    missing parameter, or a malformed block; the interrupts the runtime injects are outside
    the decoded text and so outside the grammar. Generation may end after any block or text.

    Args:
        tools: the functions calls may name (their ``parameters`` JSON schemas).
        futures: a whole argument may be ``$id``, an earlier call's result (whether ``id``
            names an earlier call is left to the parser).

    Returns:
        The grammar (Lark text).
    """
    ref = "future" if futures else None
    rules = [f"call_{i}_{_rule_name(t.name)}" for i, t in enumerate(tools)]
    body = " | ".join(rules) if rules else _quote("none()")
    lines = [
        "start: TEXT? (block TEXT?)*",
        "block: call | trap",
        r"TEXT: /[^\[]+/",
        'trap: "[TRAP][END]"',
        f'call: "[CALL] " CALL_ID " [HEAD] " ({body}) " [END]"',
        f"CALL_ID: {_CALL_ID}",
    ]
    if futures:
        lines.append(f"future: {_FUTURE}")
    for tool, rule in zip(tools, rules, strict=True):
        lines += _keyword_call_rules(tool, rule, ref)
    return Grammar(lark="\n".join(lines), name="cml")
