from datetime import timedelta

from django import template

from registry.selectors import user_display_name

register = template.Library()


@register.filter
def duration(value: timedelta | None) -> str:
    """A timedelta for people: "3 d 4 h", "2 h 14 min", "45 s"; "—" when unknown."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)} s"
    minutes, _ = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


@register.filter
def person(user, fallback: str = "—") -> str:
    """A user's full name, else username; ``fallback`` when there is no user."""
    return user_display_name(user, nobody=fallback)
