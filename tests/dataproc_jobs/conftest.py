"""One Spark local session for the whole test session, with the jars built from this repo."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataproc_jobs.build import build


@pytest.fixture(scope="session")
def built_jobs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The release's Spark artifacts, built once (entry points, zips, jars, jobs.json)."""
    out = tmp_path_factory.mktemp("jobs")
    build(out)
    return out


@pytest.fixture(scope="session")
def spark(built_jobs: Path) -> Iterator[object]:
    """A small local[2] SparkSession with every built jar on its classpath, set up like a local DAG run's."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # py4j logs while closing at interpreter exit, after pytest closed its capture streams.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    from pipelines.spark_local import DRIVER_JAVA_OPTIONS, LOCAL_CONF
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master("local[2]").appName("tests-dataproc-jobs")
    for key, value in LOCAL_CONF.items():  # what a local DAG run's spark-submit gets
        builder = builder.config(key, value)
    session = (
        builder.config("spark.jars", ",".join(str(p) for p in sorted(built_jobs.glob("*.jar"))))
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "2")
        .config("spark.driver.extraJavaOptions", DRIVER_JAVA_OPTIONS)
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
