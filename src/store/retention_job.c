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
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "metrics.h"
#include "store.h"
#include "util.h"

#define RETENTION_BATCH "5000"
#define RETENTION_EVENTS_BATCH "10000"
#define RETENTION_PERIOD_MS (60 * 1000)

struct store_retention {
    char *conninfo;
    int keep[METRICS_RET_KIND_COUNT];   /* days (events: seconds); 0 = kept for ever */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    PGconn *db;
    bool down;                          /* the last connect failed (logged once) */
};

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static bool connect_db(struct store_retention *t)
{
    /* a batch never waits long for a row lock (an event's delivery being claimed) nor runs away: it fails
       alone and the next round tries again */
    const char *const keys[] = { "application_name", "connect_timeout", "keepalives", "options", "dbname", NULL };
    const char *const vals[] = { "ocppgw-retention", "5", "1", "-c lock_timeout=5000 -c statement_timeout=60000",
                                 t->conninfo, NULL };
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c)
        abort();
    if (PQstatus(c) != CONNECTION_OK) {
        if (!t->down)
            log_warn(NULL, "retention: cannot connect to the database, retrying in a minute: %s",
                     PQerrorMessage(c));
        t->down = true;
        PQfinish(c);
        return false;
    }
    t->down = false;
    PQsetNoticeProcessor(c, quiet, NULL);
    t->db = c;
    return true;
}

static bool stopping(struct store_retention *t)
{
    pthread_mutex_lock(&t->mu);
    bool s = t->stopping;
    pthread_mutex_unlock(&t->mu);
    return s;
}

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
static bool run_kind(struct store_retention *t, enum metrics_retention_kind k)
{
    int64_t t0 = time_mono_us();
    long long from = 0, total = 0;
    int batches = 0;
    bool ok = true;
    while (!stopping(t)) {
        long long next = -1;
        long n = batch(t->db, k, t->keep[k], from, &next);
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
    }
    if (total > 0)
        log_info(NULL, "retention: %s: %lld rows deleted in %d batch%s, %lld ms", metrics_retention_kind_name(k),
                 total, batches, batches == 1 ? "" : "es", (long long)((time_mono_us() - t0) / 1000));
    return ok;
}

static void *retention_main(void *arg)
{
    struct store_retention *t = arg;
    pthread_mutex_lock(&t->mu);
    while (!t->stopping) {
        pthread_mutex_unlock(&t->mu);
        if (!t->db || PQstatus(t->db) != CONNECTION_OK) {
            if (t->db)
                PQfinish(t->db);
            t->db = NULL;
            connect_db(t);
        }
        for (int k = 0; t->db && k < METRICS_RET_KIND_COUNT && !stopping(t); k++)
            if (t->keep[k] > 0 && !run_kind(t, (enum metrics_retention_kind)k) && PQstatus(t->db) != CONNECTION_OK)
                break;
        pthread_mutex_lock(&t->mu);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)(RETENTION_PERIOD_MS % 1000) * 1000000L;
        until.tv_sec += RETENTION_PERIOD_MS / 1000 + until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (!t->stopping && pthread_cond_timedwait(&t->cv, &t->mu, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&t->mu);
    if (t->db)
        PQfinish(t->db);
    t->db = NULL;
    return NULL;
}

struct store_retention *store_retention_start(const char *conninfo, const struct store_retention_config *cfg)
{
    struct store_retention *t = xcalloc(1, sizeof *t);
    t->conninfo = xstrdup(conninfo);
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
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    if (pthread_create(&t->thread, NULL, retention_main, t) != 0) {
        log_error(NULL, "retention: cannot start its thread");
        pthread_cond_destroy(&t->cv);
        pthread_mutex_destroy(&t->mu);
        free(t->conninfo);
        free(t);
        return NULL;
    }
    return t;
}

void store_retention_stop(struct store_retention *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    t->stopping = true;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t->conninfo);
    free(t);
}
