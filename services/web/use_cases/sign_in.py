"""Who may sign in and with which token: the dev demo users, or a token from the platform's identity provider."""

from __future__ import annotations

import json
from pathlib import Path

from libs.auth import Principal, TokenError, mint_token, read_token
from services.web.domain import DEMO_USERS
from services.web.settings import WebSettings
from services.web.views import DemoUser, SignedIn

# The demo ids a role's token must carry (devstack/seed.py `demo_tokens`): none, or the merchant's, or also the store.
_SCOPE = {"merchant": ("merchant_id",), "host": ("merchant_id",), "clerk": ("merchant_id", "store_id")}


def demo_ids(settings: WebSettings) -> dict[str, str]:
    """The demo merchant's and store's ids from the file `make up` writes when it seeds; none before it has."""
    if not settings.demo_file:
        return {}
    try:
        raw = json.loads(Path(settings.demo_file).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {key: str(raw[key]) for key in ("merchant_id", "store_id") if raw.get(key)}


def demo_users(settings: WebSettings) -> list[DemoUser]:
    """Each role's demo user, `available` when the ids its token needs are known."""
    ids = demo_ids(settings)
    return [
        DemoUser(role=role, sub=sub, available=all(ids.get(key) for key in _SCOPE.get(role, ())))
        for role, sub in DEMO_USERS.items()
    ]


def sign_in_demo(settings: WebSettings, role: str) -> SignedIn | None:
    """A fresh dev token for the demo user of `role`, or None if there is no such user (yet)."""
    user = next((u for u in demo_users(settings) if u.role == role and u.available), None)
    if user is None:
        return None
    ids = demo_ids(settings)
    scope = {key: ids[key] for key in _SCOPE.get(role, ())}
    token = mint_token(
        sub=user.sub,
        role=role,
        secret=settings.jwt_secret,
        ttl_s=settings.session_max_age_s,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        **scope,
    )
    return signed_in(settings, token)


def signed_in(settings: WebSettings, token: str) -> SignedIn | None:
    """The user a token names, if it verifies (signature, issuer, audience, expiry); None otherwise."""
    try:
        principal: Principal = read_token(
            token, secret=settings.jwt_secret, issuer=settings.jwt_issuer, audience=settings.jwt_audience
        )
    except TokenError:
        return None
    return SignedIn(
        sub=principal.sub,
        role=principal.role,
        token=token,
        merchant_id=principal.merchant_id,
        store_id=principal.store_id,
    )
