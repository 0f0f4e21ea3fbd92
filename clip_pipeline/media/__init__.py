"""FFmpeg and PyAV: pure functions over files and URLs (no database, no Dagster)."""
