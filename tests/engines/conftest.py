"""The real engines' fixtures (tests/engines/postgres.py) are registered for all tests by
tests/conftest.py (``pytest_plugins``), so that every folder shares one session cluster."""
