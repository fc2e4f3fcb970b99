"""Dataproc entry point of the `customers_clean` job; the logic lives in the customers package (py_files)."""

import sys

from dataproc_jobs.customers.job import main

if __name__ == "__main__":
    sys.exit(main())
