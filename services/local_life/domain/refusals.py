"""What local_life refuses, each a kind of `libs.errors` refusal (the kind gives the HTTP status)."""

from __future__ import annotations

from libs.errors import BadRequest, Conflict, Forbidden, Invalid, NotFound


class StoreNotFound(NotFound):
    code = "store-not-found"

    def __init__(self, detail: str = "no such store") -> None:
        super().__init__(detail)


class ClerkNotFound(NotFound):
    code = "clerk-not-found"

    def __init__(self, detail: str = "no such clerk at this store") -> None:
        super().__init__(detail)


class DealNotFound(NotFound):
    code = "deal-not-found"

    def __init__(self, detail: str = "no such deal") -> None:
        super().__init__(detail)


class DealNotDraft(Conflict):
    """A published deal's price and terms do not change (a new deal does); an ended one neither."""

    code = "deal-not-draft"

    def __init__(self, status: str) -> None:
        super().__init__(f"the deal is {status}; only a draft changes", deal_status=status)


class DealEnded(Conflict):
    code = "deal-ended"

    def __init__(self) -> None:
        super().__init__("the deal has ended; publish a new one", deal_status="ended")


class DealHasNoStore(Invalid):
    code = "deal-has-no-store"

    def __init__(self) -> None:
        super().__init__("the deal is sold for no open store of the merchant's", field="store_ids")


class UnknownStore(Invalid):
    code = "unknown-store"

    def __init__(self, index: int) -> None:
        super().__init__("no such store of this merchant's", field=f"store_ids[{index}]")


class DuplicateStore(Invalid):
    code = "duplicate-store"

    def __init__(self, index: int) -> None:
        super().__init__("this store is named twice", field=f"store_ids[{index}]")


class InvalidTerms(Invalid):
    """A deal's or a store's values that do not make sense together; the code names the rule, the field its place."""

    code = "invalid-terms"

    def __init__(self, detail: str, *, field: str, code: str) -> None:
        super().__init__(detail, field=field, code=code)


class ValidityOver(Invalid):
    code = "validity-over"

    def __init__(self) -> None:
        super().__init__("the deal's validity ended before it could be sold", field="valid_until")


class NotAClerkHere(Forbidden):
    code = "not-a-clerk-here"

    def __init__(self, detail: str = "this token is not of an active clerk of its store") -> None:
        super().__init__(detail)


class InvalidCursor(BadRequest):
    code = "invalid-cursor"

    def __init__(self, detail: str = "this cursor is not one this list gave out (or belongs to another query)") -> None:
        super().__init__(detail, field="cursor")


class Settled(Conflict):
    """A redemption paid out to the merchant in a settlement is not undone (checked before the undo window)."""

    code = "settled"

    def __init__(self, settlement_id: str) -> None:
        super().__init__("this redemption was settled with the merchant", settlement_id=settlement_id)


class NothingToSettle(Conflict):
    code = "nothing-to-settle"

    def __init__(self) -> None:
        super().__init__("no redemption is due: none past the undo window and not settled yet")


class InvalidReportRange(Invalid):
    code = "invalid-range"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="to")
