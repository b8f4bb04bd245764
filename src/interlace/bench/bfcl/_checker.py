"""A checker for BFCL's AST categories, written from the leaderboard's published rules.

Rules (Berkeley Function Calling Leaderboard, AST evaluation):

* parallel categories are order-free: the calls must pair up one-to-one with the ground-truth
  entries (same count), in any order;
* function names must match exactly;
* every required parameter must be present, and no parameter outside the function's schema (or
  absent from the ground truth) may be given;
* a parameter left out is fine only if ``""`` is among its possible answers (optional);
* each value must equal one of the possible answers: an int is accepted where a float is
  expected, strings are compared after normalisation (case, spaces and ``,./-_*^`` removed), lists
  element by element, dicts key by key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_STRIP = re.compile(r"[ ,./\-_*^]")


def normalise(text: str) -> str:
    """Lower-case ``text`` and drop spaces and ``,./-_*^``."""
    return _STRIP.sub("", text.lower())


def _value_matches(value: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool):
        return value is expected if isinstance(expected, bool) else False
    if isinstance(expected, float) and isinstance(value, int | float):
        return float(value) == expected
    if isinstance(expected, int) and isinstance(value, int):
        return value == expected
    if isinstance(expected, str) and isinstance(value, str):
        return normalise(value) == normalise(expected)
    if isinstance(expected, list | tuple) and isinstance(value, list | tuple):
        return len(value) == len(expected) and all(
            _value_matches(v, e) for v, e in zip(value, expected, strict=True)
        )
    if isinstance(expected, dict) and isinstance(value, dict):
        return _dict_matches(value, expected)
    return bool(value == expected)


def _dict_matches(value: Mapping[str, Any], expected: Mapping[str, Any]) -> bool:
    for key, options in expected.items():
        if key not in value:
            if not (isinstance(options, list) and "" in options):
                return False
            continue
        choices = options if isinstance(options, list) else [options]
        if not any(_value_matches(value[key], c) for c in choices if c != ""):
            return False
    return set(value) <= set(expected)


def call_matches(
    call: Mapping[str, Any],
    truth: Mapping[str, Mapping[str, Sequence[Any]]],
    functions: Mapping[str, Mapping[str, Any]],
) -> bool:
    """Whether one model call ``{"name", "arguments"}`` satisfies one ground-truth entry.

    Args:
        call: the call, arguments by name.
        truth: ``{function_name: {param: [possible values]}}``.
        functions: the BFCL function documents by name (for required/known parameters).
    """
    ((name, params),) = truth.items()
    if call.get("name") != name:
        return False
    args: Mapping[str, Any] = call.get("arguments", {})
    schema = functions.get(name, {}).get("parameters", {})
    known = set(schema.get("properties", {}))
    if any(k not in known or k not in params for k in args):
        return False
    if any(r not in args for r in schema.get("required", [])):
        return False
    for param, options in params.items():
        if param not in args:
            if "" not in options:
                return False
            continue
        if not any(_value_matches(args[param], o) for o in options if o != ""):
            return False
    return True


def check_parallel(
    calls: Sequence[Mapping[str, Any]],
    ground_truth: Sequence[Mapping[str, Mapping[str, Sequence[Any]]]],
    functions: Sequence[Mapping[str, Any]],
) -> bool:
    """Order-free check of a parallel answer: a one-to-one matching must exist."""
    if len(calls) != len(ground_truth):
        return False
    docs = {f["name"]: f for f in functions}
    fits = [[call_matches(c, t, docs) for c in calls] for t in ground_truth]
    used = [False] * len(calls)

    def assign(i: int) -> bool:  # tiny backtracking search (n is at most ~10)
        if i == len(ground_truth):
            return True
        for j, ok in enumerate(fits[i]):
            if ok and not used[j]:
                used[j] = True
                if assign(i + 1):
                    return True
                used[j] = False
        return False

    return assign(0)


def bind_positional(
    args: Sequence[Any], kwargs: Mapping[str, Any], doc: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Name positional arguments after the schema's property order (extra ones as ``_argN``)."""
    names = list((doc or {}).get("parameters", {}).get("properties", {}))
    bound = {(names[i] if i < len(names) else f"_arg{i}"): v for i, v in enumerate(args)}
    bound.update(kwargs)
    return bound
