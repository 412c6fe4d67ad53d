"""Navigation by role: each item is shown to the users whose role needs it.

Each app registers its entry in :data:`registry.extensions.nav_items` from its
``AppConfig.ready()``; an entry's ``badge`` is a callable ``(user) -> int`` whose value shows
as a count next to the label (for example, requests awaiting me)."""

from django.urls import NoReverseMatch, reverse

from .extensions import nav_items


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items = []
    for item in nav_items:
        if item.perm and not user.has_perm(item.perm):
            continue
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue
        badge = item.badge(user) if item.badge else None
        active = request.path == url if url == "/" else request.path.startswith(url)
        items.append({"label": item.label, "url": url, "active": active, "badge": badge})
    return {"nav_items": items}
