from django.urls import URLPattern, URLResolver
from rest_framework.routers import SimpleRouter

from apps.accounts.api import views

router = SimpleRouter()
router.register("accounts", views.AccountViewSet, basename="account")
router.register("contacts", views.ContactViewSet, basename="contact")
router.register("leads", views.LeadViewSet, basename="lead")
router.register("opportunities", views.OpportunityViewSet, basename="opportunity")
router.register("onboarding-plans", views.OnboardingPlanViewSet, basename="onboarding-plan")
router.register("milestones", views.MilestoneViewSet, basename="milestone")
router.register("subscriptions", views.SubscriptionViewSet, basename="subscription")
router.register("usage-events", views.UsageEventViewSet, basename="usage-event")
router.register("tickets", views.TicketViewSet, basename="ticket")
router.register("survey-responses", views.SurveyResponseViewSet, basename="survey-response")
router.register("touchpoints", views.TouchpointViewSet, basename="touchpoint")

urlpatterns: list[URLPattern | URLResolver] = list(router.urls)
