"""What a request costs: a price table in US dollars per million tokens.

The built-in table holds a few public OpenAI list prices (standard tier, as published on
openai.com/api/pricing in October 2024, after the gpt-4o-2024-08-06 price cut). Prices change:
override or extend the table with a JSON file named by ``$INTERLACE_PRICES`` or passed to
:meth:`PriceTable.load`, shaped ``{"model": {"input": 2.5, "output": 10.0, "cached_input": 1.25}}``
(USD per 1M tokens; ``cached_input`` is optional and defaults to ``input``).

A model name matches the longest table key it starts with, so ``gpt-4o-mini-2024-07-18`` is priced
as ``gpt-4o-mini``. Local models cost 0 USD; models missing from the table are priced at 0 USD too
(:meth:`PriceTable.price` returns ``None`` for them so callers can tell).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from interlace._errors import UsageError
from interlace.llm._base import Usage

PRICES_ENV = "INTERLACE_PRICES"
"""Environment variable naming a JSON price file that extends/overrides the built-in table."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Price:
    """List price of one model.

    Attributes:
        input: USD per 1M prompt tokens.
        output: USD per 1M completion tokens.
        cached_input: USD per 1M prompt tokens served from the provider's prompt cache
            (``None``: same as ``input``).
    """

    input: float
    output: float
    cached_input: float | None = None

    def cost(self, usage: Usage) -> float:
        """Price of ``usage`` in US dollars."""
        cached = min(usage.cached_prompt_tokens, usage.prompt_tokens)
        cached_rate = self.input if self.cached_input is None else self.cached_input
        return (
            (usage.prompt_tokens - cached) * self.input
            + cached * cached_rate
            + usage.completion_tokens * self.output
        ) / 1_000_000


DEFAULT_PRICES: Mapping[str, Price] = {
    "gpt-4o": Price(input=2.50, output=10.00, cached_input=1.25),
    "gpt-4o-mini": Price(input=0.15, output=0.60, cached_input=0.075),
    "gpt-4-turbo": Price(input=10.00, output=30.00),
    "gpt-4": Price(input=30.00, output=60.00),
    "gpt-3.5-turbo": Price(input=0.50, output=1.50),
}
"""Built-in list prices, USD per 1M tokens (OpenAI, standard tier, October 2024)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class PriceTable:
    """Model name -> :class:`Price`, with longest-prefix lookup.

    Attributes:
        prices: the table.
    """

    prices: Mapping[str, Price]

    @classmethod
    def default(cls) -> PriceTable:
        """The built-in table, extended by ``$INTERLACE_PRICES`` when that variable is set.

        Raises:
            UsageError: the file named by the variable is missing or malformed.
        """
        table = cls(prices=dict(DEFAULT_PRICES))
        env = os.environ.get(PRICES_ENV)
        return table.load(Path(env)) if env else table

    def load(self, path: Path) -> PriceTable:
        """A copy of this table updated with the JSON price file at ``path``.

        Raises:
            UsageError: the file cannot be read or is not ``{model: {input, output}}``.
        """
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read price file {path}: {exc}") from exc
        return self.updated(raw)

    def updated(self, raw: object) -> PriceTable:
        """A copy updated with ``{model: {"input": x, "output": y[, "cached_input": z]}}``.

        Raises:
            UsageError: ``raw`` does not have that shape.
        """
        if not isinstance(raw, dict):
            raise UsageError('prices must be {"model": {"input": USD_per_1M, "output": ...}}')
        prices = dict(self.prices)
        for model, entry in raw.items():
            try:
                cached = entry.get("cached_input")
                prices[str(model)] = Price(
                    input=float(entry["input"]),
                    output=float(entry["output"]),
                    cached_input=None if cached is None else float(cached),
                )
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise UsageError(
                    f"bad price entry for {model!r}: {entry!r} "
                    '(want {"input": USD_per_1M, "output": USD_per_1M})'
                ) from exc
        return PriceTable(prices=prices)

    def price(self, model: str) -> Price | None:
        """The price of ``model`` (longest matching key prefix), or ``None`` if unknown."""
        best: str | None = None
        for key in self.prices:
            if model.startswith(key) and (best is None or len(key) > len(best)):
                best = key
        return None if best is None else self.prices[best]

    def cost(self, model: str, usage: Usage) -> float:
        """Price of ``usage`` on ``model`` in US dollars (0.0 for unknown models)."""
        price = self.price(model)
        return 0.0 if price is None else price.cost(usage)
