"""Tool answers cut to a byte budget, with the offset or cursor that continues them.

A model's context is small: every answer of the MCP tools is JSON of at most the budget
(`mcp.max_answer_bytes`). A list that does not fit is cut after the last item that does,
and the answer says where the next page starts. This module must never drop an item
without saying so, and never return an answer that cannot be continued.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ticket_sink.api.framework import json_bytes

__all__ = ["MIN_ANSWER_BYTES", "clip", "fit_list", "fit_tickets"]

MIN_ANSWER_BYTES = 2048
_CLIPPED = " [clipped]"


def _largest(count: int, fits: Callable[[int], bool]) -> int:
    """The largest n in 0..count with fits(n), for a `fits` true up to some n, then false."""
    low, high = 0, count
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def clip(value: Any, budget: int) -> Any:
    """`value` with every string longer than a quarter of `budget` shortened (and marked),
    so that one oversized item still fits an answer."""
    longest = max(64, budget // 4)
    if isinstance(value, str) and len(value) > longest:
        return value[: longest - len(_CLIPPED)] + _CLIPPED
    if isinstance(value, dict):
        return {key: clip(item, budget) for key, item in value.items()}
    if isinstance(value, list):
        return [clip(item, budget) for item in value]
    return value


def fit_list(answer: dict[str, Any], key: str, *, offset: int, budget: int) -> dict[str, Any]:
    """`answer` with `answer[key]` from `offset` on, as many items as fit in `budget` bytes,
    and `page`: the offset, how many were returned, the total and the `next_offset` to ask
    for (null once the list is exhausted)."""
    items = list(answer[key])
    rest = items[offset:]

    def page(count: int) -> dict[str, Any]:
        following = offset + count
        return {
            "list": key,
            "offset": offset,
            "returned": count,
            "total": len(items),
            "next_offset": following if following < len(items) else None,
        }

    def shaped(count: int, chosen: list[Any]) -> dict[str, Any]:
        return {**answer, key: chosen, "page": page(count)}

    count = _largest(len(rest), lambda n: len(json_bytes(shaped(n, rest[:n]))) <= budget)
    if count == 0 and rest:
        # One item larger than the budget: shown clipped, so the pages still move on.
        return clip(shaped(1, rest[:1]), budget)  # type: ignore[no-any-return]
    return shaped(count, rest[:count])


def fit_tickets(
    answer: dict[str, Any], *, budget: int, cursor_after: Callable[[dict[str, Any]], str]
) -> dict[str, Any]:
    """A page of the ticket list cut to `budget`; when cut, `next_cursor` continues after
    the last ticket kept (`cursor_after` makes it), so no ticket is skipped."""
    items = list(answer["items"])
    if len(json_bytes(answer)) <= budget:
        return answer

    def shaped(count: int) -> dict[str, Any]:
        chosen = items[:count]
        following = cursor_after(chosen[-1]) if chosen else answer.get("next_cursor")
        return {**answer, "items": chosen, "next_cursor": following}

    count = _largest(len(items), lambda n: len(json_bytes(shaped(n))) <= budget)
    if count == 0 and items:
        return clip(shaped(1), budget)  # type: ignore[no-any-return]
    return shaped(count)
