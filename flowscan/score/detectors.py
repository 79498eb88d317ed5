"""PyOD anomaly detectors over the account feature matrix, and why each feature pushed a score.

Higher score = more unusual, as in PyOD. Every detector is fitted with a fixed ``random_state``
where it has one, so the same matrix gives the same scores. The registry :data:`DETECTORS`
maps a public name to a PyOD class and its default parameters; ``"ensemble"`` averages the
percentile ranks of its members' scores (rank averaging, so no member's scale dominates).

Which detector is the default was measured, not assumed: see ``benchmarks/quality.py`` and the
"Scoring quality" section of ``benchmarks/RESULTS.md``. HBOS bins each feature into
``n_bins`` equal-width bins; the default ``"sqrt"`` takes the square root of the number of
accounts, clipped to [10, 200] (the square-root choice of histogram bins). PyOD's own
``"auto"`` (Birge-Rozenblac bins per feature) ranked a little better on small ledgers but
scores in pure Python, about 0.5 ms per account: nine minutes for a million accounts.

Contributions (why a score is high). For ECOD and COPOD the score is a sum over features of
per-feature tail scores, which PyOD keeps (``O``); a feature's contribution is its tail score
less the median tail score of that feature. For the other detectors (HBOS, IForest) and the
ensemble the contribution of feature ``j`` to account ``x`` is ``score(x) - score(x with x_j
set to the fitted median)``: how much the score falls when that one feature is made typical.
After robust scaling the median is 0. Positive contributions pushed the score up.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from .. import params
from ..errors import ConfigError, ConfigTypeError

DETECTORS = MappingProxyType({
    "hbos": ("pyod.models.hbos", "HBOS", {"n_bins": "sqrt", "alpha": 0.1, "tol": 0.5}),
    "iforest": ("pyod.models.iforest", "IForest", {"n_estimators": 200, "max_samples": 256}),
    "ecod": ("pyod.models.ecod", "ECOD", {}),
    "copod": ("pyod.models.copod", "COPOD", {}),
})
"""Public detector name to (module, class, default parameters)."""

ENSEMBLE_MEMBERS = ("hbos", "iforest", "ecod", "copod")
_SEEDED = ("iforest",)
_PER_FEATURE = ("ecod", "copod")


@dataclasses.dataclass(frozen=True)
class Detector:
    """Which PyOD detector scores the accounts.

    Parameters
    ----------
    name : {"hbos", "iforest", "ecod", "copod", "ensemble"}, default="hbos"
        The detector; ``"ensemble"`` rank-averages ``members``.
    params : mapping, optional
        Keyword arguments for the PyOD class, over its defaults in :data:`DETECTORS`
        (ignored by ``"ensemble"``).
    random_state : int, default=0
        Seed of the detectors that draw random numbers (IForest). Recorded in the manifest.
    members : tuple of str, default=("hbos", "iforest", "ecod", "copod")
        Members of the ensemble.
    fit_sample : int, optional
        Fit on a random sample of this many accounts when there are more (drawn with
        ``random_state``, so the same sample every run), then score every account with the fitted
        detector; an account's percentile ranks it among the sampled accounts. ``None`` (the
        default) fits on every account. For ledgers with very many accounts: with HBOS and
        IForest, which score an account by itself, the Spark engine applies the fitted detector
        on its executors. ECOD and COPOD score new accounts by ranking them together with the
        sample, so for them a sample saves fitting time only.
    """

    name: str = "hbos"
    params: Mapping = dataclasses.field(default_factory=dict)
    random_state: int = 0
    members: tuple[str, ...] = ENSEMBLE_MEMBERS
    fit_sample: int | None = None

    def __post_init__(self):
        params.choice("Detector", "name", self.name, (*DETECTORS, "ensemble"))
        if not isinstance(self.params, Mapping):
            raise ConfigError(f"The 'params' parameter of Detector must be a table of keyword arguments. "
                              f"Got {type(self.params).__name__} instead.")
        object.__setattr__(self, "params", dict(self.params))  # a plain dict, so a saved model pickles
        for key, value in self.params.items():
            if not _plain(value):  # a TOML date, say: no keyword value, and the configuration hash is JSON
                raise ConfigTypeError(f"The 'params.{params.printable(key)}' parameter of Detector must be a number, "
                                      f"text, boolean, or an array or table of them. Got {value!r} instead.")
        if isinstance(self.random_state, bool) or not isinstance(self.random_state, int) or self.random_state < 0:
            raise ConfigError(f"The 'random_state' parameter of Detector must be a non-negative int. "
                              f"Got {self.random_state!r} instead.")
        members = tuple(self.members)
        if not members:
            raise ConfigError("The 'members' parameter of Detector must name at least one detector. Got () instead.")
        for member in members:
            params.choice("Detector", "members", member, tuple(DETECTORS))
        object.__setattr__(self, "members", members)
        if self.fit_sample is not None:
            params.positive_int("Detector", "fit_sample", self.fit_sample)
            if self.fit_sample < 2:
                raise ConfigError(f"The 'fit_sample' parameter of Detector must be at least 2 (accounts to compare). "
                                  f"Got {self.fit_sample!r} instead.")

    @property
    def scores_row_by_row(self) -> bool:
        """Whether a row's score depends on that row alone (HBOS, IForest), so the fitted
        detector may score the accounts in any batches; ECOD and COPOD rank new rows together
        with the fitted ones."""
        return not set(self.members if self.name == "ensemble" else (self.name,)) & set(_PER_FEATURE)

    def sample(self, n: int) -> np.ndarray | None:
        """The rows of ``n`` accounts to fit on, sorted; None for all of them."""
        if self.fit_sample is None or n <= self.fit_sample:
            return None
        return np.sort(np.random.default_rng(self.random_state).choice(n, self.fit_sample, replace=False))

    def to_dict(self) -> dict:
        out = {"name": self.name, "params": dict(self.params), "random_state": self.random_state,
               "members": list(self.members)}
        if self.fit_sample is not None:  # only when set: the default configuration's hash stays what it was
            out["fit_sample"] = self.fit_sample
        return out


def _plain(value) -> bool:
    """Whether ``value`` is JSON-like: text, a number, a boolean, None, or arrays and tables of them."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


SQRT_BINS = (10, 200)
"""Bounds of HBOS's ``n_bins="sqrt"``: the square root of the number of accounts, clipped."""


def _cache_pyod_kernels(module) -> None:
    """Let Numba cache PyOD's compiled HBOS scorer on disk, as flowscan's own kernels are
    (``FLOWSCAN_NUMBA_CACHE=0`` turns both off): PyOD compiles it without a cache, a few
    seconds on every run. Best effort: a PyOD without that function is used as it is."""
    from ..kernels._jit import CACHE

    kernel = getattr(module, "_calculate_outlier_scores", None)
    if CACHE and hasattr(kernel, "enable_caching") and not getattr(kernel, "_flowscan_cached", False):
        try:
            kernel.enable_caching()
            kernel._flowscan_cached = True
        except Exception:  # noqa: BLE001 - a cache that cannot be set up only costs time
            pass


def _make(name: str, extra: Mapping, random_state: int, n_rows: int):
    import importlib

    module, cls, defaults = DETECTORS[name]
    if name == "hbos":
        _cache_pyod_kernels(importlib.import_module(module))
    kwargs = {**defaults, **extra}
    if kwargs.get("n_bins") == "sqrt":
        kwargs["n_bins"] = int(min(max(round(n_rows ** 0.5), SQRT_BINS[0]), SQRT_BINS[1]))
    if name in _SEEDED:
        kwargs["random_state"] = random_state
    try:
        return getattr(importlib.import_module(module), cls)(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"The 'params' parameter of Detector has a key {cls} does not take: {exc}") from None


class FittedDetector:
    """A detector fitted on one feature matrix (the estimator contract: learned state ends in ``_``).

    Attributes
    ----------
    estimators_ : dict of name to PyOD estimator
    train_scores_ : dict of name to ndarray
        Each member's scores on the matrix it was fitted on, sorted (for percentile ranks).
    decision_scores_ : ndarray of float64
        The detector's score of each fitted row (for the ensemble: the mean percentile rank).
    reference_ : ndarray of float64
        ``decision_scores_`` sorted: the reference that :meth:`percentile` ranks new scores in.
    median_ : ndarray of float64
        Per-feature median of the fitted matrix (0 after robust scaling on the same accounts).

    An ensemble with ECOD or COPOD members scores new rows with PyOD's own method for them,
    which ranks the new rows together with the fitted ones.
    """

    def __init__(self, detector: Detector):
        self.detector = detector

    @property
    def _names(self) -> tuple[str, ...]:
        return self.detector.members if self.detector.name == "ensemble" else (self.detector.name,)

    def fit(self, X: np.ndarray) -> FittedDetector:
        """Fit on ``X``. With fewer than 2 rows or no column (one account, or features that are
        all constant) there is nothing to compare: the detector is *degenerate*, every score and
        percentile is 0 and no feature contributes, so the rules alone rank the accounts."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ConfigError(f"the feature matrix must have 2 dimensions. Got {X.ndim} instead.")
        self.estimators_, self.train_scores_, self.per_feature_, self.per_feature_median_ = {}, {}, {}, {}
        self.median_ = np.median(X, axis=0) if X.shape[0] else np.zeros(X.shape[1])
        self.degenerate_ = X.shape[0] < 2 or X.shape[1] < 1
        if self.degenerate_:
            self.decision_scores_ = np.zeros(X.shape[0])
            self.reference_ = np.zeros(max(X.shape[0], 1))
            return self
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name in self._names:
                extra = self.detector.params if self.detector.name != "ensemble" else {}
                estimator = _make(name, extra, self.detector.random_state, X.shape[0]).fit(X)
                self.estimators_[name] = estimator
                self.train_scores_[name] = np.sort(np.asarray(estimator.decision_scores_, dtype=np.float64))
                if name in _PER_FEATURE:
                    per_feature = np.asarray(estimator.O, dtype=np.float64)[-X.shape[0]:]
                    self.per_feature_median_[name] = np.median(per_feature, axis=0)
                    self.per_feature_[name] = per_feature - self.per_feature_median_[name]
        self.decision_scores_ = self._combine({n: np.asarray(e.decision_scores_, dtype=np.float64)
                                               for n, e in self.estimators_.items()})
        self.reference_ = np.sort(self.decision_scores_)
        return self

    def percentile(self, scores: np.ndarray) -> np.ndarray:
        """Mid-rank percentile of each of ``scores`` among the fitted accounts, in [0, 1]: the
        share scoring below it plus half the share scoring the same (so a block of tied
        accounts sits at the middle of its block, not at its top). 0 for a degenerate fit."""
        scores = np.asarray(scores, dtype=np.float64)
        if self.degenerate_:
            return np.zeros(len(scores))
        below = np.searchsorted(self.reference_, scores, side="left")
        at_most = np.searchsorted(self.reference_, scores, side="right")
        return (below + at_most) / (2 * len(self.reference_))

    def _combine(self, scores: Mapping[str, np.ndarray]) -> np.ndarray:
        if self.detector.name != "ensemble":
            return scores[self.detector.name]
        ranks = [np.searchsorted(self.train_scores_[n], scores[n], side="right") / len(self.train_scores_[n])
                 for n in self._names]
        return np.mean(ranks, axis=0)

    def score(self, X: np.ndarray) -> np.ndarray:
        """Scores of new rows (another period's accounts) under the fitted detector."""
        if self.degenerate_:
            return np.zeros(len(X))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self._combine({n: np.asarray(e.decision_function(X), dtype=np.float64)
                                  for n, e in self.estimators_.items()})

    def contributions(self, X: np.ndarray, rows: np.ndarray, *, fitted: bool = True) -> np.ndarray:
        """Per-feature contributions to the score of ``X[rows]``.

        ``fitted`` says whether ``X`` is the matrix the detector was fitted on (then ``rows``
        index its fitted scores); for another period's accounts pass ``fitted=False`` and the
        rows are scored afresh.

        Returns
        -------
        ndarray of float64, shape (len(rows), n_features)
        """
        rows = np.asarray(rows, dtype=np.int64)
        base = X[rows]
        n, d = base.shape
        if n == 0 or self.degenerate_:
            return np.zeros((n, d))
        name = self.detector.name
        if name in _PER_FEATURE:
            if fitted:
                return self.per_feature_[name][rows]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                estimator = self.estimators_[name]
                estimator.decision_function(base)
                return np.asarray(estimator.O, dtype=np.float64)[-n:] - self.per_feature_median_[name]
        perturbed = np.repeat(base, d, axis=0)
        j = np.tile(np.arange(d), n)
        perturbed[np.arange(n * d), j] = self.median_[j]
        if fitted:
            before = self._combine({k: np.asarray(e.decision_scores_)[rows] for k, e in self.estimators_.items()})
        else:
            before = self.score(base)
        after = self.score(perturbed).reshape(n, d)
        return before[:, None] - after
