"""Send-input decisions of one replica, many per round trip and per transaction (decision 0234).

A send input costs two decisions in the database: its accept (the busy rule)
and, when its turn ends, the turn's end. Each was one server-side function
(decision 0230) committed on its own, and its events were numbered by a
second round trip (``own_events``). Under load a replica has many of them
waiting at once; :class:`Decisions` sends every decision waiting at once in
**one** call of ``decide()``, which runs ``accept_input``/``complete_turn``
for each, then numbers the events — its own and any other committed ones
still unnumbered — under the sequencing lock held to its commit, and
returns them numbered. One round trip and one transaction (one flush) for
the whole batch, instead of about 2.3 round trips and two transactions per
send input. Since schema 8 (decision 0236) ``decide()`` decides a batch in
which no input waits with a few set-based statements instead of one function
call per decision (:mod:`.postgres_batch_sql`); the answer is the same.

Why it stays correct:

- **each decision is decided alone**: the functions (version 5's, with turn
  control: admission, queues, a turn's end handing its slot out; decision
  0184) return an outcome (``busy``, ``queued``, ``lost``, ...) instead of
  raising, so a refusal changes nothing of the others in the batch; the batch
  is sent in ``worker_id`` order, a worker's turn end before an accept for it
  (which is then accepted, not refused as busy);
- **one lock order with every other decision**: each of those functions
  that locks anything locks the ``turns`` counter row first (0184's rule),
  so a batch holds it from its first locking decision to its commit and
  takes worker rows only under it; a cancel, stop, enqueue, interrupt or
  another replica's batch waits for the counter and never holds a worker
  row the batch wants. The sequencing lock comes after the counter in every
  transaction that takes both;
- **turns started from waiting inputs** (a turn's end hands its slot to the
  admission line's head or to its worker's queue) are in the answer and run
  by this replica, as with a single ``complete_turn`` (0184);
- **ids in commit order, without gaps** (decisions 0132, 0230): the batch
  numbers under the same advisory lock a sequencing pass takes, held to its
  commit; what another transaction committed without ids is numbered in the
  same pass, before or among the batch's own in ``seq`` order, and all of it
  becomes visible at once;
- **durability**: the batch commits at the server's ``synchronous_commit``
  (the functions' ``off`` is set back first), so a decision is durable
  before the replica answers; nothing is acknowledged that a crash can take.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import attrs

from registry_core.models import Event

__all__ = ["V6", "Decision", "DecisionResult", "Decisions", "Replayed", "data_size"]

#: An event to replay into a replica's cache: the event, its transcript entry ``(role, content)``
#: if it wrote one, and the JSON size of its data (:func:`data_size`).
Replayed = tuple[Event, tuple[str, str] | None, int]


def data_size(text: str) -> int:
    """The bytes of an event's data as the database wrote it (``jsonb`` text): an upper bound of its
    compact JSON, so the cache's event log need not measure the decoded data again."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


#: Schema version 6 (decision 0234): ``decide()``, the batch of send-input decisions, on version 5's
#: ``accept_input``/``complete_turn`` (turn control, decision 0184).
V6 = """
CREATE FUNCTION decide(
    p_owner text, p_channel text, p_full_message text,
    p_kind text[], p_worker text[], p_role text[], p_content text[], p_max integer[], p_per_turn integer[],
    p_turn integer[], p_completed jsonb[], p_input_tokens bigint[], p_output_tokens bigint[], p_max_turns integer[]
)
RETURNS TABLE (
    r_call integer, r_outcome text, r_seqs bigint[], r_place integer, r_started jsonb,
    w_serial bigint, w_worker_id text, w_label text, w_intent jsonb,
    w_profile text, w_created_at timestamptz, w_status text, w_turn_number integer, w_entries integer,
    w_tools jsonb, w_owner text, w_turns bigint, w_input_tokens bigint, w_output_tokens bigint,
    e_seq bigint, e_id bigint, e_type text, e_worker_id text, e_data text, e_created_at timestamptz,
    e_role text, e_content text
)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    -- The functions below commit without waiting for the flush (they were
    -- made for a pass of their own); this transaction answers the clients,
    -- so it commits at the server's setting (decision 0234).
    v_sync text := current_setting('synchronous_commit');
    -- The event counter before the batch: a pass run inside it (a started
    -- queued input numbers its worker.input_queued first, ctl_queued_id)
    -- moves it, and numbers some of the batch's events before the last pass.
    v_first bigint := (SELECT value FROM counters WHERE name = 'event_id');
    v_all bigint[] := ARRAY[]::bigint[];
    v_accept record;
    v_complete record;
    v_last bigint;
    v_newest bigint;
BEGIN
    -- Lock order (decision 0184): every decision that locks anything locks the
    -- turns counter first, so from the batch's first such decision on it holds
    -- the counter, and takes worker rows (its own, and the admission line's
    -- head a turn's end hands its slot to) only under it; a refusal locks nothing.
    FOR i IN 1 .. coalesce(array_length(p_kind, 1), 0) LOOP
        r_call := i;
        IF p_kind[i] = 'a' THEN
            SELECT * INTO v_accept FROM accept_input(
                p_worker[i], p_owner, p_role[i], p_content[i], p_max[i], p_per_turn[i], p_max_turns[i]);
            r_outcome := v_accept.outcome; r_seqs := v_accept.seqs; r_place := v_accept.place; r_started := NULL;
            w_serial := v_accept.w_serial; w_worker_id := v_accept.w_worker_id; w_label := v_accept.w_label;
            w_intent := v_accept.w_intent; w_profile := v_accept.w_profile; w_created_at := v_accept.w_created_at;
            w_status := v_accept.w_status; w_turn_number := v_accept.w_turn_number; w_entries := v_accept.w_entries;
            w_tools := v_accept.w_tools; w_owner := v_accept.w_owner; w_turns := v_accept.w_turns;
            w_input_tokens := v_accept.w_input_tokens; w_output_tokens := v_accept.w_output_tokens;
        ELSE
            SELECT * INTO v_complete FROM complete_turn(p_worker[i], p_owner, p_turn[i], p_content[i], p_max[i],
                p_completed[i], p_full_message, p_input_tokens[i], p_output_tokens[i], p_max_turns[i], p_channel);
            r_outcome := v_complete.outcome; r_seqs := v_complete.seqs; r_place := NULL;
            r_started := v_complete.started;
            w_serial := NULL; w_worker_id := NULL; w_label := NULL; w_intent := NULL; w_profile := NULL;
            w_created_at := NULL; w_status := NULL; w_turn_number := NULL; w_entries := NULL; w_tools := NULL;
            w_owner := NULL; w_turns := NULL; w_input_tokens := NULL; w_output_tokens := NULL;
        END IF;
        v_all := v_all || coalesce(r_seqs, ARRAY[]::bigint[]);
        RETURN NEXT;
    END LOOP;
    PERFORM set_config('synchronous_commit', v_sync, true);
    -- The sequencing pass of sequence_events(), here returning what it numbered:
    -- this batch's events (visible to its own transaction) and any committed
    -- without an id, in seq order, under the lock held to this commit.
    PERFORM pg_advisory_xact_lock(hashtext('runtime-registry sequencing'), hashtext(current_schema()));
    SELECT value INTO v_last FROM counters WHERE name = 'event_id';
    r_call := NULL; r_outcome := NULL; r_seqs := NULL; r_place := NULL; r_started := NULL;
    w_serial := NULL; w_worker_id := NULL; w_label := NULL; w_intent := NULL; w_profile := NULL;
    w_created_at := NULL; w_status := NULL; w_turn_number := NULL; w_entries := NULL; w_tools := NULL;
    w_owner := NULL; w_turns := NULL; w_input_tokens := NULL; w_output_tokens := NULL;
    RETURN QUERY
        WITH pending AS (
            SELECT ev.seq, row_number() OVER (ORDER BY ev.seq) AS n FROM events ev WHERE ev.id IS NULL
        ), numbered AS (
            UPDATE events ev SET id = v_last + p.n FROM pending p WHERE ev.seq = p.seq
            RETURNING ev.seq, ev.id, ev.type, ev.worker_id, ev.data, ev.created_at
        ), entry AS (
            UPDATE entries en SET event_id = nb.id FROM numbered nb WHERE en.event_seq = nb.seq
            RETURNING en.event_seq, en.role, en.content
        )
        SELECT NULL::integer, NULL::text, NULL::bigint[], NULL::integer, NULL::jsonb,
               NULL::bigint, NULL::text, NULL::text, NULL::jsonb, NULL::text,
               NULL::timestamptz, NULL::text, NULL::integer, NULL::integer, NULL::jsonb, NULL::text,
               NULL::bigint, NULL::bigint, NULL::bigint,
               nb.seq, nb.id, nb.type, nb.worker_id, nb.data::text, nb.created_at, en.role, en.content
        FROM numbered nb LEFT JOIN entry en ON en.event_seq = nb.seq;
    IF v_last <> v_first THEN
        -- A pass ran since the batch began (its own, or another replica's that
        -- committed meanwhile): what it numbered comes too, the batch's events
        -- among it; all of it committed before this lock or is this batch's own.
        RETURN QUERY
            SELECT NULL::integer, NULL::text, NULL::bigint[], NULL::integer, NULL::jsonb,
                   NULL::bigint, NULL::text, NULL::text, NULL::jsonb, NULL::text,
                   NULL::timestamptz, NULL::text, NULL::integer, NULL::integer, NULL::jsonb, NULL::text,
                   NULL::bigint, NULL::bigint, NULL::bigint,
                   ev.seq, ev.id, ev.type, ev.worker_id, ev.data::text, ev.created_at, en.role, en.content
            FROM events ev LEFT JOIN entries en ON en.event_id = ev.id
            WHERE ev.id > v_first AND ev.id <= v_last;
    END IF;
    SELECT max(ev.id) INTO v_newest FROM events ev WHERE ev.id > v_last;
    IF v_newest IS NOT NULL THEN
        UPDATE counters SET value = v_newest WHERE name = 'event_id';
        PERFORM pg_notify(p_channel, 'e' || v_newest);
    END IF;
END
$fn$;
"""


@attrs.define(eq=False)
class Decision:
    """One decision of a batch: an accept (``kind == "a"``) or a turn's end (``"c"``).

    Compared by identity: two equal-looking inputs are two decisions.
    """

    kind: str
    worker_id: str
    #: accept: the input's role; content: the input (accept) or the reply (turn's end, may be ``None``).
    role: str | None = None
    content: str | None = None
    max_entries: int = 0
    per_turn: int = 0
    turn: int = 0
    completed: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    #: ``max_concurrent_turns``: an accept beyond it waits for a slot; a turn's end hands its slot out.
    max_turns: int = 64


@attrs.frozen
class DecisionResult:
    """What the database decided: the outcome, the worker's row (accepts) and the events written, numbered.

    :ivar place: an accept that waits for a turn slot (``queued``): its place in the admission line.
    :ivar started: a turn's end: the ``started`` JSON of the turns it started from waiting inputs
        (this replica runs them; decision 0184), ``None`` for an accept.
    """

    outcome: str
    worker: tuple[Any, ...] | None
    events: list[tuple[Event, tuple[str, str] | None]]
    place: int | None = None
    started: Any = None
    #: The ``seq`` of each of :attr:`events` (the ``started`` JSON names events by it).
    seqs: tuple[int, ...] = ()


#: The argument order of ``decide()`` after the owner, channel and full message.
_COLUMNS: Sequence[Callable[[Decision], Any]] = (
    lambda d: d.kind,
    lambda d: d.worker_id,
    lambda d: d.role,
    lambda d: d.content,
    lambda d: d.max_entries,
    lambda d: d.per_turn,
    lambda d: d.turn,
    lambda d: d.completed,
    lambda d: d.input_tokens,
    lambda d: d.output_tokens,
    lambda d: d.max_turns,
)

_DECIDE = (
    "SELECT * FROM decide($1, $2, $3, $4::text[], $5::text[], $6::text[], $7::text[], $8::integer[], "
    "$9::integer[], $10::integer[], $11::jsonb[], $12::bigint[], $13::bigint[], $14::integer[])"
)


class Decisions:
    """Sends a batch of decisions in one ``decide()`` call and sorts out the answer.

    :param fetch: runs one statement and returns its rows (outages raise as the store raises them).
    :param owner: this replica's id; :param channel: the notification channel.
    :param full_message: the message of ``transcript_full`` for a reply that does not fit.
    """

    def __init__(
        self,
        fetch: Callable[..., Awaitable[list[Any]]],
        owner: str,
        channel: str,
        full_message: str,
    ) -> None:
        self._fetch = fetch
        self._owner = owner
        self._channel = channel
        self._full_message = full_message

    async def run(self, batch: list[Decision]) -> tuple[Mapping[Decision, DecisionResult], list[Replayed]]:
        """Decide ``batch``: each decision's result, and every event the batch's pass numbered (in id
        order), with its transcript entry and the size of its data as the database wrote it."""
        # By worker, a turn's end before an accept of the same worker (which is then accepted). The
        # lock order between batches and every other decision is the turns counter's (0184).
        ordered = sorted(batch, key=lambda d: (d.worker_id, d.kind != "c"))
        rows = await self._fetch(
            _DECIDE,
            self._owner,
            self._channel,
            self._full_message,
            *([column(d) for d in ordered] for column in _COLUMNS),
        )
        outcomes: dict[int, Any] = {}
        by_seq: dict[int, Replayed] = {}
        numbered: list[Replayed] = []
        for row in rows:
            if row[0] is not None:
                outcomes[row[0]] = row
            else:
                text = row[23]
                event = Event(row[20], row[21], row[22], json.loads(text), row[24])
                found = (event, None if row[25] is None else (row[25], row[26]), data_size(text))
                by_seq[row[19]] = found
                numbered.append(found)
        numbered.sort(key=lambda found: found[0].id)
        results: dict[Decision, DecisionResult] = {}
        for index, decision in enumerate(ordered, start=1):
            row = outcomes[index]
            results[decision] = DecisionResult(
                row[1],
                tuple(row[5:19]) if row[5] is not None else None,
                [by_seq[seq][:2] for seq in row[2] or ()],
                row[3],
                row[4],
                tuple(row[2] or ()),
            )
        return results, numbered
