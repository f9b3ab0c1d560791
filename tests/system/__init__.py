"""Whole-system tests: real server processes (daphne, manage.py, Redis), real signals."""
