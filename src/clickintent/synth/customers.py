"""Monthly customer profile snapshots: segment, tenure, age band, holdings, balance.

Existing customers appear in every monthly snapshot. A prospect who opens a product gets a
first snapshot at that moment (so every customer_id anywhere has a profile) and then the
monthly ones. Holdings grow with openings; deposit and investment openings add
to the balance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from clickintent.synth.conversions import Conversions
from clickintent.synth.products import PRODUCTS
from clickintent.synth.timeline import DAY, WINDOW_US, us_since_start
from clickintent.synth.visitors import Visitors

SNAPSHOTS_US = np.array([0] + [us_since_start(datetime(2026, month, 1, tzinfo=UTC)) for month in (2, 3, 4, 5)], dtype=np.int64)
assert (SNAPSHOTS_US < WINDOW_US).all()
_MONTH = 30.44 * DAY
_FUNDING_MEDIAN = np.array([{"deposits": 4000.0, "investing": 15000.0}.get(p.family, 0.0) for p in PRODUCTS])


@dataclass
class Snapshots:
    person: np.ndarray  # local person index
    ts: np.ndarray
    tenure_months: np.ndarray
    holdings: np.ndarray  # uint64 mask
    balance: np.ndarray


def snapshot_customers(rng: np.random.Generator, people: Visitors, conversions: Conversions, since: np.ndarray) -> Snapshots:
    n_people = len(people)
    funding = _FUNDING_MEDIAN[conversions.product] * np.exp(0.8 * rng.standard_normal(len(conversions)))
    drift = 0.004 * rng.standard_normal(n_people)  # monthly balance trend per person
    bits = np.left_shift(np.uint64(1), conversions.product.astype(np.uint64))

    def state_at(moment: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Holdings and balance of every person at a per-person moment."""
        holdings = people.holdings.copy()
        balance = people.balance * np.exp(drift * np.clip(moment, 0, WINDOW_US) / _MONTH)
        opened = conversions.ts <= moment[conversions.person]
        np.bitwise_or.at(holdings, conversions.person[opened], bits[opened])
        np.add.at(balance, conversions.person[opened], funding[opened])
        return holdings, balance

    rows = []
    for snapshot in SNAPSHOTS_US:
        present = np.flatnonzero(since <= snapshot)
        rows.append((present, np.full(len(present), snapshot, dtype=np.int64), *state_at(np.full(n_people, snapshot))))
    newcomers = np.flatnonzero((since >= 0) & (since < WINDOW_US))
    rows.append((newcomers, since[newcomers], *state_at(since)))
    person = np.concatenate([r[0] for r in rows])
    ts = np.concatenate([r[1] for r in rows])
    holdings = np.concatenate([r[2][r[0]] for r in rows])
    balance = np.concatenate([r[3][r[0]] for r in rows])
    tenure = np.where(
        people.is_customer[person],
        people.tenure_months[person] + (ts // _MONTH).astype(np.int64),
        ((ts - np.maximum(since[person], 0)) // _MONTH).astype(np.int64),
    )
    return Snapshots(person=person, ts=ts, tenure_months=tenure.astype(np.int64), holdings=holdings, balance=np.round(balance, 2))
