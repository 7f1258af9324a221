"""Queries of the portal, one module per area; they take any store executor."""
