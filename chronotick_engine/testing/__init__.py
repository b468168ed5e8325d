"""Helpers for tests and the offline demo, not product code: a real chronyd on loopback."""
