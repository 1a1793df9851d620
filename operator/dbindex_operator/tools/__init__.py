"""Offline tools on top of the pure core: the importer (and later the planner).

Never the Kopf side of the runtime (.importlinter enforces it)."""
