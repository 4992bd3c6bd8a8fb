"""Vertebral level codes, their order and the neighbourhood relation.

The spine is one column from T1 down to L5; T12 and L1 are neighbours.
"""

from __future__ import annotations

LEVELS: tuple[str, ...] = tuple([f"T{i}" for i in range(1, 13)] + [f"L{i}" for i in range(1, 6)])
"""All level codes of the contract, cranial to caudal."""

LEVEL_INDEX: dict[str, int] = {code: i for i, code in enumerate(LEVELS)}
"""Position of each level in the column (T1 = 0 … L5 = 16)."""

DXA_LEVELS: tuple[str, ...] = ("L1", "L2", "L3", "L4")
"""Levels a lumbar DXA scan reports a T-score for."""

THORACOLUMBAR_REGION: tuple[str, ...] = ("T11", "T12", "L1", "L2")
"""The thoracolumbar junction (T11–L2), where osteoporotic fractures cluster."""
