"""An app served by uvicorn in a thread of the test process, on a free loopback port.

For tests that need objects only the test process has (in-process plugins, a
provider that misbehaves) *and* the real HTTP stack (headers as sent on the
wire, streams that stay open). Stopped by setting ``should_exit``, which is
what uvicorn's own signal handler does (signals stay with the main thread).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn

from ..support.server_process import free_port


@contextlib.contextmanager
def serving_in_a_thread(app, *, port: int | None = None) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL.

    :param port: the port to listen on (a restarted server must come back where
        its clients look for it); a free one if omitted.
    """
    port = free_port() if port is None else port
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn-under-test", daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise AssertionError("the in-process server did not start")
            time.sleep(0.02)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=15)
