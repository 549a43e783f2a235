"""Worker lists filtered by ?status=, ?profile= and ?label= (issue 21, decision 0200).

Both list routes, every filter alone and combined, repeated values, paging
under a filter (many pages, cursors carried from one filter to another,
creates and deletes while paging) and the 400s naming a malformed value.
"""

from __future__ import annotations

import asyncio
import itertools
import random

import httpx
import pytest

from .conftest import OTHER, RUNTIME, create_worker, error_of

WORKERS = f"/api/runtimes/{RUNTIME}/workers"


async def all_pages(api: httpx.AsyncClient, path: str, **params: object) -> tuple[list[dict], int]:
    """Every item of a listing, page after page, and how many pages it took."""
    items: list[dict] = []
    cursor = None
    for pages in itertools.count(1):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        reply = await api.get(path, params=query)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages
    raise AssertionError("unreachable")


def ids(items: list[dict]) -> list[str]:
    return [item["worker_id"] for item in items]


@pytest.fixture
async def crowd(api: httpx.AsyncClient) -> dict[str, dict]:
    """Twelve workers: labels red/blue/none, profiles echo/default, four stopped, one busy."""
    workers: dict[str, dict] = {}
    for n in range(12):
        body: dict[str, object] = {"profile": "builtin:echo" if n % 2 else "builtin:default"}
        label = ("red", "blue", None)[n % 3]
        if label is not None:
            body["label"] = label
        worker_id = await create_worker(api, **body)
        workers[worker_id] = {"label": label, "profile": body["profile"], "status": "idle"}
    for worker_id in list(workers)[:4]:
        assert (await api.post(f"{WORKERS}/{worker_id}/stop")).status_code == 200
        workers[worker_id]["status"] = "stopped"
    busy = await create_worker(api, profile="slow", label="red")
    assert (await api.post(f"{WORKERS}/{busy}/input", json={"content": "hold on"})).status_code == 202
    workers[busy] = {"label": "red", "profile": "slow", "status": "busy"}
    return workers


def expected(crowd: dict[str, dict], **wanted: tuple[str | None, ...]) -> list[str]:
    return [wid for wid, facts in crowd.items() if all(facts[key] in values for key, values in wanted.items())]


@pytest.mark.parametrize(
    "params, wanted",
    [
        ({"status": "stopped"}, {"status": ("stopped",)}),
        ({"status": "busy"}, {"status": ("busy",)}),
        ({"status": ["idle", "busy"]}, {"status": ("idle", "busy")}),
        ({"profile": "builtin:echo"}, {"profile": ("builtin:echo",)}),
        ({"profile": ["slow", "builtin:default"]}, {"profile": ("slow", "builtin:default")}),
        ({"label": "red"}, {"label": ("red",)}),
        ({"label": ["red", "blue"]}, {"label": ("red", "blue")}),
        ({"label": "red", "status": "idle"}, {"label": ("red",), "status": ("idle",)}),
        (
            {"label": "blue", "status": "idle", "profile": "builtin:echo"},
            {"label": ("blue",), "status": ("idle",), "profile": ("builtin:echo",)},
        ),
        ({"label": "nobody has this label"}, {"label": ("nobody has this label",)}),
        ({"status": "no-such-status"}, {"status": ("no-such-status",)}),
    ],
)
@pytest.mark.parametrize("limit", [1, 2, 50])
async def test_each_filter_and_combination_lists_exactly_its_workers_in_creation_order_on_every_page_size(
    api, crowd, params, wanted, limit
):
    items, pages = await all_pages(api, WORKERS, limit=limit, **params)
    assert ids(items) == expected(crowd, **wanted)
    assert len(set(ids(items))) == len(items)
    assert pages <= max(1, -(-len(items) // limit)) + 1  # a page holds `limit` matches: no thin pages
    for item in items:
        facts = crowd[item["worker_id"]]
        assert (item["label"], item["profile"], item["status"]) == (facts["label"], facts["profile"], facts["status"])


async def test_a_label_is_matched_exactly_not_by_prefix_case_or_key_value(api):
    exact = await create_worker(api, label="team=search")
    await create_worker(api, label="Team=search")
    await create_worker(api, label="team=search-2")
    items, _ = await all_pages(api, WORKERS, label="team=search")
    assert ids(items) == [exact]


async def test_a_cursor_minted_under_one_filter_continues_after_the_same_worker_under_another(api, crowd):
    first = (await api.get(WORKERS, params={"label": "red", "limit": 2})).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    last_seen = list(crowd).index(first["items"][-1]["worker_id"])
    rest, _ = await all_pages(api, WORKERS, status="idle", cursor=first["next_cursor"])
    assert ids(rest) == [wid for wid in expected(crowd, status=("idle",)) if list(crowd).index(wid) > last_seen]
    unfiltered = (await api.get(WORKERS, params={"cursor": first["next_cursor"]})).json()
    assert ids(unfiltered["items"]) == list(crowd)[last_seen + 1 :]


async def test_many_pages_under_a_filter_list_each_match_once(api):
    wanted = []
    for n in range(40):
        worker_id = await create_worker(api, label="even" if n % 2 == 0 else "odd")
        if n % 2 == 0:
            wanted.append(worker_id)
    items, pages = await all_pages(api, WORKERS, label="even", limit=3)
    assert ids(items) == wanted
    assert pages == 7


async def test_creates_and_deletes_while_paging_under_a_filter_never_repeat_or_skip_a_kept_worker(api):
    kept = [await create_worker(api, label="keep") for _ in range(15)]
    doomed = [await create_worker(api, label="keep") for _ in range(10)]
    labelled_keep = set(kept) | set(doomed)
    others = [await create_worker(api, label="other") for _ in range(5)]
    rng = random.Random(21)
    rng.shuffle(doomed)
    seen: list[str] = []
    created: list[str] = []
    cursor = None
    while True:
        query = {"label": "keep", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page, *_ = await asyncio.gather(
            api.get(WORKERS, params=query),
            *([api.delete(f"{WORKERS}/{doomed.pop()}")] if doomed else []),
            *([api.delete(f"{WORKERS}/{others.pop()}")] if others else []),
        )
        created.append(await create_worker(api, label="keep"))
        body = page.json()
        seen.extend(ids(body["items"]))
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)), "a worker was listed twice"
    assert all(worker_id in seen for worker_id in kept), "a worker that was never deleted was skipped"
    assert set(seen) <= labelled_keep | set(created), "a worker of another label was listed"
    listed_now, _ = await all_pages(api, WORKERS, label="keep")
    assert set(kept) <= set(ids(listed_now)) and not set(ids(listed_now)) - set(kept) - set(created)


async def test_the_overview_filters_across_runtimes_and_pages_with_its_own_cursor(api):
    here = [await create_worker(api, label="shared", profile="builtin:echo") for _ in range(3)]
    await create_worker(api, label="shared", profile="builtin:default")
    there = await create_worker(api, OTHER, label="shared", profile="builtin:echo")
    items, pages = await all_pages(api, "/api/workers", label="shared", profile="builtin:echo", limit=2)
    assert ids(items) == [*here, there]
    assert [item["runtime_id"] for item in items] == [RUNTIME] * 3 + [OTHER]
    assert pages >= 2
    stopped = (await api.get("/api/workers", params={"status": "stopped"})).json()
    assert stopped["items"] == [] and stopped["next_cursor"] is None


@pytest.mark.parametrize("path", [WORKERS, "/api/workers"])
@pytest.mark.parametrize(
    "name, value, says",
    [
        ("label", "", "label"),
        ("label", "tab\there", "control characters"),
        ("label", "x" * 201, "label"),
        ("label", "   ", "label"),
        ("label", "a\u202eb", "label"),
        ("profile", "has space", "profile"),
        ("profile", "", "profile"),
        ("status", "idle,busy", "status"),
        ("status", "x" * 121, "status"),
    ],
)
async def test_a_malformed_filter_value_is_400_naming_the_parameter(api, path, name, value, says):
    reply = await api.get(path, params={name: value})
    assert error_of(reply) == (400, "malformed_request")
    error = reply.json()["error"]
    assert error["details"][0]["path"] == name
    assert says in error["message"]
    assert value not in error["message"] or not value.strip()


async def test_too_many_values_of_one_filter_is_400_and_twenty_are_fine(api):
    assert (await api.get(WORKERS, params={"label": [f"l{n}" for n in range(20)]})).status_code == 200
    reply = await api.get(WORKERS, params={"label": [f"l{n}" for n in range(21)]})
    assert error_of(reply) == (400, "malformed_request")
    assert reply.json()["error"]["details"][0]["path"] == "label"


async def test_an_unknown_parameter_beside_filters_is_still_400(api):
    reply = await api.get(WORKERS, params={"status": "idle", "lable": "x"})
    assert error_of(reply) == (400, "malformed_request")
    assert "did you mean 'label'?" in reply.json()["error"]["message"]
