"""Pytest fixtures shared across apps: the local model server (see tests/model_server.py)."""
