"""Keyed pseudonyms for account ids in every output of a run.

``flowscan scan --pseudonymize`` (``write_run(..., pseudonym_key=KEY)``) replaces each account id
with ``"P-"`` followed by the first 16 hex digits of HMAC-SHA256(key, account id) before anything
is written. The key comes from the environment variable :data:`KEY_VARIABLE` and never reaches
a file: the manifest records only its id (:func:`key_id`, the first 8 hex digits of the key's
SHA-256), so two runs can be shown to share a key without revealing it. The same key gives the
same pseudonyms, so runs of one bank stay joinable; without the key, a pseudonym cannot be
turned back into an account id (account numbers are short and guessable, which is why the
hash is *keyed*: an unkeyed hash of a 10-digit number is undone by trying all of them).

What changes, table by table (:func:`pseudonymize`):

``accounts``
    ``account``; ``group_id`` when present.
``alerts``
    ``account``; ``alert_id`` is derived again from the pseudonym (the plain alert id is an
    unkeyed hash of the account id, so it would leak it); every ``instance_id`` in
    ``instance_ids`` and ``reasons`` (``rule/ACCOUNT/txn_id``) gets the pseudonym. (Should
    two account ids be ``/``-prefixes of each other, so that an instance id could be read
    two ways, all after ``rule/`` becomes ``I-`` and 16 hex digits of a keyed hash.)
``evidence``
    ``alert_id``, ``instance_id``, ``sender`` and ``receiver``. Null stays null.
``groups``
    ``group_id`` (``"G-"`` and 16 hex digits of a keyed hash of the plain group id, which names
    the group's smallest account id), ``members`` (sorted again, by pseudonym) and
    ``top_account``; the rows are sorted again by ``group_score`` descending, then ``group_id``,
    so no order of plain ids survives.
``rejects``
    ``raw`` (the rejected source record as JSON text) is set to null: a rejected record is by
    definition one whose fields could not be read, so its account ids cannot be trusted to
    match the pseudonymised ones, and it may hold columns flowscan never maps (names, free
    text). ``source_file``, ``row_number``, ``reason`` and ``detail`` (a field name) stay, so
    an analyst who holds the source file can still find each rejected row.

Transaction ids, amounts, times, channels and locations are left as they are.

Collisions: a pseudonym keeps 64 bits, so the chance that two of ``n`` accounts share one is
about ``n**2 / 2**65``: 3e-8 for 1 million accounts, 3e-6 for 10 million, 3e-4 for 100 million.
:func:`pseudonym_table` checks and raises :class:`~flowscan.errors.DataError` if it ever happens
(use another key).

No message of this module quotes an account id.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from .errors import ConfigError, DataError

KEY_VARIABLE = "FLOWSCAN_PSEUDONYM_KEY"
"""Environment variable holding the pseudonymisation key (text; its UTF-8 bytes are the key)."""

MIN_KEY_BYTES = 32
"""Shortest key accepted: 32 bytes, the output size of SHA-256 (RFC 2104 section 3)."""

PREFIX = "P-"
GROUP_PREFIX = "G-"
DIGITS = 16
"""Hex digits of the HMAC kept in a pseudonym (64 bits)."""


def key_from_env(environ: Mapping[str, str] | None = None, /) -> bytes:
    """The key from :data:`KEY_VARIABLE`.

    Raises
    ------
    ConfigError
        The variable is not set, or its value is shorter than :data:`MIN_KEY_BYTES` bytes.
    """
    environ = os.environ if environ is None else environ
    text = environ.get(KEY_VARIABLE)
    if not text:
        raise ConfigError(f"--pseudonymize needs a key in the environment variable {KEY_VARIABLE}; set it to a "
                          f"secret of at least {MIN_KEY_BYTES} bytes, e.g. the output of "
                          "python -c 'import secrets; print(secrets.token_hex(32))'")
    return check_key(text.encode("utf-8"))


def check_key(key, /) -> bytes:
    """``key`` as bytes, checked for type and length (the message never quotes the key)."""
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, (bytes, bytearray)):
        raise ConfigError(f"The pseudonymisation key must be bytes. Got {type(key).__name__} instead.")
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"The pseudonymisation key ({KEY_VARIABLE}) must be at least {MIN_KEY_BYTES} bytes long. "
                          f"Got {len(key)} bytes instead.")
    return bytes(key)


def key_id(key: bytes, /) -> str:
    """The key's public id: the first 8 hex digits of SHA-256 of the key."""
    return hashlib.sha256(check_key(key)).hexdigest()[:8]


def pseudonym(account: str, key: bytes, /) -> str:
    """``"P-"`` and the first 16 hex digits of HMAC-SHA256(key, account id as UTF-8)."""
    return PREFIX + hmac.new(key, account.encode("utf-8"), hashlib.sha256).hexdigest()[:DIGITS]


def _group_pseudonym(group_id: str, key: bytes) -> str:
    return GROUP_PREFIX + hmac.new(key, f"flowscan-group\x1f{group_id}".encode("utf-8"),
                                   hashlib.sha256).hexdigest()[:DIGITS]


def pseudonym_table(accounts: pa.Array | pa.ChunkedArray, key: bytes, /) -> pa.Table:
    """The mapping ``(account, pseudonym)`` of the distinct non-null ids, sorted by pseudonym.

    Raises
    ------
    DataError
        Two accounts got the same pseudonym (about ``n**2 / 2**65``; use another key).
    """
    key = check_key(key)
    ids = pc.unique(accounts.cast(pa.string()) if accounts.type != pa.string() else accounts)
    ids = ids.filter(pc.is_valid(ids)).to_pylist()
    names = [pseudonym(a, key) for a in ids]
    if len(set(names)) != len(names):
        raise DataError("two accounts share a pseudonym (chance about n^2/2^65); run again with another key")
    table = pa.table({"account": pa.array(ids, pa.string()), "pseudonym": pa.array(names, pa.string())})
    return table.sort_by([("pseudonym", "ascending")])


class _Mapper:
    """Replaces account ids, alert ids, instance ids and group ids, vectorised over Arrow arrays."""

    def __init__(self, mapping: pa.Table, key: bytes):
        from .score.scorer import _alert_id

        self.key = key
        self.plain = mapping.column("account").combine_chunks()
        self.names = mapping.column("pseudonym").combine_chunks()
        self.lookup = dict(zip(self.plain.to_pylist(), self.names.to_pylist()))
        self.alert_id = _alert_id

    def accounts(self, values):
        """Account ids to pseudonyms; null stays null; an id outside the mapping is an error."""
        values = _flat(values)
        at = pc.index_in(values, value_set=self.plain)
        if at.null_count != values.null_count:
            raise DataError("an output names an account that is not in the run's accounts table; cannot pseudonymise")
        return self.names.take(at)

    def _strings(self, values, convert):
        values = _flat(values)
        distinct = pc.unique(values)
        distinct = distinct.filter(pc.is_valid(distinct))
        converted = pa.array([convert(v) for v in distinct.to_pylist()], pa.string())
        return converted.take(pc.index_in(values, value_set=distinct))

    def instance_ids(self, values):
        return self._strings(values, self._instance_id)

    def _instance_id(self, value: str) -> str:
        # rule/ACCOUNT/txn_id: rule codes hold no "/", account and txn ids may. The account is
        # the one piece after the rule that is a known account id; when several pieces are
        # (ids that are "/"-prefixes of one another), everything after the rule is replaced
        # by a keyed hash, which is deterministic but no longer shows the txn id.
        rule, _, rest = value.partition("/")
        found = []
        position = rest.find("/")
        while position >= 0:
            if rest[:position] in self.lookup:
                found.append(position)
            position = rest.find("/", position + 1)
        if len(found) == 1:
            return f"{rule}/{self.lookup[rest[:found[0]]]}{rest[found[0]:]}"
        if found:
            return f"{rule}/I-" + hmac.new(self.key, f"flowscan-instance\x1f{rest}".encode("utf-8"),
                                           hashlib.sha256).hexdigest()[:DIGITS]
        raise DataError("an instance id does not name an account of the run; cannot pseudonymise")

    def alert_ids(self, accounts):
        """Alert ids derived from pseudonymised account ids."""
        return self._strings(accounts, self.alert_id)

    def group_ids(self, values):
        return self._strings(values, lambda g: _group_pseudonym(g, self.key))


def _flat(values) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values


def _replace(table: pa.Table, name: str, column) -> pa.Table:
    position = table.schema.get_field_index(name)
    return table.set_column(position, table.schema.field(name), column)


def _map_list(values, convert) -> pa.Array:
    """Apply ``convert`` to the values of a list<string> column, keeping offsets and nulls."""
    lists = _flat(values)
    inner = convert(lists.values)
    return pa.ListArray.from_arrays(lists.offsets, inner, type=lists.type, mask=lists.is_null())


def _map_struct_list(values, field: str, convert) -> pa.Array:
    """Apply ``convert`` to one string field of a list<struct> column."""
    lists = _flat(values)
    structs = lists.values
    children = [convert(structs.field(f.name)) if f.name == field else structs.field(f.name)
                for f in structs.type]
    inner = pa.StructArray.from_arrays(children, fields=list(structs.type),
                                       mask=structs.is_null() if structs.null_count else None)
    return pa.ListArray.from_arrays(lists.offsets, inner, type=lists.type, mask=lists.is_null())


def pseudonymize(tables: Mapping[str, pa.Table], key: bytes, /) -> dict[str, pa.Table]:
    """Replace account ids in a run's tables with keyed pseudonyms.

    Parameters
    ----------
    tables : mapping of name to pyarrow.Table
        The run's tables as :func:`flowscan.scan.write_run` writes them: ``accounts`` (required:
        its ``account`` column defines the ids), and any of ``alerts``, ``evidence``,
        ``groups``, ``rejects``. Other names are returned unchanged.
    key : bytes
        At least :data:`MIN_KEY_BYTES` bytes.

    Returns
    -------
    dict of name to pyarrow.Table
        The same names; schemas unchanged. See the module docstring for what changes.

    Raises
    ------
    ConfigError
        The key is too short.
    DataError
        A table names an account that ``accounts`` does not hold, or two accounts collide.
    """
    key = check_key(key)
    if "accounts" not in tables:
        raise DataError("pseudonymize needs the accounts table: its account column defines the ids")
    mapper = _Mapper(pseudonym_table(tables["accounts"].column("account"), key), key)
    result = dict(tables)

    accounts = tables["accounts"]
    accounts = _replace(accounts, "account", mapper.accounts(accounts.column("account")))
    if "group_id" in accounts.column_names:
        accounts = _replace(accounts, "group_id", mapper.group_ids(accounts.column("group_id")))
    result["accounts"] = accounts

    alert_ids = None
    if "alerts" in tables:
        alerts = tables["alerts"]
        fresh = mapper.accounts(alerts.column("account"))
        new_ids = mapper.alert_ids(fresh)
        alert_ids = (_flat(alerts.column("alert_id")), new_ids)
        alerts = _replace(alerts, "account", fresh)
        alerts = _replace(alerts, "alert_id", new_ids)
        alerts = _replace(alerts, "instance_ids", _map_list(alerts.column("instance_ids"), mapper.instance_ids))
        alerts = _replace(alerts, "reasons", _map_struct_list(alerts.column("reasons"), "instance_id",
                                                              mapper.instance_ids))
        result["alerts"] = alerts

    if "evidence" in tables:
        evidence = tables["evidence"]
        if evidence.num_rows:
            if alert_ids is None:
                raise DataError("pseudonymize needs the alerts table to rewrite the evidence's alert ids")
            at = pc.index_in(evidence.column("alert_id"), value_set=alert_ids[0])
            if at.null_count:
                raise DataError("an evidence row names an alert that is not in the alerts table")
            evidence = _replace(evidence, "alert_id", alert_ids[1].take(at))
            evidence = _replace(evidence, "instance_id", mapper.instance_ids(evidence.column("instance_id")))
            for side in ("sender", "receiver"):
                evidence = _replace(evidence, side, mapper.accounts(evidence.column(side)))
        result["evidence"] = evidence

    if "groups" in tables:
        groups = tables["groups"]
        if groups.num_rows:
            groups = _replace(groups, "group_id", mapper.group_ids(groups.column("group_id")))
            groups = _replace(groups, "top_account", mapper.accounts(groups.column("top_account")))
            members = _map_list(groups.column("members"), mapper.accounts)
            groups = _replace(groups, "members", pa.array([sorted(m) for m in members.to_pylist()],
                                                          groups.schema.field("members").type))
            groups = groups.sort_by([("group_score", "descending"), ("group_id", "ascending")])
        result["groups"] = groups

    if "rejects" in tables:
        rejects = tables["rejects"]
        if "raw" in rejects.column_names:
            rejects = _replace(rejects, "raw", pa.nulls(rejects.num_rows, rejects.schema.field("raw").type))
        result["rejects"] = rejects
    return result
