"""tablefmt: pretty-print tabular data."""

from .core import STYLES, tabulate

__all__ = ["STYLES", "tabulate"]
__version__ = "0.6.0"
