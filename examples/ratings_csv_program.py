"""The design document's program, done properly: read a ratings CSV (user_id,item_id,rating),
split 80/20, predict one user's ratings with user-based CF from the k most similar users, print
the predictions and the test RMSE. The original is O(n^2) pandas and does not run (a missing
import); here turborec does the work and it takes about a second on MovieLens latest-small.

    python examples/ratings_csv_program.py [ratings.csv] [--user 1001] [--k 20]

Without a path it uses ../shared/datasets/ml-latest-small/ratings.csv when present (columns
userId,movieId,rating are recognised too).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import turborec

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-latest-small" / "ratings.csv"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--user", default=None, help="raw user id (default: 1001 if present, else the first user)")
    ap.add_argument("--k", type=int, default=20)
    args = ap.parse_args(argv)
    if not args.path.is_file():
        print(f"no ratings file at {args.path}: pass a CSV with user_id,item_id,rating columns", file=sys.stderr)
        return 2

    start = time.perf_counter()
    header = args.path.open().readline()
    user_col, item_col = ("userId", "movieId") if "userId" in header else ("user_id", "item_id")
    data = turborec.Interactions.from_csv(args.path, user=user_col, item=item_col, rating="rating")
    train, test = turborec.random_split(data, test_fraction=0.2, seed=42)

    model = turborec.UserKNN(k=args.k, variant="mean").fit(train)
    rows = np.repeat(np.arange(test.n_users), np.diff(test.matrix.indptr)).astype(np.int32)
    predicted = model.predict(rows, test.matrix.indices)
    rmse = float(np.sqrt(np.mean((predicted - test.matrix.data) ** 2)))

    raw_users = list(data.user_ids)
    wanted = args.user if args.user is not None else (1001 if 1001 in raw_users else raw_users[0])
    try:
        user = int(data.user_index([type(raw_users[0])(wanted)])[0])
    except (KeyError, ValueError):
        print(f"user {wanted!r} is not in {args.path}", file=sys.stderr)
        return 2
    lo, hi = test.matrix.indptr[user], test.matrix.indptr[user + 1]
    items = test.matrix.indices[lo:hi]
    mine = model.predict(np.full(items.size, user, dtype=np.int32), items)

    print(f"{data.nnz:,} ratings from {data.n_users:,} users on {data.n_items:,} items; 80/20 split")
    print(f"user {wanted}: {items.size} held-out ratings predicted from the {args.k} most similar users")
    for item, guess, truth in sorted(zip(data.item_ids[items], mine, test.matrix.data[lo:hi]), key=lambda t: -t[1])[:15]:
        print(f"    item {item!s:>8}: predicted {guess:4.2f}, actual {truth:3.1f}")
    print(f"test RMSE over all {test.nnz:,} held-out ratings: {rmse:.4f}")
    print(f"done in {time.perf_counter() - start:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
