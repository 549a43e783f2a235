"""The web console's files: an HTML page, plain ES modules and a style sheet, shipped as package data.

Nothing here is Python but this marker: ``runtime_registry.server.console``
serves the files at ``/console/`` (decision 0140). The page uses only the
public HTTP API (``/api``), so it works the same over every runtime kind and
hides what a runtime's capabilities say it cannot do. No build step and no
third-party code: the modules run as they are in any current browser.

- ``index.html`` — the page (no inline script or style: the CSP forbids both);
- ``dom.js`` — builds elements; every string becomes a text node, never HTML;
- ``api.js`` — ``fetch`` with the tab's token, typed errors, the event stream reader;
- ``app.js`` — the router, the header and the login form;
- ``runtimes.js``, ``workers.js``, ``worker.js``, ``events.js`` — the views;
- ``console.css`` — the styles.
"""
