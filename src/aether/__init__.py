"""Aether: an open agent mesh for household energy analysis."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("aether")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
