"""What the funnel's consumers announce after a commit, and the staff feeds listen for (core NATS, not a stream)."""

from __future__ import annotations

import msgspec

# Core NATS subject (namespaced with `Bus.subject`): every live instance's staff feeds listen on it.
CHANGED_SUBJECT = "live.funnel.changed"


class FunnelChanged(msgspec.Struct, frozen=True, kw_only=True):
    """The scopes whose figures changed in one committed batch (each id once)."""

    rooms: tuple[str, ...] = ()
    sessions: tuple[str, ...] = ()
    videos: tuple[str, ...] = ()
    sales: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    merchants: tuple[str, ...] = ()
