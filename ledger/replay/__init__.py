"""The read side: state rebuilt from stored rows.

``runner.project`` is the one loop that folds stored events with the reference
fold and lets observers (audit, what-if, timeline, history) look after each
event. The other strategies are measured fast paths, each proven equal to the
reference fold by property tests: ``fast_fold`` (the whole ledger from bare
rows), ``account`` (one account from its own stream) and the runner's narrow
mode (one account's history). ``load`` finds the snapshot to start from and
the point (sequence or business time) to stop at.
"""
