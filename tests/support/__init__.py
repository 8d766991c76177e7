"""What the tests share: the CLI runner, event builders, generated-history strategies and fixed rule inputs.

Test modules import from here (and from ``tests.conftest``'s fixtures), never from one another.
"""
