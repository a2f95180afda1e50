"""End to end in a real Chromium, as a revenue-team member uses Fullfield.

Every page a test visits is checked with axe-core (vendored in tests/vendor, injected by
Playwright): no serious or critical accessibility violation. Every test saves full-page
screenshots under test-artifacts/ (git-ignored). A missing Chromium fails the run: `make test`
installs Debian's as root; elsewhere install `chromium` with your system's package manager.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django_tenants.utils import schema_context

from apps.accounts.models import Account, Subscription
from apps.accounts.seed import seed_demo
from apps.scoring.demo import seed_scores
from fullfield.celery_app import app as celery_app
from fullfield.tenancy.context import use_public_schema
from fullfield.tenancy.models import Tenant
from fullfield.tenancy.services import tenant_delete
from fullfield.users.models import User
from fullfield.web.public import SignUpThrottle
from tests.fixtures import PASSWORD, PROJECT_ROOT, WorkerProcess

pytestmark = pytest.mark.browser

CHROMIUM = (
    os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
)
AXE = PROJECT_ROOT / "tests" / "vendor" / "axe-4.14.1.min.js"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
BLOCKING_IMPACTS = ("serious", "critical")


# Other browser test modules import these fixtures, and pytest then holds one session fixture
# per importing module; Playwright's sync API allows one instance per thread, so every copy
# hands out the Chromium of the first.
_running: list[Any] = []


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if _running:
        yield _running[0]
        return
    if CHROMIUM is None:
        pytest.fail(
            "Chromium is not installed: browser tests need it. `make test` installs Debian's "
            "`chromium` when run as root; elsewhere install it with your package manager "
            "(or point CHROMIUM at the binary)."
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; the ORM calls made by the
    # fixtures around it are still plain synchronous calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        _running.append(chromium)
        try:
            yield chromium
        finally:
            _running.clear()
            chromium.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


class Visit:
    """One test's browser tab: checks each page with axe and keeps its screenshot."""

    def __init__(self, page: Any, name: str) -> None:
        self.page = page
        self.name = name
        self.shots = 0

    def check(self, label: str) -> None:
        """Screenshot the page as it is now, then fail on serious accessibility violations."""
        self.page.wait_for_load_state("load")
        self.shots += 1
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{self.shots:02}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            self.page.add_script_tag(path=str(AXE))
        result = self.page.evaluate(
            "async () => await axe.run(document, {resultTypes: ['violations']})"
        )
        blocking = [
            f"{violation['id']} ({violation['impact']}): {violation['help']} at "
            + ", ".join(node["target"][0] for node in violation["nodes"][:3])
            for violation in result["violations"]
            if violation["impact"] in BLOCKING_IMPACTS
        ]
        assert blocking == [], f"{label} at {self.page.url}: {blocking}"


@pytest.fixture
def visit(browser: Any, request: pytest.FixtureRequest) -> Iterator[Visit]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:80]
    yield Visit(page, name)
    context.close()


def sign_in(visit: Visit, base_url: str, tenant: Tenant) -> None:
    page = visit.page
    page.goto(f"{base_url}/login/")
    page.get_by_label("Email").fill(f"admin@{tenant.slug}.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/")


@pytest.fixture
def seeded_tenant(committed_tenant: Tenant, django_db_blocker: Any) -> Tenant:
    """The committed tenant with a small realistic history (40 accounts over 6 months)."""
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        seed_demo(stdout=io.StringIO(), accounts=40, months=6, seed=7)
    return committed_tenant


def test_a_person_signs_in_on_their_tenant_and_reaches_the_dashboard(
    visit: Visit, committed_tenant: Tenant, tenant_server: str
) -> None:
    page = visit.page
    page.goto(f"{tenant_server}/")
    assert "/login/" in page.url
    assert page.get_by_role("heading").first.inner_text() == f"Sign in to {committed_tenant.name}"
    # The platform's stylesheet is served and applied (background of the page).
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(246, 248, 250)"
    visit.check("sign-in")
    page.get_by_label("Email").fill(f"admin@{committed_tenant.slug}.test")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    assert "didn't match" in page.get_by_role("alert").inner_text()
    visit.check("sign-in-refused")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{tenant_server}/")
    assert committed_tenant.name in page.locator("h1").inner_text()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login/")


def test_a_visitor_signs_up_and_signs_in_to_their_new_tenant(
    visit: Visit, tenant_server: str, django_db_blocker: Any
) -> None:
    page = visit.page
    port = tenant_server.rsplit(":", 1)[1]
    slug = f"s{uuid.uuid4().hex[:8]}"
    # The browser signs up from 127.0.0.1: earlier runs within the hour count against it.
    with django_db_blocker.unblock():
        use_public_schema()
        throttle = SignUpThrottle()
        cache.delete(throttle.cache_format % {"scope": throttle.scope, "ident": "127.0.0.1"})
    page.goto(f"http://localhost:{port}/")
    visit.check("product")
    page.get_by_role("link", name="Start your company's space").click()
    page.wait_for_url("**/signup/")
    page.get_by_label("Company name").fill("Signed Up Co")
    page.get_by_label("Your address").fill("Not a slug!")
    page.get_by_label("Your work email").fill(f"founder@{slug}.test")
    page.get_by_label("Choose a password").fill(PASSWORD)
    page.get_by_role("button", name="Create my space").click()
    assert "Please correct" in page.get_by_role("alert").inner_text()
    visit.check("signup-refused")
    page.get_by_label("Your address").fill(slug)
    page.get_by_label("Choose a password").fill(PASSWORD)
    try:
        page.get_by_role("button", name="Create my space").click()
        page.wait_for_url(f"http://{slug}.localhost:{port}/login/**")
        assert page.get_by_label("Email").input_value() == f"founder@{slug}.test"
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"http://{slug}.localhost:{port}/")
        assert page.get_by_test_id("tenant-name").inner_text() == "Signed Up Co"
        visit.check("first-dashboard")
    finally:
        with django_db_blocker.unblock():
            use_public_schema()
            if Tenant.objects.filter(slug=slug).exists():
                tenant_delete(slug=slug)


def test_the_dashboard_shows_revenue_renewals_equity_and_health(
    visit: Visit, seeded_tenant: Tenant, tenant_server: str, django_db_blocker: Any
) -> None:
    with django_db_blocker.unblock(), schema_context(seeded_tenant.schema_name):
        seed_scores(stdout=io.StringIO())
        poor = Account.objects.filter(health_band="poor").count()
        worst = Account.objects.filter(health_score__isnull=False).order_by("health_score").first()
        assert worst is not None and worst.health_band == "poor"
    sign_in(visit, tenant_server, seeded_tenant)
    page = visit.page
    assert page.get_by_test_id("kpi-nrr").inner_text().endswith("%")
    assert re.fullmatch(r"[\d,]+", page.get_by_test_id("kpi-mrr").inner_text())
    assert re.fullmatch(r"[\d,—]+", page.get_by_test_id("kpi-equity").inner_text())
    assert page.get_by_test_id("kpi-poor").inner_text() == str(poor)
    assert page.get_by_test_id("scores-as-of").inner_text().endswith("UTC")
    # MRR movements, MRR trend and the health distribution's trend at least.
    assert page.locator("svg.chart").count() >= 3
    assert page.get_by_role(
        "img", name=re.compile("Accounts in the poor, average and good")
    ).count()
    page.get_by_text("The numbers").click()
    assert page.locator("details table tbody tr").count() == 12
    visit.check("dashboard")


def test_a_person_finds_an_account_and_reads_its_360(
    visit: Visit, seeded_tenant: Tenant, tenant_server: str, django_db_blocker: Any
) -> None:
    with django_db_blocker.unblock(), schema_context(seeded_tenant.schema_name):
        seed_scores(stdout=io.StringIO())
        # The account a CSM would open first: renewing, in the poorest health.
        account = (
            Account.objects.filter(
                subscriptions__status__in=Subscription.IN_FORCE_STATUSES,
                health_score__isnull=False,
            )
            .order_by("health_score", "id")
            .first()
        )
        assert account is not None
        total = Account.objects.count()
        poor = Account.objects.filter(health_band="poor").count()
        worst = Account.objects.filter(health_score__isnull=False).order_by("health_score").first()
        assert worst is not None and worst.health_band == "poor"
    sign_in(visit, tenant_server, seeded_tenant)
    page = visit.page
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Accounts").click()
    page.wait_for_url("**/accounts/")
    assert page.get_by_test_id("account-total").inner_text() == str(total)
    visit.check("accounts")
    # The accounts in poor health, worst first: the band filter and the health sort together.
    page.get_by_label("Health", exact=True).select_option("poor")
    page.wait_for_url(re.compile(r".*band=poor.*"))
    page.get_by_role("link", name=re.compile("^Health")).click()
    page.wait_for_url(re.compile(r".*sort=score.*"))
    assert page.get_by_test_id("account-total").inner_text() == str(poor)
    first_row = page.locator("#results tbody tr").first
    assert (
        first_row.get_by_test_id("health-cell")
        .inner_text()
        .startswith(f"{worst.health_score:.0f} · Poor")
    )
    visit.check("accounts-poor-by-health")
    page.get_by_label("Health", exact=True).select_option("")
    page.wait_for_url(re.compile(r"^(?!.*band=poor).*$"))
    # "/" jumps to the search box; typing filters in place (htmx swaps the results, the
    # address follows).
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type(account.name)
    page.wait_for_url(re.compile(r".*q=[^&]+.*"))
    page.get_by_role("link", name=account.name, exact=True).wait_for()
    assert int(page.get_by_test_id("account-total").inner_text()) < total
    visit.check("accounts-searched")
    page.get_by_role("link", name=account.name, exact=True).click()
    page.wait_for_url(f"**/accounts/{account.pk}/")
    assert page.locator("h1").inner_text() == account.name
    for heading in ("Front of field", "Back of field", "Product usage", "Timeline"):
        assert page.get_by_role("heading", name=heading).is_visible()
    assert page.locator("ol.timeline li").count() > 0
    # The health explanation: the score and band with their time, why it last changed, what
    # would raise it most, a bar per component and the trend line.
    health = page.get_by_test_id("health")
    assert page.get_by_role("heading", name="Health", exact=True).is_visible()
    assert page.get_by_test_id("health-score").inner_text() == f"{account.health_score:.0f}"
    assert page.get_by_test_id("health-band").inner_text().lower() == account.health_band
    assert page.get_by_test_id("health-as-of").inner_text().endswith("UTC")
    assert page.get_by_test_id("health-reason").inner_text().strip()
    assert "from" in page.get_by_test_id("health-trend-summary").inner_text()
    assert "Raising" in page.get_by_test_id("health-improvement").inner_text()
    assert page.get_by_test_id("health-component").count() >= 3
    assert health.locator("svg.score-bar").count() >= 3
    assert health.get_by_role("img", name=re.compile("Health score over the last")).is_visible()
    # Six months of demo history may be too little to calibrate a churn probability.
    assert re.fullmatch(
        r"[\d.]+% in the next 30 days|not estimated yet",
        page.get_by_test_id("churn-probability").inner_text(),
    )
    assert page.get_by_role("heading", name="Value").is_visible()
    assert re.fullmatch(r"[\d,—]+", page.get_by_test_id("account-clv").inner_text())
    visit.check("account-360")


def test_sorting_the_accounts_list_by_mrr_keeps_the_page_and_updates_the_address(
    visit: Visit, seeded_tenant: Tenant, tenant_server: str
) -> None:
    sign_in(visit, tenant_server, seeded_tenant)
    page = visit.page
    page.goto(f"{tenant_server}/accounts/")
    page.evaluate("window.__marker = 'same page'")
    page.get_by_role("link", name="MRR").click()
    page.wait_for_url("**sort=mrr**")
    page.get_by_role("link", name="MRR ↑").click()
    page.wait_for_url("**sort=-mrr**")
    # htmx swapped the table: no reload happened.
    assert page.evaluate("window.__marker") == "same page"
    cells = page.get_by_test_id("mrr-cell").all_inner_texts()
    values = [int(cell.replace(",", "")) for cell in cells]
    assert values == sorted(values, reverse=True) and values[0] > 0
    visit.check("accounts-by-mrr")
    # Filtering afterwards keeps the chosen order.
    page.get_by_label("Lifecycle stage").select_option("adopting")
    page.wait_for_url("**stage=adopting**")
    assert "sort=-mrr" in page.url
    assert page.evaluate("window.__marker") == "same page"


def test_the_api_docs_render_without_any_cdn(
    visit: Visit, committed_tenant: Tenant, tenant_server: str
) -> None:
    page = visit.page
    outside: list[str] = []
    page.on(
        "request",
        lambda request: (
            outside.append(request.url)
            if not request.url.startswith(f"http://{committed_tenant.slug}.localhost")
            else None
        ),
    )
    page.goto(f"{tenant_server}/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
    assert page.locator(".swagger-ui .title").first.inner_text().startswith("Fullfield API")
    assert outside == []


def test_password_reset_sends_a_link_that_sets_a_new_password(
    visit: Visit, committed_tenant: Tenant, tenant_server: str, django_db_blocker: Any
) -> None:
    page = visit.page
    page.goto(f"{tenant_server}/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    visit.check("password-reset")
    page.get_by_label("Email").fill(f"admin@{committed_tenant.slug}.test")
    page.get_by_role("button", name="Send the link").click()
    page.get_by_role("heading", name="Check your email").wait_for()
    visit.check("password-reset-sent")
    # The console backend printed the mail in the server; build the same link here.
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        user = User.objects.get(email=f"admin@{committed_tenant.slug}.test")
        link = (
            f"{tenant_server}/password-reset/{urlsafe_base64_encode(force_bytes(user.pk))}/"
            f"{default_token_generator.make_token(user)}/"
        )
    page.goto(link)
    page.get_by_label("New password", exact=True).fill("a brand new passphrase")
    page.get_by_label("New password confirmation").fill("a brand new passphrase")
    visit.check("password-new")
    page.get_by_role("button", name="Save the password").click()
    page.get_by_role("heading", name="Your password is changed").wait_for()
    page.get_by_role("link", name="Sign in").last.click()
    page.get_by_label("Email").fill(f"admin@{committed_tenant.slug}.test")
    page.get_by_label("Password").fill("a brand new passphrase")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{tenant_server}/")


def api_status(visit: Visit, url: str, key: str) -> int:
    """The status of an API call made from the page with the key alone (no session cookie)."""
    return int(
        visit.page.evaluate(
            """async ([url, key]) => (await fetch(url, {
                headers: {Authorization: "Api-Key " + key}, credentials: "omit"})).status""",
            [url, key],
        )
    )


def test_an_admin_creates_an_api_key_sees_it_once_and_revokes_it(
    visit: Visit, committed_tenant: Tenant, tenant_server: str
) -> None:
    sign_in(visit, tenant_server, committed_tenant)
    page = visit.page
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Integrations").click()
    page.get_by_role("navigation", name="Integrations").get_by_role("link", name="API keys").click()
    page.wait_for_url("**/integrations/api-keys/")
    visit.check("api-keys")
    page.get_by_label("Name").fill("CRM sync")
    page.get_by_label("Access").select_option("read_write")
    page.get_by_role("button", name="Create the key").click()
    key = page.get_by_test_id("new-api-key").inner_text().strip()
    assert len(key) > 30
    visit.check("api-key-created")
    # The key works against the API, as an integrator would use it.
    assert api_status(visit, f"{tenant_server}/api/v1/me/", key) == 200
    # Shown once: the list never shows it again.
    page.goto(f"{tenant_server}/integrations/api-keys/")
    assert key not in page.content()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke CRM sync").click()
    page.get_by_text("revoked").wait_for()
    visit.check("api-key-revoked")
    assert api_status(visit, f"{tenant_server}/api/v1/me/", key) == 401


def test_a_csv_import_maps_columns_shows_progress_to_completion_and_hands_out_rejected_rows(
    visit: Visit,
    committed_tenant: Tenant,
    tenant_server: str,
    celery_worker_process: WorkerProcess,
    monkeypatch: pytest.MonkeyPatch,
    django_db_blocker: Any,
) -> None:
    # The web server sends its tasks to this test's real worker.
    monkeypatch.setitem(celery_app.conf, "task_default_queue", celery_worker_process.queue)
    rows = ["Account ID,Company,Segment"]
    rows += [f"crm-{index},Imported {index},smb" for index in range(1, 301)]
    rows += ["crm-bad,,smb"]  # a new account without a name is refused
    sign_in(visit, tenant_server, committed_tenant)
    page = visit.page
    page.goto(f"{tenant_server}/integrations/imports/")
    visit.check("imports")
    page.get_by_label("CSV file", exact=True).set_input_files(
        files=[
            {
                "name": "crm-accounts.csv",
                "mimeType": "text/csv",
                "buffer": ("\n".join(rows) + "\n").encode(),
            }
        ]
    )
    page.get_by_label("The rows are").select_option("accounts")
    page.get_by_label("external_id (required)").select_option("Account ID")
    page.get_by_label("name", exact=True).select_option("Company")
    assert page.get_by_label("segment", exact=True).input_value() == "Segment"  # matched by name
    visit.check("import-mapping")
    page.get_by_role("button", name="Start the import").click()
    page.wait_for_url(re.compile(r".*/integrations/imports/\d+/$"))
    assert page.get_by_role("progressbar").is_visible()
    # htmx polls the progress until the worker finishes.
    page.get_by_test_id("import-accepted").wait_for(timeout=60_000)
    assert page.get_by_role("progressbar").get_attribute("aria-valuenow") == "100"
    assert page.get_by_test_id("import-accepted").inner_text() == "300"
    assert page.get_by_test_id("import-rejected").inner_text() == "1"
    visit.check("import-finished")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the rejected rows (CSV)").click()
    rejected = Path(download_info.value.path()).read_text(encoding="utf-8-sig")
    assert rejected.splitlines()[0].startswith("row,column,message")
    assert "crm-bad" in rejected
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        assert Account.objects.filter(external_id__startswith="crm-").count() == 300
        assert Account.objects.get(external_id="crm-7").name == "Imported 7"


def test_every_integration_page_and_the_job_log_pass_the_accessibility_check(
    visit: Visit, committed_tenant: Tenant, tenant_server: str
) -> None:
    sign_in(visit, tenant_server, committed_tenant)
    page = visit.page
    for path, label in (
        ("/integrations/jobs/", "jobs"),
        ("/integrations/stripe/", "stripe"),
        ("/integrations/webhooks/", "webhooks"),
    ):
        page.goto(f"{tenant_server}{path}")
        visit.check(label)
    page.get_by_label("Endpoint URL").fill("https://93.184.215.14/fullfield")
    page.get_by_label(re.compile(r"import\.finished")).check()
    page.get_by_role("button", name="Add the endpoint").click()
    page.get_by_role("heading", name="Endpoint added: its signing secret").wait_for()
    page.get_by_role("link", name="https://93.184.215.14/fullfield").click()
    page.get_by_role("heading", name="Delivery log").wait_for()
    visit.check("webhook-endpoint")


def test_a_platform_operator_signs_in_on_the_bare_domain_and_sees_every_tenant(
    visit: Visit, committed_tenant: Tenant, tenant_server: str, django_db_blocker: Any
) -> None:
    port = tenant_server.rsplit(":", 1)[1]
    email = f"ops-{uuid.uuid4().hex[:6]}@fullfield.test"
    with django_db_blocker.unblock():
        use_public_schema()
        operator = User.objects.create_user(email, PASSWORD, is_staff=True)
    try:
        page = visit.page
        page.goto(f"http://localhost:{port}/operator/")
        page.wait_for_url("**/operator/login/**")
        assert page.locator("h1").inner_text() == "Sign in to the Fullfield platform"
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"http://localhost:{port}/operator/")
        row = page.get_by_role("row").filter(has_text=committed_tenant.name)
        assert f"{committed_tenant.slug}.localhost" in row.inner_text()
        visit.check("operator-console")
    finally:
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            use_public_schema()
            # Not operator.delete(): its collector would visit tenant-only tables (account
            # owners) that the public schema does not have.
            cursor.execute("DELETE FROM users_user WHERE id = %s", [operator.pk])
