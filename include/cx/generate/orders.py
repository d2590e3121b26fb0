"""Daily orders and their line items, driven by group rates, taste and the calendar."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cx.generate.catalog import Catalog, ProductSampler
from cx.generate.customers import DAY, Population
from cx.generate.formatting import ids, money, ts_objects
from cx.generate.groups import GROUPS, NEW, column

STATUSES: tuple[str, ...] = ("placed", "shipped", "delivered", "cancelled", "returned")
CHANNELS: tuple[str, ...] = ("web", "app", "store")
# Evening-heavy shopping hours (UTC), normalised below.
_HOURS = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 4, 4.5, 5, 5.5, 5, 4.5, 4.5, 5, 5.5, 6.5, 7.5, 8, 7, 5, 2.5])
HOUR_P = _HOURS / _HOURS.sum()
FAVOURITE_SHARE = 0.35


@dataclass
class OrderBatch:
    """One day's orders with what later stages (web, reviews, tickets) need."""

    orders: dict[str, np.ndarray]
    items: dict[str, np.ndarray]
    customer: np.ndarray  # per order: customer index
    ordered_sec: np.ndarray
    status: np.ndarray  # index into STATUSES
    channel: np.ndarray  # index into CHANNELS
    line_order: np.ndarray  # per purchase line: order index
    line_product: np.ndarray  # per purchase line: product index

    @property
    def count(self) -> int:
        return int(self.customer.shape[0])


def times_of_day(rng: np.random.Generator, day_sec: int, n: int) -> np.ndarray:
    return day_sec + rng.choice(24, size=n, p=HOUR_P) * 3600 + rng.integers(0, 3600, n)


def daily_orders(
    rng: np.random.Generator,
    pop: Population,
    catalog: Catalog,
    sampler: ProductSampler,
    day: int,
    start_sec: int,
    demand: float,
    day_label: str,
) -> OrderBatch:
    day_sec = start_sec + day * DAY
    g = pop.group
    active = (pop.signup_day <= day) & (day < pop.lapse_day)
    lam = np.where(active, column("order_rate")[g] * pop.activity * demand, 0.0)
    n = rng.poisson(lam)
    if demand > 0:  # most sign-ups order right away
        first = (pop.signup_day == day) & (g == NEW) & (rng.random(pop.size) < 0.98)
        n = n + first
    cust = np.repeat(np.arange(pop.size), n)
    ts = times_of_day(rng, day_sec, cust.size)
    # Sign-up-day orders come after the sign-up.
    ts = np.where(
        pop.signup_day[cust] == day, np.maximum(ts, pop.signup_sec[cust] + 60 + rng.integers(0, 1800, cust.size)), ts
    )
    ts = np.minimum(ts, day_sec + DAY - 1)
    order = np.argsort(ts, kind="stable")
    cust, ts = cust[order], ts[order]
    cg = g[cust]
    m = cust.size

    # Status: group-specific return and cancel rates, the rest mostly delivered.
    u = rng.random(m)
    ret, can = column("return_rate")[cg], column("cancel_rate")[cg]
    rest = (u - ret - can) / np.maximum(1 - ret - can, 1e-9)
    status = np.where(u < ret, 4, np.where(u < ret + can, 3, np.where(rest < 0.85, 2, np.where(rest < 0.95, 1, 0))))
    chan_p = np.array([grp.channels for grp in GROUPS])[cg]
    channel = (rng.random(m)[:, None] > np.cumsum(chan_p, axis=1)).sum(axis=1).clip(0, 2)

    line_order, product, qty = _lines(rng, pop, catalog, sampler, cust, cg, day)
    price = catalog.price[product]

    item_order, item_product, item_qty, item_price = _with_returns(line_order, product, qty, price, status)

    order_id = ids(f"O{day_label}-", np.arange(1, m + 1), 7).astype(object)
    orders = {
        "order_id": order_id,
        "customer_id": pop.customer_id[cust],
        "ordered_at": ts_objects(ts),
        "status": np.array(STATUSES, dtype=object)[status],
        "channel": np.array(CHANNELS, dtype=object)[channel],
        "currency": np.full(m, "EUR", dtype=object),
        "_ts": ts,
    }
    items = {
        "order_id": order_id[item_order],
        "product_id": catalog.product_id[item_product].astype(object),
        "quantity": item_qty.astype(str).astype(object),
        "unit_price": money(item_price).astype(object),
        "_price": item_price,
        "_qty": item_qty,
    }
    return OrderBatch(
        orders=orders,
        items=items,
        customer=cust,
        ordered_sec=ts,
        status=status,
        channel=channel,
        line_order=line_order,
        line_product=product,
    )


def _lines(
    rng: np.random.Generator,
    pop: Population,
    catalog: Catalog,
    sampler: ProductSampler,
    cust: np.ndarray,
    cg: np.ndarray,
    day: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order lines (order index, product, quantity): favourites or taste-driven picks, one
    line per distinct product."""
    g = pop.group
    m = cust.size
    k = 1 + rng.poisson(column("extra_items")[cg])
    line_order = np.repeat(np.arange(m), k)
    lc = cust[line_order]
    tier = np.array([grp.tier for grp in GROUPS])[g[lc]]
    product = sampler.sample(rng, pop.taste_sample(rng, lc), tier)
    fav = rng.random(line_order.size) < FAVOURITE_SHARE
    fav_pick = pop.favourites[lc, rng.integers(0, 3, lc.size)]
    product = np.where(fav & (catalog.launch_day[fav_pick] <= day), fav_pick, product)
    multi = rng.random(line_order.size) < column("multi_qty")[g[lc]]
    qty = np.where(multi, rng.integers(2, 4, line_order.size), 1)
    code = line_order.astype(np.int64) * catalog.size + product
    _, first_idx, inverse = np.unique(code, return_index=True, return_inverse=True)
    qty_sum = np.bincount(inverse, weights=qty).astype(np.int64)
    keep = np.sort(first_idx)  # keep the original line order
    qty = qty_sum[inverse[keep]]
    line_order, product = line_order[keep], product[keep]
    return line_order, product, qty


def _with_returns(
    line_order: np.ndarray, product: np.ndarray, qty: np.ndarray, price: np.ndarray, status: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Returned orders send back their first line: a negative-quantity line, positive price."""
    first_line = np.r_[True, line_order[1:] != line_order[:-1]]
    back = first_line & (status[line_order] == 4)
    item_order = np.concatenate([line_order, line_order[back]])
    item_product = np.concatenate([product, product[back]])
    item_qty = np.concatenate([qty, -qty[back]])
    item_price = np.concatenate([price, price[back]])
    arrange = np.argsort(item_order, kind="stable")
    return tuple(a[arrange] for a in (item_order, item_product, item_qty, item_price))
