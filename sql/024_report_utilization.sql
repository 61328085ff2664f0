-- ocppgw schema, version 24: the utilization report's rollups (issue 15;
-- ../shared/spec/reports.md, "utilization"; docs/architecture.md, "Reports:
-- rollups", "Utilization rollups").
--
-- A connector is, at any instant, in one class: its last status (by the
-- charger's timestamp when sent, else the received time) mapped to
-- available / occupied (charging is inside occupied) / faulted /
-- unavailable, or offline while its charger is not connected, or unknown
-- before its first status (Reserved too: in no column).
--
--   util_conn_log   every change of chargers.connected (a row trigger, so
--                   the per-connection writes and the bulk ones of
--                   sql/010/014: node start, sweep, stop, resume all count)
--   util_dirty      append-only queue (charger, from): a status, a
--                   connection change, a move to another zone. Writers only
--                   insert, never wait on each other or on the job.
--   util_day        seconds per class per charger, connector (> 0) and
--                   local day (the charger's zone at the time of the
--                   recompute), dense from the connector's first known day
--                   up to util_charger.done_until, plus end_status: the raw
--                   status at the end of that day (what a recompute starts
--                   from once the raw history of before is gone).
--   util_charger    per charger: the zone of its day rows, done_until (day
--                   rows are complete up to it, the day holding it is
--                   partial), online at done_until, ended_at (deleted).
--   util_tail       per connector: the status at done_until.
--   util_month      util_day summed per local month, rewritten with it.
--
-- The job (src/store/utilization_job.c, ocppgw_util_drain) takes the
-- dirty chargers, each under a transaction-scoped advisory lock taken with
-- pg_try_advisory_xact_lock (several gateways never recompute one charger
-- at once, never wait on each other), and recomputes each from the local
-- midnight before its earliest dirty time (or before done_until, if older)
-- up to now(), from the raw history: a late StatusNotification only moves
-- that start back, so the figures are those of a status that came in time.
-- Nothing older than ocppgw_util_horizon() (the raw history's retention,
-- 400 days) is recomputed: day rows outlive the raw rows.
--
-- The report adds, at query time, the time after done_until (the tail:
-- each connector's state then, up to min(to, now())) and computes partial
-- days at the window's edges exactly from the raw history (a day of it is
-- small), or, beyond the horizon, as the day row's share.

-- ------------------------------------------------------------------ tables

CREATE TABLE util_conn_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    charger_id  text NOT NULL,
    at          timestamptz NOT NULL,
    online      boolean NOT NULL
);
CREATE INDEX util_conn_log_charger_idx ON util_conn_log (charger_id, at, id);

CREATE TABLE util_dirty (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    charger_id  text NOT NULL,
    from_at     timestamptz NOT NULL
);
CREATE INDEX util_dirty_charger_idx ON util_dirty (charger_id, id);

CREATE TABLE util_charger (
    charger_id  text PRIMARY KEY,
    zone        text NOT NULL,
    done_until  timestamptz NOT NULL,
    online      boolean NOT NULL,
    ended_at    timestamptz
);
CREATE INDEX util_charger_done_idx ON util_charger (done_until) WHERE ended_at IS NULL;

CREATE TABLE util_tail (
    charger_id    text NOT NULL,
    connector_id  integer NOT NULL,
    status        text,
    PRIMARY KEY (charger_id, connector_id)
);

CREATE TABLE util_day (
    charger_id     text NOT NULL,
    connector_id   integer NOT NULL,
    day            date NOT NULL,
    available_s    integer NOT NULL,
    occupied_s     integer NOT NULL,
    charging_s     integer NOT NULL,
    faulted_s      integer NOT NULL,
    unavailable_s  integer NOT NULL,
    offline_s      integer NOT NULL,
    end_status     text,
    PRIMARY KEY (charger_id, connector_id, day)
);
CREATE INDEX util_day_day_idx ON util_day (day);

-- util_day summed per local month (month: its first day): what the
-- report reads for the whole months of a window without day or week labels.
CREATE TABLE util_month (
    charger_id     text NOT NULL,
    connector_id   integer NOT NULL,
    month          date NOT NULL,
    available_s    bigint NOT NULL,
    occupied_s     bigint NOT NULL,
    charging_s     bigint NOT NULL,
    faulted_s      bigint NOT NULL,
    unavailable_s  bigint NOT NULL,
    offline_s      bigint NOT NULL,
    PRIMARY KEY (charger_id, connector_id, month)
);
CREATE INDEX util_month_month_idx ON util_month (month);

-- the recompute's and the edges' reads: a connector's statuses by time
CREATE INDEX status_history_util_idx
    ON status_history (charger_id, connector_id, (coalesce(status_at, received_at)), id);

-- ------------------------------------------------------------------ rules

-- How far back the raw history is complete: status_history is kept 400
-- days (retention.status_history). Day rows older than this are never
-- recomputed (their raw rows may be gone).
CREATE FUNCTION ocppgw_util_horizon() RETURNS timestamptz
LANGUAGE sql STABLE AS $$ SELECT now() - interval '400 days' $$;

-- The class of a connector: NULL (unknown: no status yet, or Reserved),
-- offline, available, occupied, charging (occupied too), faulted, unavailable.
CREATE FUNCTION ocppgw_util_class(p_status text, p_online boolean) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_status IS NULL THEN NULL
                WHEN NOT p_online THEN 'offline'
                WHEN p_status = 'Available' THEN 'available'
                WHEN p_status = 'Charging' THEN 'charging'
                WHEN p_status IN ('Preparing', 'SuspendedEV', 'SuspendedEVSE', 'Finishing') THEN 'occupied'
                WHEN p_status = 'Faulted' THEN 'faulted'
                WHEN p_status = 'Unavailable' THEN 'unavailable'
           END
$$;

-- The zone of a charger now: its site's, else its own, else UTC.
CREATE FUNCTION ocppgw_util_zone(p_charger text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(s.time_zone, c.time_zone, 'UTC')
      FROM chargers c LEFT JOIN sites s ON s.id = c.site_id
     WHERE c.id = p_charger
$$;

-- The connectors (> 0) of a charger: those it reported (every status
-- makes its connectors row), and those the rollups know (a deleted
-- charger's connectors rows are gone).
CREATE FUNCTION ocppgw_util_connectors(p_charger text) RETURNS SETOF integer
LANGUAGE sql STABLE AS $$
    SELECT k.connector_id FROM connectors k WHERE k.charger_id = p_charger AND k.connector_id > 0
    UNION
    SELECT t.connector_id FROM util_tail t WHERE t.charger_id = p_charger
$$;

-- A charger's timeline over [p_lo, p_hi) from the raw history: one row
-- per stretch of one connector in one state (status: the raw status, NULL
-- before the first; online: the charger connected). The state at p_lo is
-- the connector's last status before it (else the end_status of its last
-- day row before p_lo's local day in p_zone, for history retention took)
-- and the last connection change before it (else offline).
CREATE FUNCTION ocppgw_util_segments(p_charger text, p_lo timestamptz, p_hi timestamptz, p_zone text)
RETURNS TABLE (connector_id integer, s timestamptz, e timestamptz, status text, online boolean)
LANGUAGE sql STABLE AS $$
    WITH conns AS (
        SELECT k AS connector_id FROM ocppgw_util_connectors(p_charger) k
    ), raw AS (
        SELECT h.id, h.connector_id, coalesce(h.status_at, h.received_at) AS t, h.status
          FROM conns k
          JOIN status_history h
            ON h.charger_id = p_charger AND h.connector_id = k.connector_id
           AND coalesce(h.status_at, h.received_at) >= p_lo
           AND coalesce(h.status_at, h.received_at) < p_hi
    ), conn AS (
        SELECT l.id, l.at, l.online FROM util_conn_log l
         WHERE l.charger_id = p_charger AND l.at >= p_lo AND l.at < p_hi
    ), init AS (
        SELECT k.connector_id,
               coalesce((SELECT h.status FROM status_history h
                          WHERE h.charger_id = p_charger AND h.connector_id = k.connector_id
                            AND coalesce(h.status_at, h.received_at) < p_lo
                          ORDER BY coalesce(h.status_at, h.received_at) DESC, h.id DESC LIMIT 1),
                        (SELECT d.end_status FROM util_day d
                          WHERE d.charger_id = p_charger AND d.connector_id = k.connector_id
                            AND d.day < (p_lo AT TIME ZONE p_zone)::date
                          ORDER BY d.day DESC LIMIT 1)) AS status
          FROM conns k
    ), init_online AS (
        SELECT coalesce((SELECT l.online FROM util_conn_log l
                          WHERE l.charger_id = p_charger AND l.at < p_lo
                          ORDER BY l.at DESC, l.id DESC LIMIT 1), false) AS online
    ), pts AS (
        SELECT i.connector_id, p_lo AS t, 0 AS kind, 0::bigint AS ord, i.status, o.online
          FROM init i, init_online o
        UNION ALL
        SELECT raw.connector_id, raw.t, 1, raw.id, raw.status, NULL FROM raw
        UNION ALL
        SELECT k.connector_id, conn.at, 2, conn.id, NULL, conn.online FROM conn, conns k
    ), grp AS (
        SELECT pts.*,
               count(pts.kind) FILTER (WHERE pts.kind <> 2) OVER w AS gs,
               count(pts.online) OVER w AS go,
               lead(pts.t, 1, p_hi) OVER w AS t_end
          FROM pts
        WINDOW w AS (PARTITION BY pts.connector_id ORDER BY pts.t, pts.kind, pts.ord
                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    ), filled AS (
        SELECT g.connector_id, g.t, g.t_end,
               first_value(g.status) OVER (PARTITION BY g.connector_id, g.gs ORDER BY g.t, g.kind, g.ord) AS status,
               first_value(g.online) OVER (PARTITION BY g.connector_id, g.go ORDER BY g.t, g.kind, g.ord) AS online
          FROM grp g
    )
    SELECT f.connector_id, f.t, f.t_end, f.status, f.online FROM filled f WHERE f.t_end > f.t
$$;

-- Seconds per class of a charger's timeline over [p_lo, p_hi), per
-- connector and local day of p_zone; end_status: the status at the end of
-- the day's last stretch.
CREATE FUNCTION ocppgw_util_days(p_charger text, p_lo timestamptz, p_hi timestamptz, p_zone text)
RETURNS TABLE (connector_id integer, day date, available_s integer, occupied_s integer,
               charging_s integer, faulted_s integer, unavailable_s integer, offline_s integer,
               end_status text)
LANGUAGE sql STABLE AS $$
    WITH seg AS (
        SELECT g.*, ocppgw_util_class(g.status, g.online) AS cls
          FROM ocppgw_util_segments(p_charger, p_lo, p_hi, p_zone) g
    ), piece AS (
        SELECT seg.connector_id, d.day, seg.s, seg.status, seg.cls,
               extract(epoch FROM least(seg.e, (d.day + 1)::timestamp AT TIME ZONE p_zone)
                                 - greatest(seg.s, d.day::timestamp AT TIME ZONE p_zone)) AS secs
          FROM seg
          CROSS JOIN LATERAL (
              SELECT x::date AS day
                FROM generate_series((seg.s AT TIME ZONE p_zone)::date::timestamp,
                                     ((seg.e - interval '1 microsecond') AT TIME ZONE p_zone)::date::timestamp,
                                     interval '1 day') x) d
    )
    SELECT p.connector_id, p.day,
           round(coalesce(sum(p.secs) FILTER (WHERE p.cls = 'available'), 0))::integer,
           round(coalesce(sum(p.secs) FILTER (WHERE p.cls IN ('occupied', 'charging')), 0))::integer,
           round(coalesce(sum(p.secs) FILTER (WHERE p.cls = 'charging'), 0))::integer,
           round(coalesce(sum(p.secs) FILTER (WHERE p.cls = 'faulted'), 0))::integer,
           round(coalesce(sum(p.secs) FILTER (WHERE p.cls = 'unavailable'), 0))::integer,
           round(coalesce(sum(p.secs) FILTER (WHERE p.cls = 'offline'), 0))::integer,
           (array_agg(p.status ORDER BY p.s DESC))[1]
      FROM piece p
     GROUP BY p.connector_id, p.day
$$;

-- ------------------------------------------------------------------ recompute

-- Rebuilds a charger's day rows from the local midnight before p_from
-- (moved back to done_until when that is older; forward to the horizon)
-- up to now() (or its deletion), and its tail. A change of the charger's
-- zone rebuilds everything the raw history still covers.
CREATE FUNCTION ocppgw_util_recompute(p_charger text, p_from timestamptz)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    u util_charger%ROWTYPE;
    v_zone text := ocppgw_util_zone(p_charger);
    v_from timestamptz := p_from;
    v_day date;
    v_lo timestamptz;
    v_hi timestamptz;
    v_online boolean;
BEGIN
    SELECT * INTO u FROM util_charger WHERE charger_id = p_charger;
    IF v_zone IS NULL THEN
        v_zone := coalesce(u.zone, 'UTC');      -- deleted: keep its zone
    END IF;
    IF u.charger_id IS NOT NULL THEN
        IF u.zone <> v_zone THEN
            v_from := '-infinity';
        END IF;
        v_from := least(v_from, u.done_until);
    END IF;
    v_from := greatest(v_from, ocppgw_util_horizon());
    v_hi := coalesce(u.ended_at, now());
    IF v_from > v_hi THEN
        v_from := v_hi;
    END IF;
    v_day := (v_from AT TIME ZONE v_zone)::date;
    v_lo := v_day::timestamp AT TIME ZONE v_zone;
    DELETE FROM util_day WHERE charger_id = p_charger AND day >= v_day;
    INSERT INTO util_day (charger_id, connector_id, day, available_s, occupied_s, charging_s,
                          faulted_s, unavailable_s, offline_s, end_status)
    SELECT p_charger, d.* FROM ocppgw_util_days(p_charger, v_lo, v_hi, v_zone) d;
    DELETE FROM util_month WHERE charger_id = p_charger AND month >= date_trunc('month', v_day)::date;
    INSERT INTO util_month (charger_id, connector_id, month, available_s, occupied_s, charging_s,
                            faulted_s, unavailable_s, offline_s)
    SELECT p_charger, d.connector_id, date_trunc('month', d.day)::date, sum(d.available_s),
           sum(d.occupied_s), sum(d.charging_s), sum(d.faulted_s), sum(d.unavailable_s),
           sum(d.offline_s)
      FROM util_day d
     WHERE d.charger_id = p_charger AND d.day >= date_trunc('month', v_day)::date
     GROUP BY 2, 3;
    -- the state at v_hi
    INSERT INTO util_tail AS t (charger_id, connector_id, status)
    SELECT p_charger, g.connector_id, g.status
      FROM ocppgw_util_segments(p_charger, v_hi, v_hi + interval '1 microsecond', v_zone) g
    ON CONFLICT (charger_id, connector_id) DO UPDATE SET status = EXCLUDED.status;
    v_online := coalesce((SELECT l.online FROM util_conn_log l
                           WHERE l.charger_id = p_charger AND l.at <= v_hi
                           ORDER BY l.at DESC, l.id DESC LIMIT 1), false);
    INSERT INTO util_charger AS c (charger_id, zone, done_until, online, ended_at)
    VALUES (p_charger, v_zone, v_hi, v_online, u.ended_at)
    ON CONFLICT (charger_id) DO UPDATE
       SET zone = EXCLUDED.zone, done_until = EXCLUDED.done_until, online = EXCLUDED.online;
END $$;

-- One round of the job: chargers whose rows are more than a day behind
-- are queued (so that a report's tails stay short), then up to p_max dirty
-- chargers are recomputed, each under an advisory lock taken without
-- waiting (another gateway holding it: skipped, left queued). Returns how
-- many were recomputed.
CREATE FUNCTION ocppgw_util_drain(p_max integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v_from timestamptz;
    v_last bigint;
    n integer := 0;
BEGIN
    INSERT INTO util_dirty (charger_id, from_at)
    SELECT c.charger_id, c.done_until FROM util_charger c
     WHERE c.ended_at IS NULL AND c.done_until < now() - interval '1 day'
       AND NOT EXISTS (SELECT 1 FROM util_dirty d WHERE d.charger_id = c.charger_id)
     ORDER BY c.done_until LIMIT p_max;
    FOR r IN SELECT q.charger_id FROM (SELECT d.charger_id, min(d.id) AS first
                                         FROM (SELECT * FROM util_dirty ORDER BY id LIMIT p_max * 20) d
                                        GROUP BY d.charger_id) q
              ORDER BY q.first LIMIT p_max
    LOOP
        IF NOT pg_try_advisory_xact_lock(hashtext('ocppgw_util'), hashtext(r.charger_id)) THEN
            CONTINUE;
        END IF;
        SELECT min(d.from_at), max(d.id) INTO v_from, v_last FROM util_dirty d
         WHERE d.charger_id = r.charger_id;
        IF v_last IS NULL THEN
            CONTINUE;                   -- drained by another gateway meanwhile
        END IF;
        DELETE FROM util_dirty d WHERE d.charger_id = r.charger_id AND d.id <= v_last;
        -- one charger that cannot be recomputed (a zone PostgreSQL does not
        -- know) must not stop the others: its queue rows go, a warning stays
        BEGIN
            PERFORM ocppgw_util_recompute(r.charger_id, v_from);
        EXCEPTION WHEN others THEN
            RAISE WARNING 'ocppgw_util_drain: charger %: %', r.charger_id, SQLERRM;
        END;
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- ------------------------------------------------------------------ triggers

CREATE FUNCTION ocppgw_util_status_dirty() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO util_dirty (charger_id, from_at)
    VALUES (NEW.charger_id, coalesce(NEW.status_at, NEW.received_at));
    RETURN NULL;
END $$;

CREATE TRIGGER status_history_util AFTER INSERT ON status_history FOR EACH ROW
    WHEN (NEW.connector_id > 0)
    EXECUTE FUNCTION ocppgw_util_status_dirty();

-- chargers.connected changed: when it became true, at connected_at (a
-- resumed node keeps connected_at: then now()); false, at disconnected_at.
CREATE FUNCTION ocppgw_util_conn_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_at timestamptz;
BEGIN
    IF NEW.connected THEN
        v_at := CASE WHEN TG_OP = 'INSERT' OR NEW.connected_at IS DISTINCT FROM OLD.connected_at
                     THEN coalesce(NEW.connected_at, now()) ELSE now() END;
    ELSE
        v_at := coalesce(NEW.disconnected_at, now());
    END IF;
    INSERT INTO util_conn_log (charger_id, at, online) VALUES (NEW.id, v_at, NEW.connected);
    INSERT INTO util_dirty (charger_id, from_at) VALUES (NEW.id, v_at);
    RETURN NULL;
END $$;

CREATE TRIGGER chargers_util_conn_upd AFTER UPDATE OF connected ON chargers FOR EACH ROW
    WHEN (OLD.connected IS DISTINCT FROM NEW.connected)
    EXECUTE FUNCTION ocppgw_util_conn_change();
CREATE TRIGGER chargers_util_conn_ins AFTER INSERT ON chargers FOR EACH ROW
    WHEN (NEW.connected)
    EXECUTE FUNCTION ocppgw_util_conn_change();

-- A move to another site or zone: queued; the recompute sees the zone
-- differ from its rows' and rebuilds. A deletion ends the timeline.
CREATE FUNCTION ocppgw_util_charger_moved() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE util_charger SET ended_at = now() WHERE charger_id = OLD.id;
        INSERT INTO util_dirty (charger_id, from_at) VALUES (OLD.id, now());
        RETURN NULL;
    END IF;
    INSERT INTO util_dirty (charger_id, from_at) VALUES (NEW.id, now());
    RETURN NULL;
END $$;

CREATE TRIGGER chargers_util_moved AFTER UPDATE OF site_id, time_zone ON chargers FOR EACH ROW
    WHEN (OLD.site_id IS DISTINCT FROM NEW.site_id OR OLD.time_zone IS DISTINCT FROM NEW.time_zone)
    EXECUTE FUNCTION ocppgw_util_charger_moved();
CREATE TRIGGER chargers_util_deleted AFTER DELETE ON chargers FOR EACH ROW
    EXECUTE FUNCTION ocppgw_util_charger_moved();

CREATE FUNCTION ocppgw_util_site_zone() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO util_dirty (charger_id, from_at)
    SELECT c.id, now() FROM chargers c WHERE c.site_id = NEW.id;
    RETURN NULL;
END $$;

CREATE TRIGGER sites_util_zone AFTER UPDATE OF time_zone ON sites FOR EACH ROW
    WHEN (OLD.time_zone IS DISTINCT FROM NEW.time_zone)
    EXECUTE FUNCTION ocppgw_util_site_zone();

-- ------------------------------------------------------------------ backfill

-- The connection history so far, from charger_events (a disconnect that
-- changed nothing, e.g. a replaced connection's, is a repeat and dropped),
-- then every charger queued from the horizon.
INSERT INTO util_conn_log (charger_id, at, online)
SELECT e.charger_id, e.at, e.kind = 'connected'
  FROM (SELECT x.charger_id, x.at, x.id, x.kind,
               lag(x.kind) OVER (PARTITION BY x.charger_id ORDER BY x.at, x.id) AS prev
          FROM charger_events x WHERE x.kind IN ('connected', 'disconnected')) e
 WHERE e.prev IS DISTINCT FROM e.kind
 ORDER BY e.charger_id, e.at, e.id;
INSERT INTO util_conn_log (charger_id, at, online)
SELECT c.id, coalesce(c.connected_at, now()), true FROM chargers c
 WHERE c.connected AND NOT coalesce((SELECT l.online FROM util_conn_log l WHERE l.charger_id = c.id
                                      ORDER BY l.at DESC, l.id DESC LIMIT 1), false);
INSERT INTO util_dirty (charger_id, from_at) SELECT c.id, '-infinity' FROM chargers c;

-- ------------------------------------------------------------------ report

-- The utilization report (contract: ocppgw_report_utilization in
-- REPORTS-CONTRACT; the REST layer's GET /v1/reports/utilization). Per
-- charger in scope and local day of its zone: whole days from util_day
-- plus the tail after done_until; the partial days at the window's edges
-- exactly from the raw history (beyond the horizon: the day row's share).
CREATE FUNCTION ocppgw_report_utilization(p_from timestamptz, p_to timestamptz, p_chargers text[],
                                          p_by_site boolean, p_by_charger boolean, p_period text)
RETURNS TABLE (site_id text, charger_id text, period text,
               connectors bigint, available_s bigint, occupied_s bigint, charging_s bigint,
               faulted_s bigint, unavailable_s bigint, offline_s bigint,
               uptime_pct numeric, occupancy_pct numeric)
LANGUAGE plpgsql STABLE
SET work_mem = '64MB'                       -- hash aggregates over a year of day rows
AS $$
#variable_conflict use_column
DECLARE
    v_now timestamptz := now();
    v_horizon timestamptz := ocppgw_util_horizon();
    -- every zone's local dates lie within a day of UTC's: bounds for the day index
    v_lo date := (p_from AT TIME ZONE 'UTC')::date - 1;
    v_hi date := (p_to AT TIME ZONE 'UTC')::date + 1;
    v_site boolean := coalesce(p_by_site, false) OR coalesce(p_by_charger, false);
    v_charger boolean := coalesce(p_by_charger, false);
    -- whole months from util_month unless days or weeks are asked for
    v_months boolean := p_period IS NULL OR p_period = 'month';
    v_m0 date;                  -- the latest first whole month of any zone in scope
    v_m1 date;                  -- the earliest end of the whole months of any zone
BEGIN
    IF p_period IS NOT NULL AND p_period NOT IN ('day', 'week', 'month') THEN
        RAISE EXCEPTION 'ocppgw_report_utilization: unknown period %', p_period;
    END IF;
    IF p_to <= p_from THEN
        RAISE EXCEPTION 'ocppgw_report_utilization: empty window';
    END IF;
    -- the zones in scope (few): where their whole months begin and end
    SELECT max(m.m0), min(greatest(m.m0, m.m1)) INTO v_m0, v_m1
      FROM (SELECT DISTINCT coalesce(s.time_zone, c.time_zone, u.zone, 'UTC') AS zone
              FROM (SELECT c0.id FROM chargers c0 WHERE p_chargers IS NULL
                    UNION SELECT u0.charger_id FROM util_charger u0 WHERE p_chargers IS NULL
                    UNION SELECT x FROM unnest(p_chargers) x) ids
              LEFT JOIN chargers c ON c.id = ids.id
              LEFT JOIN sites s ON s.id = c.site_id
              LEFT JOIN util_charger u ON u.charger_id = ids.id) z
     CROSS JOIN LATERAL (
          SELECT (p_from AT TIME ZONE z.zone)::date AS d0,
                 ((p_to - interval '1 microsecond') AT TIME ZONE z.zone)::date AS d1) x
     CROSS JOIN LATERAL (
          SELECT CASE WHEN x.d0::timestamp AT TIME ZONE z.zone = p_from THEN x.d0 ELSE x.d0 + 1 END AS w0,
                 CASE WHEN (x.d1 + 1)::timestamp AT TIME ZONE z.zone = p_to THEN x.d1 ELSE x.d1 - 1 END AS w1) w
     CROSS JOIN LATERAL (
          SELECT CASE WHEN date_trunc('month', w.w0)::date = w.w0 THEN w.w0
                      ELSE (date_trunc('month', w.w0) + interval '1 month')::date END AS m0,
                 date_trunc('month', w.w1 + 1)::date AS m1) m;
    v_m0 := coalesce(v_m0, v_lo);
    v_m1 := coalesce(v_m1, v_lo);
    RETURN QUERY
    WITH ids AS (
        SELECT c.id FROM chargers c WHERE p_chargers IS NULL
        UNION SELECT u.charger_id FROM util_charger u WHERE p_chargers IS NULL
        UNION SELECT x FROM unnest(p_chargers) x
    ), ch AS (
        SELECT ids.id AS cid, c.site_id AS sid,
               coalesce(s.time_zone, c.time_zone, u.zone, 'UTC') AS zone,
               u.done_until, u.online, u.ended_at
          FROM ids
          LEFT JOIN chargers c ON c.id = ids.id
          LEFT JOIN sites s ON s.id = c.site_id
          LEFT JOIN util_charger u ON u.charger_id = ids.id
    ), b AS MATERIALIZED (
        -- d0, d1: the local days holding the window's ends; w0..w1 the whole
        -- ones; g_site, g_charger: the charger's group
        SELECT ch.*, x.d0, x.d1,
               CASE WHEN x.d0::timestamp AT TIME ZONE ch.zone = p_from THEN x.d0 ELSE x.d0 + 1 END AS w0,
               CASE WHEN (x.d1 + 1)::timestamp AT TIME ZONE ch.zone = p_to THEN x.d1 ELSE x.d1 - 1 END AS w1,
               CASE WHEN v_site THEN ch.sid END AS g_site,
               CASE WHEN v_charger THEN ch.cid END AS g_charger
          FROM ch CROSS JOIN LATERAL (
              SELECT (p_from AT TIME ZONE ch.zone)::date AS d0,
                     ((p_to - interval '1 microsecond') AT TIME ZONE ch.zone)::date AS d1) x
    ), bm AS MATERIALIZED (
        -- m0..m1 (exclusive): the whole months inside w0..w1 (none: m0 = m1)
        SELECT b.*, m.m0, greatest(m.m0, m.m1) AS m1
          FROM b CROSS JOIN LATERAL (
              SELECT CASE WHEN NOT v_months THEN b.w0
                          WHEN date_trunc('month', b.w0)::date = b.w0 THEN b.w0
                          ELSE (date_trunc('month', b.w0) + interval '1 month')::date END AS m0,
                     CASE WHEN NOT v_months THEN b.w0
                          ELSE date_trunc('month', b.w1 + 1)::date END AS m1) m
    ), edges AS (
        -- the partial days: [lo, hi) inside day
        SELECT b.cid, b.zone, e.day, e.lo, e.hi,
               e.day::timestamp AT TIME ZONE b.zone AS day_lo,
               (e.day + 1)::timestamp AT TIME ZONE b.zone AS day_hi
          FROM b CROSS JOIN LATERAL (
              SELECT b.d0 AS day, p_from AS lo,
                     least(p_to, (b.d0 + 1)::timestamp AT TIME ZONE b.zone) AS hi
               WHERE b.w0 > b.d0
              UNION
              SELECT b.d1, greatest(p_from, b.d1::timestamp AT TIME ZONE b.zone), p_to
               WHERE b.w1 < b.d1) e
         WHERE e.lo < e.hi
    ), pieces AS (
        -- partial days, exact from the raw history
        SELECT e.cid, e.day, x.cls, x.secs
          FROM edges e
          CROSS JOIN LATERAL ocppgw_util_segments(e.cid, e.lo, least(e.hi, v_now), e.zone) g
          CROSS JOIN LATERAL (SELECT ocppgw_util_class(g.status, g.online) AS cls,
                                     extract(epoch FROM g.e - g.s)::float8 AS secs) x
         WHERE e.day_lo >= v_horizon AND e.lo < v_now
        UNION ALL
        -- whole days: the tail after done_until
        SELECT b.cid, dd.day, tl.cls, dd.secs
          FROM b
          JOIN util_tail t ON t.charger_id = b.cid
          CROSS JOIN LATERAL (SELECT ocppgw_util_class(t.status, b.online) AS cls,
                                     greatest(b.done_until, b.w0::timestamp AT TIME ZONE b.zone) AS lo,
                                     least(v_now, coalesce(b.ended_at, 'infinity'),
                                           (b.w1 + 1)::timestamp AT TIME ZONE b.zone) AS hi) tl
          CROSS JOIN LATERAL (
              SELECT x::date AS day,
                     extract(epoch FROM least(tl.hi, (x::date + 1)::timestamp AT TIME ZONE b.zone)
                                       - greatest(tl.lo, x::date::timestamp AT TIME ZONE b.zone))::float8 AS secs
                FROM generate_series((tl.lo AT TIME ZONE b.zone)::date::timestamp,
                                     ((tl.hi - interval '1 microsecond') AT TIME ZONE b.zone)::date::timestamp,
                                     interval '1 day') x) dd
         WHERE tl.lo < tl.hi AND b.w0 <= b.w1
    ), per_day AS (
        -- whole days outside the whole months: the day rollup
        SELECT b.g_site, b.g_charger, d.day,
               sum(d.available_s)::float8 AS av, sum(d.occupied_s)::float8 AS oc,
               sum(d.charging_s)::float8 AS chg, sum(d.faulted_s)::float8 AS fa,
               sum(d.unavailable_s)::float8 AS un, sum(d.offline_s)::float8 AS off
          FROM util_day d JOIN bm b ON b.cid = d.charger_id
         WHERE d.day BETWEEN v_lo AND v_hi AND d.day BETWEEN b.w0 AND b.w1
           AND NOT (d.day >= b.m0 AND d.day < b.m1)
           -- with months, the days left lie in two ranges: index ranges
           AND (NOT v_months OR d.day < v_m0 OR d.day >= v_m1)
         GROUP BY 1, 2, 3
        UNION ALL
        -- whole months: the month rollup (labelled by their first day)
        SELECT b.g_site, b.g_charger, m.month,
               sum(m.available_s)::float8, sum(m.occupied_s)::float8, sum(m.charging_s)::float8,
               sum(m.faulted_s)::float8, sum(m.unavailable_s)::float8, sum(m.offline_s)::float8
          FROM util_month m JOIN bm b ON b.cid = m.charger_id
         WHERE v_months AND m.month >= date_trunc('month', v_lo)::date AND m.month <= v_hi
           AND m.month >= b.m0 AND m.month < b.m1
         GROUP BY 1, 2, 3
        UNION ALL
        SELECT b.g_site, b.g_charger, p.day,
               sum(p.secs) FILTER (WHERE p.cls = 'available'),
               sum(p.secs) FILTER (WHERE p.cls IN ('occupied', 'charging')),
               sum(p.secs) FILTER (WHERE p.cls = 'charging'),
               sum(p.secs) FILTER (WHERE p.cls = 'faulted'),
               sum(p.secs) FILTER (WHERE p.cls = 'unavailable'),
               sum(p.secs) FILTER (WHERE p.cls = 'offline')
          FROM pieces p JOIN b ON b.cid = p.cid
         WHERE p.cls IS NOT NULL
         GROUP BY 1, 2, 3
        UNION ALL
        -- partial days beyond the horizon: the day row's share
        SELECT b.g_site, b.g_charger, e.day, d.available_s * f, d.occupied_s * f, d.charging_s * f,
               d.faulted_s * f, d.unavailable_s * f, d.offline_s * f
          FROM edges e
          JOIN b ON b.cid = e.cid
          JOIN util_day d ON d.charger_id = e.cid AND d.day = e.day
          CROSS JOIN LATERAL (SELECT (extract(epoch FROM e.hi - e.lo)
                                      / extract(epoch FROM e.day_hi - e.day_lo))::float8 AS f) x
         WHERE e.day_lo < v_horizon
    ), days AS (
        SELECT DISTINCT pd.day FROM per_day pd
    ), day_label AS (
        SELECT days.day,
               CASE p_period WHEN 'day' THEN to_char(days.day, 'YYYY-MM-DD')
                             WHEN 'week' THEN to_char(days.day, 'IYYY-"W"IW')
                             WHEN 'month' THEN to_char(days.day, 'YYYY-MM') END AS label
          FROM days
    ), sums AS (
        SELECT pd.g_site, pd.g_charger, dl.label,
               round(coalesce(sum(pd.av), 0))::bigint AS av, round(coalesce(sum(pd.oc), 0))::bigint AS oc,
               round(coalesce(sum(pd.chg), 0))::bigint AS chg, round(coalesce(sum(pd.fa), 0))::bigint AS fa,
               round(coalesce(sum(pd.un), 0))::bigint AS un, round(coalesce(sum(pd.off), 0))::bigint AS off
          FROM per_day pd JOIN day_label dl ON dl.day = pd.day
         GROUP BY 1, 2, 3
    ), zones AS (
        SELECT DISTINCT b.zone, b.d0, b.d1 FROM b
        UNION SELECT 'UTC', (p_from AT TIME ZONE 'UTC')::date,
                     ((p_to - interval '1 microsecond') AT TIME ZONE 'UTC')::date
         WHERE NOT EXISTS (SELECT 1 FROM b)
    ), labels AS (
        SELECT DISTINCT z.zone,
               CASE p_period WHEN 'day' THEN to_char(x, 'YYYY-MM-DD')
                             WHEN 'week' THEN to_char(x, 'IYYY-"W"IW')
                             WHEN 'month' THEN to_char(x, 'YYYY-MM') END AS label
          FROM zones z CROSS JOIN LATERAL generate_series(z.d0::timestamp, z.d1::timestamp, interval '1 day') x
         WHERE p_period IS NOT NULL
        UNION ALL
        SELECT DISTINCT z.zone, NULL FROM zones z WHERE p_period IS NULL
    ), groups AS (
        SELECT DISTINCT b.g_site, b.g_charger, lb.label
          FROM b JOIN labels lb ON lb.zone = b.zone
        UNION
        SELECT NULL, NULL, lb.label FROM labels lb WHERE NOT v_site
    ), conn_count AS (
        SELECT b.g_site, b.g_charger, count(*) AS n
          FROM b CROSS JOIN LATERAL ocppgw_util_connectors(b.cid) k
         GROUP BY 1, 2
    )
    SELECT g.g_site, g.g_charger, g.label,
           coalesce(cc.n, 0),
           coalesce(s.av, 0), coalesce(s.oc, 0), coalesce(s.chg, 0), coalesce(s.fa, 0),
           coalesce(s.un, 0), coalesce(s.off, 0),
           CASE WHEN coalesce(s.av + s.oc + s.fa + s.un + s.off, 0) > 0
                THEN round(100.0 * (s.av + s.oc) / (s.av + s.oc + s.fa + s.un + s.off), 2) END,
           CASE WHEN coalesce(s.av + s.oc + s.fa + s.un + s.off, 0) > 0
                THEN round(100.0 * s.oc / (s.av + s.oc + s.fa + s.un + s.off), 2) END
      FROM groups g
      -- keys compared with '' for NULL ('' is no site, charger or label): hash joins
      LEFT JOIN sums s ON coalesce(s.g_site, '') = coalesce(g.g_site, '')
                      AND coalesce(s.g_charger, '') = coalesce(g.g_charger, '')
                      AND coalesce(s.label, '') = coalesce(g.label, '')
      LEFT JOIN conn_count cc ON coalesce(cc.g_site, '') = coalesce(g.g_site, '')
                             AND coalesce(cc.g_charger, '') = coalesce(g.g_charger, '');
END $$;
