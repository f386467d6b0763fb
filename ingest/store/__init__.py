"""The store: the only place that speaks SQL (schema, migrations, feeds, entries)."""
