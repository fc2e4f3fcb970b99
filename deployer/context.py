"""What a command acts on: the environment, its buckets and the GCS client.

`DEPLOYER_ENV_DIR` points at another folder of environment files (tests and the demo use generated
ones); `DEPLOYER_ENV` is the default for `--env`. An environment on the `local` platform talks to the
GCS emulator named by `STORAGE_EMULATOR_HOST` (required there); a `gcp` environment never does.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer import composer_api
from deployer.gcs import Gcs
from platform_model.environment import ENVIRONMENTS_DIR, Environment, load_environment
from platform_model.errors import ConfigError

ENV_DIR_ENV = "DEPLOYER_ENV_DIR"
ENV_ENV = "DEPLOYER_ENV"
EMULATOR_ENV = "STORAGE_EMULATOR_HOST"


def env_dir() -> Path:
    """The folder of environment files."""
    return Path(os.environ.get(ENV_DIR_ENV) or ENVIRONMENTS_DIR)


def load_env(name: str | None) -> Environment:
    """The environment called `name` (or `$DEPLOYER_ENV`), ConfigError when missing or unknown."""
    name = name or os.environ.get(ENV_ENV)
    if not name:
        raise ConfigError("--env is required (or set DEPLOYER_ENV)")
    return load_environment(name, env_dir())


@dataclass
class Target:
    """An environment with its GCS client and bucket names."""

    env: Environment
    gcs: Gcs
    credentials: Any = None
    _composer_bucket: str | None = field(default=None, repr=False)

    @property
    def is_local(self) -> bool:
        """Whether the environment lives in the GCS emulator."""
        return self.env.platform == "local"

    @property
    def artifacts(self) -> str:
        """The environment's artifacts bucket (Spark artifacts, deployer state, audit, archive)."""
        return self.env.buckets.artifacts.name

    @property
    def store(self) -> str:
        """The release store bucket."""
        return self.env.promotion.release_store

    @property
    def composer(self) -> str:
        """The Composer DAG bucket (resolved through the Composer API once, when not in the env file)."""
        if self._composer_bucket is None:
            self._composer_bucket = composer_api.dag_bucket(self.env, self.credentials)
        return self._composer_bucket

    def ensure_buckets(self, *names: str) -> None:
        """On the local platform create the buckets that are missing; on GCP infra owns them: never create."""
        if not self.is_local:
            return

        def ensure(name: str) -> None:
            if not self.gcs.bucket_exists(name):
                self.gcs.create_bucket(name, self.env.region.upper(), self.env.labels.as_dict())

        wanted = list(dict.fromkeys(names))
        # One round trip (two for a new bucket) for all of them, not one per bucket.
        with ThreadPoolExecutor(max_workers=max(1, len(wanted))) as pool:
            for done in [pool.submit(ensure, name) for name in wanted]:
                done.result()


def open_target(env: Environment) -> Target:
    """Connect to the environment's storage (the emulator on the local platform, GCP otherwise)."""
    emulator = os.environ.get(EMULATOR_ENV)
    if env.platform == "local":
        if not emulator:
            raise ConfigError(
                f"environment {env.name} is on the local platform but {EMULATOR_ENV} is not set "
                "(start the emulator: python -m deployer.emulator start)"
            )
        url = emulator if "://" in emulator else f"http://{emulator}"
        return Target(env, Gcs(env.project, emulator_url=url))
    if emulator:
        raise ConfigError(
            f"environment {env.name} is a gcp environment but {EMULATOR_ENV} is set: unset it first"
        )
    from deployer.identity import gcp_credentials

    credentials = gcp_credentials()
    return Target(env, Gcs(env.project, emulator_url=None, credentials=credentials), credentials)
