"""Clip processing: export -> submit to a provider -> finalize and apply, one partition per clip."""
