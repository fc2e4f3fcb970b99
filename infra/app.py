"""The cdktf App: one `PlatformStack` per `platform: gcp` environment file, with the domains it deploys.

Local environments (`platform: local`) run against the GCS emulator and get no stack. The environments
directory is `environments/` unless `$INFRA_ENVIRONMENTS_DIR` names another, the domains directory
`domains/` unless `$INFRA_DOMAINS_DIR` does (tests, previews). The output directory is `$CDKTF_OUTDIR`
(set by the cdktf/cdktn CLIs and by `infra.synth`) or `cdktf.out`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from infra import bindings, domains_dir, environments_dir
from infra.domains import deployed, load_all
from infra.packages import UV_LOCK, locked_versions
from infra.synth import HASH_FILE
from platform_model.domain import Domain
from platform_model.environment import Environment
from platform_model.environment import load_all as load_environments

if TYPE_CHECKING:
    from cdktn import App


def gcp_environments(directory: Path | None = None) -> dict[str, Environment]:
    """The `platform: gcp` environments of `directory` (default: `environments_dir()`), by name."""
    envs = load_environments(directory or environments_dir())
    return {name: env for name, env in envs.items() if env.platform == "gcp"}


def stack_domains(
    envs: dict[str, Environment], directory: Path | None = None
) -> dict[str, dict[str, Domain]]:
    """Environment name -> the domains of `directory` (default: `domains_dir()`) it deploys."""
    domains = load_all(directory or domains_dir())
    return {name: deployed(env, domains) for name, env in envs.items()}


def output_dir(outdir: str | None = None) -> Path:
    """Where the App writes: `outdir`, else `$CDKTF_OUTDIR`, else `cdktf.out`."""
    return Path(outdir or os.environ.get("CDKTF_OUTDIR") or "cdktf.out")


def build_app(
    directory: Path | None = None, outdir: str | None = None, domains_directory: Path | None = None
) -> App:
    """An App holding the stack of every GCP environment (not synthesized yet).

    The environment, domain and lock files are read before the provider bindings are used: a bad file
    is reported in a fraction of a second, not after the 5 s the bindings take to load, and when the
    entry point has started loading them in the background (`infra.bindings`), the files are read in
    that wait.
    """
    envs = gcp_environments(directory)
    domains = stack_domains(envs, domains_directory)
    locked_versions(UV_LOCK)  # the lock file's pins (infra.packages), read once
    bindings.wait()
    from cdktn import App

    from infra.iam import account_email
    from infra.stack import PlatformStack

    # The App makes only the last level of its output directory; the rest is made here, once the
    # inputs have been read, so a bad input leaves no directory behind.
    output_dir(outdir).parent.mkdir(parents=True, exist_ok=True)
    # Stack traces in every construct's metadata cost synth time and bloat cdk.tf.json for nothing.
    app = App(outdir=outdir, stack_traces=False) if outdir else App(stack_traces=False)
    for name, env in envs.items():
        clients: list[str] = []
        readers: list[str] = []
        if env.buckets.releases is not None:
            users = [o for o in envs.values() if o.promotion.release_store == env.buckets.releases.name]
            clients = [f"serviceAccount:{account_email(other, 'deployer')}" for other in users]
            # approvers verify the release they approve against the store: read only
            readers = [o.promotion.approvers_group for o in users if o.promotion.approvers_group]
        PlatformStack(app, name, env, domains=domains[name], release_clients=clients, release_readers=readers)
    return app


def synth(app: App) -> list[Path]:
    """Synthesize `app`, then make every resource of each stack wait for its project's APIs
    (`infra.stack.wait_for_services`, on the written JSON); returns the `cdk.tf.json` files.

    The files are rewritten as the App writes them (sorted keys, two-space indent), atomically.
    """
    from infra.stack import wait_for_services

    app.synth()
    outdir = Path(app.outdir)
    manifest = json.loads((outdir / "manifest.json").read_text(encoding="utf-8"))
    written: list[Path] = []
    for stack in manifest.get("stacks", {}).values():
        path = outdir / stack["synthesizedStackPath"]
        document = json.loads(path.read_text(encoding="utf-8"))
        wait_for_services(document)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
        written.append(path)
    return written


def main() -> None:
    """Build and synthesize every stack.

    First forgets the input hash recorded with the output directory (see `infra.synth`): whatever runs
    the app (`cdktf synth`, `cdktn synth`, `infra.synth`), the recorded hash never outlives the output.
    """
    (output_dir() / HASH_FILE).unlink(missing_ok=True)
    synth(build_app())
