from rest_framework.routers import DefaultRouter

from .views import ChangeRequestViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("change-requests", ChangeRequestViewSet, basename="change-request")

urlpatterns = router.urls
