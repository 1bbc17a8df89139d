"""Test helpers shared by several test packages (OTLP sink, certificates)."""
