"""Dataproc entry point of the `orders_clean` job; the logic lives in the orders package (py_files)."""

import sys

from dataproc_jobs.orders.job import main

if __name__ == "__main__":
    sys.exit(main())
