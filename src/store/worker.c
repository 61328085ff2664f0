/*
 * A background job of the store (store_internal.h, "background workers"):
 * a thread with its own PostgreSQL connection that runs its round now and
 * then. The pricing job (with the energy rollups), the utilization job and
 * the retention job are each one; they differ only in their round, their
 * period and their connection's settings, which is what the spec gives.
 *
 * The loop: (re)connect when there is no good connection (a failure is
 * logged once until a connect succeeds again), run the round, then wait
 * for the period unless the round said more work may be waiting, or until
 * stop. Blocking libpq is fine here: this is not the event loop, and a
 * worker never talks to the core. Stop joins the thread after the round in
 * progress.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <libpq-fe.h>

#include "store_internal.h"
#include "util.h"

struct store_worker {
    struct store_worker_spec spec;
    char *conninfo;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    PGconn *db;
    bool down;                      /* the last connect failed (logged once) */
};

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static void connect_db(struct store_worker *w)
{
    char app[64];
    snprintf(app, sizeof app, "ocppgw-%s", w->spec.name);
    const char *keys[] = { "application_name", "connect_timeout", "keepalives", "dbname", NULL, NULL };
    const char *vals[] = { app, "5", "1", w->conninfo, NULL, NULL };
    if (w->spec.options) {
        keys[4] = "options";
        vals[4] = w->spec.options;
    }
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c)
        abort();
    if (PQstatus(c) != CONNECTION_OK) {
        if (!w->down)
            log_warn(NULL, "%s: cannot connect to the database, retrying every %d s: %s", w->spec.name,
                     w->spec.period_ms / 1000, PQerrorMessage(c));
        w->down = true;
        PQfinish(c);
        return;
    }
    w->down = false;
    PQsetNoticeProcessor(c, quiet, NULL);
    w->db = c;
}

bool store_worker_stopping(struct store_worker *w)
{
    pthread_mutex_lock(&w->mu);
    bool s = w->stopping;
    pthread_mutex_unlock(&w->mu);
    return s;
}

/* Waits ms or until stop, with w->mu held (released while waiting). */
static void wait_until(struct store_worker *w, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    until.tv_sec += ms / 1000 + until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    while (!w->stopping && pthread_cond_timedwait(&w->cv, &w->mu, &until) != ETIMEDOUT)
        ;
}

bool store_worker_pause(struct store_worker *w, int ms)
{
    pthread_mutex_lock(&w->mu);
    wait_until(w, ms);
    bool go_on = !w->stopping;
    pthread_mutex_unlock(&w->mu);
    return go_on;
}

static void *worker_main(void *arg)
{
    struct store_worker *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stopping) {
        pthread_mutex_unlock(&w->mu);
        bool more = false;
        if (!w->db || PQstatus(w->db) != CONNECTION_OK) {
            if (w->db)
                PQfinish(w->db);
            w->db = NULL;
            connect_db(w);
        }
        if (w->db)
            more = w->spec.round(w, w->db, w->spec.ctx);
        pthread_mutex_lock(&w->mu);
        if (more || w->stopping)
            continue;
        wait_until(w, w->spec.period_ms);
    }
    pthread_mutex_unlock(&w->mu);
    if (w->db)
        PQfinish(w->db);
    w->db = NULL;
    return NULL;
}

struct store_worker *store_worker_start(const char *conninfo, const struct store_worker_spec *spec)
{
    struct store_worker *w = xcalloc(1, sizeof *w);
    w->spec = *spec;
    w->conninfo = xstrdup(conninfo);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        log_error(NULL, "%s: cannot start its thread", spec->name);
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w->conninfo);
        free(w);
        return NULL;
    }
    return w;
}

void store_worker_stop(struct store_worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->conninfo);
    free(w);
}
