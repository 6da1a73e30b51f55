"""Validation against published analytical DVH tests (Nelms 2015)."""
