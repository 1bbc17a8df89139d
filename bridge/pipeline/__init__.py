"""Wiring between stages: the consumer interface, the entry converter, the export stage."""
