"""Pure append decisions: what a batch of new events becomes before it is stored.

``pipeline`` checks, folds and lets the liquidation engine decide after each
mark; ``liquidation`` turns a rule version's decision into engine events;
``candidates`` (the liquidation index) names the accounts a mark may distress
without scanning them all; ``rule_checks`` are the ingest checks only the rules
can make. Nothing here reads or writes storage: the app runs the pipeline
under the log's write lock, what-if runs it in memory.
"""
