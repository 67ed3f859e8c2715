"""Signing in as the browser does: users and screens made through surge.auth, the login form
posted with its CSRF token, and callbacks POSTed to /_dash-update-component."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import argon2
from dash import Dash
from flask.testing import FlaskClient

from surge.auth import Actor, Screens, Users
from surge.settings import Settings
from surge.store import Store

RULES = Path(__file__).resolve().parents[2] / "surge_rules.yaml"
SECRET = "test-secret-" + "0" * 40
ADMIN_CLI = Actor("cli:test", "admin", "local")
PASSWORD = "correct horse battery staple"
# Cheap hashes keep the tests quick; the web side verifies with whatever the hash says.
FAST_HASHER = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def auth_settings(**changes: Any) -> Settings:
    return Settings(**{"rules": RULES, "refresh": 5, "secret_key": SECRET, **changes})


def add_user(store: Store, name: str, role: str, password: str = PASSWORD) -> str:
    Users(store, hasher=FAST_HASHER).add(name, role, password, by=ADMIN_CLI)
    return password


def add_screen(store: Store, name: str = "Control room wall") -> str:
    return Screens(store).add(name, by=ADMIN_CLI)


def login_csrf(client: FlaskClient) -> str:
    page = client.get("/login")
    found = re.search(rb'name="csrf" value="([^"]+)"', page.data)
    assert found, page.data[:500]
    return found.group(1).decode()


def sign_in(client: FlaskClient, name: str, password: str = PASSWORD, **extra: str) -> Any:
    """POST the login form; returns the response."""
    data = {"csrf": login_csrf(client), "username": name, "password": password, **extra}
    return client.post("/login", data=data)


def message(response: Any) -> str:
    """The message shown on a page served by dashboard/login.py."""
    found = re.search(rb'id="auth-message">([^<]*)<', response.data)
    return found.group(1).decode() if found else ""


def callback_body(app: Dash, input_id: str, value: Any = 1,
                  state: list[Any] | None = None) -> dict:
    """The JSON the browser POSTs for the callback fired by ``input_id``."""
    keys = [k for k, cb in app.callback_map.items()
            if any(i["id"] == input_id for i in cb["inputs"])]
    assert len(keys) == 1, f"expected one callback on {input_id}, found {keys}"
    cb = app.callback_map[keys[0]]
    outputs = cb["output"] if isinstance(cb["output"], list) else [cb["output"]]
    return {
        "output": keys[0],
        "outputs": [{"id": o.component_id, "property": o.component_property} for o in outputs],
        "inputs": [{**i, "value": value} for i in cb["inputs"]],
        "state": [{**s, "value": v} for s, v in zip(cb["state"], state or [None] * len(cb["state"]),
                                                    strict=True)],
        "changedPropIds": [f"{i['id']}.{i['property']}" for i in cb["inputs"]],
    }
