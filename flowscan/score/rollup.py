"""Relationship roll-up: accounts of one customer, or tied by a shared identifier, reviewed together.

FinCEN's guidance on human-trafficking proceeds (FIN-2020-A008) and its SAR instructions ask
for review at the level of the *relationship*, not of the single account: a trafficker's
money moves through several accounts opened with the same phone, address or device, and a
victim's accounts are often opened by the same controller. flowscan reads an optional side
table of accounts to customers and identifiers, groups the scored accounts it ties together,
and ranks the groups by their riskiest member. Everything works without the table: each
account is then a group of its own.

Three steps:

1. :func:`read_relationships` reads the side table (CSV, Parquet or Arrow IPC, wide or long)
   and normalises it to one row per ``(account, kind, value)``; :func:`normalise_relationships`
   does the same for a table already in memory.
2. :func:`relationship_groups` finds the groups: connected components of the bipartite graph
   between accounts and identifier values (``scipy.sparse.csgraph.connected_components``).
   :func:`too_common_identifiers` lists the values that were too common to be used as links.
3. :func:`roll_up` turns per-account scores into one row per group.

Every output depends only on the *set* of side-table rows: neither the order of the rows nor
duplicates change a byte of it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .. import params
from ..errors import DataError
from ..options import ReadOptions
from ..read import sources as S

RELATIONSHIPS_SCHEMA = pa.schema(
    [("account", pa.string()), ("kind", pa.string()), ("value", pa.string())],
    metadata={b"flowscan.relationships": b"long/1"},
)
"""Schema of :func:`read_relationships`' result; the metadata marks the values as normalised."""

GROUPS_SCHEMA = pa.schema(
    [("account", pa.string()), ("group_id", pa.string()), ("group_size", pa.int64()),
     ("linked_by", pa.list_(pa.string()))]
)
"""Schema of :func:`relationship_groups`' result (its metadata is added per call)."""

ROLLUP_SCHEMA = pa.schema(
    [("group_id", pa.string()), ("members", pa.list_(pa.string())), ("group_size", pa.int64()),
     ("group_score", pa.float64()), ("top_account", pa.string()), ("linked_by", pa.list_(pa.string()))]
)
"""Schema of :func:`roll_up`' result."""

PHONE_KINDS = frozenset({"phone", "phone_number", "mobile", "telephone", "tel"})
"""Identifier kinds normalised as phone numbers: ASCII digits only, and a leading ``+`` kept."""

EMAIL_KINDS = frozenset({"email", "e-mail", "e_mail", "email_address"})
"""Identifier kinds normalised as e-mail addresses: stripped and case-folded."""

DEFAULT_MAX_GROUP_SIZE = 50
"""An identifier value shared by more accounts than this is not used as a link."""

TOO_COMMON_KEY = b"flowscan.too_common_values"
"""Schema-metadata key of :func:`relationship_groups`' result: JSON ``{kind: count}`` of the
identifier values left out as too common (no values, only counts)."""

_LONG = ("account", "kind", "value")


# -- normalisation ---------------------------------------------------------------------------


def _fold_name(name: str) -> str:
    return " ".join(str(name).split()).casefold()


def _phone(text: str) -> str:
    text = text.strip()
    digits = "".join(ch for ch in text if "0" <= ch <= "9")
    if not digits:
        return ""
    return "+" + digits if text.startswith("+") else digits


def _email(text: str) -> str:
    return text.strip().casefold()


def _other(text: str) -> str:
    return " ".join(text.split()).casefold()


def normalise_value(kind: str, value: str) -> str:
    """The normalised form of one identifier value ("" means: drop it).

    Parameters
    ----------
    kind : str
        Identifier kind, already folded (``"phone"``, ``"email"``, ``"address"``, ...).
    value : str
        Raw value.

    Returns
    -------
    str
        For :data:`PHONE_KINDS`: the ASCII digits, with a ``+`` in front when the value
        starts with one (``"+1 (555) 010-0000"`` -> ``"+15550100000"``; no country code is
        guessed, so ``"555 010 0000"`` stays ``"5550100000"``). For :data:`EMAIL_KINDS`:
        stripped and case-folded. Any other kind: runs of white space collapsed to one
        space, stripped and case-folded.
    """
    if kind in PHONE_KINDS:
        return _phone(value)
    if kind in EMAIL_KINDS:
        return _email(value)
    return _other(value)


def _as_text(array: pa.ChunkedArray, origin: str, column: str, *, integers: bool) -> pa.ChunkedArray:
    kind = array.type
    if pa.types.is_dictionary(kind):
        array = array.cast(kind.value_type)
        kind = array.type
    if pa.types.is_string(kind):
        return array
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return array.cast(pa.string())
    if integers and pa.types.is_integer(kind):
        return array.cast(pa.string())
    expected = "text or integers" if integers else "text"
    raise DataError(f"{origin}: column '{column}' must hold {expected}; found {kind}. Convert it to text first.")


_SPACE = r"[\t\n\x0b\x0c\r\x1c-\x1f ]"  # exactly the ASCII characters str.split() treats as white space


def _normalise_values(kinds: pa.ChunkedArray, values: pa.ChunkedArray) -> pa.Array:
    """Normalise ``values`` row by row according to ``kinds`` (both string, no nulls).

    Equal to :func:`normalise_value` on every row (a test holds them together): ASCII values are
    normalised with Arrow compute functions, where lower-casing *is* case-folding and white
    space is the ASCII set Python uses; the other values, usually few, go through Python.
    """
    kinds, values = kinds.combine_chunks(), values.combine_chunks()
    if len(values) == 0:
        return pa.array([], pa.string())
    normal = values
    for kind in pc.unique(kinds).to_pylist():
        rows = pc.equal(kinds, kind)
        mine = values.filter(rows)
        if kind in PHONE_KINDS:
            trimmed = pc.replace_substring_regex(mine, f"^{_SPACE}+|{_SPACE}+$", "")
            digits = pc.replace_substring_regex(trimmed, "[^0-9]+", "")
            done = pc.if_else(pc.and_(pc.starts_with(trimmed, "+"), pc.not_equal(digits, "")),
                              pc.binary_join_element_wise("+", digits, ""), digits)
        elif kind in EMAIL_KINDS:
            done = pc.utf8_lower(pc.replace_substring_regex(mine, f"^{_SPACE}+|{_SPACE}+$", ""))
        else:
            done = pc.utf8_lower(pc.utf8_trim(pc.replace_substring_regex(mine, f"{_SPACE}+", " "), " "))
        normal = pc.replace_with_mask(normal, rows, done)
    unusual = pc.invert(pc.string_is_ascii(values))
    if pc.any(unusual).as_py():
        rows = np.flatnonzero(unusual.to_numpy(zero_copy_only=False))
        texts = [normalise_value(k, v) for k, v in zip(kinds.take(rows).to_pylist(), values.take(rows).to_pylist())]
        normal = pc.replace_with_mask(normal, unusual, pa.array(texts, pa.string()))
    return normal


def _to_long(table: pa.Table, origin: str) -> pa.Table:
    """Wide or long side table -> normalised, de-duplicated, sorted long table."""
    folded = [_fold_name(name) for name in table.column_names]
    if "account" not in folded:
        raise DataError(
            f"{origin}: no 'account' column; a relationships table needs 'account' plus identifier columns "
            "(customer_id, phone, email, address, device, ...) or the long columns 'account, kind, value'."
        )
    columns: dict[str, list[pa.ChunkedArray]] = {}
    for name, fold in zip(table.column_names, folded):
        columns.setdefault(fold, []).append(table[name])
    if len(columns["account"]) > 1:
        raise DataError(f"{origin}: more than one 'account' column; keep one.")
    account = pc.utf8_trim_whitespace(_as_text(columns["account"][0], origin, "account", integers=False))

    if set(columns) == set(_LONG) and all(len(c) == 1 for c in columns.values()):
        kind = pc.utf8_trim_whitespace(_as_text(columns["kind"][0], origin, "kind", integers=False))
        value = _as_text(columns["value"][0], origin, "value", integers=True)
        if len(kind):
            kind_names = pc.unique(kind.fill_null("")).to_pylist()
            folded_kinds = pa.array([_fold_name(k) for k in kind_names], pa.string())
            kind = folded_kinds.take(pc.index_in(kind, value_set=pa.array(kind_names, pa.string())))
        long = pa.table({"account": account, "kind": kind, "value": value})
    else:
        parts = []
        for fold, arrays in columns.items():
            if fold == "account":
                continue
            for array, name in zip(arrays, [n for n, f in zip(table.column_names, folded) if f == fold]):
                value = _as_text(array, origin, name, integers=True)
                kind = pa.repeat(pa.scalar(fold, pa.string()), len(value))
                parts.append(pa.table({"account": account, "kind": kind, "value": value}))
        long = pa.concat_tables(parts) if parts else pa.table(
            {c: pa.array([], pa.string()) for c in _LONG})

    keep = pc.and_(
        pc.and_(pc.is_valid(long["account"]), pc.is_valid(long["kind"])),
        pc.and_(pc.is_valid(long["value"]), pc.not_equal(long["account"], "")),
    )
    long = long.filter(pc.and_(keep.fill_null(False), pc.not_equal(long["kind"], "").fill_null(False)))
    value = _normalise_values(long["kind"], long["value"])
    long = long.set_column(2, "value", value)
    long = long.filter(pc.not_equal(long["value"], ""))
    return _sorted_unique(long)


def _sorted_codes(array: pa.Array) -> np.ndarray:
    """Codes of ``array``'s values in sorted (code-point) order of the distinct values."""
    names = pc.unique(array)
    names = names.take(pc.array_sort_indices(names))
    return pc.index_in(array, value_set=names).to_numpy(zero_copy_only=False).astype(np.int64)


def _sorted_unique(long: pa.Table) -> pa.Table:
    """Distinct rows sorted by account, kind and value (sorting codes, not strings)."""
    columns = [long[c].combine_chunks() for c in _LONG]
    if not len(columns[0]):
        return RELATIONSHIPS_SCHEMA.empty_table()
    codes = [_sorted_codes(c) for c in columns]
    order = np.lexsort(codes[::-1])
    keep = np.ones(len(order), dtype=bool)
    keep[1:] = np.any([np.diff(c[order]) != 0 for c in codes], axis=0)
    rows = pa.array(order[keep])
    return pa.Table.from_arrays([c.take(rows) for c in columns], schema=RELATIONSHIPS_SCHEMA)


def _normalised(relationships: pa.Table) -> pa.Table:
    """``relationships`` as a normalised long table (as is when :func:`read_relationships` made it)."""
    if not isinstance(relationships, pa.Table):
        raise TypeError(
            f"relationships must be a pyarrow.Table (see flowscan.score.rollup.read_relationships); "
            f"got {type(relationships).__name__}."
        )
    if relationships.schema.equals(RELATIONSHIPS_SCHEMA, check_metadata=True):
        return relationships
    return _to_long(relationships, "relationships")


def normalise_relationships(table, /) -> pa.Table:
    """Normalise an in-memory side table the way :func:`read_relationships` does a file.

    Parameters
    ----------
    table : pyarrow.Table
        Wide (``account`` plus identifier columns) or long (``account``, ``kind``, ``value``)
        layout; see :func:`read_relationships`.

    Returns
    -------
    pyarrow.Table
        :data:`RELATIONSHIPS_SCHEMA`, one row per distinct (account, kind, value), sorted;
        nulls and values empty after :func:`normalise_value` are dropped.

    Raises
    ------
    TypeError
        ``table`` is not a pyarrow.Table.
    DataError
        No ``account`` column, or a column of an unusable type.
    """
    if not isinstance(table, pa.Table):
        raise TypeError(f"table must be a pyarrow.Table; got {type(table).__name__}.")
    return _to_long(table, "relationships")


def read_relationships(path, /) -> pa.Table:
    """Read a side table of accounts to customers and shared identifiers.

    Parameters
    ----------
    path : str or os.PathLike
        One CSV (``.csv``, ``.tsv``, compressed or not), Parquet or Arrow IPC file; a file
        with no known extension is recognised by its first bytes. Two layouts are accepted:

        - **wide**: a column ``account`` and any number of identifier columns; every other
          column is an identifier *kind* named after the column (``customer_id``, ``phone``,
          ``email``, ``address``, ``device``, ...);
        - **long**: exactly the columns ``account``, ``kind``, ``value``.

        Column names are matched after stripping and case-folding (``Account`` is
        ``account``, ``Phone`` is the kind ``phone``). CSV columns are read as text; Parquet
        and IPC columns must be text (``account``, ``kind``) or text or integers (values).

    Returns
    -------
    pyarrow.Table
        Schema :data:`RELATIONSHIPS_SCHEMA`: ``account``, ``kind``, ``value``, all string, one
        row per distinct triple, sorted by account, kind and value. Account ids are stripped
        of surrounding white space (as the ledger's are); values are normalised by
        :func:`normalise_value`. Rows with a null or empty account, kind or value (before or
        after normalisation) are dropped: a missing identifier links nothing.

    Raises
    ------
    CorruptFileError
        The file cannot be read (truncated, not the format it claims, undecodable text).
    DataError
        No such file, a directory, no ``account`` column, a column of an unusable type, or CSV
        records whose number of fields differs from the header's. Messages name the file,
        columns and line numbers, never an account id or an identifier value.
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory; give one relationships file (CSV, Parquet or Arrow IPC).")
    (source,) = S.expand([path])
    if source.kind == "csv":
        delimiter = "\t" if path.name.lower().endswith((".tsv", ".tsv.gz")) else ","
        options = ReadOptions(delimiter=delimiter)
        source.columns = S.csv_header(source, options)
        batches = list(S.iter_csv(source, options))
        if source.malformed:
            first = source.malformed[0][0]
            where = f" (first at line {first})" if first is not None else ""
            raise DataError(
                f"{path}: {len(source.malformed)} record(s) have a number of fields other than the header's "
                f"{len(source.columns)}{where}; fix or quote them."
            )
        schema = pa.schema([(name, pa.string()) for name in source.columns])
    else:
        schema = S.file_schema(source)
        batches = list(S.iter_columnar(source, schema.names, 1 << 20))
    table = pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()
    return _to_long(table, str(path))


# -- groups ----------------------------------------------------------------------------------


def _accounts_array(accounts) -> pa.Array:
    if isinstance(accounts, pa.ChunkedArray):
        accounts = accounts.combine_chunks()
    if not isinstance(accounts, pa.Array):
        raise TypeError(f"accounts must be a pyarrow string array (AccountIndex.accounts); got "
                        f"{type(accounts).__name__}.")
    if pa.types.is_large_string(accounts.type) or pa.types.is_string_view(accounts.type):
        accounts = accounts.cast(pa.string())
    if not pa.types.is_string(accounts.type):
        raise TypeError(f"accounts must be a pyarrow string array (AccountIndex.accounts); got {accounts.type}.")
    if accounts.null_count:
        raise DataError(f"accounts holds {accounts.null_count} null(s); pass the index's account ids.")
    if len(pc.unique(accounts)) != len(accounts):
        raise DataError("accounts holds repeated ids; pass the index's account ids (unique).")
    return accounts


def _sort_order(accounts: pa.Array) -> np.ndarray:
    """Positions of ``accounts`` in sorted order (no sort when they are sorted already, as an
    index's accounts are)."""
    if len(accounts) < 2 or pc.all(pc.less(accounts.slice(0, len(accounts) - 1), accounts.slice(1))).as_py():
        return np.arange(len(accounts), dtype=np.int64)
    return pc.sort_indices(accounts).to_numpy(zero_copy_only=False).astype(np.int64)


def _link_rows(accounts: pa.Array, relationships: pa.Table, max_group_size: int):
    """Codes of the side-table rows: account node, identifier node, kind; and what was too common.

    Scored accounts are nodes ``0 .. n-1`` (their position in ``accounts``); side-table accounts
    that are not scored follow. Identifier nodes are distinct (kind, value) pairs.
    """
    n = len(accounts)
    side_account = relationships["account"].combine_chunks()
    found = pc.index_in(side_account, value_set=accounts)
    scored = pc.is_valid(found).to_numpy(zero_copy_only=False)
    position = found.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    unscored = side_account.filter(pa.array(~scored))
    extra = pc.index_in(unscored, value_set=pc.unique(unscored)).to_numpy(zero_copy_only=False).astype(np.int64)
    account_node = position.copy()
    account_node[~scored] = n + extra
    n_account_nodes = n + (int(extra.max()) + 1 if len(extra) else 0)

    kind_names = pc.unique(relationships["kind"]).sort()
    kind_code = pc.index_in(relationships["kind"], value_set=kind_names).to_numpy(zero_copy_only=False)
    kind_code = kind_code.astype(np.int64)
    value_code = pc.dictionary_encode(relationships["value"].combine_chunks()).indices.to_numpy(
        zero_copy_only=False).astype(np.int64)
    pair = kind_code * (int(value_code.max()) + 1 if len(value_code) else 1) + value_code
    identifier = pc.dictionary_encode(pa.array(pair)).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    users = np.bincount(identifier)
    # the side table is unique per (account, kind, value): a pair's rows are its distinct accounts
    uses = users[identifier]
    too_common = uses > max_group_size
    link = (~too_common) & (uses >= 2)
    return account_node, n_account_nodes, identifier, len(users), kind_code, kind_names, link, too_common


def _too_common(relationships: pa.Table, max_group_size: int) -> pa.Table:
    counts = relationships.group_by(["kind", "value"], use_threads=False).aggregate([("account", "count")])
    counts = counts.rename_columns(["kind", "value", "accounts"]).filter(
        pc.greater(pc.field("accounts"), max_group_size))
    counts = counts.sort_by([("accounts", "descending"), ("kind", "ascending"), ("value", "ascending")])
    return pa.table({"kind": counts["kind"].combine_chunks(), "value": counts["value"].combine_chunks(),
                     "accounts": counts["accounts"].combine_chunks().cast(pa.int64())})


def too_common_identifiers(relationships, /, *, max_group_size: int = DEFAULT_MAX_GROUP_SIZE) -> pa.Table:
    """The identifier values that :func:`relationship_groups` does not use as links.

    A value shared by more than ``max_group_size`` accounts of the side table (a branch's phone
    number, a shelter's or a company's address, a shared kiosk device) would merge unrelated
    customers. Such values are left out and listed here for the analyst: a value shared that
    widely can itself be a lead (many accounts opened from one address).

    Parameters
    ----------
    relationships : pyarrow.Table
        Side table from :func:`read_relationships` (or any wide or long table it accepts).
    max_group_size : int, default 50
        Largest number of accounts a value may be shared by and still link them.

    Returns
    -------
    pyarrow.Table
        ``kind`` (string), ``value`` (string, normalised), ``accounts`` (int64: accounts of the
        side table that share it, scored or not), sorted by ``accounts`` descending, then kind
        and value.
    """
    max_group_size = params.positive_int("too_common_identifiers", "max_group_size", max_group_size)
    return _too_common(_normalised(relationships), max_group_size)


def relationship_groups(accounts, relationships=None, /, *, max_group_size: int = DEFAULT_MAX_GROUP_SIZE) -> pa.Table:
    """Group the scored accounts that belong to one customer or share an identifier.

    Groups are the connected components of the bipartite graph whose nodes are accounts and
    identifier values ``(kind, value)``, with an edge where the side table gives an account
    that value (``customer_id`` is one kind among others). So a chain A -phone- B -address- C
    is one group of three.

    Accounts of the side table that are not scored (a customer's dormant or closed account,
    an account at another institution) still **bridge**: if A and B each share an identifier
    with such an account, A and B are one group. They do not appear in the result, and they
    are not counted in ``group_size``.

    Parameters
    ----------
    accounts : pyarrow.StringArray
        Ids of the scored accounts, unique and without nulls (``AccountIndex.accounts``; its
        sorted order is not required).
    relationships : pyarrow.Table or None, default None
        Side table from :func:`read_relationships` (a wide or long table that it would accept
        is normalised the same way). None: every account is a group of its own.
    max_group_size : int, default 50
        An identifier value shared by more than this many accounts of the side table (scored
        or not) is not used as a link; see :func:`too_common_identifiers` for the values. It
        bounds what one value can merge, not the size of a group: a chain of values can build
        a larger group.

    Returns
    -------
    pyarrow.Table
        One row per account of ``accounts``, in the same order (:data:`GROUPS_SCHEMA`):

        - ``account`` (string);
        - ``group_id`` (string): ``"G:"`` followed by the smallest account id of the group
          (code-point order), so it depends neither on row order nor on the graph's labels;
        - ``group_size`` (int64): scored accounts in the group, 1 for a singleton;
        - ``linked_by`` (list<string>): the identifier kinds, sorted, of this account's values
          that it shares with another account of the side table and that were used as links;
          empty when ``group_size`` is 1.

        The schema metadata key :data:`TOO_COMMON_KEY` holds JSON ``{kind: count}`` of the
        identifier values left out as too common (``{}`` when none); counts only, no values.

    Raises
    ------
    TypeError
        ``accounts`` is not a string array, or ``relationships`` not a table.
    DataError
        ``accounts`` holds nulls or repeated ids; ``relationships`` has no ``account`` column.
    ConfigError
        ``max_group_size`` is not a positive integer.
    """
    max_group_size = params.positive_int("relationship_groups", "max_group_size", max_group_size)
    accounts = _accounts_array(accounts)
    n = len(accounts)
    too_common_counts: dict[str, int] = {}
    label = np.arange(n, dtype=np.int64)
    linked_offsets = np.zeros(n + 1, dtype=np.int32)
    linked_values = pa.array([], pa.string())

    if relationships is not None:
        relationships = _normalised(relationships)
    if relationships is not None and relationships.num_rows:
        (account_node, n_account_nodes, identifier, n_identifiers, kind_code, kind_names, link,
         too_common) = _link_rows(accounts, relationships, max_group_size)
        if too_common.any():
            seen = np.unique(identifier[too_common], return_index=True)[1]
            per_kind = np.bincount(kind_code[too_common][seen], minlength=len(kind_names))
            too_common_counts = {kind_names[int(k)].as_py(): int(c) for k, c in enumerate(per_kind) if c}
        size = n_account_nodes + n_identifiers
        rows, cols = account_node[link], n_account_nodes + identifier[link]
        graph = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(size, size)).tocsr()
        _, components = connected_components(graph, directed=False)
        label = components[:n].astype(np.int64)

        # linked_by: distinct (scored account, kind) over the link rows, in account then kind order
        mine = link & (account_node < n)
        pairs = np.unique(account_node[mine] * len(kind_names) + kind_code[mine])
        owner, kind = pairs // len(kind_names), pairs % len(kind_names)
        counts = np.bincount(owner, minlength=n)
        linked_offsets[1:] = np.cumsum(counts)
        linked_values = kind_names.take(pa.array(kind))

    # group size and smallest member, from the component labels of the scored accounts
    group = label  # component labels are 0 .. n_components - 1
    group_size = np.bincount(group)
    order = _sort_order(accounts)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n, dtype=np.int64)
    smallest = np.full(len(group_size), n, dtype=np.int64)
    np.minimum.at(smallest, group, rank)
    head = accounts.take(pa.array(order[smallest[group]] if n else np.array([], np.int64)))
    group_id = pc.binary_join_element_wise(pa.scalar("G:"), head, pa.scalar(""))
    sizes = group_size[group].astype(np.int64)

    linked_by = pa.ListArray.from_arrays(pa.array(linked_offsets, pa.int32()), linked_values)
    if relationships is not None and n and (sizes == 1).any():
        # a singleton shares values only with unscored accounts: nothing to review together
        empty = sizes == 1
        lengths = np.diff(linked_offsets)
        lengths[empty] = 0
        keep = np.repeat(~empty, np.diff(linked_offsets))
        offsets = np.zeros(n + 1, dtype=np.int32)
        offsets[1:] = np.cumsum(lengths)
        linked_by = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), linked_values.filter(pa.array(keep)))

    metadata = {TOO_COMMON_KEY: json.dumps(too_common_counts, sort_keys=True).encode()}
    schema = GROUPS_SCHEMA.with_metadata(metadata)
    return pa.Table.from_arrays(
        [accounts, group_id.cast(pa.string()), pa.array(sizes, pa.int64()), linked_by], schema=schema
    )


# -- roll-up ---------------------------------------------------------------------------------


def _column(table: pa.Table, name: str, what: str, origin: str) -> pa.Array:
    if name not in table.column_names:
        raise DataError(f"{origin}: no '{name}' column ({what}).")
    return table[name].combine_chunks()


def roll_up(scores, groups, /) -> pa.Table:
    """One row per relationship group, ranked by its riskiest member.

    Parameters
    ----------
    scores : pyarrow.Table
        ``account`` (string) and ``score`` (float64; any integer or floating type is cast),
        one row per account, higher meaning more suspicious. Null or NaN scores are refused.
    groups : pyarrow.Table
        Result of :func:`relationship_groups` over the same accounts.

    Returns
    -------
    pyarrow.Table
        :data:`ROLLUP_SCHEMA`, one row per group:

        - ``group_id`` (string);
        - ``members`` (list<string>): the group's accounts, sorted;
        - ``group_size`` (int64): number of members;
        - ``group_score`` (float64): the largest member score;
        - ``top_account`` (string): the member with that score, the smallest id on a tie;
        - ``linked_by`` (list<string>): the kinds that link the members, sorted (union of the
          members' ``linked_by``).

        Sorted by ``group_score`` descending, then ``group_id``.

    Raises
    ------
    TypeError
        An argument is not a table.
    DataError
        A column is missing or of the wrong type, a score is null or NaN, an account is
        repeated, or the two tables do not cover the same accounts (counts are given, never
        ids).
    """
    for name, table in (("scores", scores), ("groups", groups)):
        if not isinstance(table, pa.Table):
            raise TypeError(f"{name} must be a pyarrow.Table; got {type(table).__name__}.")
    account = _accounts_array(_column(scores, "account", "the scored account ids", "scores"))
    score = _column(scores, "score", "one float64 per account", "scores")
    if not (pa.types.is_floating(score.type) or pa.types.is_integer(score.type)):
        raise DataError(f"scores: column 'score' must be float64; found {score.type}.")
    score = score.cast(pa.float64())
    if score.null_count:
        raise DataError(f"scores: {score.null_count} null score(s); score every account.")
    score_np = score.to_numpy(zero_copy_only=False)
    if np.isnan(score_np).any():
        raise DataError(f"scores: {int(np.isnan(score_np).sum())} NaN score(s); score every account.")

    member = _accounts_array(_column(groups, "account", "the grouped account ids", "groups"))
    group_id = _column(groups, "group_id", "from relationship_groups", "groups")
    linked = _column(groups, "linked_by", "from relationship_groups", "groups")
    if not pa.types.is_string(group_id.type) or group_id.null_count:
        raise DataError("groups: column 'group_id' must be non-null strings (from relationship_groups).")
    if not (pa.types.is_list(linked.type) and pa.types.is_string(linked.type.value_type)):
        raise DataError(f"groups: column 'linked_by' must be list<string>; found {linked.type}.")

    where = pc.index_in(member, value_set=account)
    if where.null_count or len(member) != len(account):
        missing = where.null_count
        extra = len(account) - (len(member) - missing)
        raise DataError(
            f"scores and groups cover different accounts: {missing} grouped account(s) have no score and "
            f"{extra} scored account(s) are in no group; build both from the same account index."
        )
    member_score = score_np[where.to_numpy(zero_copy_only=False).astype(np.int64)]

    n = len(member)
    group_names = pc.unique(group_id).sort()
    gcode = pc.index_in(group_id, value_set=group_names).to_numpy(zero_copy_only=False).astype(np.int64)
    order = _sort_order(member)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n, dtype=np.int64)

    by_member = np.lexsort((rank, gcode))
    size = np.bincount(gcode, minlength=len(group_names)).astype(np.int64)
    offsets = np.zeros(len(group_names) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(size)
    by_score = np.lexsort((rank, -member_score, gcode))
    top = by_score[offsets[:-1]]

    kinds = pc.list_flatten(linked)
    parent = pc.list_parent_indices(linked).to_numpy(zero_copy_only=False).astype(np.int64)
    kind_names = pc.unique(kinds).sort() if len(kinds) else pa.array([], pa.string())
    kind_code = pc.index_in(kinds, value_set=kind_names).to_numpy(zero_copy_only=False).astype(np.int64)
    pairs = np.unique(gcode[parent] * max(len(kind_names), 1) + kind_code)
    kind_offsets = np.zeros(len(group_names) + 1, dtype=np.int64)
    kind_offsets[1:] = np.cumsum(np.bincount(pairs // max(len(kind_names), 1), minlength=len(group_names)))
    kind_values = kind_names.take(pa.array(pairs % max(len(kind_names), 1)))

    rollup = pa.Table.from_arrays(
        [
            group_names.cast(pa.string()),
            pa.LargeListArray.from_arrays(pa.array(offsets), member.take(pa.array(by_member))).cast(
                pa.list_(pa.string())),
            pa.array(size, pa.int64()),
            pa.array(member_score[top], pa.float64()),
            member.take(pa.array(top)),
            pa.LargeListArray.from_arrays(pa.array(kind_offsets), kind_values).cast(pa.list_(pa.string())),
        ],
        schema=ROLLUP_SCHEMA,
    )
    ranking = np.lexsort((np.arange(len(group_names)), -member_score[top]))
    return rollup.take(pa.array(ranking)).combine_chunks()
