"""Where a domain's data lives on each platform, and reading it back as pandas for counts and checks.

Local platform: files under the warehouse folder (`PLATFORM_LOCAL_WAREHOUSE`, else
`<bucket root>/data/warehouse`): `raw/<raw_table>/ingest_date=*/*.jsonl` (landing), `staging/<table>/`
(the Spark jobs' parquet), `warehouse.duckdb` (dbt, every domain), `metrics/`, `gx_docs/`.
GCP: the BigQuery datasets of the runtime config.

Every domain's dbt build writes the one DuckDB file, and DuckDB lets one process write a file or
several read it, never both. So on the local platform every access goes through a file lock
(`fcntl.flock` on `warehouse.duckdb.lock`): `dbt build` holds it exclusively for its whole run,
counts and GX reads share it. Two domains' DAG runs that overlap then wait for each other instead
of failing on DuckDB's own lock; nothing in Airflow (pools, slots) has to be set up for it.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.runtime import RuntimeConfig

DUCKDB_FILE = "warehouse.duckdb"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalWarehouse:
    """The local platform's warehouse folder."""

    root: Path

    def raw_dir(self, raw_table: str) -> Path:
        """Landing folder of a raw table (`ingest_date=YYYY-MM-DD/*.jsonl`)."""
        return self.root / "raw" / raw_table

    def staging_dir(self, table: str) -> Path:
        """Parquet folder of a table a Spark job writes."""
        return self.root / "staging" / table

    @property
    def duckdb_path(self) -> Path:
        """The DuckDB file dbt builds into (shared by every domain)."""
        return self.root / DUCKDB_FILE

    def metrics_file(self, job: str, logical_date: str) -> Path:
        """Where a Spark job run writes its metrics."""
        return self.root / "metrics" / job / f"{logical_date}.json"

    def gx_docs(self, domain: str, logical_date: str) -> Path:
        """GX Data Docs of one domain's run."""
        return self.root / "gx_docs" / domain / logical_date

    @contextmanager
    def lock(self, exclusive: bool) -> Iterator[None]:
        """Hold the DuckDB file's lock: exclusive to write it (dbt), shared to read it."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / (DUCKDB_FILE + ".lock")
        started = time.monotonic()
        with path.open("a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            waited = time.monotonic() - started
            if waited > 1:
                log.info("waited %.1f s for the warehouse lock %s", waited, path)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def query(self, sql: str, reads_db: bool = True) -> Any:
        """Run SQL and return a pandas DataFrame: on the DuckDB file (read-only, under the shared lock)
        when it `reads_db`, else in memory (SQL over the landing and parquet files only)."""
        import duckdb

        if not reads_db:
            with duckdb.connect() as con:
                con.execute("SET TimeZone = 'UTC'")
                return con.sql(sql).df()
        with self.lock(exclusive=False), duckdb.connect(str(self.duckdb_path), read_only=True) as con:
            con.execute("SET TimeZone = 'UTC'")
            return con.sql(sql).df()

    def select(self, cfg: RuntimeConfig, layer: str, table: str, where: str = "") -> Any:
        """All rows of a table (filtered by `where`, see `window_filter`) as a pandas DataFrame."""
        source, reads_db = self.table_sql(cfg, layer, table)
        # Identifiers come from the runtime config, never from users at run time.
        return self.query(f"select * from {source}{where}", reads_db)  # noqa: S608  # nosec B608

    def count(self, cfg: RuntimeConfig, layer: str, table: str, where: str = "") -> int:
        """Rows of a table (filtered by `where`)."""
        source, reads_db = self.table_sql(cfg, layer, table)
        sql = f"select count(*) as n from {source}{where}"  # noqa: S608  # nosec B608
        return int(self.query(sql, reads_db)["n"][0])

    def table_sql(self, cfg: RuntimeConfig, layer: str, table: str) -> tuple[str, bool]:
        """A FROM-able expression of a table and whether it reads the DuckDB file: the landing JSON for
        raw, the Spark jobs' parquet for their staging tables, dbt's relations otherwise."""
        if layer == "raw":
            files = f"{self.raw_dir(table).as_posix()}/*/*.jsonl"
            return f"read_json('{files}', format = 'newline_delimited', ignore_errors = true)", False
        parquet = self.staging_dir(table)
        if layer == "staging" and parquet.is_dir():
            return f"read_parquet('{parquet.as_posix()}/*/*.parquet', hive_partitioning = true)", False
        return f'"{cfg.datasets[layer]}"."{table}"', True


def window_filter(column: str | None, logical_date: str, lateness_days: int) -> str:
    """SQL WHERE clause limiting a table to the run's days (empty without a window column)."""
    if not column:
        return ""
    end = dt.date.fromisoformat(logical_date)
    start = end - dt.timedelta(days=lateness_days)
    return f" where {column} between date '{start.isoformat()}' and date '{end.isoformat()}'"


def bigquery_frame(cfg: RuntimeConfig, layer: str, table: str, where: str) -> Any:
    """A BigQuery table (filtered) as a pandas DataFrame."""
    from google.cloud import bigquery

    client = bigquery.Client(project=cfg.project, location=cfg.bigquery_location)
    sql = f"select * from `{cfg.project}.{cfg.datasets[layer]}.{table}`{where}"  # noqa: S608  # nosec B608
    return client.query(sql).to_dataframe()


def bigquery_count(cfg: RuntimeConfig, layer: str, table: str, where: str) -> int:
    """Rows of a BigQuery table (filtered)."""
    from google.cloud import bigquery

    client = bigquery.Client(project=cfg.project, location=cfg.bigquery_location)
    sql = f"select count(*) as n from `{cfg.project}.{cfg.datasets[layer]}.{table}`{where}"  # noqa: S608  # nosec B608
    return int(next(iter(client.query(sql).result()))["n"])
