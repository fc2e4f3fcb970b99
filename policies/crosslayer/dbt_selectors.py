"""`dbt-selectors`: each domain's dbt selector builds its own models, and only its own.

Each domain's daily DAG runs `dbt build --select <domain.dbt_select>`. dbt itself resolves every
selector against the release's dbt project (`dbt parse` once, then `dbt ls` per selector, in a
subprocess on a scratch copy, so nothing is written into the release): a selector must select at
least one model, every mart the domain declares, and no model another domain's selector selects
(two DAGs would build it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from platform_model.errors import PlatformError
from policies.crosslayer.view import Finding, ReleaseView

CHECK = "dbt-selectors"

_LS = r"""
import json, sys
from dbt.cli.main import dbtRunner

project, work, out, selectors = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
common = ["--project-dir", project, "--profiles-dir", project, "--target-path", work + "/target",
          "--log-path", work + "/logs", "--quiet"]
parsed = dbtRunner().invoke(["parse", *common])
result = {"error": None, "selected": {}}
if not parsed.success:
    result["error"] = str(parsed.exception or "")
else:
    for selector in selectors:
        done = dbtRunner(manifest=parsed.result).invoke(
            ["ls", *common, "--select", selector, "--resource-type", "model", "--output", "name"])
        if done.success and done.result is not None:
            result["selected"][selector] = sorted(done.result)
        else:
            result["selected"][selector] = {"error": str(done.exception or "dbt ls failed")}
with open(out, "w") as fh:
    json.dump(result, fh)
"""


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def select_models(dbt_dir: Path, selectors: list[str]) -> dict[str, Any]:
    """dbt's answer for each selector on the project in `dbt_dir`: {"error", "selected": {sel: models}}."""
    with tempfile.TemporaryDirectory(prefix="crosslayer-dbt-") as tmp:
        project = Path(tmp) / "dbt"
        shutil.copytree(dbt_dir, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
        out = Path(tmp) / "result.json"
        env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "PYTHONDONTWRITEBYTECODE": "1"}
        env.pop("DBT_TARGET", None)  # the project's default target (it parses without a warehouse)
        proc = subprocess.run(
            [sys.executable, "-c", _LS, str(project), tmp, str(out), json.dumps(selectors)],
            env=env,
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if proc.returncode != 0 or not out.is_file():
            raise PlatformError(f"dbt could not be run to resolve the selectors: {_last_line(proc.stderr)}")
        result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        if result["error"] is not None and not result["error"]:
            result["error"] = _last_line(proc.stdout + "\n" + proc.stderr)
        return result


def check_dbt_selectors(view: ReleaseView) -> list[Finding]:
    """The `dbt-selectors` findings of a release."""
    if not (view.root / "dbt" / "dbt_project.yml").is_file():
        return [Finding(CHECK, view.shown("dbt/dbt_project.yml"), "missing: the release has no dbt project")]
    domains = sorted(view.domains.items())
    result = select_models(view.root / "dbt", sorted({d.dbt_select for _, d in domains}))
    if result["error"] is not None:
        return [Finding(CHECK, view.shown("dbt/"), f"dbt cannot parse the project: {result['error']}")]
    findings: list[Finding] = []
    owner: dict[str, str] = {}
    for name, domain in domains:
        where = view.domain_file(name)
        selected = result["selected"][domain.dbt_select]
        if isinstance(selected, dict):
            findings.append(
                Finding(
                    CHECK, where, f"dbt.select: {domain.dbt_select!r} is refused by dbt: {selected['error']}"
                )
            )
            continue
        if not selected:
            findings.append(
                Finding(
                    CHECK,
                    where,
                    f"dbt.select: {domain.dbt_select!r} selects no model of the release's dbt project",
                )
            )
        for mart in domain.marts:
            if mart not in selected:
                findings.append(
                    Finding(
                        CHECK,
                        where,
                        f"marts.{mart}: {domain.dbt_select!r} (dbt.select) does not select model {mart}, "
                        "so no DAG of the domain builds it",
                    )
                )
        for model in selected:
            if model in owner:
                findings.append(
                    Finding(
                        CHECK,
                        where,
                        f"dbt.select: selects model {model}, which domain {owner[model]!r} selects too "
                        "(two DAGs would build it)",
                    )
                )
            else:
                owner[model] = name
    return findings
