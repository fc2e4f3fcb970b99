"""The platform's model: what every other package reads, and nothing else.

- `environment`: the one typed model of `environments/*.yaml`.
- `domain`: the pipeline domains (`domains/*.yaml`): each domain's data contract and pipeline
  declaration, read by the ONE contract parser; `resolve` applies an environment's overrides.
- `manifest`: the release manifest (files, digests, components) and the Spark `jobs.json` index.
- `runtime`: the runtime config rendered beside the DAGs, and the one function that builds it.
- `errors`: the errors every command turns into one line and an exit code.

This package imports none of the others (infra, deployer, policies, composer, dataproc_jobs, bench):
they all stand on it. A test walks every import to keep it so.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
