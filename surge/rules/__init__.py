"""Surge protocols: surge_rules.yaml read into frozen Rules, checked with every problem at once."""

from surge.rules.loader import check_rules, load_rules

__all__ = ["check_rules", "load_rules"]
