"""`infra.synth`: skip when nothing changed, never serve stale or partial output, one-line errors;
and the real CLIs (`cdktf list`) drive the app."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import NODE_BIN, REPO_ROOT
from infra.synth import HASH_FILE, SCRATCH_PREFIX, ensure_synth, input_hash, recorded_hash


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("INFRA_ENVIRONMENTS_DIR", "CDKTF_OUTDIR")}
    env.update(extra)
    return env


def run_synth(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra.synth", *args],
        cwd=REPO_ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )


def edit(path: Path, **changes: Any) -> None:
    """Set dotted keys (`dataproc.autoscaling.primary_max=7`) in an environment file."""
    data = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = data
        for key in parents:
            node = node[key]
        node[leaf] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def dev_stack(outdir: Path) -> dict[str, Any]:
    return json.loads((outdir / "stacks" / "dev" / "cdk.tf.json").read_text())  # type: ignore[no-any-return]


def only(stack: dict[str, Any], type_: str) -> dict[str, Any]:
    (body,) = stack["resource"][type_].values()
    return body  # type: ignore[no-any-return]


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, Path]:
    """An environments directory holding a copy of dev.yaml only (one stack: faster), and an outdir."""
    envs = tmp_path / "environments"
    envs.mkdir()
    shutil.copy(REPO_ROOT / "environments" / "dev.yaml", envs / "dev.yaml")
    return envs, tmp_path / "out"


def test_warm_synth_is_skipped(outdir: Path) -> None:
    stack_file = outdir / "stacks" / "prod" / "cdk.tf.json"
    before = (stack_file.stat().st_mtime_ns, (outdir / HASH_FILE).stat().st_mtime_ns)
    proc = run_synth()
    assert proc.returncode == 0, proc.stderr
    assert "up to date" in proc.stdout
    assert (stack_file.stat().st_mtime_ns, (outdir / HASH_FILE).stat().st_mtime_ns) == before
    assert recorded_hash(outdir) == input_hash()


def test_a_changed_value_is_never_served_stale(workspace: tuple[Path, Path]) -> None:
    envs, out = workspace
    dev = envs / "dev.yaml"
    edit(
        dev,
        dataproc__autoscaling__primary_max=7,
        monitoring__log_retention_days=90,
        monitoring__webhook_secret="projects/acme-data-dev/secrets/alerts-webhook",
    )
    ensure_synth(out, envs)
    stack = dev_stack(out)
    assert only(stack, "google_dataproc_autoscaling_policy")["worker_config"]["max_instances"] == 7
    assert only(stack, "google_logging_project_bucket_config")["retention_days"] == 90
    # the webhook channel reads its URL from Secret Manager at apply time: no literal URL anywhere
    channels = stack["resource"]["google_monitoring_notification_channel"].values()
    (webhook,) = [c for c in channels if c["type"] == "webhook_tokenauth"]
    assert webhook["labels"]["url"].startswith("${data.google_secret_manager_secret_version.")
    (secret,) = stack["data"]["google_secret_manager_secret_version"].values()
    assert secret["secret"] == "projects/acme-data-dev/secrets/alerts-webhook"
    assert secret["version"] == "latest"
    (alert,) = [
        a for a in stack["resource"]["google_monitoring_alert_policy"].values() if "dag-failed" in str(a)
    ]
    assert len(alert["notification_channels"]) == 2

    # unchanged inputs: nothing is rewritten
    stack_file = out / "stacks" / "dev" / "cdk.tf.json"
    mtime = stack_file.stat().st_mtime_ns
    ensure_synth(out, envs)
    assert stack_file.stat().st_mtime_ns == mtime

    # one value changes: the next call sees it
    edit(dev, dataproc__autoscaling__primary_max=8)
    ensure_synth(out, envs)
    assert only(dev_stack(out), "google_dataproc_autoscaling_policy")["worker_config"]["max_instances"] == 8

    # a synth by any other way (here the app itself, as `cdktf synth` runs it) invalidates the record
    subprocess.run(
        [sys.executable, "-m", "infra"],
        cwd=REPO_ROOT,
        env=clean_env(CDKTF_OUTDIR=str(out), INFRA_ENVIRONMENTS_DIR=str(envs)),
        check=True,
        capture_output=True,
    )
    assert recorded_hash(out) is None


def test_a_killed_synth_leaves_no_matching_hash(workspace: tuple[Path, Path]) -> None:
    envs, out = workspace
    ensure_synth(out, envs)
    old = recorded_hash(out)
    edit(envs / "dev.yaml", dataproc__autoscaling__primary_max=9)
    new = input_hash(envs)
    assert old and old != new
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.synth", "--outdir", str(out), "--environments", str(envs)],
        cwd=REPO_ROOT,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not list(out.glob(f"{SCRATCH_PREFIX}*")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    assert proc.poll() is None, "synth finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert recorded_hash(out) is None  # neither the old record nor one for half-written output
    assert json.loads((out / "stacks" / "dev" / "cdk.tf.json").read_text())  # old output still whole
    ensure_synth(out, envs)
    assert recorded_hash(out) == new
    assert only(dev_stack(out), "google_dataproc_autoscaling_policy")["worker_config"]["max_instances"] == 9
    assert not list(out.glob(f"{SCRATCH_PREFIX}*"))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"network__subnet_cidr": "10.10.0.1/20"},
            "network.subnet_cidr: '10.10.0.1/20' is not a valid CIDR range",
        ),
        ({"prefix": "acme-data-platform-dev"}, "prefix: 'acme-data-platform-dev' is too long"),
        (
            {"pubsub__topics__orders-events-dlq": {"schema_file": "contracts/orders.yaml"}},
            "orders-events-dlq.schema_file: contracts/orders.yaml declares topic 'orders-events'",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    workspace: tuple[Path, Path], changes: dict[str, Any], expected: str
) -> None:
    envs, out = workspace
    edit(envs / "dev.yaml", **changes)
    proc = run_synth("--outdir", str(out), "--environments", str(envs))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert str(envs / "dev.yaml") in lines[0]
    assert expected in lines[0]
    assert "Traceback" not in proc.stderr
    assert recorded_hash(out) is None


def test_cdktf_list_shows_the_three_stacks(tmp_path: Path) -> None:
    env = clean_env(
        PATH=f"{NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        CHECKPOINT_DISABLE="1",
        TF_CLI_CONFIG_FILE=str(REPO_ROOT / ".terraformrc"),
    )
    proc = subprocess.run(
        [str(NODE_BIN / "cdktf"), "list", "--output", str(tmp_path / "cdktf.out")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    # a two-column table (name, path) whose long paths wrap onto indented lines
    table = output.split("Stack name", 1)[1].splitlines()[1:]
    listed = {line.split()[0] for line in table if line.strip() and not line[0].isspace()}
    assert listed == {"dev", "staging", "prod"}
    assert "ERROR" not in output
    assert "end-of-life" not in output
