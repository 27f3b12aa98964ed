"""turborec train / recommend / similar / evaluate / info: read arguments, call the API, print."""

from __future__ import annotations

import math
import os
import time

import numpy as np

import turborec

from ._common import (RANKING_METRICS, RATING_METRICS, UsageError, _check_fraction, _evaluate, _fit, _say,
                      _metric_headers, _metrics_for, _num, _require_pandas, _show, _size, _split, _table, _threads,
                      _user_errors, make_model, parse_params, read_ratings)


def run_train(args) -> int:
    _require_pandas("train")
    params = parse_params(args.param)
    model = make_model(args.model, params, seed=args.seed, threads=args.threads)
    out = os.fspath(args.out)
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {out!r}: directory {folder!r} does not exist")
    ratings = read_ratings(args.data, args.columns, args.duplicates)
    data = ratings.data
    print(f"data: {data.nnz:,} interactions by {data.n_users:,} users on {data.n_items:,} items, from "
          f"{ratings.description}")
    if args.split == "none":
        start = time.perf_counter()
        _fit(model, data)
        print(f"trained {model!r} in {time.perf_counter() - start:.2f} s")
    else:
        train, test = _split(data, args.split, _check_fraction(args.test_fraction), args.seed)
        row, fit_s, eval_s = _evaluate(model, train, test, args.k, _metrics_for(model, ratings.explicit),
                                       _threads(args.threads))
        print(f"trained {model!r} on {train.nnz:,} interactions ({args.split} split, seed {args.seed}) in "
              f"{fit_s:.2f} s; held-out {test.nnz:,}:")
        _print_metrics([(type(model).__name__, row, fit_s, eval_s)], args.k, ratings.explicit)
    with _user_errors(f"cannot write {out!r}"):
        model.save(out)
    print(f"saved to {out} ({_size(os.path.getsize(out))})")
    return 0


def dense_id(model, raw: str, kind: str) -> int:
    """The dense index of a raw user/item id typed on the command line (see IdMap.index_text)."""
    id_map = model.user_map_ if kind == "user" else model.item_map_
    n = model.n_users if kind == "user" else model.n_items
    try:
        return (id_map or turborec.IdMap.range(n, kind)).index_text(raw)
    except KeyError:
        pass
    if id_map is None:  # fitted on a bare matrix: raw ids are the indices
        raise UsageError(f"{kind} {raw!r} is not in the model (it knows {n:,} {kind}s, ids 0 to {n - 1})")
    examples = ", ".join(_show(v) for v in id_map.ids[:3])
    raise UsageError(f"{kind} {raw!r} is not in the model (it knows {len(id_map):,} {kind}s, e.g. {examples})")


def _load_model(path):
    hint = "; train one with: turborec train --data FILE --model mf|itemknn|userknn --out model.npz"
    with _user_errors("cannot load the model", hint):
        return turborec.load(path)


def run_recommend(args) -> int:
    model = _load_model(args.model)
    u = dense_id(model, args.user, "user")
    k = _positive(args.k, "-k")
    ids, scores = model.recommend([u], k, exclude_seen=not args.include_seen)
    items = model.item_ids_
    seen = int(model.user_items_.indptr[u + 1] - model.user_items_.indptr[u]) if u < model.n_users else 0
    print(f"top {k} for user {args.user} from {type(model).__name__} ({seen} items in training"
          f"{', included' if args.include_seen else ' excluded'}):")
    rows = [[rank, _show(items[i]) if items is not None else int(i), f"{s:.4g}"]
            for rank, (i, s) in enumerate(zip(ids[0], scores[0]), 1) if i >= 0]
    if not rows:
        print("(no candidates)")
        return 0
    print(_table(["rank", "item", "score"], rows, right={0, 2}))
    return 0


def _positive(v: int, flag: str) -> int:
    if v < 1:
        raise UsageError(f"{flag} must be >= 1, got {v}")
    return v


def run_similar(args) -> int:
    model = _load_model(args.model)
    k = _positive(args.k, "-k")
    if args.item is not None:
        kind, raw = "item", args.item
        ids, scores = model.similar_items([dense_id(model, raw, "item")], k)
        names = model.item_ids_
    else:
        kind, raw = "user", args.user
        ids, scores = model.similar_users([dense_id(model, raw, "user")], k)
        names = model.user_ids_
    print(f"{k} {kind}s most similar to {kind} {raw} ({type(model).__name__}):")
    rows = [[rank, _show(names[i]) if names is not None else int(i), f"{s:.4f}"]
            for rank, (i, s) in enumerate(zip(ids[0], scores[0]), 1) if i >= 0]
    if not rows:
        print("(none)")
        return 0
    print(_table(["rank", kind, "similarity"], rows, right={0, 2}))
    return 0


def _print_metrics(rows, k, explicit, extra=None):
    headers = _metric_headers(k)
    shown = [mname for mname in (RATING_METRICS if explicit else ()) + RANKING_METRICS
             if any(mname in row.index and not _isnan(row[mname]) for _, row, _, _ in rows)]
    table = []
    for label, row, fit_s, eval_s in rows:
        table.append([label, _num(fit_s, 2), _num(eval_s, 2)]
                     + [_num(row.get(mname), 3 if mname == "coverage" else 4) for mname in shown])
    print(_table(["", "fit s", "eval s"] + [headers[mname] for mname in shown], table))


def _isnan(x) -> bool:
    try:
        return math.isnan(float(x))
    except (TypeError, ValueError):
        return False


def run_evaluate(args) -> int:
    _require_pandas("evaluate")
    params = parse_params(args.param)
    model = make_model(args.model, params, seed=args.seed, threads=args.threads)
    k = _positive(args.k, "-k")
    ratings = read_ratings(args.data, args.columns, args.duplicates)
    data = ratings.data
    metrics = list(_metrics_for(model, ratings.explicit))
    threads = _threads(args.threads)
    print(f"data: {data.nnz:,} interactions by {data.n_users:,} users on {data.n_items:,} items, from "
          f"{ratings.description}")
    print(f"model: {model!r}")
    if args.split == "kfold":
        if args.folds < 2:
            raise UsageError(f"--folds must be >= 2, got {args.folds}")
        _say(f"cross-validating {type(model).__name__} over {args.folds} folds of {data.nnz:,} interactions ...")
        with _user_errors(f"cannot cross-validate {type(model).__name__}"):
            table = turborec.cross_validate(model.clone, data, args.folds, k, metrics, seed=args.seed,
                                            n_threads=threads)
        print(f"{args.folds}-fold cross-validation (seed {args.seed}), top-{k} lists:")
        rows = []
        for label, row in table.iterrows():
            fit_s = float(row["fit_seconds"])
            eval_s = sum(float(row[c]) for c in ("predict_seconds", "recommend_seconds") if not _isnan(row[c]))
            if label == "std":  # the std of a sum is not the sum of the stds
                eval_s = math.nan
            rows.append((f"fold {label}" if isinstance(label, (int, np.integer)) else str(label), row, fit_s, eval_s))
        _print_metrics(rows, k, ratings.explicit)
        return 0
    fraction = _check_fraction(args.test_fraction)
    train, test = _split(data, args.split, fraction, args.seed)
    row, fit_s, eval_s = _evaluate(model, train, test, k, metrics, threads)
    ratio = f"{1 - fraction:.0%}/{fraction:.0%}"
    how = {"random": f"random {ratio}", "per-user": f"per-user {ratio}", "leave-one-out": "leave one out per user",
           "temporal": f"temporal, latest {fraction:.0%} as test"}[args.split]
    seeded = "" if args.split == "temporal" else f" (seed {args.seed})"
    print(f"split: {how}{seeded}: {train.nnz:,} train / {test.nnz:,} test; top-{k} lists for "
          f"{int(row['n_users']):,} users")
    _print_metrics([(type(model).__name__, row, fit_s, eval_s)], k, ratings.explicit)
    return 0


def run_info(args) -> int:
    hint = "; train one with: turborec train --data FILE --model mf|itemknn|userknn --out model.npz"
    with _user_errors("cannot read the model", hint):
        meta = turborec.persistence.info(args.path)
    params = ", ".join(f"{k}={v!r}" for k, v in meta["params"].items())
    ids = ", ".join(f"{n[:-5]}s: {spec.get('kind')}" for n, spec in meta["ids"].items())
    arrays = meta["arrays"]
    rows = [
        ("file", f"{args.path} ({_size(meta['file_bytes'])})"),
        ("format", f"{meta['format']} version {meta['format_version']}"),
        ("model", meta["class"]),
        ("parameters", params),
        ("trained on", f"{meta.get('n_users', 0):,} users x {meta.get('n_items', 0):,} items, "
                       f"{meta.get('nnz', 0):,} interactions"),
        ("raw ids", ids),
        ("written by", f"turborec {meta.get('turborec_version', '?')}"),
        ("created", meta.get("created", "?")),
        ("arrays", f"{len(arrays)}"),
    ]
    width = max(len(r[0]) for r in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    for name, spec in arrays.items():
        shape = " x ".join(f"{s:,}" for s in spec["shape"]) or "scalar"
        dt = np.dtype(spec["dtype"])
        kind = f"str (up to {dt.itemsize // 4} characters)" if dt.kind == "U" else dt.name
        print(f"{'':<{width}}    {name:<24} {shape:>20}  {kind}")
    return 0
