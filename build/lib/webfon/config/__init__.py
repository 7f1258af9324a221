"""Readers for the configuration file formats the seeds use, and the typed settings loader."""

from webfon.config.entries import ConfigEntry, ConfigError
from webfon.config.ini import read_ini
from webfon.config.keyvalue import read_keyvalue
from webfon.config.libconfig import read_libconfig

__all__ = ["ConfigEntry", "ConfigError", "read_ini", "read_keyvalue", "read_libconfig"]
