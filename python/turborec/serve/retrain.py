"""The next model from the stored events plus the current model's training matrix.

Events are applied in arrival order on top of the training matrix: the latest value of a (user,
item) pair wins and 0 removes it. Users and items first seen in events get new rows and columns,
so items unknown to the served model are learnt here. The new model has the old one's parameters.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

import turborec

from .events import EventStore
from .state import find_many, model_map, raws_of, with_new


def merged_interactions(model, store: EventStore):
    """(Interactions, number of events applied) for the training matrix with every event applied."""
    users, items = model_map(model, "user"), model_map(model, "item")
    latest: dict = {}
    user_keys, item_keys = [], []
    n_events = 0
    for _id, u, i, value, _type, _ts in store.all_events():
        latest[(u, i)] = float(value)
        user_keys.append(u)
        item_keys.append(i)
        n_events += 1
    users = with_new(users, user_keys)
    items = with_new(items, item_keys)
    R = model.user_items_.tocoo()
    shape = (len(users), len(items))
    if latest:
        eu = find_many(users, [u for u, _ in latest])
        ei = find_many(items, [i for _, i in latest])
        ev = np.fromiter(latest.values(), np.float32, len(latest))
        # Base entries that an event overrides are dropped; then events with value 0 are dropped.
        overridden = sp.csr_matrix((np.ones(eu.size, np.int8), (eu, ei)), shape=shape)
        keep = np.asarray(overridden[R.row, R.col]).ravel() == 0
        rows = np.concatenate([R.row[keep], eu])
        cols = np.concatenate([R.col[keep], ei])
        vals = np.concatenate([R.data[keep].astype(np.float32), ev])
        nz = vals != 0
        rows, cols, vals = rows[nz], cols[nz], vals[nz]
    else:
        rows, cols, vals = R.row, R.col, R.data.astype(np.float32)
    matrix = sp.csr_matrix((vals, (rows, cols)), shape=shape, dtype=np.float32)
    raw_users = [f"__row{t}" if r is None else r for t, r in enumerate(raws_of(users, np.arange(len(users))))]
    raw_items = raws_of(items, np.arange(len(items)), unnamed=False)
    return turborec.Interactions(matrix, user_ids=raw_users, item_ids=raw_items), n_events


def retrain(model_path, events_url: str, out_path, *, params: dict | None = None):
    """Train ``clone()`` of the model at model_path on the merged data and save it to out_path."""
    model = turborec.load(model_path)
    store = EventStore(events_url)
    try:
        data, n_events = merged_interactions(model, store)
    finally:
        store.close()
    nxt = model.clone()
    if params:
        nxt.set_params(**params)
    nxt.fit(data)
    nxt.save(out_path)
    return nxt, n_events
