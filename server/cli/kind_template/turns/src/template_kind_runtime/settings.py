"""What an operator can configure for a ``template-kind`` runtime."""

from __future__ import annotations

from typing import Annotated

import attrs
from annotated_types import Ge, Interval


@attrs.frozen
class TemplateKindSettings:
    """The ``settings`` table of a ``template-kind`` runtime.

    :param turn_seconds: how long a turn takes (as generated, the turn only waits).
    :param max_workers: the most workers the runtime holds.
    :param max_input_chars: the longest input accepted.
    :param max_transcript_entries: the most entries of one worker's transcript.
    :param event_retention: how many events are kept for polling and stream resume.
    :param page_max: the largest page of workers, transcript entries or events.
    """

    turn_seconds: Annotated[float, Interval(ge=0, le=3600)] = 0.5
    max_workers: Annotated[int, Ge(1)] = 50
    max_input_chars: Annotated[int, Ge(1)] = 10_000
    max_transcript_entries: Annotated[int, Ge(2)] = 1_000
    event_retention: Annotated[int, Ge(1)] = 1_000
    page_max: Annotated[int, Interval(ge=1, le=1000)] = 100

    def __attrs_post_init__(self) -> None:
        if self.event_retention < self.page_max:
            raise ValueError("event_retention must be at least page_max")
