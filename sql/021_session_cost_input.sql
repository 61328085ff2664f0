-- ocppgw schema, version 21: one text with everything the cost of a
-- session needs, for the pricing job (a completed session, priced up to
-- its stop) and for REST's estimate of an active session (priced up to
-- now(), costFinal false) alike (issue 13; ../shared/spec/
-- sites-and-tariffs.md, "Session cost"; src/model/session_cost.c reads it,
-- include/session_cost.h describes the fields).
--
-- Replaces sql/018's ocppgw_session_cost_inputs (a row, then two more
-- statements per session for the version and its elements): one call per
-- session, usable in a select list, so the pricing job reads its whole
-- claimed batch and a REST page its active sessions in one statement.
--
-- Fields, separated by '|', empty for NULL:
--   start_ms | stop_ms | meter_start | meter_stop | estimate (1: active) |
--   currency | vat (percent x 100) | min_price | max_price (x 10^4) | zone |
--   status_ended_ms | energy samples | power samples | elements
-- stop_ms: the end of a completed session (its start if none), now() for
-- an active one; samples "ms:value,..." (Wh register, W power); elements
-- "energy,time,idle,grace,fee,start_min,end_min,days;..." as
-- ocppgw_tariff_elements gives them. The status that ended charging is
-- sql/018's rule: the first SuspendedEV/Finishing/Available of the
-- connector at or after the start and the first register sample above
-- meterStart, at or before the stop. NULL when the session has no tariff
-- or its version is gone.
DROP FUNCTION ocppgw_session_cost_inputs(bigint);

CREATE FUNCTION ocppgw_session_cost_input(p_id bigint) RETURNS text
LANGUAGE sql STABLE AS $$
    WITH s AS (
        SELECT x.*, CASE WHEN x.status = 'completed' THEN coalesce(x.end_time, x.start_time)
                         ELSE now() END AS stop_at
          FROM sessions x WHERE x.id = p_id),
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
    SELECT format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s',
           (date_part('epoch', s.start_time) * 1000)::bigint,
           (date_part('epoch', s.stop_at) * 1000)::bigint,
           s.meter_start, coalesce(s.meter_stop, s.meter_start),
           CASE WHEN s.status = 'completed' THEN 0 ELSE 1 END,
           v.currency, round(v.vat_percent * 100)::bigint,
           round(v.min_price * 10000)::bigint, round(v.max_price * 10000)::bigint,
           coalesce(st.time_zone, c.time_zone, 'UTC'),
           (SELECT (date_part('epoch', min(coalesce(h.status_at, h.received_at))) * 1000)::bigint
              FROM status_history h, flowing f
             WHERE h.charger_id = s.charger_id AND h.connector_id = s.connector_id
               AND h.status IN ('SuspendedEV', 'Finishing', 'Available')
               AND coalesce(h.status_at, h.received_at) >= f.t
               AND coalesce(h.status_at, h.received_at) <= s.stop_at),
           (SELECT string_agg(mv.ms || ':' || mv.v, ',') FROM mv
             WHERE mv.measurand = 'Energy.Active.Import.Register'),
           (SELECT string_agg(mv.ms || ':' || mv.v, ',') FROM mv WHERE mv.measurand = 'Power.Active.Import'),
           (SELECT string_agg(concat_ws(',', e.energy, e."time", e.idle, e.idle_grace, e.session_fee,
                                        e.start_min, e.end_min, e.days), ';' ORDER BY e.ord)
              FROM ocppgw_tariff_elements(s.tariff_id, s.tariff_version) e))
      FROM s
      JOIN tariff_versions v ON v.tariff_id = s.tariff_id AND v.version = s.tariff_version
      LEFT JOIN chargers c ON c.id = s.charger_id
      LEFT JOIN sites st ON st.id = c.site_id
$$;
