"""fonbo component."""
