-- ocppgw schema, version 9: session integrity.
--
-- A session can be marked stale: the gateway no longer believes it is
-- running, but only the charger may end it, so it is never closed or
-- deleted here. Reasons:
--   superseded  a StartTransaction for the same charger and connector
--               started a newer session while this one was still active
--   silent      its charger sent nothing for ocpp.stale_session_after
--               (the periodic ocppgw_mark_silent_sessions())
-- A later StopTransaction closes a stale session as usual: status becomes
-- completed and stale stays true, as history of what happened.
ALTER TABLE sessions
    ADD COLUMN stale        boolean NOT NULL DEFAULT false,
    ADD COLUMN stale_reason text CHECK (stale_reason IN ('superseded', 'silent')),
    ADD COLUMN stale_at     timestamptz;

-- the remote-start check and the periodic job: the live, trusted sessions
CREATE INDEX sessions_active_fresh_idx ON sessions (charger_id, connector_id)
    WHERE status = 'active' AND NOT stale;

-- StartTransaction as in version 2, plus: a new session marks the older
-- active sessions of the same connector stale ('superseded').
CREATE OR REPLACE FUNCTION ocppgw_start_tx(p_charger text, p_connector integer, p_id_tag text,
                                p_start_ms bigint, p_meter_start bigint, p_reservation_id integer,
                                p_candidate integer, p_check_concurrent boolean,
                                OUT session_id bigint, OUT transaction_id integer,
                                OUT existing boolean, OUT status text, OUT expiry_ms bigint,
                                OUT parent_id_tag text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_start timestamptz := ocppgw_ts(p_start_ms);
    v_candidate integer := p_candidate;
    v_stored text;
    v_status text;
BEGIN
    LOOP
        SELECT s.id, s.transaction_id, s.auth_status INTO session_id, transaction_id, v_stored
          FROM sessions s
         WHERE s.charger_id = p_charger AND s.connector_id = p_connector
           AND s.id_tag = p_id_tag AND s.start_time = v_start AND s.meter_start = p_meter_start;
        IF FOUND THEN
            existing := true;
            SELECT i.expiry_ms, i.parent_id_tag INTO expiry_ms, parent_id_tag
              FROM ocppgw_id_tag_info(p_id_tag, false) i;
            status := v_stored;
            RETURN;
        END IF;
        IF v_status IS NULL THEN
            SELECT i.status, i.expiry_ms, i.parent_id_tag INTO v_status, expiry_ms, parent_id_tag
              FROM ocppgw_id_tag_info(p_id_tag, p_check_concurrent) i;
        END IF;
        IF v_candidate IS NULL OR v_candidate <= 0 THEN
            v_candidate := ocppgw_random_tx_id();
        END IF;
        INSERT INTO sessions (transaction_id, charger_id, connector_id, id_tag, auth_status,
                              reservation_id, start_time, meter_start)
        VALUES (v_candidate, p_charger, p_connector, p_id_tag, v_status,
                p_reservation_id, v_start, p_meter_start)
        ON CONFLICT DO NOTHING
        RETURNING id, transaction_id INTO session_id, transaction_id;
        IF FOUND THEN
            existing := false;
            status := v_status;
            -- the charger is the authority: the older ones on this connector are not running
            UPDATE sessions s
               SET stale = true, stale_reason = 'superseded', stale_at = now(), updated_at = now()
             WHERE s.charger_id = p_charger AND s.connector_id = p_connector
               AND s.status = 'active' AND NOT s.stale AND s.id <> session_id
               AND s.start_time <= v_start;
            RETURN;
        END IF;
        -- transaction id taken (or the same start stored concurrently: the
        -- SELECT above finds it on the next turn)
        v_candidate := NULL;
    END LOOP;
END $$;

-- Active sessions whose charger sent nothing for p_after_s seconds (its
-- last_seen_at, or the session's own last change when the charger row is
-- gone) become stale ('silent'). One idempotent UPDATE: several gateways
-- may run it at once; a row another run marked first is skipped (NOT stale
-- is re-checked after its lock). Returns how many it marked.
CREATE FUNCTION ocppgw_mark_silent_sessions(p_after_s integer)
RETURNS integer
LANGUAGE sql AS $$
    WITH marked AS (
        UPDATE sessions s
           SET stale = true, stale_reason = 'silent', stale_at = now(), updated_at = now()
         WHERE s.status = 'active' AND NOT s.stale
           AND greatest(s.updated_at, s.start_time,
                        (SELECT c.last_seen_at FROM chargers c WHERE c.id = s.charger_id))
               < now() - make_interval(secs => p_after_s)
        RETURNING 1)
    SELECT count(*)::integer FROM marked;
$$;
