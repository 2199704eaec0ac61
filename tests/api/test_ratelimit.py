"""The moving window behind the per-key and failed-authentication limits (``api.ratelimit``), on a given clock."""

from limits import parse

from codeyard.api.ratelimit import SWEEP_EVERY, MovingWindow


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_the_window_allows_amount_hits_then_frees_them_one_by_one() -> None:
    clock = Clock()
    window = MovingWindow(parse("3/minute"), clock)
    results = []
    for _ in range(3):
        results.append(window.hit("k"))
        clock.now += 10
    assert [r[:2] for r in results] == [(True, 2), (True, 1), (True, 0)]
    assert all(r[2] == 1_060.0 for r in results)  # the first hit leaves the window at 1000 + 60
    refused = window.hit("k")
    assert refused == (False, 0, 1_060.0)
    clock.now = 1_060.0  # the first hit is exactly one window old: out
    assert window.hit("k") == (True, 0, 1_070.0)
    assert window.hit("k")[0] is False  # refused hits are not counted, the window still holds three
    clock.now = 1_075.0
    assert window.hit("k") == (True, 0, 1_080.0)


def test_keys_are_counted_apart() -> None:
    clock = Clock()
    window = MovingWindow(parse("1/second"), clock)
    assert window.hit("a")[0] and window.hit("b")[0]
    assert not window.hit("a")[0]
    clock.now += 1
    assert window.hit("a")[0]


def test_idle_keys_are_swept() -> None:
    clock = Clock()
    window = MovingWindow(parse("5/second"), clock)
    for i in range(100):
        window.hit(f"address-{i}")
    clock.now += 2
    for _ in range(SWEEP_EVERY):
        window.hit("busy")
    assert set(window._hits) == {"busy"}
