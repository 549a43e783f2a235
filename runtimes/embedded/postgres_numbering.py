"""Schema version 7 of the PostgreSQL store: a batch's events written with their ids (decision 0235).

Until version 6 every event was inserted with a ``seq`` only and numbered by
a sequencing pass that wrote it a second time (``UPDATE events SET id``, and
its transcript entry's ``event_id``): inside ``decide()`` that second write
was 40% of the batch's database time (``pg_stat_statements``), all of it
under the ``turns`` counter and the sequencing lock. Version 7 numbers a
batch's events **as they are inserted**:

- ``decide()`` *arms* numbering for its transaction (a transaction-local
  setting, ``runtime_registry.next_event_id``; empty outside one);
- ``events.id`` has a default, ``next_event_id()``: an SQL expression the
  planner inlines into each ``INSERT`` (no function call per event, no
  trigger), ``NULL`` outside ``decide()``. The first event the batch inserts
  takes the sequencing lock (after the ``turns`` counter row, which every
  decision that writes holds already: 0184's lock order), numbers what other
  transactions committed without an id (the pass of 0230, so those keep ids
  below the batch's, in ``seq`` order); every event of the batch takes the
  next id, and a trigger gives each transcript entry its event's id;
- a pass inside the batch (0184's ``ctl_queued_id``, a queued input starting
  from a turn's end) numbers what was committed since with the batch's next
  ids (``sequence_events`` sees the setting);
- ``decide()`` moves the event counter once, past the last id, notifies the
  new watermark and returns every event numbered in the transaction.

What readers rely on is unchanged: ids are given only under the sequencing
lock, which is held to the commit of the transaction that gave them, and
become visible with that commit, all at once — so they appear in increasing
order, without gaps, and a reader never later finds an id below one it has
passed (decisions 0132, 0230). Every other writer (turn control's functions,
the replica's own transactions) still inserts without an id and is numbered
by a pass after its commit; outside ``decide()`` the default is ``NULL`` and
the entries' trigger does not fire (its ``WHEN`` condition is false).

A batch of refusals only writes no event: it takes no lock, as before.
"""

from __future__ import annotations

__all__ = ["V7"]

V7 = r"""
-- What a pass numbers: every committed event without an id (and any of this transaction's),
-- in seq order, after p_last; their transcript entries the same id. How many.
CREATE FUNCTION number_pending(p_last bigint) RETURNS bigint
LANGUAGE sql SET search_path FROM CURRENT AS $fn$
    WITH pending AS (
        SELECT seq, row_number() OVER (ORDER BY seq) AS n FROM events WHERE id IS NULL
    ), numbered AS (
        UPDATE events e SET id = p_last + p.n FROM pending p WHERE e.seq = p.seq RETURNING e.seq, e.id
    ), entry AS (
        UPDATE entries en SET event_id = nb.id FROM numbered nb WHERE en.event_seq = nb.seq
    )
    SELECT count(*) FROM numbered;
$fn$;

-- A decide() transaction writes its first event: the locks (the turns counter, held already by
-- every decision that writes; then the sequencing lock, to the commit), what others left without
-- an id is numbered first, and the id the batch's first event takes.
CREATE FUNCTION numbering_begin() RETURNS bigint
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    v_last bigint;
BEGIN
    PERFORM 1 FROM counters WHERE name = 'turns' FOR UPDATE;
    PERFORM pg_advisory_xact_lock(hashtext('runtime-registry sequencing'), hashtext(current_schema()));
    SELECT value INTO v_last FROM counters WHERE name = 'event_id';
    PERFORM set_config('runtime_registry.numbered_after', v_last::text, true);
    RETURN v_last + number_pending(v_last) + 1;
END
$fn$;

-- Inside decide(): an event takes the next id as it is inserted: the column's default, an SQL
-- expression the planner inlines into each INSERT (no function call, no trigger), NULL outside.
CREATE FUNCTION next_event_id() RETURNS bigint
LANGUAGE sql VOLATILE AS $fn$
    SELECT CASE coalesce(current_setting('runtime_registry.next_event_id', true), '')
        WHEN '' THEN NULL
        WHEN 'armed' THEN set_config('runtime_registry.next_event_id', (numbering_begin() + 1)::text, true)::bigint - 1
        ELSE set_config('runtime_registry.next_event_id',
            (current_setting('runtime_registry.next_event_id')::bigint + 1)::text, true)::bigint - 1
    END
$fn$;
ALTER TABLE events ALTER COLUMN id SET DEFAULT next_event_id();

-- Inside decide(): a transcript entry takes its event's id (inserted just before, in this transaction).
CREATE FUNCTION entries_take_id() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
BEGIN
    NEW.event_id := (SELECT e.id FROM events e WHERE e.seq = NEW.event_seq);
    RETURN NEW;
END
$fn$;
CREATE TRIGGER entries_take_id BEFORE INSERT ON entries FOR EACH ROW
    WHEN (NEW.event_id IS NULL AND coalesce(current_setting('runtime_registry.next_event_id', true), '') <> '')
    EXECUTE FUNCTION entries_take_id();

-- The sequencing pass (version 4's), on number_pending(); inside decide() it numbers with the
-- batch's next ids, and decide() moves the counter and notifies at its end.
CREATE OR REPLACE FUNCTION sequence_events(p_channel text) RETURNS bigint
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    v_next text := coalesce(current_setting('runtime_registry.next_event_id', true), '');
    v_last bigint;
    v_count bigint;
BEGIN
    IF v_next = 'armed' THEN
        PERFORM set_config('runtime_registry.next_event_id', numbering_begin()::text, true);
        RETURN NULL;
    ELSIF v_next <> '' THEN
        v_last := v_next::bigint - 1;
        PERFORM set_config('runtime_registry.next_event_id', (v_last + number_pending(v_last) + 1)::text, true);
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('runtime-registry sequencing'), hashtext(current_schema()));
    SELECT value INTO v_last FROM counters WHERE name = 'event_id';
    v_count := number_pending(v_last);
    IF v_count = 0 THEN
        RETURN NULL;
    END IF;
    UPDATE counters SET value = v_last + v_count WHERE name = 'event_id';
    -- Delivered at the commit, with the new watermark: replicas that are
    -- already there need not read.
    PERFORM pg_notify(p_channel, 'e' || (v_last + v_count));
    RETURN v_last + v_count;
END
$fn$;

-- decide() (version 6's), its events numbered as they are written.
CREATE OR REPLACE FUNCTION decide(
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
    v_accept record;
    v_complete record;
    v_next text;
    v_after bigint;
BEGIN
    -- Numbering armed: the batch's first event takes the sequencing lock (under the turns
    -- counter, which every decision that writes takes first: decision 0184's lock order).
    PERFORM set_config('runtime_registry.next_event_id', 'armed', true);
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
        RETURN NEXT;
    END LOOP;
    PERFORM set_config('synchronous_commit', v_sync, true);
    v_next := current_setting('runtime_registry.next_event_id');
    PERFORM set_config('runtime_registry.next_event_id', '', true);
    IF v_next = 'armed' THEN
        -- Refusals only: nothing written, no lock taken.
        RETURN;
    END IF;
    v_after := current_setting('runtime_registry.numbered_after')::bigint;
    -- Everything numbered in this transaction: the batch's events, and those other transactions
    -- committed without an id (numbered first, or by a pass inside the batch).
    r_call := NULL; r_outcome := NULL; r_seqs := NULL; r_place := NULL; r_started := NULL;
    w_serial := NULL; w_worker_id := NULL; w_label := NULL; w_intent := NULL; w_profile := NULL;
    w_created_at := NULL; w_status := NULL; w_turn_number := NULL; w_entries := NULL; w_tools := NULL;
    w_owner := NULL; w_turns := NULL; w_input_tokens := NULL; w_output_tokens := NULL;
    RETURN QUERY
        SELECT NULL::integer, NULL::text, NULL::bigint[], NULL::integer, NULL::jsonb,
               NULL::bigint, NULL::text, NULL::text, NULL::jsonb, NULL::text,
               NULL::timestamptz, NULL::text, NULL::integer, NULL::integer, NULL::jsonb, NULL::text,
               NULL::bigint, NULL::bigint, NULL::bigint,
               ev.seq, ev.id, ev.type, ev.worker_id, ev.data::text, ev.created_at, en.role, en.content
        FROM events ev LEFT JOIN entries en ON en.event_id = ev.id
        WHERE ev.id > v_after AND ev.id < v_next::bigint;
    IF v_next::bigint > v_after + 1 THEN
        UPDATE counters SET value = v_next::bigint - 1 WHERE name = 'event_id';
        PERFORM pg_notify(p_channel, 'e' || (v_next::bigint - 1));
    END IF;
END
$fn$;
"""
