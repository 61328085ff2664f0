-- ocppgw schema, version 4: what the REST resources read (src/rest/res_*.c).
--
-- Cursor pages are keyset scans on (sort column, id): each sort order a
-- collection offers has an index that serves it in both directions, also
-- under the charger filter. Times travel in cursors as microseconds since
-- the epoch (exact: timestamptz has microsecond resolution), and so do the
-- times of every answer: C formats them (ISO 8601 UTC with Z), which costs
-- far less than to_char per column per row.

-- timestamptz <-> microseconds since the epoch, exactly. Simple enough for
-- the planner to inline (volatility as the body's).
CREATE FUNCTION ocppgw_us(t timestamptz) RETURNS bigint
LANGUAGE sql STABLE STRICT PARALLEL SAFE
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

-- GET /v1/sessions (sort=startTime) and /v1/chargers/{id}/sessions.
DROP INDEX sessions_start_idx;
CREATE INDEX sessions_start_id_idx ON sessions (start_time, id);
CREATE INDEX sessions_charger_start_idx ON sessions (charger_id, start_time, id);

-- GET /v1/chargers/{id}/status-history (sort=receivedAt).
CREATE INDEX status_history_charger_received_idx ON status_history (charger_id, received_at, id);

-- GET /v1/audit-log (sort=at).
CREATE INDEX audit_log_at_idx ON audit_log (at, id);
