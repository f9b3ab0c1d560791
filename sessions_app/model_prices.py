"""The price table of model calls (US dollars per 1M tokens), read once by settings.

Plain Python with no Django import, so settings can build `MODEL_PRICES` from it.

Defaults are OpenAI's standard-tier list prices for text tokens (no Batch, Flex or
Priority tier, no long-context surcharge). This machine has no internet: OpenAI's
pricing page (https://developers.openai.com/api/docs/pricing) could not be read
directly, so every figure below is taken from a dated public transcription of it,
and two sources agree wherever both list a model:

- GPT-5 to GPT-5.6: the price table of agent-top (`crates/agent-top-core/prices.toml`,
  "OpenAI, standard tier, checked 2026-09-05 at developers.openai.com/api/docs/pricing"),
  matching a Codex log exporter's table "based on official OpenAI pricing/model pages"
  of 2026-05-16 for GPT-5 to GPT-5.4, and OpenAI's own GPT-5.6 Luna model page.
- GPT-6 Sol, Luna, Astra and GPT-6.1 Terra: the release notes of codexometer v0.18.4
  ("OpenAI's September 22 pricing") and PromptFuel v1.0.19/v1.0.24 (effective
  2026-09-03 and 2026-10-26).
- GPT-4.1, GPT-4o and the o-series: the 2026-05-16 table above, matching several
  other tables dated 2025-09 to 2026-05.

Read on 2026-11-25. Prices change: check the pricing page and override with the
`MODEL_PRICES` environment variable (see `load`). "Pro" models have no cached-input
price: their cached tokens are priced as input.
"""

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any


@dataclass(frozen=True)
class ModelPrice:
    """US dollars per 1M tokens."""

    input: Decimal
    cached_input: Decimal
    output: Decimal


def _price(input: str, cached_input: str | None, output: str) -> ModelPrice:
    return ModelPrice(Decimal(input), Decimal(cached_input or input), Decimal(output))


DEFAULT_MODEL_PRICES: dict[str, ModelPrice] = {
    # GPT-6 (2026-09/10)
    "gpt-6-astra": _price("10.00", "1.00", "50.00"),
    "gpt-6-sol": _price("2.00", "0.20", "10.00"),
    "gpt-6-luna": _price("0.10", "0.01", "0.50"),
    "gpt-6.1-terra": _price("1.00", "0.05", "5.00"),
    # GPT-5.6 (Luna and Terra as cut on 2026-07-30)
    "gpt-5.6-sol": _price("4.00", "0.40", "20.00"),
    "gpt-5.6-terra": _price("2.00", "0.20", "12.00"),
    "gpt-5.6-luna": _price("0.20", "0.02", "1.20"),
    # GPT-5.5 and GPT-5.4
    "gpt-5.5": _price("5.00", "0.50", "30.00"),
    "gpt-5.5-pro": _price("30.00", None, "180.00"),
    "gpt-5.4": _price("2.50", "0.25", "15.00"),
    "gpt-5.4-mini": _price("0.75", "0.075", "4.50"),
    "gpt-5.4-nano": _price("0.20", "0.02", "1.25"),
    "gpt-5.4-pro": _price("30.00", None, "180.00"),
    # GPT-5.2, GPT-5.1, GPT-5
    "gpt-5.2": _price("1.75", "0.175", "14.00"),
    "gpt-5.2-pro": _price("21.00", None, "168.00"),
    "gpt-5.1": _price("1.25", "0.125", "10.00"),
    "gpt-5": _price("1.25", "0.125", "10.00"),
    "gpt-5-mini": _price("0.25", "0.025", "2.00"),
    "gpt-5-nano": _price("0.05", "0.005", "0.40"),
    "gpt-5-pro": _price("15.00", None, "120.00"),
    # GPT-4.1, GPT-4o
    "gpt-4.1": _price("2.00", "0.50", "8.00"),
    "gpt-4.1-mini": _price("0.40", "0.10", "1.60"),
    "gpt-4.1-nano": _price("0.10", "0.025", "0.40"),
    "gpt-4o": _price("2.50", "1.25", "10.00"),
    "gpt-4o-mini": _price("0.15", "0.075", "0.60"),
    # o-series
    "o3": _price("2.00", "0.50", "8.00"),
    "o3-mini": _price("1.10", "0.55", "4.40"),
    "o4-mini": _price("1.10", "0.275", "4.40"),
}

# A dated snapshot ("gpt-5-mini-2025-08-07") is priced as its model.
_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")


class PriceTableError(ValueError):
    """MODEL_PRICES is not a JSON object of prices; the message says what is wrong."""


def _amount(model: str, key: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise PriceTableError(f"MODEL_PRICES[{model!r}][{key!r}] must be a number.")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise PriceTableError(f"MODEL_PRICES[{model!r}][{key!r}] must be a number.") from None
    if not amount.is_finite() or amount < 0:
        raise PriceTableError(f"MODEL_PRICES[{model!r}][{key!r}] must be a number >= 0.")
    return amount


def load(text: str, defaults: dict[str, ModelPrice] | None = None) -> dict[str, ModelPrice]:
    """The default table with the models of `text` (the MODEL_PRICES JSON) laid over it.

    `{"my-model": {"input": 0.5, "cached_input": 0.05, "output": 1.5}}` adds or
    replaces a model (`cached_input` defaults to `input`); `{"gpt-5": null}` removes
    one, so its calls show tokens only.
    """
    table = dict(DEFAULT_MODEL_PRICES if defaults is None else defaults)
    if not text.strip():
        return table
    try:
        given = json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        raise PriceTableError(f"MODEL_PRICES is not valid JSON: {exc}") from None
    if not isinstance(given, dict):
        raise PriceTableError('MODEL_PRICES must be a JSON object: {"model": {"input": …}}.')
    for model, price in given.items():
        if price is None:
            table.pop(model, None)
            continue
        if not isinstance(price, dict):
            raise PriceTableError(
                f"MODEL_PRICES[{model!r}] must be an object with input, output and, "
                "optionally, cached_input (dollars per 1M tokens), or null."
            )
        unknown = set(price) - {"input", "cached_input", "output"}
        if unknown:
            raise PriceTableError(
                f"MODEL_PRICES[{model!r}] has unknown keys {sorted(unknown)}: "
                "use input, cached_input, output."
            )
        for key in ("input", "output"):
            if key not in price:
                raise PriceTableError(f"MODEL_PRICES[{model!r}] needs {key!r}.")
        input_price = _amount(model, "input", price["input"])
        cached = price.get("cached_input")
        table[model] = ModelPrice(
            input=input_price,
            cached_input=input_price if cached is None else _amount(model, "cached_input", cached),
            output=_amount(model, "output", price["output"]),
        )
    return table


def price_of(table: dict[str, ModelPrice], model: str) -> ModelPrice | None:
    """The model's price: by its name, or a dated snapshot's by its model's name."""
    found = table.get(model)
    if found is None:
        found = table.get(_SNAPSHOT.sub("", model))
    return found
