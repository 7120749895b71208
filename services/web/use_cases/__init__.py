"""What a page needs, assembled from the services' APIs (and, for the dev sign-in, the demo ids `make up` wrote).

Shared by every audience's module: which of an API's refusals a page shows in the API's words, and which it leaves to
the app's error page.
"""

from __future__ import annotations

from collections.abc import Collection

from services.web.adapters.apis import ApiRefused
from services.web.views import Refusal


def showable(refused: ApiRefused, statuses: Collection[int]) -> ApiRefused:
    """`refused`, when its status is one of `statuses` the page shows; otherwise raised again (a service that did not
    answer, a 404, a 5xx: the app's error page)."""
    if refused.status not in statuses or refused.unreachable:
        raise refused
    return refused


def refusal(refused: ApiRefused, statuses: Collection[int]) -> Refusal:
    """The refusal as a page shows it (the API's words and status), or raised again as `showable` says."""
    showable(refused, statuses)
    return Refusal(status=refused.status, detail=refused.detail, code=refused.code)
