"""What local_life reads from the environment: the platform's settings, nothing of its own yet."""

from __future__ import annotations

from libs.settings import Settings


class LocalLifeSettings(Settings, kw_only=True):
    """local_life's settings: a class of its own, so a setting it needs later has an obvious home."""
