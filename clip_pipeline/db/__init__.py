"""PostgreSQL access: URLs and engines (embedded or external), migrations, and table queries."""
