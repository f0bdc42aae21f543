"""JSON Schemas of the built-in operations, one file per operation (data, no code)."""
