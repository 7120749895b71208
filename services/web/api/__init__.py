"""The pages, one module per audience (`account`: signing in and out; `seller`: the seller back office;
`counter`: the clerk counter), and what they share: the session cookie, the signed-in user, rendering a template
in the reader's language."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request
from litestar.datastructures import Cookie
from litestar.exceptions import HTTPException
from litestar.response import Redirect, Template

from services.web.adapters.apis import Apis
from services.web.domain import DEFAULT_LANGUAGE, LANGUAGES, language_of, seal, unseal
from services.web.settings import WebSettings
from services.web.use_cases.sign_in import signed_in
from services.web.views import SignedIn

SESSION_COOKIE = "liveloop_session"
LANGUAGE_COOKIE = "liveloop_lang"
LANGUAGE_NAMES = {"en": "English", "zh_Hans": "简体中文"}


class NotSignedIn(Exception):
    """A role's page was asked for without a session (the app sends the visitor to sign in)."""


class WrongRole(Exception):
    """A signed-in user asked for another role's pages."""


def settings_of(request: Request) -> WebSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


def apis_of(request: Request) -> Apis:
    return request.app.state.apis  # type: ignore[no-any-return]


def is_dev(request: Request) -> bool:
    return settings_of(request).environment == "dev"


def current_user(request: Request) -> SignedIn | None:
    """The user the session cookie names, if its signature holds and neither it nor the token has expired."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    settings = settings_of(request)
    payload = unseal(raw, settings.session_secret, time.time())
    if payload is None or not isinstance(payload.get("token"), str):
        return None
    return signed_in(settings, str(payload["token"]))


def user_in_role(request: Request, role: str) -> SignedIn:
    """The signed-in user, who must hold `role` (else: off to sign in, or a 403 page)."""
    user = current_user(request)
    if user is None:
        raise NotSignedIn
    if user.role != role:
        raise WrongRole(role)
    return user


def session_cookie(request: Request, user: SignedIn | None) -> Cookie:
    """The cookie holding `user`'s session (or clearing it): signed, HttpOnly, SameSite=Lax, Secure outside dev."""
    settings = settings_of(request)
    if user is None:
        return Cookie(
            key=SESSION_COOKIE, value="", max_age=0, httponly=True, samesite="lax", secure=not is_dev(request)
        )
    expires = int(time.time()) + settings.session_max_age_s
    value = seal({"token": user.token, "exp": expires}, settings.session_secret)
    return Cookie(
        key=SESSION_COOKIE,
        value=value,
        max_age=settings.session_max_age_s,
        httponly=True,
        samesite="lax",
        secure=not is_dev(request),
        path="/",
    )


def language(request: Request) -> str:
    return language_of(request.cookies.get(LANGUAGE_COOKIE))


def page(request: Request, template: str, *, status: int = 200, **context: Any) -> Template:
    """`template` rendered in the reader's language, with the signed-in user and the per-role navigation."""
    lang = language(request)
    return Template(
        template_name=template,
        status_code=status,
        context={
            "_": request.app.state.catalogues[lang].gettext,
            "lang": lang,
            "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
            "user": current_user(request),
            "path": request.url.path,
            "dev": is_dev(request),
            **context,
        },
    )


def local_path(target: str | None, default: str = "/") -> str:
    """`target` if it is a path of this site (never another site: an open redirect), else `default`."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def redirect(to: str, *cookies: Cookie) -> Redirect:
    """See other (303): after a form, the browser GETs `to`."""
    return Redirect(path=to, status_code=303, cookies=list(cookies))


async def form_of(request: Request) -> dict[str, str]:
    """The posted form as text values (the last of repeated fields)."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def not_found() -> HTTPException:
    return HTTPException(status_code=404, detail="not found")


__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGE_COOKIE",
    "SESSION_COOKIE",
    "NotSignedIn",
    "WrongRole",
    "apis_of",
    "current_user",
    "form_of",
    "is_dev",
    "local_path",
    "not_found",
    "page",
    "redirect",
    "session_cookie",
    "settings_of",
    "user_in_role",
]
