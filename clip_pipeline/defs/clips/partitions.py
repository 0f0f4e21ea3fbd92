"""One dynamic partition per clip: the key is the clip's id (UUIDs never contain commas)."""

import dagster as dg

clip_partitions = dg.DynamicPartitionsDefinition(name="clips")
