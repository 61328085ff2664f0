-- ocppgw schema, version 27: the utilization report keeps its speed on a
-- long-lived connection (docs/benchmarks.md, "Reports").
--
-- ocppgw_report_utilization is PL/pgSQL, whose statements are prepared
-- once per connection; after five calls PostgreSQL may switch a statement
-- to a generic plan, one planned without the window, the chargers or the
-- period. The REST store's connection lives as long as the gateway, so
-- from the sixth report on the year by week took 1.8 s instead of 0.7 s
-- (measured on the bench's year: 0.97 0.74 0.73 0.71 0.71, then 1.82 1.76
-- 1.81). Each call is now planned for its own arguments (a few ms). And
-- jit off, as the energy report: compiling these statements cost about
-- 3 s a call where a session had JIT on (psql's default).
ALTER FUNCTION ocppgw_report_utilization(timestamptz, timestamptz, text[], boolean, boolean, text)
    SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION ocppgw_report_utilization(timestamptz, timestamptz, text[], boolean, boolean, text)
    SET jit = off;
