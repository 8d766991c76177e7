"""The only places that call the rules again on the past.

Replay applies what was recorded; ``audit`` re-decides every past decision with
the version then in force and must agree, ``explain`` shows the figures and
formula of one decision, ``whatif`` re-runs history under another version.
Nothing here writes.
"""
