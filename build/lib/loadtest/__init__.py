"""loadtest component."""
