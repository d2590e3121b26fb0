"""Synthetic landing-zone generator with planted structure and injected defects.

Writes the seven contract sources day by day under ``<out>/<source>/<YYYY-MM-DD>/``
and its own metadata under ``<out>/_manifest.json`` and ``<out>/_truth/``.
See :func:`generate` (Python API) and :mod:`cx.generate.cli` (command line).
"""

from cx.generate.core import generate
from cx.generate.manifest import Manifest

__all__ = ["Manifest", "generate"]
