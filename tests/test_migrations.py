"""The models and their migrations agree: nothing is left for makemigrations to write."""

from __future__ import annotations

import pytest
from django.core.management import call_command


def test_every_model_change_has_its_migration(db: None) -> None:
    try:
        call_command("makemigrations", "--check", "--dry-run", verbosity=0)
    except SystemExit as exit_:
        pytest.fail(f"models have changes without migrations (makemigrations exited {exit_.code})")
