"""Every clickintent Feast object, read by Spark: `clickintent.feast_repo.spark`, the package's
objects with SparkSources over the Spark build's marts (docs/spark.md)."""

from clickintent.feast_repo.spark import *  # noqa: F403
from clickintent.feast_repo.spark import require_sources

# A clear error at `feast apply` when the Spark build's marts are not where CLICKINTENT_DATA_DIR says.
require_sources()
