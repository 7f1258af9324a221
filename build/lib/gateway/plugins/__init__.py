"""Janus-style plugins: each attaches to a handle and speaks its own request/event language."""
