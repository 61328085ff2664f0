/*
 * Export threads (include/store.h, "Exports"): a whole collection as CSV
 * or NDJSON, streamed with bounded memory.
 *
 * DESIGN. An export is one thread with one PostgreSQL connection of its
 * own, for the life of the export, so that a client reading slowly holds
 * up nothing but itself: neither the REST store's queries nor another
 * export. The thread opens a READ ONLY REPEATABLE READ transaction (one
 * snapshot: the rows are those of one instant, like a page), DECLAREs a
 * NO SCROLL cursor over the request's statement (parameters bound as for
 * any REST query) and FETCHes fetch_rows at a time. Each batch is
 * formatted right there by the request's own functions (the REST layer's
 * CSV/NDJSON formatter, pure code) into chunks of about CHUNK bytes,
 * appended to the export's queue under the service's mutex, and the loop
 * is woken (wake: lws_cancel_service). The loop takes chunks one by one
 * (store_export_take) as its client reads. While `bound` bytes wait in the
 * queue the thread does not FETCH: it sleeps on the export's condition
 * variable until the loop takes a chunk, or lets go. So the memory of an
 * export is bounded by bound + one batch (its PGresult and its text),
 * whatever the size of the result and the speed of the client.
 *
 * Lifetimes: the loop owns its handle until store_export_release(); the
 * thread owns the connection. Whichever of "released" and "thread ended"
 * comes second puts the export on the reap list, where the next call from
 * the loop (begin, release, stop) joins the thread and frees it: the loop
 * never waits for a FETCH, and a thread never frees what the loop may
 * still read. A released export's thread stops at its next batch (a FETCH
 * in progress finishes first: at most one batch late) and rolls back.
 * store_exports_stop() releases everything and joins every thread.
 *
 * Errors: a connection that cannot be made or is lost is
 * STORE_EXPORT_UNAVAILABLE, a statement the server refused
 * STORE_EXPORT_FAILED; both logged. Chunks not yet taken are dropped then,
 * so that the loop can still answer a JSON error when nothing went out.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "metrics.h"
#include "store.h"
#include "util.h"

#define CHUNK (64 * 1024)           /* bytes of text per queued chunk (about) */
#define CURSOR_NAME "ocppgw_export"

struct chunk {
    struct chunk *next;
    size_t len;
    char data[];
};

struct store_export {
    struct store_export *next;      /* x->all or x->reap */
    struct store_exports *x;
    struct store_export_req req;    /* the thread's (read-only for the loop) */
    pthread_t thread;
    pthread_cond_t cv;              /* the thread waits for room, or for release */
    /* under x->mu */
    struct chunk *head, *tail;
    size_t queued;
    enum store_export_state state;
    char why[256];
    bool released;                  /* the loop let go */
    bool ended;                     /* the thread is done with everything but returning */
};

struct store_exports {
    char *conninfo;
    int max;
    size_t bound;
    int fetch_rows;
    void (*wake)(void *ctx);
    void *wake_ctx;
    pthread_mutex_t mu;
    struct store_export *all;       /* running or not yet released */
    struct store_export *reap;      /* released and ended: to join and free */
    size_t running;                 /* threads not ended */
};

struct store_exports *store_exports_start(const struct store_exports_config *cfg)
{
    if (!cfg->conninfo || !cfg->wake) {
        log_error(NULL, "exports: no database or wake-up given");
        return NULL;
    }
    struct store_exports *x = xcalloc(1, sizeof *x);
    x->conninfo = xstrdup(cfg->conninfo);
    x->max = cfg->max > 0 ? cfg->max : 4;
    x->bound = cfg->bound ? cfg->bound : 256 * 1024;
    x->fetch_rows = cfg->fetch_rows > 0 ? cfg->fetch_rows : 1000;
    x->wake = cfg->wake;
    x->wake_ctx = cfg->wake_ctx;
    pthread_mutex_init(&x->mu, NULL);
    return x;
}

static void chunks_free(struct store_export *e)
{
    for (struct chunk *c = e->head, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    e->head = e->tail = NULL;
    metrics_export_queued(-(int64_t)e->queued);
    e->queued = 0;
}

static void export_free(struct store_export *e)
{
    chunks_free(e);
    store_export_req_clear(&e->req);
    pthread_cond_destroy(&e->cv);
    free(e);
}

/* Unlinks e from list *at (under x->mu); true if it was there. */
static bool unlink_from(struct store_export **at, struct store_export *e)
{
    for (; *at; at = &(*at)->next)
        if (*at == e) {
            *at = e->next;
            e->next = NULL;
            return true;
        }
    return false;
}

/* Joins and frees the exports released and ended (loop thread). */
static void reap(struct store_exports *x)
{
    pthread_mutex_lock(&x->mu);
    struct store_export *list = x->reap;
    x->reap = NULL;
    pthread_mutex_unlock(&x->mu);
    while (list) {
        struct store_export *n = list->next;
        pthread_join(list->thread, NULL);
        export_free(list);
        list = n;
    }
}

/* ------------------------------------------------------------------ the thread */

/* Queues the text of *b as a chunk and wakes the loop; waits while the queue is full. False: stop. */
static bool push(struct store_export *e, struct strbuf *b, bool wait)
{
    struct store_exports *x = e->x;
    bool go;
    pthread_mutex_lock(&x->mu);
    if (b->len && !e->released) {
        struct chunk *c = xmalloc(sizeof *c + b->len);
        c->next = NULL;
        c->len = b->len;
        memcpy(c->data, b->buf, b->len);
        if (e->tail)
            e->tail->next = c;
        else
            e->head = c;
        e->tail = c;
        e->queued += c->len;
        metrics_export_queued((int64_t)c->len);
    }
    strbuf_reset(b);
    pthread_mutex_unlock(&x->mu);
    x->wake(x->wake_ctx);
    pthread_mutex_lock(&x->mu);
    while (wait && !e->released && e->queued >= x->bound)
        pthread_cond_wait(&e->cv, &x->mu);
    go = !e->released;
    pthread_mutex_unlock(&x->mu);
    return go;
}

/* The thread's last word: its state and why (logged when not DONE); then the loop is woken. */
static void finish(struct store_export *e, enum store_export_state st, const char *why, uint64_t rows)
{
    struct store_exports *x = e->x;
    if (st != STORE_EXPORT_DONE)
        log_warn(NULL, "export: %s: %s", st == STORE_EXPORT_UNAVAILABLE ? "database unavailable" : "statement failed",
                 why ? why : "");
    pthread_mutex_lock(&x->mu);
    metrics_export(st != STORE_EXPORT_DONE ? METRICS_EXPORT_FAILED
                   : e->released ? METRICS_EXPORT_ABANDONED : METRICS_EXPORT_COMPLETED, rows);
    e->state = st;
    str_copy(e->why, sizeof e->why, why ? why : "");
    if (st != STORE_EXPORT_DONE)
        chunks_free(e);
    e->ended = true;
    x->running--;
    if (e->released && unlink_from(&x->all, e)) {
        e->next = x->reap;
        x->reap = e;
    }
    pthread_mutex_unlock(&x->mu);
    x->wake(x->wake_ctx);
}

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/* The message of a failed result or connection, without its line end, into buf. */
static const char *pg_why(PGconn *c, char *buf, size_t cap)
{
    str_copy(buf, cap, PQerrorMessage(c));
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return buf;
}

static bool exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok;
}

/*
 * The rows hook over rows [0, n) of res: the hook's column as a one-column
 * job, which fn may rewrite; its values replace the column's in vals.
 */
static struct store_job *run_hook(const struct store_export_req *req, PGresult *res, int n)
{
    struct store_job *job = store_job_new(STORE_OP_SQL);
    job->in.sql.hook = req->hook;
    job->in.sql.hook.col = 0;
    job->out.sql.ntuples = n;
    job->out.sql.nfields = 1;
    job->out.sql.values = xcalloc(n ? (size_t)n : 1, sizeof(char *));
    for (int i = 0; i < n; i++)
        if (!PQgetisnull(res, i, req->hook.col))
            job->out.sql.values[i] = xstrdup(PQgetvalue(res, i, req->hook.col));
    req->hook.fn(job);
    return job;
}

/* The one result of the query sent (NULL when the connection broke: a fatal status). */
static PGresult *take_result(PGconn *c)
{
    PGresult *r = PQgetResult(c), *extra;
    while ((extra = PQgetResult(c)))
        PQclear(extra);
    return r;
}

static void *export_main(void *arg)
{
    struct store_export *e = arg;
    struct store_exports *x = e->x;
    const struct store_export_req *req = &e->req;
    char why[256];
    struct strbuf out = STRBUF_INIT, sql = STRBUF_INIT;
    const char **vals = NULL;
    enum store_export_state st = STORE_EXPORT_DONE;
    const char *msg = NULL;
    uint64_t rows = 0;

    const char *const keys[] = { "application_name", "connect_timeout", "keepalives", "dbname", NULL };
    const char *const kv[] = { "ocppgw-export", "5", "1", x->conninfo, NULL };
    PGconn *c = PQconnectdbParams(keys, kv, 1);
    if (!c)
        abort();
    if (PQstatus(c) != CONNECTION_OK) {
        st = STORE_EXPORT_UNAVAILABLE;
        msg = pg_why(c, why, sizeof why);
        goto out;
    }
    PQsetNoticeProcessor(c, quiet, NULL);
    if (!exec_ok(c, "SET jit = off") ||
        !exec_ok(c, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")) {
        st = PQstatus(c) == CONNECTION_OK ? STORE_EXPORT_FAILED : STORE_EXPORT_UNAVAILABLE;
        msg = pg_why(c, why, sizeof why);
        goto out;
    }
    strbuf_puts(&sql, "DECLARE " CURSOR_NAME " NO SCROLL CURSOR FOR ");
    strbuf_puts(&sql, req->sql);
    PGresult *r = PQexecParams(c, strbuf_str(&sql), req->nparams, NULL, (const char *const *)req->params,
                               NULL, NULL, 0);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        st = PQstatus(c) == CONNECTION_OK ? STORE_EXPORT_FAILED : STORE_EXPORT_UNAVAILABLE;
        msg = pg_why(c, why, sizeof why);
        goto out;
    }
    char fetch[64];
    snprintf(fetch, sizeof fetch, "FETCH %d FROM " CURSOR_NAME, x->fetch_rows);
    bool first = true;
    /* the next batch is asked for before this one is formatted: the server computes while we write */
    if (!PQsendQuery(c, fetch)) {
        st = STORE_EXPORT_UNAVAILABLE;
        msg = pg_why(c, why, sizeof why);
        goto out;
    }
    for (;;) {
        r = take_result(c);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            PQclear(r);
            st = PQstatus(c) == CONNECTION_OK ? STORE_EXPORT_FAILED : STORE_EXPORT_UNAVAILABLE;
            msg = pg_why(c, why, sizeof why);
            goto out;
        }
        int n = PQntuples(r), nf = PQnfields(r);
        bool more = n == x->fetch_rows;
        if (more && !PQsendQuery(c, fetch)) {
            PQclear(r);
            st = STORE_EXPORT_UNAVAILABLE;
            msg = pg_why(c, why, sizeof why);
            goto out;
        }
        if (first) {
            req->head(req->fmt, &out);
            vals = xcalloc(nf ? (size_t)nf : 1, sizeof *vals);
            first = false;
        }
        struct store_job *hook = req->hook.fn && req->hook.col < nf ? run_hook(req, r, n) : NULL;
        bool go = true;
        for (int i = 0; i < n && go; i++) {
            for (int f = 0; f < nf; f++)
                vals[f] = PQgetisnull(r, i, f) ? NULL : PQgetvalue(r, i, f);
            if (hook)
                vals[req->hook.col] = hook->out.sql.values[i];
            req->row(req->fmt, vals, &out);
            rows++;
            if (out.len >= CHUNK)
                go = push(e, &out, true);
        }
        store_job_free(hook);
        PQclear(r);
        if (!go)
            goto out;                   /* released: the client has gone (PQfinish drops the FETCH in flight) */
        if (!more)
            break;
        if (out.len && !push(e, &out, true))
            goto out;
    }
    if (!push(e, &out, false))
        goto out;
    exec_ok(c, "COMMIT");
out:
    free(vals);
    strbuf_free(&out);
    strbuf_free(&sql);
    PQfinish(c);
    finish(e, st, msg, rows);
    return NULL;
}

/* ------------------------------------------------------------------ the loop's side */

struct store_export *store_export_begin(struct store_exports *x, struct store_export_req *req)
{
    reap(x);
    pthread_mutex_lock(&x->mu);
    bool busy = x->running >= (size_t)x->max;
    pthread_mutex_unlock(&x->mu);
    if (busy) {
        store_export_req_clear(req);
        return NULL;
    }
    struct store_export *e = xcalloc(1, sizeof *e);
    e->x = x;
    e->req = *req;
    memset(req, 0, sizeof *req);
    e->state = STORE_EXPORT_RUNNING;
    pthread_cond_init(&e->cv, NULL);
    pthread_mutex_lock(&x->mu);
    x->running++;
    e->next = x->all;
    x->all = e;
    pthread_mutex_unlock(&x->mu);
    int rc = pthread_create(&e->thread, NULL, export_main, e);
    if (rc != 0) {
        log_error(NULL, "export: cannot start a thread (error %d)", rc);
        pthread_mutex_lock(&x->mu);
        x->running--;
        unlink_from(&x->all, e);
        pthread_mutex_unlock(&x->mu);
        export_free(e);
        return NULL;
    }
    return e;
}

char *store_export_take(struct store_export *e, size_t *len, enum store_export_state *state, char *why,
                        size_t cap)
{
    struct store_exports *x = e->x;
    char *out = NULL;
    pthread_mutex_lock(&x->mu);
    *state = e->state;
    if (why && cap)
        str_copy(why, cap, e->why);
    struct chunk *c = e->head;
    if (c) {
        e->head = c->next;
        if (!e->head)
            e->tail = NULL;
        e->queued -= c->len;
        metrics_export_queued(-(int64_t)c->len);
        pthread_cond_signal(&e->cv);
    }
    pthread_mutex_unlock(&x->mu);
    if (c) {
        /* the chunk's header is given away as is: its data moved to the front */
        *len = c->len;
        memmove(c, c->data, c->len);
        out = (char *)c;
    } else {
        *len = 0;
    }
    return out;
}

void store_export_release(struct store_export *e)
{
    struct store_exports *x = e->x;
    pthread_mutex_lock(&x->mu);
    e->released = true;
    chunks_free(e);
    pthread_cond_signal(&e->cv);
    if (e->ended && unlink_from(&x->all, e)) {
        e->next = x->reap;
        x->reap = e;
    }
    pthread_mutex_unlock(&x->mu);
    reap(x);
}

size_t store_exports_running(struct store_exports *x)
{
    pthread_mutex_lock(&x->mu);
    size_t n = x->running;
    pthread_mutex_unlock(&x->mu);
    return n;
}

void store_exports_stop(struct store_exports *x)
{
    if (!x)
        return;
    pthread_mutex_lock(&x->mu);
    struct store_export *all = x->all;
    x->all = NULL;
    for (struct store_export *e = all; e; e = e->next) {
        e->released = true;
        pthread_cond_signal(&e->cv);
    }
    pthread_mutex_unlock(&x->mu);
    while (all) {
        struct store_export *n = all->next;
        pthread_join(all->thread, NULL);
        export_free(all);
        all = n;
    }
    reap(x);
    pthread_mutex_destroy(&x->mu);
    free(x->conninfo);
    free(x);
}
