"""Fixtures, servers and helpers shared by every kind of test, and by bench/."""
