"""The Spark artifacts build: deterministic, Java release from the env files, pins in step with Dataproc."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from dataproc_jobs.build import JOBS, BuildError, build, java_release_from_environments, main
from dataproc_jobs.orders import schema
from deployer.config import load_all

REPO = Path(__file__).resolve().parents[2]


def test_same_sources_give_byte_identical_artifacts(built_jobs: Path, tmp_path: Path) -> None:
    again = build(tmp_path / "again")
    assert again.files == {p.name: again.files[p.name] for p in sorted(built_jobs.iterdir())}
    for name in again.files:
        assert (built_jobs / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name


def test_jobs_json_lists_relative_artifacts_and_connectors(built_jobs: Path) -> None:
    jobs = json.loads((built_jobs / "jobs.json").read_text())
    assert jobs == {
        "jobs": {
            "orders_clean": {
                "main": "orders_clean.py",
                "py_files": ["dataproc_jobs.zip"],
                "jars": ["orders-udfs.jar"],
                "connectors": ["spark-bigquery"],
            }
        }
    }
    for job in jobs["jobs"].values():
        for name in [job["main"], *job["py_files"], *job["jars"]]:
            assert (built_jobs / name).is_file()
        for connector in job["connectors"]:
            assert all(connector in env.dataproc.connectors for env in load_all().values())
    assert set(jobs["jobs"]) == set(JOBS)


def test_zip_holds_the_package_only_with_fixed_timestamps(built_jobs: Path) -> None:
    with zipfile.ZipFile(built_jobs / "dataproc_jobs.zip") as zf:
        names = zf.namelist()
        assert names == sorted(names)
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert "dataproc_jobs/orders/job.py" in names and "dataproc_jobs/__init__.py" in names
    assert not [n for n in names if "build" in n or "sample_data" in n or "__pycache__" in n]


def test_jar_targets_the_dataproc_java_release(built_jobs: Path) -> None:
    release = java_release_from_environments()
    assert release == 11
    with zipfile.ZipFile(built_jobs / "orders-udfs.jar") as jar:
        (name,) = [n for n in jar.namelist() if n.endswith(".class")]
        data = jar.read(name)
    assert name == "com/acme/orders/udf/PiiHash.class"
    assert data[:4] == b"\xca\xfe\xba\xbe"
    assert int.from_bytes(data[6:8], "big") == 44 + release  # class file major version of Java 11 is 55


def test_pyspark_pin_matches_the_dataproc_spark_line() -> None:
    lines = {env.dataproc.spark_line for env in load_all().values()}
    assert len(lines) == 1
    (line,) = lines
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    (pin,) = [d for d in pyproject["project"]["dependencies"] if d.replace(" ", "").startswith("pyspark")]
    major, minor = line.split(".")
    assert pin.replace(" ", "").split("#")[0] == f"pyspark>={line},<{major}.{int(minor) + 1}"
    assert importlib.metadata.version("pyspark").startswith(f"{line}.")


def test_job_schema_mirrors_the_contract() -> None:
    from contracts.model import load_contract

    contract = load_contract()
    for section, columns in (
        ("event", schema.EVENT_COLUMNS),
        ("staging", schema.STAGING_COLUMNS),
        ("rejects", schema.REJECTS_COLUMNS),
    ):
        assert [(c.name, c.type, c.mode == "REQUIRED") for c in contract.columns(section)] == list(columns), (
            section
        )
    assert contract.staging.partition_by == schema.STAGING_PARTITION
    assert contract.rejects.partition_by == schema.REJECTS_PARTITION
    sys.path.insert(0, str(REPO / "composer" / "dags"))
    from orders_platform.warehouse import REJECTS_TABLE, STAGING_TABLE

    assert (contract.staging.table, contract.rejects.table) == (STAGING_TABLE, REJECTS_TABLE)


def test_build_refuses_a_non_empty_outdir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "stale.txt").write_text("x")
    with pytest.raises(BuildError, match="not an empty folder"):
        build(tmp_path)
    assert main([str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().startswith("error: OUTDIR:")


def test_javac_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataproc_jobs import build as build_module

    src = tmp_path / "src" / "x"
    src.mkdir(parents=True)
    (src / "Broken.java").write_text("package x; public class Broken { int }")
    broken = build_module.JarSpec(name="broken", sources=tmp_path / "src", classpath=())
    with pytest.raises(BuildError, match=r"javac failed for broken: .*Broken\.java"):
        build_module.build_jar(broken, tmp_path / "broken.jar", 11)


def test_sample_data_cli(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "dataproc_jobs.sample_data", "--out", str(tmp_path), "--date", "2026-01-15"]
    done = subprocess.run([*cmd, "--rows", "200", "--days", "2"], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    summaries = [json.loads(line) for line in done.stdout.splitlines()]
    assert [s["ingest_date"] for s in summaries] == ["2026-01-14", "2026-01-15"]
    lines = (tmp_path / "ingest_date=2026-01-15" / "part-00000.jsonl").read_text().splitlines()
    assert len(lines) == 200 == summaries[1]["rows"]
    again = subprocess.run([*cmd, "--rows", "200", "--days", "2"], capture_output=True, text=True, cwd=REPO)
    assert again.stdout == done.stdout  # deterministic
    bad = subprocess.run([*cmd[:-1], "2026-02-30", "--rows", "5"], capture_output=True, text=True, cwd=REPO)
    assert (
        bad.returncode == 2
        and bad.stderr.strip() == "error: argument --date: '2026-02-30' is not a YYYY-MM-DD date"
    )
