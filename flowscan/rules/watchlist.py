"""Ad-identifier matches: accounts whose customer shares a phone number, e-mail address or
handle with an escort or classified ad. A rule of the human-trafficking pack.

Anti-trafficking teams mine escort-listing sites with open-source-intelligence tools and match
the phone numbers found there with their customers (FinCEN FIN-2014-A008 lists phone numbers in
escort ads among the red flags; a UNODC DataJam winner mined escort listings, and a US bank
matched ad phone numbers to its customers). flowscan takes such a watch-list as the
``ad_identifiers`` reference table and matches it through the customer side table (the
relationships table of :mod:`flowscan.score.rollup`): both sides are normalised the same way
(:func:`flowscan.score.rollup.normalise_value`: digits of a phone number, case-folded e-mail).

A match is an indicator, not proof: one instance per (account, watch-list) with at least one
identifier in common, named after the list and its date, the source of the indicator. Its
window is the account's activity in the ledger (first to last transaction); it has no
evidence transactions (the evidence is the identifier match, given in the reasons as the
count of matched identifiers). Kind of an entry: its ``kind`` column, or else ``email`` when
it holds an ``@``, ``phone`` when it is mostly digits, ``handle`` otherwise; it matches
relationship rows of the same kind family (phone kinds, e-mail kinds, or any other kind).
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pyarrow as pa

from ..index import AccountIndex
from ..reference import Reference
from ..schema import TIMESTAMP_TYPE
from .instances import INSTANCE_SCHEMA, REASON_TYPE, RuleResult
from .windows import reference_for, timestamps

SOURCE = "Ad-identifier watch-list {list} (listed {date}); FinCEN FIN-2014-A008 (phone numbers in escort ads)"
TYPOLOGY = "ad_identifier"


@dataclasses.dataclass(frozen=True)
class AdIdentifiers:
    """Options of the ad-identifier watch-list rule (no parameter: the list is the reference table)."""

    NEEDS = ("ad_identifiers", "relationships")
    rule = "ad_identifier"


def _family(kind: str) -> str:
    from ..score.rollup import EMAIL_KINDS, PHONE_KINDS

    return "phone" if kind in PHONE_KINDS else "email" if kind in EMAIL_KINDS else "other"


def _guess(identifier: str) -> str:
    if "@" in identifier:
        return "email"
    digits = sum(ch.isdigit() for ch in identifier)
    return "phone" if digits >= 7 and digits >= len(identifier.replace(" ", "")) * 0.6 else "handle"


def ad_identifiers(ledger: pa.Table, index: AccountIndex, /, *, options: AdIdentifiers | None = None,
                   reference: Reference | None = None, relationships: pa.Table | None = None) -> RuleResult:
    """Match the ad-identifier watch-list to the accounts through the customer side table.

    Parameters
    ----------
    relationships : pyarrow.Table
        :func:`flowscan.score.rollup.read_relationships` output (``account, kind, value``).

    Returns
    -------
    RuleResult
        One instance per (account, list) with a match; no evidence rows.
    """
    from ..errors import ConfigError
    from ..score.rollup import normalise_value

    reference = reference_for("ad_identifiers", reference, ("ad_identifiers",))
    if relationships is None:
        raise ConfigError("the ad_identifiers rule needs the customer side table (relationships)")
    watch = reference.get("ad_identifiers")
    kinds = watch.column("kind").to_pylist() if "kind" in watch.column_names else [None] * watch.num_rows
    dates = watch.column("listed_on").to_pylist() if "listed_on" in watch.column_names else [None] * watch.num_rows
    wanted: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for ident, lst, kind, date in zip(watch.column("identifier").to_pylist(), watch.column("list").to_pylist(),
                                      kinds, dates):
        kind = (kind or _guess(ident)).strip().casefold()
        value = normalise_value(kind, ident)
        if value:
            wanted.setdefault((_family(kind), value), set()).add((lst, date or "undated"))
    matches: dict[tuple[str, str, str], set[str]] = {}
    for account, kind, value in zip(relationships.column("account").to_pylist(),
                                    relationships.column("kind").to_pylist(),
                                    relationships.column("value").to_pylist()):
        for lst, date in wanted.get((_family(kind), value), ()):
            matches.setdefault((account, lst, date), set()).add(f"{kind}:{value}")
    ts = timestamps(ledger)
    rows = []
    for (account, lst, date), found in sorted(matches.items()):
        try:
            code = index.code_of(account)
        except KeyError:
            continue  # a customer of the side table with no transaction in this ledger
        mine = np.concatenate([index.by_sender.rows_of(code), index.by_receiver.rows_of(code)])
        digest = hashlib.sha256(f"{lst}\x1f{date}".encode()).hexdigest()[:12]
        rows.append({
            "instance_id": f"{TYPOLOGY}/{account}/{digest}", "rule": TYPOLOGY, "typology": TYPOLOGY,
            "account": account, "window_start": int(ts[mine].min()), "window_end": int(ts[mine].max()),
            "reasons": [{"name": "identifiers_matched", "op": ">=", "observed": float(len(found)), "threshold": 1.0,
                         "unit": "count"}],
            "n_evidence": 0, "n_evidence_total": 0, "source": SOURCE.format(list=lst, date=date),
        })
    if not rows:
        return RuleResult.from_found(ledger, index.accounts, [])
    columns = {name: [r[name] for r in rows] for name in INSTANCE_SCHEMA.names}
    columns["window_start"] = pa.array(columns["window_start"], pa.int64()).cast(TIMESTAMP_TYPE)
    columns["window_end"] = pa.array(columns["window_end"], pa.int64()).cast(TIMESTAMP_TYPE)
    columns["reasons"] = pa.array(columns["reasons"], pa.list_(REASON_TYPE))
    instances = pa.table(columns, schema=INSTANCE_SCHEMA)
    empty = RuleResult.from_found(ledger, index.accounts, [])
    return RuleResult(instances, empty.evidence, empty.features)
