"""Reads of scores for other apps (squads' priorities, pages)."""

from __future__ import annotations

from collections.abc import Collection


def account_churn_probabilities(*, account_ids: Collection[int]) -> dict[int, float]:
    """Each scored account's current churn probability (0..1); unscored accounts are absent.

    No account is scored until the scoring service exists, so every account is absent.
    """
    return {}
