"""The cdktf App: one `PlatformStack` per environment file with `platform: gcp`.

Local environments (`platform: local`) run against the GCS emulator and get no stack. The environments
directory is `environments/` unless `$INFRA_ENVIRONMENTS_DIR` names another (tests, previews). The output
directory is `$CDKTF_OUTDIR` (set by the cdktf/cdktn CLIs and by `infra.synth`) or `cdktf.out`.
"""

from __future__ import annotations

import os
from pathlib import Path

from cdktn import App

from deployer.config import Environment, load_all
from infra import environments_dir
from infra.stack import PlatformStack
from infra.synth import HASH_FILE


def gcp_environments(directory: Path | None = None) -> dict[str, Environment]:
    """The `platform: gcp` environments of `directory` (default: `environments_dir()`), by name."""
    envs = load_all(directory or environments_dir())
    return {name: env for name, env in envs.items() if env.platform == "gcp"}


def deployer_email(env: Environment) -> str:
    """The deployer account's e-mail, derived the same way `infra.iam` names it."""
    return f"{env.resource_name('deployer')}@{env.project}.iam.gserviceaccount.com"


def build_app(directory: Path | None = None, outdir: str | None = None) -> App:
    """An App holding the stack of every GCP environment (not synthesized yet)."""
    # Stack traces in every construct's metadata cost synth time and bloat cdk.tf.json for nothing.
    app = App(outdir=outdir, stack_traces=False) if outdir else App(stack_traces=False)
    envs = gcp_environments(directory)
    for name, env in envs.items():
        clients: list[str] = []
        if env.buckets.releases is not None:
            clients = [
                f"serviceAccount:{deployer_email(other)}"
                for other in envs.values()
                if other.promotion.release_store == env.buckets.releases.name
            ]
        PlatformStack(app, name, env, release_clients=clients)
    return app


def main() -> None:
    """Build and synthesize every stack.

    First forgets the input hash recorded with the output directory (see `infra.synth`): whatever runs
    the app (`cdktf synth`, `cdktn synth`, `infra.synth`), the recorded hash never outlives the output.
    """
    outdir = Path(os.environ.get("CDKTF_OUTDIR") or "cdktf.out")
    (outdir / HASH_FILE).unlink(missing_ok=True)
    outdir.mkdir(parents=True, exist_ok=True)  # the App creates only the last level
    build_app().synth()
