"""Every clickintent Feast object, from the package `clickintent.feast_repo` (the definitions live
there, so that a host repo imports the same objects without name clashes: docs/feast-repo.md)."""

from clickintent.feast_repo import *  # noqa: F403
from clickintent.feast_repo import require_sources

# A clear error at `feast apply` when the marts are not where CLICKINTENT_DATA_DIR says.
require_sources()
