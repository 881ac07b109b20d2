"""Pure functions over a Snapshot: indexes, filters, relations. No I/O, no UI."""
