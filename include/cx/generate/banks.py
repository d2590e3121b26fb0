"""The generator's word banks: product categories, review and ticket phrases.

They are data, kept as JSON files in ``cx/generate/word_banks/`` (package data), and
read here only, so a bank is edited in one place and the code that composes the text
carries no word lists. Lists come back as tuples (immutable, like the rest of the
generator's constants); objects keep their order, which fixes the draw order.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["load_bank"]


def _frozen(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return {k: _frozen(v) for k, v in value.items()}
    return value


@cache
def load_bank(name: str) -> dict[str, Any]:
    """The bank ``word_banks/<name>.json`` with its lists as tuples."""
    text = resources.files("cx.generate").joinpath("word_banks", f"{name}.json").read_text(encoding="utf-8")
    return _frozen(json.loads(text))
