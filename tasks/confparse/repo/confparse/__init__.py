"""confparse: INI-style configuration files with typed values."""

from .parser import ConfigError, get, load, loads
from .values import parse_value

__all__ = ["ConfigError", "get", "load", "loads", "parse_value"]
__version__ = "0.9.2"
