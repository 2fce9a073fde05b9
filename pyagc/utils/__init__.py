"""Utilities: distributed helpers, seeding, plotting."""
