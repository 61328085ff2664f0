/*
 * The retention job: a thread with its own PostgreSQL connection
 * (`ocppgw-retention`) that deletes raw rows older than their retention
 * (retention.* in the config; spec reports.md "Retention and privacy").
 *
 * At start and then once a minute it goes through the kinds in turn. A kind
 * is deleted in batches, one statement and one short transaction each
 * (autocommit): ocppgw_events_expire (sql/012) for events, at most 10,000
 * of the oldest per statement; ocppgw_retention_delete (sql/025) for the
 * others, the rows among RETENTION_BATCH primary-key values from the
 * table's first (an index range scan: at most that many rows read, row
 * locks on old rows only, which no charger's write touches). Batches follow
 * each other at once until the kind is caught up (the range reached rows
 * within the retention, or the table's end), then the next kind. Each batch
 * takes its kind's transaction-scoped advisory lock with
 * pg_try_advisory_xact_lock: with several gateways on one database one
 * deletes a kind at a time and the others skip it for that round, nobody
 * waits; a batch that waits 5 s for a row lock or runs 60 s fails alone
 * (lock_timeout, statement_timeout of this connection), logged, and the
 * next round tries again. meter_values of a session still active stay
 * whatever their age.
 * Tables whose name starts with report_ (rollups) are never touched.
 *
 * Why a thread of its own rather than the REST store (where events were
 * deleted before): a first run on a database with a year of backlog is
 * tens of thousands of batches; on the REST store they would ride in the
 * integrators' transactions and slow every API answer, on the OCPP store
 * the chargers' writes. Here they wait for nobody and nobody waits for
 * them. Blocking libpq is fine: this is not the loop, and the job never
 * talks to the core. A run that deleted something logs one line per kind
 * (rows, batches, ms) and counts ocppgw_retention_deleted_rows_total.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "metrics.h"
#include "store.h"
#include "store_internal.h"
#include "util.h"

#define RETENTION_BATCH "5000"
#define RETENTION_EVENTS_BATCH "10000"
#define RETENTION_PERIOD_MS (60 * 1000)
#define RETENTION_PAUSE_MIN_MS 20

struct store_retention {
    struct store_worker *worker;
    int keep[METRICS_RET_KIND_COUNT];   /* days (events: seconds); 0 = kept for ever */
};

/*
 * One batch of kind k: rows deleted (-1: another connection holds the
 * kind's claim, -2: a database error, logged); *next the id the next batch
 * starts from, or -1 when the kind is caught up.
 */
static long batch(PGconn *c, enum metrics_retention_kind k, int keep, long long from, long long *next)
{
    char keep_s[16], from_s[24];
    snprintf(keep_s, sizeof keep_s, "%d", keep);
    snprintf(from_s, sizeof from_s, "%lld", from);
    PGresult *r;
    if (k == METRICS_RET_EVENTS) {
        const char *params[] = { keep_s, RETENTION_EVENTS_BATCH };
        r = PQexecParams(c, "SELECT ocppgw_events_expire($1::integer, $2::integer), NULL", 2, NULL, params,
                         NULL, NULL, 0);
    } else {
        const char *params[] = { metrics_retention_kind_name(k), keep_s, from_s, RETENTION_BATCH };
        r = PQexecParams(c, "SELECT deleted, next_from FROM ocppgw_retention_delete($1, $2::integer,"
                            " $3::bigint, $4::integer)", 4, NULL, params, NULL, NULL, 0);
    }
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        log_warn(NULL, "retention: %s: %s", metrics_retention_kind_name(k), PQerrorMessage(c));
        PQclear(r);
        return -2;
    }
    long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    if (k == METRICS_RET_EVENTS)
        *next = n >= strtol(RETENTION_EVENTS_BATCH, NULL, 10) ? 0 : -1;
    else
        *next = PQgetisnull(r, 0, 1) ? -1 : strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    return n;
}

/* Deletes what kind k has past its retention, batch after batch; false on a database error. */
static bool run_kind(struct store_worker *w, PGconn *db, struct store_retention *t, enum metrics_retention_kind k)
{
    int64_t t0 = time_mono_us();
    long long from = 0, total = 0;
    int batches = 0;
    bool ok = true;
    while (!store_worker_stopping(w)) {
        long long next = -1;
        int64_t b0 = time_mono_us();
        long n = batch(db, k, t->keep[k], from, &next);
        int64_t took_ms = (time_mono_us() - b0) / 1000;
        if (n == -2) {
            ok = false;
            break;
        }
        if (n < 0)
            break;                  /* another gateway is at it: its turn */
        batches++;
        if (n > 0) {
            total += n;
            metrics_retention_deleted(k, (uint64_t)n);
        }
        if (next < 0)
            break;
        from = next;
        /*
         * Half the time at most: after a batch that deleted rows, pause as
         * long as it took (at least RETENTION_PAUSE_MIN_MS), so that the
         * chargers' writes, which share PostgreSQL's CPU and WAL with it,
         * never queue behind a backlog being deleted (docs/benchmarks.md).
         */
        if (n > 0 && !store_worker_pause(w, took_ms > RETENTION_PAUSE_MIN_MS ? (int)took_ms : RETENTION_PAUSE_MIN_MS))
            break;
    }
    if (total > 0)
        log_info(NULL, "retention: %s: %lld rows deleted in %d batch%s, %lld ms", metrics_retention_kind_name(k),
                 total, batches, batches == 1 ? "" : "es", (long long)((time_mono_us() - t0) / 1000));
    return ok;
}

/* One run: every kind in turn, each until caught up (the period is a minute: never at once again). */
static bool retention_round(struct store_worker *w, PGconn *db, void *ctx)
{
    struct store_retention *t = ctx;
    for (int k = 0; k < METRICS_RET_KIND_COUNT && !store_worker_stopping(w); k++)
        if (t->keep[k] > 0 && !run_kind(w, db, t, (enum metrics_retention_kind)k) && PQstatus(db) != CONNECTION_OK)
            break;
    return false;
}

struct store_retention *store_retention_start(const char *conninfo, const struct store_retention_config *cfg)
{
    struct store_retention *t = xcalloc(1, sizeof *t);
    t->keep[METRICS_RET_EVENTS] = cfg->events_s;
    t->keep[METRICS_RET_METER_VALUES] = cfg->meter_values_days;
    t->keep[METRICS_RET_METER_MESSAGES] = cfg->meter_values_days;
    t->keep[METRICS_RET_STATUS_HISTORY] = cfg->status_history_days;
    t->keep[METRICS_RET_CHARGER_EVENTS] = cfg->status_history_days;
    t->keep[METRICS_RET_SECURITY_EVENTS] = cfg->status_history_days;
    t->keep[METRICS_RET_DATA_TRANSFERS] = cfg->status_history_days;
    t->keep[METRICS_RET_ORPHAN_STOPS] = cfg->status_history_days;
    t->keep[METRICS_RET_COMMANDS] = cfg->commands_days;
    t->keep[METRICS_RET_AUDIT_LOG] = cfg->audit_log_days;
    /* a batch never waits long for a row lock (an event's delivery being claimed) nor runs away: it fails
       alone and the next round tries again */
    struct store_worker_spec spec = { "retention", "-c lock_timeout=5000 -c statement_timeout=60000",
                                      RETENTION_PERIOD_MS, retention_round, t };
    t->worker = store_worker_start(conninfo, &spec);
    if (!t->worker) {
        free(t);
        return NULL;
    }
    return t;
}

void store_retention_stop(struct store_retention *t)
{
    if (!t)
        return;
    store_worker_stop(t->worker);
    free(t);
}
