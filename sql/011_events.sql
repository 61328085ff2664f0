-- ocppgw schema, version 11: the transactional outbox of events
-- (../shared/spec/events.md).
--
-- Emitting: any statement of any transaction calls ocppgw_event(type,
-- charger, occurredAt, data). The row is staged in a per-connection temp
-- table; a deferred constraint trigger moves everything staged into
-- `events` at COMMIT, in staging order, so an event exists exactly when the
-- change it reports commits (a rolled-back transaction leaves none), and no
-- caller can forget a flush. Only the first row a transaction stages queues
-- the trigger (a transaction-local setting remembers that one is queued, and
-- a rolled-back savepoint forgets it with its rows): one move per commit,
-- however many events, instead of one firing per row that finds the table
-- already moved.
--
-- Commit order of seq: the move takes a transaction-scoped advisory lock
-- (EVENTS_LOCK below) before drawing seq values, and holds it through its
-- commit. A second writer with events waits at its own COMMIT until the
-- first has committed and become visible, so the seqs of any transaction
-- are higher than those of every transaction visible before it: a reader
-- that sees seq N+1 already sees N. Writers without events never take the
-- lock; writers with events hold it only for the move and the commit
-- (the deferred trigger runs at COMMIT, after every other statement).
-- Across several gateways on one database the lock is the same: the
-- database is the single sequencer.
--
-- After the move: pg_notify('ocppgw_events', <highest seq>) (delivered at
-- commit: live streams read after it) and ocppgw_events_committed(from, to),
-- the fan-out hook (a no-op here; webhooks redefine it to queue deliveries
-- in the same transaction).

CREATE SEQUENCE events_seq AS bigint;

CREATE TABLE events (
    seq         bigint PRIMARY KEY,              -- commit order (see above)
    id          uuid NOT NULL UNIQUE,            -- UUIDv7, stable across every delivery
    type        text NOT NULL,
    created_at  timestamptz NOT NULL,            -- when it was committed (the move's clock)
    occurred_at timestamptz,                     -- the charger's timestamp, when there is one
    charger_id  text,
    site_id     text,                            -- the charger's site at the time
    data        jsonb NOT NULL
);
CREATE INDEX events_charger_seq_idx ON events (charger_id, seq);
CREATE INDEX events_type_seq_idx ON events (type, seq);
CREATE INDEX events_site_seq_idx ON events (site_id, seq) WHERE site_id IS NOT NULL;
CREATE INDEX events_created_idx ON events (created_at);

-- A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, version 7, variant,
-- random bits (from gen_random_uuid's version 4, whose version nibble 0100
-- becomes 0111 with bits 52 and 53 set).
CREATE FUNCTION ocppgw_uuid7() RETURNS uuid
LANGUAGE sql VOLATILE AS $$
    SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                  PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint)
                                    FROM 3)
                  FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid;
$$;

-- Types an integrator must ask for by name (events.md: no wildcard matches
-- meter_values.received). Redefined by later versions (webhooks: stored
-- only while an enabled endpoint names it, as that is what the fleet's
-- write rate can afford). Here: everything but meter_values.received.
CREATE FUNCTION ocppgw_event_wanted(p_type text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT p_type <> 'meter_values.received';
$$;

-- The fan-out hook, called inside the move with the seq range it just
-- wrote (same transaction, lock held). Redefined by webhooks.
CREATE FUNCTION ocppgw_events_committed(p_from bigint, p_to bigint) RETURNS void
LANGUAGE sql AS $$
    SELECT;
$$;

-- The deferred trigger's body: moves what this connection staged.
CREATE FUNCTION ocppgw_events_move() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_from bigint;
    v_to   bigint;
BEGIN
    -- what is staged from now on (another deferred trigger's events) queues a move of its own
    PERFORM set_config('ocppgw.events_move_queued', '', true);
    PERFORM pg_advisory_xact_lock(7468201100);   -- EVENTS_LOCK: "ocpp" 011 00
    WITH moved AS (
        DELETE FROM pg_temp.ocppgw_events_staged RETURNING *
    ), numbered AS (
        SELECT nextval('events_seq') AS seq, m.* FROM (SELECT * FROM moved ORDER BY ord) m
    ), ins AS (
        INSERT INTO events (seq, id, type, created_at, occurred_at, charger_id, site_id, data)
        SELECT seq, id, type, clock_timestamp(), occurred_at, charger_id, site_id, data FROM numbered
        RETURNING seq
    )
    SELECT min(seq), max(seq) INTO v_from, v_to FROM ins;
    IF v_to IS NOT NULL THEN
        PERFORM ocppgw_events_committed(v_from, v_to);
        PERFORM pg_notify('ocppgw_events', v_to::text);
    END IF;
    RETURN NULL;
END;
$$;

-- Emits an event from the current transaction. p_data is the resource as
-- GET shows it (the callers build it with the ocppgw_*_doc functions).
-- Returns the event's id. Creates this connection's staging table on first
-- use, so any connection (the store threads, the CLI, psql) can emit.
CREATE FUNCTION ocppgw_event(p_type text, p_charger text, p_occurred timestamptz, p_data jsonb)
RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_id uuid;
    v_first boolean;
BEGIN
    IF NOT ocppgw_event_wanted(p_type) THEN
        RETURN NULL;
    END IF;
    IF to_regclass('pg_temp.ocppgw_events_staged') IS NULL THEN
        CREATE TEMP TABLE ocppgw_events_staged (
            ord         bigint GENERATED ALWAYS AS IDENTITY,
            id          uuid NOT NULL,
            type        text NOT NULL,
            occurred_at timestamptz,
            charger_id  text,
            site_id     text,
            data        jsonb NOT NULL,
            queues_move boolean NOT NULL      -- the transaction's first: queues the move
        ) ON COMMIT DELETE ROWS;
        -- a later statement completes a staged charger.disconnected (its reason, sql/012)
        CREATE INDEX ON pg_temp.ocppgw_events_staged (charger_id) WHERE type = 'charger.disconnected';
        CREATE CONSTRAINT TRIGGER ocppgw_events_move AFTER INSERT ON pg_temp.ocppgw_events_staged
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.queues_move)
            EXECUTE FUNCTION ocppgw_events_move();
    END IF;
    v_first := coalesce(current_setting('ocppgw.events_move_queued', true), '') = '';
    IF v_first THEN
        PERFORM set_config('ocppgw.events_move_queued', 'on', true);
    END IF;
    v_id := ocppgw_uuid7();
    INSERT INTO pg_temp.ocppgw_events_staged (id, type, occurred_at, charger_id, site_id, data, queues_move)
    VALUES (v_id, p_type, p_occurred, p_charger,
            (SELECT c.site_id FROM chargers c WHERE c.id = p_charger), p_data, v_first);
    RETURN v_id;
END;
$$;
