"""Measurement: one NTP exchange, validated, and selection across servers."""
