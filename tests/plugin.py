"""Loads the shared fixtures (tests.fixtures, tests.browser) once pytest-django set Django up."""

from __future__ import annotations

import importlib

import pytest


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(importlib.import_module("tests.fixtures"), "fullfield-fixtures")
    config.pluginmanager.register(importlib.import_module("tests.browser"), "fullfield-browser")
