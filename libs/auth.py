"""JWT bearer tokens: who is calling, in which role, for which merchant or store."""

from __future__ import annotations

import time

import jwt
import msgspec

ROLES: tuple[str, ...] = ("buyer", "host", "merchant", "clerk", "operator")
ALGORITHM = "HS256"


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """The authenticated caller."""

    sub: str
    role: str
    merchant_id: str | None = None
    store_id: str | None = None


class TokenError(Exception):
    """The token is missing, malformed, expired, or not ours; the message says which."""


def mint_token(
    *,
    sub: str,
    role: str,
    secret: str,
    merchant_id: str | None = None,
    store_id: str | None = None,
    ttl_s: int = 86400,
    issuer: str = "liveloop",
    audience: str = "liveloop",
) -> str:
    """A signed token for `sub` in `role` (dev tooling and tests)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    if role == "merchant" and not merchant_id:
        raise ValueError("a merchant token needs merchant_id")
    if role == "clerk" and not store_id:
        raise ValueError("a clerk token needs store_id")
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": sub,
        "role": role,
        "iat": now,
        "exp": now + ttl_s,
        "iss": issuer,
        "aud": audience,
    }
    if merchant_id:
        claims["merchant_id"] = merchant_id
    if store_id:
        claims["store_id"] = store_id
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_token(token: str, *, secret: str, issuer: str = "liveloop", audience: str = "liveloop") -> Principal:
    """Verify signature, issuer, audience and expiry; return the caller."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=issuer,
            audience=audience,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError(f"invalid token: {exc}") from exc
    role = claims.get("role")
    if role not in ROLES:
        raise TokenError("invalid token: unknown role")
    # Same rule as mint_token: a merchant or clerk token without its scope would be unscoped.
    if role == "merchant" and not claims.get("merchant_id"):
        raise TokenError("invalid token: merchant token without merchant_id")
    if role == "clerk" and not claims.get("store_id"):
        raise TokenError("invalid token: clerk token without store_id")
    return Principal(
        sub=str(claims["sub"]), role=role, merchant_id=claims.get("merchant_id"), store_id=claims.get("store_id")
    )
