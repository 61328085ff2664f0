/*
 * Prometheus metrics. Counters are relaxed atomics (the store thread counts
 * batches, the loop counts frames); metrics_render() reads them on the loop
 * thread and formats the text exposition format (version 0.0.4).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "strbuf.h"
#include "util.h"

#define ACTION_SLOTS (OCPP_ACTION_COUNT + 1) /* slot 0: unparsable */
#define ERR_SLOTS (OCPP_ERR_GENERIC + 1)

static const double batch_bounds[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024 };
#define BATCH_BUCKETS (sizeof batch_bounds / sizeof batch_bounds[0])
static const double commit_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,   0.1,   0.25,   0.5,   1,    2.5 };
#define COMMIT_BUCKETS (sizeof commit_bounds / sizeof commit_bounds[0])

static atomic_ullong frames[METRICS_DIR_COUNT][ACTION_SLOTS][METRICS_RESULT_COUNT];
static atomic_ullong callerrors[ERR_SLOTS];
static atomic_ullong auth_failures;
static atomic_ullong conn_replaced;
static atomic_ullong exports[METRICS_EXPORT_OUTCOME_COUNT], export_rows;
static atomic_llong export_queued;
static atomic_ullong load_profiles[METRICS_LOAD_OUTCOME_COUNT];
static atomic_ullong auth_throttled[METRICS_THROTTLE_COUNT];
static atomic_ullong batch_hist[BATCH_BUCKETS + 1];
static atomic_ullong batch_sum, batch_count;
static atomic_ullong commit_hist[COMMIT_BUCKETS + 1];
static atomic_ullong commit_sum_us;
static const double answer_bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,    1,     2.5,  5,     10,  30 };
#define ANSWER_BUCKETS (sizeof answer_bounds / sizeof answer_bounds[0])
static const char *const cmd_outcomes[METRICS_CMD_OUTCOME_COUNT] = {
    "accepted", "rejected", "answered", "call_error", "timeout", "disconnected",
    "invalid_answer", "cancelled", "offline", "queue_full",
};
static atomic_ullong commands[OCPP_ACTION_COUNT][METRICS_CMD_OUTCOME_COUNT];
static atomic_ullong answer_hist[OCPP_ACTION_COUNT][ANSWER_BUCKETS + 1];
static atomic_ullong answer_sum_us[OCPP_ACTION_COUNT], answer_count[OCPP_ACTION_COUNT];
static const double overhead_bounds[] = { 0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001,
                                          0.0025,  0.005,  0.01,    0.025,  0.05,    0.1 };
#define OVERHEAD_BUCKETS (sizeof overhead_bounds / sizeof overhead_bounds[0])
static atomic_ullong overhead_hist[OVERHEAD_BUCKETS + 1];
static atomic_ullong overhead_sum_us, overhead_count;
static atomic_ullong batches_failed;
static atomic_ullong store_rejected;
static atomic_ullong presence_cleared[METRICS_PRESENCE_REASON_COUNT];
static atomic_ullong presence_nodes_lost, presence_resumed;
static atomic_ullong retention_deleted[METRICS_RET_KIND_COUNT];
static const char *const retention_kinds[METRICS_RET_KIND_COUNT] = {
    "events", "meter_values", "meter_messages", "status_history", "charger_events",
    "security_events", "data_transfers", "orphan_stops", "commands", "audit_log",
};

const char *metrics_retention_kind_name(enum metrics_retention_kind k)
{
    return k >= 0 && k < METRICS_RET_KIND_COUNT ? retention_kinds[k] : "unknown";
}

void metrics_retention_deleted(enum metrics_retention_kind k, uint64_t n)
{
    if (k >= 0 && k < METRICS_RET_KIND_COUNT)
        atomic_fetch_add_explicit(&retention_deleted[k], n, memory_order_relaxed);
}

void metrics_frame(enum metrics_dir dir, enum ocpp_action a, enum metrics_frame_result r)
{
    int slot = (a >= 0 && a < OCPP_ACTION_COUNT) ? (int)a + 1 : 0;
    atomic_fetch_add_explicit(&frames[dir][slot][r], 1, memory_order_relaxed);
}

void metrics_callerror(enum ocpp_err e)
{
    if ((int)e >= 0 && (int)e < ERR_SLOTS)
        atomic_fetch_add_explicit(&callerrors[e], 1, memory_order_relaxed);
}

void metrics_auth_failure(void)
{
    atomic_fetch_add_explicit(&auth_failures, 1, memory_order_relaxed);
}

void metrics_auth_throttled(enum metrics_throttle t)
{
    if (t >= 0 && t < METRICS_THROTTLE_COUNT)
        atomic_fetch_add_explicit(&auth_throttled[t], 1, memory_order_relaxed);
}

void metrics_load_profile(enum metrics_load_outcome o)
{
    if ((unsigned)o < METRICS_LOAD_OUTCOME_COUNT)
        atomic_fetch_add_explicit(&load_profiles[o], 1, memory_order_relaxed);
}

void metrics_conn_replaced(void)
{
    atomic_fetch_add_explicit(&conn_replaced, 1, memory_order_relaxed);
}

static size_t bucket(const double *bounds, size_t n, double v)
{
    for (size_t i = 0; i < n; i++)
        if (v <= bounds[i])
            return i;
    return n;
}

void metrics_batch(size_t n, int64_t commit_us)
{
    atomic_fetch_add_explicit(&batch_hist[bucket(batch_bounds, BATCH_BUCKETS, (double)n)], 1,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&batch_sum, n, memory_order_relaxed);
    atomic_fetch_add_explicit(&batch_count, 1, memory_order_relaxed);
    double s = (double)commit_us / 1e6;
    atomic_fetch_add_explicit(&commit_hist[bucket(commit_bounds, COMMIT_BUCKETS, s)], 1,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&commit_sum_us, (unsigned long long)(commit_us > 0 ? commit_us : 0),
                              memory_order_relaxed);
}

void metrics_command(enum ocpp_action a, enum metrics_cmd_outcome o, int64_t answer_us)
{
    if (a < 0 || a >= OCPP_ACTION_COUNT || o < 0 || o >= METRICS_CMD_OUTCOME_COUNT)
        return;
    atomic_fetch_add_explicit(&commands[a][o], 1, memory_order_relaxed);
    if (answer_us < 0)
        return;
    atomic_fetch_add_explicit(&answer_hist[a][bucket(answer_bounds, ANSWER_BUCKETS,
                                                     (double)answer_us / 1e6)],
                              1, memory_order_relaxed);
    atomic_fetch_add_explicit(&answer_sum_us[a], (unsigned long long)answer_us, memory_order_relaxed);
    atomic_fetch_add_explicit(&answer_count[a], 1, memory_order_relaxed);
}

void metrics_command_overhead(int64_t us)
{
    if (us < 0)
        us = 0;
    atomic_fetch_add_explicit(&overhead_hist[bucket(overhead_bounds, OVERHEAD_BUCKETS, (double)us / 1e6)],
                              1, memory_order_relaxed);
    atomic_fetch_add_explicit(&overhead_sum_us, (unsigned long long)us, memory_order_relaxed);
    atomic_fetch_add_explicit(&overhead_count, 1, memory_order_relaxed);
}

void metrics_batch_failed(void)
{
    atomic_fetch_add_explicit(&batches_failed, 1, memory_order_relaxed);
}

void metrics_store_rejected(void)
{
    atomic_fetch_add_explicit(&store_rejected, 1, memory_order_relaxed);
}

void metrics_presence_cleared(enum metrics_presence_reason r, size_t n)
{
    if ((int)r >= 0 && r < METRICS_PRESENCE_REASON_COUNT)
        atomic_fetch_add_explicit(&presence_cleared[r], n, memory_order_relaxed);
}

void metrics_export(enum metrics_export_outcome o, uint64_t rows)
{
    if ((int)o >= 0 && o < METRICS_EXPORT_OUTCOME_COUNT)
        atomic_fetch_add_explicit(&exports[o], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&export_rows, rows, memory_order_relaxed);
}

void metrics_export_queued(int64_t delta)
{
    atomic_fetch_add_explicit(&export_queued, (long long)delta, memory_order_relaxed);
}

void metrics_presence_node_lost(void)
{
    atomic_fetch_add_explicit(&presence_nodes_lost, 1, memory_order_relaxed);
}

void metrics_presence_resumed(size_t n)
{
    atomic_fetch_add_explicit(&presence_resumed, n, memory_order_relaxed);
}

/* ---- rendering ---- */

static unsigned long long load(atomic_ullong *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

static void histogram(struct strbuf *o, const char *name, const char *help, const double *bounds,
                      size_t n, atomic_ullong *hist, double sum, unsigned long long count)
{
    strbuf_printf(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    unsigned long long cum = 0;
    for (size_t i = 0; i < n; i++) {
        cum += load(&hist[i]);
        strbuf_printf(o, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], cum);
    }
    cum += load(&hist[n]);
    strbuf_printf(o, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name, cum, name, sum, name,
        count);
}

/* A label value: backslash, double quote and newline escaped (Prometheus text format). */
static void metrics_label_escape(struct strbuf *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            strbuf_printf(o, "\\%c", *s);
        else if (*s == '\n')
            strbuf_printf(o, "\\n");
        else
            strbuf_printf(o, "%c", *s);
    }
}

char *metrics_render(const struct metrics_gauges *g)
{
    struct strbuf o = STRBUF_INIT;
    strbuf_reserve(&o, 16384);
    static const char *const dirs[] = { "in", "out" };
    static const char *const results[] = { "ok", "callerror" };

    strbuf_printf(&o, "# HELP ocppgw_connected_chargers Chargers with an open websocket.\n"
            "# TYPE ocppgw_connected_chargers gauge\nocppgw_connected_chargers %zu\n",
        g->connected_chargers);
    strbuf_printf(&o, "# HELP ocppgw_known_chargers Chargers in the registry.\n"
            "# TYPE ocppgw_known_chargers gauge\nocppgw_known_chargers %zu\n",
        g->known_chargers);
    strbuf_printf(&o, "# HELP ocppgw_chargers_unauthenticated Chargers admitted without credentials"
            " (security profile 0, no AuthorizationKey).\n"
            "# TYPE ocppgw_chargers_unauthenticated gauge\nocppgw_chargers_unauthenticated %zu\n",
        g->unauthenticated_chargers);
    strbuf_printf(&o, "# HELP ocppgw_db_up Whether the store has a working database connection.\n"
            "# TYPE ocppgw_db_up gauge\nocppgw_db_up %d\n",
        g->db_up);
    strbuf_printf(&o, "# HELP ocppgw_db_queue_depth Store jobs waiting for the database thread.\n"
            "# TYPE ocppgw_db_queue_depth gauge\nocppgw_db_queue_depth %zu\n",
        g->db_queue_depth);

    strbuf_printf(&o, "# HELP ocppgw_frames_total OCPP frames by direction, action and result.\n"
            "# TYPE ocppgw_frames_total counter\n");
    for (int d = 0; d < METRICS_DIR_COUNT; d++)
        for (int a = 0; a < ACTION_SLOTS; a++)
            for (int r = 0; r < METRICS_RESULT_COUNT; r++) {
                unsigned long long v = load(&frames[d][a][r]);
                if (!v)
                    continue;
                strbuf_printf(&o, "ocppgw_frames_total{dir=\"%s\",action=\"%s\",result=\"%s\"} %llu\n",
                    dirs[d], a == 0 ? "unknown" : ocpp_action_name((enum ocpp_action)(a - 1)),
                    results[r], v);
            }

    strbuf_printf(&o, "# HELP ocppgw_callerrors_total CALLERRORs sent, by code.\n"
            "# TYPE ocppgw_callerrors_total counter\n");
    for (int e = 1; e < ERR_SLOTS; e++)
        strbuf_printf(&o, "ocppgw_callerrors_total{code=\"%s\"} %llu\n", ocpp_error_code((enum ocpp_err)e),
            load(&callerrors[e]));

    strbuf_printf(&o, "# HELP ocppgw_auth_failures_total Upgrades refused for credentials or throttled.\n"
            "# TYPE ocppgw_auth_failures_total counter\nocppgw_auth_failures_total %llu\n",
        load(&auth_failures));
    static const char *const throttle_scopes[METRICS_THROTTLE_COUNT] = { "address", "address_charger", "charger" };
    strbuf_printf(&o, "# HELP ocppgw_auth_throttled_total Upgrades refused by a failed-auth throttle, by scope.\n"
            "# TYPE ocppgw_auth_throttled_total counter\n");
    for (int t = 0; t < METRICS_THROTTLE_COUNT; t++)
        strbuf_printf(&o, "ocppgw_auth_throttled_total{scope=\"%s\"} %llu\n", throttle_scopes[t],
            load(&auth_throttled[t]));
    strbuf_printf(&o, "# HELP ocppgw_connections_replaced_total Connections replaced by an authenticated duplicate.\n"
            "# TYPE ocppgw_connections_replaced_total counter\nocppgw_connections_replaced_total %llu\n",
        load(&conn_replaced));
    if (g->n_sites) {
        static const struct { const char *name, *help; } site_gauges[] = {
            { "limit", "The site's current limit per phase." },
            { "allocated", "What the load manager allocates to the site's sessions." },
            { "accounted", "What the site's chargers may draw now by the profiles they accepted (never above the limit)." },
            { "measured", "What the site's sessions last measured." },
        };
        for (size_t k = 0; k < sizeof site_gauges / sizeof site_gauges[0]; k++) {
            strbuf_printf(&o, "# HELP ocppgw_site_current_%s_amperes %s\n# TYPE ocppgw_site_current_%s_amperes gauge\n",
                    site_gauges[k].name, site_gauges[k].help, site_gauges[k].name);
            for (size_t i = 0; i < g->n_sites; i++) {
                const struct metrics_site_load *l = &g->sites[i];
                int32_t v = k == 0 ? l->limit_da : k == 1 ? l->allocated_da : k == 2 ? l->accounted_da : l->measured_da;
                if (v < 0)
                    continue;
                strbuf_printf(&o, "ocppgw_site_current_%s_amperes{site=\"", site_gauges[k].name);
                metrics_label_escape(&o, l->site_id);
                strbuf_printf(&o, "\"} %d.%d\n", (int)(v / 10), (int)(v % 10));
            }
        }
    }
    static const char *const load_outcomes[METRICS_LOAD_OUTCOME_COUNT] = { "accepted", "rejected", "unanswered" };
    strbuf_printf(&o, "# HELP ocppgw_load_profiles_total Charging profiles the load manager sent, by outcome"
            " (rejected: Rejected, a CALLERROR or an invalid answer; unanswered: no answer).\n"
            "# TYPE ocppgw_load_profiles_total counter\n");
    for (int k = 0; k < METRICS_LOAD_OUTCOME_COUNT; k++)
        strbuf_printf(&o, "ocppgw_load_profiles_total{outcome=\"%s\"} %llu\n", load_outcomes[k],
            load(&load_profiles[k]));
    strbuf_printf(&o, "# HELP ocppgw_db_batches_failed_total Store batches that failed (connection lost or statement error).\n"
            "# TYPE ocppgw_db_batches_failed_total counter\nocppgw_db_batches_failed_total %llu\n",
        load(&batches_failed));
    strbuf_printf(&o, "# HELP ocppgw_db_rejected_total Store jobs failed fast (database down or queue full).\n"
            "# TYPE ocppgw_db_rejected_total counter\nocppgw_db_rejected_total %llu\n",
        load(&store_rejected));

    static const char *const export_outcomes[METRICS_EXPORT_OUTCOME_COUNT] = { "completed", "abandoned", "failed" };
    strbuf_printf(&o, "# HELP ocppgw_rest_exports_total CSV / NDJSON exports by how they ended: every row sent"
            " (completed), stopped early because the client left or the gateway stopped (abandoned), or a"
            " database failure (failed).\n# TYPE ocppgw_rest_exports_total counter\n");
    for (int k = 0; k < METRICS_EXPORT_OUTCOME_COUNT; k++)
        strbuf_printf(&o, "ocppgw_rest_exports_total{outcome=\"%s\"} %llu\n", export_outcomes[k], load(&exports[k]));
    strbuf_printf(&o, "# HELP ocppgw_rest_export_rows_total Rows formatted by exports.\n"
            "# TYPE ocppgw_rest_export_rows_total counter\nocppgw_rest_export_rows_total %llu\n", load(&export_rows));
    strbuf_printf(&o, "# HELP ocppgw_rest_export_queued_bytes Export text formatted and waiting for its clients"
            " (all exports; each stops reading the database at its bound).\n"
            "# TYPE ocppgw_rest_export_queued_bytes gauge\nocppgw_rest_export_queued_bytes %lld\n",
            (long long)atomic_load_explicit(&export_queued, memory_order_relaxed));

    static const char *const presence_reasons[METRICS_PRESENCE_REASON_COUNT] = { "restart", "node_lost" };
    strbuf_printf(&o, "# HELP ocppgw_presence_chargers_cleared_total Chargers this process marked disconnected"
            " that no gateway held any more: left by an earlier run of this node (restart) or held by a"
            " node whose heartbeat stopped (node_lost).\n"
            "# TYPE ocppgw_presence_chargers_cleared_total counter\n");
    for (int r = 0; r < METRICS_PRESENCE_REASON_COUNT; r++)
        strbuf_printf(&o, "ocppgw_presence_chargers_cleared_total{reason=\"%s\"} %llu\n", presence_reasons[r],
            load(&presence_cleared[r]));
    strbuf_printf(&o, "# HELP ocppgw_presence_nodes_lost_total Gateway nodes this process declared lost"
            " (no heartbeat for three of their intervals).\n"
            "# TYPE ocppgw_presence_nodes_lost_total counter\nocppgw_presence_nodes_lost_total %llu\n",
        load(&presence_nodes_lost));
    strbuf_printf(&o, "# HELP ocppgw_presence_chargers_resumed_total Chargers this node marked connected again"
            " after another gateway had declared it lost while it still held them.\n"
            "# TYPE ocppgw_presence_chargers_resumed_total counter\nocppgw_presence_chargers_resumed_total %llu\n",
        load(&presence_resumed));

    strbuf_printf(&o, "# HELP ocppgw_retention_deleted_rows_total Raw rows this process deleted because they"
            " were older than their retention (retention.*), by kind (table).\n"
            "# TYPE ocppgw_retention_deleted_rows_total counter\n");
    for (int k = 0; k < METRICS_RET_KIND_COUNT; k++)
        strbuf_printf(&o, "ocppgw_retention_deleted_rows_total{kind=\"%s\"} %llu\n", retention_kinds[k],
            load(&retention_deleted[k]));

    strbuf_printf(&o, "# HELP ocppgw_commands_in_memory Commands pending or being recorded.\n"
            "# TYPE ocppgw_commands_in_memory gauge\nocppgw_commands_in_memory %zu\n",
        g->commands_live);
    strbuf_printf(&o, "# HELP ocppgw_commands_total Commands (REST to charger) by action and outcome.\n"
            "# TYPE ocppgw_commands_total counter\n");
    for (int a = 0; a < OCPP_ACTION_COUNT; a++)
        for (int k = 0; k < METRICS_CMD_OUTCOME_COUNT; k++) {
            unsigned long long v = load(&commands[a][k]);
            if (v)
                strbuf_printf(&o, "ocppgw_commands_total{action=\"%s\",outcome=\"%s\"} %llu\n",
                    ocpp_action_name((enum ocpp_action)a), cmd_outcomes[k], v);
        }
    static const char answer_name[] = "ocppgw_command_answer_seconds";
    strbuf_printf(&o, "# HELP %s Charger answer time of commands (CALL sent to answer), by action.\n"
            "# TYPE %s histogram\n", answer_name, answer_name);
    for (int a = 0; a < OCPP_ACTION_COUNT; a++) {
        unsigned long long count = load(&answer_count[a]);
        if (!count)
            continue;
        const char *an = ocpp_action_name((enum ocpp_action)a);
        unsigned long long cum = 0;
        for (size_t i = 0; i < ANSWER_BUCKETS; i++) {
            cum += load(&answer_hist[a][i]);
            strbuf_printf(&o, "%s_bucket{action=\"%s\",le=\"%g\"} %llu\n", answer_name, an, answer_bounds[i], cum);
        }
        cum += load(&answer_hist[a][ANSWER_BUCKETS]);
        strbuf_printf(&o, "%s_bucket{action=\"%s\",le=\"+Inf\"} %llu\n%s_sum{action=\"%s\"} %.6f\n"
                "%s_count{action=\"%s\"} %llu\n",
            answer_name, an, cum, answer_name, an, (double)load(&answer_sum_us[a]) / 1e6, answer_name,
            an, count);
    }

    histogram(&o, "ocppgw_command_overhead_seconds",
              "Time the gateway added to synchronous commands (REST round trip minus the charger's answer time).",
              overhead_bounds, OVERHEAD_BUCKETS, overhead_hist, (double)load(&overhead_sum_us) / 1e6,
              load(&overhead_count));
    histogram(&o, "ocppgw_db_batch_size", "Jobs per committed database transaction.", batch_bounds,
              BATCH_BUCKETS, batch_hist, (double)load(&batch_sum), load(&batch_count));
    histogram(&o, "ocppgw_db_commit_seconds", "Time from sending a batch to its COMMIT.",
              commit_bounds, COMMIT_BUCKETS, commit_hist, (double)load(&commit_sum_us) / 1e6,
              load(&batch_count));
    return strbuf_take(&o);
}
