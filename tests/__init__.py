"""webfon test suite."""
