-- ocppgw schema, version 18: the cost of a completed session (issue 13;
-- ../shared/spec/sites-and-tariffs.md, "Session cost"; docs/architecture.md,
-- "Time zones and session cost").
--
-- cost (existing) is the gross in minor units; cost_net and cost_vat its
-- parts; cost_breakdown the lines as GET shows them (costBreakdown);
-- cost_final true once written by the pricing job (NULL while no cost).
-- cost_state: 'none' (no tariff, or still active), 'pending' (completed with
-- a tariff, waiting for the pricing job: src/store/pricing_job.c, which
-- claims them with FOR UPDATE SKIP LOCKED, so several gateways on one
-- database share the work), 'final' (priced; cost stays NULL if the
-- session could not be priced, the job logged why).
--
-- A session that becomes completed with a tariff is marked pending by a
-- BEFORE trigger, in the StopTransaction's own transaction (every path that
-- completes a session: ocppgw_stop_tx, tests, scripts). Its session.stopped
-- event is then emitted by the cost write (pending -> final) instead of the
-- stop, so the event carries the cost; without a tariff, by the stop as
-- before.
ALTER TABLE sessions
    ADD COLUMN cost_net       bigint,
    ADD COLUMN cost_vat       bigint,
    ADD COLUMN cost_breakdown jsonb,
    ADD COLUMN cost_final     boolean,
    ADD COLUMN cost_state     text NOT NULL DEFAULT 'none' CHECK (cost_state IN ('none', 'pending', 'final'));
CREATE INDEX sessions_cost_pending_idx ON sessions (id) WHERE cost_state = 'pending';

CREATE FUNCTION ocppgw_session_cost_pending() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.tariff_id IS NOT NULL AND NEW.cost_state = 'none' THEN
        NEW.cost_state := 'pending';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER sessions_cost_pending BEFORE UPDATE ON sessions FOR EACH ROW
    WHEN (OLD.status <> 'completed' AND NEW.status = 'completed')
    EXECUTE FUNCTION ocppgw_session_cost_pending();

DROP TRIGGER sessions_emit_upd ON sessions;
CREATE TRIGGER sessions_emit_upd AFTER UPDATE ON sessions FOR EACH ROW
    WHEN ((OLD.status <> 'completed' AND NEW.status = 'completed' AND NEW.cost_state <> 'pending')
       OR (OLD.cost_state = 'pending' AND NEW.cost_state = 'final'))
    EXECUTE FUNCTION ocppgw_sessions_emit();

-- The session events carry what GET /v1/sessions/{id} shows (res_sessions.c
-- session_cols): the doc of sql/015 plus net, vat, costBreakdown, costFinal.
CREATE OR REPLACE FUNCTION ocppgw_session_doc(s sessions) RETURNS jsonb
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
        'staleAt', ocppgw_iso(s.stale_at))
    || jsonb_build_object('tariffId', s.tariff_id, 'tariffVersion', s.tariff_version,
        'net', s.cost_net, 'vat', s.cost_vat, 'costBreakdown', s.cost_breakdown,
        'costFinal', s.cost_final);
END $$;

-- What the pricing job needs of a pending session, in one row: times in
-- milliseconds since the epoch; the tariff version's numbers scaled as
-- include/pricing.h wants them (prices x 10^4, VAT percent x 100); the
-- zone (the charger's site's, else the charger's, else UTC); the register
-- (Wh) and power (W) samples as "ms:value,..." lists; and when charging
-- ended by status: the first StatusNotification SuspendedEV, Finishing or
-- Available of the connector at or after the start AND at or after the
-- first register sample above meterStart (chargers often report
-- SuspendedEV right after the start, before the car draws energy); with no
-- such sample, at or after the start.
CREATE FUNCTION ocppgw_session_cost_inputs(p_id bigint)
RETURNS TABLE (start_ms bigint, stop_ms bigint, meter_start bigint, meter_stop bigint,
               currency text, vat bigint, min_price bigint, max_price bigint, zone text,
               energy text, power text, status_ended_ms bigint)
LANGUAGE sql STABLE AS $$
    WITH s AS (SELECT * FROM sessions WHERE id = p_id),
    mv AS (
        SELECT mv.measurand, (date_part('epoch', mv.ts) * 1000)::bigint AS ms,
               round(CASE WHEN mv.unit IN ('kWh', 'kW') THEN mv.value::numeric * 1000
                          ELSE mv.value::numeric END)::bigint AS v
          FROM meter_values mv, s
         WHERE mv.session_id = s.id AND mv.phase IS NULL
           AND ((mv.measurand = 'Energy.Active.Import.Register' AND mv.unit IN ('Wh', 'kWh'))
             OR (mv.measurand = 'Power.Active.Import' AND mv.unit IN ('W', 'kW')))
           AND CASE translate(mv.value, '0123456789', '')
               WHEN '' THEN length(mv.value) BETWEEN 1 AND 15
               WHEN '.' THEN strpos(mv.value, '.') BETWEEN 2 AND 16
                         AND length(mv.value) - strpos(mv.value, '.') BETWEEN 1 AND 9
               ELSE false END),
    flowing AS (
        SELECT greatest(s.start_time, coalesce(
                   (SELECT to_timestamp(min(mv.ms) / 1000.0) FROM mv
                     WHERE mv.measurand = 'Energy.Active.Import.Register' AND mv.v > s.meter_start),
                   s.start_time)) AS t
          FROM s)
    SELECT (date_part('epoch', s.start_time) * 1000)::bigint,
           (date_part('epoch', coalesce(s.end_time, s.start_time)) * 1000)::bigint,
           s.meter_start, coalesce(s.meter_stop, s.meter_start),
           v.currency, round(v.vat_percent * 100)::bigint,
           round(v.min_price * 10000)::bigint, round(v.max_price * 10000)::bigint,
           coalesce(st.time_zone, c.time_zone, 'UTC'),
           (SELECT string_agg(mv.ms || ':' || mv.v, ',') FROM mv
             WHERE mv.measurand = 'Energy.Active.Import.Register'),
           (SELECT string_agg(mv.ms || ':' || mv.v, ',') FROM mv WHERE mv.measurand = 'Power.Active.Import'),
           (SELECT (date_part('epoch', min(coalesce(h.status_at, h.received_at))) * 1000)::bigint
              FROM status_history h, flowing f
             WHERE h.charger_id = s.charger_id AND h.connector_id = s.connector_id
               AND h.status IN ('SuspendedEV', 'Finishing', 'Available')
               AND coalesce(h.status_at, h.received_at) >= f.t
               AND coalesce(h.status_at, h.received_at) <= coalesce(s.end_time, s.start_time))
      FROM s
      JOIN tariff_versions v ON v.tariff_id = s.tariff_id AND v.version = s.tariff_version
      LEFT JOIN chargers c ON c.id = s.charger_id
      LEFT JOIN sites st ON st.id = c.site_id
$$;

-- The elements of a tariff version as include/pricing.h's struct
-- pricing_element: prices x 10^4, restrictions in minutes after midnight
-- (-1 = absent), days as bits (MONDAY = 1 .. SUNDAY = 64, 0 = every day).
CREATE FUNCTION ocppgw_tariff_elements(p_tariff text, p_version integer)
RETURNS TABLE (ord bigint, energy bigint, "time" bigint, idle bigint, idle_grace integer,
               session_fee bigint, start_min integer, end_min integer, days integer)
LANGUAGE sql STABLE AS $$
    SELECT e.ord,
           round(coalesce((e.el->>'energy')::numeric, 0) * 10000)::bigint,
           round(coalesce((e.el->>'time')::numeric, 0) * 10000)::bigint,
           round(coalesce((e.el->>'idle')::numeric, 0) * 10000)::bigint,
           coalesce((e.el->>'idleGraceMinutes')::integer, 0),
           round(coalesce((e.el->>'sessionFee')::numeric, 0) * 10000)::bigint,
           coalesce(split_part(e.el->'restrictions'->>'startTime', ':', 1)::integer * 60
                    + split_part(e.el->'restrictions'->>'startTime', ':', 2)::integer, -1),
           coalesce(split_part(e.el->'restrictions'->>'endTime', ':', 1)::integer * 60
                    + split_part(e.el->'restrictions'->>'endTime', ':', 2)::integer, -1),
           coalesce((SELECT sum(1 << (array_position(ARRAY['MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY',
                                                           'FRIDAY', 'SATURDAY', 'SUNDAY'], d) - 1))::integer
                       FROM jsonb_array_elements_text(e.el->'restrictions'->'daysOfWeek') d), 0)
      FROM tariff_versions v,
           jsonb_array_elements(v.elements) WITH ORDINALITY AS e(el, ord)
     WHERE v.tariff_id = p_tariff AND v.version = p_version
     ORDER BY e.ord
$$;
