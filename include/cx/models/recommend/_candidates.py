"""Candidate items per customer (own purchases, LightFM's top, the most popular) with
their blend terms: what validation, holdout and the published lists score."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from cx.models.recommend._baselines import PurchaseSignals
from cx.models.recommend._config import BLEND_TERMS, RecommendConfig
from cx.models.recommend._lightfm import FittedRecommender
from cx.models.recommend._terms import count_greater, popularity_term, recency_term
from cx.models.recommend._topk import descending_order


@dataclass
class Candidates:
    """A batch of customers' candidate items with the blend's terms on them.

    Slot s of row r holds item ``items[r, s]``; only ``valid`` slots count: allowed,
    not bought recently, and the item's first slot in the row (sources overlap)."""

    users: np.ndarray  # (B,) user rows
    items: np.ndarray  # (B, W) item columns
    valid: np.ndarray  # (B, W)
    occasions: np.ndarray  # (B, W) days the customer bought the item, 0 if never
    terms: np.ndarray  # (len(BLEND_TERMS), B, W), as blend_terms defines them


CandidateScorer = Callable[[Candidates], np.ndarray]  # -> (B, W) scores of the slots


def rank_probe(n_items: int, cfg: RecommendConfig) -> np.ndarray:
    """Columns the LightFM rank is counted on: all items of a small catalogue, a fixed
    seeded sample of ``rank_sample_items`` in a large one."""
    if n_items <= cfg.rank_sample_items:
        return np.arange(n_items)
    return np.sort(np.random.default_rng(cfg.seed).choice(n_items, cfg.rank_sample_items, replace=False))


def top_columns(scores: np.ndarray, c: int, probe_sorted: np.ndarray) -> np.ndarray:
    """Exactly ``descending_order(scores)[:, :c]`` without sorting whole rows: only the
    columns at or above a per-row threshold read off the sorted probe (about 3c of them)
    are sorted; rows whose threshold misses (fewer than c, or ties by the thousand) fall
    back to a partition of the full row."""
    b, n = scores.shape
    if c >= n:
        return descending_order(scores)
    width = probe_sorted.shape[1]
    above = min(width, int(np.ceil(3 * c * width / n)))
    # 1-d flatnonzero: ~10x faster than 2-d nonzero; the counts come with it.
    r, col = np.divmod(np.flatnonzero(scores >= probe_sorted[:, width - above][:, None]), n)
    count = np.bincount(r, minlength=b)
    ok = (count >= c) & (count <= 12 * c)
    top = np.empty((b, c), dtype=np.int64)
    rows = np.flatnonzero(ok)
    if rows.size:
        if rows.size < b:
            keep = ok[r]
            r, col = np.searchsorted(rows, r[keep]), col[keep]
        counts = count[rows]
        pos = np.arange(r.size) - np.repeat(np.cumsum(counts) - counts, counts)
        cols = np.zeros((rows.size, int(counts.max())), dtype=np.int64)
        vals = np.full(cols.shape, -np.inf, dtype="float32")
        cols[r, pos] = col
        vals[r, pos] = scores[rows[r], col]
        # Columns ascend within a row, so the stable order breaks ties by column as above.
        top[rows] = np.take_along_axis(cols, descending_order(vals)[:, :c], axis=1)
    bad = np.flatnonzero(~ok)
    if bad.size:
        part = np.sort(np.argpartition(-scores[bad], c - 1, axis=1)[:, :c], axis=1)
        order = descending_order(np.take_along_axis(scores[bad], part, axis=1))
        top[bad] = np.take_along_axis(part, order, axis=1)
    return top


def lightfm_rank_term(values: np.ndarray, top_values: np.ndarray, probe_sorted: np.ndarray, n: int) -> np.ndarray:
    """``rank_normalise`` of a row of n LightFM scores at the given ``values`` of it,
    without ranking the row: a value's rank is the number of items scoring higher,
    counted on the probe (exact when the probe holds all n items, else estimated, and at
    least len(top)) and exact among the row's top columns (``top_values``, best first).
    Tied items share a rank."""
    rank = count_greater(probe_sorted, values).astype("float32")
    c = top_values.shape[1]
    if probe_sorted.shape[1] < n and c:
        rank = np.maximum(rank * np.float32(n / probe_sorted.shape[1]), np.float32(c))
        r, j = np.nonzero(values >= top_values[:, -1:])  # few: own or popular items in the top
        if r.size:
            rank[r, j] = count_greater(top_values[r, ::-1], values[r, j][:, None])[:, 0]
    return (1.0 - rank / np.float32(max(n - 1, 1))).astype("float32")


def lightfm_candidates(
    fitted: FittedRecommender, users: np.ndarray, others: np.ndarray, c: int, probe: np.ndarray, block: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LightFM's exact top c columns per user row (best first), their rank term, and the
    rank term at the ``others`` columns (B, k). Scores are made and used ``block`` rows
    at a time, so each block's users x items stay in cache rather than go to memory."""
    n = len(fitted.item_ids)
    top = np.empty((len(users), c), dtype=np.int64)
    other_term = np.empty(others.shape, dtype="float32")
    for start in range(0, len(users), block):
        part = slice(start, start + block)
        scores = fitted.scores(users[part])
        probe_sorted = np.sort(scores[:, probe], axis=1)
        top[part] = top_columns(scores, c, probe_sorted)
        top_values = np.take_along_axis(scores, top[part], axis=1)
        values = np.take_along_axis(scores, others[part], axis=1)
        other_term[part] = lightfm_rank_term(values, top_values, probe_sorted, n)
    # The top's own ranks are their positions (ties aside).
    top_term = np.broadcast_to((1.0 - np.arange(c, dtype="float32") / np.float32(max(n - 1, 1))), top.shape)
    return top, top_term, other_term


def candidate_batches(
    fitted: FittedRecommender | None,
    signals: PurchaseSignals,
    users: np.ndarray,
    allowed: np.ndarray,
    cfg: RecommendConfig,
) -> Iterator[Candidates]:
    """Candidates per batch of user rows: the customer's own past purchases, LightFM's
    top ``candidates_per_source`` and the most popular as many (no LightFM source when
    ``fitted`` is None, e.g. for a baseline). For any non-negative blend weights the top
    k are (almost always) among them, so validation, holdout and the published lists cost
    O(candidates) per customer after one LightFM matrix product, not a sort of the catalogue.
    Memory is batch_size x items."""
    n = allowed.size
    c = min(cfg.candidates_per_source, n)
    popular = np.argsort(-signals.popularity, kind="stable")[:c]
    pop_term = popularity_term(signals)
    probe = rank_probe(n, cfg)  # the probe's scores, sorted: LightFM's threshold and rank
    blocked_base = ~allowed

    def one(batch: np.ndarray) -> Candidates:
        return _batch_candidates(batch, fitted, signals, popular, pop_term, probe, blocked_base, c, cfg)

    starts = range(0, len(users), cfg.batch_size)
    batches = (np.asarray(users[start : start + cfg.batch_size]) for start in starts)
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    # BLAS on one thread whatever num_threads, so every score is computed the same way;
    # numpy releases the GIL in the matrix product, sorts and comparisons: batches run
    # on num_threads threads, a few ahead at most (each batch's result is its own).
    with threadpool_limits(1, user_api="blas"):
        if cfg.num_threads <= 1 or len(starts) <= 1:
            yield from map(one, batches)
            return
        with ThreadPoolExecutor(cfg.num_threads) as pool:
            pending: list[Any] = []
            for batch in batches:
                pending.append(pool.submit(one, batch))
                if len(pending) > cfg.num_threads:
                    yield pending.pop(0).result()
            for job in pending:
                yield job.result()


def _batch_candidates(
    batch: np.ndarray,
    fitted: FittedRecommender | None,
    signals: PurchaseSignals,
    popular: np.ndarray,
    pop_term: np.ndarray,
    probe: np.ndarray,
    blocked_base: np.ndarray,
    c: int,
    cfg: RecommendConfig,
) -> Candidates:
    """candidate_batches for one batch of user rows."""
    n = blocked_base.size
    b = len(batch)
    rows = np.arange(b)[:, None]
    # Own items: the nonzeros of the batch's purchase rows, left-aligned.
    occ = signals.occasions[batch]
    own_n = np.diff(occ.indptr)
    own_r = np.repeat(np.arange(b), own_n)
    own_pos = np.arange(occ.nnz) - np.repeat(occ.indptr[:-1], own_n)
    width_own = int(own_n.max()) if b else 0
    own_items = np.zeros((b, width_own), dtype=np.int64)
    own_items[own_r, own_pos] = occ.indices
    own_real = np.zeros((b, width_own), dtype=bool)
    own_real[own_r, own_pos] = True
    own_occ = np.zeros((b, width_own), dtype="float32")
    own_occ[own_r, own_pos] = occ.data
    own_last = np.zeros((b, width_own), dtype="float32")
    own_last[own_r, own_pos] = np.asarray(signals.last_age[batch][own_r, occ.indices]).ravel()

    # blocked: not allowed, bought recently, or already a candidate of this row.
    blocked = np.broadcast_to(blocked_base, (b, n)).copy()
    recent = signals.recent[batch]
    if recent.nnz:
        blocked[recent.nonzero()] = True
    parts_items, parts_valid = [own_items], [own_real & ~blocked[rows, own_items]]
    blocked[own_r, occ.indices] = True
    pop = np.broadcast_to(popular, (b, c))
    if fitted is not None:
        top, top_term, other_term = lightfm_candidates(
            fitted, batch, np.concatenate([own_items, pop], axis=1), c, probe, cfg.dense_block_rows
        )
        parts_items.append(top)
        parts_valid.append(~blocked[rows, top])
        blocked[rows, top] = True
    parts_items.append(pop)
    parts_valid.append(~blocked[:, popular])

    items = np.concatenate(parts_items, axis=1)
    valid = np.concatenate(parts_valid, axis=1)
    extra = items.shape[1] - width_own
    occasions = np.pad(own_occ, ((0, 0), (0, extra)))
    terms = np.zeros((len(BLEND_TERMS), b, items.shape[1]), dtype="float32")
    terms[0] = np.log1p(occasions)
    terms[1] = np.pad(recency_term(own_last, cfg), ((0, 0), (0, extra)))
    terms[2] = pop_term[items]
    if fitted is not None:
        terms[3] = np.concatenate([other_term[:, :width_own], top_term, other_term[:, width_own:]], axis=1)
    return Candidates(batch, items, valid, occasions, terms)
