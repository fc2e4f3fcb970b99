"""The daily orders job: clean, deduplicate and enrich raw order events into the staging table."""
