"""Model selection: grid search, random search and successive halving, with k-fold cross-validation.

Every search scores each candidate parameter setting on the same folds (:func:`turborec.kfold`
with the search's ``seed``) through :func:`turborec.evaluate`, ranks the candidates by one metric,
and refits the best on all the data::

    search = GridSearch(MatrixFactorization(factors=32), {"reg": [0.02, 0.05, 0.1], "lr": [0.02, 0.05]},
                        metric="rmse", folds=3, seed=0).fit(data)
    search.best_params_, search.best_score_, search.best_model_
    search.results_          # a pandas DataFrame: one row per candidate

Parallelism: the (candidate, fold) fits run in a thread pool of ``n_jobs`` workers (turborec's
kernels release the GIL) and each model gets ``n_threads // n_jobs`` threads, so workers x
threads never exceeds the thread budget (``n_threads``, 0 = all cores): no oversubscription. The
default ``n_jobs=None`` runs one single-threaded fit per core for data under 1M interactions
(small fits barely use a second thread) and one worker per 4 threads of the budget (at least one)
for larger data, whose fits scale. Scores do not depend on the split of
the budget: turborec's models give the same result for any thread count at a fixed seed.

Determinism: the folds come from ``seed``; a model with a ``seed`` parameter left at None gets the
search's ``seed`` (a candidate may still set its own).
"""

from __future__ import annotations

import itertools
import math
import numbers
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._threads import effective_threads
from ._validation import check_int, check_k
from .data import Interactions
from .data._columns import _pandas
from .evaluation import METRICS, RATING_METRICS, evaluate
from .split import kfold

# Metrics where smaller is better; every other one (ranking metrics, coverage) is larger-is-better.
_LOWER_IS_BETTER = frozenset(RATING_METRICS)
# Below this many interactions a fit gains little from more than one thread (SGD runs small strata on
# one thread anyway), so the default runs one candidate per core instead.
_SMALL_FIT = 1_000_000


def _check_metric_names(metric, metrics):
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a metric name (str), got {type(metric).__name__}")
    if metric not in METRICS:
        raise ValueError(f"metric: unknown {metric!r}; choose from {list(METRICS)}")
    if metrics is None:
        return metric, (metric,)
    if isinstance(metrics, str):
        metrics = [metrics]
    try:
        names = list(metrics)
    except TypeError:
        raise TypeError(f"metrics must be None or a list of metric names, got {type(metrics).__name__}") from None
    unknown = [m for m in names if not isinstance(m, str) or m not in METRICS]
    if unknown:
        raise ValueError(f"metrics: unknown {unknown}; choose from {list(METRICS)}")
    return metric, tuple(dict.fromkeys([metric] + names))


class _Estimator:
    """A model template (an unfitted turborec model, copied per candidate) or a factory
    ``factory(**params) -> model``; ``names`` are the parameters a candidate may set."""

    def __init__(self, estimator):
        if hasattr(estimator, "get_params") and hasattr(estimator, "set_params") and hasattr(estimator, "fit"):
            if getattr(estimator, "is_fitted", False):
                estimator = estimator.clone()  # only its parameters are used
            self.template, self.factory = estimator, None
            self.names = set(estimator.get_params())
        elif callable(estimator):
            self.template, self.factory = None, estimator
            try:
                probe = estimator()  # the parameters a candidate may set are the default model's
            except TypeError as err:
                raise TypeError(f"estimator: a factory must be callable without arguments too ({err})") from None
            if not (hasattr(probe, "get_params") and hasattr(probe, "fit")):
                raise TypeError("estimator: a factory must return a turborec model (with get_params and fit), "
                                f"got {type(probe).__name__}")
            self.names = set(probe.get_params())
        else:
            raise TypeError("estimator must be a turborec model (e.g. MatrixFactorization()) or a callable "
                            f"returning one, got {type(estimator).__name__}")

    def build(self, params: dict, threads: int, seed):
        if self.template is not None:
            model = self.template.clone().set_params(**params)
        else:
            model = self.factory(**params)
        extra = {}
        if "n_threads" in self.names and "n_threads" not in params:
            extra["n_threads"] = threads
        if "seed" in self.names and "seed" not in params and model.get_params().get("seed") is None:
            extra["seed"] = seed
        if extra:
            model.set_params(**extra)
        return model

    def check(self, candidates, what: str):
        for params in candidates:
            unknown = sorted(set(params) - self.names)
            if unknown:
                raise ValueError(f"{what}: unknown parameter(s) {unknown}; the model has {sorted(self.names)}")
        for params in candidates:  # bad values fail here, before any fitting (set_params checks them)
            try:
                model = self.build(params, 1, 0)
                if hasattr(model, "_validate_params"):
                    model._validate_params()
            except (TypeError, ValueError) as err:
                raise type(err)(f"{what}: candidate {params}: {err}") from None


def _grid_candidates(param_grid, what="param_grid") -> list[dict]:
    grids = [param_grid] if isinstance(param_grid, dict) else param_grid
    if not isinstance(grids, (list, tuple)) or not all(isinstance(g, dict) for g in grids):
        raise TypeError(f"{what} must be a dict of name -> list of values, or a list of such dicts, "
                        f"got {type(param_grid).__name__}")
    if not grids:
        raise ValueError(f"{what} is empty: give at least one parameter with at least one value")
    out = []
    for grid in grids:
        names = list(grid)
        for name in names:
            values = grid[name]
            if not isinstance(name, str):
                raise TypeError(f"{what}: parameter names must be str, got {name!r}")
            if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
                raise TypeError(f"{what}[{name!r}] must be a list of values, got {values!r}")
            if len(list(values)) == 0:
                raise ValueError(f"{what}[{name!r}] is empty: give at least one value")
        out.extend(dict(zip(names, combo)) for combo in itertools.product(*(list(grid[n]) for n in names)))
    if not out or out == [{}]:
        raise ValueError(f"{what} is empty: give at least one parameter with at least one value")
    return out


def _sample_candidates(distributions, n_iter, rng) -> list[dict]:
    if not isinstance(distributions, dict):
        raise TypeError(f"param_distributions must be a dict of name -> list of values or a scipy.stats "
                        f"distribution, got {type(distributions).__name__}")
    if not distributions:
        raise ValueError("param_distributions is empty: give at least one parameter")
    for name, dist in distributions.items():
        if hasattr(dist, "rvs"):
            continue
        if isinstance(dist, (str, bytes)) or not hasattr(dist, "__iter__"):
            raise TypeError(f"param_distributions[{name!r}] must be a list of values or have .rvs(), got {dist!r}")
        if len(list(dist)) == 0:
            raise ValueError(f"param_distributions[{name!r}] is empty: give at least one value")
    out = []
    for _ in range(n_iter):
        params = {}
        for name, dist in distributions.items():  # dict order: the same draws for the same seed
            if hasattr(dist, "rvs"):
                value = dist.rvs(random_state=rng)
                value = value.item() if isinstance(value, np.generic) else value
            else:
                values = list(dist)
                value = values[int(rng.integers(len(values)))]
            params[name] = value
        out.append(params)
    return out


class _Search:
    """Shared machinery: folds, the thread budget, scoring a list of candidates, the results table."""

    def __init__(self, estimator, *, metric="rmse", metrics=None, folds=3, k=10, seed=0, refit=True, n_jobs=None,
                 n_threads=0, exclude_train=True, verbose=False):
        self.estimator = estimator
        self.metric = metric
        self.metrics = metrics
        self.folds = folds
        self.k = k
        self.seed = seed
        self.refit = refit
        self.n_jobs = n_jobs
        self.n_threads = n_threads
        self.exclude_train = exclude_train
        self.verbose = verbose

    # ---- checks -------------------------------------------------------------------------------

    def _prepare(self, data):
        self._metric, self._metrics = _check_metric_names(self.metric, self.metrics)
        check_k(self.k)
        self._folds_n = check_int(self.folds, "folds", 2)
        if not isinstance(self.refit, bool):
            raise TypeError(f"refit must be a bool, got {type(self.refit).__name__}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral)):
            raise TypeError(f"seed must be None or an int, got {type(self.seed).__name__}")
        self._seed = int(np.random.SeedSequence().entropy % 2**31) if self.seed is None else int(self.seed)
        self._budget = effective_threads(self.n_threads)
        if self.n_jobs is not None:
            check_int(self.n_jobs, "n_jobs", 1)
        self._est = _Estimator(self.estimator)
        if not (isinstance(data, Interactions) or hasattr(data, "tocsr")):
            raise TypeError(f"data must be an Interactions or a scipy.sparse matrix, got {type(data).__name__}")
        self._fold_pairs = list(kfold(data, self._folds_n, self._seed))
        self._nnz = int(data.nnz)

    def _split_budget(self, n_tasks: int) -> tuple[int, int]:
        """(workers, threads per model) with workers * threads <= the budget."""
        if self.n_jobs is not None:
            jobs = self.n_jobs
        elif self._nnz < _SMALL_FIT:
            jobs = self._budget  # small fits barely use a second thread: one model per core
        else:
            jobs = max(1, self._budget // 4)
        workers = max(1, min(jobs, n_tasks, self._budget))
        return workers, max(1, self._budget // workers)

    # ---- scoring ------------------------------------------------------------------------------

    def _score(self, candidates: list[dict]) -> list[dict]:
        """Cross-validated scores of each candidate: {metric: [per-fold values]}, fit seconds."""
        tasks = [(c, f) for c in range(len(candidates)) for f in range(len(self._fold_pairs))]
        workers, threads = self._split_budget(len(tasks))

        def one(task):
            c, f = task
            train, test = self._fold_pairs[f]
            model = self._est.build(candidates[c], threads, self._seed)
            row = evaluate(model, train, test, self.k, list(self._metrics), exclude_train=self.exclude_train,
                           n_threads=threads).iloc[0]
            return {m: float(row[m]) for m in self._metrics}, float(row["fit_seconds"])

        if workers == 1:
            outcomes = [one(t) for t in tasks]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                outcomes = list(pool.map(one, tasks))  # in task order: results do not depend on timing
        scores = []
        for c in range(len(candidates)):
            rows = outcomes[c * len(self._fold_pairs):(c + 1) * len(self._fold_pairs)]
            scores.append({"folds": {m: [r[0][m] for r in rows] for m in self._metrics},
                           "fit_seconds": [r[1] for r in rows]})
            if self.verbose:
                mean = np.mean(scores[-1]["folds"][self._metric])
                print(f"[{type(self).__name__}] {candidates[c]}: {self._metric} {mean:.5f}", flush=True)
        return scores

    def _table(self, candidates, scores, extra_columns=None):
        pd = _pandas(type(self).__name__)
        names = list(dict.fromkeys(n for c in candidates for n in c))
        rows = []
        for t, (params, s) in enumerate(zip(candidates, scores)):
            row = {"params": dict(params)}
            for n in names:
                row[f"param_{n}"] = params.get(n, np.nan)
            if extra_columns:
                row.update({k: v[t] for k, v in extra_columns.items()})
            for m in self._metrics:
                vals = np.asarray(s["folds"][m], dtype=np.float64)
                row[f"mean_{m}"] = float(vals.mean())
                row[f"std_{m}"] = float(vals.std())
            for m in self._metrics:
                for f, v in enumerate(s["folds"][m]):
                    row[f"fold{f}_{m}"] = v
            row["mean_fit_seconds"] = float(np.mean(s["fit_seconds"]))
            rows.append(row)
        table = pd.DataFrame(rows)
        for m in self._metrics:
            # rank 1 = best; NaN scores rank last; ties share the best rank
            key = table[f"mean_{m}"] if m in _LOWER_IS_BETTER else -table[f"mean_{m}"]
            table[f"rank_{m}"] = key.rank(method="min", na_option="bottom").astype(int)
        return table

    def _finish(self, data, table, best_row: int, best_params: dict):
        self.results_ = table
        self.best_index_ = int(best_row)
        self.best_params_ = dict(best_params)
        self.best_score_ = float(table.loc[best_row, f"mean_{self._metric}"])
        if not math.isfinite(self.best_score_):
            raise ValueError(f"no candidate gave a finite {self._metric}: does the model support it?")
        self.best_model_ = None
        if self.refit:
            model = self._est.build(self.best_params_, self._budget, self._seed)
            start = time.perf_counter()
            model.fit(data)
            self.refit_seconds_ = time.perf_counter() - start
            self.best_model_ = model
        return self

    def _best_of(self, table) -> int:
        """Row of the best mean score; the first in candidate order among ties."""
        order = table[f"rank_{self._metric}"].to_numpy()
        return int(np.flatnonzero(order == order.min())[0])


class GridSearch(_Search):
    """Exhaustive search over a parameter grid with k-fold cross-validation.

    Parameters
    ----------
    estimator : turborec model or callable
        An unfitted model whose parameters seed every candidate (``model.clone().set_params(**c)``),
        or a factory ``f(**params) -> model`` (e.g. the class itself; ``f()`` must work too: its
        model's ``get_params()`` names the parameters a candidate may set).
    param_grid : dict or list of dicts
        ``{name: [values, ...]}``: every combination is a candidate; a list of such dicts searches
        their union (as scikit-learn's GridSearchCV).
    metric : str
        The score that ranks the candidates: ``rmse``/``mae`` (lower is better) or a ranking metric
        (``ndcg``, ``precision``, ``recall``, ``map``, ``hit_rate``, ``mrr``, ``auc``, ``coverage``;
        larger is better) at ``k``.
    metrics : list of str, optional
        Further metrics to report in ``results_`` (``metric`` is always included).
    folds : int >= 2
        Cross-validation folds (:func:`turborec.kfold`, ``seed``): the same folds for every candidate.
    k : int
        List length for the ranking metrics.
    seed : int or None
        Folds and, for models with a ``seed`` parameter left at None, the models' seed.
    refit : bool
        Refit the best candidate on all of ``data`` (``best_model_``).
    n_jobs : int or None
        Candidate fits run side by side (threads; see the module docstring for the rule).
    n_threads : int
        The thread budget shared by all workers (0 = all cores).
    exclude_train : bool
        As in :func:`turborec.evaluate`.
    verbose : bool
        Print each candidate's score.

    Attributes (after fit)
    ----------------------
    results_ : pandas.DataFrame
        One row per candidate, in grid order: ``params`` (dict), ``param_<name>``, ``mean_<m>`` and
        ``std_<m>`` (population std over the folds) per metric, ``fold<f>_<m>``,
        ``mean_fit_seconds``, ``rank_<m>`` (1 = best).
    best_params_ : dict
    best_score_ : float
        Mean over the folds of ``metric`` for the best candidate.
    best_index_ : int
        Its row in ``results_``.
    best_model_ : model or None
        The best candidate fitted on all the data (None with ``refit=False``).
    """

    def __init__(self, estimator, param_grid, *, metric="rmse", metrics=None, folds=3, k=10, seed=0, refit=True,
                 n_jobs=None, n_threads=0, exclude_train=True, verbose=False):
        super().__init__(estimator, metric=metric, metrics=metrics, folds=folds, k=k, seed=seed, refit=refit,
                         n_jobs=n_jobs, n_threads=n_threads, exclude_train=exclude_train, verbose=verbose)
        self.param_grid = param_grid

    _what = "param_grid"

    def _candidates(self):
        return _grid_candidates(self.param_grid)

    def fit(self, data) -> "GridSearch":
        """Score every candidate on the folds of ``data`` (Interactions or sparse matrix); refit the best."""
        candidates = self._candidates()
        self._prepare(data)
        self._est.check(candidates, self._what)
        table = self._table(candidates, self._score(candidates))
        best = self._best_of(table)
        return self._finish(data, table, best, candidates[best])


class RandomSearch(GridSearch):
    """Search over ``n_iter`` candidates drawn from ``param_distributions`` with k-fold
    cross-validation; everything else as :class:`GridSearch`.

    param_distributions : dict
        ``{name: list of values}`` (drawn uniformly) or ``{name: distribution}`` with
        ``.rvs(random_state=...)`` (e.g. ``scipy.stats.loguniform(1e-3, 1e-1)``).
    n_iter : int >= 1
        Candidates to draw; the draws come from ``seed``, so the same seed gives the same candidates.
    """

    def __init__(self, estimator, param_distributions, n_iter=10, *, metric="rmse", metrics=None, folds=3, k=10,
                 seed=0, refit=True, n_jobs=None, n_threads=0, exclude_train=True, verbose=False):
        _Search.__init__(self, estimator, metric=metric, metrics=metrics, folds=folds, k=k, seed=seed, refit=refit,
                         n_jobs=n_jobs, n_threads=n_threads, exclude_train=exclude_train, verbose=verbose)
        self.param_distributions = param_distributions
        self.n_iter = n_iter

    _what = "param_distributions"

    def _candidates(self):
        n_iter = check_int(self.n_iter, "n_iter", 1)
        seed = None if self.seed is None else int(self.seed) + 1  # not the folds' stream
        return _sample_candidates(self.param_distributions, n_iter, np.random.default_rng(seed))


class SuccessiveHalving(_Search):
    """Successive halving over a resource (by default ``epochs``): every candidate is scored with a
    small budget, the best ``1 / factor`` go on with ``factor`` times more, until one candidate is
    left or the budget reaches ``max_resource``; all with k-fold cross-validation.

    Parameters
    ----------
    estimator, metric, metrics, folds, k, seed, refit, n_jobs, n_threads, exclude_train, verbose
        As in :class:`GridSearch`.
    param_grid : dict or list of dicts
        The candidates (as in GridSearch); must not set ``resource``.
    resource : str
        An integer parameter of the model that buys accuracy with time (``epochs``).
    factor : int >= 2
        Survivors per round: ``ceil(n / factor)``; the resource grows by ``factor``.
    min_resource : int or None
        The first round's resource; default ``max_resource / factor^(rounds-1)`` so that the last
        round (one candidate, or the survivors) gets ``max_resource``, and at least 1.
    max_resource : int or None
        The last round's resource; default the estimator's own value of ``resource``.

    Attributes (after fit)
    ----------------------
    results_ : pandas.DataFrame
        One row per (round, candidate) evaluated, with ``iter`` (round, from 0), ``n_resources``
        and ``candidate`` (index into the grid) before GridSearch's columns; ranks are within the
        whole table, so use ``best_params_`` for the winner (the best of the last round).
    best_params_ : dict
        The winner's grid parameters plus ``resource`` at the round it won in.
    best_score_, best_index_, best_model_
        As in GridSearch, for the winner in the last round.
    """

    def __init__(self, estimator, param_grid, *, resource="epochs", factor=3, min_resource=None, max_resource=None,
                 metric="rmse", metrics=None, folds=3, k=10, seed=0, refit=True, n_jobs=None, n_threads=0,
                 exclude_train=True, verbose=False):
        super().__init__(estimator, metric=metric, metrics=metrics, folds=folds, k=k, seed=seed, refit=refit,
                         n_jobs=n_jobs, n_threads=n_threads, exclude_train=exclude_train, verbose=verbose)
        self.param_grid = param_grid
        self.resource = resource
        self.factor = factor
        self.min_resource = min_resource
        self.max_resource = max_resource

    def _schedule(self, n_candidates: int) -> list[tuple[int, int]]:
        """[(candidates kept, resource)] per round."""
        factor = check_int(self.factor, "factor", 2)
        if self.max_resource is None:
            probe = self._est.build({}, 1, 0)
            max_r = probe.get_params().get(self.resource)
            if isinstance(max_r, bool) or not isinstance(max_r, numbers.Integral):
                raise ValueError(f"max_resource: the estimator's {self.resource!r} is {max_r!r}; pass max_resource")
            max_r = int(max_r)
        else:
            max_r = check_int(self.max_resource, "max_resource", 1)
        counts = [n_candidates]
        while counts[-1] > 1:
            counts.append(math.ceil(counts[-1] / factor))
        if self.min_resource is None:
            rounds = len(counts)
            while rounds > 1 and max_r // factor ** (rounds - 1) < 1:
                rounds -= 1
            min_r = max(1, max_r // factor ** (rounds - 1))
        else:
            min_r = check_int(self.min_resource, "min_resource", 1)
            if min_r > max_r:
                raise ValueError(f"min_resource ({min_r}) must not exceed max_resource ({max_r})")
        plan, r = [], min_r
        for t, n in enumerate(counts):
            last = r >= max_r or t == len(counts) - 1
            plan.append((n, max_r if last else r))
            if last:
                break
            r *= factor
        return plan

    def fit(self, data) -> "SuccessiveHalving":
        candidates = _grid_candidates(self.param_grid)
        self._prepare(data)
        if not isinstance(self.resource, str) or self.resource not in self._est.names:
            raise ValueError(f"resource: the model has no parameter {self.resource!r}; it has {sorted(self._est.names)}")
        if any(self.resource in c for c in candidates):
            raise ValueError(f"param_grid must not set the resource {self.resource!r}: the search sets it")
        self._est.check(candidates, "param_grid")
        plan = self._schedule(len(candidates))
        alive = list(range(len(candidates)))
        tables = []
        metric, lower = self._metric, self._metric in _LOWER_IS_BETTER
        for rnd, (keep, r) in enumerate(plan):
            alive = alive[:keep] if rnd == 0 else alive
            params = [{**candidates[c], self.resource: r} for c in alive]
            scores = self._score(params)
            means = np.array([np.mean(s["folds"][metric]) for s in scores])
            key = np.where(np.isnan(means), np.inf, means if lower else -means)
            tables.append(self._table(params, scores, {"iter": [rnd] * len(alive), "n_resources": [r] * len(alive),
                                                       "candidate": list(alive)}))
            order = np.argsort(key, kind="stable")  # ties: grid order
            nxt = plan[rnd + 1][0] if rnd + 1 < len(plan) else 1
            self._last_winner = (alive[int(order[0])], r)
            alive = [alive[int(t)] for t in order[:nxt]]
        pd = _pandas("SuccessiveHalving")
        table = pd.concat(tables, ignore_index=True)
        for m in self._metrics:
            key = table[f"mean_{m}"] if m in _LOWER_IS_BETTER else -table[f"mean_{m}"]
            table[f"rank_{m}"] = key.rank(method="min", na_option="bottom").astype(int)
        winner, r = self._last_winner
        best_row = int(table.index[(table["iter"] == len(plan) - 1) & (table["candidate"] == winner)][0])
        return self._finish(data, table, best_row, {**candidates[winner], self.resource: r})


HalvingSearch = SuccessiveHalving

__all__ = ["GridSearch", "HalvingSearch", "RandomSearch", "SuccessiveHalving"]
