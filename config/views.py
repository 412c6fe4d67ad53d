from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render

from .sections import collect_sections


@login_required
def home(request):
    """My work: what each app says needs this user's attention."""
    panels = collect_sections(settings.QUORUM_HOME_PANELS, request)
    return render(request, "home.html", {"panels": panels})


def healthz(request):
    return JsonResponse({"status": "ok"})
