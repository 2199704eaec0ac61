"""The SDK's version, sent in the User-Agent header (kept here so the SDK can ship on its own)."""

__version__ = "0.1.0"
