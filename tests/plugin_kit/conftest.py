"""The plugin kit's tests import the example package straight from its checkout.

(The end-to-end test installs it for real, into a virtual environment of its own.)
"""

from .example_package import make_example_importable

make_example_importable()
