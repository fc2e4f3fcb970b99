"""The Spark artifacts build: jobs from the domain declarations, one deterministic zip per job package,
jars from every Java source folder, the Java release from the env files, pins in step with Dataproc."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from dataproc_jobs.build import BuildError, JarSpec, build, build_jar, java_release_from_environments, main
from dataproc_jobs.common import contract
from platform_model.domain import load_domains
from platform_model.environment import load_all

REPO = Path(__file__).resolve().parents[2]
COPIED = ("dataproc_jobs", "domains", "environments", "platform_model")
NEW_JAR = """package com.acme.payments.udf;

public final class Cents {
  public static long of(double amount) { return Math.round(amount * 100); }
}
"""


def test_same_sources_give_byte_identical_artifacts(built_jobs: Path, tmp_path: Path) -> None:
    again = build(tmp_path / "again")
    assert sorted(again.files) == sorted(p.name for p in built_jobs.iterdir())
    for name in again.files:
        assert (built_jobs / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name


def test_jobs_json_follows_the_domain_declarations(built_jobs: Path) -> None:
    jobs = json.loads((built_jobs / "jobs.json").read_text())["jobs"]
    declared = {
        job: (domain.job_package(job), spec.jars, spec.connectors)
        for domain in load_domains().values()
        for job, spec in domain.spark_jobs.items()
    }
    assert set(jobs) == set(declared) >= {"orders_clean", "customers_clean"}
    for name, (package, jars, connectors) in declared.items():
        assert jobs[name] == {
            "main": f"{name}.py",
            "py_files": [f"{package}.zip"],
            "jars": [f"{jar}.jar" for jar in jars],
            "connectors": connectors,
        }
        for artifact in [jobs[name]["main"], *jobs[name]["py_files"], *jobs[name]["jars"]]:
            assert (built_jobs / artifact).is_file()
        for connector in connectors:
            assert all(connector in env.dataproc.connectors for env in load_all().values())
    assert jobs["orders_clean"]["jars"] == ["orders-udfs.jar"]  # the orders job keeps its Java UDF
    assert (built_jobs / "orders_clean.py").read_bytes() == (
        REPO / "dataproc_jobs" / "entrypoints" / "orders_clean.py"
    ).read_bytes()


def _names(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as zf:
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        return zf.namelist()


def test_each_package_has_its_own_zip_with_the_shared_code(built_jobs: Path) -> None:
    packages = {p.stem for p in built_jobs.glob("*.zip")}
    assert packages == {"orders", "customers"}
    for package in packages:
        names = _names(built_jobs / f"{package}.zip")
        assert names == sorted(names)
        assert {
            "dataproc_jobs/__init__.py",
            "dataproc_jobs/common/job.py",
            f"dataproc_jobs/{package}/job.py",
        } <= set(names)
        others = {n.split("/")[1] for n in names if n.count("/") > 1} - {"common", package}
        assert not others, f"{package}.zip holds other packages: {others}"
        assert not [
            n for n in names if n.endswith(("sample.py", "build.py", "sample_data.py")) or "pycache" in n
        ]
        # What the job needs on Dataproc is in its zip: every module it imports resolves inside it.
        assert f"dataproc_jobs/{package}/transform.py" in names


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


def test_each_zip_carries_its_domain_contract_and_runs_without_the_repo(
    built_jobs: Path, tmp_path: Path
) -> None:
    checked = []
    for domain in load_domains().values():
        assert domain.staging is not None or not domain.spark_jobs
        for package in sorted({domain.job_package(job) for job in domain.spark_jobs}):
            shipped = built_jobs / f"{package}.zip"
            with zipfile.ZipFile(shipped) as zf:
                assert json.loads(zf.read(f"dataproc_jobs/{package}/contract.json")) == contract.document(
                    domain
                )
            # As on Dataproc: dataproc_jobs comes from the zip and the model is nowhere to import.
            code = (
                "import sys, json; sys.modules['platform_model'] = None; sys.path.insert(0, sys.argv[1]); "
                f"import dataproc_jobs; from dataproc_jobs.{package} import job, schema; "
                "print(json.dumps([dataproc_jobs.__file__, list(schema.CONTRACT.staging.names)]))"
            )
            done = subprocess.run(
                [sys.executable, "-c", code, str(shipped)], cwd=tmp_path, capture_output=True, text=True
            )
            assert done.returncode == 0, done.stderr
            where, staging = json.loads(done.stdout)
            assert where.startswith(str(shipped)) and staging == [c.name for c in domain.staging.columns]
            checked.append(package)
    assert sorted(checked) == ["customers", "orders"]


def test_build_refuses_a_non_empty_outdir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "stale.txt").write_text("x")
    with pytest.raises(BuildError, match="not an empty folder"):
        build(tmp_path)
    assert main([str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().startswith("error: OUTDIR:")


def test_javac_errors_are_one_line(tmp_path: Path) -> None:
    src = tmp_path / "src" / "x"
    src.mkdir(parents=True)
    (src / "Broken.java").write_text("package x; public class Broken { int }")
    with pytest.raises(BuildError, match=r"javac failed for broken: .*Broken\.java"):
        build_jar(JarSpec(name="broken", sources=tmp_path / "src"), tmp_path / "broken.jar", 11)


# -- a copy of the repository, as a new user changes it ------------------------------------------------


def copy_repo(root: Path) -> Path:
    """The parts of the repo the Spark build reads, copied to `root`."""
    for name in COPIED:
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return root


def add_domain(root: Path, name: str = "payments") -> None:
    """A third domain from files only: the customers domain's own files copied and renamed, plus a jar."""
    text = (root / "domains" / "customers.yaml").read_text().replace("customers", name)
    text = text.replace(
        f"{name}_clean: {{connectors: [spark-bigquery]}}",
        f"{name}_clean: {{jars: [{name}-udfs], connectors: [spark-bigquery]}}",
    )
    (root / "domains" / f"{name}.yaml").write_text(text)
    package = root / "dataproc_jobs" / name
    shutil.copytree(root / "dataproc_jobs" / "customers", package)
    for module in package.glob("*.py"):
        module.write_text(module.read_text().replace("dataproc_jobs.customers", f"dataproc_jobs.{name}"))
    entry = (root / "dataproc_jobs" / "entrypoints" / "customers_clean.py").read_text()
    (root / "dataproc_jobs" / "entrypoints" / f"{name}_clean.py").write_text(entry.replace("customers", name))
    java = root / "dataproc_jobs" / "java" / f"{name}-udfs" / "src" / "com" / "acme" / name / "udf"
    java.mkdir(parents=True)
    (java / "Cents.java").write_text(NEW_JAR)


@pytest.fixture(scope="module")
def third_domain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a repo copy with a third domain added from files only, its build by the copy's own CLI)."""
    root = copy_repo(tmp_path_factory.mktemp("repo"))
    add_domain(root)
    out = root / "out"
    done = subprocess.run(
        [sys.executable, "-m", "dataproc_jobs.build", str(out)], cwd=root, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return root, out


def test_a_new_domain_gets_its_job_built_without_editing_the_build(third_domain: tuple[Path, Path]) -> None:
    root, out = third_domain
    assert (root / "dataproc_jobs" / "build.py").read_bytes() == (
        REPO / "dataproc_jobs" / "build.py"
    ).read_bytes()
    jobs = json.loads((out / "jobs.json").read_text())["jobs"]
    assert jobs["payments_clean"] == {
        "main": "payments_clean.py",
        "py_files": ["payments.zip"],
        "jars": ["payments-udfs.jar"],
        "connectors": ["spark-bigquery"],
    }
    assert {"orders_clean", "customers_clean"} <= set(jobs)
    assert "dataproc_jobs/payments/transform.py" in _names(out / "payments.zip")
    with zipfile.ZipFile(out / "payments-udfs.jar") as jar:
        assert jar.namelist() == ["com/acme/payments/udf/Cents.class"]


def test_a_change_to_one_package_changes_only_its_zip(
    third_domain: tuple[Path, Path], tmp_path: Path
) -> None:
    root, first = third_domain
    module = root / "dataproc_jobs" / "payments" / "transform.py"
    original = module.read_text()
    module.write_text(original + "\n# a change inside the payments job only\n")
    try:
        second = build(tmp_path / "out", root=root)
    finally:
        module.write_text(original)
    changed = sorted(
        n for n in second.files if (first / n).read_bytes() != (tmp_path / "out" / n).read_bytes()
    )
    assert changed == ["payments.zip"]
    assert sorted(second.files) == sorted(p.name for p in first.iterdir())


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (
            lambda root: (root / "dataproc_jobs" / "entrypoints" / "customers_clean.py").unlink(),
            "error: domains/customers.yaml: spark_jobs.customers_clean: "
            "no entry point dataproc_jobs/entrypoints/customers_clean.py",
        ),
        (
            lambda root: shutil.rmtree(root / "dataproc_jobs" / "java" / "orders-udfs"),
            "error: domains/orders.yaml: spark_jobs.orders_clean.jars: no sources for jar 'orders-udfs' "
            "under dataproc_jobs/java/orders-udfs/src (found: none)",
        ),
        (
            lambda root: shutil.rmtree(root / "dataproc_jobs" / "customers"),
            "error: domains/customers.yaml: spark_jobs.customers_clean: "
            "no package dataproc_jobs/customers/ (with an __init__.py)",
        ),
        (
            lambda root: (root / "domains" / "customers.yaml").write_text(
                (root / "domains" / "customers.yaml").read_text().replace("[spark-bigquery]", "[spark-nope]")
            ),
            "error: domains/customers.yaml: spark_jobs.customers_clean.connectors: ['spark-nope'] are not "
            "in every environment's dataproc.connectors",
        ),
        (
            lambda root: (root / "domains" / "customers.yaml").write_text(
                (root / "domains" / "customers.yaml")
                .read_text()
                .replace("{connectors:", "{package: orders, connectors:")
            ),
            "error: domains/orders.yaml: spark_jobs.orders_clean: package dataproc_jobs/orders/ is "
            "already the package of a job of domains/customers.yaml",
        ),
    ],
    ids=["entry-point", "jar-sources", "package", "connector", "shared-package"],
)
def test_what_a_domain_declares_but_lacks_is_one_line_exit_2(
    tmp_path: Path, breakage: object, expected: str
) -> None:
    root = copy_repo(tmp_path / "repo")
    breakage(root)  # type: ignore[operator]
    done = subprocess.run(
        [sys.executable, "-m", "dataproc_jobs.build", str(tmp_path / "out")],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(expected), done.stderr
    assert not (tmp_path / "out").exists()  # checked before anything is written
