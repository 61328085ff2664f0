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
 * once. Plain blocking libpq on this thread only, as the pricing job
 * (src/store/pricing_job.c), whose shape this follows; it never touches
 * the loop or the core.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include <libpq-fe.h>

#include "store.h"
#include "util.h"

#define UTIL_JOB_BATCH 50
#define STR_(x) #x
#define STR(x) STR_(x)
#define UTIL_JOB_PERIOD_MS 1000

struct store_utilization {
    char *conninfo;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    PGconn *db;
    bool down;                      /* the last connect failed (logged once) */
    bool failing;                   /* the last round failed (logged once) */
};

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static void connect_db(struct store_utilization *u)
{
    const char *const keys[] = { "application_name", "connect_timeout", "keepalives", "dbname", NULL };
    const char *const vals[] = { "ocppgw-utilization", "5", "1", u->conninfo, NULL };
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c)
        abort();
    if (PQstatus(c) != CONNECTION_OK) {
        if (!u->down)
            log_warn(NULL, "utilization: cannot connect to the database, retrying every second: %s",
                     PQerrorMessage(c));
        u->down = true;
        PQfinish(c);
        return;
    }
    u->down = false;
    PQsetNoticeProcessor(c, quiet, NULL);
    /* the recompute's statements are small; the JIT would cost more than them */
    PGresult *r = PQexec(c, "SET jit = off");
    PQclear(r);
    u->db = c;
}

/* One round: the number of chargers recomputed, -1 on an error (rolled back). */
static int drain(struct store_utilization *u)
{
    PGresult *r = PQexec(u->db, "SELECT ocppgw_util_drain(" STR(UTIL_JOB_BATCH) ")");
    int n = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        n = atoi(PQgetvalue(r, 0, 0));
        u->failing = false;
    } else if (!u->failing) {
        log_warn(NULL, "utilization: rollup round failed, retrying: %s", PQerrorMessage(u->db));
        u->failing = true;
    }
    PQclear(r);
    return n;
}

static void *utilization_main(void *arg)
{
    struct store_utilization *u = arg;
    pthread_mutex_lock(&u->mu);
    while (!u->stopping) {
        pthread_mutex_unlock(&u->mu);
        int n = 0;
        if (!u->db || PQstatus(u->db) != CONNECTION_OK) {
            if (u->db)
                PQfinish(u->db);
            u->db = NULL;
            connect_db(u);
        }
        if (u->db)
            n = drain(u);
        pthread_mutex_lock(&u->mu);
        if (n >= UTIL_JOB_BATCH || u->stopping)
            continue;               /* a full batch: more may be waiting */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)UTIL_JOB_PERIOD_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (!u->stopping && pthread_cond_timedwait(&u->cv, &u->mu, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&u->mu);
    if (u->db)
        PQfinish(u->db);
    u->db = NULL;
    return NULL;
}

struct store_utilization *store_utilization_start(const char *conninfo)
{
    struct store_utilization *u = xcalloc(1, sizeof *u);
    u->conninfo = xstrdup(conninfo);
    pthread_mutex_init(&u->mu, NULL);
    pthread_cond_init(&u->cv, NULL);
    if (pthread_create(&u->thread, NULL, utilization_main, u) != 0) {
        log_error(NULL, "utilization: cannot start its thread");
        pthread_cond_destroy(&u->cv);
        pthread_mutex_destroy(&u->mu);
        free(u->conninfo);
        free(u);
        return NULL;
    }
    return u;
}

void store_utilization_stop(struct store_utilization *u)
{
    if (!u)
        return;
    pthread_mutex_lock(&u->mu);
    u->stopping = true;
    pthread_cond_signal(&u->cv);
    pthread_mutex_unlock(&u->mu);
    pthread_join(u->thread, NULL);
    pthread_cond_destroy(&u->cv);
    pthread_mutex_destroy(&u->mu);
    free(u->conninfo);
    free(u);
}
