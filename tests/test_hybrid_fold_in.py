"""Hybrid.partial_fit_users: delegated to every member, checked against refitting on the new rows,
the old blend undisturbed for its readers, and a clear error for a member without fold-in."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import turborec
from turborec import ContentKNN, FeatureMF, Hybrid, ItemKNN, Popularity
from turborec.models.base import Recommender

N_USERS, N_ITEMS = 40, 30


@pytest.fixture
def data(rng):
    R = sp.random(N_USERS, N_ITEMS, density=0.2, format="csr", random_state=rng, dtype=np.float32)
    R.data[:] = 1.0
    R = sp.csr_matrix(R.multiply((np.arange(N_ITEMS) < N_ITEMS - 3)[None, :]))  # the last 3 items are cold
    R.eliminate_zeros()
    F = sp.random(N_ITEMS, 8, density=0.4, format="csr", random_state=rng, dtype=np.float32)
    # new histories over warm items only, so which items are cold is the same after a refit
    rows = sp.random(3, N_ITEMS, density=0.3, format="csr", random_state=rng, dtype=np.float32)
    rows = sp.csr_matrix(rows.multiply((np.arange(N_ITEMS) < N_ITEMS - 3)[None, :]))
    rows.eliminate_zeros()
    rows.data[:] = 1.0
    return R, F, rows


def replaced(R, users, rows):
    """R with rows[k] as user users[k]'s row (grown to the largest user)."""
    n = max(R.shape[0], int(np.max(users)) + 1)
    full = sp.vstack([R, sp.csr_matrix((n - R.shape[0], R.shape[1]), dtype=np.float32)], format="lil")
    full[np.asarray(users)] = rows
    return full.tocsr()


USERS = np.array([5, 40, 42])  # one replaced, two new (41 is a gap user without interactions)
PROBE = np.array([5, 40, 42, 0, 7])


def test_content_blend_fold_in_equals_a_refit(data):
    """ContentKNN's fold-in is exact (its item side comes from the features alone), so a blend of
    content members folded in answers like the same blend refitted on the new matrix."""
    R, F, rows = data
    make = lambda: Hybrid([ContentKNN(metric="cosine"), ContentKNN(metric="bm25")], weights=[0.6, 0.4])
    h = make().fit(R, item_features=F)
    h.partial_fit_users(USERS, rows)
    ref = make().fit(replaced(R, USERS, rows), item_features=F)
    assert h.n_users == 43 and all(m.n_users == 43 for m in h._live.members)
    for got, want in zip(h.recommend(PROBE, 8), ref.recommend(PROBE, 8)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    items = np.arange(N_ITEMS)
    np.testing.assert_allclose(h.predict(np.full(N_ITEMS, 42), items), ref.predict(np.full(N_ITEMS, 42), items),
                               rtol=1e-5, atol=1e-6)
    seen = h.recommend([40], N_ITEMS)[0][0]
    assert not set(seen[seen >= 0]) & set(rows[1].indices)  # the new history is excluded from the list


def test_fold_in_equals_the_blend_of_folded_members(data):
    """Any members: the blend after a fold-in is the blend (same weights) of the members each
    folded in on its own, refitted as a blend over the new matrix."""
    R, F, rows = data
    members = lambda: [ItemKNN(k=5, n_threads=1), ContentKNN(), FeatureMF(factors=4, epochs=3, loss="warp", seed=1,
                                                                           n_threads=1)]
    h = Hybrid(members(), weights=[0.5, 0.3, 0.2], n_threads=1).fit(R, item_features=F)
    h.partial_fit_users(USERS, rows)
    folded = members()
    for m in folded:
        (m.fit(R, item_features=F) if isinstance(m, (ContentKNN, FeatureMF)) else m.fit(R)).partial_fit_users(USERS,
                                                                                                              rows)
    ref = Hybrid(folded, weights=[0.5, 0.3, 0.2], fit_members=False, n_threads=1).fit(replaced(R, USERS, rows))
    warm = PROBE  # all have histories; the gap user is switched to popularity (below)
    for got, want in zip(h.recommend(warm, 10), ref.recommend(warm, 10)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # a gap user has no history: the cold-user switch, training's popularity, seen items none
    ids, _ = h.recommend([41], 5)
    np.testing.assert_array_equal(ids[0], Popularity().fit(R).recommend([0], 5, exclude_seen=False)[0][0])


def test_old_blend_and_members_are_left_for_their_readers(data):
    R, F, rows = data
    h = Hybrid([Popularity(), ContentKNN()], weights=[0.5, 0.5]).fit(R, item_features=F)
    old_live, old_members = h._live, h._live.members
    before = h.recommend(PROBE[3:], 5)
    h.partial_fit_users(USERS, rows)
    assert h._live is not old_live and all(a is not b for a, b in zip(h._live.members, old_members))
    assert all(m.n_users == N_USERS for m in old_members)  # the members passed in: unchanged
    assert all(m is o for m, o in zip(h.models, old_members))
    after = h.recommend(PROBE[3:], 5)  # untouched users answer as before
    for x, y in zip(before, after):
        np.testing.assert_array_equal(x, y)
    back = turborec.load(h.to_bytes())
    for x, y in zip(back.recommend(PROBE, 5), h.recommend(PROBE, 5)):
        np.testing.assert_array_equal(x, y)


def test_raw_user_ids_reach_the_members():
    R = turborec.Interactions.from_arrays(["a", "a", "b", "c"], [1, 2, 2, 3])
    h = Hybrid([Popularity(), ItemKNN(k=2)]).fit(R)
    h.partial_fit_users([3], sp.csr_matrix(([1.0], ([0], [0])), shape=(1, 3)), user_ids=["d"])
    assert list(h.user_ids_) == ["a", "b", "c", "d"]
    assert all(list(m.user_ids_) == ["a", "b", "c", "d"] for m in h._live.members)


class NoFoldIn(Popularity):
    """A member that cannot fold users in (a user's model may be like this)."""

    _fold_in = Recommender._fold_in


def test_a_member_without_fold_in_is_named_and_nothing_changes(data):
    R, F, rows = data
    h = Hybrid([ContentKNN(), NoFoldIn()]).fit(R, item_features=F)
    live = h._live
    with pytest.raises(NotImplementedError, match=r"models\[1\] \(NoFoldIn\) does not support partial_fit_users"):
        h.partial_fit_users(USERS, rows)
    assert h._live is live and h.n_users == N_USERS and h._live.members[0].n_users == N_USERS
    # a member refusing its configuration: its error, prefixed with its name
    h = Hybrid([ContentKNN(), FeatureMF(factors=2, epochs=1, own_vectors=False, seed=0)]).fit(R, item_features=F)
    with pytest.raises(ValueError, match=r"models\[1\] \(FeatureMF\): partial_fit_users needs own_vectors=True"):
        h.partial_fit_users(USERS, rows)
    assert h.n_users == N_USERS
