/*
 * The utilization job: a thread with its own PostgreSQL connection that
 * keeps the utilization report's rollups (sql/024_report_utilization.sql;
 * docs/architecture.md, "Utilization rollups") in step with the raw
 * history. Writers only append to util_dirty (a status, a change of
 * chargers.connected, a move to another zone, in their own transaction);
 * this thread, about once a second, calls ocppgw_util_drain(), which takes
 * up to UTIL_JOB_BATCH dirty chargers, each under an advisory lock taken
 * without waiting (gateways sharing a database never recompute one charger
 * at once and never wait on each other), and rebuilds each one's day rows
 * from the local midnight before its earliest dirty time, all in one
 * transaction. A full batch means more may wait: the next round runs at
 * once. A store worker (worker.c), as the pricing job is; it never
 * touches the loop or the core.
 */
#include <stdlib.h>

#include <libpq-fe.h>

#include "store.h"
#include "store_internal.h"
#include "util.h"

#define UTIL_JOB_BATCH 50
#define STR_(x) #x
#define STR(x) STR_(x)
#define UTIL_JOB_PERIOD_MS 1000

struct store_utilization {
    struct store_worker *worker;
    bool failing;                   /* the last round failed (logged once) */
};

/* One round (ocppgw_util_drain): true when the batch was full (more may wait). */
static bool drain(struct store_worker *w, PGconn *db, void *ctx)
{
    (void)w;
    struct store_utilization *u = ctx;
    PGresult *r = PQexec(db, "SELECT ocppgw_util_drain(" STR(UTIL_JOB_BATCH) ")");
    int n = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        n = atoi(PQgetvalue(r, 0, 0));
        u->failing = false;
    } else if (!u->failing) {
        log_warn(NULL, "utilization: rollup round failed, retrying: %s", PQerrorMessage(db));
        u->failing = true;
    }
    PQclear(r);
    return n >= UTIL_JOB_BATCH;
}

struct store_utilization *store_utilization_start(const char *conninfo)
{
    struct store_utilization *u = xcalloc(1, sizeof *u);
    /* the recompute's statements are small; the JIT would cost more than them */
    struct store_worker_spec spec = { "utilization", "-c jit=off", UTIL_JOB_PERIOD_MS, drain, u };
    u->worker = store_worker_start(conninfo, &spec);
    if (!u->worker) {
        free(u);
        return NULL;
    }
    return u;
}

void store_utilization_stop(struct store_utilization *u)
{
    if (!u)
        return;
    store_worker_stop(u->worker);
    free(u);
}
