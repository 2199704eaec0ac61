"""Cron evaluation: DST transitions on explicit instants, validation messages, and a randomised check.

No real clock is read: every instant is written out, and validation gets ``now`` explicitly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from codeyard.domain.cron import (
    DEFAULT_TIMEZONE,
    CronError,
    due_times,
    next_fire,
    parse_zone,
    validate_cron,
    validate_scheduled_at,
)

NEW_YORK = parse_zone("America/New_York")
BERLIN = parse_zone("Europe/Berlin")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def walk(expr: str, zone: ZoneInfo, after: datetime, until: datetime) -> list[datetime]:
    """Follow next_fire step by step, checking that it never stands still or goes back in time."""
    fires: list[datetime] = []
    cursor = after
    while True:
        due = next_fire(expr, zone, cursor)
        assert due > cursor
        assert due.tzinfo is UTC
        if due > until:
            break
        fires.append(due)
        cursor = due
    assert due_times(expr, zone, after, until, limit=1000) == fires
    return fires


def wall(instants: list[datetime], zone: ZoneInfo) -> list[str]:
    return [f"{moment.astimezone(zone):%m-%d %H:%M%z}" for moment in instants]


# --- fixed times across DST -------------------------------------------------------------------------


def test_new_york_spring_skipped_time_runs_once_right_after_the_jump() -> None:
    fires = walk("30 2 * * *", NEW_YORK, utc(2025, 3, 8, 12), utc(2025, 3, 11, 12))
    assert fires == [utc(2025, 3, 9, 7), utc(2025, 3, 10, 6, 30), utc(2025, 3, 11, 6, 30)]
    assert wall(fires, NEW_YORK) == ["03-09 03:00-0400", "03-10 02:30-0400", "03-11 02:30-0400"]


def test_new_york_spring_several_skipped_times_collapse_into_one_run() -> None:
    fires = walk("0,30 2 * * *", NEW_YORK, utc(2025, 3, 9, 5), utc(2025, 3, 10, 5))
    assert wall(fires, NEW_YORK) == ["03-09 03:00-0400"]


def test_new_york_fall_repeated_time_runs_once() -> None:
    fires = walk("30 1 * * *", NEW_YORK, utc(2025, 11, 1, 12), utc(2025, 11, 3, 12))
    assert fires == [utc(2025, 11, 2, 5, 30), utc(2025, 11, 3, 6, 30)]
    assert wall(fires, NEW_YORK) == ["11-02 01:30-0400", "11-03 01:30-0500"]


def test_new_york_fall_from_inside_the_second_pass_does_not_fire_again_or_go_back() -> None:
    # 06:15Z is 01:15 EST, the second pass of the repeated hour; cronsim alone answers 05:30Z here.
    assert next_fire("30 1 * * *", NEW_YORK, utc(2025, 11, 2, 6, 15)) == utc(2025, 11, 3, 6, 30)
    assert next_fire("0-59 1 * * *", NEW_YORK, utc(2025, 11, 2, 6, 15)) == utc(2025, 11, 3, 6, 0)


def test_berlin_spring_skipped_time_runs_once_right_after_the_jump() -> None:
    fires = walk("30 2 * * *", BERLIN, utc(2025, 3, 29, 12), utc(2025, 3, 31, 12))
    assert fires == [utc(2025, 3, 30, 1), utc(2025, 3, 31, 0, 30)]
    assert wall(fires, BERLIN) == ["03-30 03:00+0200", "03-31 02:30+0200"]


def test_berlin_fall_repeated_time_runs_once() -> None:
    fires = walk("30 2 * * *", BERLIN, utc(2025, 10, 25, 12), utc(2025, 10, 27, 12))
    assert fires == [utc(2025, 10, 26, 0, 30), utc(2025, 10, 27, 1, 30)]
    assert wall(fires, BERLIN) == ["10-26 02:30+0200", "10-27 02:30+0100"]
    assert next_fire("30 2 * * *", BERLIN, utc(2025, 10, 26, 1, 15)) == utc(2025, 10, 27, 1, 30)


# --- every half hour across DST ---------------------------------------------------------------------

HALF_HOURS = [
    pytest.param(
        NEW_YORK,
        utc(2025, 3, 9, 5),
        utc(2025, 3, 9, 10),
        ["00:30", "01:00", "01:30", "03:00", "03:30", "04:00", "04:30", "05:00", "05:30", "06:00"],
        id="new-york-spring",
    ),
    pytest.param(
        NEW_YORK,
        utc(2025, 11, 2, 4),
        utc(2025, 11, 2, 9),
        ["00:30", "01:00", "01:30", "01:00", "01:30", "02:00", "02:30", "03:00", "03:30", "04:00"],
        id="new-york-fall",
    ),
    pytest.param(
        BERLIN,
        utc(2025, 3, 29, 23),
        utc(2025, 3, 30, 3),
        ["00:30", "01:00", "01:30", "03:00", "03:30", "04:00", "04:30", "05:00"],
        id="berlin-spring",
    ),
    pytest.param(
        BERLIN,
        utc(2025, 10, 25, 22),
        utc(2025, 10, 26, 3),
        ["00:30", "01:00", "01:30", "02:00", "02:30", "02:00", "02:30", "03:00", "03:30", "04:00"],
        id="berlin-fall",
    ),
]


@pytest.mark.parametrize(("zone", "after", "until", "local_times"), HALF_HOURS)
def test_every_half_hour_runs_at_every_real_half_hour_exactly_once(
    zone: ZoneInfo, after: datetime, until: datetime, local_times: list[str]
) -> None:
    fires = walk("*/30 * * * *", zone, after, until)
    count = int((until - after) / timedelta(minutes=30))
    assert fires == [after + timedelta(minutes=30 * step) for step in range(1, count + 1)]
    assert [f"{moment.astimezone(zone):%H:%M}" for moment in fires] == local_times


def test_half_hours_in_early_hours_on_fall_back_day_match_the_stack_research() -> None:
    fires = walk("*/30 0-3 * * *", NEW_YORK, utc(2025, 11, 2, 4), utc(2025, 11, 2, 12))
    assert [f"{moment:%H:%M}" for moment in fires] == [
        "04:30", "05:00", "05:30", "06:00", "06:30", "07:00", "07:30", "08:00", "08:30",
    ]  # fmt: skip


def test_half_hour_dst_shift_in_lord_howe_keeps_every_minute_of_the_hour() -> None:
    # The clocks move by 30 minutes there; cronsim alone answers 05:30 for the first run on Oct 5.
    lord_howe = parse_zone("Australia/Lord_Howe")
    spring = walk("*/15 5 * * *", lord_howe, utc(2025, 10, 4), utc(2025, 10, 5))
    assert wall(spring, lord_howe) == ["10-05 05:00+1100", "10-05 05:15+1100", "10-05 05:30+1100", "10-05 05:45+1100"]
    fall = walk("*/15 5 * * *", lord_howe, utc(2025, 4, 5), utc(2025, 4, 6))
    assert wall(fall, lord_howe) == ["04-06 05:00+1030", "04-06 05:15+1030", "04-06 05:30+1030", "04-06 05:45+1030"]


# --- weekday mornings keep local time ---------------------------------------------------------------


def test_weekday_nine_am_in_new_york_stays_at_nine_local_across_both_changes() -> None:
    spring = walk("0 9 * * 1-5", NEW_YORK, utc(2025, 3, 6), utc(2025, 3, 12, 23))
    assert spring == [
        utc(2025, 3, 6, 14),
        utc(2025, 3, 7, 14),
        utc(2025, 3, 10, 13),
        utc(2025, 3, 11, 13),
        utc(2025, 3, 12, 13),
    ]
    fall = walk("0 9 * * 1-5", NEW_YORK, utc(2025, 10, 30), utc(2025, 11, 4, 23))
    assert fall == [utc(2025, 10, 30, 13), utc(2025, 10, 31, 13), utc(2025, 11, 3, 14), utc(2025, 11, 4, 14)]
    assert {f"{moment.astimezone(NEW_YORK):%H:%M}" for moment in spring + fall} == {"09:00"}


# --- UTC, strictness, inputs ------------------------------------------------------------------------


def test_default_zone_is_utc_and_evaluates_without_offsets() -> None:
    zone = parse_zone(DEFAULT_TIMEZONE)
    assert str(zone) == "UTC"
    assert next_fire("0 9 * * *", zone, utc(2025, 3, 9, 8, 59, 59)) == utc(2025, 3, 9, 9)
    assert walk("0 */6 * * *", zone, utc(2025, 3, 9), utc(2025, 3, 10)) == [
        utc(2025, 3, 9, 6),
        utc(2025, 3, 9, 12),
        utc(2025, 3, 9, 18),
        utc(2025, 3, 10),
    ]


def test_next_fire_is_strictly_after_its_input() -> None:
    zone = parse_zone("UTC")
    assert next_fire("0 9 * * *", zone, utc(2025, 3, 9, 9)) == utc(2025, 3, 10, 9)
    assert next_fire("0 9 * * *", zone, utc(2025, 3, 9, 9) + timedelta(microseconds=1)) == utc(2025, 3, 10, 9)
    assert next_fire("0 9 * * *", zone, utc(2025, 3, 9, 9) - timedelta(microseconds=1)) == utc(2025, 3, 9, 9)


def test_next_fire_accepts_aware_input_in_any_zone_and_answers_in_utc() -> None:
    after = datetime(2025, 3, 9, 1, 59, tzinfo=NEW_YORK)
    due = next_fire("30 2 * * *", NEW_YORK, after)
    assert due == utc(2025, 3, 9, 7)
    assert due.tzinfo is UTC


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_fire("* * * * *", parse_zone("UTC"), datetime(2025, 1, 1))


def test_due_times_bounds_are_after_exclusive_until_inclusive_and_limited() -> None:
    zone = parse_zone("UTC")
    assert due_times("0 * * * *", zone, utc(2025, 1, 1, 0), utc(2025, 1, 1, 5), limit=10) == [
        utc(2025, 1, 1, hour) for hour in range(1, 6)
    ]
    assert due_times("0 * * * *", zone, utc(2025, 1, 1, 0), utc(2025, 1, 1, 5), limit=2) == [
        utc(2025, 1, 1, 1),
        utc(2025, 1, 1, 2),
    ]
    assert due_times("0 * * * *", zone, utc(2025, 1, 1, 0, 1), utc(2025, 1, 1, 0, 59), limit=10) == []


# --- validation -------------------------------------------------------------------------------------

NOW = utc(2025, 6, 1)


@pytest.mark.parametrize(
    ("expr", "words"),
    [
        ("*/5 * * * * *", "5 fields"),
        ("0 0 9 * * 1", "got 6"),
        ("61 * * * *", "minute field '61'"),
        ("* 25 * * *", "hour field '25'"),
        ("0 0 0 * *", "day-of-month field '0'"),
        ("0 0 * 13 *", "month field '13'"),
        ("0 0 * * 8", "day-of-week field '8'"),
        ("5-1 * * * *", "minute field '5-1'"),
        ("*/0 * * * *", "minute field '*/0'"),
        ("0 0 ? * MON", "day-of-month field '?'"),
        ("0 0 * * \u017fun", "day-of-week field '\u017fun'"),  # long s, which str.upper() turns into S
        ("garbage", "got 1"),
        ("a b c d e", "minute field 'a'"),
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("@reboot", "'@reboot' is not supported"),
        ("0 0 30 2 *", "can never fire"),
        ("0 0 31 4,6,9,11 *", "can never fire"),
    ],
)
def test_invalid_cron_is_refused_naming_the_frequency_field(expr: str, words: str) -> None:
    with pytest.raises(CronError) as caught:
        validate_cron(expr, now=NOW)
    assert caught.value.field == "frequency"
    assert words in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_expression_without_a_due_time_in_five_years_is_refused_but_judged_from_now() -> None:
    # A fifth Monday in February needs a leap year starting on a Monday: the next one is 2044.
    with pytest.raises(CronError, match="no due time in the next 5 years"):
        validate_cron("0 0 * 2 MON#5", now=NOW)
    assert validate_cron("0 0 * 2 MON#5", now=utc(2040, 1, 1)) == "0 0 * 2 MON#5"
    assert next_fire("0 0 * 2 MON#5", parse_zone("UTC"), NOW) == utc(2044, 2, 29)


def test_leap_day_fires_within_five_years_and_is_accepted() -> None:
    assert validate_cron("0 0 29 2 *", now=NOW) == "0 0 29 2 *"
    assert next_fire("0 0 29 2 *", parse_zone("UTC"), NOW) == utc(2028, 2, 29)


def test_whitespace_is_collapsed_and_names_and_extensions_are_accepted() -> None:
    assert validate_cron("  0\t9  * *\n  1-5 ", now=NOW) == "0 9 * * 1-5"
    assert validate_cron("*/15 9-17 * jan-mar mon-fri", now=NOW) == "*/15 9-17 * jan-mar mon-fri"
    assert validate_cron("0 0 L * *", now=NOW) == "0 0 L * *"
    assert validate_cron("0 12 * * 5L", now=NOW) == "0 12 * * 5L"


def test_one_value_range_with_a_step_means_that_value_only() -> None:
    # cronsim alone reads "2-2/4" in day-of-week as "2/4" (Tuesday and Saturday).
    assert validate_cron("0 9 * * 2-2/4", now=NOW) == "0 9 * * 2"
    assert validate_cron("0 9 * jun-JUN/3 *", now=NOW) == "0 9 * jun *"
    fires = due_times("0 9 * * 2-2/4", parse_zone("UTC"), utc(2025, 6, 1), utc(2025, 6, 15), limit=10)
    assert fires == [utc(2025, 6, 3, 9), utc(2025, 6, 10, 9)]


@pytest.mark.parametrize(
    ("macro", "expanded", "first"),
    [
        ("@hourly", "0 * * * *", utc(2025, 6, 1, 1)),
        ("@daily", "0 0 * * *", utc(2025, 6, 2)),
        ("@midnight", "0 0 * * *", utc(2025, 6, 2)),
        ("@weekly", "0 0 * * 0", utc(2025, 6, 8)),
        ("@monthly", "0 0 1 * *", utc(2025, 7, 1)),
        ("@yearly", "0 0 1 1 *", utc(2026, 1, 1)),
        ("@annually", "0 0 1 1 *", utc(2026, 1, 1)),
        ("@DAILY", "0 0 * * *", utc(2025, 6, 2)),
    ],
)
def test_macros_expand_to_five_fields(macro: str, expanded: str, first: datetime) -> None:
    assert validate_cron(macro, now=NOW) == expanded
    assert next_fire(macro, parse_zone("UTC"), NOW) == first


def test_next_fire_refuses_invalid_expressions_with_the_same_error() -> None:
    with pytest.raises(CronError) as caught:
        next_fire("61 * * * *", NEW_YORK, NOW)
    assert caught.value.field == "frequency"


# --- zones ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("Mars/Olympus", "not a known"),
        ("../etc/passwd", "not a valid"),
        ("/etc/localtime", "not a valid"),
        ("localtime", "not a known"),
        ("posixrules", "not a known"),
        ("right/UTC", "not a known"),
        ("leapseconds", "not a known"),
        ("America", "not a known"),
        ("America//New_York", "not a valid"),
        ("America/New_York/", "not a valid"),
        ("Europe/Berlin\n", "not a valid"),
        ("Europe/Ber lin", "not a valid"),
        ("", "must not be empty"),
    ],
)
def test_unknown_or_unsafe_zone_is_refused_naming_the_timezone_field(name: str, words: str) -> None:
    with pytest.raises(CronError) as caught:
        parse_zone(name)
    assert caught.value.field == "timezone"
    assert words in str(caught.value)


def test_zones_come_from_the_tzdata_package_and_are_loaded_once() -> None:
    zone = parse_zone("America/Argentina/Buenos_Aires")
    assert str(zone) == "America/Argentina/Buenos_Aires"
    assert parse_zone("America/Argentina/Buenos_Aires") is zone
    # Built from the package file, not ZoneInfo's process-wide cache that prefers the host database.
    assert zone is not ZoneInfo("America/Argentina/Buenos_Aires")
    assert datetime(2025, 1, 1, tzinfo=zone).utcoffset() == timedelta(hours=-3)
    assert str(parse_zone("Etc/GMT+5")) == "Etc/GMT+5"


# --- one-time schedules -----------------------------------------------------------------------------


def test_scheduled_at_must_be_in_the_future() -> None:
    zone = parse_zone("UTC")
    assert validate_scheduled_at(utc(2025, 6, 1, 0, 0, 1), zone, NOW) == utc(2025, 6, 1, 0, 0, 1)
    for when in (NOW, utc(2024, 12, 31)):
        with pytest.raises(CronError) as caught:
            validate_scheduled_at(when, zone, NOW)
        assert caught.value.field == "scheduled_at"
        assert "not in the future" in str(caught.value)


def test_scheduled_at_without_offset_is_wall_time_in_the_schedule_zone() -> None:
    assert validate_scheduled_at(datetime(2025, 7, 4, 9), NEW_YORK, NOW) == utc(2025, 7, 4, 13)
    assert validate_scheduled_at(datetime(2025, 7, 4, 9), parse_zone("UTC"), NOW) == utc(2025, 7, 4, 9)
    # An ambiguous wall time means its first occurrence.
    assert validate_scheduled_at(datetime(2025, 11, 2, 1, 30), NEW_YORK, NOW) == utc(2025, 11, 2, 5, 30)
    with pytest.raises(CronError, match="does not exist in America/New_York") as caught:
        validate_scheduled_at(datetime(2026, 3, 8, 2, 30), NEW_YORK, NOW)
    assert caught.value.field == "scheduled_at"


# --- randomised check over expressions and zones ----------------------------------------------------

ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "America/Santiago",
    "America/Havana",
    "Pacific/Chatham",
    "Asia/Tehran",
    "Asia/Kolkata",
    "Australia/Sydney",
]
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


@dataclass(frozen=True)
class Spec:
    """A random expression with the sets it stands for, so matching is checked independently of cronsim."""

    expr: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday

    def matches(self, local: datetime) -> bool:
        fields = self.expr.split()
        on_day = local.day in self.days
        on_weekday = (local.isoweekday() % 7) in self.weekdays
        either_star = fields[2].startswith("*") or fields[4].startswith("*")
        day_ok = (on_day and on_weekday) if either_star else (on_day or on_weekday)
        return local.minute in self.minutes and local.hour in self.hours and local.month in self.months and day_ok

    @property
    def fixed_time(self) -> bool:
        """cronsim's Debian mode: minute and hour both start with a number."""
        minute, hour = self.expr.split()[:2]
        return not minute.startswith("*") and not hour.startswith("*")


def random_field(
    rng: random.Random, low: int, high: int, names: list[str] | None, star_high: int | None = None
) -> tuple[str, set[int]]:
    """One field and the values it stands for; ``star_high`` widens ``*`` and ``*/n`` beyond the values picked."""

    def label(value: int) -> str:
        return names[value - low] if names and rng.random() < 0.3 else str(value)

    kind = rng.choice(["star", "step", "value", "range", "range-step", "list"])
    if kind == "star":
        return "*", set(range(low, (star_high or high) + 1))
    if kind == "step":
        step = rng.randint(2, max(2, (high - low) // 2))
        return f"*/{step}", set(range(low, (star_high or high) + 1, step))
    if kind == "value":
        value = rng.randint(low, high)
        return label(value), {value}
    start = rng.randint(low, high)
    end = rng.randint(start, high)
    if kind == "range":
        return f"{label(start)}-{label(end)}", set(range(start, end + 1))
    if kind == "range-step":
        step = rng.randint(1, 5)
        return f"{start}-{end}/{step}", set(range(start, end + 1, step))
    values = sorted(rng.sample(range(low, high + 1), rng.randint(2, 4)))
    return ",".join(label(value) for value in values), set(values)


def random_spec(rng: random.Random) -> Spec:
    minute, minutes = random_field(rng, 0, 59, None)
    hour, hours = random_field(rng, 0, 23, None)
    # Days up to 28 only, so every generated expression fires in every month it names.
    day, days = random_field(rng, 1, 28, None, star_high=31)
    month, months = random_field(rng, 1, 12, MONTHS)
    weekday, weekdays = random_field(rng, 0, 6, DAYS)
    return Spec(
        f"{minute} {hour} {day} {month} {weekday}",
        frozenset(minutes),
        frozenset(hours),
        frozenset(days),
        frozenset(months),
        frozenset(weekdays),
    )


def transitions(zone: ZoneInfo, year: int) -> list[datetime]:
    """Instants in ``year`` where the zone's UTC offset changes, found by an hourly scan."""
    found = []
    moment = utc(year, 1, 1)
    offset = moment.astimezone(zone).utcoffset()
    while moment.year == year:
        moment += timedelta(hours=1)
        current = moment.astimezone(zone).utcoffset()
        if current != offset:
            found.append(moment)
            offset = current
    return found


def after_spring_jump(moment: datetime, zone: ZoneInfo) -> bool:
    """True when the clocks jumped forward in the minute before ``moment`` (a skipped time ran late)."""
    before = (moment - timedelta(minutes=1)).astimezone(zone).utcoffset()
    now = moment.astimezone(zone).utcoffset()
    assert before is not None and now is not None
    return now > before


def test_random_expressions_fire_after_their_input_at_matching_local_times() -> None:
    rng = random.Random(20250309)
    zones = {name: parse_zone(name) for name in ZONES}
    jumps = {name: transitions(zone, 2025) for name, zone in zones.items()}
    for _ in range(400):
        spec = random_spec(rng)
        validate_cron(spec.expr, now=NOW)
        name = rng.choice(ZONES)
        zone = zones[name]
        if jumps[name] and rng.random() < 0.6:
            after = rng.choice(jumps[name]) + timedelta(seconds=rng.randint(-2 * 86400, 2 * 86400))
        else:
            after = utc(2025, 1, 1) + timedelta(seconds=rng.randint(0, 365 * 86400))
        due = next_fire(spec.expr, zone, after)
        context = f"{spec.expr!r} in {name} after {after.isoformat()} -> {due.isoformat()}"
        assert due > after, context
        assert due.tzinfo is UTC, context
        local = due.astimezone(zone)
        assert spec.matches(local) or after_spring_jump(due, zone), context
        if due - after <= timedelta(days=1):
            # Nothing that should have run was skipped: every matching minute in between is a repeat of a
            # fixed time in the second pass of an autumn hour, which Debian cron does not run again.
            minute = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
            while minute < due:
                between = minute.astimezone(zone)
                assert not spec.matches(between) or (spec.fixed_time and between.fold == 1), f"{context}: {minute}"
                minute += timedelta(minutes=1)
