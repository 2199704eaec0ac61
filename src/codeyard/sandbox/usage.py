"""How much disk a workspace holds, for the workspace size cap.

Counted as allocated blocks (a sparse file costs what it really uses), each inode once however many
hard links it has, never following a symbolic link. Walking a large tree takes a while, so the sandbox
runs this in a worker thread.
"""

import os
import stat
from pathlib import Path


def disk_usage(workspace: Path) -> int:
    """Bytes allocated to ``workspace`` and everything below it (0 when it is gone)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [str(workspace)]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            try:
                status = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if status.st_nlink > 1 and not stat.S_ISDIR(status.st_mode):
                key = (status.st_dev, status.st_ino)
                if key in seen:
                    continue
                seen.add(key)
            total += status.st_blocks * 512
            if stat.S_ISDIR(status.st_mode):
                stack.append(entry.path)
    return total


def format_bytes(count: int) -> str:
    """``count`` for a person: ``1.5 GiB``."""
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
