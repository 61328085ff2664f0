-- ocppgw schema, version 4: what the REST resources read (src/rest/res_*.c).
--
-- Cursor pages are keyset scans on (sort column, id): each sort order a
-- collection offers has an index that serves it in both directions, also
-- under the charger filter. Times travel in cursors as microseconds since
-- the epoch (exact: timestamptz has microsecond resolution) and leave in
-- JSON as ISO 8601 UTC with Z, with milliseconds only when there are any.

-- "2024-05-01T12:00:00Z", "2024-05-01T12:00:00.250Z"
CREATE FUNCTION ocppgw_iso(t timestamptz) RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE
AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
           || CASE WHEN date_trunc('milliseconds', t) = date_trunc('second', t) THEN ''
                   ELSE to_char(t AT TIME ZONE 'UTC', '.MS') END
           || 'Z'
$$;

-- timestamptz <-> microseconds since the epoch, exactly.
CREATE FUNCTION ocppgw_us(t timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT (extract(epoch FROM t) * 1000000)::bigint $$;

CREATE FUNCTION ocppgw_ts_us(us bigint) RETURNS timestamptz
LANGUAGE sql STABLE STRICT PARALLEL SAFE
AS $$ SELECT timestamptz 'epoch' + us * interval '1 microsecond' $$;

-- A charger placed on a site that has no row yet creates it (sites get
-- their own resource later); returns the id.
CREATE FUNCTION ocppgw_ensure_site(p_id text) RETURNS text
LANGUAGE sql VOLATILE STRICT
AS $$
    INSERT INTO sites (id) VALUES (p_id) ON CONFLICT (id) DO NOTHING;
    SELECT p_id;
$$;

-- Energy of a session: meterStop - meterStart once completed; while active,
-- the newest Energy.Active.Import.Register reading (all phases, in Wh)
-- minus meterStart, NULL before the first reading.
CREATE FUNCTION ocppgw_session_energy(p_session bigint, p_status text, p_energy bigint,
                                      p_meter_start bigint) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN p_status = 'completed' THEN p_energy ELSE (
        SELECT round(CASE WHEN mv.unit = 'kWh' THEN mv.value::numeric * 1000
                          ELSE mv.value::numeric END)::bigint - p_meter_start
          FROM meter_values mv
         WHERE mv.session_id = p_session
           AND mv.measurand = 'Energy.Active.Import.Register'
           AND mv.phase IS NULL
           AND mv.unit IN ('Wh', 'kWh')
           AND mv.value ~ '^[0-9]{1,15}(\.[0-9]{1,9})?$'
         ORDER BY mv.id DESC
         LIMIT 1) END
$$;

-- GET /v1/sessions (sort=startTime) and /v1/chargers/{id}/sessions.
DROP INDEX sessions_start_idx;
CREATE INDEX sessions_start_id_idx ON sessions (start_time, id);
CREATE INDEX sessions_charger_start_idx ON sessions (charger_id, start_time, id);

-- GET /v1/chargers/{id}/status-history (sort=receivedAt).
CREATE INDEX status_history_charger_received_idx ON status_history (charger_id, received_at, id);

-- GET /v1/audit-log (sort=at).
CREATE INDEX audit_log_at_idx ON audit_log (at, id);
