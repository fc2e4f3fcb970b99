"""The data contract a job runs against: its domain's event, staging and rejects columns.

The job runs on Dataproc from its zip, without the repository, so the build writes the domain's
contract into the zip (`dataproc_jobs/<package>/contract.json`, from `platform_model`). In the source
tree (tests, a developer's shell) there is no such file and the same document is made from the model
itself: either way the columns a job reads and writes are the ones its domain file declares.
"""

from __future__ import annotations

import json
import pkgutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from platform_model.domain import Domain

CONTRACT_FILE = "contract.json"
SECTIONS = ("event", "staging", "rejects")


@dataclass(frozen=True)
class Column:
    """One contract column: its name, BigQuery type and whether it is REQUIRED."""

    name: str
    type: str
    required: bool


@dataclass(frozen=True)
class Section:
    """The columns of one contract section, in contract order, and its day partition (tables only)."""

    columns: tuple[Column, ...]
    partition_by: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in contract order."""
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        """Names of the REQUIRED columns."""
        return tuple(c.name for c in self.columns if c.required)


@dataclass(frozen=True)
class Contract:
    """What a job package needs of its domain's contract."""

    domain: str
    event: Section
    staging: Section
    rejects: Section


def document(domain: Domain) -> dict[str, Any]:
    """The contract document of a domain's job package (what the build writes as contract.json)."""
    tables = {"staging": domain.staging, "rejects": domain.rejects}
    sections = domain.sections()
    out: dict[str, Any] = {"domain": domain.domain}
    for name in SECTIONS:
        if name not in sections:
            raise ValueError(f"domains/{domain.domain}.yaml: {name}: a domain with a Spark job declares it")
        table = tables.get(name)
        out[name] = {
            "partition_by": table.partition_by if table is not None else None,
            "columns": [[c.name, c.type, c.mode == "REQUIRED"] for c in sections[name]],
        }
    return out


def to_bytes(doc: dict[str, Any]) -> bytes:
    """contract.json as the build writes it (sorted keys: byte-identical for the same contract)."""
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")


def parse(doc: dict[str, Any]) -> Contract:
    """A contract document -> the typed contract."""
    sections = {
        name: Section(
            columns=tuple(Column(n, t, bool(r)) for n, t, r in doc[name]["columns"]),
            partition_by=doc[name]["partition_by"],
        )
        for name in SECTIONS
    }
    return Contract(domain=doc["domain"], **sections)


def _from_model(package: str) -> dict[str, Any]:
    # Only in the source tree, where the model is importable (the zip carries contract.json instead).
    from platform_model.domain import load_domains

    name = package.rpartition(".")[2]
    owners = [d for d in load_domains().values() if name in {d.job_package(j) for j in d.spark_jobs}]
    if len(owners) != 1:
        raise LookupError(f"{package}: {len(owners)} domains declare a job of this package, not one")
    return document(owners[0])


def load(package: str) -> Contract:
    """The contract of a job package (`dataproc_jobs.<name>`, a module's `__package__`): its
    contract.json when shipped, else made from the model."""
    try:
        data = pkgutil.get_data(package, CONTRACT_FILE)
    except FileNotFoundError:
        data = None
    return parse(json.loads(data) if data is not None else _from_model(package))
