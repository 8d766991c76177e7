"""The application: the ``Ledger`` facade and what it composes.

``ledger`` holds the facade (open, init, ingest, append, read models, compliance
runs) that the CLI and Python users call; ``ingest`` reads JSON Lines files,
``clock`` is the one reader of the wall clock, ``params_files`` reads rule
parameter files. I/O lives here, never in the domain.
"""
