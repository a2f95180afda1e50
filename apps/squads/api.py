"""REST endpoints of squads (pod workflows): thin views over services and selectors.

Every view derives from `SquadsViewSet`, whose permission class checks the caller's
permission level for the operation (see access.py); querysets read the request's tenant
schema, so another tenant's id is a 404.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import django_filters
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.api.pagination import KeysetCursorPagination, KeysetOrdering
from apps.squads import plays, scorecards, selectors, services
from apps.squads import serializers as s
from apps.squads.access import Actor, SquadsPermission, actor_for_request, ensure_person
from apps.squads.models import (
    OPEN_STATUSES,
    Cycle,
    Member,
    PermissionLevel,
    Play,
    Queue,
    Squad,
    WorkItem,
    WorkItemStatus,
)
from fullfield.api.filters import FilterBackend, UtcDateTimeFilter
from fullfield.errors import DomainError

ID_PATTERN = "[0-9]{1,18}"
MEMBER = PermissionLevel.MEMBER
MANAGER = PermissionLevel.MANAGER
ADMIN = PermissionLevel.ADMIN
READ = PermissionLevel.READ_ONLY

LEVELS_NOTE = (
    "Permission levels: read_only reads; member works their own squads' items; manager "
    "manages squads, queues, plays and cycles and works every queue; admin also manages "
    "member profiles. A read-write API key acts as a manager, but cannot claim or complete."
)


class SquadsViewSet(viewsets.GenericViewSet[Any]):
    """Permission levels (access.SquadsPermission), keyset cursor pages, ids as digits."""

    permission_classes = [SquadsPermission]
    pagination_class = KeysetCursorPagination
    filter_backends = [FilterBackend, KeysetOrdering]
    ordering = "-id"
    ordering_fields: ClassVar[tuple[str, ...]] = ()
    lookup_value_regex = ID_PATTERN
    write_level: ClassVar[str] = MANAGER
    action_levels: ClassVar[dict[str, str]] = {}

    def actor(self) -> Actor:
        return actor_for_request(self.request)


class SquadsModelViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    SquadsViewSet,
):
    """List, get, create, change (PATCH) and delete."""

    http_method_names = ["get", "post", "patch", "delete"]


def _body(serializer_class: type[serializers.Serializer[Any]], request: Request) -> Any:
    body = serializer_class(data=request.data)
    body.is_valid(raise_exception=True)
    return body.validated_data


# --- members ---------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List squad members", description=LEVELS_NOTE),
    retrieve=extend_schema(summary="Get a squad member"),
    create=extend_schema(
        summary="Give a user a member profile",
        description="A tenant user's functional role, permission level, capacity (open items "
        "at most) and availability. Admins only.",
        examples=[
            OpenApiExample(
                "A success manager",
                value={"user": 2, "role": "success", "permission_level": "member", "capacity": 20},
                request_only=True,
            )
        ],
    ),
    partial_update=extend_schema(summary="Update a squad member"),
    destroy=extend_schema(
        summary="Remove a member profile", description="Their open items return to the pool."
    ),
)
class MemberViewSet(SquadsModelViewSet):
    queryset = selectors.member_list()
    serializer_class = s.MemberSerializer
    write_level = ADMIN
    filterset_fields = ("role", "permission_level", "is_available")
    ordering_fields = ("created_at",)

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        if self.action == "partial_update":
            return s.MemberUpdateSerializer
        return s.MemberSerializer

    def perform_create(self, serializer: serializers.BaseSerializer[Any]) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = services.member_create(user=data.pop("user"), data=data)

    def perform_update(self, serializer: serializers.BaseSerializer[Any]) -> None:
        assert isinstance(serializer.instance, Member)
        serializer.instance = services.member_update(
            member=serializer.instance, data=serializer.validated_data
        )

    def perform_destroy(self, instance: Member) -> None:
        services.member_delete(member=instance)

    @extend_schema(summary="My member profile", responses=s.MemberSerializer)
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def me(self, request: Request) -> Response:
        member = ensure_person(self.actor())
        return Response(s.MemberSerializer(self.get_queryset().get(pk=member.pk)).data)


# --- squads ----------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List squads"),
    retrieve=extend_schema(
        summary="Get a squad",
        description="With its members, size guidance (a warning below 6 or above 10 members) "
        "and skill gaps (roles its value area's mission needs that no member has).",
    ),
    create=extend_schema(
        summary="Create a squad",
        description="A squad gets its queue at once. Managers and admins.",
        examples=[
            OpenApiExample(
                "An account-based squad",
                value={
                    "name": "Enterprise growth",
                    "mission": "Grow and keep our top 200 accounts",
                    "value_area": "account_based",
                    "account_filter": {"segment": ["enterprise"]},
                },
                request_only=True,
            )
        ],
    ),
    partial_update=extend_schema(summary="Update a squad"),
    destroy=extend_schema(
        summary="Delete a squad",
        description="Its accounts are left without a squad; its items and plays go with it.",
    ),
)
class SquadViewSet(SquadsModelViewSet):
    queryset = selectors.squad_list()
    serializer_class = s.SquadSerializer
    filterset_fields = ("value_area",)
    ordering_fields = ("name", "created_at")
    action_levels: ClassVar[dict[str, str]] = {"destroy": ADMIN}

    def perform_create(self, serializer: serializers.BaseSerializer[Any]) -> None:
        serializer.instance = services.squad_create(data=serializer.validated_data)

    def perform_update(self, serializer: serializers.BaseSerializer[Any]) -> None:
        assert isinstance(serializer.instance, Squad)
        serializer.instance = services.squad_update(
            squad=serializer.instance, data=serializer.validated_data
        )

    def perform_destroy(self, instance: Squad) -> None:
        services.squad_delete(squad=instance)

    def _fresh(self, squad: Squad) -> Response:
        return Response(s.SquadSerializer(selectors.squad_get(squad_id=squad.pk)).data)

    @extend_schema(
        summary="Add a member to a squad",
        description="With their role in the squad (default: their functional role).",
        request=s.SquadMemberAddSerializer,
        responses=s.SquadSerializer,
    )
    @action(detail=True, methods=["post"], url_path="members", filter_backends=[])
    def add_member(self, request: Request, pk: str) -> Response:
        squad = self.get_object()
        data = _body(s.SquadMemberAddSerializer, request)
        services.squad_member_add(
            squad=squad, member=data["member"], role=data.get("role"), is_lead=data["is_lead"]
        )
        return self._fresh(squad)

    @extend_schema(
        summary="Remove a member from a squad",
        description="Items they held in the squad's queue return to its pool.",
        responses={204: None},
    )
    @action(
        detail=True,
        methods=["delete"],
        url_path=rf"members/(?P<member_id>{ID_PATTERN})",
        filter_backends=[],
    )
    def remove_member(self, request: Request, pk: str, member_id: str) -> Response:
        squad = self.get_object()
        member = Member.objects.filter(pk=int(member_id)).first()
        if member is None:
            raise DomainError("No such member.", fields={"member": ["Not found."]})
        services.squad_member_remove(squad=squad, member=member)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="List a squad's covered accounts",
        description="Accounts assigned to the squad, and those its saved filter matches, with "
        "scoring's health, CLV and ROI (the rows behind the scorecard's figures).",
        parameters=[
            OpenApiParameter(
                "band",
                OpenApiTypes.STR,
                many=True,
                description="Only these health bands: good, average, poor, unscored (repeat).",
            ),
            OpenApiParameter(
                "renews_within_days",
                OpenApiTypes.INT,
                description="Only accounts with a term in force ending within these days.",
            ),
        ],
        responses=s.CoveredAccountSerializer(many=True),
    )
    @action(detail=True, methods=["get"], url_path="accounts", filter_backends=[KeysetOrdering])
    def accounts(self, request: Request, pk: str) -> Response:
        squad = self.get_object()
        query = s.CoveredAccountsQuerySerializer(
            data={
                **(
                    {"band": request.query_params.getlist("band")}
                    if "band" in request.query_params
                    else {}
                ),
                **{k: v for k, v in request.query_params.items() if k == "renews_within_days"},
            }
        )
        query.is_valid(raise_exception=True)
        accounts = selectors.squad_accounts_list(
            squad=squad,
            bands=query.validated_data.get("band"),
            renews_within_days=query.validated_data.get("renews_within_days"),
        )
        page = self.paginate_queryset(accounts)
        return self.get_paginated_response(s.CoveredAccountSerializer(page, many=True).data)

    @extend_schema(
        summary="Assign accounts to a squad",
        description="Sets the accounts' squad (or, with `remove`, takes them off it).",
        request=s.SquadAccountsSerializer,
        responses=s.CountSerializer,
    )
    @accounts.mapping.post
    def assign_accounts(self, request: Request, pk: str) -> Response:
        squad = self.get_object()
        data = _body(s.SquadAccountsSerializer, request)
        count = services.squad_accounts_assign(
            squad=squad, account_ids=data["account_ids"], remove=data["remove"]
        )
        return Response({"count": count})

    @extend_schema(
        summary="Replicate a squad",
        description="A new squad from this one's mission, plays (as drafts), queue policy and "
        "cycle cadence, with no members and no accounts.",
        request=s.SquadReplicateSerializer,
        responses={201: s.SquadSerializer},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def replicate(self, request: Request, pk: str) -> Response:
        source = self.get_object()
        data = _body(s.SquadReplicateSerializer, request)
        squad = services.squad_replicate(
            source=source, name=data["name"], mission=data.get("mission")
        )
        body = s.SquadSerializer(selectors.squad_get(squad_id=squad.pk)).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="A squad's scorecard",
        description=scorecards.__doc__,
        parameters=[
            OpenApiParameter("start", OpenApiTypes.DATE, description="Default: 30 days ago."),
            OpenApiParameter("end", OpenApiTypes.DATE, description="Exclusive; default tomorrow."),
        ],
        responses=s.ScorecardSerializer,
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def scorecard(self, request: Request, pk: str) -> Response:
        squad = self.get_object()
        start, end = _period(request)
        card = scorecards.squad_scorecard(squad=squad, start=start, end=end)
        return Response(s.ScorecardSerializer(card).data)


def _period(request: Request) -> tuple[dt.date, dt.date]:
    body = s.PeriodSerializer(data=request.query_params)
    body.is_valid(raise_exception=True)
    today = timezone.now().date()
    end = body.validated_data.get("end") or today + dt.timedelta(days=1)
    start = body.validated_data.get("start") or end - dt.timedelta(days=31)
    if end <= start:
        raise DomainError("The period must end after it starts.", fields={"end": ["Before start."]})
    return start, end


# --- queues ----------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List queues"),
    retrieve=extend_schema(summary="Get a queue"),
    partial_update=extend_schema(
        summary="Set a queue's assignment policy",
        description="manual (items wait in the pool), round_robin, least_loaded (fewest open "
        "items, respecting capacity and availability) or by_role (least loaded of a role).",
    ),
)
class QueueViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, SquadsViewSet
):
    queryset = selectors.queue_list()
    serializer_class = s.QueueSerializer
    filterset_fields = ("squad", "assignment_policy")
    http_method_names = ["get", "post", "patch"]
    action_levels: ClassVar[dict[str, str]] = {"claim_next": MEMBER}

    def perform_update(self, serializer: serializers.BaseSerializer[Any]) -> None:
        assert isinstance(serializer.instance, Queue)
        serializer.instance = services.queue_update(
            queue=serializer.instance, data=serializer.validated_data
        )

    @extend_schema(
        summary="Claim the next item of a queue",
        description="The open item of highest priority that no one else is claiming right now "
        "(`SELECT ... FOR UPDATE SKIP LOCKED`); 204 when the pool is empty.",
        request=None,
        responses={200: s.WorkItemSerializer, 204: None},
    )
    @action(detail=True, methods=["post"], url_path="claim-next", filter_backends=[])
    def claim_next(self, request: Request, pk: str) -> Response:
        queue = self.get_object()
        item = services.work_item_claim_next(actor=self.actor(), queue=queue)
        if item is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(s.WorkItemSerializer(item).data)


# --- work items ------------------------------------------------------------------------------


class WorkItemFilter(django_filters.FilterSet):  # type: ignore[misc]  # django-filter ships no types
    squad = django_filters.NumberFilter(field_name="queue__squad_id")
    status = django_filters.MultipleChoiceFilter(choices=WorkItemStatus.choices)
    open = django_filters.BooleanFilter(method="filter_open", label="Only open items.")
    saved = django_filters.BooleanFilter(
        method="filter_saved",
        label="Only items that took their account out of poor health (scorecard saves).",
    )
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")
    closed_after = UtcDateTimeFilter(field_name="closed_at", lookup_expr="gte")
    closed_before = UtcDateTimeFilter(field_name="closed_at", lookup_expr="lt")

    class Meta:
        model = WorkItem
        fields = ["queue", "squad", "account", "play", "assignee", "status"]

    def filter_open(self, queryset: QuerySet[WorkItem], name: str, value: bool) -> QuerySet[Any]:
        return queryset.filter(status__in=OPEN_STATUSES) if value else queryset

    def filter_saved(self, queryset: QuerySet[WorkItem], name: str, value: bool) -> QuerySet[Any]:
        saved = scorecards.saved_items(queryset)
        return saved if value else queryset.exclude(pk__in=saved.values("pk"))


ITEM_ACTION = "Members act on their own squads' items; managers on any."


@extend_schema_view(
    list=extend_schema(
        summary="List work items",
        description="Filter by queue, squad, account, play, assignee, status; sort by priority "
        "(`?ordering=-priority`), due or SLA time.",
    ),
    retrieve=extend_schema(summary="Get a work item"),
    create=extend_schema(
        summary="Put a work item in a queue",
        description="By hand (plays create theirs). Its priority is the expected loss "
        "(churn probability x ARR) or, with `expansion`, the expected gain. " + ITEM_ACTION,
        request=s.WorkItemCreateSerializer,
        responses={201: s.WorkItemSerializer},
    ),
)
class WorkItemViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, SquadsViewSet
):
    queryset = selectors.work_item_list()
    serializer_class = s.WorkItemSerializer
    filterset_class = WorkItemFilter
    ordering_fields = ("priority", "created_at", "due_at", "sla_due_at", "updated_at")
    write_level = MEMBER

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = _body(s.WorkItemCreateSerializer, request)
        item = services.work_item_create(actor=self.actor(), **data)
        return Response(s.WorkItemSerializer(item).data, status=status.HTTP_201_CREATED)

    def _item_id(self) -> int:
        return int(self.get_object().pk)

    def _done(self, item: WorkItem) -> Response:
        return Response(s.WorkItemSerializer(selectors.work_item_list().get(pk=item.pk)).data)

    @extend_schema(
        summary="Claim a work item",
        description="Atomic: when two members claim at once exactly one wins; the other gets "
        "409 naming who holds it. Refused (409) when the member is at capacity. " + ITEM_ACTION,
        request=None,
        responses=s.WorkItemSerializer,
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def claim(self, request: Request, pk: str) -> Response:
        return self._done(services.work_item_claim(actor=self.actor(), item_id=self._item_id()))

    @extend_schema(
        summary="Release a work item",
        description="Back to the queue's pool (its holder, or a manager).",
        request=None,
        responses=s.WorkItemSerializer,
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def release(self, request: Request, pk: str) -> Response:
        return self._done(services.work_item_release(actor=self.actor(), item_id=self._item_id()))

    @extend_schema(
        summary="Assign a work item",
        description="To a member of the item's squad who is below capacity. " + ITEM_ACTION,
        request=s.AssignSerializer,
        responses=s.WorkItemSerializer,
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def assign(self, request: Request, pk: str) -> Response:
        item_id = self._item_id()
        data = _body(s.AssignSerializer, request)
        return self._done(
            services.work_item_assign(actor=self.actor(), item_id=item_id, member=data["assignee"])
        )

    @extend_schema(
        summary="Snooze a work item",
        description="Until a time; it wakes up by itself (back to its holder, or the pool).",
        request=s.SnoozeSerializer,
        responses=s.WorkItemSerializer,
        examples=[
            OpenApiExample(
                "Until Monday", value={"until": "2026-03-02T09:00:00Z"}, request_only=True
            )
        ],
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def snooze(self, request: Request, pk: str) -> Response:
        item_id = self._item_id()
        data = _body(s.SnoozeSerializer, request)
        return self._done(
            services.work_item_snooze(actor=self.actor(), item_id=item_id, until=data["until"])
        )

    @extend_schema(
        summary="Complete a work item",
        description="With an outcome and the effort in minutes: a touchpoint on the account's "
        "timeline (a cost in its ROI) and a `work_item.completed` webhook.",
        request=s.CompleteSerializer,
        responses=s.WorkItemSerializer,
        examples=[
            OpenApiExample(
                "Saved",
                value={"outcome": "Exec call held; renewal on track", "effort_minutes": 45},
                request_only=True,
            )
        ],
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def complete(self, request: Request, pk: str) -> Response:
        item_id = self._item_id()
        data = _body(s.CompleteSerializer, request)
        return self._done(services.work_item_complete(actor=self.actor(), item_id=item_id, **data))

    @extend_schema(
        summary="Dismiss a work item",
        request=s.DismissSerializer,
        responses=s.WorkItemSerializer,
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def dismiss(self, request: Request, pk: str) -> Response:
        item_id = self._item_id()
        data = _body(s.DismissSerializer, request)
        return self._done(
            services.work_item_dismiss(actor=self.actor(), item_id=item_id, reason=data["reason"])
        )

    @extend_schema(
        summary="Comment on a work item",
        request=s.CommentSerializer,
        responses={201: s.WorkItemEventSerializer},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def comment(self, request: Request, pk: str) -> Response:
        item_id = self._item_id()
        data = _body(s.CommentSerializer, request)
        event = services.work_item_comment(actor=self.actor(), item_id=item_id, body=data["body"])
        return Response(s.WorkItemEventSerializer(event).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Tick a work item's checklist",
        description="One true/false per checklist entry, in order.",
        request=s.ChecklistUpdateSerializer,
        responses=s.WorkItemSerializer,
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def checklist(self, request: Request, pk: str) -> Response:
        item_id = self._item_id()
        data = _body(s.ChecklistUpdateSerializer, request)
        return self._done(
            services.work_item_checklist_update(
                actor=self.actor(), item_id=item_id, done=data["done"]
            )
        )

    @extend_schema(
        summary="A work item's history",
        description="Every action with who did it, comments included, oldest first.",
        responses=s.WorkItemEventSerializer(many=True),
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def history(self, request: Request, pk: str) -> Response:
        item_id = self._item_id()
        paginator: Any = self.paginator
        paginator.ordering = "id"  # a history reads oldest first
        page = self.paginate_queryset(selectors.work_item_events(item_id=item_id))
        return self.get_paginated_response(s.WorkItemEventSerializer(page, many=True).data)

    @extend_schema(
        summary="Act on many work items",
        description="claim, assign, snooze, release, complete or dismiss up to 500 items; each "
        "succeeds or fails on its own (`failed` says why). " + ITEM_ACTION,
        request=s.BulkSerializer,
        responses=s.WorkItemBulkResultSerializer,
        examples=[
            OpenApiExample(
                "Snooze three",
                value={"action": "snooze", "item_ids": [1, 2, 3], "until": "2026-03-02T09:00:00Z"},
                request_only=True,
            )
        ],
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def bulk(self, request: Request) -> Response:
        data = dict(_body(s.BulkSerializer, request))
        result = services.work_items_bulk(
            actor=self.actor(),
            action=data.pop("action"),
            item_ids=data.pop("item_ids"),
            params=data,
        )
        return Response({"succeeded": result.succeeded, "failed": result.failed})

    @extend_schema(
        summary="My work items",
        description="The open items the caller holds, across all their squads.",
        responses=s.WorkItemSerializer(many=True),
    )
    @action(detail=False, methods=["get"])
    def mine(self, request: Request) -> Response:
        member = ensure_person(self.actor())
        items = self.filter_queryset(selectors.work_items_of_member(member=member))
        page = self.paginate_queryset(items)
        return self.get_paginated_response(s.WorkItemSerializer(page, many=True).data)


# --- plays -----------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List plays"),
    retrieve=extend_schema(summary="Get a play"),
    create=extend_schema(
        summary="Create a play",
        description="A play starts as a draft (it never creates items until activated). "
        "Triggers and their `trigger_config`: health_band_changed {to_band, from_band?}; "
        "score_threshold {threshold, direction below|above}; usage_drop {percent, "
        "window_days, event_name?}; renewal_within {days}; milestone_overdue {grace_days?}; "
        "survey_below {kind, threshold, moment?, within_days?}; opportunity_won {kind?, "
        "within_days?}; expansion_signal {min_score?, min_events?, window_days?}; "
        "segment_entered {segment}; lifecycle_stage_entered {stage}. Dedup: while an item of "
        "the play is open for an account it is updated, and an account gets at most "
        "`reenrol_max` items per `reenrol_window_days`.",
        examples=[
            OpenApiExample(
                "Usage drop",
                value={
                    "squad": 1,
                    "name": "Usage fell by half",
                    "trigger": "usage_drop",
                    "trigger_config": {"percent": 50, "window_days": 14},
                    "audience": {"segment": ["enterprise"]},
                    "item_template": {
                        "title": "Usage halved at {account}",
                        "checklist": ["Check the usage report", "Call the champion"],
                        "due_in_days": 3,
                    },
                    "reenrol_max": 1,
                    "reenrol_window_days": 30,
                },
                request_only=True,
            )
        ],
    ),
    partial_update=extend_schema(summary="Update a play"),
    destroy=extend_schema(summary="Delete a play"),
)
class PlayViewSet(SquadsModelViewSet):
    queryset = selectors.play_list()
    serializer_class = s.PlaySerializer
    filterset_fields = ("squad", "status", "trigger")
    ordering_fields = ("name", "created_at")
    action_levels: ClassVar[dict[str, str]] = {"preview": READ, "dry_run": MEMBER}

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        return s.PlayUpdateSerializer if self.action == "partial_update" else s.PlaySerializer

    def perform_create(self, serializer: serializers.BaseSerializer[Any]) -> None:
        serializer.instance = plays.play_create(data=serializer.validated_data)

    def perform_update(self, serializer: serializers.BaseSerializer[Any]) -> None:
        assert isinstance(serializer.instance, Play)
        serializer.instance = plays.play_update(
            play=serializer.instance, data=serializer.validated_data
        )

    @extend_schema(summary="Activate a play", request=None, responses=s.PlaySerializer)
    @action(detail=True, methods=["post"], filter_backends=[])
    def activate(self, request: Request, pk: str) -> Response:
        return Response(s.PlaySerializer(plays.play_activate(play=self.get_object())).data)

    @extend_schema(
        summary="Disable a play",
        description="Its open items are dismissed with the reason given.",
        request=s.PlayDisableSerializer,
        responses=s.PlaySerializer,
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def disable(self, request: Request, pk: str) -> Response:
        play = self.get_object()
        data = _body(s.PlayDisableSerializer, request)
        plays.play_disable(play=play, reason=data["reason"], actor_user_id=self.actor().user_id)
        return Response(s.PlaySerializer(play).data)

    @extend_schema(
        summary="Dry-run a play on one account",
        description="Whether the trigger matches the account now and what the play would do "
        "(create, update or skip, with why); recorded in the play's runs, nothing else changes.",
        request=s.DryRunSerializer,
        responses=s.PlayRunSerializer,
    )
    @action(detail=True, methods=["post"], url_path="dry-run", filter_backends=[])
    def dry_run(self, request: Request, pk: str) -> Response:
        play = self.get_object()
        data = _body(s.DryRunSerializer, request)
        run = plays.play_dry_run(play=play, account=data["account"])
        return Response(s.PlayRunSerializer(run).data)

    @extend_schema(
        summary="Preview a play's audience",
        description="How many accounts the audience holds and the trigger matches now, with a "
        "sample of up to 10.",
        responses=s.PreviewSerializer,
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def preview(self, request: Request, pk: str) -> Response:
        preview = plays.play_preview(play=self.get_object())
        return Response(s.PreviewSerializer(preview).data)


@extend_schema_view(
    list=extend_schema(
        summary="List play runs",
        description="The audit of every run: what matched, what was created, updated or "
        "skipped and why. Filter by play.",
    ),
    retrieve=extend_schema(summary="Get a play run"),
)
class PlayRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, SquadsViewSet):
    queryset = selectors.play_run_list()
    serializer_class = s.PlayRunSerializer
    filterset_fields = ("play", "cause", "dry_run")
    ordering_fields = ("ran_at",)


# --- cycles ----------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="List cycles", description="A squad's cycles are its learning record."
    ),
    retrieve=extend_schema(summary="Get a cycle"),
    create=extend_schema(
        summary="Start a cycle",
        description="A short break-fix iteration: goal, hypothesis, dates and the play changes "
        "it tries. One active cycle per squad.",
        examples=[
            OpenApiExample(
                "Two weeks on onboarding",
                value={
                    "squad": 1,
                    "name": "Cycle 3",
                    "goal": "Halve overdue onboarding milestones",
                    "hypothesis": "A kickoff call within 3 days keeps milestones on time",
                    "starts_on": "2026-03-02",
                    "ends_on": "2026-03-15",
                    "status": "active",
                },
                request_only=True,
            )
        ],
    ),
    partial_update=extend_schema(summary="Update a cycle"),
    destroy=extend_schema(summary="Delete a cycle"),
)
class CycleViewSet(SquadsModelViewSet):
    queryset = selectors.cycle_list()
    serializer_class = s.CycleSerializer
    filterset_fields = ("squad", "status")
    ordering_fields = ("starts_on", "created_at")

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        return s.CycleUpdateSerializer if self.action == "partial_update" else s.CycleSerializer

    def perform_create(self, serializer: serializers.BaseSerializer[Any]) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = services.cycle_create(squad=data.pop("squad"), data=data)

    def perform_update(self, serializer: serializers.BaseSerializer[Any]) -> None:
        assert isinstance(serializer.instance, Cycle)
        serializer.instance = services.cycle_update(
            cycle=serializer.instance, data=serializer.validated_data
        )

    @extend_schema(
        summary="Close a cycle",
        description="Measures its outcome from the squad's own figures over the cycle's dates "
        "(health, NRR, items closed, SLA, effort) and keeps the lessons learned.",
        request=s.CycleCloseSerializer,
        responses=s.CycleSerializer,
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def close(self, request: Request, pk: str) -> Response:
        cycle = self.get_object()
        data = _body(s.CycleCloseSerializer, request)
        return Response(
            s.CycleSerializer(services.cycle_close(cycle=cycle, lessons=data["lessons"])).data
        )


# --- scorecards ------------------------------------------------------------------------------


class ScorecardApi(APIView):
    permission_classes = [SquadsPermission]

    @extend_schema(
        summary="Scorecards of all squads",
        description="Every squad's scorecard and their roll-up. " + (scorecards.__doc__ or ""),
        parameters=[
            OpenApiParameter("start", OpenApiTypes.DATE, description="Default: 31 days ago."),
            OpenApiParameter("end", OpenApiTypes.DATE, description="Exclusive; default tomorrow."),
        ],
        responses=s.ScorecardRollupSerializer,
        operation_id="scorecards_list",
    )
    def get(self, request: Request) -> Response:
        start, end = _period(request)
        total, cards = scorecards.scorecards_rollup(start=start, end=end)
        return Response(s.ScorecardRollupSerializer({"total": total, "squads": cards}).data)
