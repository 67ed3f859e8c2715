"""The four roles, each including the ones before it, and what each one may do."""

from __future__ import annotations

from surge.configfile import did_you_mean

__all__ = ["NEEDED", "ROLES", "allows", "check_role"]

ROLES = ("viewer", "duty_manager", "commander", "admin")

# The least role each action needs; pages and commands look their action up here so the
# rule lives in one place.
NEEDED = {
    "view": "viewer",
    "acknowledge": "duty_manager",
    "confirm": "duty_manager",
    "silence": "duty_manager",
    "declare": "commander",
    "annotate": "commander",
    "reload_rules": "admin",
    "manage_users": "admin",
    "manage_screens": "admin",
}


def allows(role: str, needed: str) -> bool:
    """Whether ``role`` includes ``needed``; an unknown ``role`` (a stale session) allows nothing."""
    if needed not in ROLES:
        raise ValueError(f"unknown role {needed!r} asked for; roles: {', '.join(ROLES)}")
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def check_role(name: str) -> str:
    """``name`` when it is a role, else ValueError naming the closest role and all of them."""
    if name in ROLES:
        return name
    hint = did_you_mean(name, ROLES) or did_you_mean(str(name).lower().replace("-", "_"), ROLES)
    raise ValueError(f"unknown role {name!r}{hint}; roles: {', '.join(ROLES)}")
