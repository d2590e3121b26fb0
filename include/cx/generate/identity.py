"""Planted identity truth: the same person behind records of several silos.

- the CRM holds some people twice: a second record under a new id, with a typo in
  the surname, a new e-mail, a nickname or a new address (``crm_duplicate:<kind>``);
- guest checkouts: orders without customer_id, with the person's e-mail as typed
  (exact, in capitals, with a typo, another address of theirs, or none);
- review-platform reviews and helpdesk tickets that know only an e-mail, a name or
  a phone, not the CRM id.

Every planted record's true person (the population customer_id) goes to the
manifest's ``identity_truth``; any other record's person is the customer_id it
carries. Each step draws from its own stream, so the records it starts from are the
same as without it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cx.generate.customers import COUNTRIES, DAY, Population, _customer_frame
from cx.generate.formatting import date_objects, ids
from cx.generate.orders import OrderBatch
from cx.generate.people import (
    addresses,
    display_name,
    email_typo,
    messy_case,
    new_city,
    nickname,
    other_email,
    phone_text,
    postcodes,
    requester_name,
    typo,
)

DUPLICATE_SHARE = 0.03  # people the CRM holds twice
DUPLICATE_KINDS = ("surname_typo", "new_email", "nickname", "moved")
ORDER_EMAIL_SHARE = 0.7  # registered orders that carry the account's e-mail
GUEST_ORDER_SHARE = 0.06
# How a guest typed their e-mail: exact, exact in capitals / with spaces, with a typo,
# another address of theirs, none at all.
GUEST_EMAIL = ("exact_email", "email_case", "typo_email", "other_email", "no_email")
GUEST_EMAIL_P = (0.62, 0.15, 0.12, 0.06, 0.05)
PLATFORM_REVIEW_SHARE = 0.35  # reviews whose platform does not know the CRM id
REVIEW_EMAIL_SHARE = 0.5
HELPDESK_ONLY_SHARE = 0.55  # tickets that do not know the CRM id
TICKET_EMAIL_SHARE = 0.7
TICKET_EMAIL_TYPO_SHARE = 0.08
TICKET_PHONE_SHARE = 0.3
TICKET_NAME_SHARE = 0.85

TruthRows = list[tuple[str, str, str, str]]  # (source, source_record_id, person, kind)


@dataclass
class Duplicates:
    """The CRM's second records: whose, delivered which day, how they differ, their id."""

    person: np.ndarray
    day: np.ndarray
    kind: np.ndarray  # index into DUPLICATE_KINDS
    record_id: np.ndarray


def plan_duplicates(rng: np.random.Generator, pop: Population, days: int) -> Duplicates:
    """Who gets a second CRM record and when: on a day from their sign-up on."""
    n = pop.size
    k = int(rng.binomial(n, DUPLICATE_SHARE))
    person = np.sort(rng.choice(n, size=k, replace=False)) if k else np.zeros(0, dtype=np.int64)
    first = np.maximum(pop.signup_day[person], 0)
    day = first + (rng.random(k) * (days - first)).astype(np.int64)
    kind = rng.integers(0, len(DUPLICATE_KINDS), k)
    # New ids after the population's own (fresh defect ids are longer: no collision).
    return Duplicates(person, day, kind, ids("C", np.arange(n + 1, n + 1 + k), 8).astype(object))


def duplicate_rows(
    rng: np.random.Generator, pop: Population, plan: Duplicates, day: int, start_sec: int
) -> tuple[dict[str, np.ndarray], TruthRows]:
    """The second records delivered on ``day``: the person as the CRM knows them now,
    with one difference of their kind; some fields left empty as a new sign-up would."""
    sel = np.flatnonzero(plan.day == day)
    who = plan.person[sel]
    ts = start_sec + day * DAY + rng.integers(0, DAY - 60, sel.size)
    frame = _customer_frame(pop, who, ts)
    frame = {c: (v.copy().astype(object) if c != "_ts" else v) for c, v in frame.items()}
    frame["customer_id"] = plan.record_id[sel]
    frame["signup_date"] = date_objects(ts // DAY)
    truth: TruthRows = []
    for row, (i, kind) in enumerate(zip(who, plan.kind[sel], strict=True)):
        name = DUPLICATE_KINDS[int(kind)]
        first, last = str(pop.first_name[i]), str(pop.last_name[i])
        if name == "surname_typo":
            frame["last_name"][row] = typo(rng, last)
            if rng.random() < 0.5:
                frame["email"][row] = None
        elif name == "new_email":
            frame["email"][row] = other_email(rng, first, last, pop.email[i])
        elif name == "nickname":
            frame["first_name"][row] = nickname(first)
            if rng.random() < 0.5:
                frame["email"][row] = other_email(rng, first, last, pop.email[i])
        else:  # moved: another city of the country, a new address and postcode
            country = str(pop.country[i])
            region, city = new_city(rng, country, str(pop.city[i]))
            frame["region"][row], frame["city"][row] = region, city
            frame["address"][row] = addresses(rng, COUNTRIES[country][1], 1)[0]
            frame["postcode"][row] = postcodes(rng, country, 1)[0]
            if rng.random() < 0.4:
                frame["email"][row] = other_email(rng, first, last, pop.email[i])
        if pop.phone is not None and pop.phone[i] is not None:
            keep_phone = rng.random() < 0.7
            style = int(rng.integers(0, 5))
            frame["phone"][row] = phone_text(pop.phone[i], str(pop.country[i]), style) if keep_phone else None
        if rng.random() < 0.2:
            frame["birth_date"][row] = None
        if rng.random() < 0.5:
            frame["marketing_consent"][row] = frame["consent_date"][row] = None
        truth.append(("customers", str(frame["customer_id"][row]), str(pop.customer_id[i]), f"crm_duplicate:{name}"))
    return frame, truth


def order_contacts(rng: np.random.Generator, pop: Population, batch: OrderBatch) -> TruthRows:
    """Add the orders' e-mail column and turn a share of them into guest checkouts (in place)."""
    m = batch.count
    cust = batch.customer
    email = np.where(rng.random(m) < ORDER_EMAIL_SHARE, pop.email[cust], None)
    guest = np.flatnonzero(rng.random(m) < GUEST_ORDER_SHARE)
    how = rng.choice(len(GUEST_EMAIL), size=guest.size, p=GUEST_EMAIL_P)
    customer_id = batch.orders["customer_id"].copy()
    truth: TruthRows = []
    for g, h in zip(guest, how, strict=True):
        i = int(cust[g])
        kind = GUEST_EMAIL[int(h)]
        email[g] = _typed_email(rng, pop, i, kind)
        customer_id[g] = None
        truth.append(("orders", str(batch.orders["order_id"][g]), str(pop.customer_id[i]), f"guest_order:{kind}"))
    batch.orders["customer_id"] = customer_id
    batch.orders["email"] = email
    return truth


def _typed_email(rng: np.random.Generator, pop: Population, i: int, kind: str) -> str | None:
    """Person ``i``'s e-mail as a guest typed it (``kind``: one of GUEST_EMAIL)."""
    current = str(pop.email[i])
    if kind == "exact_email":
        return current
    if kind == "email_case":
        return messy_case(rng, current)
    if kind == "typo_email":
        return email_typo(rng, current)
    if kind == "other_email":
        return other_email(rng, str(pop.first_name[i]), str(pop.last_name[i]), current)
    return None


def review_contacts(rng: np.random.Generator, pop: Population, rows: dict[str, np.ndarray]) -> TruthRows:
    """Reviewer names and e-mails; reviews from a platform that knows no CRM id (in place)."""
    cust = rows["_customer"]
    n = cust.size
    rows["reviewer_name"] = np.array(
        [display_name(rng, str(pop.first_name[i]), str(pop.last_name[i])) for i in cust], dtype=object
    )
    rows["email"] = np.where(rng.random(n) < REVIEW_EMAIL_SHARE, pop.email[cust], None)
    platform = rng.random(n) < PLATFORM_REVIEW_SHARE
    rows["customer_id"] = np.where(platform, None, rows["customer_id"])
    return [
        ("reviews", str(rows["review_id"][r]), str(pop.customer_id[cust[r]]), _known_by(rows, r, "review"))
        for r in np.flatnonzero(platform)
    ]


def ticket_contacts(rng: np.random.Generator, pop: Population, rows: dict[str, np.ndarray]) -> TruthRows:
    """Requesters' e-mails, phones and names; tickets the helpdesk cannot tie to a CRM id (in place)."""
    cust = rows["_customer"]
    n = cust.size
    email = np.where(rng.random(n) < TICKET_EMAIL_SHARE, pop.email[cust], None).astype(object)
    for r in np.flatnonzero((email != None) & (rng.random(n) < TICKET_EMAIL_TYPO_SHARE)):  # noqa: E711
        email[r] = email_typo(rng, str(email[r]))
    phone = np.full(n, None, dtype=object)
    styles = rng.integers(0, 5, n)
    for r in np.flatnonzero(rng.random(n) < TICKET_PHONE_SHARE):
        i = cust[r]
        if pop.phone is not None and pop.phone[i] is not None:
            phone[r] = phone_text(pop.phone[i], str(pop.country[i]), int(styles[r]))
    names = [requester_name(rng, str(pop.first_name[i]), str(pop.last_name[i])) for i in cust]
    rows["requester_name"] = np.where(rng.random(n) < TICKET_NAME_SHARE, np.array(names, dtype=object), None)
    rows["email"], rows["phone"] = email, phone
    helpdesk = rng.random(n) < HELPDESK_ONLY_SHARE
    rows["customer_id"] = np.where(helpdesk, None, rows["customer_id"])
    return [
        ("support_tickets", str(rows["ticket_id"][r]), str(pop.customer_id[cust[r]]), _known_by(rows, r, "ticket"))
        for r in np.flatnonzero(helpdesk)
    ]


def _known_by(rows: dict[str, np.ndarray], r: int, what: str) -> str:
    """The truth kind of a record without CRM id: what identifies it ('ticket_by:email+phone')."""
    name = "reviewer_name" if what == "review" else "requester_name"
    parts = [c for c in ("email", "phone", name) if c in rows and rows[c][r] is not None]
    return f"{what}_by:" + ("+".join("name" if p == name else p for p in parts) or "nothing")


def ordered_by_time(frame: dict[str, np.ndarray], extra: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Two frames of one source's day as one, in time order (``_ts``)."""
    if int(extra["_ts"].shape[0]) == 0:
        return frame
    both = {c: np.concatenate([frame[c], extra[c]]) for c in frame}
    order = np.argsort(both["_ts"], kind="stable")
    return {c: v[order] for c, v in both.items()}
