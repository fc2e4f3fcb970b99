"""The cdktf app (on CDK Terrain): one construct per concern, one `PlatformStack` per GCP environment.

Layout, top-down:

- `stack.py`      `PlatformStack(app, env.name, env)`: composes the constructs below, the GCS backend and
                  the outputs the deployer and the DAGs read.
- `services.py`   the project's APIs; `network.py` VPC/subnet/NAT; `iam.py` service accounts, project roles,
                  Workload Identity Federation; `cmek.py` key rings, keys and service-agent grants;
                  `storage.py` buckets; `composer.py`; `dataproc.py`; `bigquery.py` datasets, taxonomy,
                  masking, every domain's raw, staging and rejects tables; `secretmanager.py` the
                  domains' PII hashing secrets (no values); `pubsub.py` every domain's topic, schema,
                  subscription and dead letters; `monitoring.py` channels, alerts (one per DAG),
                  log-based metrics, log bucket, audit logs.
- `schemas.py`    the Avro and BigQuery schemas derived from a domain's columns (`platform_model.domain`
                  is the one contract parser; nothing here reads YAML).
- `labels.py`     the labels of a domain's resources.
- `packages.py`   package pins read at synth time (uv.lock, composer/requirements.txt).
- `bindings.py`   loads the provider bindings in the background while `app.py` reads its inputs.
- `app.py`        builds the App from every `platform: gcp` environment and the domains deployed to it
                  (`platform_model`); `__main__.py` runs it.
- `synth.py`      `python -m infra.synth` / `ensure_synth()`: synthesizes only when an input changed.

Importing this package is cheap on purpose (`infra.synth` must answer in milliseconds when nothing
changed): no cdktn, no pydantic here.
"""

from __future__ import annotations

import os
from pathlib import Path

from platform_model.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
NODE_BIN = REPO_ROOT / "node_modules" / ".bin"
ENVIRONMENTS_DIR_VAR = "INFRA_ENVIRONMENTS_DIR"
"""Names an alternate environments directory (tests, previews); the default is `environments/`."""
DOMAINS_DIR_VAR = "INFRA_DOMAINS_DIR"
"""Names an alternate domains directory (tests, previews); the default is `domains/`."""


def _directory(variable: str, default: Path) -> Path:
    """`$variable` resolved, or `default` when it is unset; ConfigError when it names no directory (the
    app would otherwise find no file there and synthesize nothing, successfully)."""
    override = os.environ.get(variable)
    if not override:
        return default
    path = Path(override).resolve()
    if not path.is_dir():
        raise ConfigError(f"${variable}: {override} is not a directory")
    return path


def environments_dir() -> Path:
    """The directory the app reads environment files from: `$INFRA_ENVIRONMENTS_DIR` or `environments/`."""
    return _directory(ENVIRONMENTS_DIR_VAR, REPO_ROOT / "environments")


def domains_dir() -> Path:
    """The directory the app reads domain files from: `$INFRA_DOMAINS_DIR` or `domains/`."""
    return _directory(DOMAINS_DIR_VAR, REPO_ROOT / "domains")


def env_file(name: str) -> str:
    """The environment file of `name`, as error messages should show it (relative to the repo if inside)."""
    path = environments_dir() / f"{name}.yaml"
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def prefer_repo_node() -> None:
    """Make jsii (and the CLIs it may spawn) use the repo's pinned Node 22, not the machine's Node.

    jsii starts `node` from PATH at the first cdktn import; the machine's Node 20 is end-of-life and
    makes jsii print a large warning. An explicit `JSII_NODE` set by the caller wins.
    """
    node = NODE_BIN / "node"
    if not node.exists():
        return
    os.environ.setdefault("JSII_NODE", str(node))
    path = os.environ.get("PATH", "")
    if not path.startswith(str(NODE_BIN) + os.pathsep):
        os.environ["PATH"] = f"{NODE_BIN}{os.pathsep}{path}"


CREATION_STACK_VAR = "CDKTN_DISABLE_CREATION_STACK"


def skip_creation_stacks() -> None:
    """Tell cdktn not to record a stack trace with every token it creates (`CDKTN_DISABLE_CREATION_STACK`).

    cdktn keeps them only to point at where an unresolvable token was made, in that error's message;
    capturing them costs Node about 0.3 s of a cold synth (0.75 s with 10 domains) and changes nothing in
    `cdk.tf.json`. To see them while debugging such an error, run with `CDKTN_DISABLE_CREATION_STACK=0`:
    a value set by the caller wins.
    """
    os.environ.setdefault(CREATION_STACK_VAR, "1")


# Every `infra.*` module passes through here before it can import cdktn, so Node and its settings are
# chosen before jsii starts it.
prefer_repo_node()
skip_creation_stacks()
