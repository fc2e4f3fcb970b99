"""What the stacks read of the pipeline domains (`platform_model.domain`, the one parser of `domains/`):
which domains an environment deploys, the labels of their resources, and the Pub/Sub names no two of
them may share. Nothing here names a domain: every construct loops over what `platform_model` returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from platform_model.domain import Domain, load_domains, resolve
from platform_model.environment import Environment
from platform_model.errors import ConfigError


def load_all(directory: Path) -> dict[str, Domain]:
    """Every domain of `directory` (checked together), and their Pub/Sub names checked (`check_names`)."""
    domains = load_domains(directory)
    check_names(domains, str(directory))
    return domains


def deployed(env: Environment, domains: Mapping[str, Domain]) -> dict[str, Domain]:
    """The domains `env` deploys (those its file switches off are left out), its overrides applied."""
    return resolve(env, domains)


def domain_labels(env: Environment, domain: Domain) -> dict[str, str]:
    """The environment's labels, `owner` replaced by the domain's owner (the environment may override
    it), plus `domain=<name>`: billing and alert routing find a domain's topics, tables and secrets."""
    return {**env.labels.as_dict(), "owner": domain.owner, "domain": domain.domain}


def check_names(domains: Mapping[str, Domain], where: str) -> None:
    """Refuse a topic that is another domain's dead-letter topic (`b` publishing on `a-events-dlq`):
    both would be one topic. ConfigError naming the domain file and field."""
    dead_letters = {d.dead_letter_topic: d.domain for d in domains.values() if d.dead_letter_topic}
    for name, domain in sorted(domains.items()):
        if domain.event is not None and domain.event.topic in dead_letters:
            raise ConfigError(
                f"{where}/{name}.yaml: event.topic: {domain.event.topic!r} is the dead-letter topic "
                f"of domain {dead_letters[domain.event.topic]!r}"
            )
