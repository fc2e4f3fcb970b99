"""What the job tests share: raw files, job arguments, reading outputs, the expected hash, contract types."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from dataproc_jobs.common.cli import JobArgs, parse_args

DAY = dt.date(2026, 1, 15)
KEY = "test-key-not-secret"

# What a BigQuery column type is as a Spark type in the job's parquet output.
SPARK_TYPES = {
    "STRING": "string",
    "INT64": "bigint",
    "NUMERIC": "decimal(38,9)",
    "FLOAT64": "double",
    "BOOL": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "BYTES": "binary",
}


def write_day(raw: Path, day: str, lines: list[Any]) -> None:
    """One ingest day of raw lines (dicts are JSON-encoded, strings written as they are)."""
    folder = raw / f"ingest_date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    (folder / "part-00000.jsonl").write_text(text + "\n", encoding="utf-8")


def job_args(tmp: Path, *extra: str, **over: Any) -> JobArgs:
    """The job's arguments on `tmp/raw`, `tmp/staging`, `tmp/rejects`, `tmp/metrics.json` for DAY."""
    argv = ["--date", DAY.isoformat(), "--input", str(tmp / "raw"), "--output", str(tmp / "staging")]
    argv += ["--rejects", str(tmp / "rejects"), "--metrics-out", str(tmp / "metrics.json"), *extra]
    args = parse_args("test", "test", argv)
    return JobArgs(**{**args.__dict__, **over})


def rows(spark: Any, path: Path) -> list[dict[str, Any]]:
    """Every row of a parquet output, in a stable order."""
    return sorted(
        (r.asDict() for r in spark.read.parquet(str(path)).collect()),
        key=lambda r: json.dumps(r, sort_keys=True, default=str),
    )


def expected_hash(value: str, key: str = KEY) -> str:
    """HMAC-SHA256 (hex) of the trimmed, lower-cased value: what the contract says the hash is."""
    return hmac.new(key.encode(), value.strip().lower().encode(), hashlib.sha256).hexdigest()


def assert_contract_outputs(spark: Any, tmp: Path, domain: Any) -> None:
    """The staging and rejects a run wrote under `tmp` have the domain contract's columns and types,
    and no null in a REQUIRED column."""
    assert domain.staging is not None and domain.rejects is not None
    for path, table in ((tmp / "staging", domain.staging), (tmp / "rejects", domain.rejects)):
        written = {f.name: f.dataType.simpleString() for f in spark.read.parquet(str(path)).schema.fields}
        assert written == {c.name: SPARK_TYPES[c.type] for c in table.columns}, table.table
        required = [c.name for c in table.columns if c.mode == "REQUIRED"]
        assert not [(r, n) for r in rows(spark, path) for n in required if r[n] is None], table.table
