"""--pseudonymize: no raw account id in any output, keyed and deterministic pseudonyms, the key
never written, the map only when asked; and --fail-on-alerts."""

from __future__ import annotations

import csv
import hashlib
import json
import re

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from flowscan.cli import app
from flowscan.errors import ConfigError, DataError
from flowscan.explain import explain
from flowscan.fixtures import SYNTHETIC_SAMPLE
from flowscan.options import ReadOptions
from flowscan.pseudonymize import KEY_VARIABLE, key_from_env, key_id, pseudonym, pseudonymize
from flowscan.scan import ScanOptions, scan, write_run
from flowscan.score import AlertPolicy, ScoreOptions
from ledgers import write_csv

runner = CliRunner()
SAMPLE = SYNTHETIC_SAMPLE / "transactions.parquet"
KEY = b"first test key, 32 bytes or more!"
OTHER_KEY = b"second test key, also long enough"
PSEUDONYM = re.compile(r"^P-[0-9a-f]{16}$")


def _raw_ids(path) -> list[str]:
    table = pq.read_table(path, columns=["sender", "receiver"])
    ids = pc.unique(pa.concat_arrays([table.column("sender").combine_chunks(),
                                      table.column("receiver").combine_chunks()]))
    return sorted(ids.filter(pc.is_valid(ids)).to_pylist())


def _decoded(path) -> str:
    """A file's content as text: Parquet decoded to its rows (the bytes are compressed), others as they are."""
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        return json.dumps(table.to_pylist(), default=str) + str(table.schema.metadata)
    return path.read_text(encoding="utf-8")


def _substrings(blob, ids: set) -> set:
    """The ids (all digits, as in the sample) that occur in ``blob`` (text or bytes) as a substring:
    every window of each id length inside every run of digits."""
    digits = rb"\d+" if isinstance(blob, bytes) else r"\d+"
    assert all(i.isdigit() for i in ids)
    found = set()
    sizes = {len(i) for i in ids}
    for run in re.findall(digits, blob):
        for size in sizes:
            found |= ids & {run[k:k + size] for k in range(len(run) - size + 1)}
    return found


@pytest.fixture(scope="module")
def result():
    return scan(SAMPLE)


@pytest.fixture(scope="module")
def runs(result, tmp_path_factory):
    base = tmp_path_factory.mktemp("pseudonymized")
    write_run(result, base / "a", pseudonym_key=KEY, pseudonym_map=base / "map.csv", exports=("csv", "jsonl"))
    write_run(result, base / "b", pseudonym_key=KEY, exports=("jsonl", "csv"))
    write_run(result, base / "c", pseudonym_key=OTHER_KEY)
    return base


def test_no_raw_account_id_in_any_byte_of_any_output(runs):
    ids = _raw_ids(SAMPLE)
    files = sorted((runs / "a").iterdir())
    assert {p.name for p in files} >= {"accounts.parquet", "alerts.parquet", "evidence.parquet", "rejects.parquet",
                                       "alerts.csv", "evidence.jsonl", "manifest.json"}
    for path in files:
        leaked = _substrings(path.read_bytes(), {a.encode() for a in ids}) | _substrings(_decoded(path), set(ids))
        assert not leaked, f"{path.name} holds {len(leaked)} raw account ids"


def test_every_account_column_holds_pseudonyms(runs):
    accounts = pq.read_table(runs / "a" / "accounts.parquet")
    assert all(PSEUDONYM.match(a) for a in accounts.column("account").to_pylist())
    alerts = pq.read_table(runs / "a" / "alerts.parquet").to_pylist()
    evidence = pq.read_table(runs / "a" / "evidence.parquet")
    for alert in alerts:
        derived = hashlib.sha256(f"flowscan-alert\x1f{alert['account']}".encode()).hexdigest()[:16]
        assert alert["alert_id"] == "A-" + derived
        for instance_id in alert["instance_ids"] + [r["instance_id"] for r in alert["reasons"]]:
            assert PSEUDONYM.match(instance_id.split("/")[1]), instance_id
    assert set(evidence.column("alert_id").to_pylist()) <= {a["alert_id"] for a in alerts}
    for side in ("sender", "receiver"):
        assert all(PSEUDONYM.match(v) for v in evidence.column(side).drop_null().to_pylist())


def test_pseudonymised_outputs_keep_the_analysis(result, runs):
    """Same rows, ranks, scores and evidence: only the ids change."""
    plain = result.alerts
    pseudo = pq.read_table(runs / "a" / "alerts.parquet")
    for name in ("rank", "score", "scenarios", "typologies", "key_term", "window_start"):
        assert pseudo.column(name).equals(plain.column(name)), name
    assert pq.read_table(runs / "a" / "evidence.parquet").column("txn_id").equals(result.evidence.column("txn_id"))


def test_same_key_gives_identical_outputs_and_another_key_other_pseudonyms(runs):
    for path in sorted((runs / "a").iterdir()):
        if path.name != "manifest.json":
            assert path.read_bytes() == (runs / "b" / path.name).read_bytes(), path.name
    a = set(pq.read_table(runs / "a" / "accounts.parquet").column("account").to_pylist())
    c = set(pq.read_table(runs / "c" / "accounts.parquet").column("account").to_pylist())
    assert len(a) == len(c) and not a & c


def test_manifest_has_the_key_id_not_the_key(runs):
    text = (runs / "a" / "manifest.json").read_text()
    manifest = json.loads(text)
    assert manifest["pseudonymized"]["key_id"] == key_id(KEY) == hashlib.sha256(KEY).hexdigest()[:8]
    assert KEY.decode() not in text and KEY.hex() not in text
    assert json.loads((runs / "c" / "manifest.json").read_text())["pseudonymized"]["key_id"] == key_id(OTHER_KEY)


def test_map_written_only_when_asked(runs):
    with (runs / "map.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(_raw_ids(SAMPLE))
    assert all(pseudonym(r["account"], KEY) == r["pseudonym"] for r in rows)
    assert sorted(p.name for p in runs.iterdir()) == ["a", "b", "c", "map.csv"]


def test_map_needs_the_key_and_stays_outside_the_run(result, tmp_path):
    with pytest.raises(ConfigError, match="needs --pseudonymize"):
        write_run(result, tmp_path / "r", pseudonym_map=tmp_path / "map.csv")
    with pytest.raises(ConfigError, match="inside the run directory"):
        write_run(result, tmp_path / "r", pseudonym_key=KEY, pseudonym_map=tmp_path / "r" / "map.csv")
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        write_run(result, tmp_path / "r", pseudonym_key=b"short")
    assert not any(tmp_path.iterdir())


def test_explain_works_on_pseudonyms(runs):
    top = pq.read_table(runs / "a" / "alerts.parquet").column("account")[0].as_py()
    pack = explain(runs / "a", top)
    assert pack.alerted and pack.evidence
    assert all(t["sender"] is None or PSEUDONYM.match(t["sender"]) for t in pack.evidence)


def test_key_from_env():
    assert key_from_env({KEY_VARIABLE: KEY.decode()}) == KEY
    with pytest.raises(ConfigError, match=KEY_VARIABLE):
        key_from_env({})
    with pytest.raises(ConfigError, match="Got 5 bytes"):
        key_from_env({KEY_VARIABLE: "short"})


def test_cli_without_key_exits_2_before_scanning(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    outcome = runner.invoke(app, ["scan", "--sample", "--out", str(tmp_path / "r"), "--pseudonymize"])
    assert outcome.exit_code == 2
    assert KEY_VARIABLE in outcome.output and "Traceback" not in outcome.output
    outcome = runner.invoke(app, ["scan", "--sample", "--out", str(tmp_path / "r"), "--pseudonym-map",
                                  str(tmp_path / "m.csv")])
    assert outcome.exit_code == 2 and "needs --pseudonymize" in outcome.output
    assert not any(tmp_path.iterdir())


def test_cli_pseudonymize_and_fail_on_alerts(tmp_path, monkeypatch):
    """One CLI run: exit 3 with every output written; the terminal shows pseudonyms only."""
    monkeypatch.setenv(KEY_VARIABLE, KEY.decode())
    out = tmp_path / "run"
    outcome = runner.invoke(app, ["scan", "--sample", "--out", str(out), "--pseudonymize", "--export", "csv",
                                  "--pseudonym-map", str(tmp_path / "map.parquet"), "--fail-on-alerts"])
    assert outcome.exit_code == 3, outcome.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["alerts"] > 0 and "exit code 3" in outcome.output
    for name, entry in manifest["outputs"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == entry["sha256"]
    assert "alerts.csv" in manifest["outputs"] and "evidence.csv" in manifest["outputs"]
    assert pq.read_table(tmp_path / "map.parquet").num_rows == manifest["accounts"]
    assert "P-" in outcome.output
    assert not _substrings(outcome.output, set(_raw_ids(SAMPLE)))


def test_fail_on_alerts_exits_0_without_alerts(tmp_path):
    config = tmp_path / "rules.toml"
    config.write_text("[score.policy]\nmin_score = 1.0\n")
    outcome = runner.invoke(app, ["scan", "--sample", "--out", str(tmp_path / "r"), "--config", str(config),
                                  "--fail-on-alerts"])
    assert outcome.exit_code == 0, outcome.output
    assert json.loads((tmp_path / "r" / "manifest.json").read_text())["alerts"] == 0


# -- a hand-made ledger: ids with "/" and formula characters, a rejected row, relationship groups

HOSTILE = ["=cmd|' /C calc'!A0", "+1", "-2", "@SUM(1)"]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    senders = HOSTILE + [f"S{i:03d}" for i in range(10)]
    records = [(f"T{i:04d}", i * 2, s, HOSTILE[0], "500.00", "USD", "wire", None) for i, s in enumerate(senders)]
    records += [(f"U{i:04d}", 40 + i, HOSTILE[0], HOSTILE[1 + i % 3], "900.00", "USD", "wire", "=HYPERLINK(1)")
                for i in range(4)]
    records.append(("BAD1", 50, "S001", "S002", "not a number", "USD", "wire", None))
    ledger = write_csv(base / "ledger.csv", records)
    side = base / "kyc.csv"
    side.write_text(f'account,phone\n"{HOSTILE[0]}",+15550100000\nS001,+15550100000\n')
    options = ScanOptions(read=ReadOptions(max_reject_rate=0.5),
                          score=ScoreOptions(policy=AlertPolicy(top_k=3, min_score=None)))
    result = scan(ledger, options=options, relationships=side)
    assert result.read.rejects.num_rows == 1 and result.alerts.num_rows == 3 and result.groups is not None
    write_run(result, base / "run", pseudonym_key=KEY, exports=("csv", "jsonl"))
    return result, base / "run", senders


def _cells(path) -> set:
    if path.suffix == ".parquet":
        found = set()

        def walk(value):
            if isinstance(value, dict):
                for v in value.values():
                    walk(v)
            elif isinstance(value, list):
                for v in value:
                    walk(v)
            elif isinstance(value, str):
                found.add(value)
                found.update(value.split("/"))
        walk(pq.read_table(path).to_pylist())
        return found
    text = path.read_text(encoding="utf-8")
    return set(re.split(r"[\",/\n\r\[\]{}:]+", text)) | {text}


def test_hostile_ids_are_pseudonymised_everywhere(hostile):
    result, run, senders = hostile
    ids = set(senders) | set(HOSTILE)
    for path in sorted(run.iterdir()):
        cells = _cells(path)
        assert not ids & cells, path.name
        assert HOSTILE[0] not in path.read_text(encoding="utf-8", errors="replace"), path.name
    rejects = pq.read_table(run / "rejects.parquet").to_pylist()
    assert rejects[0]["raw"] is None and rejects[0]["reason"] == "bad_amount" and rejects[0]["row_number"] > 0
    assert result.read.rejects.column("raw")[0].as_py() is not None  # the library result keeps it
    groups = pq.read_table(run / "groups.parquet").to_pylist()
    linked = [g for g in groups if g["group_size"] == 2][0]
    assert linked["group_id"].startswith("G-") and linked["members"] == sorted(linked["members"])
    assert set(linked["members"]) == {pseudonym(HOSTILE[0], KEY), pseudonym("S001", KEY)}
    accounts = {r["account"]: r for r in pq.read_table(run / "accounts.parquet").to_pylist()}
    assert accounts[pseudonym(HOSTILE[0], KEY)]["group_id"] == linked["group_id"]
    alert = [a for a in pq.read_table(run / "alerts.parquet").to_pylist() if a["scenarios"]][0]
    assert alert["instance_ids"][0].startswith(f"fan_in.30d/{pseudonym(HOSTILE[0], KEY)}/T")


def test_pseudonymize_function_leaves_other_tables_and_keeps_schemas(hostile):
    result, _, _ = hostile
    tables = {"accounts": result.accounts, "alerts": result.alerts, "evidence": result.evidence,
              "rejects": result.read.rejects, "groups": result.groups, "other": pa.table({"x": [1]})}
    out = pseudonymize(tables, KEY)
    assert out["other"] is tables["other"]
    for name in tables:
        assert out[name].schema.equals(tables[name].schema, check_metadata=True), name
        assert out[name].num_rows == tables[name].num_rows


def test_instance_ids_with_slashes_in_ids():
    from flowscan.pseudonymize import _Mapper, pseudonym_table

    accounts = pa.table({"account": ["a", "a/b", "c/d"]})
    done = pseudonymize({"accounts": accounts}, KEY)
    assert done["accounts"].column("account").to_pylist() == [pseudonym(a, KEY) for a in ("a", "a/b", "c/d")]
    mapper = _Mapper(pseudonym_table(accounts.column("account"), KEY), KEY)
    assert mapper._instance_id("fan_in.7d/c/d/T/1") == f"fan_in.7d/{pseudonym('c/d', KEY)}/T/1"
    ambiguous = mapper._instance_id("fan_in.7d/a/b/T1")  # account "a" with txn "b/T1", or "a/b" with "T1"
    assert re.fullmatch(r"fan_in\.7d/I-[0-9a-f]{16}", ambiguous)
    with pytest.raises(DataError, match="does not name an account") as caught:
        mapper._instance_id("fan_in.7d/zzz/T1")
    assert "zzz" not in str(caught.value)
