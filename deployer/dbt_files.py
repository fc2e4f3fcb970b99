"""What a dbt project's own files say, read without running dbt (for the declared lineage).

A file of `models/` or `snapshots/` refers to others through `ref('name')` and `source('src', 'table')`, and
a snapshot file defines snapshots as `{% snapshot name %}` blocks (SQL) or as a YAML file's `snapshots:`
entries. Kept apart from the lineage's graph so that no module reading the domain declarations also parses
YAML (one reader of the domain files: `platform_model.domain`).
"""

from __future__ import annotations

import re
from pathlib import Path

from platform_model.yamlfile import parse_yaml

REF = re.compile(r"""ref\(\s*['"]([^'"]+)['"]\s*\)""")
SOURCE = re.compile(r"""source\(\s*['"]([^'"]+)['"]\s*,\s*['"]([^'"]+)['"]\s*\)""")
_SNAPSHOT_BLOCK = re.compile(r"""\{%-?\s*snapshot\s+([A-Za-z0-9_]+)\s*-?%\}""")


def snapshot_names(path: Path, text: str) -> list[str]:
    """The snapshots a file defines: `{% snapshot name %}` blocks, or a YAML file's `snapshots:` entries."""
    if path.suffix == ".sql":
        return list(_SNAPSHOT_BLOCK.findall(text))
    data = parse_yaml(text, str(path))
    entries = data.get("snapshots") if isinstance(data, dict) else None
    return [str(e["name"]) for e in entries or [] if isinstance(e, dict) and "name" in e]
