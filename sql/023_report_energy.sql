-- ocppgw schema, version 23: the energy report's rollups, and carbon
-- (issue 15; ../shared/spec/reports.md; docs/architecture.md "Reports:
-- rollups" says how the pieces fit and why).
--
-- Three levels:
--   energy_sessions  one row per completed session: its energy, charging
--                    and idle milliseconds per 15-minute UTC slot (arrays
--                    from slot0 on), split by the pricing's interpolation
--                    of the register (src/model/pricing.c, pricing_split,
--                    computed by the energy job in C), and its final cost.
--                    15 minutes, not an hour: every zone's offset is a
--                    multiple of 15 minutes, so a local day is always whole
--                    slots (Asia/Kolkata's midnight is 18:30 UTC).
--   energy_days      per charger and LOCAL day (its zone now): sessions
--                    started, energy, charging/idle ms, CO2 (mg), and per
--                    currency the revenue of the sessions started that day;
--                    always rebuilt from energy_sessions for a charger and
--                    a range of days, never patched by deltas.
--   energy_chargers  every charger that has a contribution (deleted ones
--                    too) and the longest span of its sessions, which
--                    bounds the index scans of the slots.
-- The report (ocppgw_report_energy) sums energy_days for the whole local
-- days of its window and the slots of energy_sessions for the partial days
-- at its edges.
--
-- When: triggers queue work in energy_queue, in the writer's transaction
-- (an INSERT, never an update of a shared row): a session completed (or
-- made final by the pricing job, or its cost/stop changed), MeterValues
-- stored for a completed session (late uploads), a charging-ended status of
-- a completed session's connector; a charger's site or zone changed or the
-- charger deleted (rebuild all its days); a site's zone or co2GramsPerKwh
-- changed (all days of its chargers), its carbon series replaced (the
-- days of the range). The energy job (src/store/energy_job.c, on the
-- pricing thread's connection) drains the queue: one gateway at a time
-- (pg_try_advisory_xact_lock), rows claimed with FOR UPDATE SKIP LOCKED and
-- deleted in its transaction; sessions still waiting for their cost
-- (cost_state 'pending') stay queued until the pricing job makes them
-- final (which queues them again).

-- ---------------------------------------------------------------- carbon

ALTER TABLE sites ADD COLUMN co2_grams_per_kwh numeric CHECK (co2_grams_per_kwh >= 0);

-- Hourly (or any) intensities from a grid operator: [from_ts, to_ts).
-- PUT /v1/sites/{id}/carbon-intensity replaces the rows in the range it
-- covers (ocppgw_carbon_put); rows never overlap.
CREATE TABLE site_carbon_intensity (
    site_id        text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    from_ts        timestamptz NOT NULL,
    to_ts          timestamptz NOT NULL,
    grams_per_kwh  numeric NOT NULL CHECK (grams_per_kwh >= 0),
    PRIMARY KEY (site_id, from_ts),
    CHECK (from_ts < to_ts)
);

-- ---------------------------------------------------------------- rollups

CREATE TABLE energy_queue (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id  bigint,             -- recompute this session's contribution
    charger_id  text,               -- rebuild this charger's days over [from_ts, to_ts) (NULL: all)
    site_id     text,               -- rebuild the days of this site's chargers over [from_ts, to_ts)
    from_ts     timestamptz,
    to_ts       timestamptz,
    queued_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(session_id, charger_id, site_id) = 1)
);

CREATE TABLE energy_sessions (
    session_id   bigint PRIMARY KEY,
    charger_id   text NOT NULL,
    start_time   timestamptz NOT NULL,
    slot0        timestamptz NOT NULL,      -- the start of the first slot (floor of the start to 15 min)
    slot_end     timestamptz NOT NULL,      -- the end of the last slot
    wh           bigint[] NOT NULL,         -- per slot
    charging_ms  bigint[] NOT NULL,
    idle_ms      bigint[] NOT NULL,
    currency     text,                      -- the final cost, if any
    net          bigint,
    vat          bigint,
    gross        bigint,
    computed_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (cardinality(wh) = cardinality(charging_ms) AND cardinality(wh) = cardinality(idle_ms))
);
CREATE INDEX energy_sessions_slot_idx ON energy_sessions (charger_id, slot0);
CREATE INDEX energy_sessions_start_idx ON energy_sessions (charger_id, start_time);

CREATE TABLE energy_chargers (
    charger_id  text PRIMARY KEY,
    max_span    interval NOT NULL DEFAULT '0'
);

CREATE TABLE energy_days (
    charger_id   text NOT NULL,
    day          date NOT NULL,             -- local, in zone
    currency     text NOT NULL DEFAULT '',  -- '': sessions, energy, times, CO2; else that currency's revenue
    zone         text NOT NULL,
    sessions     bigint NOT NULL DEFAULT 0,
    energy_wh    bigint NOT NULL DEFAULT 0,
    charging_ms  bigint NOT NULL DEFAULT 0,
    idle_ms      bigint NOT NULL DEFAULT 0,
    co2_mg       bigint NOT NULL DEFAULT 0, -- Wh x g/kWh = mg
    net          bigint NOT NULL DEFAULT 0,
    vat          bigint NOT NULL DEFAULT 0,
    gross        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (charger_id, day, currency)
);

-- energy_days summed per charger and local month (its first day): what a
-- report over whole months reads (a year of 1,000 chargers: 12,000 rows
-- instead of 365,000), rebuilt from energy_days with them.
CREATE TABLE energy_months (
    charger_id   text NOT NULL,
    month        date NOT NULL,
    currency     text NOT NULL DEFAULT '',
    sessions     bigint NOT NULL,
    energy_wh    bigint NOT NULL,
    charging_ms  bigint NOT NULL,
    idle_ms      bigint NOT NULL,
    co2_mg       bigint NOT NULL,
    net          bigint NOT NULL,
    vat          bigint NOT NULL,
    gross        bigint NOT NULL,
    PRIMARY KEY (charger_id, month, currency)
);

-- ---------------------------------------------------------------- inputs and slots

-- What the energy split needs of a completed session, in the field layout
-- of ocppgw_session_cost_input (sql/021; src/model/session_cost.c parses
-- both), with the tariff's fields empty: start_ms | stop_ms | meter_start |
-- meter_stop | 0 | | | | | | status_ended_ms | energy samples | power
-- samples |. The same samples and the same status rule as the pricing.
-- NULL when there is no such completed session.
CREATE FUNCTION ocppgw_session_energy_input(p_id bigint) RETURNS text
LANGUAGE sql STABLE AS $$
    WITH s AS (
        SELECT x.*, coalesce(x.end_time, x.start_time) AS stop_at
          FROM sessions x WHERE x.id = p_id AND x.status = 'completed'),
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
    SELECT format('%s|%s|%s|%s|0||||||%s|%s|%s|',
           (date_part('epoch', s.start_time) * 1000)::bigint,
           (date_part('epoch', s.stop_at) * 1000)::bigint,
           s.meter_start, coalesce(s.meter_stop, s.meter_start),
           (SELECT (date_part('epoch', min(coalesce(h.status_at, h.received_at))) * 1000)::bigint
              FROM status_history h, flowing f
             WHERE h.charger_id = s.charger_id AND h.connector_id = s.connector_id
               AND h.status IN ('SuspendedEV', 'Finishing', 'Available')
               AND coalesce(h.status_at, h.received_at) >= f.t
               AND coalesce(h.status_at, h.received_at) <= s.stop_at),
           (SELECT string_agg(mv.ms || ':' || mv.v, ',') FROM mv
             WHERE mv.measurand = 'Energy.Active.Import.Register'),
           (SELECT string_agg(mv.ms || ':' || mv.v, ',') FROM mv WHERE mv.measurand = 'Power.Active.Import'))
      FROM s
$$;

-- The slots of a charger's contributions that start in [p_from, p_to).
CREATE FUNCTION ocppgw_energy_slots(p_charger text, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (at timestamptz, wh bigint, charging_ms bigint, idle_ms bigint)
LANGUAGE sql STABLE AS $$
    SELECT e.slot0 + (u.n - 1) * interval '15 minutes', u.wh, u.c, u.i
      FROM energy_sessions e,
           unnest(e.wh, e.charging_ms, e.idle_ms) WITH ORDINALITY AS u(wh, c, i, n)
     WHERE e.charger_id = p_charger AND e.slot0 < p_to
       AND e.slot0 >= p_from - interval '15 minutes' - coalesce(
               (SELECT ec.max_span FROM energy_chargers ec WHERE ec.charger_id = p_charger), '0')
       AND e.slot0 + (u.n - 1) * interval '15 minutes' >= p_from
       AND e.slot0 + (u.n - 1) * interval '15 minutes' < p_to
$$;

-- The intensity of a site at an instant: its series, else its constant, else 0 (g/kWh).
CREATE FUNCTION ocppgw_carbon_at(p_site text, p_const numeric, p_has_series boolean, p_at timestamptz)
RETURNS numeric
LANGUAGE sql STABLE AS $$
    SELECT coalesce(CASE WHEN p_has_series THEN
               (SELECT ci.grams_per_kwh FROM site_carbon_intensity ci
                 WHERE ci.site_id = p_site AND ci.from_ts <= p_at AND ci.to_ts > p_at
                 ORDER BY ci.from_ts DESC LIMIT 1) END, p_const, 0)
$$;

-- ---------------------------------------------------------------- days

-- Rebuilds the local days of charger p_charger (in its zone now) that meet
-- [p_from, p_to) from energy_sessions; p_from NULL: every day it has (its
-- old rows, maybe of another zone, all deleted first).
CREATE FUNCTION ocppgw_energy_rebuild(p_charger text, p_from timestamptz, p_to timestamptz)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_zone text;
    v_site text;
    v_const numeric;
    v_series boolean;
    d1 date;
    d2 date;
    lo timestamptz;
    hi timestamptz;
BEGIN
    SELECT coalesce(st.time_zone, c.time_zone, 'UTC'), c.site_id, st.co2_grams_per_kwh
      INTO v_zone, v_site, v_const
      FROM chargers c LEFT JOIN sites st ON st.id = c.site_id WHERE c.id = p_charger;
    v_zone := coalesce(v_zone, 'UTC');
    -- min() walks the primary key (EXISTS may be planned as a scan of the whole series)
    v_series := (SELECT min(ci.from_ts) FROM site_carbon_intensity ci WHERE ci.site_id = v_site) IS NOT NULL;
    IF p_from IS NULL OR p_to IS NULL THEN
        DELETE FROM energy_days d WHERE d.charger_id = p_charger;
        DELETE FROM energy_months m WHERE m.charger_id = p_charger;
        SELECT min(e.slot0), max(e.slot_end) INTO p_from, p_to
          FROM energy_sessions e WHERE e.charger_id = p_charger;
        IF p_from IS NULL THEN
            RETURN;
        END IF;
    END IF;
    IF p_from >= p_to THEN
        RETURN;
    END IF;
    d1 := (p_from AT TIME ZONE v_zone)::date;
    d2 := ((p_to - interval '1 microsecond') AT TIME ZONE v_zone)::date;
    lo := d1::timestamp AT TIME ZONE v_zone;
    hi := (d2 + 1)::timestamp AT TIME ZONE v_zone;
    DELETE FROM energy_days d WHERE d.charger_id = p_charger AND d.day BETWEEN d1 AND d2;

    INSERT INTO energy_days (charger_id, day, currency, zone, sessions, energy_wh, charging_ms, idle_ms, co2_mg)
    SELECT p_charger, coalesce(a.day, n.day), '', v_zone, coalesce(n.sessions, 0), coalesce(a.wh, 0),
           coalesce(a.c, 0), coalesce(a.i, 0), coalesce(a.co2, 0)
      FROM (SELECT (sl.at AT TIME ZONE v_zone)::date AS day, sum(sl.wh) AS wh, sum(sl.charging_ms) AS c,
                   sum(sl.idle_ms) AS i,
                   round(sum(sl.wh * ocppgw_carbon_at(v_site, v_const, v_series, sl.at)))::bigint AS co2
              FROM ocppgw_energy_slots(p_charger, lo, hi) sl GROUP BY 1) a
      FULL JOIN (SELECT (e.start_time AT TIME ZONE v_zone)::date AS day, count(*) AS sessions
                   FROM energy_sessions e
                  WHERE e.charger_id = p_charger AND e.start_time >= lo AND e.start_time < hi
                  GROUP BY 1) n ON n.day = a.day;

    INSERT INTO energy_days (charger_id, day, currency, zone, net, vat, gross)
    SELECT p_charger, (e.start_time AT TIME ZONE v_zone)::date, e.currency, v_zone,
           sum(e.net), sum(e.vat), sum(e.gross)
      FROM energy_sessions e
     WHERE e.charger_id = p_charger AND e.start_time >= lo AND e.start_time < hi AND e.currency IS NOT NULL
     GROUP BY 2, 3;

    -- the months of those days, from the days
    d1 := date_trunc('month', d1)::date;
    d2 := (date_trunc('month', d2) + interval '1 month')::date;
    DELETE FROM energy_months m WHERE m.charger_id = p_charger AND m.month >= d1 AND m.month < d2;
    INSERT INTO energy_months (charger_id, month, currency, sessions, energy_wh, charging_ms, idle_ms, co2_mg,
                               net, vat, gross)
    SELECT p_charger, date_trunc('month', d.day)::date, d.currency, sum(d.sessions), sum(d.energy_wh),
           sum(d.charging_ms), sum(d.idle_ms), sum(d.co2_mg), sum(d.net), sum(d.vat), sum(d.gross)
      FROM energy_days d
     WHERE d.charger_id = p_charger AND d.day >= d1 AND d.day < d2
     GROUP BY 2, 3;
END $$;

-- The energy job's write for one session: its contribution (slots of 15
-- minutes from p_slot0_ms, as pricing_split computed them) replaces the
-- old one, and the days either touches are rebuilt. A session that is no
-- longer there (deleted by retention) keeps its old contribution.
CREATE FUNCTION ocppgw_energy_apply(p_session bigint, p_slot0_ms bigint, p_wh bigint[],
                                    p_charging bigint[], p_idle bigint[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    s sessions%ROWTYPE;
    o energy_sessions%ROWTYPE;
    v_slot0 timestamptz := ocppgw_ts(p_slot0_ms);
    v_end timestamptz := ocppgw_ts(p_slot0_ms) + cardinality(p_wh) * interval '15 minutes';
BEGIN
    SELECT * INTO s FROM sessions WHERE id = p_session;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT * INTO o FROM energy_sessions WHERE session_id = p_session;
    INSERT INTO energy_sessions AS e (session_id, charger_id, start_time, slot0, slot_end, wh, charging_ms,
                                      idle_ms, currency, net, vat, gross)
    VALUES (p_session, s.charger_id, s.start_time, v_slot0, v_end, p_wh, p_charging, p_idle,
            CASE WHEN s.cost_final AND s.cost IS NOT NULL THEN s.currency END,
            CASE WHEN s.cost_final AND s.cost IS NOT NULL THEN coalesce(s.cost_net, s.cost) END,
            CASE WHEN s.cost_final AND s.cost IS NOT NULL THEN coalesce(s.cost_vat, 0) END,
            CASE WHEN s.cost_final AND s.cost IS NOT NULL THEN s.cost END)
    ON CONFLICT (session_id) DO UPDATE
       SET charger_id = EXCLUDED.charger_id, start_time = EXCLUDED.start_time, slot0 = EXCLUDED.slot0,
           slot_end = EXCLUDED.slot_end, wh = EXCLUDED.wh, charging_ms = EXCLUDED.charging_ms,
           idle_ms = EXCLUDED.idle_ms, currency = EXCLUDED.currency, net = EXCLUDED.net,
           vat = EXCLUDED.vat, gross = EXCLUDED.gross, computed_at = now();
    INSERT INTO energy_chargers AS ec (charger_id, max_span) VALUES (s.charger_id, v_end - v_slot0)
    ON CONFLICT (charger_id) DO UPDATE SET max_span = greatest(ec.max_span, EXCLUDED.max_span)
     WHERE ec.max_span < EXCLUDED.max_span;
    IF o.session_id IS NOT NULL AND o.charger_id <> s.charger_id THEN
        PERFORM ocppgw_energy_rebuild(o.charger_id, o.slot0, o.slot_end);
        o := NULL;
    END IF;
    PERFORM ocppgw_energy_rebuild(s.charger_id, least(v_slot0, o.slot0), greatest(v_end, o.slot_end));
END $$;

-- Claims up to p_limit queue rows (one gateway at a time: the caller holds
-- the job's advisory lock; SKIP LOCKED all the same), runs the rebuilds
-- they ask for, and answers the distinct sessions to recompute. Sessions
-- still waiting for the pricing job stay queued.
CREATE FUNCTION ocppgw_energy_claim(p_limit integer)
RETURNS TABLE (session_id bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_sessions bigint[];
    v_chargers text[];
    v_sites text[];
    v_from timestamptz[];
    v_to timestamptz[];
    q record;
BEGIN
    WITH c AS (
        SELECT q.id FROM energy_queue q
         WHERE q.session_id IS NULL
            OR NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = q.session_id AND s.cost_state = 'pending')
         ORDER BY q.id LIMIT p_limit FOR UPDATE SKIP LOCKED),
    d AS (DELETE FROM energy_queue q USING c WHERE q.id = c.id
          RETURNING q.session_id, q.charger_id, q.site_id, q.from_ts, q.to_ts)
    SELECT array_agg(d.session_id), array_agg(d.charger_id), array_agg(d.site_id), array_agg(d.from_ts),
           array_agg(d.to_ts)
      INTO v_sessions, v_chargers, v_sites, v_from, v_to
      FROM d;
    IF v_sessions IS NULL THEN
        RETURN;
    END IF;
    -- rebuilds: once per (charger, range); the whole history (NULL range) first
    FOR q IN
        SELECT DISTINCT x.charger_id, x.from_ts, x.to_ts FROM (
            SELECT k.charger_id, k.from_ts, k.to_ts
              FROM unnest(v_chargers, v_from, v_to) AS k(charger_id, from_ts, to_ts)
             WHERE k.charger_id IS NOT NULL
            UNION ALL
            SELECT c.id, k.from_ts, k.to_ts
              FROM unnest(v_sites, v_from, v_to) AS k(site_id, from_ts, to_ts)
              JOIN chargers c ON c.site_id = k.site_id) x
         ORDER BY x.charger_id, x.from_ts NULLS FIRST
    LOOP
        PERFORM ocppgw_energy_rebuild(q.charger_id, q.from_ts, q.to_ts);
    END LOOP;
    RETURN QUERY SELECT DISTINCT k FROM unnest(v_sessions) k WHERE k IS NOT NULL ORDER BY 1;
END $$;

-- ---------------------------------------------------------------- triggers (queueing only)

CREATE FUNCTION ocppgw_energy_queue_session() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO energy_queue (session_id) VALUES (NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER sessions_energy_ins AFTER INSERT ON sessions FOR EACH ROW
    WHEN (NEW.status = 'completed')
    EXECUTE FUNCTION ocppgw_energy_queue_session();
CREATE TRIGGER sessions_energy_upd AFTER UPDATE ON sessions FOR EACH ROW
    WHEN (NEW.status = 'completed' AND NEW.cost_state <> 'pending'
          AND (OLD.status <> 'completed' OR OLD.cost_state <> NEW.cost_state
               OR OLD.cost IS DISTINCT FROM NEW.cost OR OLD.currency IS DISTINCT FROM NEW.currency
               OR OLD.end_time IS DISTINCT FROM NEW.end_time OR OLD.meter_stop IS DISTINCT FROM NEW.meter_stop
               OR OLD.start_time <> NEW.start_time OR OLD.meter_start <> NEW.meter_start
               OR OLD.charger_id <> NEW.charger_id))
    EXECUTE FUNCTION ocppgw_energy_queue_session();

-- Samples stored for a session that is already completed (a late upload):
-- once per statement (ocppgw_meter_batch inserts a whole batch in one).
CREATE FUNCTION ocppgw_energy_queue_meter() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO energy_queue (session_id)
    SELECT s.id FROM (SELECT DISTINCT n.session_id FROM new_rows n WHERE n.session_id IS NOT NULL) n
      JOIN sessions s ON s.id = n.session_id
     WHERE s.status = 'completed';
    RETURN NULL;
END $$;
CREATE TRIGGER meter_values_energy AFTER INSERT ON meter_values
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION ocppgw_energy_queue_meter();

-- A status that may end charging, stored after the session it ends was
-- completed (written behind, or sent late with its own timestamp). Only the
-- charger's 20 newest sessions are looked at (an index scan of 20 rows per
-- such status, whatever the charger's history: most of these statuses, an
-- Available after a stop, fall in no session at all).
CREATE FUNCTION ocppgw_energy_queue_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO energy_queue (session_id)
    SELECT DISTINCT x.id FROM new_rows n
      CROSS JOIN LATERAL (
          SELECT s.id FROM (SELECT * FROM sessions r WHERE r.charger_id = n.charger_id
                             ORDER BY r.id DESC LIMIT 20) s
           WHERE s.connector_id = n.connector_id AND s.status = 'completed'
             AND s.start_time <= coalesce(n.status_at, n.received_at)
             AND coalesce(s.end_time, s.start_time) >= coalesce(n.status_at, n.received_at)
           ORDER BY s.id DESC LIMIT 1) x
     WHERE n.status IN ('SuspendedEV', 'Finishing', 'Available');
    RETURN NULL;
END $$;
CREATE TRIGGER status_history_energy AFTER INSERT ON status_history
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION ocppgw_energy_queue_status();

-- A charger's zone or site (so its days, and its CO2) changed, or it is gone (UTC now).
CREATE FUNCTION ocppgw_energy_queue_charger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM energy_chargers e WHERE e.charger_id = OLD.id) THEN
        INSERT INTO energy_queue (charger_id) VALUES (OLD.id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER chargers_energy_upd AFTER UPDATE OF site_id, time_zone ON chargers FOR EACH ROW
    WHEN (OLD.site_id IS DISTINCT FROM NEW.site_id OR OLD.time_zone IS DISTINCT FROM NEW.time_zone)
    EXECUTE FUNCTION ocppgw_energy_queue_charger();
CREATE TRIGGER chargers_energy_del AFTER DELETE ON chargers FOR EACH ROW
    EXECUTE FUNCTION ocppgw_energy_queue_charger();

CREATE FUNCTION ocppgw_energy_queue_site() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO energy_queue (site_id) VALUES (NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER sites_energy_upd AFTER UPDATE OF time_zone, co2_grams_per_kwh ON sites FOR EACH ROW
    WHEN (OLD.time_zone IS DISTINCT FROM NEW.time_zone OR OLD.co2_grams_per_kwh IS DISTINCT FROM NEW.co2_grams_per_kwh)
    EXECUTE FUNCTION ocppgw_energy_queue_site();

-- PUT /v1/sites/{id}/carbon-intensity: p_items [{"f": from_ms, "t": to_ms,
-- "g": gramsPerKwh}] (validated by the REST layer: from < to, no overlap) replace every row of the site that meets
-- [min(from), max(to)); the days of that range are queued for a rebuild.
-- Answers the number of rows written, or NULL when there is no such site.
CREATE FUNCTION ocppgw_carbon_put(p_site text, p_items jsonb) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_from timestamptz;
    v_to timestamptz;
    n integer;
BEGIN
    PERFORM 1 FROM sites WHERE id = p_site FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT min(ocppgw_ts((i->>'f')::bigint)), max(ocppgw_ts((i->>'t')::bigint)) INTO v_from, v_to
      FROM jsonb_array_elements(p_items) i;
    IF v_from IS NULL THEN
        RETURN 0;
    END IF;
    DELETE FROM site_carbon_intensity ci WHERE ci.site_id = p_site AND ci.from_ts < v_to AND ci.to_ts > v_from;
    INSERT INTO site_carbon_intensity (site_id, from_ts, to_ts, grams_per_kwh)
    SELECT p_site, ocppgw_ts((i->>'f')::bigint), ocppgw_ts((i->>'t')::bigint), (i->>'g')::numeric
      FROM jsonb_array_elements(p_items) i;
    GET DIAGNOSTICS n = ROW_COUNT;
    -- whole history when the site had no series before is not needed: the
    -- constant applied outside the range and still does
    INSERT INTO energy_queue (site_id, from_ts, to_ts) VALUES (p_site, v_from, v_to);
    RETURN n;
END $$;

-- ---------------------------------------------------------------- the report

-- REPORTS-CONTRACT.md (issue 15) fixes the signature and the semantics.
-- Whole local days of each charger inside the window come from
-- energy_days, the partial days at the window's edges from the slots (a
-- slot counts when it starts inside the window); sessions and revenue
-- count in the day the session started. Dense: every group of the chargers
-- in scope times every period label of their zones that meets the window.
CREATE FUNCTION ocppgw_report_energy(p_from timestamptz, p_to timestamptz, p_chargers text[],
                                     p_by_site boolean, p_by_charger boolean, p_period text)
RETURNS TABLE (site_id text, charger_id text, period text,
               sessions bigint, energy_wh bigint, charging_s bigint, idle_s bigint,
               revenue jsonb, co2_g bigint)
-- jit off: compiling this statement costs seconds, running it well under one
LANGUAGE sql STABLE SET jit = off AS $$
    WITH ch AS (
        SELECT c.id, c.site_id AS site, coalesce(st.time_zone, c.time_zone, 'UTC') AS zone,
               st.co2_grams_per_kwh AS co2_const,
               (SELECT min(ci.from_ts) FROM site_carbon_intensity ci WHERE ci.site_id = c.site_id) IS NOT NULL AS series
          FROM chargers c LEFT JOIN sites st ON st.id = c.site_id
         WHERE p_chargers IS NULL OR c.id = ANY (p_chargers)
        UNION ALL
        SELECT e.charger_id, NULL, 'UTC', NULL, false
          FROM energy_chargers e
         WHERE (p_chargers IS NULL OR e.charger_id = ANY (p_chargers))
           AND NOT EXISTS (SELECT 1 FROM chargers c WHERE c.id = e.charger_id)),
    g AS (  -- each charger's group keys and its whole local days [d1, d2] = [wf, wt)
        SELECT ch.*,
               CASE WHEN coalesce(p_by_site, false) OR coalesce(p_by_charger, false) THEN ch.site END AS gsite,
               CASE WHEN coalesce(p_by_charger, false) THEN ch.id END AS gch,
               w.d1, w.d2, w.d1::timestamp AT TIME ZONE ch.zone AS wf, (w.d2 + 1)::timestamp AT TIME ZONE ch.zone AS wt,
               -- whole months inside [d1, d2] (none when the period is a day or a week): [m1, m2)
               CASE WHEN p_period IS NULL OR p_period = 'month' THEN
                    (date_trunc('month', w.d1 - 1) + interval '1 month')::date END AS m1,
               CASE WHEN p_period IS NULL OR p_period = 'month' THEN
                    date_trunc('month', w.d2 + 1)::date END AS m2
          FROM ch, LATERAL (
              SELECT CASE WHEN (l0::timestamp AT TIME ZONE ch.zone) >= p_from THEN l0 ELSE l0 + 1 END AS d1,
                     l1 - 1 AS d2
                FROM (SELECT (p_from AT TIME ZONE ch.zone)::date AS l0, (p_to AT TIME ZONE ch.zone)::date AS l1) l) w),
    edges AS (  -- per charger, the ranges the slots answer for
        SELECT g.*, r.lo, r.hi
          FROM g, LATERAL (VALUES
                 (p_from, CASE WHEN g.d1 <= g.d2 THEN g.wf ELSE p_to END),
                 (CASE WHEN g.d1 <= g.d2 THEN g.wt ELSE p_to END, p_to)) r(lo, hi)
         WHERE r.lo < r.hi),
    figs AS (  -- (group, local day, currency) figures: whole days, then the edges' slots and sessions
        SELECT g.gsite, g.gch, d.day, d.currency, sum(d.sessions) AS sessions, sum(d.energy_wh) AS wh,
               sum(d.charging_ms) AS c, sum(d.idle_ms) AS i, sum(d.co2_mg)::numeric AS co2, sum(d.net) AS net,
               sum(d.vat) AS vat, sum(d.gross) AS gross
          FROM g,
               LATERAL (VALUES  -- the whole days outside the whole months, as index ranges
                   (g.d1, CASE WHEN g.m1 < g.m2 THEN least(g.d2, g.m1 - 1) ELSE g.d2 END),
                   (CASE WHEN g.m1 < g.m2 THEN greatest(g.d1, g.m2) END, g.d2)) r(a, b),
               LATERAL (SELECT x.* FROM energy_days x
                         WHERE x.charger_id = g.id AND x.day BETWEEN r.a AND r.b OFFSET 0) d
         WHERE r.a <= r.b
         GROUP BY 1, 2, 3, 4
        UNION ALL
        SELECT g.gsite, g.gch, m.month, m.currency, sum(m.sessions), sum(m.energy_wh), sum(m.charging_ms),
               sum(m.idle_ms), sum(m.co2_mg)::numeric, sum(m.net), sum(m.vat), sum(m.gross)
          FROM g, LATERAL (SELECT x.* FROM energy_months x
                            WHERE x.charger_id = g.id AND x.month >= g.m1 AND x.month < g.m2 OFFSET 0) m
         GROUP BY 1, 2, 3, 4
        UNION ALL
        SELECT e.gsite, e.gch, (sl.at AT TIME ZONE e.zone)::date, '', 0, sl.wh, sl.charging_ms, sl.idle_ms,
               sl.wh * ocppgw_carbon_at(e.site, e.co2_const, e.series, sl.at), 0, 0, 0
          FROM edges e, LATERAL ocppgw_energy_slots(e.id, e.lo, e.hi) sl
        UNION ALL
        SELECT e.gsite, e.gch, (s.start_time AT TIME ZONE e.zone)::date, coalesce(s.currency, ''), 1, 0, 0, 0,
               0, coalesce(s.net, 0), coalesce(s.vat, 0), coalesce(s.gross, 0)
          FROM edges e,
               LATERAL (SELECT x.start_time, x.currency, x.net, x.vat, x.gross FROM energy_sessions x
                         WHERE x.charger_id = e.id AND x.start_time >= e.lo AND x.start_time < e.hi
                        OFFSET 0) s),  -- OFFSET 0: an index scan per charger, never a join of the whole table
    agg AS (  -- labelled, one row per (group, label, currency)
        SELECT f.gsite, f.gch,
               CASE p_period WHEN 'day' THEN to_char(f.day, 'YYYY-MM-DD')
                             WHEN 'week' THEN to_char(f.day, 'IYYY-"W"IW')
                             WHEN 'month' THEN to_char(f.day, 'YYYY-MM') END AS label,
               f.currency, sum(f.sessions) AS sessions, sum(f.wh) AS wh, sum(f.c) AS c, sum(f.i) AS i,
               sum(f.co2) AS co2, sum(f.net) AS net, sum(f.vat) AS vat, sum(f.gross) AS gross
          FROM figs f GROUP BY 1, 2, 3, 4),
    totals AS (
        SELECT a.gsite, a.gch, a.label, sum(a.sessions) AS sessions, sum(a.wh) AS wh, sum(a.c) AS c,
               sum(a.i) AS i, sum(a.co2) AS co2
          FROM agg a GROUP BY 1, 2, 3),
    money AS (
        SELECT a.gsite, a.gch, a.label,
               jsonb_agg(jsonb_build_object('currency', a.currency, 'net', a.net, 'vat', a.vat, 'gross', a.gross)
                         ORDER BY a.currency) AS revenue
          FROM agg a WHERE a.currency <> '' GROUP BY 1, 2, 3),
    groups AS (
        SELECT g.gsite, g.gch, g.zone, bool_or(g.co2_const IS NOT NULL OR g.series) AS has_co2
          FROM g GROUP BY 1, 2, 3
        UNION ALL
        SELECT NULL, NULL, 'UTC', false
         WHERE NOT coalesce(p_by_site, false) AND NOT coalesce(p_by_charger, false)
           AND NOT EXISTS (SELECT 1 FROM ch)),
    zones AS (SELECT DISTINCT gr.zone FROM groups gr),
    zone_labels AS (  -- the local days of each zone that meet the window, labelled
        SELECT DISTINCT z.zone, CASE p_period WHEN 'day' THEN to_char(d, 'YYYY-MM-DD')
                                              WHEN 'week' THEN to_char(d, 'IYYY-"W"IW')
                                              WHEN 'month' THEN to_char(d, 'YYYY-MM') END AS label
          FROM zones z,
               generate_series((p_from AT TIME ZONE z.zone)::date,
                               ((p_to - interval '1 microsecond') AT TIME ZONE z.zone)::date,
                               interval '1 day') d
         WHERE p_period IS NOT NULL AND p_from < p_to
        UNION ALL
        SELECT z.zone, NULL FROM zones z WHERE p_period IS NULL),
    skeleton AS (
        SELECT gr.gsite, gr.gch, zl.label, bool_or(gr.has_co2) AS has_co2
          FROM groups gr JOIN zone_labels zl ON zl.zone = gr.zone
         GROUP BY 1, 2, 3)
    SELECT k.gsite, k.gch, k.label, coalesce(t.sessions, 0)::bigint, coalesce(t.wh, 0)::bigint,
           round(coalesce(t.c, 0) / 1000.0)::bigint, round(coalesce(t.i, 0) / 1000.0)::bigint,
           coalesce(m.revenue, '[]'::jsonb),
           CASE WHEN k.has_co2 THEN round(coalesce(t.co2, 0) / 1000.0)::bigint END
      FROM skeleton k
      -- keys never '' (ids are 1 character or more): coalesce keeps the joins hashable
      LEFT JOIN totals t ON coalesce(t.gsite, '') = coalesce(k.gsite, '') AND coalesce(t.gch, '') = coalesce(k.gch, '')
                        AND coalesce(t.label, '') = coalesce(k.label, '')
      LEFT JOIN money m ON coalesce(m.gsite, '') = coalesce(k.gsite, '') AND coalesce(m.gch, '') = coalesce(k.gch, '')
                       AND coalesce(m.label, '') = coalesce(k.label, '')
$$;
