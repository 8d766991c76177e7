"""One module per released rule version. A released version is never edited:
a change is a new module, registered under a new name in ``rules.registry``."""
