-- A year of a charger fleet, for the reports benchmark
-- (scripts/reports-bench.sh, docs/benchmarks.md "Reports, exports and
-- retention"). Run with psql against a database `ocppgw migrate` made,
-- with nothing of the fleet in it yet (a fresh bench cluster):
--
--   psql "$CONN" -v ON_ERROR_STOP=1 -f scripts/gen-year.sql \
--        [-v chargers=1000] [-v per_connector=1000] [-v samples=4] \
--        [-v year_start=2025-12-01] [-v seed=0.42]
--
-- What it makes (defaults):
--   * 20 sites (RPT-S01..RPT-S20): 8 in Europe/Berlin, 5 in
--     America/New_York, 3 in UTC, 4 in Asia/Kolkata;
--   * tariffs rpt-eur (EUR, VAT 19 %) on the Berlin sites and rpt-usd
--     (USD, no VAT) on the New York ones; the others have none;
--   * :chargers chargers RPT-0001.. spread round-robin over the sites, two
--     connectors each (connectors 1 and 2, Available now);
--   * :per_connector completed sessions per connector over the 365 days
--     from :year_start (UTC), never overlapping on a connector: 2 x 1000 x
--     1000 = 2 M; durations 30 min to 10 h (skewed short, mean ~3.5 h),
--     3.7-11 kW, charging for 40-100 % of the stay (at most 80 kWh), then
--     SuspendedEV; those on a tariff have a final cost (cost_state 'final',
--     cost, cost_net, cost_vat, currency, cost_zone; no receipt number);
--   * status history, about 5 rows per session: Preparing 30 s before the
--     start, Charging 5 s after it, SuspendedEV when the energy stopped
--     (when before the stop), Finishing 2 s before the stop, Available 5 s
--     after it (status_at the charger's time, received 200 ms later);
--   * connection history in charger_events ('connected' / 'disconnected',
--     as ocppgw_charger_connected/_disconnected write them): each charger
--     connected the day before the year, then offline once in each of 24
--     slices of the year for 5 min to 8 h, and every 50th charger offline
--     for 3 days in its first slice;
--   * :samples Energy.Active.Import.Register samples per session (Wh,
--     Sample.Periodic, evenly spread over its charging time, the last one
--     equal to meterStop), with one meter_messages row per session;
--     samples=0 makes none.
--     -v reserve_ids=N leaves meter_values ids 1..N and meter_messages ids
--     1..N free, for older samples inserted afterwards (the retention job
--     deletes in key order from the lowest id: old rows must come first).
-- Sessions and their meter_messages rows get explicit ids (1..n, the
-- transaction id too), the identity sequences are moved past them.
--
-- The indexes of sessions, status_history, charger_events, meter_messages
-- and meter_values that back no constraint, and their unique constraints
-- that no foreign key needs, are dropped while loading and made again at
-- the end (the same definitions, whichever migrations made them). Triggers are off while it runs (session_replication_role = replica: the
-- session/charger events, the tariff trigger and any rollup trigger do not
-- fire), so rollups must be rebuilt afterwards (reports-bench.sh's rebuild
-- step). Deterministic: setseed(:seed), no parallel workers. Set-based
-- (INSERT ... SELECT over generate_series), then ANALYZE.

\if :{?chargers}
\else
\set chargers 1000
\endif
\if :{?per_connector}
\else
\set per_connector 1000
\endif
\if :{?samples}
\else
\set samples 4
\endif
\if :{?year_start}
\else
\set year_start '2025-12-01'
\endif
\if :{?seed}
\else
\set seed 0.42
\endif
\if :{?reserve_ids}
\else
\set reserve_ids 0
\endif

\set ON_ERROR_STOP 1
\timing on
SET client_min_messages = warning;
SET session_replication_role = replica;
SET max_parallel_workers_per_gather = 0;
SET work_mem = '256MB';
SET maintenance_work_mem = '512MB';
SET TIME ZONE 'UTC';

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM sessions) OR EXISTS (SELECT 1 FROM chargers WHERE id LIKE 'RPT-%') THEN
        RAISE EXCEPTION 'gen-year.sql wants a database without sessions and RPT-* chargers';
    END IF;
END $$;

SELECT setseed(:seed);

\echo gen-year: sites, tariffs, chargers, connectors
INSERT INTO tariffs (id, current_version, created_at, updated_at)
VALUES ('rpt-eur', 1, '2020-01-01', '2020-01-01'), ('rpt-usd', 1, '2020-01-01', '2020-01-01');
INSERT INTO tariff_versions (tariff_id, version, name, currency, vat_percent, elements, created_at)
VALUES ('rpt-eur', 1, 'Bench EUR', 'EUR', 19,
        '[{"energy": 39.5, "time": 1, "idle": 10, "idleGraceMinutes": 30}]', '2020-01-01'),
       ('rpt-usd', 1, 'Bench USD', 'USD', 0,
        '[{"energy": 45, "time": 2, "idle": 15, "idleGraceMinutes": 30}]', '2020-01-01');

INSERT INTO sites (id, name, time_zone, country, tariff_id, created_at, updated_at)
SELECT format('RPT-S%s', lpad(i::text, 2, '0')), format('Bench site %s', i), z.zone, z.country,
       CASE z.zone WHEN 'Europe/Berlin' THEN 'rpt-eur' WHEN 'America/New_York' THEN 'rpt-usd' END,
       timestamptz :'year_start' - interval '60 days', timestamptz :'year_start' - interval '60 days'
  FROM generate_series(1, 20) i
 CROSS JOIN LATERAL (SELECT CASE WHEN i <= 8 THEN 'Europe/Berlin' WHEN i <= 13 THEN 'America/New_York'
                                 WHEN i <= 16 THEN 'UTC' ELSE 'Asia/Kolkata' END AS zone) z0
 CROSS JOIN LATERAL (SELECT z0.zone, CASE z0.zone WHEN 'Europe/Berlin' THEN 'DE' WHEN 'America/New_York' THEN 'US'
                                                 WHEN 'Asia/Kolkata' THEN 'IN' ELSE 'GB' END AS country) z;

INSERT INTO chargers (id, name, site_id, vendor, model, serial_number, firmware_version,
                      registration_status, connected, connected_at, last_seen_at, last_boot_at,
                      created_at, updated_at)
SELECT format('RPT-%s', lpad(i::text, 4, '0')), format('Bench charger %s', i),
       format('RPT-S%s', lpad(((i - 1) % 20 + 1)::text, 2, '0')), 'BenchVendor', 'AC22',
       format('SN%s', lpad(i::text, 6, '0')), '1.0.0', 'Accepted', true,
       timestamptz :'year_start' + interval '365 days', timestamptz :'year_start' + interval '365 days',
       timestamptz :'year_start' - interval '1 day',
       timestamptz :'year_start' - interval '30 days', timestamptz :'year_start' - interval '30 days'
  FROM generate_series(1, :chargers) i;

INSERT INTO connectors (charger_id, connector_id, status, error_code, status_at, updated_at)
SELECT format('RPT-%s', lpad(i::text, 4, '0')), k, 'Available', 'NoError',
       timestamptz :'year_start' + interval '365 days', timestamptz :'year_start' + interval '365 days'
  FROM generate_series(1, :chargers) i, generate_series(0, 2) k;

\echo gen-year: indexes of the big tables dropped (made again after loading)
-- every index of theirs that backs no constraint (primary keys and unique
-- constraints stay); building them afterwards is a sort, several times
-- faster than keeping them up to date row by row
CREATE TEMP TABLE gen_year_indexes AS
SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
  FROM pg_index i
 WHERE i.indrelid IN ('sessions'::regclass, 'status_history'::regclass, 'charger_events'::regclass,
                      'meter_messages'::regclass, 'meter_values'::regclass)
   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid);
SELECT format('DROP INDEX %s', name) FROM gen_year_indexes \gexec
-- and their unique constraints that no foreign key leans on (primary keys stay)
CREATE TEMP TABLE gen_year_uniques AS
SELECT c.conrelid::regclass::text AS tab, c.conname AS name, pg_get_constraintdef(c.oid) AS def
  FROM pg_constraint c
 WHERE c.conrelid IN ('sessions'::regclass, 'status_history'::regclass, 'charger_events'::regclass,
                      'meter_messages'::regclass, 'meter_values'::regclass)
   AND c.contype = 'u'
   AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = c.conindid);
SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', tab, name) FROM gen_year_uniques \gexec

\echo gen-year: the sessions, staged (gen_year_sessions)
-- per connector: durations (+ 60 s so that consecutive sessions never touch)
-- and exponential gap weights, the gaps scaled so that the sessions and
-- one more gap fill the year exactly
CREATE TEMP TABLE gen_year_sessions AS
WITH raw AS (
    SELECT c, k, j,
           1800 + 34200 * power(random(), 2.2) AS dur_s,
           -ln(1 - random()) AS gap_w,
           3700 + 7300 * random() AS power_w,
           0.4 + 0.6 * random() AS charge_frac,
           random() AS r_tag
      FROM generate_series(1, :chargers) c, generate_series(1, 2) k, generate_series(1, :per_connector) j
), cum AS (
    SELECT raw.*,
           sum(dur_s + 60) OVER w - (dur_s + 60) AS dur_before,
           sum(gap_w) OVER w AS gap_upto,
           sum(dur_s + 60) OVER p AS dur_total,
           sum(gap_w) OVER p AS gap_total
      FROM raw
    WINDOW w AS (PARTITION BY c, k ORDER BY j), p AS (PARTITION BY c, k)
), timed AS (
    SELECT cum.*,
           timestamptz :'year_start'
             + make_interval(secs => floor(dur_before + gap_upto * (365 * 86400 - dur_total) / (gap_total + 1))) AS start_time,
           least(80000, floor(power_w * dur_s * charge_frac / 3600))::bigint AS energy_wh
      FROM cum
)
SELECT row_number() OVER (ORDER BY start_time, c, k)::bigint AS id,
       format('RPT-%s', lpad(c::text, 4, '0')) AS charger_id, c, k AS connector_id, j,
       start_time,
       start_time + make_interval(secs => floor(dur_s)) AS end_time,
       floor(dur_s)::integer AS dur_s,
       -- charging time: the energy at the session's power, within the stay
       least(floor(dur_s) - 10, ceil(energy_wh * 3600.0 / power_w))::integer AS charge_s,
       energy_wh,
       -- the register: the connector's energy before this session, from 1 MWh
       1000000 + (sum(energy_wh) OVER (PARTITION BY c, k ORDER BY j) - energy_wh)::bigint AS meter_start,
       format('RPT-TAG-%s', lpad((1 + floor(r_tag * 5000))::text, 4, '0')) AS id_tag
  FROM timed;

\echo gen-year: sessions
INSERT INTO sessions (id, transaction_id, charger_id, connector_id, id_tag, auth_status, status,
                      start_time, end_time, meter_start, meter_stop, energy_wh, stop_reason,
                      tariff_id, tariff_version, cost, cost_net, cost_vat, currency, cost_final,
                      cost_state, cost_zone, created_at, updated_at)
OVERRIDING SYSTEM VALUE
SELECT g.id, g.id::integer, g.charger_id, g.connector_id, g.id_tag, 'Accepted', 'completed',
       g.start_time, g.end_time, g.meter_start, g.meter_start + g.energy_wh, g.energy_wh,
       CASE WHEN g.id % 7 = 0 THEN 'Local' ELSE 'EVDisconnected' END,
       st.tariff_id, CASE WHEN st.tariff_id IS NOT NULL THEN 1 END,
       c.net + c.vat, c.net, c.vat, c.currency, CASE WHEN st.tariff_id IS NOT NULL THEN true END,
       CASE WHEN st.tariff_id IS NOT NULL THEN 'final' ELSE 'none' END,
       CASE WHEN st.tariff_id IS NOT NULL THEN st.time_zone END,
       g.start_time, g.end_time
  FROM gen_year_sessions g
  JOIN sites st ON st.id = format('RPT-S%s', lpad(((g.c - 1) % 20 + 1)::text, 2, '0'))
 CROSS JOIN LATERAL (
    -- energy x price per kWh + minutes x price per minute (minor units)
    SELECT n.net, round(n.net * v.vat_percent / 100)::bigint AS vat, v.currency
      FROM (SELECT NULL::int) x
      LEFT JOIN tariff_versions v ON v.tariff_id = st.tariff_id AND v.version = 1
      LEFT JOIN LATERAL (
        SELECT round(g.energy_wh * (v.elements->0->>'energy')::numeric / 1000
                     + g.charge_s * (v.elements->0->>'time')::numeric / 60)::bigint AS net) n ON true
 ) c;
SELECT setval(pg_get_serial_sequence('sessions', 'id'), (SELECT max(id) FROM sessions));

\echo gen-year: status history
INSERT INTO status_history (charger_id, connector_id, status, error_code, status_at, received_at)
SELECT g.charger_id, g.connector_id, s.status, 'NoError', s.at, s.at + interval '200 ms'
  FROM gen_year_sessions g
 CROSS JOIN LATERAL (VALUES
        (1, 'Preparing', g.start_time - interval '30 s'),
        (2, 'Charging', g.start_time + interval '5 s'),
        (3, 'SuspendedEV', CASE WHEN g.charge_s < g.dur_s - 60
                                THEN g.start_time + make_interval(secs => g.charge_s) END),
        (4, 'Finishing', g.end_time - interval '2 s'),
        (5, 'Available', g.end_time + interval '5 s')) s(n, status, at)
 WHERE s.at IS NOT NULL
 ORDER BY g.start_time, g.c, g.connector_id, s.n;

\echo gen-year: connection history (charger_events)
INSERT INTO charger_events (charger_id, kind, detail, at)
SELECT e.charger_id, e.kind, e.detail, e.at
  FROM (
    SELECT format('RPT-%s', lpad(i::text, 4, '0')) AS charger_id, 'connected' AS kind,
           '127.0.0.1' AS detail, timestamptz :'year_start' - interval '1 day' AS at
      FROM generate_series(1, :chargers) i
    UNION ALL
    SELECT o.charger_id, x.kind, x.detail, x.at
      FROM (
        SELECT format('RPT-%s', lpad(i::text, 4, '0')) AS charger_id,
               timestamptz :'year_start' + (s - 1) * interval '365 days' / 24
                 + random() * interval '12 days' AS off_at,
               CASE WHEN s = 1 AND i % 50 = 0 THEN 3 * 86400
                    ELSE 300 + 28500 * power(random(), 3) END AS off_s
          FROM generate_series(1, :chargers) i, generate_series(1, 24) s
      ) o
     CROSS JOIN LATERAL (VALUES ('disconnected', 'closed', o.off_at),
                                ('connected', '127.0.0.1', o.off_at + make_interval(secs => o.off_s))) x(kind, detail, at)
  ) e
 ORDER BY e.at, e.charger_id;

\echo gen-year: meter values (:samples per session)
INSERT INTO meter_messages (id, charger_id, digest, received_at)
OVERRIDING SYSTEM VALUE
SELECT :reserve_ids + g.id, g.charger_id, g.id, g.start_time + make_interval(secs => g.charge_s)
  FROM gen_year_sessions g
 WHERE :samples > 0;
SELECT setval(pg_get_serial_sequence('meter_messages', 'id'), greatest(1, (SELECT max(id) FROM meter_messages)));

INSERT INTO meter_values (id, message_id, charger_id, connector_id, transaction_id, session_id, ts, value,
                          measurand, unit, context, format, phase, location, received_at)
OVERRIDING SYSTEM VALUE
SELECT :reserve_ids + (g.id - 1) * :samples + n, :reserve_ids + g.id, g.charger_id, g.connector_id, g.id::integer, g.id,
       g.start_time + make_interval(secs => g.charge_s * n / :samples),
       (g.meter_start + g.energy_wh * n / :samples)::text,
       'Energy.Active.Import.Register', 'Wh', 'Sample.Periodic', 'Raw', NULL, 'Outlet',
       g.start_time + make_interval(secs => g.charge_s * n / :samples) + interval '300 ms'
  FROM gen_year_sessions g, generate_series(1, :samples) n
 ORDER BY g.id, n;
SELECT setval(pg_get_serial_sequence('meter_values', 'id'), greatest(1, (SELECT max(id) FROM meter_values)));

DROP TABLE gen_year_sessions;

\echo gen-year: indexes made again
SELECT format('ALTER TABLE %s ADD CONSTRAINT %I %s', tab, name, def) FROM gen_year_uniques \gexec
SELECT def FROM gen_year_indexes \gexec
DROP TABLE gen_year_indexes, gen_year_uniques;

\echo gen-year: ANALYZE
ANALYZE sites;
ANALYZE chargers;
ANALYZE connectors;
ANALYZE tariffs;
ANALYZE tariff_versions;
ANALYZE sessions;
ANALYZE status_history;
ANALYZE charger_events;
ANALYZE meter_messages;
ANALYZE meter_values;

SELECT (SELECT count(*) FROM sites WHERE id LIKE 'RPT-%') AS sites,
       (SELECT count(*) FROM chargers WHERE id LIKE 'RPT-%') AS chargers,
       (SELECT count(*) FROM sessions) AS sessions,
       (SELECT count(*) FROM sessions WHERE cost_state = 'final') AS priced,
       (SELECT count(*) FROM status_history) AS statuses,
       (SELECT count(*) FROM charger_events) AS connection_events,
       (SELECT count(*) FROM meter_values) AS samples;
