"""Pure append decisions: what a batch of new events becomes before it is stored.

``session`` is the write side's one owner: it folds new events and lets the
liquidation engine decide (appends, what-if worlds), re-decides stored events
(the audit), carries a warm state over other writers' rows, and forks worlds,
keeping the liquidation index true around every fold. ``admission`` holds the
checks an event passes before it is folded (``new_names``: those of a name new
to the ledger, and the names it may not look like); ``liquidation`` turns a rule
version's decision into engine events; ``candidates`` (the liquidation index)
names the accounts a mark may distress without scanning them all;
``rule_checks`` are the ingest checks only the rules can make. Nothing here
reads or writes storage: the app's unit of work runs a session under the log's
write lock, what-if runs sessions in memory.
"""
