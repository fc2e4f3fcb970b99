"""The committed, dated table of known Cloud Composer 3 builds and the PyPI packages each preinstalls.

`composer.image_version` must name a build of this table (`platform_model.environment` checks it with
`require_build`), and `deployer check` resolves the environments' PyPI packages against the build's
preinstalled set (`policies.composer_packages`). The table is data, `composer_builds.json` beside this
module: per build (`composer-3-airflow-X.Y.Z-build.N`) its release date, the packages its source showed
(`name -> version`, PEP 503 names), whether that list is the build's whole list (`complete`) and the
source. The Airflow version of a build is the X.Y.Z of its name: Composer preinstalls
`apache-airflow==X.Y.Z+composer` (`ComposerBuild.preinstalled` answers it from the name when the list
does not show it). A package a partial list does not show is unknown, not absent.

Refreshing the table (the documented command)::

    python -m platform_model.composer_builds --refresh versions-packages.md.txt [--read-on YYYY-MM-DD]
        [--table platform_model/composer_builds.json] [--replace]

`FILE` is a saved copy of Google's packages page as published in markdown, the `.md.txt` form of
https://docs.cloud.google.com/composer/docs/versions-packages (save
https://docs.cloud.google.com/composer/docs/versions-packages.md.txt). The Gen 3 ("Managed Airflow
(Gen 3)" or "Cloud Composer 3") package changelog is read: each `### <Month DD, YYYY>` heading dates the
builds under it, each `#### composer-3-airflow-...` heading opens a build and the code block after
"Packages in <build>" lists its `name==version` lines. Builds with Airflow 2 are left out (the platform
runs Airflow 3). A build whose code block is cut off (a partial copy) is kept with `complete: false`.
Builds read from the page replace the table's entries of the same name (a partial one adds to them);
builds the page does not list are kept, unless `--replace`. `--read-on` (default: today) dates the copy.
Errors are one line naming the file (exit 2).
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from platform_model.errors import ConfigError, PlatformError

TABLE = Path(__file__).with_name("composer_builds.json")
PACKAGES_URL = "https://docs.cloud.google.com/composer/docs/versions-packages.md.txt"
REFRESH = "python -m platform_model.composer_builds --refresh <saved versions-packages.md.txt>"
IMAGE = re.compile(r"^composer-3-airflow-(?P<airflow>\d+\.\d+\.\d+)(?:-build\.(?P<build>\d+))?$")
_PACKAGE_LINE = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!_-]+)\s*$")
_DATE_HEADING = re.compile(r"^###\s+(?P<date>[A-Z][a-z]+ \d{1,2}, \d{4})\s*$")
_BUILD_HEADING = re.compile(r"^####\s+(?P<image>composer-3-airflow-\S+)\s*$")
_GEN3_SECTION = re.compile(r"^##\s+(Managed Airflow \(Gen 3\)|Cloud Composer 3) package changelog", re.I)


def normalize(name: str) -> str:
    """PEP 503 name: `Great_Expectations` -> `great-expectations`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _key(image_version: str) -> tuple[tuple[int, ...], int]:
    """Sort key: (Airflow version, build number); a name without a build sorts before its builds."""
    match = IMAGE.match(image_version)
    if not match:
        return ((), -1)
    return tuple(int(p) for p in match["airflow"].split(".")), int(match["build"] or -1)


@dataclass(frozen=True)
class ComposerBuild:
    """One Composer 3 build: its date and the preinstalled packages its source showed."""

    image_version: str
    released: str
    """Release date (ISO)."""
    packages: Mapping[str, str]
    """PEP 503 name -> version, as published (e.g. `3.3.1+composer`); only those the source showed."""
    complete: bool
    """Whether `packages` is the build's whole list (else a package it lacks is unknown)."""
    source: str

    @property
    def airflow(self) -> str:
        """The Airflow version in the build's name (`composer-3-airflow-3.3.1-build.10` -> `3.3.1`)."""
        match = IMAGE.match(self.image_version)
        assert match is not None  # the table's names are checked when it is read
        return match["airflow"]

    def preinstalled(self, name: str) -> str | None:
        """The version of `name` this build preinstalls; None when its list does not show it."""
        wanted = normalize(name)
        if wanted in self.packages:
            return self.packages[wanted]
        if wanted == "apache-airflow":
            return f"{self.airflow}+composer"
        return None


@dataclass(frozen=True)
class BuildTable:
    """The table: when it was read, from where, and its builds by name."""

    read_on: str
    sources: Mapping[str, str]
    builds: Mapping[str, ComposerBuild] = field(default_factory=dict)

    def get(self, image_version: str) -> ComposerBuild | None:
        """The build called `image_version`, or None."""
        return self.builds.get(image_version)

    def ordered(self) -> list[str]:
        """Build names, oldest first (by Airflow version, then build number)."""
        return sorted(self.builds, key=_key)

    def newest(self) -> ComposerBuild:
        """The build with the highest Airflow version and build number."""
        return self.builds[self.ordered()[-1]]

    def nearest(self, image_version: str, count: int = 3) -> list[str]:
        """The `count` known builds closest to `image_version` in version order, newest first."""
        names = self.ordered()
        wanted = IMAGE.match(image_version)
        same = [n for n in names if wanted and n.startswith(f"composer-3-airflow-{wanted['airflow']}-")]
        if same:
            return same[::-1][:count]
        at = bisect.bisect_left([_key(n) for n in names], _key(image_version))
        low = max(0, min(at - count // 2 - 1, len(names) - count))
        return sorted(names[low : low + count], key=_key, reverse=True)


class UnknownBuild(ValueError):
    """`composer.image_version` names no build of the table (a ValueError: pydantic reports it)."""


def require_build(image_version: str, table: BuildTable | None = None) -> ComposerBuild:
    """The build `image_version` names; UnknownBuild (one line, the nearest known builds) otherwise."""
    table = table or load_table()
    found = table.get(image_version)
    if found is not None:
        return found
    nearest = ", ".join(table.nearest(image_version))
    if IMAGE.match(image_version) and "-build." not in image_version:
        problem = f"{image_version} names no build (Composer 3 images are composer-3-airflow-X.Y.Z-build.N)"
    else:
        problem = f"{image_version} is not a known Composer 3 build"
    raise UnknownBuild(f"{problem}; nearest known: {nearest} (table of {table.read_on}; refresh: {REFRESH})")


def _shown(path: Path) -> str:
    return path.name if path == TABLE else str(path)


def _build_from(name: str, data: Any, where: str) -> ComposerBuild:
    if not IMAGE.match(name) or "-build." not in name:
        raise ConfigError(f"{where}: builds: {name!r} is not a composer-3-airflow-X.Y.Z-build.N name")
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: builds.{name}: expected a mapping")
    released, packages = data.get("released"), data.get("packages", {})
    try:
        dt.date.fromisoformat(str(released))
    except ValueError:
        raise ConfigError(f"{where}: builds.{name}.released: {released!r} is not a date") from None
    if not isinstance(packages, dict) or not all(isinstance(v, str) for v in packages.values()):
        raise ConfigError(f"{where}: builds.{name}.packages: expected name -> version strings")
    return ComposerBuild(
        image_version=name,
        released=str(released),
        packages={normalize(str(k)): v for k, v in packages.items()},
        complete=bool(data.get("complete", False)),
        source=str(data.get("source", "")),
    )


@cache
def load_table(path: Path = TABLE) -> BuildTable:
    """Read the table (`composer_builds.json`); ConfigError naming the file when it is unusable."""
    where = _shown(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{where}: file not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: invalid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("builds"), dict) or not data["builds"]:
        raise ConfigError(f"{where}: expected a mapping with a non-empty `builds` mapping")
    builds = {name: _build_from(name, entry, where) for name, entry in data["builds"].items()}
    return BuildTable(read_on=str(data.get("read_on", "")), sources=data.get("sources", {}), builds=builds)


# -- refresh: a saved copy of the packages page -> the table -----------------------------------------


def parse_packages_page(text: str, source: str = PACKAGES_URL) -> dict[str, ComposerBuild]:
    """The Airflow 3 builds of the Gen 3 changelog in the page's markdown (`versions-packages.md.txt`)."""
    builds: dict[str, ComposerBuild] = {}
    in_gen3, date, image = False, "", ""
    packages: dict[str, str] = {}
    in_block = False

    def close(complete: bool) -> None:
        nonlocal image, packages, in_block
        airflow = IMAGE.match(image)
        if image and airflow and "-build." in image and int(airflow["airflow"].split(".")[0]) >= 3:
            builds[image] = ComposerBuild(image, date, dict(sorted(packages.items())), complete, source)
        image, packages, in_block = "", {}, False

    for line in text.splitlines():
        stripped = line.strip()
        if in_block:
            if stripped.startswith("```"):
                close(complete=True)
            elif match := _PACKAGE_LINE.match(line):
                packages[normalize(match["name"])] = match["version"]
            continue
        if line.startswith("## "):
            if image:
                close(complete=False)
            in_gen3 = bool(_GEN3_SECTION.match(line))
            continue
        if not in_gen3:
            continue
        if match := _DATE_HEADING.match(line):
            date = dt.datetime.strptime(match["date"], "%B %d, %Y").date().isoformat()
        elif match := _BUILD_HEADING.match(line):
            if image:
                close(complete=False)
            image = match["image"]
        elif image and stripped.startswith("```") and not packages:
            in_block = True
    if image:
        close(complete=False)  # the copy ends inside (or before) this build's list
    return builds


def refresh(
    page: Path, table_path: Path = TABLE, *, read_on: str | None = None, replace: bool = False
) -> dict[str, Any]:
    """Regenerate the table at `table_path` from a saved copy of the packages page; the new table."""
    try:
        text = page.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError):
        raise ConfigError(f"{page}: file not found") from None
    found = parse_packages_page(text)
    if not found:
        raise ConfigError(
            f"{page}: no Composer 3 build with Airflow 3 in it (expected the markdown of {PACKAGES_URL})"
        )
    try:
        current = json.loads(table_path.read_text(encoding="utf-8")) if table_path.is_file() else {}
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{table_path}: invalid JSON: {exc}") from None
    builds: dict[str, Any] = {} if replace else dict(current.get("builds", {}))
    for name, build in found.items():
        known = {} if build.complete else dict(builds.get(name, {}).get("packages", {}))
        entry = {
            "released": build.released,
            "complete": build.complete,
            "source": f"{PACKAGES_URL} (saved copy {page.name})",
            "packages": dict(sorted({**known, **build.packages}.items())),
        }
        builds[name] = entry
    table = {
        **current,
        "read_on": read_on or dt.date.today().isoformat(),
        "sources": {**current.get("sources", {}), "packages": PACKAGES_URL},
        "partial": not all(b.get("complete") for b in builds.values()),
        "builds": {n: builds[n] for n in sorted(builds, key=_key, reverse=True)},
    }
    table_path.write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
    load_table.cache_clear()
    return table


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m platform_model.composer_builds --refresh FILE`: regenerate the table (module doc)."""
    parser = argparse.ArgumentParser(prog="python -m platform_model.composer_builds", description=__doc__)
    parser.add_argument(
        "--refresh", type=Path, required=True, metavar="FILE", help="saved versions-packages.md.txt"
    )
    parser.add_argument(
        "--table", type=Path, default=TABLE, help="table to write (default: the committed one)"
    )
    parser.add_argument("--read-on", help="date the copy was saved (YYYY-MM-DD; default: today)")
    parser.add_argument("--replace", action="store_true", help="drop builds the page does not list")
    args = parser.parse_args(argv)
    try:
        if args.read_on:
            try:
                dt.date.fromisoformat(args.read_on)
            except ValueError:
                raise ConfigError(f"--read-on: {args.read_on!r} is not a date (YYYY-MM-DD)") from None
        table = refresh(args.refresh, args.table, read_on=args.read_on, replace=args.replace)
    except PlatformError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    builds = table["builds"]
    complete = sum(1 for b in builds.values() if b.get("complete"))
    print(f"{args.table}: {len(builds)} builds ({complete} with complete lists), read {table['read_on']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
