"""Web sessions and their events: browsing, searching, carts, purchases.

Order sessions (web/app orders) end in a purchase; browsing sessions follow the
customer's taste and may leave a cart behind. Customers browse anonymously before
their login day (and before signing up), then a logged-in session carries both
``anonymous_id`` and ``customer_id``, which is what identity stitching needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cx.generate.catalog import CATEGORIES, ProductSampler
from cx.generate.customers import DAY, Population, anonymous_ids
from cx.generate.formatting import ids, ts_objects
from cx.generate.groups import GROUPS, NEW, column
from cx.generate.orders import OrderBatch, times_of_day

EVENT_TYPES: tuple[str, ...] = ("page_view", "product_view", "search", "add_to_cart", "purchase")
PAGE, VIEW, SEARCH, CART, BUY = range(5)
DEVICES = np.array(["desktop", "mobile", "tablet", "ios", "android"], dtype=object)
ANONYMOUS_RATE = 0.004  # anonymous-only visitor sessions per customer and day
PRE_SIGNUP_DAYS = 10


def _pieces(session: np.ndarray, counts: np.ndarray, rank0: int, kind: int) -> tuple[np.ndarray, ...]:
    """Events of one kind: ``counts[i]`` events for ``session[i]`` with increasing ranks."""
    s = np.repeat(session, counts)
    within = np.arange(s.size) - np.repeat(np.cumsum(counts) - counts, counts)
    return s, rank0 + within, np.full(s.size, kind)


@dataclass(frozen=True)
class _Sessions:
    """The day's sessions: order sessions first (``n_orders`` of them, in the order of the
    batch's online orders), then customer browsing, then anonymous visitors (``cust`` -1)."""

    online: np.ndarray
    cust: np.ndarray
    n_orders: int
    logged: np.ndarray
    anon: np.ndarray
    device: np.ndarray
    cart_p: np.ndarray

    @property
    def size(self) -> int:
        return int(self.cust.size)


def _sessions(
    rng: np.random.Generator, pop: Population, batch: OrderBatch, day: int, traffic: float, anonymous_pool: int
) -> _Sessions:
    """Order sessions, customer browsing, pre-signup browsing, anonymous visitors."""
    g = pop.group
    online = np.flatnonzero(batch.channel < 2)
    o_cust = batch.customer[online]
    rate = column("browse_rate")[g] * pop.activity * traffic
    rate = np.where(pop.signup_day <= day, rate, 0.0)
    rate = np.where(day >= pop.lapse_day, rate * 0.05, rate)
    pre = (g == NEW) & (pop.signup_day > day) & (pop.signup_day - PRE_SIGNUP_DAYS <= day)
    rate = np.where(pre, 0.25 * pop.level * traffic, rate)
    b_cust = np.repeat(np.arange(pop.size), rng.poisson(rate))
    n_anon = int(rng.poisson(ANONYMOUS_RATE * pop.level * pop.size * traffic))
    a_idx = rng.integers(0, anonymous_pool, n_anon)

    n_o = online.size
    cust = np.concatenate([o_cust, b_cust, np.full(n_anon, -1)])
    n_s = cust.size
    is_order = np.arange(n_s) < n_o
    known = cust >= 0
    logged = known & (is_order | (day >= pop.login_day[np.maximum(cust, 0)]))
    anon = np.where(known, pop.anonymous_id[np.maximum(cust, 0)], None)
    anon[~known] = anonymous_ids(a_idx)
    app = np.zeros(n_s, dtype=bool)
    app[:n_o] = batch.channel[online] == 1
    device = np.where(app, DEVICES[3 + rng.integers(0, 2, n_s)], DEVICES[rng.choice(3, size=n_s, p=[0.5, 0.4, 0.1])])
    cart_p = np.where(known, column("cart_prob")[g[np.maximum(cust, 0)]], 0.10)
    return _Sessions(online, cust, n_o, logged, anon, device, cart_p)


def _session_events(
    rng: np.random.Generator, s: _Sessions, batch: OrderBatch
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each session's events in order (session, kind, product; -1 where the product is
    still to be drawn): per-session counts of each kind, and in order sessions a view and
    a cart of every purchased line, then the purchase."""
    n_s, n_o, online = s.size, s.n_orders, s.online
    is_order = np.arange(n_s) < n_o
    n_search = (rng.random(n_s) < 0.35).astype(np.int64)
    n_view = np.where(is_order, rng.poisson(1.0, n_s), 1 + rng.poisson(1.2, n_s))
    n_cart = np.where(is_order, 0, (rng.random(n_s) < s.cart_p).astype(np.int64))
    sess = np.arange(n_s)
    parts = [
        _pieces(sess, np.ones(n_s, dtype=np.int64), 0, PAGE),
        _pieces(sess, n_search, 1, SEARCH),
        _pieces(sess, n_view, 2, VIEW),
        _pieces(sess, n_cart, 200, CART),
    ]
    line_sess = np.searchsorted(online, batch.line_order)
    on = (
        (line_sess < n_o) & (online[np.minimum(line_sess, max(n_o - 1, 0))] == batch.line_order)
        if n_o
        else np.zeros(batch.line_order.size, dtype=bool)
    )
    ls, lp = line_sess[on], batch.line_product[on]
    line_rank = np.arange(ls.size) - np.searchsorted(ls, ls)
    parts.append((ls, 100 + line_rank, np.full(ls.size, VIEW)))
    parts.append((ls, 300 + line_rank, np.full(ls.size, CART)))
    parts.append((np.arange(n_o), np.full(n_o, 999), np.full(n_o, BUY)))
    e_sess = np.concatenate([p[0] for p in parts])
    e_rank = np.concatenate([p[1] for p in parts])
    e_type = np.concatenate([p[2] for p in parts])
    e_prod = np.full(e_sess.size, -1, dtype=np.int64)
    split = np.cumsum([p[0].size for p in parts])
    e_prod[split[3] : split[4]] = lp  # order-session views of bought lines
    e_prod[split[4] : split[5]] = lp  # and their carts
    order = np.lexsort((e_rank, e_sess))
    return e_sess[order], e_type[order], e_prod[order]


def _draw_products(
    rng: np.random.Generator,
    pop: Population,
    sampler: ProductSampler,
    s: _Sessions,
    e_sess: np.ndarray,
    e_type: np.ndarray,
    e_prod: np.ndarray,
) -> None:
    """Fill ``e_prod`` in place: browsed products follow taste (visitors: overall category
    shares); carts take the session's first viewed one."""
    g, cust = pop.group, s.cust
    browse = (e_type == VIEW) & (e_prod < 0)
    bs = e_sess[browse]
    bc = cust[bs]
    shares = np.array([c.share for c in CATEGORIES])
    cat = np.where(
        bc >= 0,
        pop.taste_sample(rng, np.maximum(bc, 0)),
        rng.choice(len(CATEGORIES), size=bs.size, p=shares / shares.sum()),
    )
    tier = np.where(bc >= 0, np.array([grp.tier for grp in GROUPS])[g[np.maximum(bc, 0)]], 1)
    e_prod[browse] = sampler.sample(rng, cat, tier)
    first_view = np.full(s.size, -1, dtype=np.int64)
    vi = np.flatnonzero(e_type == VIEW)
    viewed_sess, first_pos = np.unique(e_sess[vi], return_index=True)
    first_view[viewed_sess] = e_prod[vi[first_pos]]
    loose_cart = (e_type == CART) & (e_prod < 0)
    e_prod[loose_cart] = first_view[e_sess[loose_cart]]


def _search_queries(
    rng: np.random.Generator, pop: Population, cust: np.ndarray, e_sess: np.ndarray, e_type: np.ndarray
) -> np.ndarray:
    """Search terms: words of a category the visitor likes (None for other events)."""
    query = np.full(e_sess.size, None, dtype=object)
    si = np.flatnonzero(e_type == SEARCH)
    sc = cust[e_sess[si]]
    scat = np.where(sc >= 0, pop.taste_sample(rng, np.maximum(sc, 0)), rng.integers(0, len(CATEGORIES), si.size))
    for k, c in enumerate(CATEGORIES):
        m = si[scat == k]
        nouns = np.array(c.nouns, dtype=object)[rng.integers(0, len(c.nouns), m.size)]
        adjs = np.array(c.adjectives, dtype=object)[rng.integers(0, len(c.adjectives), m.size)]
        query[m] = np.where(rng.random(m.size) < 0.5, adjs + " " + nouns, nouns)
    return query


def _timing(
    rng: np.random.Generator, s: _Sessions, batch: OrderBatch, e_sess: np.ndarray, day_sec: int
) -> tuple[np.ndarray, np.ndarray]:
    """Session start and event times: gaps within a session; order sessions end exactly at
    the order time."""
    gaps = 5 + rng.exponential(45.0, e_sess.size).astype(np.int64)
    start_idx = np.r_[0, np.flatnonzero(e_sess[1:] != e_sess[:-1]) + 1]
    cs = np.cumsum(gaps)
    offset = cs - np.repeat(cs[start_idx], np.diff(np.r_[start_idx, e_sess.size]))
    end_off = np.zeros(s.size, dtype=np.int64)
    end_idx = np.r_[start_idx[1:] - 1, e_sess.size - 1] if e_sess.size else start_idx
    end_off[e_sess[end_idx]] = offset[end_idx]
    start = times_of_day(rng, day_sec, s.size)
    start[: s.n_orders] = batch.ordered_sec[s.online] - end_off[: s.n_orders]
    return start, start[e_sess] + offset


def daily_events(
    rng: np.random.Generator,
    pop: Population,
    sampler: ProductSampler,
    batch: OrderBatch,
    day: int,
    start_sec: int,
    traffic: float,
    anonymous_pool: int,
    day_label: str,
) -> dict[str, np.ndarray]:
    s = _sessions(rng, pop, batch, day, traffic, anonymous_pool)
    e_sess, e_type, e_prod = _session_events(rng, s, batch)
    _draw_products(rng, pop, sampler, s, e_sess, e_type, e_prod)
    query = _search_queries(rng, pop, s.cust, e_sess, e_type)
    start, ts = _timing(rng, s, batch, e_sess, start_sec + day * DAY)
    final = np.argsort(ts, kind="stable")
    e_sess, e_type, e_prod, query, ts = e_sess[final], e_type[final], e_prod[final], query[final], ts[final]

    session_order = np.argsort(start, kind="stable")
    session_rank = np.empty(s.size, dtype=np.int64)
    session_rank[session_order] = np.arange(s.size)
    sid = ids(f"S{day_label}-", session_rank + 1, 8).astype(object)
    cid = np.where(s.logged, pop.customer_id[np.maximum(s.cust, 0)], None)
    prod_ids = np.where(e_prod >= 0, sampler.catalog.product_id[np.maximum(e_prod, 0)], None)
    return {
        "event_id": ids(f"E{day_label}-", np.arange(1, ts.size + 1), 9).astype(object),
        "occurred_at": ts_objects(ts),
        "event_type": np.array(EVENT_TYPES, dtype=object)[e_type],
        "session_id": sid[e_sess],
        "customer_id": cid[e_sess],
        "anonymous_id": s.anon[e_sess],
        "product_id": prod_ids.astype(object),
        "search_query": query,
        "device": s.device[e_sess],
        "_ts": ts,
    }
