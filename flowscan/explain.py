"""Evidence pack: the skeleton of a suspicious-activity narrative for one account of a run.

:func:`explain` reads a run directory written by ``flowscan scan`` (nothing else: not the
ledger, not the configuration file) and returns an :class:`Explanation` in the
who / what / when / where / why / how order of FinCEN's SAR narrative guidance
(../shared/TYPOLOGIES.md, "Regulator expectations of monitoring output"):

who
    The account, its rank and score among the run's accounts, its alert id, the counterparties
    named in its evidence (by number of transactions), its relationship group when the run had
    a relationships table, and the other alerts whose evidence names it.
what
    Typologies and scenarios (rule codes), the human-trafficking typologies among them, the
    features that pushed the anomaly score up, and the totals of the evidence transactions by
    currency in major units: received, sent, and moved between other accounts.
when
    The alert's window, the first and last evidence transaction, the run's time range.
where
    Locations and channels of the evidence transactions.
why
    Every pattern instance behind the alert: the rule, whether the account is the one the
    pattern is anchored at or a counterparty in another account's pattern, each condition
    (parameter, observed value, operator, threshold, unit) and the published source of the
    red flag (the rule modules' ``SOURCE`` constants, the same text the rules put in their
    instances).
how
    The flow: inflows and outflows (count, distinct counterparties, channels), the share of
    the inflow sent out again, and the median time from an inflow to the next outflow.

Then the evidence table: the distinct evidence transactions in time order, capped
(``max_evidence``), with the number left out.

When a human-trafficking typology fired, the pack suggests FinCEN's key term
``HUMAN TRAFFICKING FIN-2020-A008`` (alerts.parquet ``key_term``). flowscan suggests; it never
files: every statement is a lead an analyst must verify against the bank's records.

An account that was scored but not alerted gets what the run knows of it (rank, score,
typologies, its main activity features, alerts whose evidence names it) and the statement that
it was not alerted. Evidence is kept for alerts only, so such an account has no evidence table.

Under a pseudonymised run (``--pseudonymize``) give the pseudonym; the pack then names
pseudonyms only.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import statistics
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .currency import MINOR_DIGITS
from .errors import ConfigError, DataError

EVIDENCE_ROWS = 50
"""Evidence transactions listed by default; the rest are counted."""

COUNTERPARTIES = 10
"""Counterparties, locations and group members listed; the rest are counted."""

DISCLAIMER = ("flowscan suggests; it never files. Every statement below is a lead drawn from the run's outputs: "
              "an analyst must verify it against the bank's records before any decision to file.")

ACTIVITY_FEATURES = ("n_in", "n_out", "sum_in", "sum_out", "distinct_senders", "distinct_receivers", "cash_in_share",
                     "cash_out_share", "round_share", "just_under_count", "night_share", "rapid_share_24h",
                     "in_out_ratio", "balance_left_share")
"""Account features shown for an account that was not alerted (when the run has them)."""


@functools.cache
def _sources() -> dict[str, str]:
    from .rules.cycles import SOURCE as CYCLES
    from .rules.fan import FAN_IN_SOURCE, FAN_OUT_SOURCE, FUNNEL_SOURCE
    from .rules.flows import SOURCE as FLOWS
    from .rules.rapid import SOURCE as RAPID
    from .rules.structuring import SOURCE as STRUCTURING

    from .rules.crossborder import SOURCE as CROSSBORDER
    from .rules.late_night import SOURCE as LATE_NIGHT
    from .rules.merchants import SOURCE as MERCHANTS
    from .rules.payroll import SOURCE as PAYROLL
    from .rules.spending import SOURCE as SPENDING

    return {"structuring": STRUCTURING, "fan_in": FAN_IN_SOURCE, "fan_out": FAN_OUT_SOURCE, "funnel": FUNNEL_SOURCE,
            "rapid": RAPID, "scatter_gather": FLOWS, "gather_scatter": FLOWS, "cycle": CYCLES,
            **MERCHANTS, **PAYROLL, "late_night": LATE_NIGHT, "living_costs": SPENDING,
            "domestic_to_foreign": CROSSBORDER,
            "ad_identifier": "Ad-identifier watch-list (its name and date are in the run's instances); "
                             "FinCEN FIN-2014-A008 (phone numbers in escort ads)"}


def rule_source(rule: str, /) -> str | None:
    """The published source of a rule code (``"fan_in.7d"`` -> FinCEN advisories), by its first part."""
    return _sources().get(rule.split(".", 1)[0])


@dataclasses.dataclass(frozen=True)
class Explanation:
    """An evidence pack; every field is JSON-able (times are ISO 8601 text, amounts exact text).

    ``to_dict()`` is the JSON form, ``to_markdown()`` the narrative skeleton an analyst edits.
    """

    account: str
    alerted: bool
    alert_id: str | None
    key_term: str | None
    run: dict
    who: dict
    what: dict
    when: dict
    where: dict
    why: list
    how: dict
    evidence: list
    evidence_total: int
    notes: list

    def to_dict(self) -> dict:
        return _finite({"account": self.account, "alerted": self.alerted, "alert_id": self.alert_id,
                "key_term": self.key_term, "disclaimer": DISCLAIMER, "run": self.run, "who": self.who,
                "what": self.what, "when": self.when, "where": self.where, "why": self.why, "how": self.how,
                "evidence": self.evidence, "evidence_total": self.evidence_total,
                "evidence_listed": len(self.evidence), "notes": self.notes})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    def to_markdown(self) -> str:
        return _markdown(self)


def _finite(value):
    """NaN and infinities to None, recursively (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


# -- reading ----------------------------------------------------------------------------------


class RunTables:
    """The tables of one run directory, each file read once: explaining many accounts of one
    run (:meth:`flowscan.ScanResult.explain`) reads every file once, not once per account.

    Rows are selected in memory with the same conditions the command applies, in file order.
    """

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        self._tables: dict[str, pa.Table | None] = {}

    def table(self, name: str, required: bool = True) -> pa.Table | None:
        if self._tables.get(name) is None:  # not read yet, or missing when it was optional
            self._tables[name] = _read(self.run_dir, name, required=required)
        return self._tables[name]

    def where(self, name: str, required: bool = True, **equal) -> pa.Table | None:
        """Rows whose columns equal the given values; several keyword arguments are OR-ed."""
        table = self.table(name, required=required)
        if table is None:
            return None
        mask = None
        for column, value in equal.items():
            hit = pc.fill_null(pc.equal(table.column(column), value), False)
            mask = hit if mask is None else pc.or_(mask, hit)
        return table if mask is None else table.filter(mask)


def _read(run_dir: Path, name: str, required: bool = True) -> pa.Table | None:
    path = run_dir / name
    if not path.is_file():
        if required:
            raise DataError(f"{run_dir}: not a flowscan run directory ({name} is missing)")
        return None
    try:
        return pq.read_table(path)
    except (OSError, pa.ArrowException) as error:
        raise DataError(f"{path}: cannot be read ({type(error).__name__})") from None


def _manifest(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}


# -- formatting -------------------------------------------------------------------------------


def major(amount: int, currency: str | None) -> str:
    """Exact decimal text of minor units, with thousands separators (``1,234.56``)."""
    digits = MINOR_DIGITS.get(currency or "", 0)
    value = Decimal(int(amount)).scaleb(-digits) if digits else Decimal(int(amount))
    return f"{value:,.{digits}f}"


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 3 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _value(value, unit: str, currency: str | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "minor":
        return f"{currency} {major(round(value), currency)}" if currency else f"{value:,.0f} minor units"
    if unit == "seconds":
        return _duration(value)
    if unit == "share":
        return f"{value:.1%}"
    if unit == "count" and float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:.4g}"


def _iso(value) -> str | None:
    return None if value is None else value.isoformat()


def _cell(text) -> str:
    return "" if text is None else str(text).replace("|", "\\|").replace("\n", " ")


# -- the pack ---------------------------------------------------------------------------------


def explain(run_dir, account: str, /, *, max_evidence: int = EVIDENCE_ROWS,
            tables: RunTables | None = None) -> Explanation:
    """The evidence pack of one account of a run directory.

    Parameters
    ----------
    run_dir : str or Path
        A directory written by ``flowscan scan`` (:func:`flowscan.scan.write_run`).
    account : str
        The account id as the run's accounts.parquet holds it (the pseudonym under a
        pseudonymised run).
    max_evidence : int, default=50
        Evidence transactions listed; the rest are counted.
    tables : RunTables, optional
        The run directory's tables already read (to explain many accounts of one run); read
        here when omitted.

    Returns
    -------
    Explanation

    Raises
    ------
    DataError
        ``run_dir`` is not a run directory, or the account is not in it (the message does not
        repeat the id).
    """
    if isinstance(max_evidence, bool) or not isinstance(max_evidence, int) or max_evidence < 0:
        raise ConfigError(f"The 'max_evidence' parameter of explain must be a non-negative int. Got {max_evidence!r} "
                          "instead.")
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: not a directory; give a run directory written by flowscan scan")
    account = str(account)
    tables = RunTables(run_dir) if tables is None else tables
    if tables.run_dir != run_dir:
        raise ConfigError("the 'tables' of explain were read from another run directory")
    accounts = tables.table("accounts.parquet")
    n_accounts = accounts.num_rows
    rows = tables.where("accounts.parquet", account=account).to_pylist()
    if not rows:
        raise DataError("the account is not in this run's accounts.parquet; check the id (under a pseudonymised "
                        "run, give the pseudonym)")
    row = rows[0]
    manifest = _manifest(run_dir)
    alert_rows = tables.where("alerts.parquet", account=account).to_pylist()
    alert = alert_rows[0] if alert_rows else None
    evidence = []
    if alert is not None:
        evidence = tables.where("evidence.parquet", alert_id=alert["alert_id"]).to_pylist()
    named = tables.where("evidence.parquet", sender=account, receiver=account)
    other_alerts = sorted(set(named.column("alert_id").to_pylist()) - {alert["alert_id"] if alert else None})

    run = {"run_dir": str(run_dir), "accounts": n_accounts, "alerts": manifest.get("alerts"),
           "flowscan": manifest.get("flowscan"), "config_sha256": manifest.get("config_sha256"),
           "time_range": manifest.get("time_range"),
           "pseudonymized": manifest.get("pseudonymized") is not None,
           "alert_policy": manifest.get("config", {}).get("score", {}).get("policy")}

    txns = _distinct_transactions(evidence, account)
    notes = []
    who = _who(tables, row, alert, txns, account, other_alerts, n_accounts)
    what = _what(row, alert, txns, accounts.schema)
    when = _when(alert, txns, manifest)
    where = _where(txns)
    why = _why(alert, evidence, account)
    how = _how(txns)
    if alert is None:
        notes.append(f"The account was not alerted: its score {row['score']:.3f} (rank {row['rank']:,} of "
                     f"{n_accounts:,}) did not meet the alert policy {json.dumps(run['alert_policy'])}.")
        if row.get("n_instances"):
            notes.append(f"{row['n_instances']} pattern instance(s) are anchored at it; the run keeps evidence for "
                         "alerts only, so they are not listed here.")
    listed = txns[:max_evidence]
    return Explanation(account=account, alerted=alert is not None, alert_id=alert["alert_id"] if alert else None,
                       key_term=alert.get("key_term") if alert else None, run=run, who=who, what=what, when=when,
                       where=where, why=why, how=how, evidence=listed, evidence_total=len(txns), notes=notes)


def _distinct_transactions(evidence: list[dict], account: str) -> list[dict]:
    """Evidence rows once per transaction, in time order, with the rules that cite each."""
    by_txn: dict[str, dict] = {}
    for row in evidence:
        rule = row["instance_id"].split("/", 1)[0]
        seen = by_txn.get(row["txn_id"])
        if seen is not None:
            if rule not in seen["rules"]:
                seen["rules"].append(rule)
            continue
        direction = "in" if row["receiver"] == account else "out" if row["sender"] == account else "between others"
        by_txn[row["txn_id"]] = {
            "timestamp": _iso(row["timestamp"]), "txn_id": row["txn_id"], "direction": direction,
            "sender": row["sender"], "receiver": row["receiver"], "amount_minor": row["amount"],
            "amount": major(row["amount"], row["currency"]), "currency": row["currency"],
            "channel": row["channel"], "location": row["location"], "rules": [rule],
        }
    txns = sorted(by_txn.values(), key=lambda t: (t["timestamp"], t["txn_id"]))
    for t in txns:
        t["rules"].sort()
    return txns


def _who(tables, row, alert, txns, account, other_alerts, n_accounts) -> dict:
    parties: dict[str, dict] = {}
    for t in txns:
        if t["direction"] == "between others":
            continue
        other = t["sender"] if t["direction"] == "in" else t["receiver"]
        if other is None:
            other = f"(no counterparty: {t['channel']})"
        entry = parties.setdefault(other, {"counterparty": other, "transactions": 0, "received_from": {},
                                           "sent_to": {}})
        entry["transactions"] += 1
        side = entry["received_from"] if t["direction"] == "in" else entry["sent_to"]
        side[t["currency"]] = side.get(t["currency"], 0) + t["amount_minor"]
    ranked = sorted(parties.values(), key=lambda p: (-p["transactions"], p["counterparty"]))
    for p in ranked:
        p["received_from"] = {c: major(v, c) for c, v in sorted(p["received_from"].items())}
        p["sent_to"] = {c: major(v, c) for c, v in sorted(p["sent_to"].items())}
    who = {"account": account, "rank": row["rank"], "of_accounts": n_accounts, "score": row["score"],
           "rule_score": row.get("rule_score"), "anomaly_pct": row.get("anomaly_pct"),
           "alert_id": alert["alert_id"] if alert else None,
           "counterparties": ranked[:COUNTERPARTIES], "counterparties_total": len(ranked),
           "in_other_alerts": other_alerts, "group": None}
    if row.get("group_id") is not None:
        group = {"group_id": row["group_id"], "group_size": row.get("group_size"), "linked_by": row.get("linked_by")}
        groups = tables.where("groups.parquet", required=False, group_id=row["group_id"])
        if groups is not None and groups.num_rows:
            g = groups.to_pylist()[0]
            members = [m for m in g["members"] if m != account]
            group.update({"group_score": g["group_score"], "top_account": g["top_account"],
                          "other_members": members[:COUNTERPARTIES], "other_members_total": len(members)})
        who["group"] = group
    return who


def _what(row, alert, txns, schema: pa.Schema) -> dict:
    totals = {"received": defaultdict(int), "sent": defaultdict(int), "between_others": defaultdict(int)}
    for t in txns:
        key = {"in": "received", "out": "sent"}.get(t["direction"], "between_others")
        totals[key][t["currency"]] += t["amount_minor"]
    what = {
        "typologies": alert["typologies"] if alert else list(row.get("typologies") or []),
        "member_of": list(row.get("member_of") or []),
        "trafficking_typologies": alert["trafficking_typologies"] if alert else [],
        "scenarios": alert["scenarios"] if alert else [],
        "key_term": alert.get("key_term") if alert else None,
        "top_features": alert["top_features"] if alert else [],
        "totals": {k: {c: major(v, c) for c, v in sorted(d.items())} for k, d in totals.items()},
        "transactions": len(txns),
    }
    if alert is None:
        what["activity"] = {name: {"value": _finite(row[name]), "unit": _unit(schema, name)}
                            for name in ACTIVITY_FEATURES if name in row}
    return what


def _unit(schema: pa.Schema, name: str) -> str | None:
    metadata = schema.field(name).metadata or {}
    unit = metadata.get(b"unit")
    return unit.decode() if unit else None


def _when(alert, txns, manifest) -> dict:
    return {"window_start": _iso(alert["window_start"]) if alert else None,
            "window_end": _iso(alert["window_end"]) if alert else None,
            "first_evidence": txns[0]["timestamp"] if txns else None,
            "last_evidence": txns[-1]["timestamp"] if txns else None,
            "evidence_days": len({t["timestamp"][:10] for t in txns}),
            "run_time_range": manifest.get("time_range")}


def _counts(values) -> list[dict]:
    return [{"value": v, "transactions": n} for v, n in sorted(Counter(values).items(),
                                                               key=lambda kv: (-kv[1], str(kv[0])))]


def _where(txns) -> dict:
    locations = _counts([t["location"] for t in txns if t["location"] is not None])
    return {"locations": locations[:COUNTERPARTIES], "locations_total": len(locations),
            "without_location": sum(t["location"] is None for t in txns),
            "channels": _counts([t["channel"] for t in txns])}


def _why(alert, evidence, account) -> list:
    if alert is None:
        return []
    currencies: dict[str, set] = defaultdict(set)
    for row in evidence:
        currencies[row["instance_id"]].add(row["currency"])
    instances: dict[str, dict] = {}
    for instance_id in alert["instance_ids"]:
        rule = instance_id.split("/", 1)[0]
        instances[instance_id] = {
            "instance_id": instance_id, "rule": rule,
            "role": "anchored" if instance_id.startswith(f"{rule}/{account}/") else "counterparty",
            "source": rule_source(rule), "conditions": []}
    for reason in alert["reasons"]:
        entry = instances.get(reason["instance_id"])
        if entry is None:
            continue
        found = currencies.get(reason["instance_id"], set())
        currency = next(iter(found)) if len(found) == 1 else None
        tested = reason["op"] != "info"
        text = f"{reason['name']} = {_value(reason['observed'], reason['unit'], currency)}"
        if tested:
            text += f" {reason['op']} {_value(reason['threshold'], reason['unit'], currency)}"
        entry["conditions"].append({
            "name": reason["name"], "op": reason["op"], "observed": reason["observed"],
            "threshold": reason["threshold"], "unit": reason["unit"], "tested": tested, "text": text})
    return list(instances.values())


def _how(txns) -> dict:
    inflow = [t for t in txns if t["direction"] == "in"]
    outflow = [t for t in txns if t["direction"] == "out"]
    # time from each inflow to the next outflow in its currency (evidence only)
    lags = []
    for t in inflow:
        later = [o["timestamp"] for o in outflow if o["currency"] == t["currency"] and o["timestamp"] >= t["timestamp"]]
        if later:
            from datetime import datetime

            lags.append((datetime.fromisoformat(min(later)) - datetime.fromisoformat(t["timestamp"])).total_seconds())
    how = {
        "inflows": len(inflow), "distinct_senders": len({t["sender"] for t in inflow if t["sender"] is not None}),
        "inflow_channels": _counts([t["channel"] for t in inflow]),
        "outflows": len(outflow),
        "distinct_receivers": len({t["receiver"] for t in outflow if t["receiver"] is not None}),
        "outflow_channels": _counts([t["channel"] for t in outflow]),
        "between_others": sum(t["direction"] == "between others" for t in txns),
        "median_seconds_inflow_to_next_outflow": statistics.median(lags) if lags else None,
    }
    return how


# -- Markdown ---------------------------------------------------------------------------------


def _channels(counts) -> str:
    return ", ".join(f"{c['value']} {c['transactions']}" for c in counts) or "none"


def _markdown(e: Explanation) -> str:
    lines = [f"# Evidence pack: account {e.account}", "", f"> {DISCLAIMER}", ""]
    who, what, when, where, how = e.who, e.what, e.when, e.where, e.how
    if e.alerted:
        lines.append(f"Alert {e.alert_id}: rank {who['rank']:,} of {who['of_accounts']:,} accounts, "
                     f"score {who['score']:.3f}.")
    else:
        lines.append(f"**Not alerted.** Rank {who['rank']:,} of {who['of_accounts']:,} accounts, "
                     f"score {who['score']:.3f}.")
    if e.key_term:
        lines += ["", f"**Suggested key term: {e.key_term}** (human-trafficking typologies fired: "
                  f"{', '.join(what['trafficking_typologies'])}). FinCEN advisory FIN-2020-A008 asks that a filing "
                  "on this activity carry this term; whether to file is the analyst's decision."]
    for note in e.notes:
        lines += ["", note]

    lines += ["", "## Who", "", f"- Account {e.account}; rank {who['rank']:,} of {who['of_accounts']:,}; score "
              f"{who['score']:.3f} (rules {who['rule_score']:.3f}, anomaly percentile {who['anomaly_pct']:.3f})."]
    group = who["group"]
    if group is not None:
        text = f"- Relationship group {group['group_id']}: {group['group_size']} account(s)"
        if group.get("linked_by"):
            text += f", linked by {', '.join(group['linked_by'])}"
        if group.get("other_members"):
            more = group["other_members_total"] - len(group["other_members"])
            text += f"; other members {', '.join(group['other_members'])}" + (f" and {more} more" if more else "")
        lines.append(text + ".")
    if who["counterparties"]:
        lines.append(f"- Counterparties in the evidence: {who['counterparties_total']:,}; the most frequent:")
        for p in who["counterparties"]:
            parts = [f"{p['transactions']} transaction(s)"]
            if p["received_from"]:
                parts.append("received " + _money_text(p["received_from"]))
            if p["sent_to"]:
                parts.append("sent " + _money_text(p["sent_to"]))
            lines.append(f"  - {p['counterparty']}: {'; '.join(parts)}")
    if who["in_other_alerts"]:
        lines.append(f"- Named in the evidence of other alerts: {', '.join(who['in_other_alerts'])}.")

    lines += ["", "## What", ""]
    if e.alerted:
        lines.append(f"- Typologies: {', '.join(what['typologies']) or 'none (alerted on the anomaly score alone)'}.")
    else:
        lines.append(f"- Typologies anchored at the account: {', '.join(what['typologies']) or 'none'}.")
    if what["member_of"]:
        lines.append(f"- Counterparty in other accounts' patterns: {', '.join(what['member_of'])}.")
    if what["trafficking_typologies"]:
        lines.append(f"- Human-trafficking typologies: {', '.join(what['trafficking_typologies'])}.")
    if what["scenarios"]:
        lines.append(f"- Scenarios (rule codes): {', '.join(what['scenarios'])}.")
    if what["transactions"]:
        totals = what["totals"]
        lines.append(f"- Evidence: {what['transactions']:,} transaction(s); received "
                     f"{_money_text(totals['received'])}; sent {_money_text(totals['sent'])}; between other accounts "
                     f"{_money_text(totals['between_others'])}.")
    if what["top_features"]:
        feats = ", ".join(f"{f['name']} = {f['value']:.4g}" for f in what["top_features"])
        lines.append(f"- Unusual against the other accounts (anomaly detector): {feats}.")
    if what.get("activity"):
        acts = ", ".join(_feature(k, v["value"], v["unit"]) for k, v in what["activity"].items()
                         if v["value"] is not None)
        lines.append(f"- Activity over the run: {acts}.")

    lines += ["", "## When", ""]
    if when["window_start"]:
        lines.append(f"- Alert window: {when['window_start']} to {when['window_end']}.")
    if when["first_evidence"]:
        lines.append(f"- Evidence from {when['first_evidence']} to {when['last_evidence']}, on "
                     f"{when['evidence_days']} day(s).")
    if when["run_time_range"]:
        lines.append(f"- The run covers {when['run_time_range'][0]} to {when['run_time_range'][1]}.")

    if where["channels"]:
        lines += ["", "## Where", ""]
        if where["locations"]:
            more = where["locations_total"] - len(where["locations"])
            lines.append("- Locations: " + ", ".join(f"{c['value']} ({c['transactions']})" for c in where["locations"])
                         + (f" and {more} more" if more else "") + ".")
        if where["without_location"]:
            lines.append(f"- Transactions with no location: {where['without_location']}.")
        lines.append(f"- Channels: {_channels(where['channels'])}.")

    if e.why:
        lines += ["", "## Why", "", "Each pattern instance behind the alert, its conditions (observed value against "
                  "threshold) and the published red flag it implements:", ""]
        cited = None
        for inst in e.why:
            role = "" if inst["role"] == "anchored" else " (the account is a counterparty in this pattern)"
            lines.append(f"- **{inst['rule']}** `{inst['instance_id']}`{role}")
            for c in inst["conditions"]:
                lines.append(f"  - {c['text']}" + ("" if c["tested"] else " (shown, not tested)"))
            if inst["source"] and inst["source"] != cited:  # once per run of instances citing the same source
                lines.append(f"  - Source: {inst['source']}")
                cited = inst["source"]

    if how["inflows"] or how["outflows"]:
        lines += ["", "## How", ""]
        lines.append(f"- In: {how['inflows']} transaction(s) from {how['distinct_senders']} distinct sender(s), "
                     f"by {_channels(how['inflow_channels'])}.")
        lines.append(f"- Out: {how['outflows']} transaction(s) to {how['distinct_receivers']} distinct receiver(s), "
                     f"by {_channels(how['outflow_channels'])}.")
        if how["median_seconds_inflow_to_next_outflow"] is not None:
            lines.append(f"- Median time from an inflow to the next outflow in the evidence: "
                         f"{_duration(how['median_seconds_inflow_to_next_outflow'])}.")
        if how["between_others"]:
            lines.append(f"- {how['between_others']} evidence transaction(s) between other accounts of the pattern.")

    if e.evidence:
        lines += ["", "## Evidence", "", "| time (UTC) | txn_id | direction | sender | receiver | amount | currency "
                  "| channel | location | rules |", "|---|---|---|---|---|---:|---|---|---|---|"]
        for t in e.evidence:
            lines.append("| " + " | ".join(_cell(v) for v in (
                t["timestamp"], t["txn_id"], t["direction"], t["sender"], t["receiver"], t["amount"], t["currency"],
                t["channel"], t["location"], ", ".join(t["rules"]))) + " |")
        rest = e.evidence_total - len(e.evidence)
        if rest:
            lines += ["", f"... and {rest:,} more transaction(s) in evidence.parquet (alert_id {e.alert_id})."]
    origin = f" from {e.run['run_dir']}" if e.run.get("run_dir") else ""
    config = f" (configuration {e.run['config_sha256'][:12]})" if e.run.get("config_sha256") else ""
    lines += ["", "---", f"Generated by flowscan {e.run.get('flowscan') or ''}{origin}{config}. {DISCLAIMER}", ""]
    return "\n".join(lines)


def _feature(name: str, value, unit: str | None) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else f"{value:,}"
    return f"{name} = {text}" + (f" ({unit})" if unit and unit not in ("count", "share") else "")


def _money_text(totals: dict[str, str]) -> str:
    return ", ".join(f"{c} {v}" for c, v in totals.items()) or "none"


def write_explanation(explanation: Explanation, path, /) -> tuple[Path, Path]:
    """Write ``PATH.md`` and ``PATH.json`` (a ``.md`` or ``.json`` suffix on ``path`` is dropped),
    each through a temporary file renamed into place."""
    path = Path(path)
    if path.suffix.lower() in (".md", ".json"):
        path = path.with_suffix("")
    path.parent.mkdir(parents=True, exist_ok=True)
    targets = (Path(f"{path}.md"), Path(f"{path}.json"))
    texts = (explanation.to_markdown(), explanation.to_json())
    temporaries = [t.with_name(f".{t.name}.{os.getpid()}.tmp") for t in targets]
    try:
        for temporary, text in zip(temporaries, texts):
            temporary.write_text(text, encoding="utf-8")
        for temporary, target in zip(temporaries, targets):
            os.replace(temporary, target)
    finally:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)
    return targets
