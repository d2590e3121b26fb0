"""The page's views, one module each: its read-only queries and the context its
template needs. Every function takes an open read-only DuckDB connection and the
chosen day; a table a stage has not created yet gives an empty result."""
