from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render

from registry.extensions import home_panels, page_sections_collect


@login_required
def home(request):
    """My work: what each app says needs this user's attention."""
    panels = page_sections_collect(home_panels, request)
    return render(request, "home.html", {"panels": panels})


def healthz(request):
    return JsonResponse({"status": "ok"})
