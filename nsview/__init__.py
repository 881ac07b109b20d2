"""nsview: Linux namespace inspection and troubleshooting."""

__version__ = "0.1.0"
