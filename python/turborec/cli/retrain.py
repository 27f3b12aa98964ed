"""``turborec retrain``: the next model from the event store plus the served model's training data."""

from __future__ import annotations

import sys


def add_parser(subparsers):
    p = subparsers.add_parser("retrain", help="train the next model from stored feedback plus the original data",
                              description="Apply every stored feedback event to the model's training matrix (new "
                                          "users and items included) and train a model with the same parameters.")
    p.add_argument("--events", required=True, help="SQLAlchemy URL of the event store")
    p.add_argument("--model", required=True, help="the served model file")
    p.add_argument("--out", required=True, help="where to write the new model")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    try:
        from ..serve.retrain import retrain

        model, n_events = retrain(args.model, args.events, args.out)
    except (ImportError, OSError, ValueError, KeyError) as err:
        print(f"turborec retrain: {err}", file=sys.stderr)
        return 2
    print(f"{type(model).__name__}: {model.n_users} users x {model.n_items} items, {model.user_items_.nnz} "
          f"interactions ({n_events} events applied) -> {args.out}")
    return 0
