"""The functional core: money, events, codec, state, the replay fold, postings.

Nothing here touches a database, a clock or a rule version.
"""
