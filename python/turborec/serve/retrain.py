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
from .ids import RawIds, model_ids


def merged_interactions(model, store: EventStore):
    """(Interactions, number of events applied) for the training matrix with every event applied."""
    user_ids, item_ids = model_ids(model)
    users = RawIds(user_ids, model.n_users)
    items = RawIds(item_ids, model.n_items)
    latest: dict = {}
    user_keys, item_keys = [], []
    n_events = 0
    for _id, u, i, value, _type, _ts in store.all_events():
        latest[(u, i)] = float(value)
        user_keys.append(u)
        item_keys.append(i)
        n_events += 1
    users = users.with_new(dict.fromkeys(user_keys))
    items = items.with_new(dict.fromkeys(item_keys))
    R = model.user_items_.tocoo()
    shape = (len(users), len(items))
    if latest:
        eu = np.fromiter((users.get(u) for u, _ in latest), np.int64, len(latest))
        ei = np.fromiter((items.get(i) for _, i in latest), np.int64, len(latest))
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
    raw_users = [users.raw(t) if users.raw(t) is not None else f"__row{t}" for t in range(len(users))]
    raw_items = [items.raw(t) if items.raw(t) is not None else f"__col{t}" for t in range(len(items))]
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
