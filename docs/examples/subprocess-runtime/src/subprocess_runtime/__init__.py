"""A runtime-registry plugin: the ``subprocess`` runtime kind.

Each worker runs the operator's configured command once per input, with the
input on stdin and stdout as the reply. See the package README.
"""

from subprocess_runtime.provider import SubprocessProvider
from subprocess_runtime.settings import SubprocessSettings

__all__ = ["SubprocessProvider", "SubprocessSettings"]
