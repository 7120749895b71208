"""Signing in and out, the reader's language, the home page and the probes."""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.response import Template

from services.web.api import (
    LANGUAGE_COOKIE,
    current_user,
    form_of,
    is_dev,
    local_path,
    not_found,
    page,
    redirect,
    session_cookie,
    settings_of,
)
from services.web.domain import LANGUAGES, NAV
from services.web.use_cases.sign_in import demo_users, sign_in_demo, signed_in

# Where each role lands after signing in: only the roles whose pages exist have one.
HOME_OF_ROLE = {role: links[0][0] for role, links in NAV.items()}


@get("/health", sync_to_thread=False, include_in_schema=False)
def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@get("/ready", include_in_schema=False)
async def ready(request: Request) -> dict[str, str]:
    """Started: the API clients are open and the catalogues compiled (the web app has no database or NATS)."""
    return {"status": "ready"}


@get("/", sync_to_thread=False)
def home(request: Request) -> Response[None] | Template:
    """A signed-in user's pages; anyone else is asked to sign in."""
    user = current_user(request)
    if user is None:
        return redirect("/sign-in" if is_dev(request) else "/signed-out")
    if user.role in HOME_OF_ROLE:
        return redirect(HOME_OF_ROLE[user.role])
    return page(request, "home.html")


@get("/sign-in", sync_to_thread=False)
def sign_in_page(request: Request) -> Template:
    """Dev only: the demo users of each role (production signs in through the identity provider: 404 here)."""
    if not is_dev(request):
        raise not_found()
    return page(
        request,
        "sign_in.html",
        users=demo_users(settings_of(request)),
        next=local_path(request.query_params.get("next"), ""),
    )


@post("/sign-in")
async def sign_in(request: Request) -> Response[None] | Template:
    """Dev only: sign in as the demo user of the chosen role (a dev token minted here)."""
    if not is_dev(request):
        raise not_found()
    form = await form_of(request)
    user = sign_in_demo(settings_of(request), form.get("role", ""))
    if user is None:
        return page(
            request, "sign_in.html", status=422, users=demo_users(settings_of(request)), next="", error="unknown-user"
        )
    return redirect(local_path(form.get("next"), HOME_OF_ROLE.get(user.role, "/")), session_cookie(request, user))


@post("/sign-in/callback")
async def sign_in_callback(request: Request) -> Response[None] | Template:
    """The identity provider's form post (`token`, optional `next`): a Liveloop token, verified before it is kept.

    Not CSRF-checked (the provider's page posts it, without our CSRF cookie): the token itself is the proof.
    """
    form = await form_of(request)
    user = signed_in(settings_of(request), form.get("token", ""))
    if user is None:
        return page(request, "signed_out.html", status=401, error="invalid-token")
    return redirect(local_path(form.get("next"), HOME_OF_ROLE.get(user.role, "/")), session_cookie(request, user))


@post("/sign-out")
async def sign_out(request: Request) -> Response[None]:
    """End the session (the cookie is cleared)."""
    return redirect("/sign-in" if is_dev(request) else "/signed-out", session_cookie(request, None))


@get("/signed-out", sync_to_thread=False)
def signed_out(request: Request) -> Template:
    """Outside dev: where a visitor without a session is told to sign in through the platform."""
    return page(request, "signed_out.html", status=401 if current_user(request) is None else 200)


@post("/language")
async def choose_language(request: Request) -> Response[None]:
    """Read the pages in another language (a cookie for a year), back on the page the switch was on."""
    form = await form_of(request)
    chosen = form.get("language", "")
    response = redirect(local_path(form.get("next"), "/"))
    if chosen in LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE, chosen, max_age=365 * 86400, httponly=True, samesite="lax", secure=not is_dev(request)
        )
    return response


ROUTES = [health, ready, home, sign_in_page, sign_in, sign_in_callback, sign_out, signed_out, choose_language]
