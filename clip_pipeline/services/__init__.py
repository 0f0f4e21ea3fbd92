"""Use cases (plain Python, no Dagster): request, export, generate, finalize and apply clips."""
