"""Agents as the planner draws them: preference order and lazy pools.

Agents are ordered least specialised first (`_ordered_agents`), so that
agents with extra tags or software stay free for the jobs that need them; a
`_Pool` draws the fitting ones lazily and skips those taken since.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Iterator

from scheduling.algorithm.data import AgentSnapshot


class _Pool:
    """The free agents that can run jobs of one set of requirements.

    ``members`` lists them in preference order, drawn lazily from ``stream``;
    ``jump`` skips the ones taken since (a union-find with path compression:
    ``jump[p] == p`` means position ``p`` is not known to be taken). Each job
    keeps its own cursor into ``members``, past the agents it can never use.
    """

    __slots__ = ("jump", "members", "stream")

    def __init__(self, stream: Iterator[int]) -> None:
        """Wrap the agent stream."""
        self.members: list[int] = []
        self.jump: list[int] = []
        self.stream = stream

    def first_free(self, start: int, taken: bytearray) -> int:
        """Position of the first agent not taken at or after ``start``; -1: none."""
        members, jump = self.members, self.jump
        position = start
        found = True
        while True:
            if position == len(members):
                drawn = next(self.stream, None)
                if drawn is None:
                    found = False
                    break
                members.append(drawn)
                jump.append(position)
            following = jump[position]
            if following != position:
                position = following
            elif taken[members[position]]:
                jump[position] = position + 1
                position += 1
            else:
                break
        # Path compression: later searches from here land on ``position``.
        step = start
        while step < position:
            following = jump[step]
            jump[step] = position
            step = following
        return position if found else -1


def _round_up(needed: float, levels: list[float] | list[int]) -> float:
    """The smallest level covering a positive need (inf: none); else -1 or 0."""
    if needed <= 0:
        return -1 if needed < 0 else 0
    position = bisect_left(levels, needed)
    return levels[position] if position < len(levels) else math.inf


def _ordered_agents(agents: Iterable[AgentSnapshot]) -> list[AgentSnapshot]:
    """Distinct agents, least specialised first, then by id.

    Jobs draw agents in this order, so agents with extra tags or software stay
    free as long as possible for the jobs that need them.
    """
    unique: dict[str, AgentSnapshot] = {}
    for agent in sorted(agents, key=lambda agent: agent.id):
        unique.setdefault(agent.id, agent)
    return sorted(
        unique.values(),
        key=lambda agent: (len(agent.tags) + len(agent.software), agent.id),
    )
