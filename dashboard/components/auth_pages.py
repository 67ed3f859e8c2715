"""The pages dashboard/login.py renders itself, outside Dash: sign in, signed out, session
ended, screen link revoked, not allowed. Plain server-rendered HTML in the site's style
(assets/surge.css); Jinja escapes every value."""

from __future__ import annotations

import flask

__all__ = ["auth_page"]

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Surge — {{ heading }}</title>
<link rel="stylesheet" href="/assets/surge.css">
</head>
<body class="auth-page">
<main class="auth-box" id="{{ page_id }}">
<h1><span class="brand">SURGE</span> <span class="auth-heading">{{ heading }}</span></h1>
{% if problem %}<div class="banner banner-critical" role="alert" id="config-problem">
<strong>⚠ CONFIGURATION BROKEN</strong><span class="banner-detail">{{ problem }}</span></div>
{% endif %}
{% if message %}<p class="auth-message auth-{{ tone }}" role="alert" id="auth-message">
{{- message -}}
</p>{% endif %}
{% if form %}
<form method="post" action="/login" class="auth-form">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="next" value="{{ next_path }}">
<label for="username">User name</label>
<input id="username" name="username" maxlength="64" autocomplete="username"
  autocapitalize="none" spellcheck="false" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" maxlength="1024"
  autocomplete="current-password" required>
<button type="submit" id="sign-in">Sign in</button>
</form>
<p class="auth-note">Wall screens open their own screen link and need no password.</p>
{% endif %}
{% if link %}<p class="auth-note"><a href="{{ link[0] }}">{{ link[1] }}</a></p>{% endif %}
</main>
</body>
</html>
"""


def auth_page(heading: str, *, message: str | None = None, tone: str = "bad",
              form: bool = False, csrf: str = "", next_path: str = "/",
              link: tuple[str, str] | None = None, problem: str | None = None,
              page_id: str = "auth-page") -> str:
    """The HTML of one page: a heading, a message (tone "bad" or "ok"), the sign-in form
    (with its CSRF token and where to go next), a link, and a broken-configuration banner."""
    return flask.render_template_string(
        _PAGE, heading=heading, message=message, tone=tone, form=form, csrf=csrf,
        next_path=next_path, link=link, problem=problem, page_id=page_id)
