"""Distributed SGD matrix factorisation (DSGD, Gemulla et al. 2011) with turborec's C++ SGD kernel.

The ratings sit in a P x P grid of blocks (see ``_blocks``), partitioned by user block. An epoch
runs P sub-epochs (strata); stratum s pairs user block b with item block (b + s) % P, so its P
blocks share no user and no item and run as P parallel Spark tasks. Each task runs one SGD pass of
the kernel over its block with its user-factor block (which never moves: it lives in the same
partition as the user block's ratings) and the item-factor block shipped to it for this stratum
(the only shuffle: item factors, never ratings). The driver sees the per-block losses and, at the
end, the factor blocks; it never holds the ratings while training.

Determinism: initialisation is seeded per block, each block's visiting order comes from its
seeded grid over entries sorted by (user, item), the strata order from (seed, epoch): same seed
and same P give the same model, whatever the partitioning Spark chose for the input.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from .. import _kernels
from ..models import MatrixFactorization
from ..models.mf import _PAD, _REG_PER_STD
from .._validation import check_param_int
from ._blocks import block_partition, block_size, rating_blocks, task_threads
from .checks import check_interactions
from .errors import spark_job
from .ids import index_interactions

_GRIDS: dict = {}  # per Python worker: (run, block) -> SgdGrid, rebuilt when a task lands elsewhere


def _worker_grid(key, build):
    """The cached grid of ``key`` (run, user block, item block) in this Python worker, built on a miss.

    A module-level function on purpose: cloudpickle ships the task closure by value, with a private
    copy of the module globals it names, so a closure that used ``_GRIDS`` directly would find an
    empty cache in every task; a function it calls by reference reaches the worker's real one.
    """
    grid = _GRIDS.get(key)
    if grid is None:
        for old in [k for k in _GRIDS if k[0] != key[0]]:
            del _GRIDS[old]
        grid = _GRIDS[key] = build()
    return grid


def _block_seed(seed: int, ub: int, ib: int, blocks: int) -> int:
    return (int(seed) * 1_000_003 + ub * blocks + ib + 1) % (2**63)


def _init_block(seed: int, side: int, b: int, counts: np.ndarray, factors: int, init_std: float, exponent: float):
    """Factor rows (N(0, init_std^2)) and meta rows [bias 0, accumulators 1, reg weight] of one block."""
    dpad = -(-factors // _PAD) * _PAD
    rng = np.random.default_rng([int(seed), side, b])
    F = np.zeros((counts.size, dpad), np.float32)
    F[:, :factors] = rng.normal(0.0, init_std, (counts.size, factors))
    meta = np.zeros((counts.size, 4), np.float32)
    meta[:, 1:4] = 1.0
    meta[:, 3] = np.maximum(counts, 1).astype(np.float64) ** -float(exponent)
    return F, meta


def _sgd_task(cfg: dict, losses):
    """The function each stratum's tasks run: one kernel pass over the partition's block.

    A partition holds, keyed by its user block: ("R", item block, ratings) of this stratum, the
    previous state ("U", user factors) and ("I", item block, factors) records, and the item block
    this stratum pairs with, shuffled in. The previous state's item record is for another stratum
    (or the same block, equal, when two strata in a row share it) and is ignored.
    """

    def run(records):
        parts = {}
        for key, (tag, *value) in records:
            got = parts.setdefault(key, {"I": {}})
            if tag == "I":
                got["I"][value[0]] = value[1:]
            else:
                got[tag] = value
        for ub, got in parts.items():
            if "R" not in got or "U" not in got:
                raise RuntimeError(f"DSGD: partition for user block {ub} lacks its "
                                   f"{'ratings' if 'R' not in got else 'user factors'}")
            ib, lu, li, r = got["R"]
            if ib not in got["I"]:
                raise RuntimeError(f"DSGD: user block {ub} got item blocks {sorted(got['I'])}, expected {ib}")
            Pb, um = (a.copy() for a in got["U"])
            Qb, im = (a.copy() for a in got["I"][ib])
            loss = 0.0
            if lu.size:
                bpr = cfg["loss"] == "bpr"
                bseed = _block_seed(cfg["seed"], ub, ib, cfg["blocks"])

                def build():
                    # the block's own grid, by the single-machine rule (from the data, never the thread
                    # count): a task with spark.task.cpus > 1 runs its kernel on that many threads
                    # and the model stays the same whatever the cores
                    inner = max(1, min(int(np.clip(round(np.sqrt(lu.size / 1e4)), 1, 64)), Pb.shape[0], Qb.shape[0]))
                    grid = _kernels.sgd_grid(users=lu, items=li, values=None if bpr else r, n_users=Pb.shape[0],
                                             n_items=Qb.shape[0], grid=inner, seed=bseed, user_sorted=not bpr)
                    if not bpr:
                        return grid, None
                    indptr = np.zeros(Pb.shape[0] + 1, np.int64)
                    np.cumsum(np.bincount(lu, minlength=Pb.shape[0]), out=indptr[1:])
                    return grid, sp.csr_matrix((np.ones(li.size, np.float32), li, indptr),
                                               shape=(Pb.shape[0], Qb.shape[0]))

                grid, positives = _worker_grid((cfg["run"], ub, ib), build)
                loss = _kernels.sgd_epoch(
                    grid, _kernels.sgd_state(Pb, Qb, um, im), factors=cfg["factors"], mu=cfg["mu"], loss=cfg["loss"],
                    lr_schedule=cfg["lr_schedule"], lr=cfg["lr"], reg=cfg["reg"], reg_bias=cfg["reg_bias"],
                    decay=cfg["decay"], biased=cfg["biased"], seed=bseed, positives=positives, epoch=cfg["epoch"],
                    n_threads=task_threads())
            losses.add(float(loss))
            yield ub, ("U", Pb, um)
            yield ub, ("I", ib, Qb, im)

    return run


def _first_duplicate(ratings, P, data, user, item):
    """The ValueError for a repeated pair, naming one in raw ids (found in the cached blocks)."""
    from .checks import duplicate_error

    def repeats(kv):
        ub, (ib, lu, li, _) = kv
        same = np.flatnonzero((lu[1:] == lu[:-1]) & (li[1:] == li[:-1]))
        return [(int(lu[j]) * P + ub, int(li[j]) * P + ib) for j in same[:1]]

    u, i = ratings.flatMap(repeats).first()
    raw_user, raw_item = data.user_map.ids[u], data.item_map.ids[i]
    return duplicate_error(user, item, getattr(raw_user, "item", lambda: raw_user)(),
                           getattr(raw_item, "item", lambda: raw_item)())


def fit_matrix_factorization(df, *, user: str = "user", item: str = "item", rating: str | None = "rating",
                             blocks: int = 4, factors: int = 32, epochs: int = 20, loss: str = "squared", lr=None,
                             reg=None, reg_bias=None, lr_schedule: str = "adagrad", decay: float = 0.1, init_std=None,
                             biased: bool = True, clip=None, seed: int | None = None,
                             keep_seen: bool = True) -> MatrixFactorization:
    """Fit a :class:`turborec.MatrixFactorization` on a Spark DataFrame by distributed SGD.

    df has one row per (user, item[, rating]) with raw ids of any orderable Spark type; checked
    first (missing columns, null ids, NaN ratings, duplicates, emptiness: ValueError naming the
    column). ``blocks`` is P: the ratings are cut into P x P blocks and P tasks run at once, so use
    at least the cluster's task slots. ``rating=None`` (or ``loss="bpr"``) treats every row as a
    positive. The other parameters mean what they mean for ``MatrixFactorization``; ``seed``
    None draws one (recorded in ``seed_``). The result is an ordinary fitted model with the raw-id
    maps (``user_ids_``, ``item_ids_``): save it, load it, serve it. ``keep_seen`` collects the
    interaction pattern once, at the end, because a local model excludes seen items from
    recommendations; False gives it an empty one (smaller on the driver, but its ``recommend``
    and ``recommend_all`` then do not exclude the training items).
    """
    blocks = check_param_int(blocks, "blocks", 1)
    if loss == "bpr" and rating is not None:
        rating = None  # BPR learns from the pattern only
    model = MatrixFactorization(factors=factors, epochs=epochs, loss=loss, lr=lr, reg=reg, reg_bias=reg_bias,
                                lr_schedule=lr_schedule, decay=decay, init_std=init_std, biased=biased, clip=clip,
                                grid=int(blocks), seed=seed, early_stopping=False)
    lr_, reg_, reg_bias_ = model._resolved()  # parameter errors before any Spark job
    stats = check_interactions(df, user, item, rating, duplicates=False)  # repeats: found in the blocks
    data = index_interactions(df, user, item, rating)
    n_users, n_items = data.shape
    P = int(blocks)
    if P > min(n_users, n_items):
        raise ValueError(f"blocks={P} exceeds the data: {n_users} users and {n_items} items; use blocks <= "
                         f"{min(n_users, n_items)}")
    if reg is None and (loss, lr_schedule) == ("squared", "adagrad") and stats.n > 1:
        reg_ = _REG_PER_STD * stats.std or reg_
    seed_ = int(np.random.SeedSequence().entropy % 2**63) if seed is None else int(seed)
    bpr = loss == "bpr"
    mu = stats.mean if (biased and not bpr) else 0.0
    d = int(factors)
    exponent, init_std_ = model._reg_exponent, model._init_std
    sc = df.sparkSession.sparkContext
    with spark_job("DSGD matrix factorization"):
        repeats = sc.accumulator(0)
        ratings = rating_blocks(data.frame, P, n_users, n_items, repeats)
        if ratings.count() != P * P:  # materialised once: the id tables are not needed after this
            raise RuntimeError(f"DSGD: expected {P * P} rating blocks")
        data.release()
        if repeats.value:
            error = _first_duplicate(ratings, P, data, user, item)
            ratings.unpersist()
            raise error

        def counts(side_key, n_total):
            def one(kv):
                ub, (ib, lu, li, _) = kv
                b, idx = (ub, lu) if side_key == 0 else (ib, li)
                return b, np.bincount(idx, minlength=block_size(n_total, P, b))
            return ratings.map(one).reduceByKey(np.add, P, block_partition)

        def init(side, n_total):
            # counts arrive partitioned by block already (reduceByKey with block_partition): no shuffle
            return counts(side, n_total).map(
                lambda kv: (kv[0], _init_block(seed_, side, kv[0], kv[1], d, init_std_, exponent)),
                preservesPartitioning=True).persist()

        # The state: per partition b, ("U", user factors of block b) and ("I", block, item factors)
        # records, keyed by b. Item block b starts in partition b.
        user_blocks, item_blocks = init(0, n_users), init(1, n_items)
        state = user_blocks.mapValues(lambda v: ("U", *v)).union(
            item_blocks.map(lambda kv: (kv[0], ("I", kv[0], *kv[1])), preservesPartitioning=True))
        previous = [user_blocks, item_blocks]
        cfg = dict(run=f"{id(ratings)}-{seed_}-{time.time_ns()}", seed=seed_, blocks=P, factors=d, mu=float(mu),
                   loss=loss, lr_schedule=lr_schedule, lr=float(lr_), reg=float(reg_), reg_bias=float(reg_bias_),
                   decay=float(decay), biased=bool(biased))
        # Stratum s's ratings as their own cached RDD: a task reads its block straight from the cache,
        # without a Python pass that would unpickle and re-pickle all P blocks to pick one.
        strata = [ratings.filter(lambda kv, s=s: kv[1][0] == (kv[0] + s) % P)
                  .mapValues(lambda v: ("R", *v)).persist() for s in range(P)]
        if sc.union(strata).count() != P * P or user_blocks.union(item_blocks).count() != 2 * P:
            raise RuntimeError(f"DSGD: expected {P * P} rating blocks in the strata and {2 * P} factor blocks")
        ratings.unpersist()  # the strata hold every block from here on
        history = []
        for epoch in range(int(epochs)):
            start = time.perf_counter()
            losses = sc.accumulator(0.0)  # per-block losses (for history_ only: a retried task may add twice)
            pending = []
            # One Spark job per epoch: the P strata are chained lazily (each a stage with one shuffle,
            # the item blocks moving to their next user block) and run when the epoch's state is counted.
            for s in np.random.default_rng([seed_, 7, epoch]).permutation(P):
                s = int(s)
                items_in = state.flatMap(lambda kv, s=s: [((kv[1][1] - s) % P, kv[1])] if kv[1][0] == "I" else []) \
                    .partitionBy(P, block_partition)
                state = strata[s].union(state).union(items_in) \
                    .mapPartitions(_sgd_task(dict(cfg, epoch=epoch), losses), preservesPartitioning=True).persist()
                pending.append(state)
            pending.pop()
            state.localCheckpoint()  # cut the lineage every epoch
            if state.count() != 2 * P:
                raise RuntimeError(f"DSGD: epoch {epoch} produced the wrong number of factor blocks")
            for rdd in pending + previous:
                rdd.unpersist()
            previous = [state]
            total = losses.value
            row = {"epoch": epoch, "seconds": time.perf_counter() - start}
            if bpr:
                row["train_loss"] = total / max(stats.n, 1)
            else:
                row["train_rmse"] = float(np.sqrt(total / max(stats.n, 1)))
            history.append(row)
        # The model: factor blocks (and, with keep_seen, the pattern) to the driver, once.
        final = state.collect()
        user_parts = [(b, tuple(v[1:])) for b, v in final if v[0] == "U"]
        item_parts = [(v[1], tuple(v[2:])) for _, v in final if v[0] == "I"]
        seen_parts = sc.union(strata).map(lambda kv: (kv[0], *kv[1][1:])).collect() if keep_seen else []
        for rdd in previous + strata:
            rdd.unpersist()
    dpad = -(-d // _PAD) * _PAD
    Pm, Qm = np.zeros((n_users, dpad), np.float32), np.zeros((n_items, dpad), np.float32)
    um, im = np.zeros((n_users, 4), np.float32), np.zeros((n_items, 4), np.float32)
    for (b, (F, meta)), (full, full_meta) in [(p, (Pm, um)) for p in user_parts] + [(p, (Qm, im)) for p in item_parts]:
        full[b::P], full_meta[b::P] = F, meta
    rows, cols, vals = [np.empty(0, np.int64)], [np.empty(0, np.int64)], [np.empty(0, np.float32)]
    for ub, ib, lu, li, r in seen_parts:
        rows.append(lu.astype(np.int64) * P + ub)
        cols.append(li.astype(np.int64) * P + ib)
        vals.append(r)
    R = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_users, n_items),
                      dtype=np.float32)
    R.sort_indices()
    state = {"user_items_": R, "_P": Pm, "_Q": Qm, "_user_meta": um, "_item_meta": im, "global_mean_": float(mu),
             "rating_range_": (stats.low, stats.high), "seed_": seed_, "grid_": P, "history_": history,
             "_lr": float(lr_), "_reg": float(reg_), "_reg_bias": float(reg_bias_)}
    if seed is None:
        model.seed = seed_
    model._restore_fitted(state, data.user_map.ids, data.item_map.ids)
    return model
