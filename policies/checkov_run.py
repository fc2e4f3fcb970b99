"""checkov (built-in checks + `policies/checkov/`) on every synthesized stack, with per-stack skips.

    python -m policies.checkov_run [STACK ...] [--stacks-dir cdktf.out/stacks] [--verbose] [--no-cache]

One checkov process scans every `cdktf.out/stacks/<stack>/cdk.tf.json` with the `terraform_json`
framework (the only one that reads cdktf's output: `terraform` finds nothing in it). Failures listed
for that stack in `policies/skips.yaml` become "skipped" (each with its reason); everything else that
fails is printed as one line (check id, resource, file:line, why) and the exit code is 1.

Three things make a silent pass impossible:
- a custom policy checkov could not load (it only logs that and goes on) fails the run;
- a resource a custom YAML policy covers but gave no verdict on (checkov drops verdicts on values it
  cannot resolve) fails the run;
- a skip that matched nothing is stale and fails the run, so skips.yaml never outlives its reason.

checkov's report of the same inputs (its arguments, the locked checkov, the custom policies and the stack
files, `report_key`) is kept in the build cache (`platform_model.cache`) and read instead of scanning
again, e.g. by the test of the real stacks after `make check-infra`; `--no-cache` scans regardless.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from infra.synth import SynthError, ensure_synth
from platform_model.cache import BuildCache, default_cache_dir, hash_files
from platform_model.environment import ENVIRONMENTS_DIR, environment_names, load_environment
from platform_model.errors import ConfigError, PlatformError

REPO_ROOT = Path(__file__).resolve().parent.parent
POLICY_DIR = REPO_ROOT / "policies" / "checkov"
SKIPS_FILE = REPO_ROOT / "policies" / "skips.yaml"
STACKS_DIR = REPO_ROOT / "cdktf.out" / "stacks"
CHECKOV = REPO_ROOT / "tools" / "lint" / ".venv" / "bin" / "checkov"
FRAMEWORK = "terraform_json"
STACK_FILE = "cdk.tf.json"
CUSTOM_PREFIXES = ("CKV_ACME_", "CKV2_ACME_")
# What checkov logs when it drops a custom policy instead of failing.
_LOAD_FAILURES = re.compile(
    r"Cannot load external check|Failed to parse check id|missing required fields|is not Dict", re.IGNORECASE
)
# Checks about customer-managed or customer-supplied keys, recognised by their names.
_ENCRYPTION_CHECK = re.compile(r"encrypt|CMEK|CSEK|KMS|customer[- ](managed|supplied)", re.IGNORECASE)
_PY_CHECK_ID = re.compile(r"""\bid\s*=\s*["'](CKV2?_ACME_\d+)["']""")

Status = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True)
class Result:
    """One verdict of one check on one resource of one stack."""

    stack: str
    """Stack name (the folder of cdk.tf.json)."""
    file: str
    """The stack file, relative to the repository when inside it."""
    check_id: str
    check_name: str
    resource: str
    """`TYPE.NAME` as in the stack file."""
    status: Status
    line: int
    details: tuple[str, ...] = ()
    """Why a custom policy failed."""
    reason: str = ""
    """For a skipped result: the reason from skips.yaml."""

    def line_text(self) -> str:
        """The one line printed for a failure: check id, resource, file:line, check name and why."""
        why = f": {'; '.join(self.details)}" if self.details else ""
        return f"FAILED {self.check_id} {self.resource} ({self.file}:{self.line}) {self.check_name}{why}"


@dataclass(frozen=True)
class Skip:
    """One entry of policies/skips.yaml: a built-in check not enforced on some stacks, and why."""

    check: str
    """Built-in checkov check id, e.g. CKV_GCP_62."""
    stacks: tuple[str, ...]
    """Stacks the skip applies to (never implicit)."""
    reason: str
    """Why the check does not apply; printed beside every skipped result."""
    resources: tuple[str, ...] = ()
    """Limit the skip to these TYPE.NAME (default: every resource)."""

    def matches(self, result: Result) -> bool:
        """Whether this skip covers `result`."""
        return (
            result.check_id == self.check
            and result.stack in self.stacks
            and (not self.resources or result.resource in self.resources)
        )


@dataclass
class Report:
    """Everything one run found, per stack."""

    results: list[Result]
    stacks: list[str]
    problems: list[str] = field(default_factory=list)

    def counts(self, stack: str) -> dict[str, int]:
        """passed/failed/skipped counts of `stack`."""
        out = {"passed": 0, "failed": 0, "skipped": 0}
        for r in self.results:
            if r.stack == stack:
                out[r.status] += 1
        return out

    @property
    def failures(self) -> list[Result]:
        """Every failed (not skipped) result."""
        return [r for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> bool:
        """No failure and no problem."""
        return not self.failures and not self.problems


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def custom_check_ids(policy_dir: Path = POLICY_DIR) -> set[str]:
    """Ids of the custom policies in `policy_dir` (Python and YAML)."""
    ids: set[str] = set()
    for path in sorted(policy_dir.glob("*.py")):
        ids |= set(_PY_CHECK_ID.findall(path.read_text(encoding="utf-8")))
    for path in sorted(policy_dir.glob("*.yaml")):
        ids.add(str(yaml.safe_load(path.read_text(encoding="utf-8"))["metadata"]["id"]))
    return ids


def _yaml_policy_types(policy_dir: Path) -> dict[str, set[str]]:
    """Custom YAML policy id -> the resource types it must give a verdict on."""

    def walk(node: Any, filters: set[str], types: set[str]) -> None:
        if isinstance(node, dict):
            if node.get("cond_type") == "filter" and node.get("attribute") == "resource_type":
                filters.update(node.get("value") or [])
            elif "resource_types" in node:
                types.update(node["resource_types"])
            for key in ("and", "or"):
                for child in node.get(key) or []:
                    walk(child, filters, types)

    out: dict[str, set[str]] = {}
    for path in sorted(policy_dir.glob("*.yaml")):
        policy = yaml.safe_load(path.read_text(encoding="utf-8"))
        filters: set[str] = set()
        types: set[str] = set()
        walk(policy.get("definition"), filters, types)
        out[str(policy["metadata"]["id"])] = filters or types
    return out


def load_skips(path: Path = SKIPS_FILE, known_stacks: Iterable[str] | None = None) -> list[Skip]:
    """Parse skips.yaml; a skip without a reason, of a custom policy or of an unknown stack is refused."""
    where = _relative(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{where}: file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: invalid YAML: {str(exc).splitlines()[0]}") from None
    entries = data.get("skips") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: skips: expected a list of {{check, stacks, reason}}")
    known = set(known_stacks) if known_stacks is not None else None
    skips: list[Skip] = []
    for i, entry in enumerate(entries):
        at = f"{where}: skips[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{at}: expected a mapping with check, stacks, reason")
        unknown = set(entry) - {"check", "stacks", "reason", "resources"}
        if unknown:
            raise ConfigError(f"{at}: unknown field(s) {', '.join(sorted(unknown))}")
        check = entry.get("check")
        if not isinstance(check, str) or not re.fullmatch(r"CKV2?_[A-Z0-9]+_\d+", check):
            raise ConfigError(f"{at}.check: {check!r} is not a checkov check id")
        if check.startswith(CUSTOM_PREFIXES):
            raise ConfigError(
                f"{at}.check: {check} is one of our own policies: fix the stack, do not skip it"
            )
        reason = entry.get("reason")
        if not isinstance(reason, str) or len(reason.strip()) < 10:
            raise ConfigError(f"{at}.reason: every skip needs a reason (a sentence, not {reason!r})")
        stacks = entry.get("stacks")
        if not isinstance(stacks, list) or not stacks or not all(isinstance(s, str) for s in stacks):
            raise ConfigError(f"{at}.stacks: expected a non-empty list of stack names")
        if known is not None and set(stacks) - known:
            raise ConfigError(f"{at}.stacks: unknown stack(s) {', '.join(sorted(set(stacks) - known))}")
        resources = entry.get("resources") or []
        if not isinstance(resources, list) or not all(isinstance(r, str) and "." in r for r in resources):
            raise ConfigError(f"{at}.resources: expected a list of TYPE.NAME")
        skips.append(Skip(check, tuple(stacks), reason.strip(), tuple(resources)))
    return skips


class _TypeIndex:
    """Finds the type of a resource checkov names `resource.NAME` (its Python checks drop the type)."""

    def __init__(self, path: Path) -> None:
        self.text = path.read_text(encoding="utf-8")
        data = json.loads(self.text)
        self.by_name: dict[str, list[str]] = {}
        for rtype, entries in (data.get("resource") or {}).items():
            for name in entries or {}:
                if name != "//":
                    self.by_name.setdefault(name, []).append(rtype)
        self._lines: dict[tuple[str, str], int] | None = None

    def _line_index(self) -> dict[tuple[str, str], int]:
        # Only for names shared by several types: the line of the resource tells them apart.
        if self._lines is None:
            self._lines = {}
            root = yaml.compose(self.text, Loader=yaml.SafeLoader)
            for key, value in root.value if isinstance(root, yaml.MappingNode) else []:
                if key.value != "resource" or not isinstance(value, yaml.MappingNode):
                    continue
                for type_key, entries in value.value:
                    for name_key, body in entries.value if isinstance(entries, yaml.MappingNode) else []:
                        self._lines[(type_key.value, name_key.value)] = body.start_mark.line + 1
        return self._lines

    def resolve(self, name: str, line: int) -> str:
        types = self.by_name.get(name, [])
        if len(types) == 1:
            return f"{types[0]}.{name}"
        for rtype in types:
            if self._line_index().get((rtype, name)) == line:
                return f"{rtype}.{name}"
        return f"resource.{name}"


def _log_problems(stderr: str) -> list[str]:
    """What checkov logged instead of failing: dropped policies, and checks that crashed.

    A check that raises gives no verdict at all (checkov logs the traceback and goes on), so every
    ERROR line counts, with the exception that ended its traceback.
    """
    problems: list[str] = []
    lines = stderr.splitlines()
    for i, line in enumerate(lines):
        message = line.split("]", 2)[-1].strip()
        if _LOAD_FAILURES.search(line):
            problems.append(f"checkov dropped a custom policy: {message}")
        elif "[ERROR]" in line:
            cause = ""
            for following in lines[i + 1 :]:
                if following.startswith("20") and "[" in following:  # the next log record
                    break
                if following and not following.startswith((" ", "Traceback")):
                    cause = following.strip()
            problems.append(f"checkov error: {message}{': ' + cause if cause else ''}")
    return problems


def report_key(cmd: Sequence[str], cwd: Path, policy_dir: Path) -> str:
    """The digest checkov's report of `cmd` (run in `cwd`) is cached under: its arguments, the locked
    checkov (tools/lint/uv.lock), every file of the custom policies and every stack file it scans."""
    digest = hashlib.sha256(b"checkov-report 1\n")
    digest.update(json.dumps(list(cmd[1:])).encode())
    files = [("uv.lock", CHECKOV.parents[2] / "uv.lock")]
    files += [
        (f"policies/{p.relative_to(policy_dir).as_posix()}", p)
        for p in sorted(policy_dir.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    ]
    files += [(f"stack/{arg}", cwd / arg) for flag, arg in itertools.pairwise(cmd) if flag == "-f"]
    hash_files(digest, files)
    return digest.hexdigest()


def run_checkov(
    stack_files: dict[str, Path],
    checks: Sequence[str] | None = None,
    policy_dir: Path = POLICY_DIR,
    framework: str = FRAMEWORK,
    cache: BuildCache | None = None,
) -> tuple[list[Result], list[str]]:
    """Run checkov once over `stack_files` (stack -> cdk.tf.json); return (results, problems).

    `checks` limits the run to these check ids (checkov `--check`). Nothing is skipped here.
    With a `cache`, a report of the same inputs (`report_key`) is read instead of running checkov again
    (`make check-infra` and the test of the real stacks scan the same files), and a new one is kept.
    """
    if not CHECKOV.is_file():
        raise ConfigError(f"{_relative(CHECKOV)} is missing: run `make setup` (tools/lint environment)")
    cwd = Path(os.path.commonpath([p.resolve().parent for p in stack_files.values()]))
    cmd = [str(CHECKOV), "--framework", framework, "--skip-download", "-o", "json"]
    cmd += ["--external-checks-dir", str(policy_dir)]
    for path in stack_files.values():
        cmd += ["-f", str(path.resolve().relative_to(cwd))]
    if checks:
        cmd += ["--check", ",".join(checks)]
    env = {
        **os.environ,
        "ACME_CHECKOV_ROOT": str(cwd),
        "LOG_LEVEL": "WARNING",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    key = report_key(cmd, cwd, policy_dir) if cache is not None else ""
    kept = cache.get("checkov", key) if cache is not None else None
    if isinstance(kept, dict) and {"returncode", "stdout", "stderr"} <= set(kept):
        proc = subprocess.CompletedProcess(
            cmd, int(kept["returncode"]), str(kept["stdout"]), str(kept["stderr"])
        )
    else:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
        if cache is not None and proc.returncode in (0, 1):  # a crashed scan is never kept
            cache.put(
                "checkov", key, {"returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}
            )
    problems = _log_problems(proc.stderr)
    if proc.returncode not in (0, 1):
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise PlatformError(f"checkov exited {proc.returncode}: {tail}")
    output = proc.stdout.strip()
    reports: list[dict[str, Any]]
    if not output:
        reports = []
    else:
        try:
            parsed = json.loads(output)
        except ValueError:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise PlatformError(f"checkov printed no JSON report: {tail}") from None
        items = parsed if isinstance(parsed, list) else [parsed]
        reports = [item for item in items if isinstance(item, dict)]

    if proc.returncode == 0 and not reports:
        problems.append("checkov reported nothing at all (no stack file was scanned)")
    by_file = {path.resolve(): stack for stack, path in stack_files.items()}
    indexes = {path.resolve(): _TypeIndex(path) for path in stack_files.values()}
    results: list[Result] = []
    for report in reports:
        if report.get("check_type") not in (None, framework):
            continue
        summary = report.get("summary", {})
        if summary.get("parsing_errors"):
            problems.append(f"checkov could not parse {summary['parsing_errors']} stack file(s)")
        for key, status in (
            ("passed_checks", "passed"),
            ("failed_checks", "failed"),
            ("skipped_checks", "failed"),
        ):
            for record in report.get("results", {}).get(key, []):
                if key == "skipped_checks":
                    # Suppressed inside the stack: every skip lives in skips.yaml, so this counts as failed.
                    record = {
                        **record,
                        "details": ["suppressed inline; list it in policies/skips.yaml instead"],
                    }
                path = (cwd / record["file_path"].lstrip("/")).resolve()
                stack = by_file.get(path)
                if stack is None:
                    continue
                line = int((record.get("file_line_range") or [0])[0])
                resource = str(record["resource"])
                if resource.startswith("resource."):
                    resource = indexes[path].resolve(resource.removeprefix("resource."), line)
                results.append(
                    Result(
                        stack=stack,
                        file=_relative(path),
                        check_id=record["check_id"],
                        check_name=record.get("check_name") or "",
                        resource=resource,
                        status=status,  # type: ignore[arg-type]
                        line=line,
                        details=tuple(record.get("details") or ()),
                    )
                )
    return results, problems


def unevaluated(
    results: Sequence[Result],
    stack_files: dict[str, Path],
    policy_dir: Path = POLICY_DIR,
    selected: Iterable[str] | None = None,
) -> list[str]:
    """Resources a custom YAML policy covers but gave no verdict on (checkov drops unresolvable ones).

    `selected`: the check ids the run was limited to (default: every policy ran).
    """
    seen = {(r.stack, r.check_id, r.resource) for r in results}
    wanted = set(selected) if selected is not None else None
    problems: list[str] = []
    for check_id, types in _yaml_policy_types(policy_dir).items():
        if wanted is not None and check_id not in wanted:
            continue
        for stack, path in stack_files.items():
            data = json.loads(path.read_text(encoding="utf-8"))
            for rtype in sorted(types):
                for name in (data.get("resource") or {}).get(rtype) or {}:
                    if name != "//" and (stack, check_id, f"{rtype}.{name}") not in seen:
                        problems.append(
                            f"{check_id} gave no verdict on {rtype}.{name} ({_relative(path)}): "
                            "a value it reads is not a literal"
                        )
    return problems


def apply_skips(
    results: Sequence[Result], skips: Sequence[Skip], source: Path = SKIPS_FILE
) -> tuple[list[Result], list[str]]:
    """Turn failures covered by a skip into skipped results; report skips that matched nothing."""
    used: set[tuple[int, str]] = set()
    out: list[Result] = []
    for result in results:
        if result.status == "failed":
            for i, skip in enumerate(skips):
                if skip.matches(result):
                    used.add((i, result.stack))
                    result = replace(result, status="skipped", reason=skip.reason)
                    break
        out.append(result)
    stale = [
        f"stale skip in {_relative(source)}: {skip.check} matched no failure on {stack}; "
        f"remove {stack} from it"
        for i, skip in enumerate(skips)
        for stack in skip.stacks
        if (i, stack) not in used
    ]
    return out, stale


def find_stacks(stacks_dir: Path = STACKS_DIR, names: Sequence[str] = ()) -> dict[str, Path]:
    """stack name -> its cdk.tf.json; every name asked for (default: every stack found) must exist."""
    found = {p.parent.name: p for p in sorted(stacks_dir.glob(f"*/{STACK_FILE}"))}
    if not found:
        raise ConfigError(f"{_relative(stacks_dir)}: no */{STACK_FILE}: run `make synth` first")
    missing = [n for n in names if n not in found]
    if missing:
        raise ConfigError(
            f"{_relative(stacks_dir)}: no stack {', '.join(missing)} (found: {', '.join(found)})"
        )
    return {n: found[n] for n in names} if names else found


def cmek_stacks(environments_dir: Path = ENVIRONMENTS_DIR) -> set[str]:
    """Stacks whose environment file enables CMEK (they may not skip an encryption-key check)."""
    return {
        n for n in environment_names(environments_dir) if load_environment(n, environments_dir).cmek.enabled
    }


def encryption_skips(results: Sequence[Result], cmek: set[str], source: Path = SKIPS_FILE) -> list[str]:
    """Skipped encryption-key checks on stacks whose environment enables CMEK: never allowed."""
    return sorted(
        {
            f"{_relative(source)}: {r.check_id} ({r.check_name}) cannot be skipped on {r.stack}: "
            f"environments/{r.stack}.yaml enables CMEK"
            for r in results
            if r.status == "skipped" and r.stack in cmek and _ENCRYPTION_CHECK.search(r.check_name)
        }
    )


def check_stacks(
    stack_files: dict[str, Path],
    skips: Sequence[Skip] | None = None,
    policy_dir: Path = POLICY_DIR,
    skips_file: Path = SKIPS_FILE,
    cmek: set[str] | None = None,
    cache: BuildCache | None = None,
) -> Report:
    """Run every check on `stack_files`, apply the skips of these stacks, guard against silent passes.

    `cmek`: stacks that must not skip encryption-key checks (default: from the environment files).
    `cache`: where checkov's report of the same inputs is kept (see `run_checkov`).
    """
    results, problems = run_checkov(stack_files, policy_dir=policy_dir, cache=cache)
    problems += unevaluated(results, stack_files, policy_dir)
    if skips is None:
        skips = load_skips(skips_file, known_stacks=stack_files)
    # A skip is stale only if it matched nothing on the stacks of this run.
    relevant = [replace(s, stacks=tuple(x for x in s.stacks if x in stack_files)) for s in skips]
    results, stale = apply_skips(results, [s for s in relevant if s.stacks], skips_file)
    problems += encryption_skips(results, cmek_stacks() if cmek is None else cmek, skips_file)
    return Report(results=results, stacks=list(stack_files), problems=problems + stale)


def _ensure_synth() -> Path:
    """The stacks folder of the current inputs (synthesized only when an input changed)."""
    try:
        return ensure_synth() / "stacks"
    except SynthError as exc:
        error = PlatformError(f"synth failed: {exc}")
        error.exit_code = exc.exit_code
        raise error from None


def main(argv: list[str] | None = None) -> int:
    """Command line: scan the stacks, print counts and failures, exit 1 on any failure."""
    parser = argparse.ArgumentParser(
        prog="python -m policies.checkov_run", description=__doc__.split("\n")[0]
    )
    parser.add_argument("stacks", nargs="*", help="stacks to scan (default: all under --stacks-dir)")
    parser.add_argument("--stacks-dir", type=Path, default=None, help="folder of <stack>/cdk.tf.json")
    parser.add_argument(
        "--skips", type=Path, default=SKIPS_FILE, help="skips file (default: policies/skips.yaml)"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="also list every skipped result")
    parser.add_argument(
        "--no-cache", action="store_true", help="run checkov even if a report of the same inputs is kept"
    )
    args = parser.parse_args(argv)
    try:
        stacks_dir = args.stacks_dir or _ensure_synth()
        stack_files = find_stacks(stacks_dir, args.stacks)
        known = [p.parent.name for p in stacks_dir.glob(f"*/{STACK_FILE}")]
        report = check_stacks(
            stack_files,
            load_skips(args.skips, known_stacks=known),
            skips_file=args.skips,
            cache=None if args.no_cache else BuildCache(default_cache_dir()),
        )
    except PlatformError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    for stack in report.stacks:
        c = report.counts(stack)
        print(
            f"{stack}: {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped "
            f"({_relative(stack_files[stack])})"
        )
    if args.verbose:
        for r in report.results:
            if r.status == "skipped":
                print(f"skipped {r.stack} {r.check_id} {r.resource}: {r.reason}")
    for r in sorted(report.failures, key=lambda r: (r.stack, r.check_id, r.resource)):
        print(r.line_text())
    for problem in report.problems:
        print(f"ERROR {problem}")
    if not report.ok:
        print(
            f"checkov: {len(report.failures)} failed check(s), {len(report.problems)} problem(s)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
