"""The registry's panel on the home page: my agents and overdue reviews."""

from django.utils import timezone

from .choices import AgentStatus
from .models import Agent


def registry_home_panel(request):
    user = request.user
    today = timezone.localdate()
    mine = Agent.objects.filter(owner=user).select_related("owner_team")
    overdue = (
        Agent.objects.filter(next_review_due__lt=today).exclude(status=AgentStatus.RETIRED).order_by("next_review_due")
    )
    return {
        "template": "registry/panels/home.html",
        "my_agents": mine[:20],
        "overdue_reviews": overdue[:20],
        "overdue_count": overdue.count(),
    }
