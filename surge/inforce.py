"""The rules in force: the version the active worker published, for any other process.

The worker loads the rules file and publishes its text and version in the store
(``Store.publish_rules``). Every other process (web, ``surge ingest``) uses that published
version rather than its own copy of the file, so a reload takes effect everywhere at once.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from surge.catalogue import Catalogue
from surge.errors import StoreUnavailable
from surge.rules.loader import load_rules
from surge.rules.model import Rules
from surge.store import Store

__all__ = ["catalogue_in_force", "rules_from_text"]


def rules_from_text(text: str, source: str | None = None) -> Rules:
    """Rules from the text of a rules file (as published); ConfigError if it is broken."""
    name = Path(source or "surge_rules.yaml").name
    with tempfile.TemporaryDirectory(prefix="surge-rules-") as tmp:
        path = Path(tmp) / name
        path.write_text(text, encoding="utf-8")
        return load_rules(path)


def catalogue_in_force(store: Store, fallback: Path) -> Catalogue:
    """The published rules' catalogue; the file at ``fallback`` when none is published."""
    try:
        published = store.rules_in_force()
    except StoreUnavailable:
        published = {}
    if "text" in published:
        return rules_from_text(published["text"], published.get("source")).catalogue
    return load_rules(fallback).catalogue
