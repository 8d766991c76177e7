"""Loss allocation: what the insurance fund cannot cover of a bankruptcy, and who pays it.

A family of versioned policies beside the rule versions, with its own
registry (``rules.allocation.registry``): ``socialize-v1`` books the residual
as a socialized loss (what the ledger always did), ``adl-ranked-v1`` and
``adl-prorata-v1`` auto-deleverage profitable counterparties. Pure, like rule
versions: given the residual, the closed quantity, the mark and the opposite
positions, a policy returns fills. Which one is in force is an event
(``loss_allocation_activated``); the ledger asks the registry and never
imports a policy module.
"""
