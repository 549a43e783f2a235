"""``python -m runtime_registry.server.cli``: the ``runtime-registry`` command."""

import sys

from runtime_registry.server.cli import main

sys.exit(main())
