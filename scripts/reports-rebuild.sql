-- ROLLUP REBUILD STEP of the reports benchmark (scripts/reports-bench.sh
-- runs it right after scripts/gen-year.sql, before the gateway starts).
--
-- gen-year.sql writes with triggers off, so nothing queued the rollup work
-- that the gateway's jobs would have done as the data came in. This file
-- does it as if it had: each part runs only when its tables exist (the
-- energy and utilization migrations, sql/023 and sql/024, may not be in
-- the build), then reports-bench.sh starts the gateway and waits for the
-- queues (energy_queue, util_dirty) to drain before timing the reports.
-- The utilization job drains 1,000 chargers in about 2 minutes; the energy
-- rollups are written here set-based (below), as the job would have.

SET session_replication_role = replica;

-- energy (sql/023_report_energy.sql): the gateway's energy job splits each
-- session in C (pricing_split_slots) at about 500 sessions/s here, an hour
-- for the year. The generated sessions charge at constant power from their
-- start to their last register sample and are idle after it (gen-year.sql),
-- so their split is linear and is written here set-based instead: per
-- 15-minute slot the energy between the register's values at the slot's
-- ends (rounded so that the slots sum to the session's energy), the
-- charging and idle time within it. Then every charger's days and months are
-- built by the function the job calls (ocppgw_energy_rebuild). What the
-- report reads is therefore what the job would have written.
DO $$
DECLARE
    c record;
BEGIN
    IF to_regclass('energy_sessions') IS NULL THEN
        RAISE NOTICE 'reports-rebuild: no energy_sessions (sql/023 not in this build)';
        RETURN;
    END IF;
    WITH last AS (
        SELECT m.session_id, max(m.ts) AS ts FROM meter_values m
         WHERE m.session_id IS NOT NULL AND m.charger_id LIKE 'RPT-%' GROUP BY 1
    ), s AS (
        SELECT x.id, x.charger_id, x.start_time, x.end_time, x.energy_wh AS e,
               least(x.end_time, coalesce(l.ts, x.end_time)) AS ce,
               to_timestamp(floor(extract(epoch FROM x.start_time) / 900) * 900) AS slot0,
               CASE WHEN x.cost_final AND x.cost IS NOT NULL THEN x.currency END AS currency,
               CASE WHEN x.cost_final AND x.cost IS NOT NULL THEN coalesce(x.cost_net, x.cost) END AS net,
               CASE WHEN x.cost_final AND x.cost IS NOT NULL THEN coalesce(x.cost_vat, 0) END AS vat,
               CASE WHEN x.cost_final AND x.cost IS NOT NULL THEN x.cost END AS gross
          FROM sessions x LEFT JOIN last l ON l.session_id = x.id
         WHERE x.status = 'completed' AND x.charger_id LIKE 'RPT-%' AND x.end_time > x.start_time
    )
    INSERT INTO energy_sessions (session_id, charger_id, start_time, slot0, slot_end, wh, charging_ms, idle_ms,
                                 currency, net, vat, gross)
    SELECT s.id, s.charger_id, s.start_time, s.slot0, s.slot0 + a.n * interval '15 minutes', a.wh, a.c, a.i,
           s.currency, s.net, s.vat, s.gross
      FROM s, LATERAL (
        SELECT count(*)::int AS n,
               array_agg((round(s.e * t.fb) - round(s.e * t.fa))::bigint ORDER BY t.k) AS wh,
               array_agg(t.c ORDER BY t.k) AS c, array_agg(t.i ORDER BY t.k) AS i
          FROM (SELECT k,
                       CASE WHEN s.ce <= s.start_time THEN 1 ELSE
                            least(1, greatest(0, extract(epoch FROM lo - s.start_time)
                                                 / extract(epoch FROM s.ce - s.start_time))) END AS fa,
                       CASE WHEN s.ce <= s.start_time THEN 1 ELSE
                            least(1, greatest(0, extract(epoch FROM hi - s.start_time)
                                                 / extract(epoch FROM s.ce - s.start_time))) END AS fb,
                       (1000 * greatest(0, extract(epoch FROM least(hi, s.ce) - greatest(lo, s.start_time))))::bigint AS c,
                       (1000 * greatest(0, extract(epoch FROM least(hi, s.end_time) - greatest(lo, s.ce))))::bigint AS i
                  FROM generate_series(0, ceil(extract(epoch FROM s.end_time - s.slot0) / 900)::int - 1) k,
                       LATERAL (SELECT s.slot0 + k * interval '15 minutes' AS lo,
                                       s.slot0 + (k + 1) * interval '15 minutes' AS hi) b) t
      ) a;
    INSERT INTO energy_chargers (charger_id, max_span)
    SELECT e.charger_id, max(e.slot_end - e.slot0) FROM energy_sessions e GROUP BY 1
    ON CONFLICT (charger_id) DO UPDATE SET max_span = EXCLUDED.max_span;
    RAISE NOTICE 'reports-rebuild: energy_sessions % rows', (SELECT count(*) FROM energy_sessions);
    FOR c IN SELECT DISTINCT e.charger_id FROM energy_sessions e LOOP
        PERFORM ocppgw_energy_rebuild(c.charger_id, NULL, NULL);
    END LOOP;
    RAISE NOTICE 'reports-rebuild: energy_days % rows, energy_months % rows',
        (SELECT count(*) FROM energy_days), (SELECT count(*) FROM energy_months);
END $$;

-- utilization (sql/024_report_utilization.sql): the connection log from
-- charger_events, as the migration fills it for the chargers it finds, and
-- every charger queued from the start for the utilization job
DO $$
BEGIN
    IF to_regclass('util_conn_log') IS NOT NULL AND to_regclass('util_dirty') IS NOT NULL THEN
        DELETE FROM util_conn_log l USING chargers c WHERE l.charger_id = c.id AND c.id LIKE 'RPT-%';
        INSERT INTO util_conn_log (charger_id, at, online)
        SELECT e.charger_id, e.at, e.kind = 'connected'
          FROM (SELECT x.charger_id, x.at, x.id, x.kind,
                       lag(x.kind) OVER (PARTITION BY x.charger_id ORDER BY x.at, x.id) AS prev
                  FROM charger_events x
                 WHERE x.kind IN ('connected', 'disconnected') AND x.charger_id LIKE 'RPT-%') e
         WHERE e.prev IS DISTINCT FROM e.kind
         ORDER BY e.charger_id, e.at, e.id;
        INSERT INTO util_dirty (charger_id, from_at)
        SELECT c.id, '-infinity' FROM chargers c WHERE c.id LIKE 'RPT-%';
        RAISE NOTICE 'reports-rebuild: util_conn_log % rows, util_dirty % chargers',
            (SELECT count(*) FROM util_conn_log), (SELECT count(*) FROM util_dirty);
    ELSE
        RAISE NOTICE 'reports-rebuild: no util_conn_log/util_dirty (sql/024 not in this build)';
    END IF;
END $$;

ANALYZE;
