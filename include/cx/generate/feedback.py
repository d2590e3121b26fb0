"""Reviews and support tickets that follow orders after a delay.

Each day's orders schedule their reviews (2-14 days later) and tickets (0-6 days
later); a queue keyed by due day keeps memory bounded to that window.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from cx.generate.catalog import Catalog
from cx.generate.customers import DAY, Population
from cx.generate.formatting import ids, ts_objects
from cx.generate.groups import column
from cx.generate.orders import OrderBatch, times_of_day
from cx.generate.texts import LANGS, TICKET_TOPICS, review_texts, ticket_texts

TOPICS = list(TICKET_TOPICS)
EMPTY_RATING_SHARE = 0.15
EMPTY_LANGUAGE_SHARE = 0.12
GENERAL_TICKET_RATE = 0.0002  # tickets without an order, per customer and day
TICKET_CHANNELS = np.array(["email", "chat", "phone", "web_form"], dtype=object)
TICKET_STATUSES = np.array(["open", "pending", "solved", "closed"], dtype=object)


def sentiment_label(rating: np.ndarray) -> np.ndarray:
    return np.where(rating >= 4, "positive", np.where(rating <= 2, "negative", "neutral")).astype(object)


class Feedback:
    """Queues of future reviews and tickets, filled by orders, emptied by day."""

    def __init__(self) -> None:
        self._reviews: dict[int, list[dict[str, np.ndarray]]] = defaultdict(list)
        self._tickets: dict[int, list[dict[str, np.ndarray]]] = defaultdict(list)

    def schedule(self, rng: np.random.Generator, pop: Population, batch: OrderBatch, day: int) -> None:
        if batch.count == 0:
            return
        g = pop.group[batch.customer]
        o = np.arange(batch.count)
        reviewable = np.isin(batch.status, (2, 4)) & (rng.random(batch.count) < column("review_prob")[g])
        # One reviewed line per order, chosen at random among its lines.
        starts = np.searchsorted(batch.line_order, o)
        counts = np.bincount(batch.line_order, minlength=batch.count)
        pick = starts + (rng.random(batch.count) * np.maximum(counts, 1)).astype(np.int64)
        r = o[reviewable & (counts > 0)]
        due = day + rng.integers(2, 15, r.size)
        self._push(
            self._reviews,
            due,
            {
                "order": batch.orders["order_id"][r],
                "customer": batch.customer[r],
                "product": batch.line_product[pick[r]],
                "returned": batch.status[r] == 4,
            },
        )
        p = np.where(batch.status == 4, 0.25, np.where(batch.status == 3, 0.2, column("ticket_prob")[g]))
        t = o[rng.random(batch.count) < p]
        st = batch.status[t]
        topic = np.where(
            st == 4,
            np.where(rng.random(t.size) < 0.6, TOPICS.index("refund"), TOPICS.index("damaged_item")),
            np.where(
                st == 3,
                TOPICS.index("refund"),
                rng.choice(len(TOPICS), size=t.size, p=[0.35, 0.1, 0.05, 0.2, 0.1, 0.2]),
            ),
        )
        self._push(
            self._tickets,
            day + rng.integers(0, 7, t.size),
            {
                "order": batch.orders["order_id"][t],
                "customer": batch.customer[t],
                "topic": topic,
            },
        )

    @staticmethod
    def _push(queue: dict[int, list[dict[str, np.ndarray]]], due: np.ndarray, cols: dict[str, np.ndarray]) -> None:
        for d in np.unique(due):
            m = due == d
            queue[int(d)].append({k: v[m] for k, v in cols.items()})

    @staticmethod
    def _take(queue: dict[int, list[dict[str, np.ndarray]]], day: int) -> dict[str, np.ndarray] | None:
        chunks = queue.pop(day, [])
        if not chunks:
            return None
        return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}

    def reviews(
        self, rng: np.random.Generator, pop: Population, catalog: Catalog, day: int, start_sec: int, day_label: str
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The day's review rows and their truth (true rating, sentiment label, language)."""
        due = self._take(self._reviews, day) or {
            "order": np.zeros(0, dtype=object),
            "customer": np.zeros(0, dtype=np.int64),
            "product": np.zeros(0, dtype=np.int64),
            "returned": np.zeros(0, dtype=bool),
        }
        n = due["customer"].size
        g = pop.group[due["customer"]]
        latent = (
            3.9
            + 0.7 * catalog.quality[due["product"]]
            + column("rating_shift")[g]
            - 1.8 * due["returned"]
            + rng.normal(0.0, 0.8, n)
        )
        rating = np.clip(np.round(latent), 1, 5).astype(np.int64)
        lang = np.where(rng.random(n) < 0.85, pop.language[due["customer"]], rng.integers(0, len(LANGS), n))
        title, body = review_texts(rng, rating, lang)
        ts = np.sort(times_of_day(rng, start_sec + day * DAY, n))
        review_id = ids(f"R{day_label}-", np.arange(1, n + 1), 7).astype(object)
        lang_names = np.array(LANGS, dtype=object)[lang]
        rows = {
            "review_id": review_id,
            "created_at": ts_objects(ts),
            "customer_id": pop.customer_id[due["customer"]],
            "product_id": catalog.product_id[due["product"]].astype(object),
            "order_id": due["order"],
            "rating": np.where(rng.random(n) < EMPTY_RATING_SHARE, None, rating.astype(str).astype(object)),
            "title": title,
            "body": body,
            "language": np.where(rng.random(n) < EMPTY_LANGUAGE_SHARE, None, lang_names),
            "_ts": ts,
            "_customer": due["customer"],  # who wrote it (cx.generate.identity adds their contact details)
        }
        truth = {"review_id": review_id, "rating": rating, "label": sentiment_label(rating), "language": lang_names}
        return rows, truth

    def tickets(
        self, rng: np.random.Generator, pop: Population, day: int, start_sec: int, day_label: str
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The day's ticket rows and their truth (topic, sentiment label)."""
        due = self._take(self._tickets, day) or {
            "order": np.zeros(0, dtype=object),
            "customer": np.zeros(0, dtype=np.int64),
            "topic": np.zeros(0, dtype=np.int64),
        }
        known = np.flatnonzero(pop.signup_day <= day)
        k = int(rng.poisson(GENERAL_TICKET_RATE * pop.level * known.size))
        cust = np.concatenate([due["customer"], known[rng.integers(0, max(known.size, 1), k)] if known.size else []])
        cust = cust.astype(np.int64)
        order = np.concatenate([due["order"], np.full(k, None, dtype=object)])
        topic = np.concatenate(
            [due["topic"], rng.choice([TOPICS.index(t) for t in ("product_question", "account", "thanks")], size=k)]
        ).astype(np.int64)
        n = cust.size
        lang = ((pop.language[cust] == LANGS.index("de")) & (rng.random(n) < 0.7)).astype(np.int64)
        subject, body = ticket_texts(rng, topic, lang, order)
        ts = np.sort(times_of_day(rng, start_sec + day * DAY, n))
        ticket_id = ids(f"T{day_label}-", np.arange(1, n + 1), 7).astype(object)
        rows = {
            "ticket_id": ticket_id,
            "created_at": ts_objects(ts),
            "customer_id": pop.customer_id[cust],
            "channel": TICKET_CHANNELS[rng.choice(4, size=n, p=[0.5, 0.25, 0.1, 0.15])],
            "subject": subject,
            "body": body,
            "status": TICKET_STATUSES[rng.choice(4, size=n, p=[0.3, 0.2, 0.35, 0.15])],
            "_ts": ts,
            "_customer": cust,  # who wrote it (cx.generate.identity adds their contact details)
        }
        labels = np.array([TICKET_TOPICS[t][0] for t in TOPICS], dtype=object)
        truth = {"ticket_id": ticket_id, "topic": np.array(TOPICS, dtype=object)[topic], "label": labels[topic]}
        return rows, truth
