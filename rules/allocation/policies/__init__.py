"""One module per loss-allocation policy (each exposes ``POLICY``); they never import each other."""
