"""Executors: one module per kind of work, behind one interface (base.py)."""
