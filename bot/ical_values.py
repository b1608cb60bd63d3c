"""Typed reads of iCalendar properties: icalendar's values narrowed to the plain Python ones Podium uses.

icalendar types a property as a union of some thirty value classes, and a date property's ``.dt`` as a date, a
date-time, a time, a duration or a period. These functions check what they find with isinstance and return only
the kinds a caller can use; anything else is an error here rather than a surprise further on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Protocol, runtime_checkable

from icalendar import Component


@runtime_checkable
class _Property(Protocol):
    """What every icalendar property value carries: its parameters (TZID, VALUE, ...)."""

    params: Mapping[str, object]


@runtime_checkable
class _TimeProperty(_Property, Protocol):
    """A DATE, DATE-TIME, TIME, DURATION or PERIOD value (vDDDTypes and its kin): ``dt`` is the Python value."""

    dt: object


def value(component: Component, name: str) -> object:
    """The Python value (``.dt``) of a date, time or duration property, not checked further.

    None when the property is absent, appears more than once, or is not a date, time or duration property.
    """
    found: object = component.get(name)
    return found.dt if isinstance(found, _TimeProperty) else None


def moment(component: Component, name: str) -> date | datetime | None:
    """A DATE or DATE-TIME property: a date, or a datetime (aware, or floating when it has no zone).

    None when the property is absent. Raises ValueError when it holds anything else: a bare time, a period, a
    duration, or several values.
    """
    if name not in component:
        return None
    found = value(component, name)
    if not isinstance(found, date):
        raise ValueError(f"{name} is not a date or a date-time")
    return found


def required_moment(component: Component, name: str) -> date | datetime:
    """As moment(), for a property the component must have: KeyError when it is absent, as ``component[name]``."""
    found = moment(component, name)
    if found is None:
        raise KeyError(name)
    return found


def duration(component: Component, name: str) -> timedelta | None:
    """A DURATION property; None when absent. Raises ValueError when it holds anything else."""
    if name not in component:
        return None
    found = value(component, name)
    if not isinstance(found, timedelta):
        raise ValueError(f"{name} is not a duration")
    return found


def text(component: Component, name: str) -> str | None:
    """A text property (SUMMARY, UID, ...) as written; the first when it appears more than once; None when absent."""
    found: object = component.get(name)
    if isinstance(found, list):
        found = found[0] if found else None
    return None if found is None else str(found)


def tzid(component: Component, name: str) -> str | None:
    """The TZID parameter of a property, as the file names the zone; None when the property or parameter is absent."""
    found: object = component.get(name)
    if not isinstance(found, _Property):
        return None
    zone = found.params.get("TZID")
    return str(zone) if zone else None
