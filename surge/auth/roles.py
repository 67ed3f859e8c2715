"""The four roles, each including the ones before it, and the one table of what each may do."""

from __future__ import annotations

from surge.configfile import did_you_mean

__all__ = ["NEEDED", "ROLES", "allows", "check_role", "needed"]

ROLES = ("viewer", "duty_manager", "commander", "admin")

# The least role each action needs: surge.actions checks every action against this table,
# and the dashboard's guard reads it for the callbacks and routes that call an action, so
# the rule lives in one place. A new action is one row here and one function there.
NEEDED = {
    "view": "viewer",
    "acknowledge": "duty_manager",
    "confirm": "duty_manager",
    "silence": "duty_manager",
    "declare": "commander",
    "annotate": "duty_manager",
    "reload_rules": "admin",
    "manage_users": "admin",
    "manage_screens": "admin",
    "manage_tokens": "admin",
}


def allows(role: str, needed: str) -> bool:
    """Whether ``role`` includes ``needed``; an unknown ``role`` (a stale session) allows nothing."""
    if needed not in ROLES:
        raise ValueError(f"unknown role {needed!r} asked for; roles: {', '.join(ROLES)}")
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def needed(action: str) -> str:
    """The least role ``action`` needs; ValueError naming the known actions otherwise."""
    try:
        return NEEDED[action]
    except KeyError:
        raise ValueError(f"unknown action {action!r}; actions: {', '.join(NEEDED)}") from None


def check_role(name: str) -> str:
    """``name`` when it is a role, else ValueError naming the closest role and all of them."""
    if name in ROLES:
        return name
    hint = did_you_mean(name, ROLES) or did_you_mean(str(name).lower().replace("-", "_"), ROLES)
    raise ValueError(f"unknown role {name!r}{hint}; roles: {', '.join(ROLES)}")
