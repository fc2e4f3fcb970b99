"""`pii-tags`: every PII column carries the policy tag its contract names, and the taxonomy defines it.

- Every `pii:` of every domain's contract names a policy tag of the taxonomy of every environment
  the domain is deployed to (the taxonomy infra creates from the environment file).
- Every dbt column marked PII carries a policy tag, referenced by display name
  (`{{ var('policy_tags')['PII Email'] }}`, which the runtime config resolves per environment).
  A column is marked PII by its domain's contract (the model of a mart, or `stg_<staging table>`)
  or by its own `meta.pii` / `meta.contains_pii`. When the contract names a tag, the column carries
  that one; every tag a column carries exists in the taxonomy of the environments it is deployed to.
"""

from __future__ import annotations

from collections.abc import Iterable

from platform_model.domain import Column
from platform_model.environment import Environment
from policies.crosslayer.dbt_yaml import TAG_VAR, DbtColumn, DbtNode, nodes
from policies.crosslayer.view import Finding, ReleaseView

CHECK = "pii-tags"


def _enabled_in(view: ReleaseView, domain: str | None) -> list[Environment]:
    """The environments deploying `domain` (every environment for a node of no domain)."""
    return [
        env
        for _, env in sorted(view.envs.items())
        if domain is None or domain not in env.domains or env.domains[domain].enabled
    ]


def _contract_relations(view: ReleaseView) -> dict[str, tuple[str, str, list[Column]]]:
    """dbt model name -> (domain, contract section, columns) for the models a contract declares."""
    out: dict[str, tuple[str, str, list[Column]]] = {}
    for name, domain in view.domains.items():
        if domain.staging is not None:
            out[f"stg_{domain.staging.table}"] = (name, "staging", domain.staging.columns)
        for mart, declared in domain.marts.items():
            out[mart] = (name, f"marts.{mart}", declared.columns)
    return out


def _node_domain(view: ReleaseView, node: DbtNode, declared: str | None) -> str | None:
    """The domain a node belongs to: the contract declaring it, else its folder (dbt/<kind>/<domain>/)."""
    if declared is not None:
        return declared
    parts = node.file.split("/")
    return parts[2] if len(parts) > 3 and parts[2] in view.domains else None


def meta_pii(col: DbtColumn) -> tuple[str | None, bool]:
    """(policy tag display name `meta.pii` names, whether the column's meta marks it PII at all)."""
    declared = col.meta.get("pii")
    named = declared if isinstance(declared, str) and declared else None
    return named, bool(named or declared is True or col.meta.get("contains_pii") is True)


def _missing_in(view: ReleaseView, tag: str, envs: Iterable[Environment]) -> list[str]:
    return [view.env_file(env.name) for env in envs if tag not in env.policy_tag_names()]


def check_contracts(view: ReleaseView) -> list[Finding]:
    """Every `pii:` of every contract is a policy tag of the environments deploying the domain."""
    findings: list[Finding] = []
    for name, domain in sorted(view.domains.items()):
        envs = _enabled_in(view, name)
        for section, columns in domain.sections().items():
            for col in columns:
                if col.pii is None:
                    continue
                for env_file in _missing_in(view, col.pii, envs):
                    findings.append(
                        Finding(
                            CHECK,
                            view.domain_file(name),
                            f"{section}.columns.{col.name}.pii: policy tag {col.pii!r} is not in the "
                            f"taxonomy of {env_file}",
                        )
                    )
    return findings


def _check_column(
    view: ReleaseView, node: DbtNode, col: DbtColumn, contract: str | None, envs: list[Environment]
) -> list[Finding]:
    """One dbt column: `contract` is the tag its domain's contract names (None: not PII there)."""
    shown = view.shown(node.file)
    where = f"{node.kind} {node.name}, column {col.name}"
    findings: list[Finding] = []
    carried: list[str] = []
    for tag in col.policy_tags:
        match = TAG_VAR.search(tag)
        if match:
            carried.append(match.group(1))
        else:
            findings.append(
                Finding(
                    CHECK,
                    shown,
                    f"{where}: policy tag {tag!r} is not referenced by display name "
                    "({{ var('policy_tags')['<display name>'] }}), so no environment can resolve it",
                )
            )
    named, flagged = meta_pii(col)
    marked = {t for t in (contract, named) if t}
    if flagged or marked:
        if not col.policy_tags:
            why = " / ".join(sorted(marked)) + " in the contract" if contract else "meta marks it PII"
            findings.append(Finding(CHECK, shown, f"{where}: PII ({why}) but carries no policy tag"))
        elif marked and carried and not marked & set(carried):
            findings.append(
                Finding(
                    CHECK,
                    shown,
                    f"{where}: carries {', '.join(repr(t) for t in carried)} but the contract marks it "
                    f"{' / '.join(repr(t) for t in sorted(marked))}",
                )
            )
    for tag in carried:
        for env_file in _missing_in(view, tag, envs):
            findings.append(
                Finding(CHECK, shown, f"{where}: policy tag {tag!r} is not in the taxonomy of {env_file}")
            )
    return findings


def check_dbt(view: ReleaseView) -> list[Finding]:
    """Every PII column of the dbt models, snapshots and seeds carries a policy tag the taxonomy has."""
    relations = _contract_relations(view)
    findings: list[Finding] = []
    for node in nodes(view):
        if node.kind == "source table":
            continue  # sources are the tables infra creates (schema-agreement checks their tags)
        domain, _section, columns = relations.get(node.name, (None, "", []))
        if node.kind != "model":
            domain, columns = None, []
        pii = {c.name: c.pii for c in columns}
        envs = _enabled_in(view, _node_domain(view, node, domain))
        for col in node.columns:
            findings += _check_column(view, node, col, pii.get(col.name), envs)
    return findings


def check_pii_tags(view: ReleaseView) -> list[Finding]:
    """The `pii-tags` findings of a release."""
    return check_contracts(view) + check_dbt(view)
