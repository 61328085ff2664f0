/*
 * Store routing: the framework's statements on the REST store and the way
 * back. A handler parks its request on rest_sql(); the framework's own
 * statements (key lookup, idempotency, audit, write-behind) go through
 * rest_fw_sql(). Either way the job carries a context naming the request
 * by id and the continuation; when the job comes back (rest_jobs_complete,
 * from rest_on_store_result) the request is looked up again, so a
 * completion for a request whose client went away finds nothing and runs
 * only what is meant to run without it.
 *
 * Outstanding contexts are kept on a list, so that shutdown frees those of
 * jobs that never came back. Calls only request.c.
 */
#include <stdlib.h>
#include <string.h>

#include "framework.h"
#include "store_export.h"
#include "store_job.h"
#include "util.h"

/* What a store job of the framework is waiting for (job->user). */
struct jobctx {
    struct jobctx *prev, *next;
    uint64_t req_id;                /* 0: not for a request */
    rest_sql_done done;             /* a handler's continuation, or */
    rest_fw_done fw_done;           /* the framework's (may be NULL: write-behind) */
    rest_sql_detached_done detached; /* rest_sql_detached: runs whoever waits */
    void *user;                     /* its block (free()d here if it never ran) */
};

static struct {
    bool running;
    struct jobctx head;             /* list head of outstanding job contexts */
} J;

void rest_jobs_init(void)
{
    J.running = true;
    J.head.next = J.head.prev = &J.head;
}

static void jobctx_free(struct jobctx *c)
{
    c->next->prev = c->prev;
    c->prev->next = c->next;
    free(c);
}

void rest_jobs_free(void)
{
    if (!J.running)
        return;
    while (J.head.next != &J.head) {
        free(J.head.next->user);
        jobctx_free(J.head.next);
    }
    memset(&J, 0, sizeof J);
}

static struct jobctx *jobctx_new(uint64_t req_id)
{
    struct jobctx *c = xcalloc(1, sizeof *c);
    c->req_id = req_id;
    c->next = J.head.next;
    c->prev = &J.head;
    J.head.next->prev = c;
    J.head.next = c;
    return c;
}

static struct store_job *sql_job(bool write_behind, const char *sql, int nparams,
                                 const char *const *params)
{
    const struct rest_io *io = rest_io();
    struct store_job *job = store_job_new(write_behind ? STORE_OP_SQL_BEHIND : STORE_OP_SQL);
    job->received_ms = io->now_ms(io->ctx);
    job->in.sql.sql = sql;
    if (nparams > 0) {
        job->in.sql.nparams = nparams;
        job->in.sql.params = xcalloc((size_t)nparams, sizeof(char *));
        for (int i = 0; i < nparams; i++)
            job->in.sql.params[i] = params[i] ? xstrdup(params[i]) : NULL;
    }
    return job;
}

static void submit(struct store_job *job)
{
    const struct rest_io *io = rest_io();
    io->submit(io->ctx, job);
}

void rest_sql(struct rest_request *r, const char *sql, int nparams, const char *const *params,
              rest_sql_done done)
{
    struct store_job *job = sql_job(false, sql, nparams, params);
    struct jobctx *c = jobctx_new(r->id);
    c->done = done;
    job->user = c;
    submit(job);
}

void rest_sql_hook(struct rest_request *r, const char *sql, bool owned, int nparams, const char *const *params,
                   const struct store_rows_hook *hook, rest_sql_done done)
{
    struct store_job *job = sql_job(false, sql, nparams, params);
    job->in.sql.sql_owned = owned;
    job->in.sql.hook = *hook;
    struct jobctx *c = jobctx_new(r->id);
    c->done = done;
    job->user = c;
    submit(job);
}

void rest_sql_owned(struct rest_request *r, char *sql, int nparams, const char *const *params,
                    rest_sql_done done)
{
    rest_sql_owned_password(r, sql, nparams, params, 0, 0, done);
}

void rest_sql_owned_password(struct rest_request *r, char *sql, int nparams, const char *const *params,
                             int password_param, int iterations, rest_sql_done done)
{
    struct store_job *job = sql_job(false, sql, nparams, params);
    job->in.sql.sql_owned = true;
    if (password_param >= 1 && password_param <= nparams) {
        job->in.sql.password_param = password_param;
        job->in.sql.password_iterations = iterations;
    }
    struct jobctx *c = jobctx_new(r->id);
    c->done = done;
    job->user = c;
    submit(job);
}

const char *rest_job_password(const struct store_job *job)
{
    return job->in.sql.password;
}

void rest_fw_sql(struct rest_request *r, const char *sql, int nparams, const char *const *params,
                 bool write_behind, rest_fw_done done)
{
    if (!J.running)
        return; /* after shutdown (a command cancelled at exit): nothing can run it */
    struct store_job *job = sql_job(write_behind, sql, nparams, params);
    struct jobctx *c = jobctx_new(r ? r->id : 0);
    c->fw_done = done;
    job->user = c;
    submit(job);
}

void rest_sql_detached(const char *sql, int nparams, const char *const *params,
                       rest_sql_detached_done done, void *user)
{
    if (!J.running) {
        free(user); /* after shutdown: nothing can run it */
        return;
    }
    struct store_job *job = sql_job(false, sql, nparams, params);
    struct jobctx *c = jobctx_new(0);
    c->detached = done;
    c->user = user;
    job->user = c;
    submit(job);
}

const char *rest_value(const struct store_job *job, int row, int col)
{
    if (!job || row < 0 || col < 0 || row >= job->out.sql.ntuples || col >= job->out.sql.nfields ||
        !job->out.sql.values)
        return NULL;
    return job->out.sql.values[(size_t)row * (size_t)job->out.sql.nfields + (size_t)col];
}

void rest_jobs_complete(struct store_job *job)
{
    struct jobctx *c = job->user;
    if (!J.running || !c) {
        store_job_free(job);
        return;
    }
    struct rest_request *r = rest_request_by_id(c->req_id);
    if (c->detached) {
        c->detached(job, c->user);
        c->user = NULL;
    } else if (c->done) {
        /* a handler's continuation: only while its request waits for an answer */
        if (r && r->state == REST_REQ_RUNNING && !r->replied)
            c->done(r, job);
    } else if (c->fw_done) {
        c->fw_done(r, job);
    } else if (job->status != STORE_OK) {
        log_warn(NULL, "rest: write-behind statement failed (%s)",
                 job->status == STORE_ERR_UNAVAILABLE ? "database unavailable" : job->out.sql.sqlstate);
    }
    jobctx_free(c);
    store_job_free(job);
}

/* ------------------------------------------------------------------ exports (rest_io's export thread) */

void *rest_export_begin(struct store_export_req *req)
{
    const struct rest_io *io = rest_io();
    if (!io->export_begin) {
        store_export_req_clear(req);
        return NULL;
    }
    return io->export_begin(io->ctx, req);
}

bool rest_exports_available(void)
{
    return rest_io()->export_begin != NULL;
}

char *rest_export_take(void *export, size_t *len, enum store_export_state *state, char *why, size_t cap)
{
    const struct rest_io *io = rest_io();
    return io->export_take(io->ctx, export, len, state, why, cap);
}

void rest_export_release(void *export)
{
    const struct rest_io *io = rest_io();
    if (io->export_release)
        io->export_release(io->ctx, export);
}
