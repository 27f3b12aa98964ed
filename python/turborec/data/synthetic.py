"""A fast synthetic ratings generator: power-law popularity, low-rank tastes, 1-5 stars (or clicks),
timestamps; fixed seeds give the same data on every machine."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._validation import check_int, check_real
from .interactions import Interactions

_GLOBAL_MEAN = 3.6
_FACTOR_STD = 0.6      # std of <p_u, q_i>
_BIAS_STD = 0.35       # std of b_u and of b_i
_IMPLICIT_SHARPNESS = 4.0  # implicit: a drawn pair is kept with probability sigmoid(4 <p_u, q_i>)
_T0 = 1_500_000_000    # timestamps start in July 2017 ...
_SPAN = 3 * 365 * 86400  # ... and cover three years
_CHUNK = 1 << 20
_EXACT_CELLS = 20_000_000  # up to this many cells, sample without replacement exactly




def _popularity(n, exponent, offset):
    """P(rank r) proportional to (r + offset)^-exponent for ranks r = 1..n."""
    w = (np.arange(1, n + 1, dtype=np.float64) + offset) ** -exponent
    return w / w.sum()


def _dots(P, Q, u, i):
    """<P[u], Q[i]> for every pair, in chunks (no (n, rank) temporaries)."""
    out = np.empty(u.size, dtype=np.float32)
    for s in range(0, u.size, _CHUNK):
        sl = slice(s, s + _CHUNK)
        out[sl] = np.einsum("ij,ij->i", P[u[sl]], Q[i[sl]])
    return out


def _sample_sparse(rng, n, n_users, n_items, pu, pi, uperm, iperm, accept):
    """Sorted distinct keys u * n_items + i: independent draws from the marginals, de-duplicated,
    topped up until at least n, then trimmed at random to exactly n."""
    keys = np.empty(0, dtype=np.int64)
    inflation = 1.05
    for _ in range(200):
        missing = n - keys.size
        if missing <= 0:
            break
        m = int(missing * inflation) + 64
        users = np.repeat(uperm, rng.multinomial(m, pu))            # grouped by popularity rank
        items = np.repeat(iperm, rng.multinomial(m, pi))
        rng.shuffle(items)                                          # independent of users
        if accept is not None:
            keep = accept(users, items)
            users, items = users[keep], items[keep]
        new = users * n_items + items
        new.sort()
        if new.size:
            first = np.empty(new.size, dtype=bool)
            first[0] = True
            np.not_equal(new[1:], new[:-1], out=first[1:])
            new = new[first]
        if keys.size and new.size:
            pos = np.searchsorted(keys, new)
            present = keys[np.minimum(pos, keys.size - 1)] == new
            new, pos = new[~present], pos[~present]
            keys = np.insert(keys, pos, new)
        else:
            keys = new
        added = max(keys.size - (n - missing), 1)
        inflation = min(max(1.05 * m / added, 1.05), 1e3)
    else:
        raise RuntimeError(
            f"could not draw {n} distinct pairs from {n_users} x {n_items} with these popularity "
            "exponents; lower n_interactions or the exponents"
        )
    if keys.size > n:
        drop = rng.choice(keys.size, size=keys.size - n, replace=False)
        keep = np.ones(keys.size, dtype=bool)
        keep[drop] = False
        keys = keys[keep]
    return keys


def _sample_exact(rng, n, n_users, n_items, pu, pi, uperm, iperm, accept_prob):
    """Weighted sampling without replacement over every cell (Efraimidis-Spirakis): the n cells
    with the smallest Exp(1) / weight, compared in log space (float32, built a block of rows at a
    time). Used when the matrix is small or dense, where memory is O(cells) = O(n)."""
    log_wu = np.empty(n_users)
    log_wu[uperm] = np.log(pu)
    log_wi = np.empty(n_items)
    log_wi[iperm] = np.log(pi)
    cells = n_users * n_items
    if n == cells:
        return np.arange(cells, dtype=np.int64)
    score = np.empty(cells, dtype=np.float32)
    step = max(1, _CHUNK // n_items)
    for s in range(0, n_users, step):
        e = min(s + step, n_users)
        block = np.log(rng.standard_exponential((e - s, n_items))) - log_wu[s:e, None] - log_wi[None, :]
        if accept_prob is not None:
            users = np.repeat(np.arange(s, e, dtype=np.int64), n_items)
            items = np.tile(np.arange(n_items, dtype=np.int64), e - s)
            block -= np.log(accept_prob(users, items)).reshape(e - s, n_items)
        score[s * n_items:e * n_items] = block.ravel()
    keys = np.argpartition(score, n - 1)[:n].astype(np.int64)
    keys.sort()
    return keys


def synthetic(n_users, n_items, n_interactions, *, rank=16, implicit=False, seed=None, user_exponent=0.7,
              item_exponent=0.9, user_offset=100, item_offset=20, noise=0.5, return_factors=False):
    """Synthetic interactions with power-law popularity and a low-rank preference structure.

    Exactly ``n_interactions`` distinct (user, item) pairs are drawn with

        P(u, i) ~ (rank_u + user_offset)^-user_exponent * (rank_i + item_offset)^-item_exponent

    where ``rank_u`` / ``rank_i`` (1 = most popular) are randomly permuted onto the ids, so the
    popular users and items are scattered, not ids 0..k. Every user and item has a latent factor
    (``rank`` dims, Gaussian, scaled so ``<p_u, q_i>`` has std 0.6) and a bias (std 0.35).

    * explicit (default): values are ``round(clip(3.6 + b_u + b_i + <p_u, q_i> + noise * N(0, 1),
      1, 5))``, i.e. whole stars 1..5.
    * ``implicit=True``: values are 1.0, and a drawn pair is kept with probability
      ``sigmoid(4 <p_u, q_i>)``, so the observed pairs lean toward high affinity and a model has
      something to learn.

    Timestamps (int64 Unix seconds, three years from mid 2017) are included: each user is active
    in a random window, so temporal splits have structure to work with.

    Parameters
    ----------
    n_users, n_items : int >= 1
    n_interactions : int >= 0
        Must not exceed ``n_users * n_items`` (ValueError).
    rank : int >= 1
    implicit : bool
    seed : int, numpy Generator or None
        Same seed, same data (bit for bit).
    user_exponent, item_exponent : float >= 0
        Power-law exponents; 0 gives uniform popularity.
    user_offset, item_offset : float >= 0
        Flatten the head of the popularity curves.
    noise : float >= 0
        Std of the rating noise (explicit only).
    return_factors : bool
        Also return the generating model.

    Returns
    -------
    Interactions
        Raw ids are ``0..n-1`` (raw id = dense id).
    factors : dict, only with ``return_factors=True``
        ``user_factors`` (n_users, rank) and ``item_factors`` (n_items, rank) float32,
        ``user_bias``, ``item_bias`` float32, ``global_mean`` float, ``user_popularity`` and
        ``item_popularity`` (the sampling marginals by id, float64).

    Notes
    -----
    Vectorised: users and items are drawn from their marginals (multinomial counts), pairs are
    de-duplicated through a sorted int64 key and topped up until exactly ``n_interactions``. For
    small or dense matrices (at most 2e7 cells, or density above 25%) the pairs are instead
    sampled exactly without replacement, in O(n_users * n_items) time and memory.
    10 million interactions over 200,000 x 50,000 take about 2-3 s (4 s implicit) on one core.
    """
    n_users = check_int(n_users, "n_users", 1)
    n_items = check_int(n_items, "n_items", 1)
    n_interactions = check_int(n_interactions, "n_interactions", 0)
    rank = check_int(rank, "rank", 1)
    user_exponent = check_real(user_exponent, "user_exponent")
    item_exponent = check_real(item_exponent, "item_exponent")
    user_offset = check_real(user_offset, "user_offset")
    item_offset = check_real(item_offset, "item_offset")
    noise = check_real(noise, "noise")
    cells = n_users * n_items
    if n_interactions > cells:
        raise ValueError(f"n_interactions ({n_interactions}) exceeds n_users * n_items ({cells}): "
                         "pairs are distinct")
    try:
        rng = np.random.default_rng(seed)
    except (TypeError, ValueError) as e:
        raise TypeError(f"seed must be None, an int or a numpy Generator, got {seed!r}") from e

    # The generating model, per id.
    scale = np.sqrt(_FACTOR_STD / np.sqrt(rank))
    P = (rng.standard_normal((n_users, rank)) * scale).astype(np.float32)
    Q = (rng.standard_normal((n_items, rank)) * scale).astype(np.float32)
    bu = (rng.standard_normal(n_users) * _BIAS_STD).astype(np.float32)
    bi = (rng.standard_normal(n_items) * _BIAS_STD).astype(np.float32)
    pu = _popularity(n_users, user_exponent, user_offset)
    pi = _popularity(n_items, item_exponent, item_offset)
    uperm = rng.permutation(n_users).astype(np.int64)  # popularity rank r -> id uperm[r]
    iperm = rng.permutation(n_items).astype(np.int64)

    def accept_prob(u, i):
        return 1.0 / (1.0 + np.exp(-_IMPLICIT_SHARPNESS * _dots(P, Q, u, i).astype(np.float64)))

    def accept(u, i):
        return rng.random(u.size) < accept_prob(u, i)

    if n_interactions == 0:
        keys = np.empty(0, dtype=np.int64)
    elif cells <= _EXACT_CELLS or cells <= 4 * n_interactions:
        keys = _sample_exact(rng, n_interactions, n_users, n_items, pu, pi, uperm, iperm,
                             accept_prob if implicit else None)
    else:
        keys = _sample_sparse(rng, n_interactions, n_users, n_items, pu, pi, uperm, iperm,
                              accept if implicit else None)

    users = keys // n_items
    items = (keys - users * n_items).astype(np.int32)
    nnz = keys.size
    if implicit:
        data = np.ones(nnz, dtype=np.float32)
    else:
        data = np.empty(nnz, dtype=np.float32)
        for s in range(0, nnz, _CHUNK):
            sl = slice(s, s + _CHUNK)
            u, i = users[sl], items[sl]
            r = _GLOBAL_MEAN + bu[u] + bi[i] + _dots(P, Q, u, i)
            r += (noise * rng.standard_normal(u.size)).astype(np.float32)
            data[sl] = np.rint(np.clip(r, 1.0, 5.0))
    start = rng.integers(0, int(_SPAN * 0.8), size=n_users)
    length = rng.integers(int(_SPAN * 0.02), int(_SPAN * 0.2), size=n_users)
    ts = _T0 + start[users] + (rng.random(nnz) * length[users]).astype(np.int64)

    indptr = np.zeros(n_users + 1, dtype=np.int32 if nnz < 2**31 - 1 else np.int64)
    np.cumsum(np.bincount(users, minlength=n_users), out=indptr[1:])
    matrix = sp.csr_matrix((data, items, indptr), shape=(n_users, n_items), copy=False)
    tmat = sp.csr_matrix((ts.astype(np.int64), items, indptr), shape=(n_users, n_items), copy=False)
    result = Interactions._new(matrix, np.arange(n_users, dtype=np.int64), np.arange(n_items, dtype=np.int64), tmat)
    if not return_factors:
        return result
    upop = np.empty(n_users)
    upop[uperm] = pu
    ipop = np.empty(n_items)
    ipop[iperm] = pi
    factors = {"user_factors": P, "item_factors": Q, "user_bias": bu, "item_bias": bi,
               "global_mean": _GLOBAL_MEAN, "user_popularity": upop, "item_popularity": ipop}
    return result, factors
