"""semverkit: Semantic Versioning 2.0.0 versions and ranges."""

from .ranges import Range, RangeError
from .version import Version, VersionError, compare

__all__ = ["Range", "RangeError", "Version", "VersionError", "compare"]
__version__ = "2.1.0"
