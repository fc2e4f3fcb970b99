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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import CREATION_STACK_VAR, NODE_BIN, REPO_ROOT
from infra.domains import load_all
from infra.synth import HASH_FILE, SCRATCH_PREFIX, ensure_synth, input_files, input_hash, recorded_hash
from platform_model.domain import DOMAINS_DIR, Domain


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("INFRA_ENVIRONMENTS_DIR", "INFRA_DOMAINS_DIR", "CDKTF_OUTDIR")
    }
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
    alerts = stack["resource"]["google_monitoring_alert_policy"].values()
    assert alerts and all(len(alert["notification_channels"]) == 2 for alert in alerts)

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
    tmp = out.parent / "tmp"
    tmp.mkdir()
    subprocess.run(
        [sys.executable, "-m", "infra"],
        cwd=REPO_ROOT,
        env=clean_env(CDKTF_OUTDIR=str(out), INFRA_ENVIRONMENTS_DIR=str(envs), TMPDIR=str(tmp)),
        check=True,
        capture_output=True,
    )
    assert recorded_hash(out) is None
    assert not list(tmp.iterdir())  # the kernel's runtime files (infra.bindings) are gone with it


def processes_started_from(directory: Path) -> list[int]:
    """Pids of the processes whose command line names a file under `directory` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(directory).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_a_bad_input_found_while_the_bindings_load_leaves_nothing(workspace: tuple[Path, Path]) -> None:
    """The app reads its inputs while the provider bindings load (`infra.bindings`); a bad one makes it
    exit at once, with one line and code 2, and without the jsii kernel's runtime files (which jsii
    copies into a temporary directory and would otherwise leave behind on that path)."""
    envs, out = workspace
    edit(envs / "dev.yaml", network__subnet_cidr="10.10.0.1/20")  # the model refuses it on reading
    tmp = out.parent / "tmp"
    tmp.mkdir()
    proc = subprocess.run(
        [sys.executable, "-O", "-m", "infra"],
        cwd=REPO_ROOT,
        env=clean_env(CDKTF_OUTDIR=str(out), INFRA_ENVIRONMENTS_DIR=str(envs), TMPDIR=str(tmp)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: {envs / 'dev.yaml'}: network.subnet_cidr")
    # the kernel (started from a runtime under `tmp`) ends by itself once its load is done and its
    # pipe closed, and removes its own scratch directory as it goes
    deadline = time.monotonic() + 60
    while processes_started_from(tmp) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not processes_started_from(tmp)
    assert not list(tmp.iterdir())
    assert not out.exists()  # the output directory is made only once the inputs have been read


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
        ({"pubsub": {"max_delivery_attempts": 2}}, "pubsub.max_delivery_attempts"),
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


def sample(predicate: Callable[[Domain], bool]) -> Domain:
    """The first sample domain (by name) that satisfies `predicate`."""
    return next(d for _, d in sorted(load_all(DOMAINS_DIR).items()) if predicate(d))


def pii_index(domain: Domain) -> int:
    assert domain.event is not None
    return next(i for i, c in enumerate(domain.event.columns) if c.pii)


def mutate_domain(directory: Path, name: str, change: Callable[[dict[str, Any]], None]) -> Path:
    path = directory / f"{name}.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def unknown_key(data: dict[str, Any]) -> None:
    data["event"]["columns"][pii_index(sample(lambda d: d.event is not None))]["piii"] = "PII Email"


def unknown_tag(data: dict[str, Any]) -> None:
    data["event"]["columns"][pii_index(sample(lambda d: d.event is not None))]["pii"] = "PII Phone"


def bad_partition(data: dict[str, Any]) -> None:
    data["staging"]["partition_by"] = data["staging"]["columns"][0]["name"]


def dead_letter_topic_as_topic(data: dict[str, Any]) -> None:
    others = sample(lambda d: d.event is not None and d.domain != data["domain"])
    data["event"]["topic"] = others.dead_letter_topic


@pytest.mark.parametrize(
    ("change", "field", "expected"),
    [
        (unknown_key, "event.columns", "piii"),
        (unknown_tag, ".pii", "policy tag 'PII Phone' is not in the taxonomy of environments/dev.yaml"),
        (bad_partition, "staging", "is not a DATE or TIMESTAMP column"),
        (dead_letter_topic_as_topic, "event.topic", "is the dead-letter topic of domain"),
    ],
)
def test_a_bad_domain_file_is_one_line_naming_file_and_field(
    workspace: tuple[Path, Path],
    tmp_path: Path,
    change: Callable[[dict[str, Any]], None],
    field: str,
    expected: str,
) -> None:
    envs, out = workspace
    domains = tmp_path / "domains"
    shutil.copytree(DOMAINS_DIR, domains)
    # the last domain with an event by name: another one precedes it for the dead-letter case
    target = [d for _, d in sorted(load_all(DOMAINS_DIR).items()) if d.event is not None][-1]
    path = mutate_domain(domains, target.domain, change)
    proc = run_synth("--outdir", str(out), "--environments", str(envs), "--domains", str(domains))
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: ")
    assert f"{target.domain}.yaml" in line
    assert field in line
    assert expected in line
    assert "Traceback" not in proc.stderr
    assert recorded_hash(out) is None
    assert path.exists()


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"nope": {"enabled": False}}, "domains.nope: no such domain in domains/"),
        ("input", "is false, but domain"),
    ],
)
def test_a_bad_domain_override_is_one_line_naming_the_environment_file(
    workspace: tuple[Path, Path], override: Any, expected: str
) -> None:
    envs, out = workspace
    if override == "input":  # switch off a domain another reads
        combining = sample(lambda d: bool(d.inputs))
        override = {combining.inputs[0]: {"enabled": False}}
    data = yaml.safe_load((envs / "dev.yaml").read_text())
    data["domains"] = override
    (envs / "dev.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    proc = run_synth("--outdir", str(out), "--environments", str(envs))
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: environments/dev.yaml: domains.")
    assert expected in line
    assert "Traceback" not in proc.stderr


def test_the_domains_and_their_model_are_inputs(workspace: tuple[Path, Path], tmp_path: Path) -> None:
    envs, _ = workspace
    domains = tmp_path / "domains"
    shutil.copytree(DOMAINS_DIR, domains)
    labels = {label for label, _ in input_files(envs, domains)}
    assert {f"domains/{p.name}" for p in DOMAINS_DIR.glob("*.yaml")} <= labels
    assert {f"platform_model/{p.name}" for p in (REPO_ROOT / "platform_model").glob("*.py")} <= labels
    before = input_hash(envs, domains)
    target = sample(lambda d: d.event is not None)
    mutate_domain(domains, target.domain, lambda d: d["event"].update(raw_table="renamed_events"))
    assert input_hash(envs, domains) != before  # a changed domain is synthesized again, never served stale
    (domains / f"{target.domain}.yaml").unlink()
    assert f"domains/{target.domain}.yaml" not in {label for label, _ in input_files(envs, domains)}


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


def test_the_app_runs_optimized_wherever_it_is_started() -> None:
    """`make synth` and the CDKTF CLIs run the app the same way: without the bindings' run-time type
    checks (`-O`), which mypy --strict makes redundant; the output is the same either way."""
    from infra.synth import _app_env

    app = json.loads((REPO_ROOT / "cdktf.json").read_text())["app"].split()
    assert app[1:] == ["-O", "-m", "infra"]
    assert _app_env(REPO_ROOT, REPO_ROOT / "environments")["PYTHONOPTIMIZE"] == "1"


@pytest.mark.parametrize(("given", "seen"), [(None, "1"), ("0", "0")])
def test_cdktn_skips_creation_stacks_unless_the_caller_asks_for_them(given: str | None, seen: str) -> None:
    """`infra` sets `CDKTN_DISABLE_CREATION_STACK=1` before jsii starts Node (the stack traces cdktn
    records with every token cost synth time and appear in no output), unless the caller set it."""
    env = clean_env()
    env.pop(CREATION_STACK_VAR, None)
    if given is not None:
        env[CREATION_STACK_VAR] = given
    proc = subprocess.run(
        [sys.executable, "-c", f"import os, infra; print(os.environ[{CREATION_STACK_VAR!r}])"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.strip() == seen


@pytest.mark.parametrize("variable", ["INFRA_ENVIRONMENTS_DIR", "INFRA_DOMAINS_DIR"])
@pytest.mark.parametrize("command", [["-O", "-m", "infra"], ["-m", "infra.synth"]])
def test_a_directory_variable_naming_no_directory_is_one_line_and_exit_2(
    tmp_path: Path, variable: str, command: list[str]
) -> None:
    """The app, as `cdktf synth` runs it, and `infra.synth` refuse a directory variable that names no
    directory, instead of finding no file there and synthesizing nothing."""
    missing = tmp_path / "nowhere"
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, *command],
        cwd=REPO_ROOT,
        env=clean_env(CDKTF_OUTDIR=str(out), **{variable: str(missing)}),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line == f"error: ${variable}: {missing} is not a directory"
    assert not out.exists()
