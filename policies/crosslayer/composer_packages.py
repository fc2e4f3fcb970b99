"""`composer-packages`: the PyPI packages Composer installs resolve beside the build's preinstalled ones.

For every GCP environment, `composer/requirements.txt` merged with its `composer.pypi_packages` is
resolved offline against the packages its `composer.image_version` build preinstalls
(`policies.composer_packages`); a conflict names both packages and the build. The requirements file is
the repository's (beside the environments folder checked, else this repository's): like the environment
files, it is not part of a release.
"""

from __future__ import annotations

from infra.packages import COMPOSER_REQUIREMENTS
from policies.composer_packages import all_problems
from policies.crosslayer.view import Finding, ReleaseView

CHECK = "composer-packages"


def check_composer_packages(view: ReleaseView) -> list[Finding]:
    """One finding per requirement that conflicts with an environment's Composer build."""
    beside = view.env_dir.parent / "composer" / "requirements.txt"
    requirements = beside if beside.is_file() else COMPOSER_REQUIREMENTS
    return [Finding(CHECK, p.where, p.message) for p in all_problems(view.envs, requirements)]
