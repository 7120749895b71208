"""Bearer tokens: what a minted token says, and every way a token is refused."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from libs.auth import ALGORITHM, ROLES, Principal, TokenError, VerifiedTokens, mint_token, read_token

SECRET = "unit-test-secret-0123456789abcdef"


def _claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": "u-1",
        "role": "buyer",
        "iat": now,
        "exp": now + 60,
        "iss": "liveloop",
        "aud": "liveloop",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize("role", ROLES)
def test_each_role_round_trips(role: str) -> None:
    extra = {"merchant_id": "m-1"} if role == "merchant" else {"store_id": "s-1"} if role == "clerk" else {}
    token = mint_token(sub="u-1", role=role, secret=SECRET, **extra)
    principal = read_token(token, secret=SECRET)
    assert principal == Principal(sub="u-1", role=role, **extra)


def test_merchant_token_carries_its_merchant_and_clerk_token_its_store() -> None:
    merchant = read_token(mint_token(sub="u-2", role="merchant", merchant_id="m-9", secret=SECRET), secret=SECRET)
    clerk = read_token(mint_token(sub="u-3", role="clerk", store_id="s-9", secret=SECRET), secret=SECRET)
    assert (merchant.merchant_id, merchant.store_id) == ("m-9", None)
    assert (clerk.store_id, clerk.merchant_id) == ("s-9", None)


@pytest.mark.parametrize(
    ("role", "claims", "message"),
    [
        ("merchant", {}, "merchant_id"),
        ("clerk", {}, "store_id"),
        ("clerk", {"merchant_id": "m-1"}, "store_id"),
        ("admin", {}, "role"),
    ],
)
def test_mint_refuses_incomplete_or_unknown_roles(role: str, claims: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mint_token(sub="u-1", role=role, secret=SECRET, **claims)


def test_expired_token_is_refused_as_expired() -> None:
    token = mint_token(sub="u-1", role="buyer", secret=SECRET, ttl_s=-5)
    with pytest.raises(TokenError, match="expired"):
        read_token(token, secret=SECRET)


def test_token_signed_with_another_secret_is_refused() -> None:
    token = mint_token(sub="u-1", role="buyer", secret="someone-elses-secret-0123456789abcdef")
    with pytest.raises(TokenError, match="invalid token"):
        read_token(token, secret=SECRET)


def test_tampered_claims_are_refused() -> None:
    header, payload, signature = mint_token(sub="u-1", role="buyer", secret=SECRET).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "operator"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenError, match="invalid token"):
        read_token(f"{header}.{forged}.{signature}", secret=SECRET)


def test_unsigned_token_is_refused() -> None:
    token = jwt.encode(_claims(role="operator"), key=None, algorithm="none")
    with pytest.raises(TokenError, match="invalid token"):
        read_token(token, secret=SECRET)


@pytest.mark.parametrize(("issuer", "audience"), [("elsewhere", "liveloop"), ("liveloop", "elsewhere")])
def test_wrong_issuer_or_audience_is_refused(issuer: str, audience: str) -> None:
    token = mint_token(sub="u-1", role="buyer", secret=SECRET, issuer=issuer, audience=audience)
    with pytest.raises(TokenError, match="invalid token"):
        read_token(token, secret=SECRET)


@pytest.mark.parametrize("missing", ["sub", "exp", "iss", "aud"])
def test_token_missing_a_required_claim_is_refused(missing: str) -> None:
    token = jwt.encode(_claims(**{missing: None}), SECRET, algorithm=ALGORITHM)
    with pytest.raises(TokenError, match="invalid token"):
        read_token(token, secret=SECRET)


@pytest.mark.parametrize(
    "claims",
    [
        {"role": "admin"},
        {"role": None},
        {"role": "merchant"},
        {"role": "clerk", "merchant_id": "m-1"},
    ],
)
def test_token_with_unknown_role_or_missing_scope_is_refused(claims: dict[str, object]) -> None:
    # Signed with our secret but not something mint_token would issue: a merchant without a
    # merchant_id would see an unscoped back office, so it is refused on the way in too.
    token = jwt.encode(_claims(**claims), SECRET, algorithm=ALGORITHM)
    with pytest.raises(TokenError, match="invalid token"):
        read_token(token, secret=SECRET)


def test_garbage_is_refused() -> None:
    with pytest.raises(TokenError, match="invalid token"):
        read_token("not-a-jwt", secret=SECRET)


def test_production_refuses_the_published_dev_secrets() -> None:
    import pytest

    from libs.settings import DEV_JWT_SECRET, InsecureSettings, Settings, check_secrets
    from services.orders.settings import OrdersSettings

    check_secrets(Settings(service="shop"))  # dev: the defaults are fine
    with pytest.raises(InsecureSettings, match="LIVELOOP_JWT_SECRET"):
        check_secrets(Settings(service="shop", environment="production", jwt_secret=DEV_JWT_SECRET))
    with pytest.raises(InsecureSettings, match="at least 32 bytes"):
        check_secrets(Settings(service="shop", environment="production", jwt_secret="short"))
    check_secrets(Settings(service="shop", environment="production", jwt_secret="p" * 40))
    # Orders also signs nothing with a published secret: Stripe's webhook secret is its own.
    with pytest.raises(InsecureSettings, match="STRIPE_WEBHOOK_SECRET"):
        check_secrets(OrdersSettings(service="orders", environment="production", jwt_secret="p" * 40))
    # ...and so is the carrier callbacks' shared secret.
    with pytest.raises(InsecureSettings, match="CARRIER_WEBHOOK_SECRET"):
        check_secrets(
            OrdersSettings(
                service="orders", environment="production", jwt_secret="p" * 40, stripe_webhook_secret="whsec_real"
            )
        )
    check_secrets(
        OrdersSettings(
            service="orders",
            environment="production",
            jwt_secret="p" * 40,
            stripe_webhook_secret="whsec_real",
            carrier_webhook_secret="carrier_real",
        )
    )


# --- VerifiedTokens: each token verified once per process, until it expires ----------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_a_remembered_token_still_expires_at_its_exp() -> None:
    clock = _Clock()
    tokens = VerifiedTokens(secret=SECRET, clock=clock)
    token = jwt.encode(_claims(exp=int(clock.now) + 30), SECRET, algorithm=ALGORITHM)
    assert tokens.read(token).sub == "u-1"
    clock.now += 29
    assert tokens.read(token).sub == "u-1"
    # PyJWT's rule, which the cache keeps: expired from the second of `exp` on.
    clock.now = float(jwt.decode(token, SECRET, algorithms=[ALGORITHM], audience="liveloop")["exp"])
    with pytest.raises(TokenError, match="expired"):
        tokens.read(token)


def test_a_token_with_another_signature_is_verified_not_taken_from_memory() -> None:
    tokens = VerifiedTokens(secret=SECRET)
    good = mint_token(sub="u-1", role="buyer", secret=SECRET)
    assert tokens.read(good).role == "buyer"
    header, payload, _ = good.split(".")
    forged_payload = base64.urlsafe_b64encode(
        json.dumps({**json.loads(base64.urlsafe_b64decode(payload + "==")), "role": "operator"}).encode()
    ).rstrip(b"=")
    for forged in (f"{header}.{forged_payload.decode()}.{good.split('.')[2]}", good[:-2] + "xx"):
        with pytest.raises(TokenError, match="invalid token"):
            tokens.read(forged)


def test_refused_tokens_are_not_remembered_and_memory_is_bounded() -> None:
    tokens = VerifiedTokens(secret=SECRET, max_size=3)
    with pytest.raises(TokenError):
        tokens.read("not-a-token")
    minted = [mint_token(sub=f"u-{n}", role="buyer", secret=SECRET) for n in range(5)]
    assert [tokens.read(t).sub for t in minted] == [f"u-{n}" for n in range(5)]
    assert len(tokens._verified) == 3
    assert set(tokens._verified) == set(minted[2:])


def test_a_token_of_another_issuer_or_audience_is_refused_by_the_cache_too() -> None:
    tokens = VerifiedTokens(secret=SECRET, issuer="liveloop", audience="liveloop")
    other = mint_token(sub="u-1", role="buyer", secret=SECRET, audience="elsewhere")
    for _ in range(2):
        with pytest.raises(TokenError, match=r"(?i)audience"):
            tokens.read(other)
