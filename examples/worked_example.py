"""The design document's worked example: fill the unknown ratings of a 4 x 4 matrix.

        item1 item2 item3 item4
    u1    4     2     ?     5
    u2    5     ?     3     4
    u3    3     5     ?     2
    u4    ?     4     2     5

Both user-based CF ("users like you") and item-based CF ("items like this one") predict every '?'
from the two most similar neighbours (cosine similarity, mean-centred weighted average). Beside
them, the article's own model, matrix factorisation with biases:

    r_ui = mu + b_u + b_i + <q_u, k_i>

mu is the mean rating, b_u how much user u rates above it, b_i how much item i is rated above it,
and <q_u, k_i> the match between u's taste vector and i's vector (2 factors here), all learned by
SGD from the twelve known ratings. Each '?' is printed with its four terms.

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


def factorise(factors=2, epochs=100, seed=0):
    """The article's model on the 4 x 4 matrix: (model, filled, terms of each '?')."""
    R = sp.csr_matrix(RATINGS)
    model = turborec.MatrixFactorization(factors=factors, epochs=epochs, seed=seed, clip=False,
                                         lr_schedule="constant", lr=0.05, reg=0.1, reg_bias=0.1).fit(R)
    users, items = np.nonzero(RATINGS == 0)
    filled = RATINGS.copy()
    filled[users, items] = model.predict(users, items)
    terms = []
    for u, i in zip(users, items):
        dot = float(model.user_factors_[u] @ model.item_factors_[i])
        terms.append((int(u), int(i), float(model.global_mean_), float(model.user_bias_[u]),
                      float(model.item_bias_[i]), dot))
    return model, filled, terms


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
    _, by_mf, terms = factorise()
    show("matrix factorisation r = mu + b_u + b_i + <q_u, k_i> (2 factors); * = predicted", by_mf)
    print("each predicted rating, term by term:")
    for u, i, mu, bu, bi, dot in terms:
        print(f"    u{u + 1}, item{i + 1}: mu {mu:.3f} + b_u {bu:+.3f} + b_i {bi:+.3f} + <q_u, k_i> {dot:+.3f} "
              f"= {mu + bu + bi + dot:.2f}")
    print()
    why = model.explain(0, 2)
    print("why item-based CF gives u1 a", f"{why.prediction:.2f} for item3:")
    for j, s, r in zip(why.neighbours, why.similarities, why.ratings):
        print(f"    u1 rated item{j + 1} {r:.0f}; similarity(item3, item{j + 1}) = {s:.3f}")


if __name__ == "__main__":
    main()
