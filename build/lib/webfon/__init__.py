"""Shared library of the webfon stack: settings, store, logging, bus, tokens and protocol code."""

__version__ = "0.1.0"
