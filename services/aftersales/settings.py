"""What aftersales reads from the environment: the platform's settings, nothing of its own yet."""

from __future__ import annotations

from libs.settings import Settings


class AftersalesSettings(Settings, kw_only=True):
    """aftersales's settings: a class of its own, so a setting it needs later has an obvious home."""
