"""Which plans feed which, from tags alone. Pure.

An output feeds an input when the output's tags contain all of the input's
tags and the input pins nothing (a pinned input takes one existing datum,
never a future output).
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import tags as tagrules


@dataclass(frozen=True)
class PlanShape:
    plan_id: str
    inputs: dict[str, frozenset[str]]    # path -> tags
    outputs: dict[str, frozenset[str]]   # path (or 'log') -> tags


def feeds(output_tags: frozenset[str], input_tags: frozenset[str]) -> bool:
    if not input_tags or any(t.startswith(tagrules.RESERVED_PREFIX) for t in input_tags):
        return False
    return input_tags <= output_tags


def edges(plans: list[PlanShape]) -> list[tuple[str, str, str, str]]:
    """(upstream plan, output path, downstream plan, input path) for every feeding pair."""
    out = []
    for up in plans:
        for opath, otags in up.outputs.items():
            for down in plans:
                for ipath, itags in down.inputs.items():
                    if feeds(otags, itags):
                        out.append((up.plan_id, opath, down.plan_id, ipath))
    return out


def find_cycle(plans: list[PlanShape], start: str) -> list[str] | None:
    """A path start → ... → start through feeding edges, or None."""
    nxt: dict[str, set[str]] = {}
    for u, _, d, _ in edges(plans):
        nxt.setdefault(u, set()).add(d)
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for d in sorted(nxt.get(node, ())):
            if d == start:
                return path + [start]
            if d not in seen:
                seen.add(d)
                stack.append((d, path + [d]))
    return None
