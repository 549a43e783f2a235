# tests/test_wordcount.py
import pytest
from registry_core import CreateWorkerRequest, CursorExpired, InputRequest, UnsupportedOperation
from runtime_registry.host import RuntimeRegistry

from acme_wordcount.provider import WordcountProvider
from acme_wordcount.settings import WordcountSettings


@pytest.fixture
async def registry():
    registry = RuntimeRegistry()
    registry.register(WordcountProvider("counter", WordcountSettings()))
    async with registry:  # start() ... close()
        yield registry


async def test_the_reply_counts_words_and_characters(registry):
    worker = await registry.create_worker("counter", CreateWorkerRequest())
    await registry.send_input("counter", worker.worker_id, InputRequest("hello plugin world"))
    page = await registry.read_transcript("counter", worker.worker_id)
    assert [(e.role, e.content) for e in page.items] == [
        ("user", "hello plugin world"),
        ("assistant", "3 words, 18 characters"),
    ]


async def test_cancel_is_not_offered(registry):
    worker = await registry.create_worker("counter", CreateWorkerRequest())
    assert (await registry.describe_runtime("counter")).capabilities.cancel_worker is False
    with pytest.raises(UnsupportedOperation):
        await registry.cancel_worker("counter", worker.worker_id)


async def test_a_cursor_from_before_a_restart_is_expired(registry):
    await registry.create_worker("counter", CreateWorkerRequest())
    old_cursor = (await registry.read_events("counter")).next_cursor
    restarted = RuntimeRegistry()  # a new run of the same runtime
    restarted.register(WordcountProvider("counter", WordcountSettings()))
    async with restarted:
        for _ in range(3):  # more events than the first run issued
            await restarted.create_worker("counter", CreateWorkerRequest())
        with pytest.raises(CursorExpired):
            await restarted.read_events("counter", cursor=old_cursor)
