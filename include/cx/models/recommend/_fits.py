"""Several LightFM fits side by side, each on one thread, so the results are reproducible.

LightFM's SGD on n threads (Hogwild) is not repeatable: the threads' updates to the
shared embeddings race, and each thread draws negatives from its own random stream,
seeded per thread, so even the streams change with n. One fit therefore always runs on
one thread; the stage's parallelism is across fits instead. ``fit_recommender`` needs
two (before the blend's validation window, and at its reference), which are independent
and run at the same time: each touches only its own model and matrices, and LightFM
releases the GIL while it trains. (The final fit's validation fit is the holdout's
cutoff fit, cached, so it runs alone.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

FIT_THREADS = 1  # LightFM threads per fit (see the module doc)


def run_side_by_side(jobs: Sequence[Callable[[], T]], threads: int) -> list[T]:
    """Each job's result, in job order, at most ``threads`` jobs at a time."""
    if threads <= 1 or len(jobs) <= 1:
        return [job() for job in jobs]
    with ThreadPoolExecutor(min(threads, len(jobs))) as pool:
        return list(pool.map(lambda job: job(), jobs))


def fit_model(model: Any, fit_args: dict[str, Any]) -> Any:
    """``model.fit(**fit_args)`` on FIT_THREADS threads."""
    return model.fit(**fit_args, num_threads=FIT_THREADS)
