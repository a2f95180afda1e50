"""Browser fixtures shared by every browser test file (registered by tests.plugin): one
Chromium per session, a tab whose `check` screenshots the page and runs axe-core on it, signing
in, and a committed tenant with a small realistic history.

Registered once as a plugin, so test files in tests/test_browser*.py share one browser: two
sessions of Playwright's sync API in one thread refuse to run.
"""

from __future__ import annotations

import io
import os
import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from django_tenants.utils import schema_context

from apps.accounts.seed import seed_demo
from fullfield.tenancy.models import Tenant
from tests.fixtures import PASSWORD, PROJECT_ROOT

CHROMIUM = (
    os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
)
AXE = PROJECT_ROOT / "tests" / "vendor" / "axe-4.14.1.min.js"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
BLOCKING_IMPACTS = ("serious", "critical")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
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
        yield chromium
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
