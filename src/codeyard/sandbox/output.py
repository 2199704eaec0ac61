"""Bounded capture of a command's output.

A build log can be gigabytes; the model needs the start (what ran) and the end (how it failed), so we keep
the head and the tail within a fixed budget and say how much was dropped between them.
"""


class OutputBuffer:
    """Keeps the first and last bytes of a stream, never more than ``limit`` bytes in all."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._tail_limit = limit // 2
        self._head_limit = limit - self._tail_limit
        self._head = bytearray()
        self._tail = bytearray()
        self._total = 0

    @property
    def truncated(self) -> bool:
        return self._total > self._limit

    def feed(self, chunk: bytes) -> None:
        self._total += len(chunk)
        room = self._head_limit - len(self._head)
        if room > 0:
            self._head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self._tail += chunk
            excess = len(self._tail) - self._tail_limit
            if excess > 0:
                del self._tail[:excess]

    def text(self) -> str:
        if not self.truncated:
            return (self._head + self._tail).decode("utf-8", errors="replace")
        head = self._head.decode("utf-8", errors="replace")
        tail = self._tail.decode("utf-8", errors="replace")
        omitted = self._total - len(self._head) - len(self._tail)
        return f"{head}\n[... {omitted} bytes truncated ...]\n{tail}"
