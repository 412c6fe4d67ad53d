from rest_framework.routers import DefaultRouter

from .views import AssessmentViewSet, DocumentViewSet, IntakeViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("intakes", IntakeViewSet, basename="intake")
router.register("documents", DocumentViewSet, basename="document")
router.register("impact-assessments", AssessmentViewSet, basename="impact-assessment")

urlpatterns = router.urls
