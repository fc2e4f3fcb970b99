"""Code scanning: detect-secrets against the committed `.secrets.baseline`, and bandit.

    python -m policies.code_scan [--update-baseline]

- detect-secrets scans every file git knows or would add (tracked, plus untracked files that are not
  ignored), with the plugins and filters recorded in `.secrets.baseline`. A finding that is not in
  the baseline is a new secret and fails the run, as does a baseline entry audited as a real secret
  (`is_secret: true`). A false positive is accepted by auditing the baseline
  (`tools/lint/.venv/bin/detect-secrets audit .secrets.baseline`) or with an inline
  `# pragma: allowlist secret`; `--update-baseline` rewrites the baseline from the current tree
  (review its diff: every new entry is a claim that it is not a secret).
- bandit scans platform_model, deployer, infra, policies, dataproc_jobs and composer, reporting medium
  and high severity. Fix the code, or justify a false positive on its line with `# nosec <id>` and the reason.

One line per finding (file:line, rule, what), exit 1 when there is any.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platform_model.errors import ConfigError, PlatformError

REPO_ROOT = Path(__file__).resolve().parent.parent
LINT_BIN = REPO_ROOT / "tools" / "lint" / ".venv" / "bin"
BASELINE = REPO_ROOT / ".secrets.baseline"
BANDIT_TARGETS = ("platform_model", "deployer", "infra", "policies", "dataproc_jobs", "composer")
# Lock files list package hashes (high-entropy by nature) and the baseline lists secret hashes.
EXCLUDE_FILES = r"^(uv\.lock|tools/lint/uv\.lock|package-lock\.json|\.secrets\.baseline)$"


@dataclass(frozen=True)
class Issue:
    """One finding of a scanner."""

    tool: str
    """detect-secrets or bandit."""
    where: str
    """file:line, relative to the repository."""
    rule: str
    """Secret type or bandit test id."""
    message: str

    def __str__(self) -> str:
        return f"{self.tool}: {self.where}: {self.rule}: {self.message}"


def _tool(name: str) -> str:
    path = LINT_BIN / name
    if not path.is_file():
        raise ConfigError(f"{path} is missing: run `make setup` (tools/lint environment)")
    return str(path)


def scanned_files(root: Path = REPO_ROOT) -> list[str]:
    """Files git tracks, plus untracked files it would add (not ignored), relative to `root`."""
    proc = subprocess.run(
        ["git", "-C", str(root), "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise ConfigError(f"{root}: not a git work tree (git ls-files failed)")
    return sorted({f for f in proc.stdout.split("\0") if f and (root / f).is_file()})


def _detect_secrets_scan(root: Path, baseline: Path | None) -> dict[str, Any]:
    """A baseline-shaped scan of `root` (settings from `baseline` when given)."""
    with tempfile.TemporaryDirectory(prefix="code-scan-") as tmp:
        cmd = [_tool("detect-secrets"), "scan"]
        if baseline is not None:
            work = Path(tmp) / "baseline.json"
            shutil.copy(baseline, work)
            cmd += ["--baseline", str(work)]
        else:
            cmd += ["--exclude-files", EXCLUDE_FILES]
        cmd += scanned_files(root)
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise PlatformError(f"detect-secrets failed (exit {proc.returncode}): {tail}")
        text = work.read_text(encoding="utf-8") if baseline is not None else proc.stdout
        data: dict[str, Any] = json.loads(text)
        return data


def _entries(data: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {
        (file, item["type"], item["hashed_secret"]): item
        for file, items in (data.get("results") or {}).items()
        for item in items
    }


def check_secrets(root: Path = REPO_ROOT, baseline: Path = BASELINE) -> list[Issue]:
    """Secrets found now that the baseline does not list, and baseline entries audited as real."""
    if not baseline.is_file():
        raise ConfigError(
            f"{baseline.name}: missing; create it with python -m policies.code_scan --update-baseline"
        )
    try:
        known = _entries(json.loads(baseline.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError):
        raise ConfigError(
            f"{baseline.name}: not a detect-secrets baseline (invalid JSON or entries)"
        ) from None
    issues: list[Issue] = []
    for (file, kind, digest), item in sorted(_entries(_detect_secrets_scan(root, baseline)).items()):
        where = f"{file}:{item.get('line_number', '?')}"
        if (file, kind, digest) not in known:
            issues.append(
                Issue(
                    "detect-secrets",
                    where,
                    kind,
                    "new secret, not in .secrets.baseline: remove it (or audit it)",
                )
            )
        elif known[(file, kind, digest)].get("is_secret") is True:
            issues.append(
                Issue("detect-secrets", where, kind, "audited as a real secret in .secrets.baseline")
            )
    return issues


def update_baseline(root: Path = REPO_ROOT, baseline: Path = BASELINE) -> int:
    """Rewrite the baseline from the current tree (audit results of unchanged entries are kept)."""
    data = _detect_secrets_scan(root, baseline if baseline.is_file() else None)
    data.pop("generated_at", None)  # a timestamp would change the file on every update
    # detect-secrets records the (temporary) baseline it was given; the committed file never needs it.
    data["filters_used"] = [
        f
        for f in data.get("filters_used", [])
        if f.get("path") != "detect_secrets.filters.common.is_baseline_file"
    ]
    baseline.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return sum(len(items) for items in data.get("results", {}).values())


def check_bandit(root: Path = REPO_ROOT, targets: tuple[str, ...] = BANDIT_TARGETS) -> list[Issue]:
    """bandit issues of medium or high severity in `targets`."""
    present = [t for t in targets if (root / t).exists()]
    proc = subprocess.run(
        [_tool("bandit"), "-r", *present, "-q", "--severity-level", "medium", "-f", "json"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise PlatformError(f"bandit failed (exit {proc.returncode}): {tail}") from None
    issues = [
        Issue(
            "bandit",
            f"{r['filename']}:{r['line_number']}",
            r["test_id"],
            f"{r['issue_text']} (severity {r['issue_severity'].lower()}, "
            f"confidence {r['issue_confidence'].lower()})",
        )
        for r in report.get("results", [])
    ]
    issues += [
        Issue("bandit", e.get("filename", "?"), "error", str(e.get("reason")))
        for e in report.get("errors", [])
    ]
    return issues


def main(argv: list[str] | None = None) -> int:
    """Command line: both scanners, one line per finding, exit 1 on any."""
    parser = argparse.ArgumentParser(prog="python -m policies.code_scan", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--update-baseline", action="store_true", help="rewrite .secrets.baseline from the tree"
    )
    args = parser.parse_args(argv)
    try:
        if args.update_baseline:
            count = update_baseline()
            print(f"wrote {BASELINE.name}: {count} entr{'y' if count == 1 else 'ies'}; review the diff")
            return 0
        secrets = check_secrets()
        bandit = check_bandit()
    except PlatformError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    for issue in [*secrets, *bandit]:
        print(issue)
    print(f"detect-secrets: {len(secrets)} new secret(s); bandit (medium+): {len(bandit)} issue(s)")
    return 1 if secrets or bandit else 0


if __name__ == "__main__":
    sys.exit(main())
