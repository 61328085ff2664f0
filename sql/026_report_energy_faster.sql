-- ocppgw schema, version 26: the energy report, faster over a year of days
-- (docs/benchmarks.md, "Reports"). The body is 023's with two changes:
--
--  * SET enable_sort = off: the planner cannot estimate the groups of the
--    whole days (their keys come from a CTE) and sorted all of a year's
--    day rows (600,000 for 1,000 chargers) before grouping them; hashing
--    them is a third of the time. No result depends on a sort here (the
--    caller orders the rows; jsonb_agg's ORDER BY sorts inside itself).
--  * the carbon of the window's edge slots calls ocppgw_carbon_at only for
--    a site with an hourly series: a constant (or none) is multiplied in
--    place, saving a function call per 15-minute slot.
--
-- Same rows as before (compared on the bench's year, every groupBy and
-- period, whole-year and odd windows); it_report_energy holds the figures.

CREATE OR REPLACE FUNCTION ocppgw_report_energy(p_from timestamptz, p_to timestamptz, p_chargers text[],
                                     p_by_site boolean, p_by_charger boolean, p_period text)
RETURNS TABLE (site_id text, charger_id text, period text,
               sessions bigint, energy_wh bigint, charging_s bigint, idle_s bigint,
               revenue jsonb, co2_g bigint)
-- jit off: compiling this statement costs seconds, running it well under one;
-- enable_sort off: the whole days are hashed into their groups (see above)
LANGUAGE sql STABLE SET jit = off SET enable_sort = off AS $$
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
               sl.wh * CASE WHEN e.series THEN ocppgw_carbon_at(e.site, e.co2_const, e.series, sl.at)
                            ELSE coalesce(e.co2_const, 0) END, 0, 0, 0
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
