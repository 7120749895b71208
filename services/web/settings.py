"""The web app's settings: where the services' APIs are, the session secret and the dev sign-in's demo data."""

from __future__ import annotations

from libs.settings import Settings

# Public on purpose, like the dev JWT secret: `insecure()` refuses it outside dev.
DEV_SESSION_SECRET = "liveloop-dev-session-secret-change-me-in-production"


class WebSettings(Settings, kw_only=True):
    """`Settings` (its database and NATS fields are unused: the web app has neither) plus the services' URLs."""

    live_url: str = "http://127.0.0.1:8101"
    shop_url: str = "http://127.0.0.1:8102"
    orders_url: str = "http://127.0.0.1:8103"
    aftersales_url: str = "http://127.0.0.1:8104"
    local_life_url: str = "http://127.0.0.1:8105"
    # Signs the session cookie (HMAC-SHA256); 32+ bytes outside dev.
    session_secret: str = DEV_SESSION_SECRET
    # How long a sign-in lasts (the cookie's and the session's age), at most the token's own expiry.
    session_max_age_s: int = 8 * 3600
    # The dev sign-in's demo ids: the JSON file `make up` writes when it seeds (.liveloop/demo.json), read at each
    # visit of /sign-in so a re-seed needs no restart. Unused outside dev.
    demo_file: str = ""
    # What the services' APIs may take to answer one call.
    api_timeout_s: float = 10.0
    # Where "Deals nearby" looks when the buyer has not said where they are: "lat,lng" in degrees (the demo store's
    # city, San Francisco, by default).
    default_location: str = "37.7936,-122.3958"

    def insecure(self) -> list[str]:
        problems = super().insecure()
        if self.session_secret == DEV_SESSION_SECRET or len(self.session_secret.encode()) < 32:
            problems.append("LIVELOOP_SESSION_SECRET must be set to a private value of at least 32 bytes")
        return problems
