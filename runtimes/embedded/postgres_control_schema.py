"""Schema version 5 of the PostgreSQL store: turn control decided in the database (decision 0184).

What memory and SQLite decide in one process's memory (``if_busy``
``enqueue`` and ``interrupt``, ``max_queued_inputs``, ``max_concurrent_turns``;
decisions 0190, 0191) is decided here by server-side functions, each one
transaction, so every replica sees one queue and one count:

- ``waiting_inputs`` — every input that waits: behind its worker's turn
  (``reason = 'busy'``, that worker's queue) or for a turn slot
  (``reason = 'admission'``, one line across workers, at most one row per
  worker). ``place`` orders both (a sequence: first come, first served);
  ``per_turn`` is the entries its turn adds (from the worker's profile, read
  when it was taken), so a turn's end can check room for *another* worker's
  input without knowing profiles;
- ``workers.waiting`` — the worker is claimed (``busy``) by an input waiting
  for a slot and runs no turn: it has no ``owner``, so no replica's lease
  covers it and ``replica_lost`` never touches it;
- ``counters.turns`` — the turns running in the whole runtime, on every
  replica. It moves in the transaction that starts or ends a turn.

**Lock order.** Every function that starts or ends a turn locks the
``turns`` counter row *before* any worker row, so two decisions that both
lock a worker and the counter (a turn's end handing its slot to another
worker, a stop, an accept) never wait on each other in a cycle. A ``reject``
input to a busy worker is refused without the counter: the hot path stays
one read for a refusal.

**Who runs a turn started from a waiting input:** the replica whose decision
started it (the one that ended the turn before it, cancelled it, or took a
lost replica's turn as ended). The functions answer such turns in
``started`` (JSON), and that replica runs them; no replica has to be told.

A started queued input's ``worker.input_accepted`` names its
``worker.input_queued`` event by *id*; ids are given after commit (decision
0230), so if that event is not numbered yet, the function runs the
sequencing pass first, in its own transaction, which then commits with the
server's ``synchronous_commit`` (``ctl_queued_id``).
"""

from __future__ import annotations

__all__ = ["V5"]

V5 = r"""
ALTER TABLE workers ADD COLUMN waiting boolean NOT NULL DEFAULT false;
ALTER TABLE workers DROP CONSTRAINT workers_check;
ALTER TABLE workers ADD CONSTRAINT workers_owner CHECK ((status = 'busy' AND NOT waiting) = (owner IS NOT NULL));
INSERT INTO counters (name, value) SELECT 'turns', count(*) FROM workers WHERE status = 'busy';
CREATE SEQUENCE waiting_order;
CREATE TABLE waiting_inputs (
    place bigint PRIMARY KEY DEFAULT nextval('waiting_order'),
    serial bigint NOT NULL REFERENCES workers (serial) ON DELETE CASCADE,
    reason text NOT NULL CHECK (reason IN ('busy', 'admission')),
    role text NOT NULL,
    content text NOT NULL,
    per_turn integer NOT NULL,
    event_seq bigint NOT NULL
);
ALTER SEQUENCE waiting_order OWNED BY waiting_inputs.place;
CREATE INDEX waiting_queue ON waiting_inputs (serial, place) WHERE reason = 'busy';
CREATE INDEX waiting_line ON waiting_inputs (place) WHERE reason = 'admission';
CREATE UNIQUE INDEX waiting_once ON waiting_inputs (serial) WHERE reason = 'admission';

-- One event, inserted with its seq only (numbered after commit, decision 0230).
CREATE FUNCTION ctl_event(p_type text, p_worker text, p_data jsonb) RETURNS bigint
LANGUAGE sql SET search_path FROM CURRENT AS $fn$
    INSERT INTO events (type, worker_id, created_at, data) VALUES (p_type, p_worker, clock_timestamp(), p_data)
    RETURNING seq;
$fn$;

-- The id of a worker.input_queued event (by its seq): numbered by a pass if it is not yet. The
-- transaction then commits with the server's synchronous_commit: callers of own_events take
-- the pass's ids as durable.
CREATE FUNCTION ctl_queued_id(p_seq bigint, p_channel text) RETURNS bigint
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    v_id bigint;
BEGIN
    SELECT e.id INTO v_id FROM events e WHERE e.seq = p_seq;
    IF v_id IS NULL THEN
        PERFORM set_config('synchronous_commit', (SELECT s.reset_val FROM pg_settings s WHERE s.name = 'synchronous_commit'), true);
        PERFORM sequence_events(p_channel);
        SELECT e.id INTO v_id FROM events e WHERE e.seq = p_seq;
    END IF;
    RETURN v_id;
END
$fn$;

-- An input's turn starts (a slot is free): the entry, worker.input_accepted (with queued_event_id
-- for an input that waited) and worker.turn_started; the turn counts in counters.turns. With
-- p_report, the turn is added to `started` for the deciding replica to run.
CREATE FUNCTION ctl_start(
    p_serial bigint, p_owner text, p_role text, p_content text, p_queued_id bigint, p_report boolean,
    INOUT seqs bigint[], INOUT started jsonb, OUT turn integer, OUT sequence integer, OUT first_seq bigint
)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    r workers%ROWTYPE;
    v_data jsonb;
BEGIN
    UPDATE workers w SET status = 'busy', waiting = false, owner = p_owner,
        turn_number = w.turn_number + 1, entries = w.entries + 1
    WHERE w.serial = p_serial RETURNING w.* INTO r;
    UPDATE counters SET value = value + 1 WHERE name = 'turns';
    v_data := jsonb_build_object('transcript_sequence', r.entries, 'role', p_role, 'content', p_content);
    IF p_queued_id IS NOT NULL THEN
        v_data := v_data || jsonb_build_object('queued_event_id', p_queued_id);
    END IF;
    first_seq := ctl_event('worker.input_accepted', r.worker_id, v_data);
    seqs := seqs || first_seq || ctl_event('worker.turn_started', r.worker_id, jsonb_build_object('turn', r.turn_number));
    INSERT INTO entries (serial, sequence, role, content, event_seq, created_at)
    VALUES (r.serial, r.entries, p_role, p_content, first_seq, clock_timestamp());
    IF p_report THEN
        started := started || jsonb_build_array(jsonb_build_object(
            'worker_id', r.worker_id, 'turn', r.turn_number, 'sequence', r.entries,
            'role', p_role, 'content', p_content, 'seq', first_seq));
    END IF;
    turn := r.turn_number;
    sequence := r.entries;
END
$fn$;

-- A new input for an idle worker (already checked): its turn starts if a slot is free, else the
-- worker is claimed and the input waits in the admission line (worker.input_queued, reason admission).
CREATE FUNCTION ctl_begin(
    p_serial bigint, p_worker text, p_owner text, p_role text, p_content text, p_per_turn integer,
    p_max_turns integer, INOUT seqs bigint[], OUT turn integer, OUT sequence integer, OUT place integer,
    OUT main_seq bigint
)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    v_started jsonb := '[]';
BEGIN
    IF (SELECT value FROM counters WHERE name = 'turns') < p_max_turns THEN
        SELECT s.seqs, s.turn, s.sequence, s.first_seq INTO seqs, turn, sequence, main_seq
        FROM ctl_start(p_serial, p_owner, p_role, p_content, NULL, false, seqs, v_started) s;
        RETURN;
    END IF;
    UPDATE workers SET status = 'busy', waiting = true, owner = NULL WHERE serial = p_serial;
    place := (SELECT count(*) FROM waiting_inputs WHERE reason = 'admission') + 1;
    main_seq := ctl_event('worker.input_queued', p_worker, jsonb_build_object(
        'queue_position', place, 'reason', 'admission', 'role', p_role, 'content', p_content));
    seqs := seqs || main_seq;
    INSERT INTO waiting_inputs (serial, reason, role, content, per_turn, event_seq)
    VALUES (p_serial, 'admission', p_role, p_content, p_per_turn, main_seq);
END
$fn$;

-- worker.input_dropped for the waiting input whose queued event has seq p_seq.
CREATE FUNCTION ctl_drop(p_worker text, p_seq bigint, p_reason text, p_channel text, INOUT seqs bigint[])
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
BEGIN
    seqs := seqs || ctl_event('worker.input_dropped', p_worker, jsonb_build_object(
        'queued_event_id', ctl_queued_id(p_seq, p_channel), 'reason', p_reason));
END
$fn$;

-- Every input queued behind the worker's turn is dropped, oldest first, one event each.
CREATE FUNCTION ctl_drop_queue(p_serial bigint, p_worker text, p_reason text, p_channel text, INOUT seqs bigint[])
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    q waiting_inputs%ROWTYPE;
BEGIN
    FOR q IN SELECT * FROM waiting_inputs WHERE serial = p_serial AND reason = 'busy' ORDER BY place LOOP
        DELETE FROM waiting_inputs WHERE place = q.place;
        SELECT d.seqs INTO seqs FROM ctl_drop(p_worker, q.event_seq, p_reason, p_channel, seqs) d;
    END LOOP;
END
$fn$;

-- The worker's own queue after its turn ended (it is idle): the next input starts if a slot is
-- free, or waits for one at the admission line's tail (no new event: it was announced when
-- queued); one that no longer fits is dropped (capacity) and the next is tried.
CREATE FUNCTION ctl_queue_next(
    p_serial bigint, p_owner text, p_max_entries integer, p_max_turns integer, p_channel text,
    INOUT seqs bigint[], INOUT started jsonb
)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    r workers%ROWTYPE;
    q waiting_inputs%ROWTYPE;
BEGIN
    SELECT w.* INTO r FROM workers w WHERE w.serial = p_serial;
    IF NOT FOUND OR r.status <> 'idle' THEN
        RETURN;
    END IF;
    LOOP
        SELECT * INTO q FROM waiting_inputs WHERE serial = p_serial AND reason = 'busy' ORDER BY place LIMIT 1;
        EXIT WHEN NOT FOUND;
        IF r.entries + q.per_turn > p_max_entries THEN
            DELETE FROM waiting_inputs WHERE place = q.place;
            SELECT d.seqs INTO seqs FROM ctl_drop(r.worker_id, q.event_seq, 'capacity', p_channel, seqs) d;
            CONTINUE;
        END IF;
        IF (SELECT value FROM counters WHERE name = 'turns') < p_max_turns THEN
            DELETE FROM waiting_inputs WHERE place = q.place;
            SELECT s.seqs, s.started INTO seqs, started
            FROM ctl_start(p_serial, p_owner, q.role, q.content, ctl_queued_id(q.event_seq, p_channel), true, seqs, started) s;
        ELSE
            UPDATE waiting_inputs SET reason = 'admission', place = nextval('waiting_order') WHERE place = q.place;
            UPDATE workers SET status = 'busy', waiting = true, owner = NULL WHERE serial = p_serial;
        END IF;
        EXIT;
    END LOOP;
END
$fn$;

-- A turn ended or a worker left the line: free slots go to the admission line, oldest first; then
-- the ended worker's (p_serial, if any) own queue. The caller holds the turns counter's lock.
CREATE FUNCTION ctl_after(
    p_serial bigint, p_owner text, p_max_entries integer, p_max_turns integer, p_channel text,
    INOUT seqs bigint[], INOUT started jsonb
)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    r workers%ROWTYPE;
    q waiting_inputs%ROWTYPE;
BEGIN
    -- Nothing waits anywhere (the usual case): one probe of an empty table.
    IF NOT EXISTS (SELECT 1 FROM waiting_inputs) THEN
        RETURN;
    END IF;
    LOOP
        EXIT WHEN (SELECT value FROM counters WHERE name = 'turns') >= p_max_turns;
        SELECT * INTO q FROM waiting_inputs WHERE reason = 'admission' ORDER BY place LIMIT 1;
        EXIT WHEN NOT FOUND;
        DELETE FROM waiting_inputs WHERE place = q.place;
        SELECT w.* INTO r FROM workers w WHERE w.serial = q.serial FOR UPDATE;
        IF r.entries + q.per_turn > p_max_entries THEN
            -- It no longer fits: dropped; the worker is idle and its own queue is tried.
            UPDATE workers SET status = 'idle', waiting = false WHERE serial = q.serial;
            SELECT d.seqs INTO seqs FROM ctl_drop(r.worker_id, q.event_seq, 'capacity', p_channel, seqs) d;
            SELECT a.seqs, a.started INTO seqs, started
            FROM ctl_after(q.serial, p_owner, p_max_entries, p_max_turns, p_channel, seqs, started) a;
        ELSE
            SELECT s.seqs, s.started INTO seqs, started
            FROM ctl_start(q.serial, p_owner, q.role, q.content, ctl_queued_id(q.event_seq, p_channel), true, seqs, started) s;
        END IF;
    END LOOP;
    IF p_serial IS NOT NULL THEN
        SELECT n.seqs, n.started INTO seqs, started
        FROM ctl_queue_next(p_serial, p_owner, p_max_entries, p_max_turns, p_channel, seqs, started) n;
    END IF;
END
$fn$;

-- The worker's turn ends (worker.turn_cancelled with p_reason), or the input it waits for a slot
-- with is dropped (p_reason); idle. Whether there was either.
CREATE FUNCTION ctl_cancel(p_serial bigint, p_reason text, p_channel text, INOUT seqs bigint[], OUT changed boolean)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    r workers%ROWTYPE;
    q waiting_inputs%ROWTYPE;
BEGIN
    SELECT w.* INTO r FROM workers w WHERE w.serial = p_serial;
    changed := r.status = 'busy';
    IF r.waiting THEN
        DELETE FROM waiting_inputs WHERE serial = p_serial AND reason = 'admission' RETURNING * INTO q;
        UPDATE workers SET status = 'idle', waiting = false WHERE serial = p_serial;
        IF q.place IS NOT NULL THEN
            SELECT d.seqs INTO seqs FROM ctl_drop(r.worker_id, q.event_seq, p_reason, p_channel, seqs) d;
        END IF;
    ELSIF r.status = 'busy' THEN
        UPDATE workers SET status = 'idle', owner = NULL, turns = turns + 1 WHERE serial = p_serial;
        UPDATE counters SET value = value - 1 WHERE name = 'turns';
        seqs := seqs || ctl_event('worker.turn_cancelled', r.worker_id,
            jsonb_build_object('turn', r.turn_number, 'reason', p_reason));
    END IF;
END
$fn$;

-- The busy rule with admission (replaces version 4's): a refusal is one read without any lock;
-- an idle worker's input takes the turns counter's lock first (the lock order), then either
-- starts its turn (a slot is free) or claims the worker and waits in the admission line.
DROP FUNCTION accept_input(text, text, text, text, integer, integer);
CREATE FUNCTION accept_input(
    p_worker text, p_owner text, p_role text, p_content text, p_max integer, p_per_turn integer, p_max_turns integer,
    OUT outcome text, OUT w_serial bigint, OUT w_worker_id text, OUT w_label text, OUT w_intent jsonb,
    OUT w_profile text, OUT w_created_at timestamptz, OUT w_status text, OUT w_turn_number integer,
    OUT w_entries integer, OUT w_tools jsonb, OUT w_owner text, OUT w_turns bigint,
    OUT w_input_tokens bigint, OUT w_output_tokens bigint, OUT seqs bigint[], OUT place integer
)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    r workers%ROWTYPE;
    v_running bigint;
    v_now timestamptz;
    v_first bigint;
    v_second bigint;
BEGIN
    -- As version 4: durable once a sequencing pass numbered its events (decision 0230).
    PERFORM set_config('synchronous_commit', 'off', true);
    IF NOT EXISTS (SELECT 1 FROM replicas rp WHERE rp.replica_id = p_owner AND rp.expires_at > clock_timestamp()) THEN
        outcome := 'lapsed';
        RETURN;
    END IF;
    LOOP
        SELECT w.* INTO r FROM workers w WHERE w.worker_id = p_worker;
        IF NOT FOUND THEN
            outcome := 'unknown';
            RETURN;
        ELSIF r.status = 'stopped' THEN
            outcome := 'stopped';
            RETURN;
        ELSIF r.status = 'busy' THEN
            outcome := 'busy';
            RETURN;
        ELSIF r.entries + p_per_turn > p_max THEN
            outcome := 'full';
            RETURN;
        END IF;
        SELECT value INTO v_running FROM counters WHERE name = 'turns' FOR UPDATE;
        IF v_running < p_max_turns THEN
            UPDATE workers w SET status = 'busy', owner = p_owner, turn_number = w.turn_number + 1, entries = w.entries + 1
            WHERE w.serial = r.serial AND w.status = 'idle' AND w.entries + p_per_turn <= p_max
            RETURNING w.* INTO r;
            IF FOUND THEN
                UPDATE counters SET value = value + 1 WHERE name = 'turns';
                EXIT;
            END IF;
        ELSE
            UPDATE workers w SET status = 'busy', waiting = true
            WHERE w.serial = r.serial AND w.status = 'idle' AND w.entries + p_per_turn <= p_max
            RETURNING w.* INTO r;
            IF FOUND THEN
                place := (SELECT count(*) FROM waiting_inputs WHERE reason = 'admission') + 1;
                v_first := ctl_event('worker.input_queued', p_worker, jsonb_build_object(
                    'queue_position', place, 'reason', 'admission', 'role', p_role, 'content', p_content));
                INSERT INTO waiting_inputs (serial, reason, role, content, per_turn, event_seq)
                VALUES (r.serial, 'admission', p_role, p_content, p_per_turn, v_first);
                outcome := 'queued';
                seqs := ARRAY[v_first];
                EXIT;
            END IF;
        END IF;
        -- The worker changed between the read and the update: read it again.
    END LOOP;
    IF outcome IS NULL THEN
        v_now := clock_timestamp();
        INSERT INTO events (type, worker_id, created_at, data)
        VALUES ('worker.input_accepted', p_worker, v_now,
                jsonb_build_object('transcript_sequence', r.entries, 'role', p_role, 'content', p_content))
        RETURNING events.seq INTO v_first;
        INSERT INTO events (type, worker_id, created_at, data)
        VALUES ('worker.turn_started', p_worker, v_now, jsonb_build_object('turn', r.turn_number))
        RETURNING events.seq INTO v_second;
        INSERT INTO entries (serial, sequence, role, content, event_seq, created_at)
        VALUES (r.serial, r.entries, p_role, p_content, v_first, v_now);
        outcome := 'accepted';
        seqs := ARRAY[v_first, v_second];
    END IF;
    w_serial := r.serial; w_worker_id := r.worker_id; w_label := r.label; w_intent := r.intent;
    w_profile := r.profile; w_created_at := r.created_at; w_status := r.status;
    w_turn_number := r.turn_number; w_entries := r.entries; w_tools := r.tools; w_owner := r.owner;
    w_turns := r.turns; w_input_tokens := r.input_tokens; w_output_tokens := r.output_tokens;
END
$fn$;

-- A turn's end (replaces version 4's): as before, then its slot is handed out (ctl_after).
DROP FUNCTION complete_turn(text, text, integer, text, integer, jsonb, text, bigint, bigint);
CREATE FUNCTION complete_turn(
    p_worker text, p_owner text, p_turn integer, p_reply text, p_max integer, p_completed jsonb,
    p_full_message text, p_input_tokens bigint, p_output_tokens bigint, p_max_turns integer, p_channel text,
    OUT outcome text, OUT seqs bigint[], OUT started jsonb
)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    r workers%ROWTYPE;
    v_now timestamptz;
    v_seq bigint;
    v_added integer := 0;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    started := '[]';
    -- The lock order: the turns counter, then the worker.
    PERFORM 1 FROM counters WHERE name = 'turns' FOR UPDATE;
    SELECT w.* INTO r FROM workers w
    WHERE w.worker_id = p_worker AND w.status = 'busy' AND w.owner = p_owner AND w.turn_number = p_turn FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'lost';
        RETURN;
    END IF;
    v_now := clock_timestamp();
    seqs := ARRAY[]::bigint[];
    outcome := 'completed';
    IF coalesce(p_reply, '') <> '' THEN
        IF r.entries >= p_max THEN
            INSERT INTO events (type, worker_id, created_at, data)
            VALUES ('worker.turn_failed', p_worker, v_now,
                    jsonb_build_object('turn', p_turn, 'code', 'transcript_full', 'message', p_full_message))
            RETURNING events.seq INTO v_seq;
            seqs := seqs || v_seq;
            outcome := 'transcript_full';
        ELSE
            v_added := 1;
            INSERT INTO events (type, worker_id, created_at, data)
            VALUES ('worker.output', p_worker, v_now,
                    jsonb_build_object('transcript_sequence', r.entries + 1, 'role', 'assistant', 'content', p_reply))
            RETURNING events.seq INTO v_seq;
            seqs := seqs || v_seq;
            INSERT INTO entries (serial, sequence, role, content, event_seq, created_at)
            VALUES (r.serial, r.entries + 1, 'assistant', p_reply, v_seq, v_now);
        END IF;
    END IF;
    IF outcome = 'completed' THEN
        INSERT INTO events (type, worker_id, created_at, data)
        VALUES ('worker.turn_completed', p_worker, v_now, jsonb_build_object('turn', p_turn) || p_completed)
        RETURNING events.seq INTO v_seq;
        seqs := seqs || v_seq;
    END IF;
    UPDATE workers SET status = 'idle', owner = NULL, entries = entries + v_added, turns = turns + 1,
        input_tokens = input_tokens + CASE WHEN outcome = 'completed' THEN p_input_tokens ELSE 0 END,
        output_tokens = output_tokens + CASE WHEN outcome = 'completed' THEN p_output_tokens ELSE 0 END
    WHERE serial = r.serial;
    UPDATE counters SET value = value - 1 WHERE name = 'turns';
    SELECT a.seqs, a.started INTO seqs, started FROM ctl_after(r.serial, p_owner, p_max, p_max_turns, p_channel, seqs, started) a;
END
$fn$;

-- A turn this replica runs fails: worker.turn_failed, idle, its slot handed out.
CREATE FUNCTION fail_turn(
    p_worker text, p_owner text, p_turn integer, p_data jsonb, p_max integer, p_max_turns integer, p_channel text,
    OUT outcome text, OUT seqs bigint[], OUT started jsonb
)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    r workers%ROWTYPE;
BEGIN
    started := '[]';
    PERFORM 1 FROM counters WHERE name = 'turns' FOR UPDATE;
    SELECT w.* INTO r FROM workers w
    WHERE w.worker_id = p_worker AND w.status = 'busy' AND w.owner = p_owner AND w.turn_number = p_turn FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'lost';
        RETURN;
    END IF;
    UPDATE workers SET status = 'idle', owner = NULL, turns = turns + 1 WHERE serial = r.serial;
    UPDATE counters SET value = value - 1 WHERE name = 'turns';
    seqs := ARRAY[ctl_event('worker.turn_failed', p_worker, p_data)];
    outcome := 'failed';
    SELECT a.seqs, a.started INTO seqs, started FROM ctl_after(r.serial, p_owner, p_max, p_max_turns, p_channel, seqs, started) a;
END
$fn$;

-- if_busy "enqueue": as accept_input while the worker is idle; while it is busy (in a turn, or
-- waiting for a slot), worker.input_queued and a place in its queue, up to p_max_queued.
CREATE FUNCTION enqueue_input(
    p_worker text, p_owner text, p_role text, p_content text, p_max integer, p_per_turn integer,
    p_max_turns integer, p_max_queued integer,
    OUT outcome text, OUT turn integer, OUT sequence integer, OUT place integer, OUT waiting integer,
    OUT seqs bigint[], OUT main_seq bigint
)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    r workers%ROWTYPE;
BEGIN
    seqs := ARRAY[]::bigint[];
    IF NOT EXISTS (SELECT 1 FROM replicas rp WHERE rp.replica_id = p_owner AND rp.expires_at > clock_timestamp()) THEN
        outcome := 'lapsed';
        RETURN;
    END IF;
    PERFORM 1 FROM counters WHERE name = 'turns' FOR UPDATE;
    SELECT w.* INTO r FROM workers w WHERE w.worker_id = p_worker FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'unknown';
        RETURN;
    ELSIF r.status = 'stopped' THEN
        outcome := 'stopped';
        RETURN;
    ELSIF r.status = 'idle' THEN
        IF r.entries + p_per_turn > p_max THEN
            outcome := 'full';
            RETURN;
        END IF;
        SELECT b.seqs, b.turn, b.sequence, b.place, b.main_seq INTO seqs, turn, sequence, place, main_seq
        FROM ctl_begin(r.serial, p_worker, p_owner, p_role, p_content, p_per_turn, p_max_turns, seqs) b;
        outcome := CASE WHEN place IS NULL THEN 'accepted' ELSE 'queued' END;
        RETURN;
    END IF;
    waiting := (SELECT count(*) FROM waiting_inputs WHERE serial = r.serial AND reason = 'busy');
    IF waiting >= p_max_queued THEN
        outcome := 'queue_full';
        RETURN;
    END IF;
    -- Room in the transcript for this input's turn and those ahead of it (checked again when it starts).
    IF p_max - r.entries < p_per_turn * (waiting + 2) THEN
        outcome := 'full';
        RETURN;
    END IF;
    place := waiting + 1;
    main_seq := ctl_event('worker.input_queued', p_worker, jsonb_build_object(
        'queue_position', place, 'reason', 'busy', 'role', p_role, 'content', p_content));
    seqs := ARRAY[main_seq];
    INSERT INTO waiting_inputs (serial, reason, role, content, per_turn, event_seq)
    VALUES (r.serial, 'busy', p_role, p_content, p_per_turn, main_seq);
    outcome := 'queued';
END
$fn$;

-- if_busy "interrupt": the running turn ends (worker.turn_cancelled, reason interrupt) and this
-- input's turn starts with its slot; a worker waiting for a slot has its input replaced in place;
-- an idle one takes it as accept_input does. Inputs queued behind stay queued.
CREATE FUNCTION interrupt_input(
    p_worker text, p_owner text, p_role text, p_content text, p_max integer, p_per_turn integer,
    p_max_turns integer, p_channel text,
    OUT outcome text, OUT turn integer, OUT sequence integer, OUT place integer, OUT prior_owner text,
    OUT seqs bigint[], OUT main_seq bigint
)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    r workers%ROWTYPE;
    q waiting_inputs%ROWTYPE;
    v_started jsonb := '[]';
    v_changed boolean;
BEGIN
    seqs := ARRAY[]::bigint[];
    IF NOT EXISTS (SELECT 1 FROM replicas rp WHERE rp.replica_id = p_owner AND rp.expires_at > clock_timestamp()) THEN
        outcome := 'lapsed';
        RETURN;
    END IF;
    PERFORM 1 FROM counters WHERE name = 'turns' FOR UPDATE;
    SELECT w.* INTO r FROM workers w WHERE w.worker_id = p_worker FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'unknown';
        RETURN;
    ELSIF r.status = 'stopped' THEN
        outcome := 'stopped';
        RETURN;
    ELSIF r.entries + p_per_turn > p_max THEN
        outcome := 'full';
        RETURN;
    END IF;
    prior_owner := r.owner;
    IF r.waiting THEN
        SELECT * INTO q FROM waiting_inputs WHERE serial = r.serial AND reason = 'admission' FOR UPDATE;
        SELECT d.seqs INTO seqs FROM ctl_drop(p_worker, q.event_seq, 'interrupt', p_channel, seqs) d;
        place := (SELECT count(*) FROM waiting_inputs WHERE reason = 'admission' AND waiting_inputs.place <= q.place);
        main_seq := ctl_event('worker.input_queued', p_worker, jsonb_build_object(
            'queue_position', place, 'reason', 'admission', 'role', p_role, 'content', p_content));
        seqs := seqs || main_seq;
        UPDATE waiting_inputs SET role = p_role, content = p_content, per_turn = p_per_turn, event_seq = main_seq
        WHERE waiting_inputs.place = q.place;
        outcome := 'queued';
    ELSIF r.status = 'busy' THEN
        SELECT c.seqs, c.changed INTO seqs, v_changed FROM ctl_cancel(r.serial, 'interrupt', p_channel, seqs) c;
        SELECT s.seqs, s.turn, s.sequence, s.first_seq INTO seqs, turn, sequence, main_seq
        FROM ctl_start(r.serial, p_owner, p_role, p_content, NULL, false, seqs, v_started) s;
        outcome := 'accepted';
    ELSE
        SELECT b.seqs, b.turn, b.sequence, b.place, b.main_seq INTO seqs, turn, sequence, place, main_seq
        FROM ctl_begin(r.serial, p_worker, p_owner, p_role, p_content, p_per_turn, p_max_turns, seqs) b;
        outcome := CASE WHEN place IS NULL THEN 'accepted' ELSE 'queued' END;
    END IF;
END
$fn$;

-- Cancel (p_keep: the inputs queued behind stay, and the next starts), stop (p_stop) or delete
-- (p_delete) a worker, wherever its turn runs; the freed slot is handed out.
CREATE FUNCTION end_worker(
    p_worker text, p_owner text, p_reason text, p_keep boolean, p_stop boolean, p_delete boolean,
    p_stopped_data jsonb, p_max integer, p_max_turns integer, p_channel text,
    OUT outcome text, OUT changed boolean, OUT prior_owner text, OUT turn integer, OUT seqs bigint[],
    OUT started jsonb
)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    r workers%ROWTYPE;
BEGIN
    seqs := ARRAY[]::bigint[];
    started := '[]';
    PERFORM 1 FROM counters WHERE name = 'turns' FOR UPDATE;
    SELECT w.* INTO r FROM workers w WHERE w.worker_id = p_worker FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'unknown';
        RETURN;
    END IF;
    prior_owner := r.owner;
    turn := r.turn_number;
    outcome := 'done';
    IF r.status = 'stopped' THEN
        changed := false;
        IF NOT p_stop AND NOT p_delete THEN
            outcome := 'stopped';
            RETURN;
        END IF;
    ELSE
        SELECT c.seqs, c.changed INTO seqs, changed FROM ctl_cancel(r.serial, p_reason, p_channel, seqs) c;
        IF p_keep THEN
            SELECT a.seqs, a.started INTO seqs, started FROM ctl_after(r.serial, p_owner, p_max, p_max_turns, p_channel, seqs, started) a;
            RETURN;
        END IF;
        SELECT d.seqs INTO seqs FROM ctl_drop_queue(r.serial, p_worker, p_reason, p_channel, seqs) d;
        IF p_stop OR p_delete THEN
            UPDATE workers SET status = 'stopped' WHERE serial = r.serial;
            seqs := seqs || ctl_event('worker.stopped', p_worker, p_stopped_data);
            changed := true;
        END IF;
        SELECT a.seqs, a.started INTO seqs, started FROM ctl_after(NULL, p_owner, p_max, p_max_turns, p_channel, seqs, started) a;
    END IF;
    IF p_delete THEN
        DELETE FROM workers WHERE serial = r.serial;
        UPDATE counters SET value = value - 1 WHERE name = 'workers';
        seqs := seqs || ctl_event('worker.deleted', p_worker, '{}'::jsonb);
    END IF;
END
$fn$;

-- The turns of replicas whose lease expired end (worker.turn_interrupted, replica_lost); each
-- slot is handed out, and each worker's queue goes on, run by the caller.
CREATE FUNCTION end_lost_turns(
    p_owner text, p_lease double precision, p_max integer, p_max_turns integer, p_channel text,
    OUT seqs bigint[], OUT started jsonb
)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    v_serials bigint[];
    v_serial bigint;
    r workers%ROWTYPE;
BEGIN
    seqs := ARRAY[]::bigint[];
    started := '[]';
    DELETE FROM replicas WHERE expires_at < clock_timestamp() - make_interval(secs => p_lease * 10);
    -- Cheap when nothing is lost: no lock.
    IF NOT EXISTS (SELECT 1 FROM workers w WHERE w.status = 'busy' AND NOT w.waiting AND NOT EXISTS
            (SELECT 1 FROM replicas rp WHERE rp.replica_id = w.owner AND rp.expires_at > clock_timestamp())) THEN
        RETURN;
    END IF;
    PERFORM 1 FROM counters WHERE name = 'turns' FOR UPDATE;
    SELECT array_agg(s.serial ORDER BY s.serial) INTO v_serials FROM (
        SELECT w.serial FROM workers w WHERE w.status = 'busy' AND NOT w.waiting AND NOT EXISTS
            (SELECT 1 FROM replicas rp WHERE rp.replica_id = w.owner AND rp.expires_at > clock_timestamp())
        ORDER BY w.serial FOR UPDATE SKIP LOCKED) s;
    IF v_serials IS NULL THEN
        RETURN;
    END IF;
    FOREACH v_serial IN ARRAY v_serials LOOP
        UPDATE workers SET status = 'idle', owner = NULL, turns = turns + 1 WHERE serial = v_serial RETURNING * INTO r;
        UPDATE counters SET value = value - 1 WHERE name = 'turns';
        seqs := seqs || ctl_event('worker.turn_interrupted', r.worker_id,
            jsonb_build_object('turn', r.turn_number, 'reason', 'replica_lost'));
        SELECT a.seqs, a.started INTO seqs, started FROM ctl_after(v_serial, p_owner, p_max, p_max_turns, p_channel, seqs, started) a;
    END LOOP;
END
$fn$;
"""
