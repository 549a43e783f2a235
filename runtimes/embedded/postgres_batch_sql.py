"""Schema version 8 of the PostgreSQL store: a batch decided by a few set-based statements (decision 0236).

Version 7's ``decide()`` ran version 5's ``accept_input``/``complete_turn``
once per decision: about 25 PL/pgSQL statements per send input (an accept
and a turn's end), each with its own executor set-up, all under the
``turns`` counter — ~0.3 ms of database time per input, which serialised
the runtime's send inputs (``pg_stat_statements``, ``perf``: flat, per
statement). Version 8 decides the usual batch with **one statement per kind
of decision**:

1. **one read, no lock**: every accept's worker (``unnest`` of the batch
   joined to ``workers``); an accept for an unknown, stopped, busy or full
   worker (or from a replica whose lease lapsed) is refused from that read,
   as ``accept_input`` refuses — a batch of refusals only takes no lock and
   writes nothing (0235);
2. the ``turns`` counter row ``FOR UPDATE`` (0184's lock order: the counter
   before any worker row). If any input waits (``waiting_inputs``: a queue
   or the admission line) or the batch's accepts could exceed
   ``max_concurrent_turns``, the batch is decided by version 7's function,
   renamed ``decide_each``, decision by decision — queues, admission and
   slots handed out stay 0184's code, step for step;
3. otherwise the batch's workers are locked in ``worker_id`` order (one
   statement), then **one** ``UPDATE workers … FROM unnest(…)`` ends every
   turn whose owner, status and turn number still match (the rest are
   ``lost``), with its events (``INSERT … SELECT … ORDER BY``), transcript
   entries and the counter, and **one** conditional ``UPDATE … WHERE status
   = 'idle' AND entries + per_turn <= max`` accepts the first input of each
   worker (the busy rule, decided in the database), with theirs. An accept
   that update did not take (its worker changed between the read and the
   lock, or a second input for the same worker in the batch) is decided by
   ``accept_input`` alone, as before.

Turn ends are decided before accepts, so an accept for a worker whose turn
ends in the same batch is accepted (as version 6's "a worker's turn end
before an accept for it"). Events take their ids as they are inserted
(0235's column default), in the order of the ``INSERT``'s ``ORDER BY`` (the
batch's order: turn ends, then accepts, each by its place in the call):
ids stay in commit order, gapless, under the sequencing lock to the commit.
Entries are inserted with their event's id (the entries trigger does not
fire). The answer has the same rows and columns as version 7's.
"""

from __future__ import annotations

__all__ = ["V8"]

V8 = r"""
ALTER FUNCTION decide(text, text, text, text[], text[], text[], text[], integer[], integer[], integer[], jsonb[],
    bigint[], bigint[], integer[]) RENAME TO decide_each;

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
LANGUAGE plpgsql SET search_path FROM CURRENT
-- A batch is a few rows of a large table: every join is a key lookup, driven by the batch (the
-- planner's default costs chose sequential scans of workers at a thousand rows), and each
-- statement is planned once per connection, not per call (plans of a few rows do not change).
SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off SET enable_mergejoin = off
SET plan_cache_mode = force_generic_plan
AS $fn$
DECLARE
    v_sync text := current_setting('synchronous_commit');
    v_lapsed boolean := false;
    v_locking boolean;
    v_refused integer[];
    v_verdicts text[];
    v_ends integer[];
    v_fast integer[];
    v_each integer[];
    v_done integer[] := ARRAY[]::integer[];
    v_slots integer;
    v_running bigint;
    v_now timestamptz;
    v_row record;
    v_accept record;
    v_i integer;
    v_next text;
    v_after bigint;
BEGIN
    IF 'a' = ANY (p_kind) THEN
        v_lapsed := NOT EXISTS (
            SELECT 1 FROM replicas rp WHERE rp.replica_id = p_owner AND rp.expires_at > clock_timestamp());
    END IF;
    -- One read without a lock: accepts refused as accept_input refuses them; the others are
    -- decided below (a worker whose turn ends in this batch may be idle by then).
    SELECT array_agg(c.i ORDER BY c.i) FILTER (WHERE c.verdict IS NOT NULL),
           array_agg(c.verdict ORDER BY c.i) FILTER (WHERE c.verdict IS NOT NULL),
           array_agg(c.i ORDER BY c.i) FILTER (WHERE c.kind <> 'a'),
           array_agg(c.i ORDER BY c.i) FILTER (WHERE c.kind = 'a' AND c.verdict IS NULL AND c.nth = 1),
           array_agg(c.i ORDER BY c.i) FILTER (WHERE c.kind = 'a' AND c.verdict IS NULL AND c.nth > 1),
           min(c.max_turns) FILTER (WHERE c.kind = 'a' AND c.verdict IS NULL)
    INTO v_refused, v_verdicts, v_ends, v_fast, v_each, v_slots
    FROM (
        SELECT c.i::integer AS i, c.kind, c.max_turns,
            row_number() OVER (PARTITION BY c.worker, c.kind = 'a' ORDER BY c.i) AS nth,
            CASE WHEN c.kind <> 'a' THEN NULL
                WHEN v_lapsed THEN 'lapsed'
                WHEN w.serial IS NULL THEN 'unknown'
                WHEN w.status = 'stopped' THEN 'stopped'
                WHEN bool_or(c.kind <> 'a') OVER (PARTITION BY c.worker) THEN NULL
                WHEN w.status = 'busy' THEN 'busy'
                WHEN w.entries + c.per_turn > c.mx THEN 'full'
            END AS verdict
        FROM unnest(p_kind, p_worker, p_max, p_per_turn, p_max_turns)
            WITH ORDINALITY AS c(kind, worker, mx, per_turn, max_turns, i)
        LEFT JOIN workers w ON w.worker_id = c.worker
    ) c;
    v_locking := v_ends IS NOT NULL OR v_fast IS NOT NULL OR v_each IS NOT NULL;
    IF v_locking THEN
        -- The lock order (decision 0184): the turns counter before any worker row.
        SELECT value INTO v_running FROM counters WHERE name = 'turns' FOR UPDATE;
        IF EXISTS (SELECT 1 FROM waiting_inputs)
            OR v_running + coalesce(cardinality(v_fast), 0) + coalesce(cardinality(v_each), 0)
                > coalesce(v_slots, 2147483647) THEN
            -- Inputs wait (a queue, the admission line) or slots may run out: decision by decision.
            RETURN QUERY SELECT * FROM decide_each(p_owner, p_channel, p_full_message, p_kind, p_worker, p_role,
                p_content, p_max, p_per_turn, p_turn, p_completed, p_input_tokens, p_output_tokens, p_max_turns);
            RETURN;
        END IF;
        -- Numbering armed: the batch's first event takes the sequencing lock (0235).
        PERFORM set_config('runtime_registry.next_event_id', 'armed', true);
    END IF;
    RETURN QUERY
        SELECT r.i, r.verdict, NULL::bigint[], NULL::integer, NULL::jsonb,
               NULL::bigint, NULL::text, NULL::text, NULL::jsonb, NULL::text,
               NULL::timestamptz, NULL::text, NULL::integer, NULL::integer, NULL::jsonb, NULL::text,
               NULL::bigint, NULL::bigint, NULL::bigint,
               NULL::bigint, NULL::bigint, NULL::text, NULL::text, NULL::text, NULL::timestamptz, NULL::text, NULL::text
        FROM unnest(v_refused, v_verdicts) AS r(i, verdict);
    IF NOT v_locking THEN
        -- Refusals only: nothing written, no lock taken.
        RETURN;
    END IF;
    -- The batch's workers, locked in one order (as version 6 sorted its decisions by worker).
    PERFORM 1 FROM workers w WHERE w.worker_id = ANY (
        SELECT p_worker[j] FROM unnest(coalesce(v_ends, '{}') || coalesce(v_fast, '{}')) AS j)
    ORDER BY w.worker_id FOR UPDATE;
    v_now := clock_timestamp();
    IF v_ends IS NOT NULL THEN
        -- Every turn end at once: its worker idle, its reply's entry, worker.output or
        -- transcript_full's worker.turn_failed, worker.turn_completed, the count of running turns.
        RETURN QUERY
            WITH c AS (
                -- Each worker's transcript length before the update, read beside it (the rows are
                -- locked above): RETURNING old.* would say it too, but only from PostgreSQL 18 on.
                SELECT c.*, o.entries AS old_entries
                FROM unnest(p_worker, p_content, p_max, p_turn, p_completed, p_input_tokens, p_output_tokens)
                    WITH ORDINALITY AS c(worker, reply, mx, turn, completed, itok, otok, i)
                LEFT JOIN workers o ON o.worker_id = c.worker
                WHERE c.i = ANY (v_ends)
            ), ended AS (
                UPDATE workers w SET status = 'idle', owner = NULL,
                    entries = w.entries + CASE WHEN coalesce(c.reply, '') <> '' AND w.entries < c.mx THEN 1 ELSE 0 END,
                    turns = w.turns + 1,
                    input_tokens = w.input_tokens
                        + CASE WHEN coalesce(c.reply, '') <> '' AND w.entries >= c.mx THEN 0 ELSE c.itok END,
                    output_tokens = w.output_tokens
                        + CASE WHEN coalesce(c.reply, '') <> '' AND w.entries >= c.mx THEN 0 ELSE c.otok END
                FROM c
                WHERE w.worker_id = c.worker AND w.status = 'busy' AND w.owner = p_owner AND w.turn_number = c.turn
                RETURNING c.i, w.worker_id, w.serial, c.old_entries, c.reply, c.turn, c.completed,
                    CASE WHEN coalesce(c.reply, '') <> '' AND c.old_entries >= c.mx THEN 'transcript_full'
                         ELSE 'completed' END AS outcome
            ), written AS (
                INSERT INTO events (type, worker_id, created_at, data)
                SELECT x.type, e.worker_id, v_now, x.data
                FROM ended e CROSS JOIN LATERAL (VALUES
                    (1, CASE WHEN coalesce(e.reply, '') = '' THEN NULL
                             WHEN e.outcome = 'transcript_full' THEN 'worker.turn_failed' ELSE 'worker.output' END,
                        CASE WHEN e.outcome = 'transcript_full'
                             THEN jsonb_build_object('turn', e.turn, 'code', 'transcript_full', 'message', p_full_message)
                             ELSE jsonb_build_object('transcript_sequence', e.old_entries + 1, 'role', 'assistant',
                                                     'content', e.reply) END),
                    (2, CASE WHEN e.outcome = 'completed' THEN 'worker.turn_completed' END,
                        jsonb_build_object('turn', e.turn) || e.completed)
                ) AS x(k, type, data)
                WHERE x.type IS NOT NULL
                ORDER BY e.i, x.k
                RETURNING events.seq, events.id, events.type, events.worker_id
            ), entry AS (
                INSERT INTO entries (serial, sequence, role, content, event_seq, event_id, created_at)
                SELECT e.serial, e.old_entries + 1, 'assistant', e.reply, wr.seq, wr.id, v_now
                FROM ended e JOIN written wr ON wr.worker_id = e.worker_id AND wr.type = 'worker.output'
            ), counted AS (
                UPDATE counters SET value = value - (SELECT count(*) FROM ended) WHERE name = 'turns'
            )
            SELECT c.i::integer, coalesce(e.outcome, 'lost'),
                   CASE WHEN e.i IS NOT NULL THEN ARRAY(
                       SELECT wr.seq FROM written wr WHERE wr.worker_id = e.worker_id ORDER BY wr.seq) END,
                   NULL::integer, '[]'::jsonb,
                   NULL::bigint, NULL::text, NULL::text, NULL::jsonb, NULL::text,
                   NULL::timestamptz, NULL::text, NULL::integer, NULL::integer, NULL::jsonb, NULL::text,
                   NULL::bigint, NULL::bigint, NULL::bigint,
                   NULL::bigint, NULL::bigint, NULL::text, NULL::text, NULL::text, NULL::timestamptz, NULL::text, NULL::text
            FROM c LEFT JOIN ended e ON e.i = c.i;
    END IF;
    IF v_fast IS NOT NULL THEN
        -- The busy rule for the first input of each worker at once: taken only while idle and with room.
        FOR v_row IN
            WITH c AS (
                SELECT * FROM unnest(p_worker, p_role, p_content, p_max, p_per_turn)
                    WITH ORDINALITY AS c(worker, input_role, input, mx, per_turn, i)
                WHERE c.i = ANY (v_fast)
            ), taken AS (
                UPDATE workers w SET status = 'busy', owner = p_owner, turn_number = w.turn_number + 1,
                    entries = w.entries + 1
                FROM c
                -- coalesce(): the same test, but one the planner cannot match to the partial index of
                -- idle workers (a plan cached while few were idle would scan them all); only the
                -- worker_id lookups remain.
                WHERE w.worker_id = c.worker AND coalesce(w.status = 'idle', false) AND w.entries + c.per_turn <= c.mx
                RETURNING c.i, c.input_role, c.input, w.serial, w.worker_id, w.label, w.intent, w.profile, w.created_at,
                    w.status, w.turn_number, w.entries, w.tools, w.owner, w.turns, w.input_tokens, w.output_tokens
            ), written AS (
                INSERT INTO events (type, worker_id, created_at, data)
                SELECT x.type, t.worker_id, v_now, x.data
                FROM taken t CROSS JOIN LATERAL (VALUES
                    (1, 'worker.input_accepted',
                        jsonb_build_object('transcript_sequence', t.entries, 'role', t.input_role, 'content', t.input)),
                    (2, 'worker.turn_started', jsonb_build_object('turn', t.turn_number))
                ) AS x(k, type, data)
                ORDER BY t.i, x.k
                RETURNING events.seq, events.id, events.type, events.worker_id
            ), entry AS (
                INSERT INTO entries (serial, sequence, role, content, event_seq, event_id, created_at)
                SELECT t.serial, t.entries, t.input_role, t.input, wr.seq, wr.id, v_now
                FROM taken t JOIN written wr ON wr.worker_id = t.worker_id AND wr.type = 'worker.input_accepted'
            ), counted AS (
                UPDATE counters SET value = value + (SELECT count(*) FROM taken) WHERE name = 'turns'
            )
            SELECT t.*, ARRAY(SELECT wr.seq FROM written wr WHERE wr.worker_id = t.worker_id ORDER BY wr.seq) AS seqs
            FROM taken t
        LOOP
            r_call := v_row.i; r_outcome := 'accepted'; r_seqs := v_row.seqs; r_place := NULL; r_started := NULL;
            w_serial := v_row.serial; w_worker_id := v_row.worker_id; w_label := v_row.label;
            w_intent := v_row.intent; w_profile := v_row.profile; w_created_at := v_row.created_at;
            w_status := v_row.status; w_turn_number := v_row.turn_number; w_entries := v_row.entries;
            w_tools := v_row.tools; w_owner := v_row.owner; w_turns := v_row.turns;
            w_input_tokens := v_row.input_tokens; w_output_tokens := v_row.output_tokens;
            e_seq := NULL; e_id := NULL; e_type := NULL; e_worker_id := NULL; e_data := NULL; e_created_at := NULL;
            e_role := NULL; e_content := NULL;
            RETURN NEXT;
            v_done := v_done || v_row.i::integer;
        END LOOP;
        v_each := coalesce(v_each, '{}') || ARRAY(SELECT j FROM unnest(v_fast) AS j WHERE NOT j = ANY (v_done));
    END IF;
    -- What the set-wise update did not take (a second input for a worker, a worker changed between
    -- the read and the lock): decided alone, as version 5 decides it.
    FOREACH v_i IN ARRAY coalesce(ARRAY(SELECT j FROM unnest(v_each) AS j ORDER BY j), '{}') LOOP
        SELECT * INTO v_accept FROM accept_input(
            p_worker[v_i], p_owner, p_role[v_i], p_content[v_i], p_max[v_i], p_per_turn[v_i], p_max_turns[v_i]);
        r_call := v_i; r_outcome := v_accept.outcome; r_seqs := v_accept.seqs; r_place := v_accept.place;
        r_started := NULL;
        w_serial := v_accept.w_serial; w_worker_id := v_accept.w_worker_id; w_label := v_accept.w_label;
        w_intent := v_accept.w_intent; w_profile := v_accept.w_profile; w_created_at := v_accept.w_created_at;
        w_status := v_accept.w_status; w_turn_number := v_accept.w_turn_number; w_entries := v_accept.w_entries;
        w_tools := v_accept.w_tools; w_owner := v_accept.w_owner; w_turns := v_accept.w_turns;
        w_input_tokens := v_accept.w_input_tokens; w_output_tokens := v_accept.w_output_tokens;
        e_seq := NULL; e_id := NULL; e_type := NULL; e_worker_id := NULL; e_data := NULL; e_created_at := NULL;
        e_role := NULL; e_content := NULL;
        RETURN NEXT;
    END LOOP;
    -- accept_input commits without waiting for the flush (made for a pass of its own); this
    -- transaction answers the clients: the server's setting (decision 0234).
    PERFORM set_config('synchronous_commit', v_sync, true);
    v_next := current_setting('runtime_registry.next_event_id');
    PERFORM set_config('runtime_registry.next_event_id', '', true);
    IF v_next = 'armed' THEN
        -- Nothing was written (every turn end lost, every accept refused under the lock).
        RETURN;
    END IF;
    v_after := current_setting('runtime_registry.numbered_after')::bigint;
    -- Everything numbered in this transaction: the batch's events, and those other transactions
    -- committed without an id (numbered first).
    RETURN QUERY
        SELECT NULL::integer, NULL::text, NULL::bigint[], NULL::integer, NULL::jsonb,
               NULL::bigint, NULL::text, NULL::text, NULL::jsonb, NULL::text,
               NULL::timestamptz, NULL::text, NULL::integer, NULL::integer, NULL::jsonb, NULL::text,
               NULL::bigint, NULL::bigint, NULL::bigint,
               ev.seq, ev.id, ev.type, ev.worker_id, ev.data::text, ev.created_at, en.role, en.content
        FROM events ev LEFT JOIN entries en ON en.event_id = ev.id
        WHERE ev.id > v_after AND ev.id < v_next::bigint;
    UPDATE counters SET value = v_next::bigint - 1 WHERE name = 'event_id';
    -- The replica too: its own answer brings these events (it need not read them on this wake).
    PERFORM pg_notify(p_channel, 'e' || (v_next::bigint - 1) || ' ' || p_owner);
END
$fn$;
"""
