"""Fixtures for the llama tests."""
