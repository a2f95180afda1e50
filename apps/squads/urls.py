from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from apps.squads import api

router = SimpleRouter()
router.register("squad-members", api.MemberViewSet, basename="squad-member")
router.register("squads", api.SquadViewSet, basename="squad")
router.register("queues", api.QueueViewSet, basename="queue")
router.register("work-items", api.WorkItemViewSet, basename="work-item")
router.register("plays", api.PlayViewSet, basename="play")
router.register("play-runs", api.PlayRunViewSet, basename="play-run")
router.register("cycles", api.CycleViewSet, basename="cycle")

urlpatterns: list[URLPattern | URLResolver] = [
    path("scorecards/", api.ScorecardApi.as_view(), name="scorecards"),
    *router.urls,
]
