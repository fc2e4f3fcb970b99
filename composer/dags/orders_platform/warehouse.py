"""Where the pipeline's data lives on each platform, and reading it back as pandas for checks.

Local platform: files under the warehouse folder (`ORDERS_LOCAL_WAREHOUSE`, else
`<bucket root>/data/warehouse`): `raw/<raw_table>/ingest_date=*/` (landing), `staging/<table>/` (the
Spark job's parquet), `orders.duckdb` (dbt), `metrics/`, `gx_docs/`. GCP: BigQuery datasets from the
runtime config.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orders_platform.runtime import RuntimeConfig

# contracts/orders.yaml `staging.table` and `rejects.table` (a test keeps them equal).
STAGING_TABLE = "orders"
REJECTS_TABLE = "orders_rejects"
DUCKDB_FILE = "orders.duckdb"


@dataclass(frozen=True)
class LocalWarehouse:
    """The local platform's warehouse folder."""

    root: Path

    def raw_dir(self, raw_table: str) -> Path:
        """Landing folder of the raw events (`ingest_date=YYYY-MM-DD/*.jsonl`)."""
        return self.root / "raw" / raw_table

    def staging_dir(self, table: str) -> Path:
        """Parquet folder of a table the Spark job writes."""
        return self.root / "staging" / table

    @property
    def duckdb_path(self) -> Path:
        """The DuckDB file dbt builds into."""
        return self.root / DUCKDB_FILE

    def metrics_file(self, job: str, logical_date: str) -> Path:
        """Where a Spark job run writes its metrics."""
        return self.root / "metrics" / job / f"{logical_date}.json"

    def gx_docs(self, logical_date: str) -> Path:
        """GX Data Docs of one run."""
        return self.root / "gx_docs" / logical_date

    def query(self, sql: str) -> Any:
        """Run SQL on the DuckDB file (read-only) and return a pandas DataFrame."""
        import duckdb

        with duckdb.connect(str(self.duckdb_path), read_only=True) as con:
            con.execute("SET TimeZone = 'UTC'")
            return con.sql(sql).df()

    def select(self, cfg: RuntimeConfig, layer: str, table: str, where: str = "") -> Any:
        """All rows of a table (filtered by `where`, see `window_filter`) as a pandas DataFrame."""
        # Identifiers come from the runtime config and the suites, never from users at run time.
        return self.query(f"select * from {self.table_sql(cfg, layer, table)}{where}")  # noqa: S608  # nosec B608

    def count(self, cfg: RuntimeConfig, layer: str, table: str, where: str = "") -> int:
        """Rows of a table (filtered by `where`)."""
        sql = f"select count(*) as n from {self.table_sql(cfg, layer, table)}{where}"  # noqa: S608  # nosec B608
        return int(self.query(sql)["n"][0])

    def table_sql(self, cfg: RuntimeConfig, layer: str, table: str) -> str:
        """A FROM-able expression for a table: parquet for the Spark output, DuckDB for dbt's."""
        parquet = self.staging_dir(table)
        if layer == "staging" and parquet.is_dir():
            return f"read_parquet('{parquet.as_posix()}/*/*.parquet', hive_partitioning = true)"
        return f'"{cfg.datasets[layer]}"."{table}"'


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
