# src/acme_wordcount/settings.py
"""What an operator can configure for a ``wordcount`` runtime."""

from typing import Annotated

import attrs
from annotated_types import Ge, Interval


@attrs.frozen
class WordcountSettings:
    """The ``settings`` table of a ``wordcount`` runtime."""

    max_workers: Annotated[int, Ge(1)] = 100
    max_input_chars: Annotated[int, Ge(1)] = 10_000
    event_retention: Annotated[int, Ge(1)] = 1_000
    page_max: Annotated[int, Interval(ge=1, le=1000)] = 100

    def __attrs_post_init__(self) -> None:
        # Rules across fields: raise ValueError with a message that names them.
        if self.event_retention < self.page_max:
            raise ValueError("event_retention must be at least page_max")
