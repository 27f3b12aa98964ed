"""Cold-start quality on MovieLens latest-small with genres + tags: warm and cold items apart,
turborec's content and hybrid models next to MF / ItemKNN / Popularity and LightFM (WARP, BPR).

Split (``turborec.cold_start_split``, seed 0): 20% of the rated movies are held out with all
their ratings (cold items: nobody rated them in train), and 20% of the other ratings are held out
too (warm test). Every rating counts as a positive (implicit feedback). Warm: each user's warm
test items ranked among all warm items, train items excluded; cold: the cold test items ranked
among the cold items only. NDCG@10 / recall@10 over the users with test items in the segment.

Item features: genres (``movies.csv``) + tags (``tags.csv``), built by ``turborec.features``
aligned to the ratings (movies without ratings get rows too). LightFM gets the same matrix with an
identity block in front ([I | features], rows normalised to sum 1: its Dataset's default), the
same factors, epochs, learning rate and thread count; its cold items get their feature rows
without the identity part, as FeatureMF scores them.

Popularity in the cold segment has nothing to go on (every cold item has 0 train interactions):
its ties fall to the lower item index, i.e. the lower movieId -- in MovieLens the older, better
known titles -- so its cold row measures that id order, not popularity.

Timings are wall seconds on a shared machine (noisy), the best of ``--repeat`` fits; the ratio of
LightFM's fit time to FeatureMF's, measured in the same run on the same threads and epochs, is what
counts (printed after the table, for WARP and BPR at --threads and at 1 thread).

    python bench/content_quality.py [--data DIR] [--threads 2] [--epochs 20] [--factors 32] [--repeat 3] [--quick]

``run()`` is bench/compare.py's "content" task: the same split and features, FeatureMF (WARP, BPR)
against LightFM (same loss, features, factors, epochs, learning rate, threads), cornac's BPR (no
item features: it cannot score cold items; cornac has no LightFM-style feature model that runs
without a deep-learning framework) and a numpy loop of the same WARP/BPR updates (timed on a
sample of the updates and scaled). A missing peer is skipped with a note.

LightFM's sdist does not build under current setuptools and pip's build isolation:
``bash bench/install_lightfm.sh`` builds it with the one-line fix. cornac: ``pip install cornac``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import PeakMemory, Row, Timing, find_dataset, has, timed  # noqa: E402

import turborec  # noqa: E402
from turborec.features import item_features  # noqa: E402

DEFAULT_DATA = find_dataset("ml-latest-small") or Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-latest-small"


def load(data: Path):
    import pandas as pd

    ratings = turborec.Interactions.from_csv(data / "ratings.csv", user="userId", item="movieId", rating="rating")
    movies = pd.read_csv(data / "movies.csv")
    tags = pd.read_csv(data / "tags.csv")
    F = item_features(movies, "movieId", interactions=ratings, multi_valued="genres", tags=tags)
    R = F.extend(ratings)
    implicit = turborec.Interactions.from_matrix(sp.csr_matrix((np.ones_like(R.matrix.data), R.matrix.indices,
                                                                 R.matrix.indptr), shape=R.shape), R.user_ids, R.item_ids)
    return implicit, F


def segments(model, train, test, k=10):
    t = turborec.evaluate_cold_start(model, train, test, k=k, metrics=["ndcg", "recall"])
    return {f"{seg}_{m}": float(t.loc[t.segment == seg, m].iloc[0]) for seg in ("warm", "cold") for m in ("ndcg", "recall")}


class _Scored:
    """LightFM's scores behind the model contract evaluate_cold_start uses (recommend with
    exclusion of train items and a candidate list), ranked by turborec.topk."""

    is_fitted = True

    def __init__(self, user_emb, item_emb, item_bias, train):
        self.ue, self.ie, self.ib, self.train = user_emb, item_emb, item_bias, train
        self.n_users, self.n_items = train.shape

    def fit(self, R):
        raise NotImplementedError

    def predict(self, users, items):
        return np.einsum("ij,ij->i", self.ue[users], self.ie[items]) + self.ib[items]

    def recommend(self, users, k=10, *, exclude_seen=True, items=None):
        scores = (self.ue[users] @ self.ie.T + self.ib[None, :]).astype(np.float32)
        if items is not None:
            keep = np.zeros(self.n_items, bool)
            keep[items] = True
            scores[:, ~keep] = -np.inf
        ids, top = turborec.topk(scores, k, exclude=self.train[users] if exclude_seen else None)
        return np.where(np.isfinite(top), ids, -1).astype(np.int32), top


def lightfm_row(loss, train, test, F, args, threads):
    from lightfm import LightFM

    n_items = train.shape[1]
    warm = np.bincount(train.indices, minlength=n_items) > 0
    feats = sp.csr_matrix(F)
    ident = sp.identity(n_items, format="csr", dtype=np.float32)
    full = sp.hstack([ident, feats], format="csr")
    cold_rows = sp.hstack([ident.multiply(warm[:, None]), feats], format="csr")  # cold items: features only
    norm = lambda m: sp.csr_matrix(sp.diags(1.0 / np.maximum(np.asarray(m.sum(1)).ravel(), 1e-12)) @ m,
                                   dtype=np.float32)
    full, cold_rows = norm(full), norm(cold_rows)
    coo = train.tocoo()
    fit_s = np.inf
    for _ in range(args.repeat):
        model = LightFM(no_components=args.factors, loss=loss, learning_rate=0.05, random_state=0)
        start = time.perf_counter()
        model.fit(coo, item_features=full, epochs=args.epochs, num_threads=threads)
        fit_s = min(fit_s, time.perf_counter() - start)
    # Score every item once through the features (warm: identity + features, cold: features alone).
    bias, emb = model.get_item_representations(cold_rows)
    ub, ue = model.get_user_representations()

    wrapped = _Scored(ue, emb, bias, train)
    row = {"model": f"LightFM ({loss}{', 1 thread' if threads == 1 else ''})", "fit_s": fit_s}
    row.update(segments(wrapped, train, test))
    return row


def speedups(rows, threads) -> dict:
    """LightFM's fit time over FeatureMF's for each loss and thread count both rows exist for."""
    fit = {r["model"]: r["fit_s"] for r in rows}
    one = ", 1 thread"
    pairs = [(threads, "", one if threads == 1 else "")] + ([(1, one, one)] if threads > 1 else [])
    out = {}
    for loss in ("warp", "bpr"):
        for n, mine_suffix, peer_suffix in pairs:
            mine, peer = fit.get(f"FeatureMF ({loss}{mine_suffix})"), fit.get(f"LightFM ({loss}{peer_suffix})")
            if mine and peer:
                out[f"{loss}, {n} thread{'s' if n > 1 else ''}"] = peer / mine
    return out


def identity_and(F, n_items, warm):
    """LightFM's item features: [I | F] rows normalised to sum 1 (train), and the same with the
    identity dropped for cold items (scoring: cold items from their features alone)."""
    feats = sp.csr_matrix(F, dtype=np.float32)
    ident = sp.identity(n_items, format="csr", dtype=np.float32)
    norm = lambda m: sp.csr_matrix(sp.diags(1.0 / np.maximum(np.asarray(m.sum(1)).ravel(), 1e-12)) @ m,
                                   dtype=np.float32)
    return (norm(sp.hstack([ident, feats], format="csr")),
            norm(sp.hstack([ident.multiply(warm[:, None]), feats], format="csr")))


def numpy_loop(train, full, loss, factors, n_samples, seed=0):
    """The same model's SGD in a plain numpy loop (one sample at a time, LightFM's rules: WARP up to
    10 negatives, AdaGrad per feature row) over the first n_samples of a shuffled epoch; returns
    seconds per sample."""
    rng = np.random.default_rng(seed)
    n_users, n_items = train.shape
    Eu = rng.normal(0, 0.1, (n_users, factors)).astype(np.float32)  # users: their own vector only
    Ei = rng.normal(0, 0.1, (full.shape[1], factors)).astype(np.float32)
    bi, acc = np.zeros(full.shape[1], np.float32), np.ones(full.shape[1], np.float32)
    coo = train.tocoo()
    order = rng.permutation(coo.nnz)[:n_samples]
    start = time.perf_counter()
    for t in order:
        u, i = coo.row[t], coo.col[t]
        p = Eu[u]
        ci, wi = full.indices[full.indptr[i]:full.indptr[i + 1]], full.data[full.indptr[i]:full.indptr[i + 1]]
        qi, si = wi @ Ei[ci], wi @ bi[ci]
        si += p @ qi
        for trial in range(1, (10 if loss == "warp" else 1) + 1):
            j = rng.integers(n_items)
            cj, wj = full.indices[full.indptr[j]:full.indptr[j + 1]], full.data[full.indptr[j]:full.indptr[j + 1]]
            qj = wj @ Ei[cj]
            sj = wj @ bi[cj] + p @ qj
            if loss == "bpr" or sj > si - 1.0:
                break
        else:
            continue
        coef = 1.0 / (1.0 + np.exp(si - sj)) if loss == "bpr" else np.log(max(1.0, np.floor((n_items - 1) / trial)))
        Eu[u] += 0.05 * coef * (qi - qj)
        for cols, w, sign in ((ci, wi, 1.0), (cj, wj, -1.0)):
            g = -sign * coef * w[:, None] * p[None, :]
            acc[cols] += (g * g).sum(axis=1) / factors
            Ei[cols] -= 0.05 / np.sqrt(acc[cols])[:, None] * g
            bi[cols] += 0.05 * sign * coef * w
    return (time.perf_counter() - start) / max(order.size, 1)


def cornac_bpr(train, factors, epochs, threads, seed=0):
    """A fit of cornac's BPR on the training pairs and a scorer with its vectors in our item order
    (zero for the items it never saw: the cold ones)."""
    import warnings

    import cornac

    coo = train.tocoo()
    data = cornac.data.Dataset.from_uir(list(zip(coo.row.astype(str), coo.col.astype(str), np.ones(coo.nnz))),
                                        seed=seed)

    def fit():
        model = cornac.models.BPR(k=factors, max_iter=epochs, learning_rate=0.05, num_threads=threads, seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return model.fit(data)

    def scorer(model):
        ue, ie, ib = np.zeros((train.shape[0], factors)), np.zeros((train.shape[1], factors)), np.zeros(train.shape[1])
        u_raw, u_at = np.array([int(k) for k in data.uid_map]), np.array(list(data.uid_map.values()))
        i_raw, i_at = np.array([int(k) for k in data.iid_map]), np.array(list(data.iid_map.values()))
        ue[u_raw], ie[i_raw], ib[i_raw] = model.u_factors[u_at], model.i_factors[i_at], model.i_biases[i_at]
        return _Scored(ue, ie, ib, train)

    return fit, scorer


def run(quick: bool = False, threads: int = 0, repeats: int = 3, *, data: Path | None = None) -> list[Row]:
    """bench/compare.py's content task: rows for FeatureMF, LightFM, cornac and a numpy loop."""
    threads = turborec.effective_threads(threads)
    data_dir = Path(data or DEFAULT_DATA)
    if not (data_dir / "ratings.csv").is_file():
        print(f"  MovieLens latest-small not found at {data_dir}: skipped (pass --data or set TURBOREC_DATASETS)")
        return []
    interactions, F = load(data_dir)
    train_i, test_i = turborec.cold_start_split(interactions, 0.2, seed=0, warm_test_fraction=0.2)
    train, test = train_i.matrix, test_i.matrix
    factors, epochs = 32, 5 if quick else 20
    n_items = train.shape[1]
    warm = np.bincount(train.indices, minlength=n_items) > 0
    full, cold_rows = identity_and(F.matrix, n_items, warm)
    rows: list[Row] = []

    def quality(model):
        q = segments(model, train, test)
        return {"cold_ndcg@10": q["cold_ndcg"], "ndcg@10": q["warm_ndcg"], "cold_recall@10": q["cold_recall"],
                "recall@10": q["warm_recall"]}

    for loss in ("warp", "bpr"):
        task = (f"FeatureMF {loss.upper()} fit, ml-latest-small genres + tags, cold-start split "
                f"({train.nnz:,} train), {factors} factors, {epochs} epochs")
        print(f"{task}: {threads} threads", flush=True)

        def add(name, t, peak, q, note="", counterpart="", th=threads):
            rows.append(Row(task, name, t.seconds, threads=th, runs=t.runs, peak_bytes=peak, quality=q, note=note,
                            counterpart=counterpart))
            print(f"  {name:<44} {t.seconds:8.3f} s  warm NDCG@10 {q.get('ndcg@10', float('nan')):.4f}  "
                  f"cold NDCG@10 {q.get('cold_ndcg@10', float('nan')):.4f}", flush=True)

        ours = lambda: turborec.FeatureMF(factors=factors, epochs=epochs, loss=loss, lr=0.05, n_threads=threads,
                                          seed=0).fit(train, item_features=F.matrix)
        with PeakMemory() as mem:
            t = timed(ours, repeats=repeats)
        add(f"turborec FeatureMF ({loss})", t, mem.peak, quality(t.result),
            counterpart=f"LightFM ({loss})" if has("lightfm") else "")
        if has("lightfm"):
            from lightfm import LightFM

            coo = train.tocoo()
            theirs = lambda: LightFM(no_components=factors, loss=loss, learning_rate=0.05, random_state=0).fit(
                coo, item_features=full, epochs=epochs, num_threads=threads)
            with PeakMemory() as mem:
                t = timed(theirs, repeats=repeats)
            bias, emb = t.result.get_item_representations(cold_rows)
            _, ue = t.result.get_user_representations()
            add(f"LightFM ({loss})", t, mem.peak, quality(_Scored(ue, emb, bias, train)),
                "same features ([I | genres + tags], rows normalised), same split; cold items scored from "
                "their features alone")
        m = 300 if quick else 2000
        per_sample = numpy_loop(train, full, loss, factors, m)
        seconds = per_sample * train.nnz * epochs
        add("numpy loop (sampled)", Timing(seconds, None, 1, [seconds]), 0, {},
            f"the same updates one sample at a time, timed on {m:,} samples and scaled", th=1)

    # Without features (warm items only): turborec's BPR against cornac's, the one cornac model here.
    task = f"BPR fit without features, ml-latest-small cold-start split ({train.nnz:,} train), {factors} factors, {epochs} epochs"
    print(f"{task}: {threads} threads", flush=True)
    warm_only = lambda q: {k: v for k, v in q.items() if not k.startswith("cold")}
    ours = lambda: turborec.MatrixFactorization(factors=factors, epochs=epochs, loss="bpr", n_threads=threads,
                                                seed=0).fit(train)
    with PeakMemory() as mem:
        t = timed(ours, repeats=repeats)
    rows.append(Row(task, "turborec MatrixFactorization (bpr)", t.seconds, threads=threads, runs=t.runs,
                    peak_bytes=mem.peak, quality=warm_only(quality(t.result)),
                    counterpart="cornac BPR" if has("cornac") else ""))
    print(f"  {rows[-1].name:<44} {t.seconds:8.3f} s  warm NDCG@10 {rows[-1].quality['ndcg@10']:.4f}", flush=True)
    if has("cornac"):
        fit, scorer = cornac_bpr(train, factors, epochs, threads)
        with PeakMemory() as mem:
            t = timed(fit, repeats=repeats)
        rows.append(Row(task, "cornac BPR", t.seconds, threads=threads, runs=t.runs, peak_bytes=mem.peak,
                        quality=warm_only(quality(scorer(t.result))),
                        note="cornac's Cython BPR, learning_rate 0.05; its models with item features need a "
                             "deep-learning framework, so cornac has no FeatureMF/LightFM row"))
        print(f"  {rows[-1].name:<44} {t.seconds:8.3f} s  warm NDCG@10 {rows[-1].quality['ndcg@10']:.4f}", flush=True)
    return rows


def table(rows, cols) -> str:
    fmt = lambda v: f"{v:.4f}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--factors", type=int, default=32)
    p.add_argument("--repeat", type=int, default=1, help="fits timed per model (the best counts)")
    p.add_argument("--quick", action="store_true", help="3 epochs; smoke test")
    p.add_argument("--json", type=Path, help="write the rows here")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs = 3
    args.threads = turborec.effective_threads(args.threads)
    data, F = load(args.data)
    train_i, test_i = turborec.cold_start_split(data, 0.2, seed=0, warm_test_fraction=0.2)
    train, test = train_i.matrix, test_i.matrix
    t = args.threads
    rows = []

    def run(name, make, **fit_kwargs):
        best = np.inf
        for _ in range(args.repeat):
            model = make()
            start = time.perf_counter()
            model.fit(train, **fit_kwargs)
            best = min(best, time.perf_counter() - start)
        row = {"model": name, "fit_s": best}
        row.update(segments(model, train, test))
        rows.append(row)
        print(row, flush=True)
        return model

    fmf = dict(factors=args.factors, epochs=args.epochs, lr=0.05, n_threads=t, seed=0)
    run("Popularity", lambda: turborec.Popularity())
    run("MatrixFactorization (bpr)", lambda: turborec.MatrixFactorization(factors=args.factors, epochs=args.epochs,
                                                                          loss="bpr", n_threads=t, seed=0))
    run("ItemKNN (cosine)", lambda: turborec.ItemKNN(k=50, n_threads=t))
    run("ContentKNN (bm25)", lambda: turborec.ContentKNN(metric="bm25", center=False, n_threads=t),
        item_features=F.matrix)
    run("FeatureMF (warp)", lambda: turborec.FeatureMF(loss="warp", **fmf), item_features=F.matrix)
    run("FeatureMF (bpr)", lambda: turborec.FeatureMF(loss="bpr", **fmf), item_features=F.matrix)
    if t > 1:
        for loss in ("warp", "bpr"):
            run(f"FeatureMF ({loss}, 1 thread)", lambda: turborec.FeatureMF(loss=loss, **{**fmf, "n_threads": 1}),
                item_features=F.matrix)

    # Hybrid: weights fitted on a validation split of train (cold and warm), members then refitted on train.
    fit_part, val = turborec.cold_start_split(train, 0.1, seed=1, warm_test_fraction=0.1)
    members = lambda: [turborec.FeatureMF(loss="warp", **fmf), turborec.ItemKNN(k=50, n_threads=t)]
    start = time.perf_counter()
    weights = turborec.Hybrid(members(), weight_step=0.1, n_threads=t).fit(
        fit_part, validation=val, item_features=F.matrix).weights_
    search_s = time.perf_counter() - start
    run("Hybrid (FeatureMF + ItemKNN)", lambda: turborec.Hybrid(members(), weights=list(weights), n_threads=t),
        item_features=F.matrix)
    rows[-1]["fit_s"] += search_s  # the weight search on the validation split counts as fitting
    rows[-1]["model"] += f" w={np.round(weights, 2).tolist()}"

    if has("lightfm"):
        for loss, threads in (("warp", t), ("bpr", t)) + ((("warp", 1), ("bpr", 1)) if t > 1 else ()):
            rows.append(lightfm_row(loss, train, test, F.matrix, args, threads))
            print(rows[-1], flush=True)
    else:
        print("lightfm not installed: its rows are skipped (bash bench/install_lightfm.sh installs it)")
    cols = ["model", "warm_ndcg", "warm_recall", "cold_ndcg", "cold_recall", "fit_s"]
    print(f"\nml-latest-small, genres + tags, cold-start split (20% items), k=10, {t} threads, "
          f"{args.epochs} epochs, {args.factors} factors\n")
    print(table(rows, cols))
    speed = speedups(rows, t)
    if speed:
        print(f"\nfit speed-up of FeatureMF over LightFM (LightFM fit_s / FeatureMF fit_s, same threads and epochs):")
        for name, ratio in speed.items():
            print(f"  {name}: {ratio:.1f}x")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
