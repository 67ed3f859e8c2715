"""Who is signed in, at the end of the status bar: user and role with links to the other
pages their role may open and a sign-out button, "Wall screen: NAME", or "Anonymous view"
with a sign-in link. Showing or hiding anything here protects nothing: the server checks
every request (dashboard/auth.py)."""

from __future__ import annotations

from dash import html

from dashboard.components.navigation import nav_links
from dashboard.sessions import Principal, csrf_token, current_principal

__all__ = ["ROLE_NAMES", "session_badge", "signed_in_badge"]

BADGE_ID = "session-badge"
ROLE_NAMES = {"viewer": "viewer", "duty_manager": "duty manager", "commander": "commander",
              "admin": "admin"}


def session_badge(who: Principal, csrf: str, *, page: str = "overview") -> html.Div:
    """The badge on ``page`` (the page's module name, such as "admin")."""
    if who.kind == "screen":
        return html.Div(html.Span(f"Wall screen: {who.name}", className="session-who"),
                        id=BADGE_ID, className="session-badge session-screen")
    if who.kind != "user":
        return html.Div([html.Span("Anonymous view (read-only)", className="session-who"),
                         html.A("Sign in", href="/login", className="session-action")],
                        id=BADGE_ID, className="session-badge session-anonymous")
    children: list = [
        html.Span(who.name, className="session-who"),
        html.Span(ROLE_NAMES.get(who.role, who.role), className="session-role"),
    ]
    children += nav_links(who.role, page)
    # the button carries the CSRF token: a submit button's name and value are form fields
    children.append(html.Form(
        html.Button("Sign out", type="submit", name="csrf", value=csrf, id="sign-out",
                    className="session-action"),
        method="POST", action="/logout", className="session-logout"))
    return html.Div(children, id=BADGE_ID, className="session-badge session-user")


def signed_in_badge(page: str = "overview") -> html.Div:
    """The badge for the current request's session."""
    who = current_principal()
    return session_badge(who, csrf_token() if who.kind == "user" else "", page=page)
