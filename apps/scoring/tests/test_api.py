from __future__ import annotations

from typing import Any

import pytest

from apps.accounts.tests.factories import AccountFactory
from apps.scoring.calibration_runs import calibration_run_work
from apps.scoring.models import HealthProfileVersion
from apps.scoring.services import health_profile_default_ensure, health_recompute
from apps.scoring.tests.helpers import active_days_component, points, usage, use_components
from tests.fixtures import TenantClient

pytestmark = pytest.mark.usefixtures("tenant_a")

PROFILES = "/api/v1/health-profiles/"


def health_url(account_id: int, suffix: str = "") -> str:
    return f"/api/v1/accounts/{account_id}/health/{suffix}"


def errors_of(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 400, response.content
    fields: dict[str, list[str]] = response.json()["error"]["fields"]
    return fields


def test_a_new_tenant_lists_a_default_profile(alice_client: TenantClient) -> None:
    response = alice_client.get(PROFILES)

    assert response.status_code == 200
    (profile,) = response.json()["results"]
    assert (profile["name"], profile["segment"], profile["version"]) == ("Default health", "", 1)
    assert {c["metric"] for c in profile["components"]} >= {"active_days", "support_load"}


def test_an_admin_creates_a_segment_profile(alice_client: TenantClient) -> None:
    body = {"name": "Enterprise", "segment": "enterprise", "components": [active_days_component()]}

    response = alice_client.post(PROFILES, body, format="json")

    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["segment"], created["version"]) == ("enterprise", 1)
    assert created["components"][0]["key"] == "active_days"
    assert created["components"][0]["window_days"] == 30


def test_a_profile_with_bad_components_is_refused_naming_each_problem(
    alice_client: TenantClient,
) -> None:
    components = [
        {"metric": "logins", "weight": 1, "mapping": points((0, 0), (1, 100))},
        {"metric": "active_days", "weight": -2, "mapping": points((0, 0), (1, 100))},
        {"metric": "breadth", "weight": 1, "mapping": points((5, 0), (1, 100))},
        {"metric": "support_load", "weight": 1, "window_days": 7, "mapping": {"kind": "guess"}},
    ]

    errors = errors_of(
        alice_client.post(PROFILES, {"name": "Bad", "components": components}, format="json")
    )

    assert set(errors) == {
        "components[0].metric",
        "components[1].weight",
        "components[2].mapping.points",
        "components[3].window_days",
        "components[3].mapping.kind",
    }
    assert errors["components[2].mapping.points"] == [
        "Thresholds must be in increasing order of raw value."
    ]


def test_a_second_profile_for_the_same_scope_is_refused(alice_client: TenantClient) -> None:
    health_profile_default_ensure()
    body = {"name": "Another default", "components": [active_days_component()]}

    response = alice_client.post(PROFILES, body, format="json")

    assert "segment" in errors_of(response)


def test_changing_a_profile_makes_a_new_version(alice_client: TenantClient) -> None:
    profile = health_profile_default_ensure()

    response = alice_client.patch(
        f"{PROFILES}{profile.pk}/", {"components": [active_days_component()]}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2
    versions = HealthProfileVersion.objects.filter(profile=profile).order_by("version")
    assert [(v.version, len(v.components)) for v in versions] == [(1, 10), (2, 1)]


def test_a_member_reads_profiles_but_cannot_change_them(bob_client: TenantClient) -> None:
    profile = health_profile_default_ensure()

    assert bob_client.get(f"{PROFILES}{profile.pk}/").status_code == 200
    response = bob_client.patch(f"{PROFILES}{profile.pk}/", {"name": "Mine"}, format="json")
    assert response.status_code == 403


def test_the_explanation_names_the_components_that_moved(alice_client: TenantClient) -> None:
    use_components(
        active_days_component(weight=80),
        {"metric": "support_load", "weight": 20, "mapping": points((0, 100), (10, 0))},
    )
    account = AccountFactory.create()
    for day in range(5):
        usage(account, day + 3)
    health_recompute()  # 5 active days: 50 x 0.8 + 100 x 0.2 = 60
    usage(account, 0)
    usage(account, 1)
    health_recompute()  # 7 active days: 56 + 20 = 76

    body = alice_client.get(health_url(account.pk)).json()

    assert (body["score"], body["band"], body["change"]) == (76.0, "good", 16.0)
    assert body["reason"] == "+16: active days up 40%"
    active = body["components"][0]
    assert (active["raw_value"], active["score"], active["effective_weight"]) == (7, 70, 80)
    assert (active["contribution"], active["previous_raw_value"]) == (56.0, 5.0)
    assert body["best_improvement"]["key"] == "active_days"
    assert body["best_improvement"]["potential_gain"] == 24.0


def test_the_explanation_says_which_inputs_are_missing(alice_client: TenantClient) -> None:
    use_components(
        active_days_component(),
        {"metric": "sentiment", "weight": 1, "mapping": points((0, 0), (100, 100))},
    )
    account = AccountFactory.create()
    usage(account, 0)
    health_recompute()

    body = alice_client.get(health_url(account.pk)).json()

    assert body["missing"] == ["sentiment"]
    assert body["reason"] == "First score."


def test_an_unscored_account_has_no_health_yet(alice_client: TenantClient) -> None:
    account = AccountFactory.create()

    response = alice_client.get(health_url(account.pk))

    assert response.status_code == 404
    assert response.json()["error"]["message"] == f"Account {account.pk} has no health score yet."


def test_the_history_lists_daily_and_band_change_snapshots_newest_first(
    alice_client: TenantClient,
) -> None:
    use_components(active_days_component())
    account = AccountFactory.create()
    usage(account, 0)
    health_recompute()

    body = alice_client.get(health_url(account.pk, "history/")).json()

    # Both rows carry the same moment: the first score is a band change and the day's score.
    assert sorted((row["score"], row["band_change"]) for row in body["results"]) == [
        (10.0, False),
        (10.0, True),
    ]


def test_the_account_list_filters_and_sorts_by_health(alice_client: TenantClient) -> None:
    use_components(active_days_component())
    poor, good, unscored = AccountFactory.create_batch(3)
    usage(poor, 0)
    for day in range(9):
        usage(good, day)
    health_recompute(account_ids=[poor.pk, good.pk])

    listed = alice_client.get("/api/v1/accounts/?ordering=-health_score").json()["results"]
    poor_only = alice_client.get("/api/v1/accounts/?health_band=poor").json()["results"]
    detail = alice_client.get(f"/api/v1/accounts/{good.pk}/360/").json()["account"]

    assert [row["id"] for row in listed] == [good.pk, poor.pk, unscored.pk]
    assert [row["id"] for row in poor_only] == [poor.pk]
    assert (detail["health_score"], detail["health_band"]) == (90.0, "good")
    assert detail["health_as_of"] is not None


def test_another_tenant_sees_none_of_it(
    alice_client: TenantClient, charlie_client: TenantClient
) -> None:
    use_components(active_days_component())
    account = AccountFactory.create()
    usage(account, 0)
    health_recompute()
    profile = health_profile_default_ensure()

    for url in (health_url(account.pk), health_url(account.pk, "history/")):
        assert alice_client.get(url).status_code == 200
        assert charlie_client.get(url).status_code == 404
    assert charlie_client.get(f"{PROFILES}{profile.pk + 1000}/").status_code == 404
    patched = charlie_client.patch(f"{PROFILES}{profile.pk + 1000}/", {"name": "x"}, format="json")
    assert patched.status_code == 404


def test_a_calibration_runs_in_the_background_and_without_history_explains_what_is_missing(
    alice_client: TenantClient, charlie_client: TenantClient
) -> None:
    response = alice_client.post("/api/v1/health-calibrations/", {}, format="json")

    assert response.status_code == 202, response.content
    queued = response.json()
    assert (queued["status"], queued["calibration"]) == ("queued", None)
    run_url = f"/api/v1/health-calibration-runs/{queued['id']}/"
    assert response["Location"] == run_url
    calibration_run_work(run_id=queued["id"])  # the task's body (a real worker: test_tasks_worker)
    finished = alice_client.get(run_url).json()
    assert finished["status"] == "finished"
    body = finished["calibration"]
    assert body["status"] == "insufficient_history"
    assert "0 accounts churned within 30 days" in body["message"]
    assert charlie_client.get(run_url).status_code == 404
    url = f"/api/v1/health-calibrations/{body['id']}/"
    assert alice_client.get(url).status_code == 200
    assert charlie_client.get(url).status_code == 404
    assert charlie_client.post(f"{url}accept/").status_code == 404
    refused = alice_client.post(f"{url}accept/")
    assert refused.status_code == 409
    assert "insufficient_history" in refused.json()["error"]["message"]


def test_a_calibration_horizon_out_of_range_is_refused(alice_client: TenantClient) -> None:
    url = "/api/v1/health-calibrations/"

    too_short = alice_client.post(url, {"horizon_days": 0}, format="json")
    unknown = alice_client.post(url, {"horizon": 30}, format="json")

    assert set(errors_of(too_short)) == {"horizon_days"}
    assert errors_of(unknown) == {"horizon": ["Unknown field."]}
