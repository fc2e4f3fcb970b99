"""The Java UDF the orders job hashes PII with (jar `orders-udfs`)."""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql.types import StringType

from dataproc_jobs.common.pii import PiiKeyError

UDF_CLASS = "com.acme.orders.udf.PiiHash"
PII_HASH_FUNCTION = "pii_hash"


def register_udf(spark: SparkSession) -> None:
    """Register the Java UDF `pii_hash(value, key)`; its jar must be on the classpath (--jars)."""
    try:
        spark.udf.registerJavaFunction(PII_HASH_FUNCTION, UDF_CLASS, StringType())
    except Exception as exc:
        if "ClassNotFoundException" in str(exc) or "Can not load class" in str(exc):
            raise PiiKeyError(
                f"{UDF_CLASS} is not on the classpath: pass the orders-udfs jar with --jars"
            ) from None
        raise
