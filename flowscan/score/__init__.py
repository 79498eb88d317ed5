"""Account risk ranking: the feature table, PyOD anomaly scores, fusion with rule hits, alerts.

The data flow: :func:`feature_table` (per-account features, no labels) ->
:class:`Transform` (log scaling, imputation, robust scaling) -> a PyOD :class:`Detector` ->
:mod:`~flowscan.score.fusion` (rule hits and anomaly percentile into one risk score, ranks,
:class:`AlertPolicy`) -> :func:`score_accounts` (accounts, alerts and evidence tables).
"""

from .detectors import DETECTORS, Detector, FittedDetector
from .fusion import TRAFFICKING, WEIGHTS, AlertPolicy, Fusion
from .profile import Profile
from .scorer import Model, ScoreOptions, Scores, fit_model, load_model, save_model, score_accounts
from .table import Transform, feature_columns, feature_table

__all__ = [
    "DETECTORS", "TRAFFICKING", "WEIGHTS", "AlertPolicy", "Detector", "FittedDetector", "Fusion", "Model",
    "Profile", "ScoreOptions", "Scores", "Transform", "feature_columns", "feature_table", "fit_model", "load_model",
    "save_model", "score_accounts",
]
