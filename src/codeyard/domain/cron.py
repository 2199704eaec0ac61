"""Cron evaluation for schedules: validation, time zones and DST-correct fire times.

Fire times come from cronsim, which mimics Debian cron across DST changes: a fixed time that falls in
the hour skipped in spring runs once, right after the jump; a fixed time in the hour repeated in autumn
runs once, on its first occurrence; wildcard expressions (``*/30 * * * *``) run at every real instant
that matches, so the repeated hour is covered and nothing runs twice at the same instant.

cronsim is fed an aware datetime in the schedule's zone. For fixed-time expressions it then walks naive
wall time and returns the *first* occurrence of an ambiguous time, which can lie before the instant it
started from when that instant was in the second pass of a repeated hour. Every answer is therefore
checked to be strictly later than ``after`` and the search goes on otherwise; all instants in and out of
this module are aware UTC datetimes.

Zones are read from the pinned ``tzdata`` package so every replica agrees on the rules, whatever the
host's zone database says; the host database is consulted only for a zone the package lacks.
"""

from __future__ import annotations

import importlib.resources
import re
import zoneinfo
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal

from cronsim import CronSim, CronSimError

CronField = Literal["frequency", "timezone", "scheduled_at"]

DEFAULT_TIMEZONE = "UTC"

_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*")
# Entries of a system zone database that are not IANA zone names: the host's own zone (a symlink to
# /etc/localtime), the legacy POSIX default rules, and the alternative "posix/" and "right/" trees.
_HOST_ONLY_NAMES = frozenset({"localtime", "posixrules"})
_HOST_ONLY_TREES = frozenset({"posix", "right"})

_FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
_FIELD_ALLOWED = {
    "minute": "0-59",
    "hour": "0-23",
    "day-of-month": "1-31, L or LW",
    "month": "1-12 or JAN-DEC",
    "day-of-week": "0-7 or SUN-SAT, with optional L or #n",
}
_FIELD_CHARS = re.compile(r"[0-9A-Za-z*,/#\-]+")
# cronsim reads a one-value range with a step, "5-5/10", as "5/10" (5, 15, 25, ...); cron means just 5.
_STEPPED_RANGE = re.compile(r"(?P<start>[0-9A-Za-z]+)-(?P<end>[0-9A-Za-z]+)/[0-9]+")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_NAMES = {
    "month": {name: number for number, name in enumerate(_MONTHS, 1)},
    "day-of-week": {name: number for number, name in enumerate(_WEEKDAYS)},
}
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# Zones found so far, one object per name (unknown names are not kept, so junk input cannot grow it).
_ZONES: dict[str, zoneinfo.ZoneInfo] = {}
# An expression must fire within this window from validation; 5 years, counting leap days.
_HORIZON = timedelta(days=5 * 365 + 2)


class CronError(ValueError):
    """A schedule input that cannot be used; ``field`` names the request field, for a 422 response."""

    def __init__(self, field: CronField, message: str) -> None:
        super().__init__(message)
        self.field: CronField = field
        self.message = message


def parse_zone(name: str) -> zoneinfo.ZoneInfo:
    """Return the IANA zone ``name`` from the pinned tzdata package, or raise ``CronError("timezone")``."""
    if not name:
        raise CronError("timezone", "timezone must not be empty; use an IANA name such as 'Europe/Berlin' or 'UTC'")
    if not _ZONE_NAME.fullmatch(name):
        raise CronError("timezone", f"timezone {name!r} is not a valid IANA zone name such as 'America/New_York'")
    zone = _ZONES.get(name) or _load_zone(name)
    if zone is None:
        raise CronError("timezone", f"timezone {name!r} is not a known IANA time zone")
    _ZONES[name] = zone
    return zone


def _load_zone(name: str) -> zoneinfo.ZoneInfo | None:
    """Read a zone file; the name has already been checked to be a plain relative path."""
    resource = importlib.resources.files("tzdata.zoneinfo").joinpath(*name.split("/"))
    try:
        if resource.is_file():
            with resource.open("rb") as data:
                return zoneinfo.ZoneInfo.from_file(data, key=name)
    except (OSError, ValueError):
        return None
    if name in _HOST_ONLY_NAMES or name.split("/", 1)[0] in _HOST_ONLY_TREES:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, OSError, ValueError):
        return None


def validate_cron(expr: str, *, now: datetime | None = None) -> str:
    """Return ``expr`` normalised to five space-separated fields, or raise ``CronError("frequency")``.

    Macros such as ``@daily`` are expanded. The expression must fire at least once within five years of
    ``now`` (default: the current time), checked in UTC, so a schedule that never runs is refused up front.
    """
    normalised = _normalise(expr)
    start = (now or datetime.now(UTC)).astimezone(UTC)
    first = _first_after(normalised, start, UTC)
    if first is None or first - start > _HORIZON:
        raise CronError("frequency", f"frequency {normalised!r} has no due time in the next 5 years")
    return normalised


def next_fire(expr: str, zone: zoneinfo.ZoneInfo, after: datetime) -> datetime:
    """Return the first due time strictly after the instant ``after``, as an aware UTC datetime.

    The expression is evaluated in ``zone`` with Debian cron's DST behaviour (see the module docstring).
    """
    due = _first_after(_normalise(expr), _utc(after), zone)
    if due is None:
        raise CronError("frequency", f"frequency {expr!r} has no due time after {after.isoformat()}")
    return due


def due_times(expr: str, zone: zoneinfo.ZoneInfo, after: datetime, until: datetime, limit: int) -> list[datetime]:
    """Return the due times in ``(after, until]``, oldest first and at most ``limit`` of them (UTC)."""
    normalised = _normalise(expr)
    end = _utc(until)
    found: list[datetime] = []
    cursor = _utc(after)
    while len(found) < limit:
        due = _first_after(normalised, cursor, zone)
        if due is None or due > end:
            break
        found.append(due)
        cursor = due
    return found


def validate_scheduled_at(when: datetime, zone: zoneinfo.ZoneInfo, now: datetime) -> datetime:
    """Return a one-time schedule's run time in UTC, or raise ``CronError("scheduled_at")``.

    A value without an offset is wall time in ``zone`` (UTC by default, as the reference API assumes);
    a wall time skipped by a DST jump is refused rather than silently moved. It must be after ``now``.
    """
    if when.tzinfo is None or when.utcoffset() is None:
        local = when.replace(tzinfo=zone)
        if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != when.replace(tzinfo=None):
            raise CronError("scheduled_at", f"scheduled_at {when.isoformat()} does not exist in {zone} (DST jump)")
        when = local
    instant = when.astimezone(UTC)
    if instant <= _utc(now):
        raise CronError("scheduled_at", f"scheduled_at {instant.isoformat()} is not in the future")
    return instant


def _first_after(expr: str, after: datetime, zone: tzinfo) -> datetime | None:
    """First due instant strictly after ``after`` (UTC), or None if cronsim finds none within 50 years.

    cronsim moves hour by hour in UTC, so across a half-hour DST shift (Australia/Lord_Howe) it lands in
    the wanted hour at minute 30 and misses the minutes before; searching once more from the start of
    the answer's local hour finds them.
    """
    due = _cronsim_after(expr, after, zone)
    if due is None:
        return None
    hour_start = due.astimezone(zone).replace(minute=0, second=0).astimezone(UTC)
    if hour_start > after:
        earlier = _cronsim_after(expr, max(after, hour_start - timedelta(seconds=1)), zone)
        if earlier is not None and earlier < due:
            return earlier
    return due


def _cronsim_after(expr: str, after: datetime, zone: tzinfo) -> datetime | None:
    for candidate in CronSim(expr, after.astimezone(zone)):
        instant = candidate.astimezone(UTC)
        if instant > after:
            return instant
    return None


def _normalise(expr: str) -> str:
    """Collapse whitespace, expand macros, check each field and rewrite one-value stepped ranges."""
    parts = expr.split()
    if not parts:
        raise CronError("frequency", "frequency must not be empty; use a 5-field cron expression such as '0 9 * * 1-5'")
    if len(parts) == 1 and parts[0].startswith("@"):
        macro = _MACROS.get(parts[0].lower())
        if macro is None:
            known = ", ".join(sorted(_MACROS))
            raise CronError("frequency", f"frequency {parts[0]!r} is not supported; use 5 fields or one of {known}")
        return macro
    if len(parts) != len(_FIELD_NAMES):
        raise CronError(
            "frequency",
            f"frequency must have 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}",
        )
    for name, value in zip(_FIELD_NAMES, parts, strict=True):
        if not _FIELD_CHARS.fullmatch(value):
            raise _bad_field(name, value)
    normalised = " ".join(
        ",".join(_single_value(name, term) for term in part.split(","))
        for name, part in zip(_FIELD_NAMES, parts, strict=True)
    )
    try:
        CronSim(normalised, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise _explain(normalised) from exc
    return normalised


def _single_value(field: str, term: str) -> str:
    """Rewrite a one-value range with a step ("5-5/10") as the value, which is what cron means by it."""
    match = _STEPPED_RANGE.fullmatch(term)
    if match is None:
        return term
    start, end = (_number(field, match.group(side)) for side in ("start", "end"))
    return match.group("start") if start is not None and start == end else term


def _number(field: str, token: str) -> int | None:
    if token.isdigit():
        return int(token)
    return _NAMES.get(field, {}).get(token.upper())


def _explain(expr: str) -> CronError:
    """Name the field cronsim refused: parse each field on its own, then blame the combination."""
    parts = expr.split()
    for index, (name, value) in enumerate(zip(_FIELD_NAMES, parts, strict=True)):
        probe = ["*"] * len(_FIELD_NAMES)
        probe[index] = value
        try:
            CronSim(" ".join(probe), datetime(2000, 1, 1, tzinfo=UTC))
        except CronSimError:
            return _bad_field(name, value)
    return CronError("frequency", f"frequency {expr!r} can never fire: no chosen month has that day of the month")


def _bad_field(name: str, value: str) -> CronError:
    allowed = _FIELD_ALLOWED[name]
    return CronError(
        "frequency", f"frequency has an invalid {name} field {value!r} (allowed: {allowed}, *, lists, ranges, steps)"
    )


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"expected an aware datetime, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)
