"""Use cases: each module runs one job of the pipeline over media, storage, providers and db."""
