"""Rank the accounts of a ledger: features, anomaly score, fusion with rule hits, alerts.

:func:`score_accounts` is the whole step: it takes the ledger, its index and the rule results
and returns :class:`Scores`, three Arrow tables an analyst reads:

``accounts``
    Every account in rank order: ``account``, ``rank`` (1 = riskiest, a total order), ``score``
    (the fused risk in [0, 1]), ``rule_score``, ``anomaly_score`` (the detector's raw score),
    ``anomaly_pct``, ``alerted``, ``typologies`` (anchored at the account), ``member_of``
    (typologies whose evidence names it as a counterparty), ``n_instances``, ``trafficking``,
    ``trafficking_profile`` and ``profile_indicators``, then every column of the feature table (raw values, before any transform).
``alerts``
    One row per alerted account in rank order: a deterministic ``alert_id``, ``account``,
    ``rank``, ``score``, ``rule_score``, ``anomaly_pct``, ``scenarios`` (rule codes of the
    instances anchored at the account), ``typologies``, ``trafficking`` (with
    ``trafficking_typologies`` and FinCEN's key term where it applies), ``window_start`` and
    ``fincen_typologies`` and ``red_flags`` (the FIN-2020-A008 typologies and the red-flag rows
    of its typologies, :mod:`flowscan.typologies`), ``trafficking_profile`` and
    ``profile_indicators`` (:mod:`flowscan.score.profile`), ``window_start`` and
    ``window_end`` (the span of the account's instances; null for an alert raised by the
    anomaly score alone), ``reasons`` (rule, instance, parameter, operator, observed value,
    threshold, unit), ``instance_ids`` and ``top_features`` (the features that pushed the
    anomaly score up: name, raw value, contribution; see
    :mod:`flowscan.score.detectors`).
``evidence``
    ``alert_id`` and ``instance_id`` to the transactions behind each instance of each alert,
    with their fields (the rules' evidence, capped per instance as the rules cap it).

Unsupervised by default: the detector is fitted on the ledger's own accounts (all of them, or a
seeded sample of them: :class:`~flowscan.score.detectors.Detector`'s ``fit_sample``). Pass
``model`` (a :class:`Model` fitted on a reference period, see :func:`fit_model`,
:func:`save_model`) to score another period with it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError, ConfigTypeError, DataError
from ..index import AccountIndex
from ..rules import EVIDENCE_SCHEMA, INSTANCE_SCHEMA, RuleResult
from ..rules.instances import REASON_TYPE, offsets_from_counts
from ..schema import TIMESTAMP_TYPE
from .detectors import Detector, FittedDetector
from ..typologies import TYPOLOGIES, fincen_typologies, red_flags
from .fusion import FINCEN_KEY_TERM, AlertPolicy, Fusion, rank_order, risk_scores, rule_scores
from .profile import Profile, profiles
from .table import Transform, feature_table

MODEL_FORMAT = 2  # 2: degenerate fits and mid-rank percentiles


@dataclasses.dataclass(frozen=True)
class ScoreOptions:
    """Everything scoring needs besides the data.

    Parameters
    ----------
    detector : Detector
    fusion : Fusion
    policy : AlertPolicy
    columns : tuple of str, optional
        Feature columns the detector sees; all of :func:`~flowscan.score.table.feature_columns`
        when omitted.
    top_features : int, default=5
        Features listed per alert (those with the largest positive contributions).
    max_instances_per_rule : int, default=20
        Instances listed per rule code in an alert (its reasons, instance ids and evidence);
        ``n_instances_total`` counts them all. A merchant's weekly fan-out must not make an
        alert of thousands of reasons.
    profile : Profile
        The trafficking-profile score (:mod:`flowscan.score.profile`).
    """

    detector: Detector = dataclasses.field(default_factory=Detector)
    fusion: Fusion = dataclasses.field(default_factory=Fusion)
    policy: AlertPolicy = dataclasses.field(default_factory=AlertPolicy)
    columns: tuple[str, ...] | None = None
    top_features: int = 5
    max_instances_per_rule: int = 20
    profile: Profile = dataclasses.field(default_factory=Profile)

    def __post_init__(self):
        for name, cls in (("detector", Detector), ("fusion", Fusion), ("policy", AlertPolicy), ("profile", Profile)):
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(f"The '{name}' parameter of ScoreOptions must be a {cls.__name__}. "
                                  f"Got {type(getattr(self, name)).__name__} instead.")
        if self.columns is not None:
            if isinstance(self.columns, (str, bytes, Mapping)) or not isinstance(self.columns, Iterable):
                raise ConfigTypeError(f"The 'columns' parameter of ScoreOptions must be a list of feature columns. "
                                      f"Got {self.columns!r} instead.")
            object.__setattr__(self, "columns", tuple(str(c) for c in self.columns))
        if isinstance(self.top_features, bool) or not isinstance(self.top_features, int) or self.top_features < 0:
            raise ConfigError(f"The 'top_features' parameter of ScoreOptions must be a non-negative int. "
                              f"Got {self.top_features!r} instead.")
        from .. import params

        params.positive_int("ScoreOptions", "max_instances_per_rule", self.max_instances_per_rule)

    def to_dict(self) -> dict:
        return {"detector": self.detector.to_dict(), "fusion": self.fusion.to_dict(),
                "policy": self.policy.to_dict(), "columns": None if self.columns is None else list(self.columns),
                "top_features": self.top_features, "max_instances_per_rule": self.max_instances_per_rule,
                "profile": self.profile.to_dict()}


@dataclasses.dataclass
class Model:
    """A transform and detector fitted on one set of accounts, reusable on another period."""

    transform: Transform
    detector: FittedDetector

    def metadata(self) -> dict:
        from .. import __version__

        return {"format": MODEL_FORMAT, "flowscan": __version__, "pyod": _version("pyod"),
                "scikit-learn": _version("scikit-learn"), "detector": self.detector.detector.to_dict(),
                "transform": self.transform.to_dict()}


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


@dataclasses.dataclass
class Scores:
    """The result of :func:`score_accounts`; see the module docstring for the columns."""

    accounts: pa.Table
    alerts: pa.Table
    evidence: pa.Table
    model: Model


def fit_model(features: pa.Table, /, *, options: ScoreOptions | None = None) -> Model:
    """Fit the transform and the detector on a feature table (:func:`feature_table`)."""
    options = options or ScoreOptions()
    transform = Transform.fit(features, options.columns)
    return Model(transform, FittedDetector(options.detector).fit(transform.apply(features)))


def save_model(model: Model, path, /) -> None:
    """Write a fitted model with its versions (pickle; load only files you wrote yourself)."""
    path = Path(path)
    buffer = io.BytesIO()
    pickle.dump({"metadata": model.metadata(), "model": model}, buffer, protocol=5)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(buffer.getvalue())
    os.replace(temporary, path)


def load_model(path, /) -> Model:
    """Read a model written by :func:`save_model`; refuses another format version."""
    try:
        with open(path, "rb") as handle:
            data = pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ModuleNotFoundError) as exc:
        raise DataError(f"{path}: not a flowscan model file ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("metadata", {}).get("format") != MODEL_FORMAT:
        raise DataError(f"{path}: not a flowscan model file of format {MODEL_FORMAT}")
    return data["model"]


def _codes(index: AccountIndex, ids: pa.Array) -> np.ndarray:
    codes = pc.index_in(ids, value_set=index.accounts)
    if codes.null_count:
        raise DataError("a rule reported an account that is not in the index")
    return codes.to_numpy(zero_copy_only=False).astype(np.int64)


@dataclasses.dataclass
class _Links:
    """Instances and their evidence as account codes: what the fusion and the alerts need."""

    codes: np.ndarray
    """Account code of each instance row."""
    owner_row: np.ndarray
    """Instance row of each evidence row."""
    parties: tuple[np.ndarray, np.ndarray]
    """Sender and receiver code of each evidence row (-1 when null)."""


def _links(index: AccountIndex, parts: list[RuleResult], instances: pa.Table) -> _Links:
    """The links of the rules' results, ``instances`` being their instances concatenated.

    A result whose evidence table is not built yet gives its ledger rows, whose codes the
    index holds; otherwise the table's ids are looked up."""
    codes = _codes(index, instances.column("account")) if instances.num_rows else np.zeros(0, dtype=np.int64)
    owners, senders, receivers, first = [], [], [], 0
    for result in parts:
        lazy = result.evidence_links(index.accounts, len(index.sender))
        if lazy is not None:
            owner, rows = lazy
            senders.append(index.sender[rows].astype(np.int64))
            receivers.append(index.receiver[rows].astype(np.int64))
        else:
            evidence = result.evidence
            owner = pc.index_in(evidence.column("instance_id"), value_set=result.instances.column("instance_id"))
            if owner.null_count:
                raise DataError("an evidence row names an instance that no rule reported")
            owner = owner.to_numpy(zero_copy_only=False).astype(np.int64)
            for side, out in (("sender", senders), ("receiver", receivers)):
                party = pc.index_in(evidence.column(side), value_set=index.accounts)
                out.append(party.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64))
        owners.append(owner + first)
        first += result.instances.num_rows
    empty = np.zeros(0, dtype=np.int64)
    join = (lambda arrays: np.concatenate(arrays) if arrays else empty)
    return _Links(codes, join(owners), (join(senders), join(receivers)))


def _hits(index: AccountIndex, instances: pa.Table, links: _Links):
    """Per typology, which accounts anchor an instance of it, and which are named as a
    counterparty (sender or receiver of an evidence row other than the instance's account).

    Counterparties count only for typologies whose counterparties take part in the pattern
    (:attr:`flowscan.typologies.Typology.counterparties`): the smurfs of a funnel account, the
    intermediaries of a scatter-gather. The employers paying pooled wages, the ad sites and
    hotels paid by a victim's account are not implicated by it."""
    n = index.n_accounts
    anchored: dict[str, np.ndarray] = {}
    members: dict[str, np.ndarray] = {}
    if instances.num_rows == 0:
        return anchored, members
    codes = links.codes
    encoded = instances.column("typology").combine_chunks().dictionary_encode()
    names = encoded.dictionary.to_pylist()
    typology_code = encoded.indices.to_numpy(zero_copy_only=False)
    for k, typology in enumerate(names):
        mask = np.zeros(n, dtype=bool)
        mask[codes[typology_code == k]] = True
        anchored[typology] = mask
    if len(links.owner_row) == 0:
        return anchored, members
    owner_code = codes[links.owner_row]
    owner_typology = typology_code[links.owner_row]
    for party in links.parties:
        keep = (party >= 0) & (party != owner_code)
        for k, typology in enumerate(names):
            if typology in TYPOLOGIES and not TYPOLOGIES[typology].counterparties:
                continue
            chosen = keep & (owner_typology == k)
            if chosen.any():
                mask = members.setdefault(typology, np.zeros(n, dtype=bool))
                mask[party[chosen]] = True
    return anchored, members


def _alert_rows(instances: pa.Table, links: _Links, alerted_codes: np.ndarray, n: int, cap: int):
    """The instance rows of every alerted account, as (account code, instance row, anchored)
    arrays grouped by account: the instances anchored at it, then those whose evidence names it
    as sender or receiver (each instance once), each part in instance-id order; at most ``cap``
    per rule code. Also each account's number of rows before the cap."""
    is_alerted = np.zeros(n, dtype=bool)
    is_alerted[alerted_codes] = True
    codes = links.codes
    anchored_rows = np.flatnonzero(is_alerted[codes]) if len(codes) else np.zeros(0, dtype=np.int64)
    party_parts, row_parts = [codes[anchored_rows]], [anchored_rows]
    if len(links.owner_row):
        owner_code = codes[links.owner_row]
        for party in links.parties:
            hit = (party >= 0) & (party != owner_code)
            hit[hit] = is_alerted[party[hit]]
            party_parts.append(party[hit])
            row_parts.append(links.owner_row[hit])
    party = np.concatenate(party_parts).astype(np.int64)
    row = np.concatenate(row_parts).astype(np.int64)
    n_rows = max(instances.num_rows, 1)
    pair = np.unique(party * n_rows + row)  # each (account, instance) once
    party, row = pair // n_rows, pair % n_rows
    own = codes[row] == party
    id_rank = np.empty(instances.num_rows, dtype=np.int64)
    id_rank[pc.sort_indices(instances.column("instance_id")).to_numpy()] = np.arange(instances.num_rows)
    order = np.lexsort((id_rank[row], ~own, party))
    party, row, own = party[order], row[order], own[order]
    totals = np.bincount(party, minlength=n)[alerted_codes]
    # the cap: the first ``cap`` rows of each (account, rule) in that order
    rule = instances.column("rule").combine_chunks().dictionary_encode().indices.to_numpy(zero_copy_only=False)
    rule = rule[row].astype(np.int64)
    position = np.arange(len(row))
    by_rule = np.lexsort((position, rule, party))
    key_party, key_rule = party[by_rule], rule[by_rule]
    first = np.ones(len(by_rule), dtype=bool)
    first[1:] = (key_party[1:] != key_party[:-1]) | (key_rule[1:] != key_rule[:-1])
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(by_rule)), 0))
    keep = np.zeros(len(row), dtype=bool)
    keep[by_rule[np.arange(len(by_rule)) - group_start < cap]] = True
    return party[keep], row[keep], own[keep], totals


def _typology_lists(n: int, masks: Mapping[str, np.ndarray]) -> list[list[str]]:
    lists: list[list[str]] = [[] for _ in range(n)]
    for typology in sorted(masks):
        for code in np.flatnonzero(masks[typology]):
            lists[code].append(typology)
    return lists


def _alert_id(account: str) -> str:
    return "A-" + hashlib.sha256(f"flowscan-alert\x1f{account}".encode()).hexdigest()[:16]


ALERT_REASON_TYPE = pa.struct([pa.field("rule", pa.string()), pa.field("instance_id", pa.string()),
                               *REASON_TYPE])
FEATURE_TYPE = pa.struct([pa.field("name", pa.string()), pa.field("value", pa.float64()),
                          pa.field("contribution", pa.float64())])
ALERT_SCHEMA = pa.schema([
    pa.field("alert_id", pa.string(), nullable=False),
    pa.field("account", pa.string(), nullable=False),
    pa.field("rank", pa.int64(), nullable=False),
    pa.field("score", pa.float64(), nullable=False),
    pa.field("rule_score", pa.float64(), nullable=False),
    pa.field("anomaly_pct", pa.float64(), nullable=False),
    pa.field("scenarios", pa.list_(pa.string()), nullable=False),
    pa.field("typologies", pa.list_(pa.string()), nullable=False),
    pa.field("trafficking", pa.bool_(), nullable=False),
    pa.field("trafficking_typologies", pa.list_(pa.string()), nullable=False),
    pa.field("key_term", pa.string()),
    pa.field("fincen_typologies", pa.list_(pa.string()), nullable=False),
    pa.field("red_flags", pa.list_(pa.int64()), nullable=False),
    pa.field("trafficking_profile", pa.float64(), nullable=False),
    pa.field("profile_indicators", pa.list_(pa.string()), nullable=False),
    pa.field("window_start", TIMESTAMP_TYPE),
    pa.field("window_end", TIMESTAMP_TYPE),
    pa.field("reasons", pa.list_(ALERT_REASON_TYPE), nullable=False),
    pa.field("instance_ids", pa.list_(pa.string()), nullable=False),
    pa.field("n_instances_total", pa.int64(), nullable=False),
    pa.field("top_features", pa.list_(FEATURE_TYPE), nullable=False),
])
ALERT_EVIDENCE_SCHEMA = pa.schema([pa.field("alert_id", pa.string(), nullable=False), *EVIDENCE_SCHEMA])


def _concat(tables: list[pa.Table], schema: pa.Schema) -> pa.Table:
    tables = [t.select(schema.names).cast(schema) for t in tables if t is not None and t.num_rows]
    return pa.concat_tables(tables) if tables else schema.empty_table()


def score_accounts(ledger: pa.Table, index: AccountIndex, results: Mapping[str, RuleResult], /, *,
                   options: ScoreOptions | None = None, model: Model | None = None,
                   features: pa.Table | None = None, anomaly: np.ndarray | None = None) -> Scores:
    """Score, rank and alert every account of a ledger.

    Parameters
    ----------
    ledger : pyarrow.Table
        Canonical ledger.
    index : AccountIndex
        Its index.
    results : mapping of rule name to RuleResult
        What the rules found (:data:`flowscan.rules.RULES`); may be empty.
    options : ScoreOptions, optional
    model : Model, optional
        A model fitted on a reference period; the detector is then not refitted, and
        ``anomaly_pct`` ranks each account among the reference accounts.
    features : pyarrow.Table, optional
        A precomputed :func:`feature_table`.
    anomaly : ndarray, optional
        Every account's score under ``model``, computed elsewhere (the Spark engine's executors);
        only with ``model``.

    Returns
    -------
    Scores
    """
    options = options or ScoreOptions()
    table = features if features is not None else feature_table(ledger, index, results=results)
    n = index.n_accounts
    if n == 0:
        raise DataError("the ledger has no accounts to score")
    if anomaly is not None and (model is None or len(anomaly) != n):
        raise ValueError("anomaly scores come from a model (pass it too), one per account")
    sample = options.detector.sample(n) if model is None else None
    fitted_here = model is None and sample is None
    if model is None:
        model = fit_model(table if sample is None else table.take(sample), options=options)
    X = model.transform.apply(table)
    if fitted_here:
        anomaly = model.detector.decision_scores_
    elif anomaly is None:
        anomaly = model.detector.score(X)
    anomaly_pct = model.detector.percentile(anomaly)

    parts = [r for _, r in sorted(results.items())]
    instances = _concat([r.instances for r in parts], INSTANCE_SCHEMA)
    links = _links(index, parts, instances)
    anchored, members = _hits(index, instances, links)
    rule_score = rule_scores(n, anchored, members, options.fusion)
    profile, indicators = profiles(n, anchored, options.profile)
    risk = 1.0 - (1.0 - risk_scores(rule_score, anomaly_pct, options.fusion)) * (1.0 - options.profile.weight * profile)
    order = rank_order(risk, anomaly)
    ranks = np.empty(n, dtype=np.int64)
    ranks[order] = np.arange(1, n + 1)
    alerted = options.policy.select(ranks, risk)

    anchored_lists = _typology_lists(n, anchored)
    member_lists = _typology_lists(n, members)
    trafficking = set(options.fusion.trafficking)
    is_trafficking = np.array([bool(trafficking & (set(a) | set(m))) for a, m in zip(anchored_lists, member_lists)])
    n_instances = np.bincount(links.codes, minlength=n).astype(np.int64)

    take = pa.array(order)
    head = pa.table({
        "account": index.accounts,
        "rank": ranks,
        "score": risk,
        "rule_score": rule_score,
        "anomaly_score": np.asarray(anomaly, dtype=np.float64),
        "anomaly_pct": anomaly_pct,
        "alerted": alerted,
        "typologies": pa.array(anchored_lists, pa.list_(pa.string())),
        "member_of": pa.array(member_lists, pa.list_(pa.string())),
        "n_instances": n_instances,
        "trafficking": is_trafficking,
        "trafficking_profile": profile,
        "profile_indicators": pa.array(indicators, pa.list_(pa.string())),
    })
    for field in table.schema:
        if field.name != "account":
            head = head.append_column(field, table.column(field.name))
    accounts = head.take(take)

    alerts, alert_evidence = _alerts(index, table, X, model, options, order, ranks, risk, rule_score, anomaly_pct,
                                     alerted, anchored_lists, member_lists, instances, parts, links, fitted_here,
                                     profile, indicators)
    return Scores(accounts, alerts, alert_evidence, model)


def _alerts(index, table, X, model, options, order, ranks, risk, rule_score, anomaly_pct, alerted,
            anchored_lists, member_lists, instances, parts, links, fitted_here, profile, indicators):
    alerted_codes = order[alerted[order]]
    n_alerts = len(alerted_codes)
    ids = index.accounts.take(pa.array(alerted_codes, pa.int64())).to_pylist()
    alert_ids = [_alert_id(a) for a in ids]
    if n_alerts == 0:
        return ALERT_SCHEMA.empty_table(), ALERT_EVIDENCE_SCHEMA.empty_table()

    # Instances per alerted account: anchored ones, then those naming it in their evidence, as
    # (alert, instance) pairs in alert order; ``bounds[k]:bounds[k + 1]`` are alert k's pairs.
    party, rows, own_flags, totals = _alert_rows(instances, links, alerted_codes, index.n_accounts,
                                                 options.max_instances_per_rule)
    starts = np.searchsorted(party, alerted_codes, side="left")
    sizes = np.searchsorted(party, alerted_codes, side="right") - starts
    bounds = offsets_from_counts(sizes)
    pair_alert = np.repeat(np.arange(n_alerts), sizes)
    pair = _spans(starts, sizes)
    party, rows, own_flags = party[pair], rows[pair], own_flags[pair]
    picked = instances.select(["rule", "instance_id", "window_start", "window_end", "reasons"]).take(
        pa.array(rows, pa.int64())).combine_chunks()

    # reasons: each instance's conditions with its rule and id in front, listed per alert
    listed = _single(picked.column("reasons"))
    per_pair = listed.value_lengths().to_numpy(zero_copy_only=False).astype(np.int64)
    owner = pa.array(np.repeat(np.arange(len(rows)), per_pair))
    flat = listed.flatten()
    fields = [_single(picked.column("rule")).take(owner), _single(picked.column("instance_id")).take(owner)]
    fields += flat.flatten()  # the conditions' fields, in REASON_TYPE's order (slicing accounted for)
    reasons = pa.StructArray.from_arrays(fields, fields=list(ALERT_REASON_TYPE))
    reason_bounds = offsets_from_counts(per_pair)[bounds]
    reasons = pa.ListArray.from_arrays(pa.array(reason_bounds.astype(np.int32)), reasons)
    instance_ids = pa.ListArray.from_arrays(pa.array(bounds.astype(np.int32)), _single(picked.column("instance_id")))

    # the alert's window: the first start and the last end of its instances (null without any)
    windows = {}
    some = sizes > 0
    for name, reduce in (("window_start", np.minimum), ("window_end", np.maximum)):
        micros = picked.column(name).cast(pa.int64()).to_numpy(zero_copy_only=False)
        value = np.zeros(n_alerts, dtype=np.int64)
        if micros.size:
            value[some] = reduce.reduceat(micros, bounds[:-1][some])
        windows[name] = pa.array(value, pa.int64(), mask=~some).cast(TIMESTAMP_TYPE)

    # scenarios: the rule codes of the instances anchored at the account
    rule_names = picked.column("rule").to_pylist()
    scenarios: list[set] = [set() for _ in range(n_alerts)]
    for i in np.flatnonzero(own_flags):
        scenarios[pair_alert[i]].add(rule_names[i])

    contributions = model.detector.contributions(X, alerted_codes, fitted=fitted_here)
    columns = list(model.transform.columns)
    raw = {c: table.column(c).to_numpy(zero_copy_only=False).astype(np.float64) for c in columns}
    trafficking = set(options.fusion.trafficking)
    per_alert = {name: [] for name in ("typologies", "trafficking", "trafficking_typologies", "key_term",
                                       "fincen_typologies", "red_flags", "profile_indicators", "top_features")}
    for k, code in enumerate(alerted_codes):
        typologies = sorted(set(anchored_lists[code]) | set(member_lists[code]))
        order_f = np.argsort(-contributions[k], kind="stable")[: options.top_features]
        tags = [t for t in typologies if t in trafficking]
        per_alert["typologies"].append(typologies)
        per_alert["trafficking"].append(bool(tags))
        per_alert["trafficking_typologies"].append(tags)
        per_alert["key_term"].append(FINCEN_KEY_TERM if tags else None)
        per_alert["fincen_typologies"].append(fincen_typologies(typologies))
        per_alert["red_flags"].append(red_flags(typologies))
        per_alert["profile_indicators"].append(indicators[code])
        per_alert["top_features"].append(
            [{"name": columns[j], "value": float(raw[columns[j]][code]), "contribution": float(contributions[k, j])}
             for j in order_f if contributions[k, j] > 0])
    values = {
        "alert_id": alert_ids, "account": ids, "rank": ranks[alerted_codes], "score": risk[alerted_codes],
        "rule_score": rule_score[alerted_codes], "anomaly_pct": anomaly_pct[alerted_codes],
        "scenarios": [sorted(s) for s in scenarios], **per_alert, "trafficking_profile": profile[alerted_codes],
        **windows, "reasons": reasons, "instance_ids": instance_ids, "n_instances_total": totals,
    }
    alerts = pa.table([values[f.name] if isinstance(values[f.name], pa.Array) else pa.array(values[f.name], f.type)
                       for f in ALERT_SCHEMA], schema=ALERT_SCHEMA)
    return alerts, _alert_evidence(parts, links, pa.array(alert_ids, pa.string()).take(pa.array(pair_alert)),
                                   party, rows, own_flags)


def _spans(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """``starts[i], ..., starts[i] + sizes[i] - 1`` for every ``i``, concatenated."""
    return np.arange(sizes.sum()) - np.repeat(offsets_from_counts(sizes)[:-1] - starts, sizes)


def _single(column) -> pa.Array:
    """One array from a column of a combined table (no chunk when it has no rows)."""
    return column.chunk(0) if column.num_chunks == 1 else pa.concat_arrays(column.chunks) if column.num_chunks \
        else pa.array([], column.type)


def _alert_evidence(parts: list[RuleResult], links: _Links, alert_id: pa.Array, party: np.ndarray,
                    rows: np.ndarray, own: np.ndarray) -> pa.Table:
    """Evidence of each alert: every row of the instances anchored at its account, and the rows
    of other accounts' instances in which the account itself is sender or receiver.

    One (alert, instance) pair per element of the arrays (the alert's id, its account code, the
    instance row, whether the instance is anchored at the account), in output order; within a
    pair, rows in the order of the rules' evidence tables concatenated. Rows are chosen on
    account codes; only the chosen ones are built (:meth:`RuleResult.evidence_rows`)."""
    if len(rows) == 0 or len(links.owner_row) == 0:
        return ALERT_EVIDENCE_SCHEMA.empty_table()
    by_owner = np.argsort(links.owner_row, kind="stable")  # evidence positions grouped by instance row
    counts = np.bincount(links.owner_row, minlength=len(links.codes))
    each = counts[rows]
    pair = np.repeat(np.arange(len(rows)), each)
    position = by_owner[_spans(offsets_from_counts(counts)[rows], each)]
    sender, receiver = links.parties
    keep = own[pair] | (sender[position] == party[pair]) | (receiver[position] == party[pair])
    pair, position = pair[keep], position[keep]
    if len(position) == 0:
        return ALERT_EVIDENCE_SCHEMA.empty_table()
    unique, inverse = np.unique(position, return_inverse=True)
    pieces, start = [], 0
    for result in parts:
        count = result.n_evidence
        lo, hi = np.searchsorted(unique, [start, start + count])
        if hi > lo:
            piece = result.evidence_rows(unique[lo:hi] - start)
            pieces.append(piece.select(EVIDENCE_SCHEMA.names).cast(EVIDENCE_SCHEMA))
        start += count
    table = pa.concat_tables(pieces).take(pa.array(inverse))
    table = table.add_column(0, ALERT_EVIDENCE_SCHEMA.field("alert_id"), alert_id.take(pa.array(pair)))
    return table.cast(ALERT_EVIDENCE_SCHEMA)
