"""Reading whole collections through the paged API: every page, in order, via the load client."""

from __future__ import annotations

from .load_client import LoadClient

__all__ = ["all_worker_ids", "whole_transcript", "all_events"]


async def all_worker_ids(api: LoadClient, runtime_id: str) -> list[str]:
    """Every worker id of ``runtime_id``, in listing order."""
    workers, cursor = [], None
    while True:
        params = {"limit": 100} | ({"cursor": cursor} if cursor else {})
        page = (await api.get(f"/api/runtimes/{runtime_id}/workers", params)).json()
        workers.extend(worker["worker_id"] for worker in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return workers


async def whole_transcript(api: LoadClient, runtime_id: str, worker_id: str) -> list[dict]:
    """Every transcript entry of a worker."""
    items, start = [], 1
    while start is not None:
        params = {"start": start, "limit": 500}
        page = (await api.get(f"/api/runtimes/{runtime_id}/workers/{worker_id}/transcript", params)).json()
        items.extend(page["items"])
        start = page["next_start"]
    return items


async def all_events(api: LoadClient, runtime_id: str) -> tuple[list[dict], int]:
    """Every retained event of ``runtime_id``, oldest first, and the cursor after the newest."""
    events, cursor = [], None
    while True:
        params = {"limit": 1000} | ({"cursor": cursor} if cursor is not None else {})
        page = (await api.get(f"/api/runtimes/{runtime_id}/events", params)).json()
        events.extend(page["events"])
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return events, cursor
