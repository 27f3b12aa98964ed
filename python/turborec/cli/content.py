"""``turborec train-content``: train a content-based, feature-aware or hybrid model from a ratings
file plus an items file (genres, tags, text), optionally report warm / cold quality, and save it.

Registered by :func:`turborec.cli.build_parser` through ``add_parser(subparsers)``; ``run(args)``
returns the exit status. Only the public API is used; a saved model answers ``turborec recommend``
like any other, cold-start items included (raw ids kept).
"""

from __future__ import annotations

import argparse

import turborec
from turborec.features import item_features

from ._common import UsageError, _user_errors

MODELS = ("feature-mf", "content", "hybrid")


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train-content", help="train a content / hybrid model from ratings + item features and save it",
        description="Items in the items file that nobody rated get indices too (cold start) and can be recommended.")
    p.add_argument("--ratings", required=True, metavar="FILE", help="ratings CSV with a header")
    p.add_argument("--items", required=True, metavar="FILE", help="items CSV with a header, one row per item")
    p.add_argument("--tags", metavar="FILE", help="tags CSV: one row per (item, tag) assignment")
    p.add_argument("--user-column", default="userId", help="user id column of the ratings (default userId)")
    p.add_argument("--item-column", default="movieId",
                   help="item id column of the ratings, items and tags files (default movieId)")
    p.add_argument("--rating-column", default="rating", help="rating column; 'none' for implicit data")
    p.add_argument("--multi-valued", action="append", default=[], metavar="COLUMN",
                   help="a '|'-separated labels column of the items file, e.g. genres (repeatable)")
    p.add_argument("--categorical", action="append", default=[], metavar="COLUMN")
    p.add_argument("--text", action="append", default=[], metavar="COLUMN", help="free text, TF-IDF weighted")
    p.add_argument("--model", choices=MODELS, default="hybrid",
                   help="feature-mf: FeatureMF (WARP); content: ContentKNN (bm25); hybrid: both blended with ItemKNN, "
                        "weights fitted on a validation split (default)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--factors", type=int, default=32)
    p.add_argument("--evaluate", action="store_true",
                   help="first hold out 20%% of the items (cold) and 20%% of the other ratings, print warm / cold "
                        "NDCG@10 and recall@10, then train on everything")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", "-o", required=True, metavar="MODEL.npz")
    p.set_defaults(func=run)
    return p


def _model(args, kind):
    fmf = lambda: turborec.FeatureMF(factors=args.factors, epochs=args.epochs, loss="warp", seed=args.seed,
                                     n_threads=args.threads)
    if kind == "feature-mf":
        return fmf()
    if kind == "content":
        return turborec.ContentKNN(metric="bm25", center=args.rating_column.lower() != "none", n_threads=args.threads)
    return turborec.Hybrid([fmf(), turborec.ContentKNN(metric="bm25", center=False, n_threads=args.threads),
                            turborec.ItemKNN(k=50, n_threads=args.threads)], weight_step=0.25, n_threads=args.threads)


def _fit(model, train, features):
    if isinstance(model, turborec.Hybrid):
        fit_part, val = turborec.cold_start_split(train, 0.1, seed=1, warm_test_fraction=0.1)
        weights = model.clone().fit(fit_part, validation=val, item_features=features).weights_
        model.set_params(weights=list(weights))
    return model.fit(train, item_features=features)


def run(args) -> int:
    try:
        import pandas as pd
    except ImportError:
        raise UsageError("turborec train-content needs pandas: pip install 'turborec[data]'") from None
    rating = None if args.rating_column.lower() == "none" else args.rating_column
    with _user_errors("cannot train a content model"):
        ratings = turborec.Interactions.from_csv(args.ratings, user=args.user_column, item=args.item_column,
                                                 rating=rating)
        items = pd.read_csv(args.items)
        tags = pd.read_csv(args.tags) if args.tags else None
        features = item_features(items, args.item_column, interactions=ratings, multi_valued=args.multi_valued,
                                 categorical=args.categorical, text=args.text, tags=tags)
        data = features.extend(ratings)
        if args.evaluate:
            train, test = turborec.cold_start_split(data, 0.2, seed=args.seed, warm_test_fraction=0.2)
            report = turborec.evaluate_cold_start(_fit(_model(args, args.model), train, features), train, test)
            print(report[["segment", "n_users", "n_items", "n_test", "ndcg", "recall"]].to_string(index=False))
        model = _fit(_model(args, args.model), data, features)
        model.save(args.out)
    print(f"saved {type(model).__name__} ({data.n_users} users, {data.n_items} items of which "
          f"{features.n_new} without ratings, {features.shape[1]} features) to {args.out}")
    return 0
