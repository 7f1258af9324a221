"""pbx component."""
