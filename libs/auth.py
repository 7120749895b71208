"""JWT bearer tokens: who is calling, in which role, for which merchant or store."""

from __future__ import annotations

import time
from collections.abc import Callable

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
    return _verify(token, secret=secret, issuer=issuer, audience=audience)[0]


def _verify(token: str, *, secret: str, issuer: str, audience: str) -> tuple[Principal, float]:
    """The caller a token names and the moment it expires, once its signature and claims are checked."""
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
    principal = Principal(
        sub=str(claims["sub"]), role=role, merchant_id=claims.get("merchant_id"), store_id=claims.get("store_id")
    )
    return principal, float(claims["exp"])


class VerifiedTokens:
    """`read_token` for one service's secret, issuer and audience, remembering each token it verified until the token
    expires: a buyer's app sends the same token with every tap, and verifying it (base64, JSON, HMAC, claims) costs
    53 µs, a quarter of an authenticated echo in process before this cache (docs/PERFORMANCE.md).

    Keyed by the whole token, signature included, so only a token this process verified itself is ever answered from
    memory; a hit is checked against its `exp` (PyJWT's rule: expired once now >= exp) and then forgotten, refused as
    "token expired" as `read_token` would. Refused tokens are not remembered. At most `max_size`
    tokens (the oldest verified goes first), about 0.5 KB each: 25 MB at most, room for every viewer of a
    popular room on one instance.
    """

    def __init__(
        self,
        *,
        secret: str,
        issuer: str = "liveloop",
        audience: str = "liveloop",
        max_size: int = 50_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secret = secret
        self.issuer = issuer
        self.audience = audience
        self.max_size = max_size
        self.clock = clock
        self._verified: dict[str, tuple[Principal, float]] = {}

    def read(self, token: str) -> Principal:
        """The caller, or TokenError saying why not (as `read_token`)."""
        known = self._verified.get(token)
        if known is not None:
            if self.clock() < known[1]:
                return known[0]
            del self._verified[token]
            raise TokenError("token expired")
        principal, expires = _verify(token, secret=self.secret, issuer=self.issuer, audience=self.audience)
        if len(self._verified) >= self.max_size:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (principal, expires)
        return principal
