"""Django admin for the account records.

Loaded only when django.contrib.admin is installed (it is not by default: tenants work in the
API and the UI, and operators in the public schema have no tenant data to browse).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from apps.accounts.models import (
    Account,
    Contact,
    Lead,
    Milestone,
    OnboardingPlan,
    Opportunity,
    Subscription,
    SurveyResponse,
    Ticket,
    Touchpoint,
    UsageEvent,
)

SYNC_FIELDS = ("source_system", "external_id")


class MilestoneInline(admin.TabularInline[Milestone, Any]):
    model = Milestone
    extra = 0


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin[Account]):
    list_display = ("name", "segment", "lifecycle_stage", "currency", *SYNC_FIELDS)
    list_filter = ("lifecycle_stage", "segment", "source_system")
    search_fields = ("name", "domain", "external_id")
    raw_id_fields = ("parent", "owner")
    readonly_fields = ("rescore_requested_at", "squad_id", "created_at", "updated_at")


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin[Contact]):
    list_display = ("name", "email", "persona", "is_champion", "account")
    search_fields = ("name", "email")
    raw_id_fields = ("account",)


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin[Lead]):
    list_display = ("name", "email", "company", "status", "lead_source")
    list_filter = ("status",)
    search_fields = ("name", "email", "company")
    raw_id_fields = ("converted_account",)


@admin.register(Opportunity)
class OpportunityAdmin(admin.ModelAdmin[Opportunity]):
    list_display = ("name", "account", "kind", "status", "amount", "close_date")
    list_filter = ("kind", "status")
    search_fields = ("name",)
    raw_id_fields = ("account",)


@admin.register(OnboardingPlan)
class OnboardingPlanAdmin(admin.ModelAdmin[OnboardingPlan]):
    list_display = ("name", "account", "started_on", "target_live_on", "completed_on")
    raw_id_fields = ("account",)
    inlines = (MilestoneInline,)


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin[Subscription]):
    list_display = ("account", "plan", "mrr", "status", "period_start", "period_end")
    list_filter = ("status", "change_kind")
    raw_id_fields = ("account",)


@admin.register(UsageEvent)
class UsageEventAdmin(admin.ModelAdmin[UsageEvent]):
    list_display = ("name", "account", "occurred_at", "value")
    raw_id_fields = ("account", "contact")
    # 100M rows: counting them for the paginator would scan the table.
    show_full_result_count = False


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin[Ticket]):
    list_display = ("subject", "account", "priority", "status", "opened_at")
    list_filter = ("priority", "status")
    raw_id_fields = ("account", "contact")


@admin.register(SurveyResponse)
class SurveyResponseAdmin(admin.ModelAdmin[SurveyResponse]):
    list_display = ("account", "kind", "score", "moment", "responded_at")
    list_filter = ("kind",)
    raw_id_fields = ("account", "contact")


@admin.register(Touchpoint)
class TouchpointAdmin(admin.ModelAdmin[Touchpoint]):
    list_display = ("account", "kind", "occurred_at", "effort_minutes")
    list_filter = ("kind",)
    raw_id_fields = ("account", "contact", "author")
