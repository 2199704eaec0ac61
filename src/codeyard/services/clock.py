"""Time as a value passed in, so tests and the scheduler can use their own clock."""

import time
from collections.abc import Callable

Clock = Callable[[], float]


def system_clock() -> float:
    return time.time()
