"""The ``turborec`` command line.

Subcommands::

    turborec demo      [--data FILE] [--users N --items N --ratings N] [--seed S] [--threads T]
                       [--save-model model.npz]
    turborec train     --data FILE --model mf|itemknn|userknn|popularity [--param NAME=VALUE ...] --out model.npz
                       [--split none|random|per-user] [--test-fraction F] [--seed S]
    turborec recommend --model model.npz --user RAW_ID [-k 10] [--include-seen]
    turborec similar   --model model.npz (--item RAW_ID | --user RAW_ID) [-k 10]
    turborec evaluate  --data FILE --model mf|itemknn|userknn|popularity [--param ...]
                       [--split random|per-user|leave-one-out|temporal|kfold] [--folds 5] [-k 10]
    turborec train-content --ratings FILE --items FILE [--tags FILE] [--multi-valued COL] [--text COL]
                       [--model hybrid|content|feature-mf] [--evaluate] --out model.npz
    turborec info      model.npz
    turborec tune      --data FILE --model mf|itemknn|userknn --grid NAME=V1,V2 [--search grid|random|halving]
    turborec serve     --model model.npz [--events URL] [--host H] [--port P]   (the 'serve' extra)
    turborec retrain   --events URL --model model.npz --out next.npz
    turborec --version

Ratings files: CSV or TSV with a header naming the user, item and (optionally) rating and
timestamp columns -- common names are recognised (``user``/``userId``/``user_id``,
``item``/``movieId``/``item_id``/``product_id``, ``rating``/``score``, ``timestamp``/``time``) --
or without a header in the order user, item[, rating[, timestamp]]; MovieLens ``ratings.csv``,
``ratings.dat`` and ``u.data`` (or a directory holding one); Parquet files. Without a rating column
the data is implicit feedback. ``--columns`` names the columns when the guess fails.

Exit status: 0 on success; 2 for a usage or input problem (bad argument, missing or unreadable
file, unknown id, invalid model parameter), reported as one line on stderr; 1 for an unexpected
error (a bug), with its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

import turborec

from . import content
from ._common import DEMO_SIZE, MODEL_NAMES, SPLITS, UsageError, parse_params, read_ratings
from . import retrain, serve, tune
from .commands import dense_id, run_evaluate, run_info, run_recommend, run_similar, run_train
from .demo import run_demo

# ---- the parser -----------------------------------------------------------------------------------------

def _add_data_args(p, required=True):
    p.add_argument("--data", metavar="FILE", required=required,
                   help="ratings file: CSV/TSV with a header (user,item[,rating][,timestamp]; userId/movieId, "
                        "user_id/item_id ... are recognised), MovieLens ratings.csv/ratings.dat/u.data or its "
                        "directory, or Parquet")
    p.add_argument("--columns", metavar="U,I[,R[,T]]",
                   help="the user, item, rating and timestamp columns (names or 0-based positions) when the "
                        "header does not say")
    p.add_argument("--duplicates", choices=("error", "last", "sum", "mean"), default="error",
                   help="what to do with repeated (user, item) pairs (default: error)")


def _add_model_args(p):
    p.add_argument("--model", required=True, choices=MODEL_NAMES,
                   help="mf: MatrixFactorization (use --param loss=bpr for implicit data), itemknn, userknn, popularity")
    p.add_argument("--param", "-p", action="append", metavar="NAME=VALUE",
                   help="model parameter, repeatable (e.g. --param k=20 --param metric=pearson); values are "
                        "read as int, float, true/false, none or text")
    p.add_argument("--seed", type=int, default=0, help="seed for the split and the model (default 0)")
    p.add_argument("--threads", type=int, default=0, help="threads (0 = all cores, the default)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="turborec", description="Fast classic recommenders: train, evaluate, query and compare models.",
        epilog="Run 'turborec COMMAND --help' for a command's options. Exit status: 0 ok, 2 usage or input error, "
               "1 unexpected error.")
    parser.add_argument("--version", action="version", version=f"turborec {turborec.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="train and compare every model on generated (or your) ratings",
                          description="Generate a realistic ratings data set (or load --data), split it 80/20 per "
                                      "user, train popularity, matrix factorisation, ItemKNN and UserKNN, and print "
                                      "their accuracy, timings and sample recommendations with explanations.")
    _add_data_args(demo, required=False)
    demo.add_argument("--users", type=int, default=DEMO_SIZE[0], help=f"generated users (default {DEMO_SIZE[0]:,})")
    demo.add_argument("--items", type=int, default=DEMO_SIZE[1], help=f"generated items (default {DEMO_SIZE[1]:,})")
    demo.add_argument("--ratings", type=int, default=DEMO_SIZE[2],
                      help=f"generated ratings (default {DEMO_SIZE[2]:,})")
    demo.add_argument("--seed", type=int, default=0, help="seed for data, split and models (default 0)")
    demo.add_argument("--threads", type=int, default=0, help="threads (0 = all cores, the default)")
    demo.add_argument("--save-model", metavar="MODEL.npz", default=None,
                      help="also save the matrix factorisation model it trained (e.g. for turborec serve)")
    demo.set_defaults(func=run_demo)

    train = sub.add_parser("train", help="train a model on a ratings file and save it",
                           description="Train a model on a ratings file and save it to one .npz file. With "
                                       "--split, train on the training part and report held-out metrics first.")
    _add_data_args(train)
    _add_model_args(train)
    train.add_argument("--out", "-o", required=True, metavar="MODEL.npz", help="where to save the model")
    train.add_argument("--split", choices=("none", "random", "per-user"), default="none",
                       help="hold out test data and report metrics (default: none, train on everything)")
    train.add_argument("--test-fraction", type=float, default=0.2, help="share held out by --split (default 0.2)")
    train.add_argument("-k", type=int, default=10, help="list length for the ranking metrics (default 10)")
    train.set_defaults(func=run_train)

    rec = sub.add_parser("recommend", help="top-k items for a user of a saved model")
    rec.add_argument("--model", required=True, metavar="MODEL.npz")
    rec.add_argument("--user", required=True, metavar="RAW_ID", help="the user's id as in the training data")
    rec.add_argument("-k", type=int, default=10, help="how many items (default 10)")
    rec.add_argument("--include-seen", action="store_true", help="also rank the items the user has in training")
    rec.set_defaults(func=run_recommend)

    sim = sub.add_parser("similar", help="the most similar items (or users) of a saved model")
    sim.add_argument("--model", required=True, metavar="MODEL.npz")
    which = sim.add_mutually_exclusive_group(required=True)
    which.add_argument("--item", metavar="RAW_ID", help="items similar to this item")
    which.add_argument("--user", metavar="RAW_ID", help="users similar to this user")
    sim.add_argument("-k", type=int, default=10, help="how many (default 10)")
    sim.set_defaults(func=run_similar)

    ev = sub.add_parser("evaluate", help="split a ratings file, train a model and print its metrics",
                        description="Hold out test data (or run k-fold cross-validation), train the model and "
                                    "print RMSE/MAE (rating models) and precision, recall, NDCG, MAP at k and "
                                    "catalogue coverage.")
    _add_data_args(ev)
    _add_model_args(ev)
    ev.add_argument("--split", choices=SPLITS, default="per-user", help="how to hold out test data (default per-user)")
    ev.add_argument("--test-fraction", type=float, default=0.2, help="share held out (default 0.2)")
    ev.add_argument("--folds", type=int, default=5, help="folds for --split kfold (default 5)")
    ev.add_argument("-k", type=int, default=10, help="list length for the ranking metrics (default 10)")
    ev.set_defaults(func=run_evaluate)

    content.add_parser(sub)

    info = sub.add_parser("info", help="describe a saved model file")
    info.add_argument("path", metavar="MODEL.npz")
    info.set_defaults(func=run_info)

    tune.add_parser(sub)  # turborec tune: cross-validated parameter search
    serve.add_parser(sub)  # turborec serve / retrain: the HTTP service (the 'serve' extra)
    retrain.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # usage errors: argparse prints them and exits with status 2
    try:
        return args.func(args)
    except UsageError as err:
        print(f"turborec {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("turborec: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception:
        traceback.print_exc()
        print("turborec: unexpected error (a bug); please report it with the traceback above", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["UsageError", "build_parser", "dense_id", "main", "parse_params", "read_ratings"]
