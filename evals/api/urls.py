from rest_framework.routers import DefaultRouter

from .views import EvalRunViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("eval-runs", EvalRunViewSet, basename="eval-run")

urlpatterns = router.urls
