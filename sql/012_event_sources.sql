-- ocppgw schema, version 12: where events come from (../shared/spec/events.md).
--
-- Every event type is emitted by the database itself, in the transaction of
-- the change it reports, through ocppgw_event() (version 11): triggers on
-- the tables for what any writer may change (the store threads, REST, the
-- CLI, psql alike), the meter-values function for session progress and
-- meter_values.received. A trigger's WHEN clause keeps the writes that are
-- not events (heartbeats' last_seen_at, boot columns, a status repeated)
-- from even entering PL/pgSQL.
--
--   charger.created / .updated / .deleted   chargers INSERT, UPDATE of a
--       configuration column (what REST and the CLI change), DELETE (the row
--       as it was, with its connectors: a BEFORE trigger, ahead of the cascade)
--   charger.connected / .disconnected   chargers.connected set (or a new
--       connected_at: a reconnect) / cleared; the disconnect's `reason`
--       comes from the charger_events row the same function writes next
--   charger.booted, firmware.status_changed, diagnostics.status_changed,
--   security.event (the gateway's own: failed authentication, replaced
--       connection, refused CSR)   charger_events rows of those kinds
--   security.event (SecurityEventNotification)   security_events INSERT
--   connector.status_changed   connectors INSERT, or UPDATE of status or
--       errorCode
--   session.started / .stopped   sessions INSERT / status becoming completed
--   session.updated, meter_values.received   ocppgw_meter_batch
--   command.completed / .failed   commands reaching a final state
--   data_transfer.received   data_transfers INSERT
--   token.created / .updated / .deleted   tokens INSERT / UPDATE / DELETE
--
-- `data` is the resource as GET shows it: the ocppgw_*_doc functions below
-- build the JSON of the REST column tables (src/rest/res_*.c) in SQL, and
-- tests/integration/it_events.c compares the two for every kind, so that a
-- column added on one side only fails a test instead of drifting.

-- A time as the API writes it (src/rest/query.c, rest_iso_time): UTC,
-- milliseconds (truncated) only when not zero: "2024-05-01T12:00:00Z",
-- "2024-05-01T12:00:00.120Z".
CREATE FUNCTION ocppgw_iso(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT replace(to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), '.000Z', 'Z')
$$;

-- ---------------------------------------------------------------- resources

-- One of GET /v1/chargers/{id}'s connectors (res_chargers.c, live_connectors).
CREATE FUNCTION ocppgw_connector_doc(k connectors) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN jsonb_build_object(
        'connectorId', k.connector_id, 'status', k.status, 'errorCode', k.error_code,
        'info', k.info, 'vendorId', k.vendor_id, 'vendorErrorCode', k.vendor_error_code,
        'timestamp', ocppgw_iso(k.status_at),
        'updatedAt', ocppgw_iso(coalesce(k.status_at, k.updated_at)));
END $$;

-- GET /v1/chargers/{id} (res_chargers.c, charger_cols). `connected` and
-- `lastSeenAt` are the row's: GET answers the serving process's live view
-- there, which the row follows (written behind).
CREATE FUNCTION ocppgw_charger_doc(c chargers) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN jsonb_build_object(
        'id', c.id, 'name', c.name, 'serialNumber', c.serial_number,
        'chargeBoxSerialNumber', c.charge_box_serial, 'model', c.model, 'vendor', c.vendor,
        'firmwareVersion', c.firmware_version, 'iccid', c.iccid, 'imsi', c.imsi,
        'meterType', c.meter_type, 'meterSerialNumber', c.meter_serial,
        'maxAvailableCurrent', c.max_available_current, 'timeZone', c.time_zone,
        'latitude', c.latitude, 'longitude', c.longitude,
        'commissioningDate', to_char(c.commissioning_date, 'YYYY-MM-DD'),
        'connected', c.connected, 'lastSeenAt', ocppgw_iso(c.last_seen_at),
        'connectedAt', ocppgw_iso(c.connected_at), 'disconnectedAt', ocppgw_iso(c.disconnected_at),
        'lastBootAt', ocppgw_iso(c.last_boot_at), 'registrationStatus', c.registration_status,
        'securityProfile', c.security_profile, 'hasAuthorizationKey', c.auth_hash IS NOT NULL)
    || jsonb_build_object(
        'autoRegistered', c.auto_registered, 'siteId', c.site_id,
        'firmwareStatus', c.firmware_status, 'diagnosticsStatus', c.diagnostics_status,
        'signedFirmwareStatus', c.signed_firmware_status,
        'signedFirmwareRequestId', c.signed_firmware_request_id,
        'signedFirmwareStatusAt', ocppgw_iso(c.signed_firmware_status_at),
        'logStatus', c.log_status, 'logRequestId', c.log_request_id,
        'logStatusAt', ocppgw_iso(c.log_status_at),
        'createdAt', ocppgw_iso(c.created_at), 'updatedAt', ocppgw_iso(c.updated_at),
        'connectors', coalesce((SELECT jsonb_agg(ocppgw_connector_doc(k) ORDER BY k.connector_id)
                                  FROM connectors k WHERE k.charger_id = c.id), '[]'::jsonb));
END $$;

-- GET /v1/sessions/{id} (res_sessions.c, session_cols; energy is its
-- SESSION_ENERGY: the newest plain-decimal Energy.Active.Import.Register
-- reading minus meterStart while active).
CREATE FUNCTION ocppgw_session_doc(s sessions) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN jsonb_build_object(
        'id', s.id, 'chargerId', s.charger_id, 'connectorId', s.connector_id,
        'transactionId', s.transaction_id, 'idTag', s.id_tag, 'status', s.status,
        'energy', CASE WHEN s.status = 'completed' THEN s.energy_wh ELSE (
            SELECT round(CASE WHEN mv.unit = 'kWh' THEN mv.value::numeric * 1000
                              ELSE mv.value::numeric END)::bigint - s.meter_start
              FROM meter_values mv
             WHERE mv.session_id = s.id AND mv.measurand = 'Energy.Active.Import.Register'
               AND mv.phase IS NULL AND mv.unit IN ('Wh', 'kWh')
               AND CASE translate(mv.value, '0123456789', '')
                   WHEN '' THEN length(mv.value) BETWEEN 1 AND 15
                   WHEN '.' THEN strpos(mv.value, '.') BETWEEN 2 AND 16
                             AND length(mv.value) - strpos(mv.value, '.') BETWEEN 1 AND 9
                   ELSE false END
             ORDER BY mv.id DESC LIMIT 1) END,
        'startTime', ocppgw_iso(s.start_time), 'endTime', ocppgw_iso(s.end_time),
        'chargingDuration',
            greatest(0, floor(date_part('epoch', coalesce(s.end_time, now()) - s.start_time)))::bigint,
        'meterStart', s.meter_start, 'meterStop', s.meter_stop, 'stopReason', s.stop_reason,
        'stopIdTag', s.stop_id_tag, 'cost', s.cost, 'currency', s.currency)
    || jsonb_build_object(
        'reservationId', s.reservation_id, 'authorizationStatus', s.auth_status,
        'meterAnomaly', s.meter_anomaly, 'createdAt', ocppgw_iso(s.created_at),
        'updatedAt', ocppgw_iso(s.updated_at), 'stale', s.stale, 'staleReason', s.stale_reason,
        'staleAt', ocppgw_iso(s.stale_at));
END $$;

-- GET /v1/commands/{commandId} (res_command_list.c, command_cols).
CREATE FUNCTION ocppgw_command_doc(cmd commands) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN jsonb_build_object(
        'id', cmd.id::text, 'chargerId', cmd.charger_id, 'action', cmd.action,
        'payload', cmd.payload, 'status', cmd.state, 'outcome', cmd.outcome,
        'response', cmd.response, 'responseStatus', cmd.response_status,
        'error', CASE WHEN cmd.error_code IS NOT NULL OR cmd.error_description IS NOT NULL
                      THEN jsonb_build_object('code', cmd.error_code,
                                              'description', cmd.error_description) END,
        'sessionId', cmd.session_id, 'transactionId', cmd.transaction_id,
        'apiKeyId', cmd.api_key_id, 'requestId', cmd.request_id,
        'createdAt', ocppgw_iso(cmd.created_at), 'sentAt', ocppgw_iso(cmd.sent_at),
        'answeredAt', ocppgw_iso(cmd.answered_at), 'completedAt', ocppgw_iso(cmd.completed_at),
        'latencyMs', ocppgw_ms(cmd.answered_at) - ocppgw_ms(cmd.sent_at),
        'origin', cmd.origin);
END $$;

-- GET /v1/tokens/{idTag} (res_tokens.c, token_cols).
CREATE FUNCTION ocppgw_token_doc(t tokens) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN jsonb_build_object(
        'idTag', t.id_tag, 'status', t.status, 'expiryDate', ocppgw_iso(t.expiry_date),
        'parentIdTag', t.parent_id_tag, 'name', t.name,
        'createdAt', ocppgw_iso(t.created_at), 'updatedAt', ocppgw_iso(t.updated_at));
END $$;

-- ---------------------------------------------------------------- chargers

CREATE FUNCTION ocppgw_chargers_emit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM ocppgw_event('charger.created', NEW.id, NULL, ocppgw_charger_doc(NEW));
        RETURN NULL;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM ocppgw_event('charger.deleted', OLD.id, NULL, ocppgw_charger_doc(OLD));
        RETURN OLD;
    END IF;
    IF (OLD.name, OLD.site_id, OLD.auth_hash, OLD.security_profile, OLD.registration_status,
        OLD.max_available_current, OLD.time_zone, OLD.latitude, OLD.longitude, OLD.commissioning_date)
       IS DISTINCT FROM
       (NEW.name, NEW.site_id, NEW.auth_hash, NEW.security_profile, NEW.registration_status,
        NEW.max_available_current, NEW.time_zone, NEW.latitude, NEW.longitude, NEW.commissioning_date) THEN
        PERFORM ocppgw_event('charger.updated', NEW.id, NULL, ocppgw_charger_doc(NEW));
    END IF;
    IF NEW.connected AND (NOT OLD.connected OR OLD.connected_at IS DISTINCT FROM NEW.connected_at) THEN
        PERFORM ocppgw_event('charger.connected', NEW.id, NEW.connected_at, ocppgw_charger_doc(NEW));
    ELSIF OLD.connected AND NOT NEW.connected THEN
        -- reason: filled in by the charger_events row that follows (ocppgw_charger_events_emit)
        PERFORM ocppgw_event('charger.disconnected', NEW.id, NEW.disconnected_at,
                             ocppgw_charger_doc(NEW) || '{"reason": null}'::jsonb);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER chargers_emit_ins AFTER INSERT ON chargers
    FOR EACH ROW EXECUTE FUNCTION ocppgw_chargers_emit();
CREATE TRIGGER chargers_emit_upd AFTER UPDATE ON chargers FOR EACH ROW
    WHEN ((OLD.name, OLD.site_id, OLD.auth_hash, OLD.security_profile, OLD.registration_status,
           OLD.max_available_current, OLD.time_zone, OLD.latitude, OLD.longitude, OLD.commissioning_date)
          IS DISTINCT FROM
          (NEW.name, NEW.site_id, NEW.auth_hash, NEW.security_profile, NEW.registration_status,
           NEW.max_available_current, NEW.time_zone, NEW.latitude, NEW.longitude, NEW.commissioning_date)
          OR OLD.connected IS DISTINCT FROM NEW.connected
          OR (NEW.connected AND OLD.connected_at IS DISTINCT FROM NEW.connected_at))
    EXECUTE FUNCTION ocppgw_chargers_emit();
-- before the delete: the row still has its connectors (the cascade runs after)
CREATE TRIGGER chargers_emit_del BEFORE DELETE ON chargers
    FOR EACH ROW EXECUTE FUNCTION ocppgw_chargers_emit();

-- The disconnect reason of the charger.disconnected this transaction staged
-- for that charger and has not yet given one.
CREATE FUNCTION ocppgw_event_disconnect_reason(p_charger text, p_reason text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_reason IS NULL OR to_regclass('pg_temp.ocppgw_events_staged') IS NULL THEN
        RETURN;
    END IF;
    -- (charger_id) WHERE type = 'charger.disconnected': an index of the staging table (sql/011)
    UPDATE pg_temp.ocppgw_events_staged s
       SET data = jsonb_set(s.data, '{reason}', to_jsonb(p_reason))
     WHERE s.charger_id = p_charger AND s.type = 'charger.disconnected'
       AND s.data -> 'reason' = 'null'::jsonb;
END $$;

-- charger_events: boot, firmware/diagnostics (and their Security Extension
-- siblings), the gateway's security observations, disconnect reasons.
CREATE FUNCTION ocppgw_charger_events_emit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_type text;
BEGIN
    IF NEW.kind = 'disconnected' THEN
        PERFORM ocppgw_event_disconnect_reason(NEW.charger_id, NEW.detail);
        RETURN NULL;
    END IF;
    IF NEW.kind IN ('auth_failed', 'auth_throttled', 'connection_replaced', 'csr_rejected') THEN
        PERFORM ocppgw_event('security.event', NEW.charger_id, NEW.at, jsonb_build_object(
            'source', 'gateway', 'id', NEW.id, 'chargerId', NEW.charger_id, 'type', NEW.kind,
            'timestamp', ocppgw_iso(NEW.at), 'techInfo', NEW.detail,
            'receivedAt', ocppgw_iso(NEW.at)));
        RETURN NULL;
    END IF;
    v_type := CASE NEW.kind
                  WHEN 'boot' THEN 'charger.booted'
                  WHEN 'firmware_status' THEN 'firmware.status_changed'
                  WHEN 'signed_firmware_status' THEN 'firmware.status_changed'
                  WHEN 'diagnostics_status' THEN 'diagnostics.status_changed'
                  WHEN 'log_status' THEN 'diagnostics.status_changed'
              END;
    PERFORM ocppgw_event(v_type, c.id, NEW.at, ocppgw_charger_doc(c))
       FROM chargers c WHERE c.id = NEW.charger_id;
    RETURN NULL;
END $$;

CREATE TRIGGER charger_events_emit AFTER INSERT ON charger_events FOR EACH ROW
    WHEN (NEW.kind IN ('disconnected', 'boot', 'firmware_status', 'signed_firmware_status',
                       'diagnostics_status', 'log_status', 'auth_failed', 'auth_throttled',
                       'connection_replaced', 'csr_rejected'))
    EXECUTE FUNCTION ocppgw_charger_events_emit();

-- ---------------------------------------------------------------- connectors

CREATE FUNCTION ocppgw_connectors_emit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ocppgw_event('connector.status_changed', NEW.charger_id,
                         coalesce(NEW.status_at, NEW.updated_at),
                         ocppgw_connector_doc(NEW) || jsonb_build_object('chargerId', NEW.charger_id));
    RETURN NULL;
END $$;

CREATE TRIGGER connectors_emit_ins AFTER INSERT ON connectors
    FOR EACH ROW EXECUTE FUNCTION ocppgw_connectors_emit();
CREATE TRIGGER connectors_emit_upd AFTER UPDATE ON connectors FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.error_code IS DISTINCT FROM NEW.error_code)
    EXECUTE FUNCTION ocppgw_connectors_emit();

-- ---------------------------------------------------------------- sessions

CREATE FUNCTION ocppgw_sessions_emit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM ocppgw_event('session.started', NEW.charger_id, NEW.start_time, ocppgw_session_doc(NEW));
    ELSE
        PERFORM ocppgw_event('session.stopped', NEW.charger_id, NEW.end_time, ocppgw_session_doc(NEW));
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER sessions_emit_ins AFTER INSERT ON sessions
    FOR EACH ROW EXECUTE FUNCTION ocppgw_sessions_emit();
CREATE TRIGGER sessions_emit_upd AFTER UPDATE ON sessions FOR EACH ROW
    WHEN (OLD.status <> 'completed' AND NEW.status = 'completed')
    EXECUTE FUNCTION ocppgw_sessions_emit();

-- When this session's last session.updated was emitted (ocppgw_meter_batch).
ALTER TABLE sessions ADD COLUMN progress_event_at timestamptz;

-- MeterValues (and StopTransaction transactionData) as in version 2, plus
-- two kinds of events, after the values are stored (so that a session's
-- energy includes them):
--   session.updated      each active session that got new values and had no
--                        session.updated for events.session_update_interval
--                        (the store sets ocppgw.session_update_interval on its
--                        connection; 60 s when unset). A session another
--                        transaction holds locked is skipped (SKIP LOCKED),
--                        never waited for: its next values catch up.
--   meter_values.received  one per stored (not duplicate) message, only while
--                        ocppgw_event_wanted() says so, asked once per call
CREATE OR REPLACE FUNCTION ocppgw_meter_batch(p_charger text[], p_digest bigint[], p_connector integer[],
                                   p_transaction_id integer[], p_msg integer[], p_ts_ms bigint[],
                                   p_value text[], p_measurand text[], p_unit text[],
                                   p_context text[], p_format text[], p_phase text[],
                                   p_location text[])
RETURNS TABLE (ord integer, duplicate boolean, session_id bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_ord integer[];
    v_dup boolean[];
    v_sid bigint[];
    v_due bigint[];
    v_every interval := make_interval(secs => coalesce(
        nullif(current_setting('ocppgw.session_update_interval', true), '')::integer, 60));
BEGIN
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
    ), due AS (
        -- driven by this batch's sessions (one primary-key probe each), never by the active ones
        UPDATE sessions s SET progress_event_at = now()
          FROM (SELECT DISTINCT f.session_id FROM firsts f WHERE f.session_id IS NOT NULL) f
          JOIN LATERAL (SELECT x.id FROM sessions x
                         WHERE x.id = f.session_id AND x.status = 'active'
                           AND (x.progress_event_at IS NULL OR x.progress_event_at <= now() - v_every)
                           FOR UPDATE SKIP LOCKED) x ON true
         WHERE s.id = x.id
        RETURNING s.id
    )
    SELECT array_agg(msg.ord ORDER BY msg.ord), array_agg(f.message_id IS NULL ORDER BY msg.ord),
           array_agg(msg.session_id ORDER BY msg.ord), (SELECT array_agg(due.id ORDER BY due.id) FROM due)
      INTO v_ord, v_dup, v_sid, v_due
      FROM msg LEFT JOIN firsts f ON f.ord = msg.ord;

    IF v_due IS NOT NULL THEN
        PERFORM ocppgw_event('session.updated', s.charger_id,
                             (SELECT mv.ts FROM meter_values mv WHERE mv.session_id = s.id
                               ORDER BY mv.id DESC LIMIT 1),
                             ocppgw_session_doc(s))
           FROM sessions s WHERE s.id = ANY(v_due) ORDER BY s.id;
    END IF;

    IF v_ord IS NOT NULL AND ocppgw_event_wanted('meter_values.received') THEN
        PERFORM ocppgw_event('meter_values.received', p_charger[m.msg], ocppgw_ts(m.ts_ms),
                             jsonb_build_object(
                                 'chargerId', p_charger[m.msg], 'connectorId', m.connector_id,
                                 'transactionId', p_transaction_id[m.msg], 'sessionId', v_sid[m.msg],
                                 'meterValues', m.items))
           FROM (SELECT u.msg, max(u.ts_ms) AS ts_ms,
                        coalesce(p_connector[u.msg],
                                 (SELECT s.connector_id FROM sessions s WHERE s.id = v_sid[u.msg]), 0)
                            AS connector_id,
                        jsonb_agg(jsonb_build_object(
                            'timestamp', ocppgw_iso(ocppgw_ts(u.ts_ms)), 'value', u.value,
                            'measurand', u.measurand, 'unit', u.unit, 'context', u.context,
                            'format', u.format, 'phase', u.phase, 'location', u.location,
                            'sessionId', v_sid[u.msg],
                            'connectorId', coalesce(p_connector[u.msg],
                                (SELECT s.connector_id FROM sessions s WHERE s.id = v_sid[u.msg]), 0))
                            ORDER BY u.i) AS items
                   FROM unnest(p_msg, p_ts_ms, p_value, p_measurand, p_unit, p_context, p_format,
                               p_phase, p_location)
                        WITH ORDINALITY AS u(msg, ts_ms, value, measurand, unit, context, format,
                                             phase, location, i)
                  WHERE NOT v_dup[u.msg]
                  GROUP BY u.msg) m
          ORDER BY m.msg;
    END IF;

    RETURN QUERY SELECT * FROM unnest(v_ord, v_dup, v_sid);
END $$;

-- ---------------------------------------------------------------- commands

CREATE FUNCTION ocppgw_commands_emit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ocppgw_event(CASE NEW.state WHEN 'completed' THEN 'command.completed' ELSE 'command.failed' END,
                         NEW.charger_id, NEW.completed_at, ocppgw_command_doc(NEW));
    RETURN NULL;
END $$;

CREATE TRIGGER commands_emit_ins AFTER INSERT ON commands FOR EACH ROW
    WHEN (NEW.state IN ('completed', 'failed'))
    EXECUTE FUNCTION ocppgw_commands_emit();
CREATE TRIGGER commands_emit_upd AFTER UPDATE ON commands FOR EACH ROW
    WHEN (NEW.state IN ('completed', 'failed') AND OLD.state NOT IN ('completed', 'failed'))
    EXECUTE FUNCTION ocppgw_commands_emit();

-- ---------------------------------------------------------------- notifications

-- data: the DataTransfer as stored.
CREATE FUNCTION ocppgw_data_transfers_emit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ocppgw_event('data_transfer.received', NEW.charger_id, NEW.received_at, jsonb_build_object(
        'id', NEW.id, 'chargerId', NEW.charger_id, 'vendorId', NEW.vendor_id,
        'messageId', NEW.message_id, 'data', NEW.data, 'receivedAt', ocppgw_iso(NEW.received_at)));
    RETURN NULL;
END $$;

CREATE TRIGGER data_transfers_emit AFTER INSERT ON data_transfers
    FOR EACH ROW EXECUTE FUNCTION ocppgw_data_transfers_emit();

-- data: the item of GET /v1/chargers/{id}/security-events, plus source "charger".
CREATE FUNCTION ocppgw_security_events_emit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ocppgw_event('security.event', NEW.charger_id, NEW.event_at, jsonb_build_object(
        'source', 'charger', 'id', NEW.id, 'chargerId', NEW.charger_id, 'type', NEW.type,
        'timestamp', ocppgw_iso(NEW.event_at), 'techInfo', NEW.tech_info,
        'receivedAt', ocppgw_iso(NEW.received_at)));
    RETURN NULL;
END $$;

CREATE TRIGGER security_events_emit AFTER INSERT ON security_events
    FOR EACH ROW EXECUTE FUNCTION ocppgw_security_events_emit();

-- ---------------------------------------------------------------- tokens

CREATE FUNCTION ocppgw_tokens_emit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM ocppgw_event('token.deleted', NULL, NULL, ocppgw_token_doc(OLD));
    ELSE
        PERFORM ocppgw_event(CASE TG_OP WHEN 'INSERT' THEN 'token.created' ELSE 'token.updated' END,
                             NULL, NULL, ocppgw_token_doc(NEW));
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER tokens_emit_ins_del AFTER INSERT OR DELETE ON tokens
    FOR EACH ROW EXECUTE FUNCTION ocppgw_tokens_emit();
CREATE TRIGGER tokens_emit_upd AFTER UPDATE ON tokens FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION ocppgw_tokens_emit();

-- ---------------------------------------------------------------- retention

-- Deletes up to p_batch events older than p_keep_s seconds, oldest first.
-- One gateway at a time (a transaction-scoped advisory lock, not waited
-- for: -1 when another holds it). Writers never wait for it: new events
-- take new seqs, this deletes old ones. Returns how many it deleted.
CREATE FUNCTION ocppgw_events_expire(p_keep_s integer, p_batch integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_n integer;
BEGIN
    IF NOT pg_try_advisory_xact_lock(7468201201) THEN    -- "ocpp" 012 01
        RETURN -1;
    END IF;
    DELETE FROM events e
     WHERE e.seq IN (SELECT x.seq FROM events x
                      WHERE x.created_at < now() - make_interval(secs => p_keep_s)
                      ORDER BY x.seq LIMIT p_batch);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END $$;
