from rest_framework.routers import DefaultRouter

from .views import AgentViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("agents", AgentViewSet, basename="agent")

urlpatterns = router.urls
