"""The PII hashing key (from an environment variable or Secret Manager) and HMAC-SHA256 in Spark SQL."""

from __future__ import annotations

import hashlib
import os

from pyspark.sql import Column
from pyspark.sql import functions as F

_BLOCK = 64  # SHA-256 block size in bytes (RFC 2104)
# What Java's String.trim() strips, so a value hashes as the Java UDF hashes it.
_EDGE_SPACE = r"^[\x00-\x20]+|[\x00-\x20]+$"


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


def normalised(value: Column) -> Column:
    """Trimmed and lower-cased, so equal values written differently hash alike; blank gives null."""
    cleaned = F.lower(F.regexp_replace(value, _EDGE_SPACE, ""))
    return F.when(cleaned != "", cleaned)


def hmac_sha256_hex(value: Column, key: str) -> Column:
    """HMAC-SHA256 (64 lower-case hex characters) of the normalised value, keyed with `key`.

    Plain Spark SQL (two SHA-256 passes over the padded key, RFC 2104), so no UDF and no jar; it gives
    what the Java `PiiHash` UDF gives. Null or blank values give null.
    """
    raw = key.encode("utf-8")
    if len(raw) > _BLOCK:
        raw = hashlib.sha256(raw).digest()
    raw = raw.ljust(_BLOCK, b"\0")
    inner_pad = bytearray(b ^ 0x36 for b in raw)
    outer_pad = bytearray(b ^ 0x5C for b in raw)
    message = F.encode(normalised(value), "UTF-8")
    inner = F.unhex(F.sha2(F.concat(F.lit(inner_pad), message), 256))
    return F.sha2(F.concat(F.lit(outer_pad), inner), 256)
