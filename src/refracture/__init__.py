"""refracture: write the refracture paper from its data."""

__version__ = "0.1.0"

__all__ = ["__version__"]
