"""Fixtures for the gui tests."""
