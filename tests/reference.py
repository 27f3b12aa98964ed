"""Straightforward numpy references the kernels are tested against."""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp


def topk_reference(scores: np.ndarray, k: int, exclude: sp.spmatrix | None = None):
    """Sort each row by (score descending, id ascending); drop excluded and NaN; pad with -1/-inf.

    The width is min(k, m), at least 1: k is capped at the candidates (turborec's rule)."""
    scores = np.asarray(scores, dtype=np.float64)
    n, m = scores.shape
    k = max(1, min(k, m))
    mask = np.ones((n, m), dtype=bool)
    if exclude is not None:
        ex = sp.csr_matrix(exclude, copy=True)  # sum_duplicates works in place
        ex.sum_duplicates()
        rows = np.repeat(np.arange(n), np.diff(ex.indptr))
        mask[rows, ex.indices] = False
    ids, out = best_first(scores, mask, k)
    return ids.astype(np.int32), out.astype(np.float32)


def similarity_reference(X, Y=None, metric="cosine", shrinkage=0.0, min_support=1, threshold=None,
                         include_self=False):
    """Dense (n_x, n_y) scores and a candidate mask, by the definitions in turborec.similarity."""
    X = sp.csr_matrix(X, dtype=np.float64)
    same = Y is None
    Y = X if same else sp.csr_matrix(Y, dtype=np.float64)
    Xd, Yd = X.toarray(), Y.toarray()
    Px, Py = _stored(X), _stored(Y)
    both_d = Xd if same else np.vstack([Xd, Yd])
    both_p = Px if same else np.vstack([Px, Py])

    def weigh(D, P):
        if metric in ("binary_cosine", "jaccard"):
            return P.astype(np.float64)
        if metric == "adjusted_cosine":
            counts = both_p.sum(0)
            means = np.divide(both_d.sum(0), counts, out=np.zeros(D.shape[1]), where=counts > 0)
            return np.where(P, D - means, 0.0)
        if metric == "pearson":
            n = P.sum(1)
            means = np.divide(D.sum(1), n, out=np.zeros(D.shape[0]), where=n > 0)
            return np.where(P, D - means[:, None], 0.0)
        if metric == "tfidf":
            idf = np.log(max(both_p.shape[0], 1)) - np.log1p(both_p.sum(0))
            return np.where(P, np.sqrt(D) * idf, 0.0)
        if metric == "bm25":
            K1, B = 100.0, 0.8
            idf = np.log(max(both_p.shape[0], 1)) - np.log1p(both_p.sum(0))
            mean_len = (both_d.sum(1).mean() if both_d.shape[0] else 0.0) or 1.0  # empty: nothing to normalise
            norm = (1 - B) + B * D.sum(1) / mean_len
            return np.where(P, D * (K1 + 1) / (K1 * norm[:, None] + D) * idf, 0.0)
        return D

    Wx, Wy = weigh(Xd, Px), weigh(Yd, Py)
    Px, Py = Wx != 0, Wy != 0  # exact zeros link nothing
    support = Px.astype(np.float64) @ Py.T.astype(np.float64)
    if metric == "jaccard":
        nx, ny = Px.sum(1), Py.sum(1)
        scores = np.divide(support, nx[:, None] + ny[None, :] - support, out=np.zeros_like(support),
                           where=support > 0)
    elif metric == "dot":
        scores = Wx @ Wy.T
    else:
        nx, ny = np.linalg.norm(Wx, axis=1), np.linalg.norm(Wy, axis=1)
        scores = np.divide(Wx @ Wy.T, np.outer(nx, ny), out=np.zeros_like(support), where=np.outer(nx, ny) > 0)
    if shrinkage:
        scores = scores * support / (support + shrinkage)
    candidate = (support >= max(1, min_support))
    if same and not include_self:
        np.fill_diagonal(candidate, False)
    if threshold is not None:
        candidate &= scores >= threshold
    return scores, candidate


def _stored(m: sp.csr_matrix) -> np.ndarray:
    out = np.zeros(m.shape, dtype=bool)
    coo = m.tocoo()
    out[coo.row, coo.col] = True
    return out


def best_first(scores: np.ndarray, candidate: np.ndarray, k: int):
    """Top-k ids/scores per row among candidates, (score desc, id asc), padded -1/-inf."""
    n, m = scores.shape
    ids = np.full((n, k), -1, dtype=np.int64)
    out = np.full((n, k), -np.inf)
    for r in range(n):
        cand = np.flatnonzero(candidate[r])
        order = np.lexsort((cand, -scores[r, cand]))[:k]
        ids[r, : order.size] = cand[order]
        out[r, : order.size] = scores[r, cand[order]]
    return ids, out


def knn_predict_reference(S, M, targets, others, k, min_k, variant, target_mean, mu, target_bias, other_bias):
    """Neighbourhood prediction by the formulas in cpp/include/turborec/knn.hpp, one pair at a time.

    S: dense (n_t, n_t) similarity graph (0 = not stored); M: CSR (n_o, n_t) ratings."""
    M = sp.csr_matrix(M)
    out = np.empty(len(targets))
    for p, (t, o) in enumerate(zip(targets, others)):
        row = M[o]
        js, rs = row.indices, row.data.astype(np.float64)
        sims = S[t, js].astype(np.float64)
        keep = (sims > 0) & (js != t)
        js, rs, sims = js[keep], rs[keep], sims[keep]
        order = np.lexsort((js, -sims))[:k]
        js, rs, sims = js[order], rs[order], sims[order]
        baseline = mu + target_bias[t] + other_bias[o]
        if len(js) < max(min_k, 1):
            out[p] = target_mean[t] if variant == "mean" else baseline
            continue
        if variant == "basic":
            out[p] = (sims * rs).sum() / sims.sum()
        elif variant == "mean":
            out[p] = target_mean[t] + (sims * (rs - target_mean[js])).sum() / sims.sum()
        else:
            out[p] = baseline + (sims * (rs - (mu + target_bias[js] + other_bias[o]))).sum() / sims.sum()
    return out


def als_baselines_reference(R, reg_user=15.0, reg_item=10.0, epochs=10):
    R = sp.csr_matrix(R)
    rows = np.repeat(np.arange(R.shape[0]), np.diff(R.indptr))
    r = R.data.astype(np.float64)
    mu = r.mean()
    b_u, b_i = np.zeros(R.shape[0]), np.zeros(R.shape[1])
    for _ in range(epochs):
        b_i = np.bincount(R.indices, r - mu - b_u[rows], R.shape[1]) / (reg_item + np.bincount(R.indices, minlength=R.shape[1]))
        b_u = np.bincount(rows, r - mu - b_i[R.indices], R.shape[0]) / (reg_user + np.bincount(rows, minlength=R.shape[0]))
    return mu, b_u, b_i


def sgd_reference(R, P, Q, bu, bi, mu, grid, seed, epochs, factors, lr, reg, reg_bias, schedule="adagrad",
                  decay=0.0, biased=True, reg_exponent=0.0):
    """Biased-MF SGD replayed in float64 numpy in exactly the kernel's visiting order (grid entries,
    strata order per epoch); returns the updated P, Q, bu, bi. State arrays are copied. Every update
    of a row with n ratings regularises with reg * n^-reg_exponent (and reg_bias likewise)."""
    R = sp.csr_matrix(R)
    wu = np.maximum(np.diff(R.indptr), 1).astype(np.float64) ** -reg_exponent
    wi = np.maximum(np.bincount(R.indices, minlength=R.shape[1]), 1).astype(np.float64) ** -reg_exponent
    P, Q = P.astype(np.float64), Q.astype(np.float64)
    bu, bi = bu.astype(np.float64), bi.astype(np.float64)
    gP, gQ, gbu, gbi = (np.ones(len(a)) for a in (P, Q, bu, bi))
    users, items, values = grid.entries
    sizes = np.asarray(grid.block_sizes)
    G = grid.grid
    starts = np.concatenate([[0], np.cumsum(sizes)])
    ada = schedule == "adagrad"
    for epoch in range(epochs):
        rate = lr / (1 + decay * epoch) if schedule == "decay" else lr
        for shift in grid.strata(seed, epoch):
            for g in range(G):
                b = g * G + (g + shift) % G
                for t in range(starts[b], starts[b + 1]):
                    u, i, r = users[t], items[t], values[t]
                    pred = P[u] @ Q[i] + (mu + bu[u] + bi[i] if biased else 0.0)
                    e = r - pred
                    sp_ = rate / np.sqrt(gP[u]) if ada else rate
                    sq = rate / np.sqrt(gQ[i]) if ada else rate
                    gp, gq = reg * wu[u] * P[u] - e * Q[i], reg * wi[i] * Q[i] - e * P[u]
                    P[u] -= sp_ * gp
                    Q[i] -= sq * gq
                    if ada:
                        gP[u] += gp @ gp / factors
                        gQ[i] += gq @ gq / factors
                    if biased:
                        gu, gi = reg_bias * wu[u] * bu[u] - e, reg_bias * wi[i] * bi[i] - e
                        bu[u] -= (rate / np.sqrt(gbu[u]) if ada else rate) * gu
                        bi[i] -= (rate / np.sqrt(gbi[i]) if ada else rate) * gi
                        if ada:
                            gbu[u] += gu * gu
                            gbi[i] += gi * gi
    return P, Q, bu, bi
def ranking_reference(rec, relevant, k, exclude=None, n_items=None, gain="binary"):
    """{name: per-user float64 array} by the formulas in turborec.metrics, one user at a time.
    AUC by brute force over all (positive, negative) pairs of explicit scores."""
    rel = sp.csr_matrix(relevant)
    n_users = rec.shape[0]
    n_items = rel.shape[1] if n_items is None else n_items
    ex = sp.csr_matrix(exclude) if exclude is not None else sp.csr_matrix((n_users, n_items))
    out = {name: np.full(n_users, np.nan) for name in ("precision", "recall", "ndcg", "map", "hit_rate", "mrr", "auc")}
    for u in range(n_users):
        items = rel.indices[rel.indptr[u]: rel.indptr[u + 1]]
        values = rel.data[rel.indptr[u]: rel.indptr[u + 1]].astype(np.float64)
        if items.size == 0:
            continue
        g = {"binary": np.ones_like(values), "linear": values, "exponential": 2.0 ** values - 1}[gain]
        gain_of = dict(zip(items.tolist(), g.tolist()))
        lst = rec[u, :k]
        hit = np.array([i in gain_of for i in lst.tolist()], dtype=bool)  # -1 is never in gain_of
        pos = np.arange(1, k + 1)
        hits = int(hit.sum())
        m = min(k, items.size)
        out["precision"][u] = hits / k
        out["recall"][u] = hits / items.size
        out["hit_rate"][u] = float(hits > 0)
        out["mrr"][u] = 1.0 / pos[hit][0] if hits else 0.0
        out["map"][u] = (np.cumsum(hit)[hit] / pos[hit]).sum() / m
        dcg = sum(gain_of[i] / math.log2(p + 1) for i, p in zip(lst.tolist(), pos) if i in gain_of)
        idcg = sum(x / math.log2(j + 2) for j, x in enumerate(sorted(g, reverse=True)[:m]))
        out["ndcg"][u] = dcg / idcg if idcg > 0 else np.nan
        excluded = set(ex.indices[ex.indptr[u]: ex.indptr[u + 1]].tolist())
        score = np.zeros(n_items)  # unlisted candidates: 0, all tied
        for p, i in enumerate(lst.tolist()):
            if i >= 0:
                score[i] = k - p  # listed: above every unlisted one, best first
        cand = [i for i in range(n_items) if i not in excluded]
        P = [score[i] for i in cand if i in gain_of]
        N = [score[i] for i in cand if i not in gain_of]
        if P and N:
            pairs = [(p > n) + 0.5 * (p == n) for p in P for n in N]
            out["auc"][u] = sum(pairs) / len(pairs)
    return out
