-- ocppgw schema, version 18: meter_values.received without quadratic work.
--
-- ocppgw_meter_batch (sql/012) built a batch's meter_values.received
-- events reading its arrays by subscript per sample (p_charger[m.msg],
-- v_sid[u.msg], ...): a subscript of a text array, or of an array holding
-- a NULL, walks the array from its start, so a batch of n messages cost n²
-- steps, and one PL/pgSQL ocppgw_event() call per message on top. The same
-- function, but for that part: the events of the batch in one INSERT from
-- unnest()s (the bulk staging of sql/014), the same events.

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
    v_first boolean;
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
        -- one INSERT for the batch's events, every array read by unnest (a
        -- subscript of a text array, or of one with NULLs, walks it from the
        -- start: per sample, that was quadratic in the batch)
        v_first := ocppgw_events_stage_begin();
        INSERT INTO pg_temp.ocppgw_events_staged (id, type, occurred_at, charger_id, site_id, data, queues_move)
        SELECT ocppgw_uuid7(), 'meter_values.received', ocppgw_ts(m.ts_ms), m.charger_id, c.site_id,
               jsonb_build_object('chargerId', m.charger_id, 'connectorId', m.connector_id,
                                  'transactionId', m.transaction_id, 'sessionId', m.session_id,
                                  'meterValues', m.items),
               v_first AND row_number() OVER (ORDER BY m.msg) = 1
          FROM (SELECT h.msg, h.charger_id, h.transaction_id, h.session_id, h.connector_id,
                       max(u.ts_ms) AS ts_ms,
                       jsonb_agg(jsonb_build_object(
                           'timestamp', ocppgw_iso(ocppgw_ts(u.ts_ms)), 'value', u.value,
                           'measurand', u.measurand, 'unit', u.unit, 'context', u.context,
                           'format', u.format, 'phase', u.phase, 'location', u.location,
                           'sessionId', h.session_id, 'connectorId', h.connector_id)
                           ORDER BY u.i) AS items
                  FROM (SELECT x.msg::integer AS msg, x.charger_id, x.transaction_id, x.session_id,
                               coalesce(x.connector_id, s.connector_id, 0) AS connector_id
                          FROM unnest(p_charger, p_transaction_id, p_connector, v_sid, v_dup)
                               WITH ORDINALITY AS x(charger_id, transaction_id, connector_id, session_id, dup, msg)
                          LEFT JOIN sessions s ON s.id = x.session_id
                         WHERE NOT x.dup) h
                  JOIN unnest(p_msg, p_ts_ms, p_value, p_measurand, p_unit, p_context, p_format,
                              p_phase, p_location)
                       WITH ORDINALITY AS u(msg, ts_ms, value, measurand, unit, context, format,
                                            phase, location, i) ON u.msg = h.msg
                 GROUP BY h.msg, h.charger_id, h.transaction_id, h.session_id, h.connector_id) m
          LEFT JOIN chargers c ON c.id = m.charger_id
         ORDER BY m.msg;
    END IF;

    RETURN QUERY SELECT * FROM unnest(v_ord, v_dup, v_sid);
END $$;
