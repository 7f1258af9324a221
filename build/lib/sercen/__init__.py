"""sercen component."""
