"""turborec demo: generated (or your) ratings, every model trained and compared, sample
recommendations with the reasons behind them."""

from __future__ import annotations

import os
import sys
import textwrap

import numpy as np

import turborec

from ._common import (RANKING_METRICS, RATING_METRICS, UsageError, _can_encode, _evaluate, _metric_headers,
                      _metrics_for, _num, _progress, _require_pandas, _show, _split, _table, _threads, _user_errors,
                      read_ratings)


def _config_line(threads: int) -> str:
    c = turborec.config()
    return (f"turborec {c['version']} | SIMD {c['simd_active']} (CPU supports {c['simd_supported']}) | "
            f"OpenMP {'on' if c['openmp'] else 'off'} | {threads} of {c['available_cpus']} cores | "
            f"{c['compiler']} | Python {c['python']}")


def _demo_models(explicit: bool, seed, threads: int):
    models = [("Popularity", turborec.Popularity(n_threads=threads))]
    if explicit:
        models.append(("MF (squared loss)", turborec.MatrixFactorization(seed=seed, n_threads=threads)))
    models.append(("MF (BPR)", turborec.MatrixFactorization(loss="bpr", seed=seed, n_threads=threads)))
    models.append(("ItemKNN", turborec.ItemKNN(n_threads=threads)))
    models.append(("UserKNN", turborec.UserKNN(n_threads=threads)))
    return models


def _title(ids, names, dense: int) -> str:
    raw = ids[dense] if ids is not None else dense
    text = _show(raw)
    if names is not None:
        title = names.get(raw.item() if isinstance(raw, np.generic) else raw)
        if title is not None:
            return f"{title} [{text}]"
    return text


def _samples(fitted, train, test, names, seed, n_users: int = 3, n_items: int = 5):
    """Recommendations for a few users with ItemKNN's reasons and the other models' picks."""
    star = "★" if _can_encode("★✓") else "*"
    tick = "✓" if star == "★" else "+"
    R, T = train.matrix, test.matrix
    train_counts, test_counts = np.diff(R.indptr), np.diff(T.indptr)
    pool = np.flatnonzero((train_counts >= 5) & (test_counts >= 2))
    if pool.size == 0:
        pool = np.flatnonzero(train_counts >= 1)
    if pool.size == 0:
        return
    rng = np.random.default_rng(seed)
    users = np.sort(rng.choice(pool, size=min(n_users, pool.size), replace=False))
    knn = fitted.get("ItemKNN")
    print(f"\nSample recommendations (ItemKNN, best first; {tick} = in the user's held-out test ratings).")
    print("ItemKNN's score of an item is the sum, over the items you rated, of your rating times their similarity "
          "to it:\na ranking score (it grows with how much you rated), not a predicted star rating.")
    uid, iid = train.user_ids, train.item_ids
    for u in users:
        row = slice(R.indptr[u], R.indptr[u + 1])
        items, values = R.indices[row], R.data[row]
        liked = items[np.lexsort((items, -values))][:3]
        vals = {int(i): float(v) for i, v in zip(items, values)}
        held = set(T.indices[T.indptr[u]:T.indptr[u + 1]].tolist())
        liked_text = ", ".join(f"{_title(iid, names, int(i))} ({vals[int(i)]:g}{star})" for i in liked)
        print(f"\nuser {_show(uid[u])}: {items.size} training ratings; rated highest: {liked_text}")
        if knn is None:
            continue
        ids, scores = knn.recommend([u], n_items)
        for rank, (i, s) in enumerate(zip(ids[0], scores[0]), 1):
            if i < 0:
                break
            mark = f" {tick}" if int(i) in held else ""
            print(f"  {rank}. {_title(iid, names, int(i))}{mark}   score {s:.3g}")
            exp = knn.explain(int(u), int(i))
            reasons = [f"{_title(iid, names, int(j))} ({r:g}{star}, similarity {sim:.2f})"
                       for j, sim, r, w in zip(exp.neighbours, exp.similarities, exp.ratings, exp.weights) if w > 0][:3]
            if reasons:
                print(f"       because you rated {'; '.join(reasons)}")
        for label, model in fitted.items():
            if label == "ItemKNN":
                continue
            other, _ = model.recommend([u], n_items)
            picks = ", ".join(_title(iid, names, int(i)) + (f" {tick}" if int(i) in held else "")
                              for i in other[0] if i >= 0)
            print(f"  {label:<17} would pick: {picks}")


def run_demo(args) -> int:
    _require_pandas("demo")
    threads = _threads(args.threads)
    if args.save_model is not None:  # say so before minutes of training, not after
        folder = os.path.dirname(os.path.abspath(args.save_model))
        if not os.path.isdir(folder):
            raise UsageError(f"cannot write {args.save_model!r}: folder {folder!r} does not exist")
    print(_config_line(threads))
    if args.data is not None:
        ratings = read_ratings(args.data, args.columns, args.duplicates)
        data, explicit, names = ratings.data, ratings.explicit, ratings.names
        source = f"from {ratings.description}"
    else:
        n_users, n_items, n_ratings = args.users, args.items, args.ratings
        with _user_errors("cannot generate the demo data"):
            data = turborec.synthetic(n_users, n_items, n_ratings, seed=args.seed)
        explicit, names = True, None
        source = f"generated (power-law popularity, low-rank tastes, 1-5 stars; seed {args.seed})"
    m = data.matrix
    density = m.nnz / max(m.shape[0] * m.shape[1], 1)
    kind = "ratings" if explicit else "interactions (implicit feedback)"
    print(f"\nData: {m.nnz:,} {kind} by {m.shape[0]:,} users on {m.shape[1]:,} items (density {density:.3%}), {source}")
    train, test = _split(data, "per-user", 0.2, args.seed)
    users_with_test = int(np.count_nonzero(np.diff(test.matrix.indptr)))
    print(f"Split: 80/20 per user (seed {args.seed}): {train.nnz:,} train / {test.nnz:,} test {kind.split()[0]}; "
          f"{users_with_test:,} users have test items")
    k = 10
    models = _demo_models(explicit, args.seed, threads)
    print(f"\nTraining and evaluating {len(models)} models (top-{k} lists exclude each user's training items):\n")
    headers = _metric_headers(k)
    shown = (RATING_METRICS if explicit else ()) + RANKING_METRICS
    rows, fitted = [], {}
    bar = _progress(models, "training + evaluating")
    for step, (label, model) in enumerate(bar, 1):
        if hasattr(bar, "set_postfix_str"):
            bar.set_postfix_str(label)
        else:  # no terminal for a bar: one line per model on stderr, so long runs show progress
            print(f"[{step}/{len(models)}] {label}: fitting and evaluating ...", file=sys.stderr, flush=True)
        row, fit_s, eval_s = _evaluate(model, train, test, k, _metrics_for(model, explicit), threads, quiet=True)
        fitted[label] = model
        values = [_num(row.get(mname), 3 if mname == "coverage" else 4) for mname in shown]
        rows.append([label, f"{fit_s:.2f}", f"{eval_s:.2f}"] + values)
    print(_table(["model", "fit s", "eval s"] + [headers[mname] for mname in shown], rows))
    legend = (("RMSE/MAE: error of the predicted ratings on the test ratings (lower is better; '-': not a "
               "rating model). ") if explicit else "") + (
        f"P/R/NDCG/MAP@{k}: how well each user's top-{k} list finds their test items (higher is better). "
        "coverage: share of the catalogue that appears in some list. eval s: predict + recommend + metrics.")
    if args.data is None:
        legend += (" On this generated data, which items a user rates depends only on their popularity (tastes "
                   "shape the stars), so popularity is hard to beat on the top-k metrics; on real ratings "
                   "(--data FILE) the personalised models pull ahead.")
    print("\n" + textwrap.fill(legend, width=100))
    _samples(fitted, train, test, names, args.seed)
    if args.save_model is not None:
        label = "MF (squared loss)" if explicit else "MF (BPR)"
        with _user_errors(f"cannot write {args.save_model!r}"):
            fitted[label].save(args.save_model)
        print(f"\nsaved {label} (trained on the 80% split) to {args.save_model}: "
              f"turborec serve --model {args.save_model}")
    return 0
