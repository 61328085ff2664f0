/*
 * Exports of collections (include/rest_res.h: res_export_start,
 * res_export_list): a request that prefers text/csv or
 * application/x-ndjson (rest_export_accept) is answered with every row of
 * the collection, streamed.
 *
 * The query is validated as for a page (the same 400 before any byte),
 * then the statement (the page's filters, order and key restriction,
 * without LIMIT) goes to an export thread (rest_io.export_begin,
 * include/store.h "Exports"), which formats the rows there with
 * include/rest_export.h and queues bounded chunks. Here, on the loop, each
 * wake-up (rest_on_exports -> res_exports_pump) and each time the client has read (the
 * stream's drained hook) moves chunks into the stream while it takes them
 * (rest_stream_send, bounded too); the headers go out with the first
 * chunk, so a statement that fails at once is still a JSON error. A
 * failure after that cuts the connection (the client sees an incomplete
 * chunked body); a client that leaves releases the export, whose thread
 * stops at its next batch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "rest.h"
#include "rest_export.h"
#include "rest_query.h"
#include "rest_res.h"
#include "store_export.h"
#include "store_job.h"
#include "util.h"

#define EXPORT_STREAM_BOUND (256 * 1024)    /* bytes waiting for the client in the stream's queue */
#define EXPORT_STALL_MS 60000               /* a client that reads nothing this long is cut */

struct res_export {
    struct res_export *prev, *next;         /* every export of the process (X.head) */
    uint64_t handle;                        /* the request's */
    void *job;                              /* rest_io's export; NULL once released */
    enum rest_export_format f;
    bool streaming;                         /* headers out: the stream's gone hook frees this */
    struct rest_request *r;                 /* once streaming: valid until the gone hook */
    char *pending;                          /* a chunk the stream refused for now */
    size_t pending_len;
    char filename[80];
};

static struct {
    struct res_export head;
} X = { .head = { .prev = &X.head, .next = &X.head } };

enum rest_export_format res_export_wanted(const struct rest_request *r)
{
    /* a HEAD gets the JSON page's headers: a stream would write a body */
    if (rest_method(r) != REST_GET)
        return REST_EXPORT_NONE;
    return rest_export_accept(rest_header(r, "accept"));
}

/* ------------------------------------------------------------------ formatter glue (export thread) */

static void fmt_head(void *fmt, struct strbuf *out)
{
    rest_export_fmt_head(fmt, out);
}

static void fmt_row(void *fmt, const char *const *values, struct strbuf *out)
{
    rest_export_fmt_row(fmt, values, out);
}

static void fmt_free(void *fmt)
{
    rest_export_fmt_free(fmt);
}

/* ------------------------------------------------------------------ the loop's side */

static void release(struct res_export *x)
{
    if (!x->job)
        return;
    rest_export_release(x->job);
    x->job = NULL;
}

static void export_free(struct res_export *x)
{
    release(x);
    free(x->pending);
    x->prev->next = x->next;
    x->next->prev = x->prev;
    free(x);
}

static void stream_gone(void *user)
{
    export_free(user);
}

static void pump(struct res_export *x);

static void stream_drained(void *user)
{
    pump(user);
}

/* The headers: 200, the format's type, Content-Disposition. */
static void start_stream(struct rest_request *r, struct res_export *x)
{
    static const struct rest_stream_hooks hooks = { stream_gone, stream_drained };
    char disp[128];
    snprintf(disp, sizeof disp, "attachment; filename=\"%s.%s\"", x->filename, rest_export_extension(x->f));
    rest_add_header(r, "Content-Disposition", disp);
    x->streaming = true;
    x->r = r;
    rest_stream_start(r, rest_export_content_type(x->f), EXPORT_STREAM_BOUND, &hooks, x);
    rest_stream_set_export(r, EXPORT_STALL_MS);
}

/* Moves what the export thread made into the stream while it takes it; handles the end. */
static void pump(struct res_export *x)
{
    struct rest_request *r = x->streaming ? x->r : rest_request_lookup(x->handle);
    if (!r) {
        if (!x->streaming)
            export_free(x);         /* left while waiting for the first rows */
        return;
    }
    for (;;) {
        if (x->pending) {
            enum rest_stream_put put = rest_stream_send(r, x->pending, x->pending_len);
            if (put == REST_STREAM_FULL)
                return;             /* drained() brings us back */
            free(x->pending);
            x->pending = NULL;
            if (put == REST_STREAM_CLOSED) {
                release(x);         /* cut or gone: the stream's gone hook frees x */
                return;
            }
        }
        if (!x->job)
            return;
        enum store_export_state st;
        char why[256];
        size_t len;
        char *c = rest_export_take(x->job, &len, &st, why, sizeof why);
        if (c) {
            x->pending = c;
            x->pending_len = len;
            if (!x->streaming)
                start_stream(r, x);
            continue;
        }
        switch (st) {
        case STORE_EXPORT_RUNNING:
            return;
        case STORE_EXPORT_DONE:
            release(x);
            if (!x->streaming)
                start_stream(r, x);     /* no rows and no header (NDJSON): an empty body */
            rest_stream_end(r);
            return;
        case STORE_EXPORT_UNAVAILABLE:
        case STORE_EXPORT_FAILED:
            release(x);
            if (x->streaming) {
                char msg[320];
                snprintf(msg, sizeof msg, "export failed: %s", why);
                rest_stream_abort(r, msg);
            } else if (st == STORE_EXPORT_UNAVAILABLE) {
                rest_reply_error(r, REST_ERR_UNAVAILABLE, "the database is unavailable", NULL);
                export_free(x);
            } else {
                log_error(NULL, "rest: %s %s (request %s): export failed: %s", rest_method_name(rest_method(r)),
                          rest_path(r), rest_request_id(r), why);
                rest_reply_error(r, REST_ERR_INTERNAL, "the export failed", NULL);
                export_free(x);
            }
            return;
        }
    }
}

void res_exports_pump(void)
{
    for (struct res_export *x = X.head.next, *next; x != &X.head; x = next) {
        next = x->next;
        pump(x);
    }
}

/* The last segment of the path, in [A-Za-z0-9._-], as the file's name. */
static void filename_of(const struct rest_request *r, char *out, size_t cap)
{
    const char *path = rest_path(r);
    const char *slash = strrchr(path, '/');
    const char *s = slash && slash[1] ? slash + 1 : "export";
    size_t o = 0;
    for (; *s && o + 1 < cap; s++) {
        char ch = *s;
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                  ch == '-' || ch == '_' || ch == '.';
        out[o++] = ok ? ch : '_';
    }
    out[o] = '\0';
}

void res_export_start_opts(struct rest_request *r, enum rest_export_format f, const struct rest_col *cols,
                           size_t ncols, const char *sql, int nparams, const char *const *params,
                           const struct res_export_opts *opts)
{
    if (!rest_exports_available()) {
        rest_reply_error(r, REST_ERR_UNAVAILABLE, "exports are not available in this process", NULL);
        return;
    }
    struct store_export_req req = {
        .sql = xstrdup(sql),
        .nparams = nparams,
        .params = xcalloc(nparams > 0 ? (size_t)nparams : 1, sizeof(char *)),
        .head = fmt_head,
        .row = fmt_row,
        .fmt_free = fmt_free,
        .fmt = rest_export_fmt_new(f, cols, ncols, opts ? opts->flat : NULL),
    };
    for (int i = 0; i < nparams; i++)
        req.params[i] = params[i] ? xstrdup(params[i]) : NULL;
    if (opts && opts->hook)
        req.hook = *opts->hook;
    void *job = rest_export_begin(&req);
    if (!job) {
        rest_add_header(r, "Retry-After", "5");
        rest_reply_error(r, REST_ERR_UNAVAILABLE, "too many exports are running; try again shortly", NULL);
        return;
    }
    struct res_export *x = xcalloc(1, sizeof *x);
    x->handle = rest_request_handle(r);
    x->job = job;
    x->f = f;
    if (opts && opts->filename)
        str_copy(x->filename, sizeof x->filename, opts->filename);
    else
        filename_of(r, x->filename, sizeof x->filename);
    x->next = X.head.next;
    x->prev = &X.head;
    X.head.next->prev = x;
    X.head.next = x;
    /* parked until the first chunk: answered from rest_on_exports */
}

void res_export_start(struct rest_request *r, enum rest_export_format f, const struct rest_col *cols,
                      size_t ncols, const char *sql, int nparams, const char *const *params)
{
    res_export_start_opts(r, f, cols, ncols, sql, nparams, params, NULL);
}

/* ------------------------------------------------------------------ collections */

/* An export of a collection under a parent, waiting for the parent's check. */
struct parent_wait {
    struct parent_wait *next;
    uint64_t handle;
    enum rest_export_format f;
    const struct rest_list_spec *spec;
    struct rest_col *cols;
    struct rest_sqlb b;
    struct store_rows_hook hook;
    bool has_hook;
};
static struct parent_wait *waiting;
static void res_export_sweep(void);

static struct parent_wait *wait_take(uint64_t handle)
{
    for (struct parent_wait **at = &waiting; *at; at = &(*at)->next)
        if ((*at)->handle == handle) {
            struct parent_wait *w = *at;
            *at = w->next;
            return w;
        }
    return NULL;
}

static void wait_free(struct parent_wait *w)
{
    free(w->cols);
    rest_sqlb_free(&w->b);
    free(w);
}

static void start_list(struct rest_request *r, enum rest_export_format f, const struct rest_list_spec *spec,
                       const struct rest_col *cols, struct rest_sqlb *b, const struct store_rows_hook *hook)
{
    struct res_export_opts opts = { .flat = spec->flat, .hook = hook };
    res_export_start_opts(r, f, cols, spec->ncols, strbuf_str(&b->sql), b->nparams,
                          (const char *const *)b->params, &opts);
}

/* "charger" of /v1/chargers/{id}/..., "site", "session": what a collection's parent is. */
static void parent_what(const struct rest_request *r, char *out, size_t cap)
{
    const char *p = rest_path(r);
    p += strncmp(p, "/v1/", 4) == 0 ? 4 : 0;
    size_t n = strcspn(p, "/");
    if (n && p[n - 1] == 's')
        n--;
    snprintf(out, cap, "%.*s", (int)n, p);
}

static void parent_done(struct rest_request *r, struct store_job *job)
{
    struct parent_wait *w = wait_take(rest_request_handle(r));
    if (!w) {
        rest_reply_error(r, REST_ERR_INTERNAL, "export lost while parked", NULL);
        return;
    }
    char what[32], ctx_key[48];
    parent_what(r, what, sizeof what);
    snprintf(ctx_key, sizeof ctx_key, "%sId", what);
    const char *id = rest_param(r, "id");
    if (job->status != STORE_OK)
        rest_reply_store_error(r, job);
    else if (rest_job_rows(job) < 1)
        res_not_found(r, what, ctx_key, id);
    else if (!res_key_sees(r, rest_job_value(job, 0, 0), rest_job_value(job, 0, 1)))
        res_forbidden(r, what, ctx_key, id);
    else
        start_list(r, w->f, w->spec, w->cols, &w->b, w->has_hook ? &w->hook : NULL);
    wait_free(w);
}

void res_export_list(struct rest_request *r, enum rest_export_format f, const struct rest_list_req *req,
                     const char *scope_value, const struct store_rows_hook *hook)
{
    const struct rest_list_spec *spec = req->spec;
    const struct rest_key *k = rest_key(r);
    res_export_sweep();
    struct parent_wait *w = xcalloc(1, sizeof *w);
    w->handle = rest_request_handle(r);
    w->f = f;
    w->spec = spec;
    w->cols = rest_list_export_cols(spec);
    if (hook) {
        w->hook = *hook;
        w->has_hook = true;
    }
    rest_sqlb_init(&w->b);
    rest_list_export_sql(req, scope_value, k ? k->charger_ids : NULL, k ? k->site_ids : NULL, w->cols,
                         spec->ncols, &w->b);
    if (!spec->parent) {
        start_list(r, f, spec, w->cols, &w->b, hook);
        wait_free(w);
        return;
    }
    struct rest_sqlb p;
    rest_sqlb_init(&p);
    rest_sqlb_frag(&p, spec->parent, rest_sqlb_param(&p, scope_value));
    w->next = waiting;
    waiting = w;
    rest_sql(r, rest_sql_intern(strbuf_str(&p.sql)), p.nparams, (const char *const *)p.params, parent_done);
    rest_sqlb_free(&p);
}

/*
 * A request that leaves while its parent is checked never reaches
 * parent_done: its entry is dropped at the next export's start. (Few:
 * only collections under a parent wait, one short query each.)
 */
static void res_export_sweep(void)
{
    for (struct parent_wait **at = &waiting; *at;) {
        if (!rest_request_lookup((*at)->handle)) {
            struct parent_wait *w = *at;
            *at = w->next;
            wait_free(w);
        } else {
            at = &(*at)->next;
        }
    }
}

void res_export_shutdown(void)
{
    while (waiting) {
        struct parent_wait *w = waiting;
        waiting = w->next;
        wait_free(w);
    }
    for (struct res_export *x = X.head.next, *next; x != &X.head; x = next) {
        next = x->next;
        x->job = NULL;              /* the export service is stopped already: nothing to release */
        free(x->pending);
        x->prev->next = x->next;
        x->next->prev = x->prev;
        free(x);
    }
}
