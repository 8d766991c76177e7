"""Liquidation rules: pure decisions, versioned, registered in one table.

A rule version is a function of (account view, parameters, insurance fund):
no database, no clock, no logging. ``rules.registry.REGISTRY`` maps stable
version names (``"partial-v1"``) to implementations; the ledger asks the
registry and never imports a version module.
"""
