"""The environment model: the committed files load, the schema is fresh, bad files get one clear line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deployer.commands.env_commands import SCHEMA_PATH, schema_text
from platform_model.domain import DOMAINS_DIR, domain_files
from platform_model.environment import ENVIRONMENTS_DIR, environment_names, load_all

REQUIRED = {"dev", "staging", "prod", "local"}


def run_validate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deployer", "validate", *args], capture_output=True, text=True, check=False
    )


def test_every_environment_loads() -> None:
    envs = load_all()
    assert set(envs) >= REQUIRED
    assert {n for n, e in envs.items() if e.platform == "gcp"} == {"dev", "staging", "prod"}
    assert envs["prod"].promotion.requires_approval
    assert not envs["dev"].promotion.requires_approval
    # one release store for every GCP environment: the bits staging got are the bits prod gets
    assert len({envs[n].promotion.release_store for n in ("dev", "staging", "prod")}) == 1


def test_committed_schema_is_fresh() -> None:
    assert SCHEMA_PATH.read_text() == schema_text(), (
        "run `make schema` and commit schemas/environment.schema.json"
    )


def test_validate_cli_ok() -> None:
    proc = run_validate()
    assert proc.returncode == 0, proc.stderr
    for name in REQUIRED:
        assert f"ok  {name}:" in proc.stdout
    envs, domains = len(environment_names()), len(domain_files(DOMAINS_DIR))
    assert proc.stdout.strip().splitlines()[-1] == f"validated {envs} environment files and {domains} domains"
    assert "; domains: customers, orders, revenue" in proc.stdout


def _write(tmp_path: Path, name: str, mutate) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load((ENVIRONMENTS_DIR / "dev.yaml").read_text())
    data = mutate(data) or data
    target = tmp_path / f"{name}.yaml"
    target.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return target


def _del(path: str):  # type: ignore[no-untyped-def]
    def go(d):  # type: ignore[no-untyped-def]
        *head, last = path.split(".")
        for h in head:
            d = d[h]
        del d[last]

    return go


def _set(path: str, value: object):  # type: ignore[no-untyped-def]
    def go(d):  # type: ignore[no-untyped-def]
        *head, last = path.split(".")
        for h in head:
            d = d[h]
        d[last] = value

    return go


BAD = [
    ("missing field", _del("project"), r"dev\.yaml: project: Field required"),
    ("missing label", _del("labels.owner"), r"labels\.owner: Field required"),
    (
        "wrong type",
        _set("dataproc.autoscaling.primary_min", "many"),
        r"dataproc\.autoscaling\.primary_min: .*integer",
    ),
    ("unknown key", _set("network.vpn", "yes"), r"network\.vpn: Extra inputs are not permitted"),
    (
        "bad cidr",
        _set("network.subnet_cidr", "10.0.0.0/33"),
        r"network\.subnet_cidr: '10\.0\.0\.0/33' is not a valid",
    ),
    ("overlap", _set("network.composer_cidr", "10.10.4.0/24"), r"network: ranges .* overlap"),
    ("env label", _set("labels.env", "prod"), r"labels\.env is 'prod' but the environment is 'dev'"),
    (
        "topics come from the domains",
        _set("pubsub", {"topics": {"orders-events": {}}}),
        r"pubsub\.topics: Extra inputs are not permitted",
    ),
    (
        "unknown override field",
        _set("domains", {"orders": {"schedule": "@daily"}}),
        r"domains\.orders\.schedule: Extra inputs are not permitted",
    ),
    ("dataproc image", _set("dataproc.image_version", "1.5-debian10"), r"unknown Dataproc image line"),
]


@pytest.mark.parametrize(("label", "mutate", "expected"), BAD, ids=[b[0] for b in BAD])
def test_bad_files_get_one_clear_line(tmp_path: Path, label: str, mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    _write(tmp_path, "dev", mutate)
    proc = run_validate("--dir", str(tmp_path))
    assert proc.returncode == 2, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert re.search(expected, lines[0]), lines[0]
    assert lines[0].startswith(f"error: {tmp_path / 'dev.yaml'}")


# Overrides that parse but do not fit the domains: found when the domains are resolved for the file.
BAD_OVERRIDES = [
    (
        "unknown domain",
        {"payments": {"enabled": False}},
        r"^error: environments/dev\.yaml: domains\.payments: no such domain in domains/ \(known: ",
    ),
    (
        "unknown DAG",
        {"orders": {"dags": {"hourly": {"retries": 1}}}},
        r"^error: environments/dev\.yaml: domains\.orders\.dags\.hourly: domain 'orders' declares no",
    ),
    (
        "input switched off",
        {"orders": {"enabled": False}},
        r"^error: environments/dev\.yaml: domains\.orders\.enabled: is false, but domain 'revenue' reads it",
    ),
    (
        "bad cron",
        {"customers": {"dags": {"daily": {"schedule": "sometimes"}}}},
        r"^error: environments/dev\.yaml: domains\.customers\.dags\.daily: schedule: .*not a cron",
    ),
]


@pytest.mark.parametrize(("label", "domains", "expected"), BAD_OVERRIDES, ids=[b[0] for b in BAD_OVERRIDES])
def test_bad_domain_overrides_get_one_clear_line(
    tmp_path: Path, label: str, domains: dict[str, object], expected: str
) -> None:
    _write(tmp_path, "dev", _set("domains", domains))
    proc = run_validate("--dir", str(tmp_path))
    assert proc.returncode == 2, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert re.search(expected, lines[0]), lines[0]


def test_an_override_switching_a_domain_off_validates(tmp_path: Path) -> None:
    _write(tmp_path, "dev", _set("domains", {"revenue": {"enabled": False}}))
    proc = run_validate("--dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "ok  dev: gcp project acme-data-dev in europe-west1; domains: customers, orders " in proc.stdout
    assert "(switched off: revenue)" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "validated 1 environment file and 3 domains"


def _copy_domains(tmp_path: Path) -> Path:
    target = tmp_path / "domains"
    target.mkdir()
    for path in domain_files(DOMAINS_DIR):
        (target / path.name).write_text(path.read_text())
    return target


def test_bad_domain_file_gets_one_clear_line(tmp_path: Path) -> None:
    domains = _copy_domains(tmp_path)
    orders = domains / "orders.yaml"
    orders.write_text(orders.read_text().replace("topic: orders-events", "topic: Orders Events", 1))
    proc = run_validate("--domains-dir", str(domains))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"error: {orders}: event.topic: String should match pattern"), lines[0]


def test_pii_tag_missing_from_a_taxonomy(tmp_path: Path) -> None:
    def drop_address(d: dict) -> None:  # type: ignore[type-arg]
        tags = d["bigquery"]["taxonomy"]["policy_tags"]
        d["bigquery"]["taxonomy"]["policy_tags"] = [t for t in tags if t["display_name"] != "PII Address"]

    _write(tmp_path, "dev", drop_address)
    proc = run_validate("--dir", str(tmp_path))
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert re.search(
        r"^error: domains/\w+\.yaml: .*\.pii: policy tag 'PII Address' is not in the taxonomy "
        r"of environments/dev\.yaml",
        line,
    ), line


def test_unknown_environment_name() -> None:
    proc = run_validate("qa")
    assert proc.returncode == 2
    assert "unknown environment 'qa'" in proc.stderr and "known: dev" in proc.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("name: [unclosed\n", r"invalid YAML"),
        ("- a\n- b\n", r"expected a mapping"),
        ("a: &a [1, 2]\nb: &b [*a, *a]\nc: [*b, *b]\n", r"YAML aliases .* not allowed"),
        ("x" * 300_000, r"larger than"),
        ("a: " + "[" * 50_000 + "]" * 50_000 + "\n", r"nested too deeply"),
        ("name: dev\nproject: a\nproject: b\n", r"line 3: invalid YAML: key 'project' is given twice"),
    ],
    ids=["syntax", "not a mapping", "alias bomb", "huge", "deep nesting", "duplicate key"],
)
def test_malformed_yaml(tmp_path: Path, content: str, expected: str) -> None:
    (tmp_path / "dev.yaml").write_text(content)
    proc = run_validate("--dir", str(tmp_path))
    assert proc.returncode == 2
    assert re.search(expected, proc.stderr), proc.stderr
    assert "Traceback" not in proc.stderr


def test_file_name_must_match(tmp_path: Path) -> None:
    _write(tmp_path, "qa", lambda d: None)
    proc = run_validate("--dir", str(tmp_path))
    assert proc.returncode == 2
    assert "name: is 'dev' but the file is named 'qa'" in proc.stderr


def test_an_environment_given_as_a_file_path(tmp_path: Path) -> None:
    """`deployer validate environments/dev.yaml` reads that file (not `dev.yaml.yaml` in --dir)."""
    ok = run_validate(str(ENVIRONMENTS_DIR / "dev.yaml"))
    assert ok.returncode == 0, ok.stderr
    assert f"ok  {ENVIRONMENTS_DIR / 'dev.yaml'}: gcp project" in ok.stdout
    assert ok.stdout.strip().splitlines()[-1].startswith("validated 1 environment file and ")
    bad = _write(tmp_path, "qa", lambda d: None)
    for arg, expected in [
        (str(tmp_path / "missing.yaml"), f"error: {tmp_path / 'missing.yaml'}: file not found"),
        (str(tmp_path) + "/", f"error: {tmp_path}: is a folder, not a YAML file"),
        (str(bad), f"error: {bad}: name: is 'dev' but the file is named 'qa'"),
        # validate says ok only to what the deployer reads: environments/<name>.yaml, never .yml
        (
            str(tmp_path / "dev.yml"),
            f"error: {tmp_path / 'dev.yml'}: not an environment file (they are named <name>.yaml)",
        ),
    ]:
        proc = run_validate(arg)
        assert proc.returncode == 2, (arg, proc.stdout)
        assert proc.stderr.strip() == expected, proc.stderr
