"""Time zones for the tools: which zone is "local", exact IANA names, and wall-clock facts.

The official time server's rules are kept where agents rely on them: a zone is an exact IANA key,
the local zone comes from an override, then $TZ, then the system, then UTC.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import TZPATH, ZoneInfo, ZoneInfoNotFoundError

from chronotick_engine.errors import quoted


class ZoneError(ValueError):
    """An unknown or malformed zone name, in one line."""


@cache
def zone(name: str) -> ZoneInfo:
    """The zone of an exact IANA key ('UTC', 'Asia/Kathmandu'); ZoneError otherwise.

    zoneinfo finds a key as a file: a path, a directory or a wrong-case name on a case-insensitive
    disk must not pass, so the key is also checked against its own canonical spelling. That avoids
    reading the whole zone list (available_timezones() costs ~100 ms, paid on a server's first call).
    """
    bad = ZoneError(f"unknown time zone {quoted(name)}: use an IANA name such as 'UTC' or 'America/New_York'")
    if not isinstance(name, str) or not name or name.startswith(("/", ".")) or ".." in name or "\\" in name:
        raise bad
    try:
        found = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise bad from None
    if found.key != name or not _exact_file(name):
        raise bad
    return found


UTC_ALIASES = {"utc", "z", "gmt", "zulu", "etc/utc", "universal"}


@cache
def _known_zones() -> dict[str, str]:
    """Every IANA key by its lower-case spelling (read once: available_timezones() costs ~100 ms, so
    only a name that is not already an exact key comes here)."""
    from zoneinfo import available_timezones

    return {name.lower(): name for name in available_timezones()}


@cache
def _windows_zones() -> dict[str, str]:
    """Windows zone names ('Pacific Standard Time') to IANA keys, by lower-case name: CLDR's table,
    as tzlocal ships it."""
    try:
        from tzlocal.windows_tz import win_tz
    except ImportError:
        return {}
    return {name.lower(): iana for name, iana in win_tz.items()}


@cache
def _spellings() -> dict[str, str]:
    """Every name resolve() knows, by lower-case spelling, to the spelling a suggestion shows."""
    try:
        from tzlocal.windows_tz import win_tz
    except ImportError:
        win_tz = {}
    return {**{n.lower(): n for n in win_tz}, **_known_zones()}


def resolve(name: str, local: str) -> tuple[ZoneInfo, str]:
    """(zone, its IANA key) for what an agent sends: an exact IANA key; the same in another case
    ('europe/paris'); 'UTC', 'utc' or 'Z'; 'local' (the server's zone); or a Windows zone name
    ('Pacific Standard Time'). Anything else is a ZoneError naming the three closest names."""
    if not isinstance(name, str):
        raise ZoneError(f"unknown time zone {quoted(name)}")
    try:
        return zone(name), name
    except ZoneError:
        pass
    key = name.strip().lower()
    if key in UTC_ALIASES:
        found: str | None = "UTC"
    elif key == "local":
        found = local
    else:
        found = _known_zones().get(key) or _windows_zones().get(key)
    if found:
        return zone(found), found
    import difflib

    close = difflib.get_close_matches(key[:80], list(_spellings()), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(_spellings()[c]) for c in close)}?" if close else ""
    raise ZoneError(
        f"unknown time zone {quoted(name)}: use an IANA name such as 'UTC' or 'America/New_York'{hint}"
    )


def _exact_file(name: str) -> bool:
    """Whether some tz directory holds a regular file spelt exactly `name` (case included)."""
    if name == "UTC":
        return True
    for root in TZPATH:
        directory, _, leaf = os.path.join(root, name).rpartition("/")
        try:
            if leaf in os.listdir(directory) and os.path.isfile(os.path.join(directory, leaf)):
                return True
        except OSError:
            continue
    return False


def _system_zone_name() -> str | None:
    """The system zone's IANA key, from /etc/localtime's link or /etc/timezone."""
    try:
        target = os.path.realpath("/etc/localtime")
        if "/zoneinfo/" in target:
            return target.split("/zoneinfo/", 1)[1]
    except OSError:
        pass
    try:
        return Path("/etc/timezone").read_text().strip() or None
    except OSError:
        return None


def local_zone_name(override: str | None = None) -> str:
    """The server's local zone: `override` (--local-timezone), then $TZ, then the system, then UTC.
    An unusable override is an error; an unusable $TZ or system zone falls through to the next."""
    if override:
        zone(override)
        return override
    for candidate in (os.environ.get("TZ", "").lstrip(":"), _system_zone_name()):
        if candidate:
            try:
                zone(candidate)
                return candidate
            except ZoneError:
                continue
    return "UTC"


def utc_offset(dt: datetime) -> str:
    """'+05:45' style offset of an aware datetime."""
    off = dt.utcoffset() or timedelta()
    sign = "-" if off < timedelta() else "+"
    minutes = abs(int(off.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def is_dst(dt: datetime) -> bool:
    return bool(dt.dst())


def hours_difference(source: datetime, target: datetime) -> str:
    """The official server's `time_difference`: '+5.0h', '+5.75h', '-3.5h'."""
    hours = ((target.utcoffset() or timedelta()) - (source.utcoffset() or timedelta())).total_seconds() / 3600
    if hours.is_integer():
        return f"{hours:+.1f}h"
    return f"{hours:+.2f}".rstrip("0").rstrip(".") + "h"


def local_instants(naive: datetime, tz: ZoneInfo) -> list[datetime]:
    """Every instant a wall-clock time names in `tz`: one, two in a fall-back fold, none in a
    spring-forward gap."""
    first, second = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    found = []
    for candidate in (first, second):
        back = datetime.fromtimestamp(candidate.timestamp(), tz)
        if back.replace(tzinfo=None) == naive and all(c.timestamp() != candidate.timestamp() for c in found):
            found.append(back)
    return sorted(found, key=lambda d: d.timestamp())
