"""The kinds of secret (apart, so the CLI can name them in its options without importing the SDK's client)."""

from typing import Literal

SecretType = Literal["key-value", "cookie", "totp"]
