-- ocppgw schema, version 2: the functions the store thread calls.
--
-- Every write the gateway makes goes through one of these (src/store/pg.c
-- prepares `SELECT * FROM ocppgw_x($1, ...)` once per connection), so the
-- rules live next to the data and can be tried from psql. Times travel as
-- milliseconds since the Unix epoch (bigint) and become timestamptz here.
--
-- Every function is idempotent where a charger may retry (StartTransaction,
-- StopTransaction, MeterValues): the gateway answers a retry after a lost
-- commit with the row the first attempt stored, never a second row. None of
-- them raises for a business reason: an unknown tag, a foreign transaction
-- or a repeated message is an answer, not an error.

CREATE FUNCTION ocppgw_ts(ms bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT to_timestamp(ms / 1000.0::float8) $$;

CREATE FUNCTION ocppgw_ms(t timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT round(extract(epoch FROM t) * 1000)::bigint $$;

-- Positive, uniformly random int32: the fallback when the gateway's own
-- candidate transaction id is taken.
CREATE FUNCTION ocppgw_random_tx_id() RETURNS integer
LANGUAGE sql VOLATILE
AS $$ SELECT greatest(1, ('x' || left(replace(gen_random_uuid()::text, '-', ''), 8))::bit(32)::integer
                         & 2147483647) $$;

-- idTags are CiString20: case-insensitive.
CREATE INDEX tokens_id_tag_lower_idx ON tokens (lower(id_tag));
CREATE INDEX sessions_active_id_tag_idx ON sessions (id_tag) WHERE status = 'active';

-- idTagInfo for a tag: Invalid when unknown, the stored status when not
-- Accepted, Expired past expiry_date, ConcurrentTx when asked and the tag
-- holds an active session.
CREATE FUNCTION ocppgw_id_tag_info(p_id_tag text, p_check_concurrent boolean,
                                   OUT status text, OUT expiry_ms bigint, OUT parent_id_tag text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    t tokens%ROWTYPE;
BEGIN
    SELECT * INTO t FROM tokens
     WHERE lower(tokens.id_tag) = lower(p_id_tag)
     ORDER BY tokens.id_tag = p_id_tag DESC
     LIMIT 1;
    IF NOT FOUND THEN
        status := 'Invalid';
        RETURN;
    END IF;
    expiry_ms := ocppgw_ms(t.expiry_date);
    parent_id_tag := t.parent_id_tag;
    IF t.status <> 'Accepted' THEN
        status := t.status;
    ELSIF t.expiry_date IS NOT NULL AND t.expiry_date < now() THEN
        status := 'Expired';
    ELSIF p_check_concurrent AND EXISTS (
            SELECT 1 FROM sessions s
             WHERE s.status = 'active' AND s.id_tag IN (t.id_tag, p_id_tag)) THEN
        status := 'ConcurrentTx';
    ELSE
        status := 'Accepted';
    END IF;
END $$;

-- Event row of a charger (connect, disconnect, boot, firmware, security, ...).
CREATE FUNCTION ocppgw_charger_event(p_charger text, p_kind text, p_detail text, p_at_ms bigint)
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO charger_events (charger_id, kind, detail, at)
    VALUES (p_charger, p_kind, nullif(p_detail, ''), coalesce(ocppgw_ts(p_at_ms), now()));
$$;

-- A websocket was accepted. Creates the row first when auto-registering
-- (the insert trigger tells every gateway).
CREATE FUNCTION ocppgw_charger_connected(p_charger text, p_auto_register boolean,
                                         p_at_ms bigint, p_remote_addr text)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_at timestamptz := ocppgw_ts(p_at_ms);
BEGIN
    IF p_auto_register THEN
        INSERT INTO chargers (id, auto_registered) VALUES (p_charger, true)
        ON CONFLICT (id) DO NOTHING;
    END IF;
    UPDATE chargers
       SET connected = true, connected_at = v_at, remote_addr = nullif(p_remote_addr, ''),
           last_seen_at = greatest(last_seen_at, v_at), updated_at = now()
     WHERE id = p_charger;
    PERFORM ocppgw_charger_event(p_charger, 'connected', p_remote_addr, p_at_ms);
END $$;

-- A websocket closed. Only the connection that set connected_at may clear
-- `connected`: a replaced connection closing late leaves its successor alone.
CREATE FUNCTION ocppgw_charger_disconnected(p_charger text, p_at_ms bigint,
                                            p_connected_ms bigint, p_reason text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE chargers
       SET connected = false, disconnected_at = ocppgw_ts(p_at_ms), updated_at = now()
     WHERE id = p_charger
       AND (p_connected_ms IS NULL OR connected_at = ocppgw_ts(p_connected_ms));
    PERFORM ocppgw_charger_event(p_charger, 'disconnected', p_reason, p_at_ms);
END $$;

-- Heartbeats and other traffic, many chargers at once; never moves back.
CREATE FUNCTION ocppgw_last_seen(p_ids text[], p_at_ms bigint[])
RETURNS void
LANGUAGE sql AS $$
    UPDATE chargers c
       SET last_seen_at = v.t
      FROM (SELECT id, ocppgw_ts(max(ms)) AS t
              FROM unnest(p_ids, p_at_ms) AS u(id, ms)
             GROUP BY id) AS v
     WHERE c.id = v.id AND (c.last_seen_at IS NULL OR c.last_seen_at < v.t);
$$;

CREATE FUNCTION ocppgw_boot(p_charger text, p_vendor text, p_model text, p_serial text,
                            p_cb_serial text, p_firmware text, p_iccid text, p_imsi text,
                            p_meter_type text, p_meter_serial text, p_at_ms bigint)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE chargers
       SET vendor = nullif(p_vendor, ''), model = nullif(p_model, ''),
           serial_number = nullif(p_serial, ''), charge_box_serial = nullif(p_cb_serial, ''),
           firmware_version = nullif(p_firmware, ''), iccid = nullif(p_iccid, ''),
           imsi = nullif(p_imsi, ''), meter_type = nullif(p_meter_type, ''),
           meter_serial = nullif(p_meter_serial, ''), last_boot_at = ocppgw_ts(p_at_ms),
           updated_at = now()
     WHERE id = p_charger;
    PERFORM ocppgw_charger_event(p_charger, 'boot',
        concat_ws(' ', nullif(p_vendor, ''), nullif(p_model, ''), nullif(p_firmware, '')), p_at_ms);
END $$;

-- StatusNotification: the connector row follows the newest status (by the
-- charger's timestamp when sent, else by arrival); history keeps them all.
CREATE FUNCTION ocppgw_status(p_charger text, p_connector integer, p_status text,
                              p_error_code text, p_info text, p_vendor_id text,
                              p_vendor_error_code text, p_status_ms bigint, p_received_ms bigint)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_status_at timestamptz := ocppgw_ts(p_status_ms);
    v_received timestamptz := coalesce(ocppgw_ts(p_received_ms), now());
BEGIN
    INSERT INTO connectors AS c (charger_id, connector_id, status, error_code, info, vendor_id,
                                 vendor_error_code, status_at, updated_at)
    VALUES (p_charger, p_connector, p_status, p_error_code, nullif(p_info, ''),
            nullif(p_vendor_id, ''), nullif(p_vendor_error_code, ''), v_status_at, v_received)
    ON CONFLICT (charger_id, connector_id) DO UPDATE
       SET status = EXCLUDED.status, error_code = EXCLUDED.error_code, info = EXCLUDED.info,
           vendor_id = EXCLUDED.vendor_id, vendor_error_code = EXCLUDED.vendor_error_code,
           status_at = EXCLUDED.status_at, updated_at = EXCLUDED.updated_at
     WHERE coalesce(EXCLUDED.status_at, EXCLUDED.updated_at) >= coalesce(c.status_at, c.updated_at);
    INSERT INTO status_history (charger_id, connector_id, status, error_code, info, vendor_id,
                                vendor_error_code, status_at, received_at)
    VALUES (p_charger, p_connector, p_status, p_error_code, nullif(p_info, ''),
            nullif(p_vendor_id, ''), nullif(p_vendor_error_code, ''), v_status_at, v_received);
END $$;

-- StartTransaction. A retry (same charger, connector, tag, start time and
-- meterStart) returns the stored session and the status answered then.
-- Otherwise a session row is created, also for a tag that is not Accepted
-- (auth_status keeps what was answered), with the gateway's random
-- candidate id, or another random id if that one is taken.
CREATE FUNCTION ocppgw_start_tx(p_charger text, p_connector integer, p_id_tag text,
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
            RETURN;
        END IF;
        -- transaction id taken (or the same start stored concurrently: the
        -- SELECT above finds it on the next turn)
        v_candidate := NULL;
    END LOOP;
END $$;

-- StopTransaction: 'closed' (closed now), 'repeated' (closed before, nothing
-- changes) or 'orphan' (unknown transaction or another charger's: kept in
-- orphan_stops, no session touched). idTagInfo only when a tag was sent.
CREATE FUNCTION ocppgw_stop_tx(p_charger text, p_transaction_id integer, p_id_tag text,
                               p_meter_stop bigint, p_stop_ms bigint, p_reason text,
                               OUT outcome text, OUT session_id bigint, OUT status text,
                               OUT expiry_ms bigint, OUT parent_id_tag text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    s sessions%ROWTYPE;
    v_stop timestamptz := ocppgw_ts(p_stop_ms);
BEGIN
    SELECT * INTO s FROM sessions WHERE sessions.transaction_id = p_transaction_id FOR UPDATE;
    IF NOT FOUND OR s.charger_id <> p_charger THEN
        INSERT INTO orphan_stops (charger_id, transaction_id, id_tag, meter_stop, stop_time, reason)
        VALUES (p_charger, p_transaction_id, nullif(p_id_tag, ''), p_meter_stop, v_stop,
                nullif(p_reason, ''))
        ON CONFLICT DO NOTHING;
        outcome := 'orphan';
    ELSIF s.status = 'completed' THEN
        outcome := 'repeated';
        session_id := s.id;
    ELSE
        UPDATE sessions
           SET status = 'completed', end_time = v_stop, meter_stop = p_meter_stop,
               energy_wh = p_meter_stop - s.meter_start, meter_anomaly = p_meter_stop < s.meter_start,
               stop_reason = nullif(p_reason, ''), stop_id_tag = nullif(p_id_tag, ''),
               updated_at = now()
         WHERE id = s.id;
        outcome := 'closed';
        session_id := s.id;
    END IF;
    IF coalesce(p_id_tag, '') <> '' THEN
        SELECT i.status, i.expiry_ms, i.parent_id_tag INTO status, expiry_ms, parent_id_tag
          FROM ocppgw_id_tag_info(p_id_tag, false) i;
    END IF;
END $$;

-- Meter values of many messages (MeterValues, StopTransaction
-- transactionData) in one call: message k is element k of the p_charger ..
-- p_transaction_id arrays; sample i belongs to message p_msg[i]. A message
-- whose (charger, digest) is already stored, or repeated earlier in the same
-- call, is a duplicate and adds nothing. Samples link to the session with
-- that transaction id of that charger. One row per message comes back, in
-- order: (ord, duplicate, session_id).
CREATE FUNCTION ocppgw_meter_batch(p_charger text[], p_digest bigint[], p_connector integer[],
                                   p_transaction_id integer[], p_msg integer[], p_ts_ms bigint[],
                                   p_value text[], p_measurand text[], p_unit text[],
                                   p_context text[], p_format text[], p_phase text[],
                                   p_location text[])
RETURNS TABLE (ord integer, duplicate boolean, session_id bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH msg AS (
        SELECT m.ord::integer AS ord, m.charger_id, m.digest, m.transaction_id,
               coalesce(m.connector_id, s.connector_id, 0) AS connector_id, s.id AS session_id
          FROM unnest(p_charger, p_digest, p_connector, p_transaction_id)
               WITH ORDINALITY AS m(charger_id, digest, connector_id, transaction_id, ord)
          -- one index probe per message (LIMIT keeps the planner from joining
          -- the whole sessions table; transaction_id is unique anyway)
          LEFT JOIN LATERAL (
              SELECT s.id, s.connector_id FROM sessions s
               WHERE s.transaction_id = m.transaction_id AND s.charger_id = m.charger_id
               LIMIT 1) s ON true
    ), ins AS (
        INSERT INTO meter_messages (charger_id, digest)
        SELECT msg.charger_id, msg.digest FROM msg ORDER BY msg.ord
        ON CONFLICT DO NOTHING
        RETURNING meter_messages.id, meter_messages.charger_id, meter_messages.digest
    ), firsts AS (
        SELECT DISTINCT ON (ins.id) ins.id AS message_id, msg.*
          FROM ins JOIN msg ON msg.charger_id = ins.charger_id AND msg.digest = ins.digest
         ORDER BY ins.id, msg.ord
    ), vals AS (
        INSERT INTO meter_values (message_id, charger_id, connector_id, transaction_id, session_id,
                                  ts, value, measurand, unit, context, format, phase, location)
        SELECT f.message_id, f.charger_id, f.connector_id, f.transaction_id, f.session_id,
               ocppgw_ts(u.ts_ms), u.value, u.measurand, u.unit, u.context, u.format, u.phase,
               u.location
          FROM unnest(p_msg, p_ts_ms, p_value, p_measurand, p_unit, p_context, p_format,
                      p_phase, p_location)
               AS u(msg, ts_ms, value, measurand, unit, context, format, phase, location)
          JOIN firsts f ON f.ord = u.msg
    )
    SELECT msg.ord, f.message_id IS NULL, msg.session_id
      FROM msg LEFT JOIN firsts f ON f.ord = msg.ord
     ORDER BY msg.ord;
END $$;

CREATE FUNCTION ocppgw_data_transfer(p_charger text, p_vendor_id text, p_message_id text,
                                     p_data text, p_at_ms bigint)
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO data_transfers (charger_id, vendor_id, message_id, data, received_at)
    VALUES (p_charger, p_vendor_id, nullif(p_message_id, ''), p_data,
            coalesce(ocppgw_ts(p_at_ms), now()));
$$;

-- FirmwareStatusNotification (p_kind 'firmware') and
-- DiagnosticsStatusNotification (p_kind 'diagnostics').
CREATE FUNCTION ocppgw_fw_diag_status(p_charger text, p_kind text, p_status text, p_at_ms bigint)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_at timestamptz := coalesce(ocppgw_ts(p_at_ms), now());
BEGIN
    IF p_kind = 'firmware' THEN
        UPDATE chargers SET firmware_status = p_status, firmware_status_at = v_at, updated_at = now()
         WHERE id = p_charger;
    ELSE
        UPDATE chargers SET diagnostics_status = p_status, diagnostics_status_at = v_at,
                            updated_at = now()
         WHERE id = p_charger;
    END IF;
    PERFORM ocppgw_charger_event(p_charger, p_kind || '_status', p_status, p_at_ms);
END $$;
