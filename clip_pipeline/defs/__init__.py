"""The Dagster layer: assets, sensors, schedules and checks that wire services together (thin)."""
