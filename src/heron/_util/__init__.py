"""Tiny pure helpers shared by every layer (layer 0: imports nothing from heron)."""
