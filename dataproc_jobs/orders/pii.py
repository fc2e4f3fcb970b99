"""The PII hashing key and the Java UDF that uses it."""

from __future__ import annotations

import os

from pyspark.sql import SparkSession
from pyspark.sql.types import StringType

from dataproc_jobs.orders.transform import PII_HASH_FUNCTION

UDF_CLASS = "com.acme.orders.udf.PiiHash"


class PiiKeyError(ValueError):
    """The key source cannot be used; the message names the argument and the problem."""


def resolve_key(source: str) -> str:
    """Read the key from `env:NAME` (an environment variable) or `gsm:projects/P/secrets/S/versions/V`."""
    kind, _, ref = source.partition(":")
    if kind == "env" and ref:
        value = os.environ.get(ref, "")
        if not value:
            raise PiiKeyError(f"--pii-key-source: environment variable {ref} is not set or empty")
        return value
    if kind == "gsm" and ref.startswith("projects/"):
        from google.cloud import secretmanager  # only on Dataproc: the job reads the secret itself

        client = secretmanager.SecretManagerServiceClient()
        value = client.access_secret_version(name=ref).payload.data.decode("utf-8").strip()
        if not value:
            raise PiiKeyError(f"--pii-key-source: secret {ref} is empty")
        return value
    raise PiiKeyError(f"--pii-key-source: {source!r} is neither env:NAME nor gsm:projects/.../versions/V")


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
