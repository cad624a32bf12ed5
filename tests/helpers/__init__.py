"""Test-only helpers: a tiny random model built in the session, scripted judges that wrap the
real tiny model, a hand-written run directory for report tests, and the base of the backends
that tests write by hand. Fakes live here and in tests only, never in ``src/``."""
