"""Data-quality stage: Great Expectations suites over the run's partition.

``from cx.quality.checkpoint import run`` is the Airflow task's entry point. This
package import stays light (no Great Expectations, no pandas work) so DAG parsing
is unaffected; GX is imported inside the functions that validate.
"""

from __future__ import annotations

__all__ = ["run", "DataQualityError"]


def __getattr__(name: str):
    # Lazy re-exports: importing cx.quality must not pull in the checkpoint's deps.
    if name in __all__:
        from cx.quality import checkpoint

        return getattr(checkpoint, name)
    raise AttributeError(name)
