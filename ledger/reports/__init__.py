"""Read models and their output: balances, history, timeline, export, the HTML report, reconciliation.

Each turns replayed state (or the projection runner's observations) into plain
data shaped by the contract, or into files; none decides anything.
"""
