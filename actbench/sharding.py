"""Sharding for the Ray executor: a population plan split into shards of whole activation
groups, members in their order, the largest shard as small as possible. Pure Python, no Ray:
near-linear in the number of activation groups, and a stop request between plans is an
interrupt."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Sequence

from actbench.errors import ConfigError, Interrupted
from actbench.experiment import PlannedMember, PopulationPlan


def activation_groups(members: Sequence[PlannedMember]) -> list[list[PlannedMember]]:
    """Runs of consecutive members with the same activation entry (all its grid points and
    seeds, as `plan` orders them)."""
    groups: list[list[PlannedMember]] = []
    for member in members:
        if groups and groups[-1][0].entry == member.entry:
            groups[-1].append(member)
        else:
            groups.append([member])
    return groups


def _balanced_split(
    groups: list[list[PlannedMember]], parts: int
) -> list[list[list[PlannedMember]]]:
    """`parts` runs of consecutive groups whose largest member count is as small as possible.

    The smallest feasible bound is found by bisection, each candidate checked by one greedy
    pass (O(n log total) for n groups: 2,000 groups take milliseconds); runs the greedy pass
    leaves to spare are made by splitting the largest run that holds several groups, which
    keeps every run within the bound.
    """
    sizes = [len(group) for group in groups]
    parts = max(1, min(parts, len(groups)))
    low, high = max(sizes), sum(sizes)
    while low < high:
        bound = (low + high) // 2
        if len(_greedy_runs(sizes, bound)) <= parts:
            high = bound
        else:
            low = bound + 1
    runs = _greedy_runs(sizes, low)
    prefix = [0, *itertools.accumulate(sizes)]
    # (-members, start, stop): the largest run first, the earliest among equals
    heap = [(-(prefix[stop] - prefix[start]), start, stop) for start, stop in runs]
    heapq.heapify(heap)
    unsplittable: list[tuple[int, int, int]] = []
    while len(heap) + len(unsplittable) < parts and heap:
        members, start, stop = heapq.heappop(heap)
        if stop - start < 2:
            unsplittable.append((members, start, stop))
            continue
        # the cut that leaves the two halves closest in size
        middle = prefix[start] - members / 2
        cut = min(range(start + 1, stop), key=lambda i: abs(prefix[i] - middle))
        heapq.heappush(heap, (-(prefix[cut] - prefix[start]), start, cut))
        heapq.heappush(heap, (-(prefix[stop] - prefix[cut]), cut, stop))
    bounds = sorted((start, stop) for _, start, stop in [*heap, *unsplittable])
    return [groups[start:stop] for start, stop in bounds]


def _greedy_runs(sizes: Sequence[int], bound: int) -> list[tuple[int, int]]:
    """(start, stop) runs of consecutive sizes, each as long as `bound` allows."""
    runs, start, total = [], 0, 0
    for index, size in enumerate(sizes):
        if total + size > bound and index > start:
            runs.append((start, index))
            start, total = index, 0
        total += size
    runs.append((start, len(sizes)))
    return runs


def shard_plans(
    plans: Sequence[PopulationPlan],
    shards: int | None,
    should_stop: Callable[[], bool] | None = None,
) -> list[PopulationPlan]:
    """Split every plan into shards of whole activation groups, members in their order.

    None: one shard per activation group of every plan. N: about N shards in all, never fewer
    than the plans nor more than the groups; each extra shard goes to the plan whose shards are
    largest, and a plan's groups are cut so its largest shard is as small as possible.
    Near-linear in the number of groups; `should_stop` is asked between plans (a stop request
    raises Interrupted: nothing has been trained).
    """
    if shards is not None and shards < 1:
        raise ConfigError(f"--shards must be at least 1 (got {shards})")
    grouped = [(p, activation_groups(p.members)) for p in plans if p.members]
    n_groups = sum(len(groups) for _, groups in grouped)
    wanted = n_groups if shards is None else min(max(shards, len(grouped)), n_groups)
    counts = [1] * len(grouped)
    # the plan whose shards are largest (members per shard) gets the next shard
    widest: list[tuple[float, int]] = [
        (-len(plan.members) / 1, index)
        for index, (plan, groups) in enumerate(grouped)
        if len(groups) > 1
    ]
    heapq.heapify(widest)
    for _ in range(wanted - len(grouped)):
        _, index = heapq.heappop(widest)
        counts[index] += 1
        if counts[index] < len(grouped[index][1]):
            heapq.heappush(widest, (-len(grouped[index][0].members) / counts[index], index))
    result = []
    for (population_plan, groups), count in zip(grouped, counts, strict=True):
        if should_stop is not None and should_stop():
            raise Interrupted("while splitting the members into shards; nothing was trained")
        for part in _balanced_split(groups, count):
            members = [member for group in part for member in group]
            result.append(PopulationPlan(population_plan.config, members))
    return result
