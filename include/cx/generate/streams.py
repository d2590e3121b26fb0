"""Independent, reproducible random streams.

Every (purpose, day, source) gets its own generator derived from the seed, so the
output of one source never depends on whether another source was generated, and a
run is byte-identical for the same arguments.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, purpose: str, day_index: int = -1, extra: str = "") -> np.random.Generator:
    """A generator for ``purpose`` on ``day_index`` (``-1`` for static draws)."""
    tag = zlib.crc32(f"{purpose}|{extra}".encode())
    return np.random.default_rng([seed & 0xFFFFFFFF, tag, day_index + 1])
