"""SafeFakes: measure what face anonymization costs a face detector."""

__version__ = "0.1.0"
