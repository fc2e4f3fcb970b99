"""Checks that span the layers: what no single tool sees, for every domain of a release.

`run_checks(root)` returns a list of `Finding`s (empty when everything agrees). `root` is a release's
`files/` folder (`dags/`, `jobs/`, `dbt/`, `gx/`, `domains/`: what `deployer release build` passes)
or a source tree (then its Spark artifacts are built into a temporary view first, as a release
build does). The domains are the release's own (`domains/<name>.yaml`, read by `platform_model`);
the environment files and the synthesized stacks are not part of a release: they come from the
repository (`environments/`, and `infra.synth.ensure_synth()` unless a stacks folder is given).

The checks, each in its module:

- `pii-tags` (`pii_tags`): every contract PII tag is in the taxonomy; every dbt column marked PII
  carries the policy tag its contract names, by display name.
- `spark-artifacts` (`spark_artifacts`): every declared Spark job is in jobs.json; the DAGs, loaded
  with DagBag and the runtime config of each GCP environment, load, define every declared DAG and
  run only artifacts of the release.
- `gx-suites` (`gx_suites`): every declared suite is in the release, every suite file is declared.
- `dbt-selectors` (`dbt_selectors`): each domain's selector selects models (its marts among them),
  none that another domain selects.
- `contract-evolution` (`evolution`, with a previous release): breaking changes need a major
  version and a declared migration.
- `schema-agreement` (`schemas`): the synthesized topics and tables and the dbt sources and models
  match the contracts.
- `composer-packages` (`composer_packages`): each GCP environment's PyPI packages
  (`composer/requirements.txt` and `composer.pypi_packages`) resolve beside what its Composer build
  preinstalls.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from infra.synth import DEFAULT_OUTDIR, SynthError, ensure_synth
from platform_model.environment import ENVIRONMENTS_DIR, load_all
from platform_model.errors import ConfigError
from policies.crosslayer.composer_packages import check_composer_packages
from policies.crosslayer.dbt_selectors import check_dbt_selectors
from policies.crosslayer.evolution import check_contract_evolution
from policies.crosslayer.gx_suites import check_gx_suites
from policies.crosslayer.pii_tags import check_pii_tags
from policies.crosslayer.schemas import check_schema_agreement
from policies.crosslayer.spark_artifacts import check_spark_artifacts, dag_report_key
from policies.crosslayer.view import Finding, ReleaseView, load_view, release_folder

__all__ = ["CHECKS", "Finding", "dag_report_key", "find_stacks", "format_findings", "run_checks"]

CHECKS = (
    "pii-tags",
    "spark-artifacts",
    "gx-suites",
    "dbt-selectors",
    "contract-evolution",
    "schema-agreement",
    "composer-packages",
)
STACKS_DIR = DEFAULT_OUTDIR / "stacks"
STACK_FILE = "cdk.tf.json"


def find_stacks(stacks_dir: Path | None) -> dict[str, Path]:
    """stack -> cdk.tf.json under `stacks_dir` (default cdktf.out/stacks; empty when not synthesized)."""
    base = stacks_dir or STACKS_DIR
    return {p.parent.name: p for p in sorted(base.glob(f"*/{STACK_FILE}"))}


def _synthesized(env_dir: Path, scratch: Path) -> Path:
    """The stacks of the current infra for `env_dir` (the repository's cdktf.out for its own files)."""
    outdir = DEFAULT_OUTDIR if env_dir.resolve() == ENVIRONMENTS_DIR.resolve() else scratch / "cdktf.out"
    try:
        return ensure_synth(outdir, env_dir) / "stacks"
    except SynthError as exc:
        error = ConfigError(f"synth failed: {exc}")
        error.exit_code = exc.exit_code
        raise error from None


def run_checks(
    root: Path,
    *,
    previous: Path | None = None,
    environments_dir: Path | None = None,
    stacks_dir: Path | None = None,
    only: Iterable[str] | None = None,
    dag_reports: Mapping[str, dict[str, Any]] | None = None,
) -> list[Finding]:
    """Every cross-layer finding for `root` (a release's files/ or a source tree); empty when all agree.

    `previous`: the previous release (its manifest.json or folder) for contract-evolution, which
    needs one (it is not run without). `stacks_dir`: synthesized stacks (`<stack>/cdk.tf.json`);
    default: synthesize the current infra (`infra.synth.ensure_synth`, a no-op when nothing
    changed). `only`: a subset of CHECKS. `dag_reports`: DagBag reports already loaded (a release
    build's DAG parse), keyed by `dag_report_key`: spark-artifacts uses the one of the same DAG folder
    and runtime config instead of loading the DAGs again, and loads the others itself.
    """
    selected = set(only or CHECKS)
    unknown = selected - set(CHECKS)
    if unknown:
        raise ConfigError(
            f"--only: unknown check(s) {', '.join(sorted(unknown))} (known: {', '.join(CHECKS)})"
        )
    env_dir = environments_dir or ENVIRONMENTS_DIR
    envs = load_all(env_dir)
    if not envs:
        raise ConfigError(f"{env_dir}: no environment files")
    with contextlib.ExitStack() as stack:
        folder, source = stack.enter_context(release_folder(root))
        view = load_view(folder, source, envs, env_dir)
        checks: dict[str, Callable[[ReleaseView], list[Finding]]] = {
            "pii-tags": check_pii_tags,
            "spark-artifacts": lambda v: check_spark_artifacts(v, dag_reports),
            "gx-suites": check_gx_suites,
            "dbt-selectors": check_dbt_selectors,
            "composer-packages": check_composer_packages,
        }
        if previous is not None:
            checks["contract-evolution"] = lambda v: check_contract_evolution(v, previous)
        if "schema-agreement" in selected:
            if stacks_dir is None:
                scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="crosslayer-synth-")))
                stacks_dir = _synthesized(env_dir, scratch)
            stacks = find_stacks(stacks_dir)
            if not stacks:
                raise ConfigError(f"{stacks_dir}: no synthesized stack (<stack>/{STACK_FILE})")
            checks["schema-agreement"] = lambda v: check_schema_agreement(v, stacks)
        findings: list[Finding] = []
        for name in CHECKS:
            if name in selected and name in checks:
                findings += checks[name](view)
    return findings


def format_findings(findings: Sequence[Finding]) -> list[str]:
    """One line per finding, grouped by check."""
    return [f"[{f.check}] {f}" for f in sorted(findings, key=lambda f: (CHECKS.index(f.check), f.where))]
