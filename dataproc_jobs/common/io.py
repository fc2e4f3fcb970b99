"""Reading raw events and writing a job's outputs: files (local, gs://) or BigQuery tables.

File paths go through Hadoop's FileSystem API, so the same code handles local paths, `file://` and
`gs://` (the GCS connector on Dataproc).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from dataproc_jobs.common.window import RunWindow


class JobInputError(ValueError):
    """An input or output location cannot be used; the message says which and why."""


def _fs_path(spark: SparkSession, uri: str) -> tuple[Any, Any]:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path


def path_exists(spark: SparkSession, uri: str) -> bool:
    """Whether a file or folder exists."""
    fs, path = _fs_path(spark, uri)
    return bool(fs.exists(path))


def delete_path(spark: SparkSession, uri: str) -> bool:
    """Delete a folder recursively; True when something was deleted."""
    fs, path = _fs_path(spark, uri)
    return bool(fs.exists(path) and fs.delete(path, True))


def write_text(spark: SparkSession, uri: str, text: str) -> None:
    """Write (overwrite) a small UTF-8 text file."""
    fs, path = _fs_path(spark, uri)
    out = fs.create(path, True)
    try:
        out.write(bytearray(text.encode("utf-8")))
    finally:
        out.close()


def read_raw_lines(spark: SparkSession, root: str, window: RunWindow) -> DataFrame:
    """Raw JSON lines (`value`, `ingest_date`) under `root/ingest_date=YYYY-MM-DD/` for the ingest days
    the window needs."""
    if not path_exists(spark, root):
        raise JobInputError(f"--input: {root} does not exist")
    lines = spark.read.text(root)
    if "ingest_date" not in lines.columns:
        if lines.limit(1).count():
            raise JobInputError(f"--input: {root} holds files outside ingest_date=YYYY-MM-DD folders")
        lines = lines.withColumn("ingest_date", F.lit(None).cast("date"))
    return lines.filter(F.col("ingest_date").between(F.lit(window.start), F.lit(window.read_to)))


def read_raw_bigquery(spark: SparkSession, table: str, time_column: str, window: RunWindow) -> DataFrame:
    """Raw table rows whose `time_column` falls in the window (partition-pruned by the connector)."""
    start = window.start.isoformat()
    end = (window.processing_date + dt.timedelta(days=1)).isoformat()
    return (
        spark.read.format("bigquery")
        .option("table", table)
        .option("filter", f"{time_column} >= TIMESTAMP('{start}') AND {time_column} < TIMESTAMP('{end}')")
        .load()
    )


def write_partitions(
    df: DataFrame,
    uri: str,
    partition: str,
    output_format: str,
    temp_bucket: str | None,
) -> None:
    """Overwrite the day partitions present in `df` (dynamic partition overwrite), nothing else.

    Rows go to one file per partition, sorted, so a re-run writes the same rows in the same order.
    """
    ordered = df.repartition(partition).sortWithinPartitions(
        partition, *[c for c in df.columns if c != partition]
    )
    if output_format == "parquet":
        ordered.write.mode("overwrite").partitionBy(partition).parquet(uri)
        return
    writer = (
        ordered.write.format("bigquery")
        .option("table", uri)
        .option("partitionField", partition)
        .option("partitionType", "DAY")
        .option("writeMethod", "indirect")
    )
    if temp_bucket:
        writer = writer.option("temporaryGcsBucket", temp_bucket)
    writer.mode("overwrite").save()


def partition_uri(root: str, partition: str, day: dt.date) -> str:
    """The folder of one day partition under a file output root."""
    return f"{root.rstrip('/')}/{partition}={day.isoformat()}"


def metrics_json(metrics: dict[str, Any]) -> str:
    """Metrics as one JSON line (sorted keys, so files diff cleanly)."""
    return json.dumps(metrics, sort_keys=True, default=str)
