"""Sensitive values out of everything stored: messages, events, history and logs (contract §5)."""

from collections.abc import Iterable

MIN_SECRET_LENGTH = 4
"""Shorter values would redact ordinary words; such secrets are still passed to commands."""


class Redactor:
    def __init__(self, secrets: Iterable[tuple[str, str]]) -> None:
        """``secrets`` are ``(name, value)`` pairs; longer values are replaced first."""
        pairs = {value: name for name, value in secrets if len(value) >= MIN_SECRET_LENGTH}
        self._pairs = sorted(pairs.items(), key=lambda item: -len(item[0]))

    def __call__(self, text: str) -> str:
        for value, name in self._pairs:
            if value in text:
                text = text.replace(value, f"[REDACTED:{name}]")
        return text

    def __bool__(self) -> bool:
        return bool(self._pairs)
