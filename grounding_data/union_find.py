"""Union-find over ``0..count-1``: which items a list of links joins into one group.

Used where things join transitively: runs of mask pixels into connected components
(:func:`grounding_data.masks.connected_components`), overlapping readers' boxes into one finding
(the VinDr-CXR reader).

Example:
    >>> union_find_roots(5, [(0, 1), (3, 4), (1, 0)])
    [1, 1, 2, 4, 4]
"""

from __future__ import annotations

from collections.abc import Iterable


def union_find_roots(count: int, links: Iterable[tuple[int, int]]) -> list[int]:
    """The group of each item ``0..count-1`` after joining every ``(i, j)`` of ``links``, named by
    one member (its root); items in one group share a root, items in different groups do not.

    Example:
        >>> union_find_roots(3, [])
        [0, 1, 2]
    """
    parent = list(range(count))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]  # path halving
            i = parent[i]
        return i

    for i, j in links:
        parent[find(i)] = find(j)
    return [find(i) for i in range(count)]
