"""The design document's worked example: fill the unknown ratings of a 4 x 4 matrix.

        item1 item2 item3 item4
    u1    4     2     ?     5
    u2    5     ?     3     4
    u3    3     5     ?     2
    u4    ?     4     2     5

Both user-based CF ("users like you") and item-based CF ("items like this one") predict every '?'
from the two most similar neighbours (cosine similarity, mean-centred weighted average).

Note: the mean of the twelve known ratings is 44 / 12 = 3.667; the document's 3.375 is an
arithmetic slip.

    python examples/worked_example.py
"""

import numpy as np
import scipy.sparse as sp

import turborec

RATINGS = np.array([[4, 2, 0, 5],
                    [5, 0, 3, 4],
                    [3, 5, 0, 2],
                    [0, 4, 2, 5]], dtype=np.float32)  # 0 = unknown ('?')


def complete(model_cls, variant="mean", k=2):
    R = sp.csr_matrix(RATINGS)
    model = model_cls(k=k, variant=variant).fit(R)
    users, items = np.nonzero(RATINGS == 0)
    filled = RATINGS.copy()
    filled[users, items] = model.predict(users, items)
    return model, filled


def show(title, filled):
    print(title)
    print("        " + "  ".join(f"item{j + 1}" for j in range(filled.shape[1])))
    for u, row in enumerate(filled):
        cells = []
        for j, v in enumerate(row):
            cell = f"{v:5.2f}" if RATINGS[u, j] == 0 else f"{v:5.0f}"
            cells.append(f"{cell}{'*' if RATINGS[u, j] == 0 else ' '}")
        print(f"    u{u + 1}  " + " ".join(cells))
    print()


def main():
    known = RATINGS[RATINGS > 0]
    print(f"mean of the {known.size} known ratings: {known.sum():.0f} / {known.size} = {known.mean():.3f}\n")
    _, by_users = complete(turborec.UserKNN)
    show("user-based CF (k=2, cosine, mean-centred); * = predicted", by_users)
    model, by_items = complete(turborec.ItemKNN)
    show("item-based CF (k=2, cosine, mean-centred); * = predicted", by_items)
    why = model.explain(0, 2)
    print("why item-based CF gives u1 a", f"{why.prediction:.2f} for item3:")
    for j, s, r in zip(why.neighbours, why.similarities, why.ratings):
        print(f"    u1 rated item{j + 1} {r:.0f}; similarity(item3, item{j + 1}) = {s:.3f}")


if __name__ == "__main__":
    main()
