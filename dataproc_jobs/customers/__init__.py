"""The daily customers job: clean and deduplicate raw profile changes into the staging table."""
