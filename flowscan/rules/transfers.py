"""Which rows are *transfers* for the graph rules: payments to merchants, or not.

A payment to a merchant (a row with a merchant category code, ``mcc`` not null: card and
e-commerce purchases as a bank's export records them) is a purchase. Where it ends up matters
most for the *layering* patterns, scatter-gather, gather-scatter and cycles (the AMLSim and
AMLworld vocabulary, FATF/APG 2018's layering through intermediaries): a purchase ends a chain
of transfers, and three friends who each buy at the same supermarket chain are not three
intermediaries gathering money into one sink. Those rules leave merchant payments out by
default (``merchant_payments = False``).

Fan-in, fan-out and rapid movement count them by default (``merchant_payments = True``):
spending an inflow at once, or paying many payees, is part of what they describe, and leaving
purchases out lowered the ranking's average precision on three of four generated ledgers
(benchmarks/RESULTS.md, "Human-trafficking rule pack"). Every one of these rules takes the
option either way. A ledger without merchant category codes (AMLSim, AMLworld, SAML-D) is
unaffected. The merchant-spending red flags themselves are the human-trafficking rule pack's
(:mod:`flowscan.rules.merchants`), which reads exactly those rows.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def transfer_rows(ledger: pa.Table, merchant_payments: bool) -> np.ndarray:
    """Per ledger row, whether it is a transfer: every row when ``merchant_payments``, else
    the rows without a merchant category code."""
    if merchant_payments:
        return np.ones(ledger.num_rows, dtype=bool)
    return ledger.column("mcc").is_null().to_numpy(zero_copy_only=False)


def check(owner: str, value) -> None:
    from .. import params

    if not isinstance(value, bool):
        raise params.ConfigTypeError(params._message(owner, "merchant_payments", "true or false", value))
