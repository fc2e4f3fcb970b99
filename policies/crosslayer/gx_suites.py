"""`gx-suites`: every GX suite a domain declares is in the release, and every suite of a domain is declared.

A domain's suites live at `gx/expectations/<domain>/<suite>.json` (the runtime config points the
domain's validation task there). A declared suite must be there, be a JSON object and carry its own
name; a suite file in a domain's folder that the domain does not declare is validated by no DAG.
"""

from __future__ import annotations

import json

from policies.crosslayer.view import Finding, ReleaseView

CHECK = "gx-suites"


def suite_path(domain: str, suite: str) -> str:
    """The release path of a domain's suite."""
    return f"gx/expectations/{domain}/{suite}.json"


def check_gx_suites(view: ReleaseView) -> list[Finding]:
    """The `gx-suites` findings of a release."""
    findings: list[Finding] = []
    for name, domain in sorted(view.domains.items()):
        for suite in domain.gx_suites:
            rel = suite_path(name, suite)
            if rel not in view.files:
                findings.append(
                    Finding(CHECK, view.domain_file(name), f"gx_suites.{suite}: {rel} is not in the release")
                )
                continue
            try:
                data = json.loads(view.read(rel))
            except (ValueError, UnicodeDecodeError):
                findings.append(Finding(CHECK, view.shown(rel), "is not valid JSON"))
                continue
            if not isinstance(data, dict):
                findings.append(Finding(CHECK, view.shown(rel), "is not a GX suite (a JSON object)"))
            elif data.get("name", suite) != suite:
                findings.append(
                    Finding(CHECK, view.shown(rel), f"names itself {data['name']!r}, not {suite!r}")
                )
        prefix = f"gx/expectations/{name}/"
        for rel in sorted(view.files):
            if rel.startswith(prefix) and rel.endswith(".json") and "/" not in rel.removeprefix(prefix):
                suite = rel.removeprefix(prefix).removesuffix(".json")
                if suite not in domain.gx_suites:
                    findings.append(
                        Finding(
                            CHECK,
                            view.shown(rel),
                            f"not declared in {view.domain_file(name)} (gx_suites), so no DAG validates it",
                        )
                    )
    return findings
