"""Leaf helpers every stage shares: number formatting, the reproducible build date,
and the executor interface with its in-process default. Nothing here imports
another part of refracture except :mod:`refracture.errors`."""
