"""The shell: load state, call the pure core and the rules, append, report."""
