"""End to end in a real Chromium: a person signs in on their tenant and finds the API docs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from fullfield.tenancy.models import Tenant
from tests.fixtures import PASSWORD

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (make test installs Debian's chromium as root)")
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


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


def test_a_person_signs_in_on_their_tenant_and_reaches_the_dashboard(
    page: Any, committed_tenant: Tenant, tenant_server: str
) -> None:
    page.goto(f"{tenant_server}/")
    assert "/login/" in page.url
    assert page.get_by_role("heading").first.inner_text() == f"Sign in to {committed_tenant.name}"
    # The platform's stylesheet is served and applied (background of the page).
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(246, 248, 250)"
    page.get_by_label("Email").fill(f"admin@{committed_tenant.slug}.test")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    assert "didn't match" in page.get_by_role("alert").inner_text()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{tenant_server}/")
    assert committed_tenant.name in page.locator("h1").inner_text()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login/")


def test_the_api_docs_render_without_any_cdn(
    page: Any, committed_tenant: Tenant, tenant_server: str
) -> None:
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
