"""HTTP operations of the portal, one module per area (each exposes ``api``)."""
