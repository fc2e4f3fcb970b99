"""The environment model: the committed files load, the schema is fresh, bad files get one clear line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deployer.commands.env_commands import SCHEMA_PATH, schema_text
from deployer.config import ENVIRONMENTS_DIR, load_all

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
        "dangling dlq",
        _set("pubsub.subscriptions.orders-events-raw.dead_letter_topic", "nope"),
        r"unknown topic",
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
