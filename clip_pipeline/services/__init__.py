"""Use cases: they combine media, storage, providers and the database."""
