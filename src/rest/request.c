/*
 * The REST request object and its reply: what handlers read (rest.h
 * accessors), how they answer (rest_reply_*), how they park on the REST
 * store (rest_sql), and the framework's periodic work (rest_tick). No
 * libwebsockets here: the transport (http_lws.c) fills a request, calls
 * rest_dispatch(), and is told through rest_io.send when a reply is ready.
 *
 * Requests live in a map by a 64-bit id that is never reused; store jobs
 * and other callbacks carry that id, never the pointer, so a completion for
 * a request whose client went away finds nothing and is dropped (the job
 * context list below lets shutdown free what never came back). The states
 * and the one exception (idempotency claims) are described in framework.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

#include "framework.h"
#include "hmap.h"
#include "secret.h"
#include "store_job.h"
#include "util.h"

#define ORPHAN_MAX_MS (10 * 60 * 1000)  /* a claimed request without client, handler never replied */
#define RELOAD_RETRY_MS 5000
#define FLUSH_EVERY_MS 1000
#define CLEANUP_EVERY_MS (60 * 60 * 1000)

/* What a store job of the framework is waiting for (job->user). */
struct jobctx {
    struct jobctx *prev, *next;
    uint64_t req_id;                /* 0: not for a request */
    rest_sql_done done;             /* a handler's continuation, or */
    rest_fw_done fw_done;           /* the framework's (may be NULL: write-behind) */
};

static struct {
    bool inited;
    struct rest_config cfg;
    char *cors;                     /* owned copy of cfg.cors_origins */
    struct rest_io io;
    struct hmap *requests;          /* id -> struct rest_request */
    uint64_t next_id;
    char rid_prefix[9];
    uint64_t rid_seq;
    struct jobctx jobs;             /* list head of outstanding job contexts */
    /* rest_tick */
    bool store_was_ready;
    int64_t reload_at_ms, flush_at_ms, cleanup_at_ms, sweep_at_ms;
} R;

static const char *const hdr_names[REST_H_COUNT] = {
    [REST_H_AUTHORIZATION] = "authorization",
    [REST_H_X_API_KEY] = "x-api-key",
    [REST_H_API_VERSION] = "api-version",
    [REST_H_IDEMPOTENCY_KEY] = "idempotency-key",
    [REST_H_PREFER] = "prefer",
    [REST_H_X_REQUEST_ID] = "x-request-id",
    [REST_H_CONTENT_TYPE] = "content-type",
    [REST_H_CONTENT_LENGTH] = "content-length",
    [REST_H_TRANSFER_ENCODING] = "transfer-encoding",
    [REST_H_ORIGIN] = "origin",
    [REST_H_AC_REQUEST_METHOD] = "access-control-request-method",
    [REST_H_AC_REQUEST_HEADERS] = "access-control-request-headers",
};

const char *rest_hdr_name(enum rest_hdr h)
{
    return (unsigned)h < REST_H_COUNT ? hdr_names[h] : "";
}

/* ------------------------------------------------------------------ setup */

void rest_init(const struct rest_config *cfg, const struct rest_io *io)
{
    memset(&R, 0, sizeof R);
    R.inited = true;
    R.cfg = *cfg;
    if (!R.cfg.max_body)
        R.cfg.max_body = 1024 * 1024;
    if (R.cfg.rate_per_s <= 0)
        R.cfg.rate_per_s = 20;
    if (R.cfg.rate_burst < 1)
        R.cfg.rate_burst = 100;
    if (R.cfg.park_timeout_s <= 0)
        R.cfg.park_timeout_s = 60;
    R.cors = cfg->cors_origins && *cfg->cors_origins ? xstrdup(cfg->cors_origins) : NULL;
    R.cfg.cors_origins = R.cors;
    R.io = *io;
    R.requests = hmap_new();
    R.jobs.next = R.jobs.prev = &R.jobs;
    unsigned char raw[4];
    secret_random(raw, sizeof raw);
    snprintf(R.rid_prefix, sizeof R.rid_prefix, "%02x%02x%02x%02x", raw[0], raw[1], raw[2], raw[3]);
    rest_auth_init();
    rest_dispatch_init();
}

static int free_request_cb(void *ctx, const void *key, size_t klen, void *val)
{
    (void)ctx, (void)key, (void)klen;
    struct rest_request *r = val;
    r->id = 0;                      /* already leaving the map */
    rest_request_free(r);
    return 1;
}

void rest_shutdown(void)
{
    if (!R.inited)
        return;
    hmap_foreach(R.requests, free_request_cb, NULL);
    hmap_free(R.requests);
    while (R.jobs.next != &R.jobs) {
        struct jobctx *c = R.jobs.next;
        c->next->prev = c->prev;
        c->prev->next = c->next;
        free(c);
    }
    rest_dispatch_free();
    rest_auth_free();
    free(R.cors);
    memset(&R, 0, sizeof R);
}

const struct rest_config *rest_cfg(void)
{
    return &R.cfg;
}

const struct rest_io *rest_io(void)
{
    return &R.io;
}

/* ------------------------------------------------------------------ lifecycle */

struct rest_request *rest_request_new(void *conn, enum rest_method m, const char *path, size_t plen)
{
    struct rest_request *r = xcalloc(1, sizeof *r);
    r->id = ++R.next_id;
    r->conn = conn;
    r->method = m;
    r->path = xstrndup(path, plen);
    r->err = -1;
    r->started_us = R.io.mono_us(R.io.ctx);
    hmap_put_u64(R.requests, r->id, r);
    return r;
}

/* A client's X-Request-Id is echoed when it is short printable token text. */
static bool request_id_sane(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("-_.:@/+=", c)))
            return false;
    }
    return true;
}

void rest_request_set_header(struct rest_request *r, enum rest_hdr h, const char *value, size_t len)
{
    if ((unsigned)h >= REST_H_COUNT)
        return;
    free(r->hdr[h]);
    r->hdr[h] = xstrndup(value, len);
    if (h == REST_H_X_REQUEST_ID && request_id_sane(r->hdr[h]))
        str_copy(r->request_id, sizeof r->request_id, r->hdr[h]);
}

bool rest_request_body_append(struct rest_request *r, const void *data, size_t len)
{
    if (len > R.cfg.max_body || r->body_len > R.cfg.max_body - len)
        return false;
    if (r->body_len + len + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 1024;
        while (cap < r->body_len + len + 1)
            cap *= 2;
        r->body = xrealloc(r->body, cap);
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return true;
}

void rest_request_free(struct rest_request *r)
{
    if (!r)
        return;
    if (r->id)
        hmap_del_u64(R.requests, r->id);
    rest_key_unref(r->key);
    free(r->path);
    rest_args_free(&r->args);
    for (int i = 0; i < REST_H_COUNT; i++)
        free(r->hdr[i]);
    free(r->body);
    cJSON_Delete(r->json);
    free(r->resp_body);
    for (size_t i = 0; i < r->n_resp_hdrs; i++) {
        free(r->resp_hdrs[i].name);
        free(r->resp_hdrs[i].value);
    }
    free(r->resp_hdrs);
    free(r);
}

void rest_request_gone(struct rest_request *r)
{
    r->conn = NULL;
    r->gone_ms = R.io.now_ms(R.io.ctx);
    bool keep = r->state == REST_REQ_RECORDING ||
                (r->state == REST_REQ_RUNNING &&
                 (r->idem == REST_IDEM_CLAIMING || r->idem == REST_IDEM_CLAIMED));
    if (!keep)
        rest_request_free(r);
}

size_t rest_request_count(void)
{
    return R.inited ? hmap_count(R.requests) : 0;
}

size_t rest_in_flight(void)
{
    return rest_request_count();
}

uint64_t rest_request_handle(const struct rest_request *r)
{
    return r->id;
}

int64_t rest_request_age_us(const struct rest_request *r)
{
    return R.io.mono_us(R.io.ctx) - r->started_us;
}

struct rest_request *rest_request_lookup(uint64_t handle)
{
    struct rest_request *r = handle && R.inited ? hmap_get_u64(R.requests, handle) : NULL;
    return r && r->state == REST_REQ_RUNNING && !r->replied ? r : NULL;
}

/* ------------------------------------------------------------------ accessors */

enum rest_method rest_method(const struct rest_request *r)
{
    return r->method;
}

const char *rest_path(const struct rest_request *r)
{
    return r->path;
}

const char *rest_param(const struct rest_request *r, const char *name)
{
    for (size_t i = 0; i < r->match.nparams; i++)
        if (strcmp(r->match.params[i].name, name) == 0)
            return r->match.params[i].value;
    return NULL;
}

const char *rest_query(const struct rest_request *r, const char *name)
{
    /* reading marks the parameter read: the args are the request's own bookkeeping */
    return rest_args_get((struct rest_args *)&r->args, name);
}

size_t rest_query_list(const struct rest_request *r, const char *name, const char **out, size_t max)
{
    return rest_args_list((struct rest_args *)&r->args, name, out, max);
}

const char *rest_query_unread(const struct rest_request *r)
{
    return rest_args_unread(&r->args);
}

const char *rest_header(const struct rest_request *r, const char *name)
{
    for (int i = 0; i < REST_H_COUNT; i++)
        if (strcasecmp(name, hdr_names[i]) == 0)
            return r->hdr[i];
    return NULL;
}

const struct cJSON *rest_body(const struct rest_request *r)
{
    return r->json;
}

const struct rest_key *rest_key(const struct rest_request *r)
{
    return r->key ? &r->key->key : NULL;
}

const char *rest_request_id(const struct rest_request *r)
{
    if (!r->request_id[0]) {
        struct rest_request *w = (struct rest_request *)r;   /* made once, on first use */
        snprintf(w->request_id, sizeof w->request_id, "%s%016llx", R.rid_prefix,
                 (unsigned long long)++R.rid_seq);
    }
    return r->request_id;
}

const char *rest_api_version(const struct rest_request *r)
{
    return (r->rev ? r->rev : rest_revision_current())->name;
}

/* ------------------------------------------------------------------ replies */

static bool reply_start(struct rest_request *r)
{
    if (r->replied) {
        log_error(NULL, "rest: %s %s answered twice (request %s); second answer dropped",
                  rest_method_name(r->method), r->path, rest_request_id(r));
        return false;
    }
    r->replied = true;
    return true;
}

void rest_reply_json(struct rest_request *r, int status, struct cJSON *body)
{
    if (!reply_start(r)) {
        cJSON_Delete(body);
        return;
    }
    r->status = status;
    if (body && status != 204 && status != 304) {     /* these never carry a body */
        r->resp_body = cJSON_PrintUnformatted(body);
        r->resp_len = strlen(r->resp_body);
        r->content_type = "application/json";
    }
    cJSON_Delete(body);
    rest_reply_complete(r);
}

void rest_reply_text(struct rest_request *r, int status, const char *content_type,
                     const char *body, size_t len)
{
    if (!reply_start(r))
        return;
    r->status = status;
    if (body && status != 204 && status != 304) {
        r->resp_body = xmalloc(len + 1);
        memcpy(r->resp_body, body, len);
        r->resp_body[len] = '\0';
        r->resp_len = len;
        r->content_type = content_type ? content_type : "application/json";
    }
    rest_reply_complete(r);
}

static void add_pair(struct rest_request *r, const char *name, const char *value)
{
    if (r->n_resp_hdrs == r->cap_resp_hdrs) {
        r->cap_resp_hdrs = r->cap_resp_hdrs ? r->cap_resp_hdrs * 2 : 8;
        r->resp_hdrs = xrealloc(r->resp_hdrs, r->cap_resp_hdrs * sizeof *r->resp_hdrs);
    }
    r->resp_hdrs[r->n_resp_hdrs].name = xstrdup(name);
    r->resp_hdrs[r->n_resp_hdrs].value = xstrdup(value);
    r->n_resp_hdrs++;
}

/* Header names and values go on the wire as given: refuse CR/LF and odd names. */
static bool header_ok(const char *name, const char *value)
{
    if (!*name || strpbrk(value, "\r\n"))
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return false;
    return true;
}

void rest_add_header(struct rest_request *r, const char *name, const char *value)
{
    if (r->replied) {
        log_error(NULL, "rest: header %s added after the reply (request %s); dropped", name,
                  rest_request_id(r));
        return;
    }
    if (!header_ok(name, value)) {
        log_error(NULL, "rest: malformed response header '%s' dropped (request %s)", name,
                  rest_request_id(r));
        return;
    }
    add_pair(r, name, value);
    r->n_handler_hdrs = r->n_resp_hdrs;
}

void rest_reply_transport_error(struct rest_request *r, enum rest_err e, const char *message,
                                const char *ctx_name, const char *ctx_value, bool close)
{
    r->state = REST_REQ_RUNNING;
    r->close_after |= close;
    cJSON *ctx = NULL;
    if (ctx_name) {
        ctx = cJSON_CreateObject();
        cJSON_AddStringToObject(ctx, ctx_name, ctx_value ? ctx_value : "");
    }
    rest_reply_error(r, e, message, ctx);
}

void rest_reply_complete(struct rest_request *r)
{
    if (r->idem == REST_IDEM_CLAIMED)
        rest_idem_finish(r);
    else
        rest_reply_send(r);
}

/* The Origin, if CORS is configured and it is one of the allowed origins. */
static const char *cors_origin(const struct rest_request *r)
{
    const char *origin = r->hdr[REST_H_ORIGIN];
    if (!R.cors || !origin || !*origin)
        return NULL;
    size_t olen = strlen(origin);
    for (const char *p = R.cors; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ", ");
        if (!n)
            break;
        if ((n == 1 && *p == '*') || (n == olen && strncasecmp(p, origin, n) == 0))
            return origin;
        p += n;
    }
    return NULL;
}

bool rest_cors_allowed(const struct rest_request *r)
{
    return cors_origin(r) != NULL;
}

void rest_reply_send(struct rest_request *r)
{
    char num[32];
    add_pair(r, "X-Request-Id", rest_request_id(r));
    const struct rest_revision *rev = r->rev ? r->rev : rest_revision_current();
    add_pair(r, "Api-Version", rev->name);
    if (rev->deprecated) {
        add_pair(r, "X-API-Deprecated", "true");
        add_pair(r, "X-API-Sunset-Date", rev->sunset_date);
    }
    if (r->rl_headers) {
        snprintf(num, sizeof num, "%ld", r->rl.limit);
        add_pair(r, "X-RateLimit-Limit", num);
        snprintf(num, sizeof num, "%ld", r->rl.remaining);
        add_pair(r, "X-RateLimit-Remaining", num);
    }
    const char *origin = cors_origin(r);
    if (origin) {
        add_pair(r, "Access-Control-Allow-Origin", origin);
        add_pair(r, "Vary", "Origin");
        add_pair(r, "Access-Control-Expose-Headers",
                 "X-Request-Id, Api-Version, X-API-Deprecated, X-API-Sunset-Date, "
                 "X-RateLimit-Limit, X-RateLimit-Remaining, Retry-After, Location, "
                 "Idempotent-Replayed");
    }
    r->state = REST_REQ_READY;
    if (!r->conn) {
        rest_request_free(r);       /* nobody to tell: the outcome is recorded or dropped */
        return;
    }
    R.io.send(R.io.ctx, r);
}

/* ------------------------------------------------------------------ store jobs */

static struct jobctx *jobctx_new(uint64_t req_id)
{
    struct jobctx *c = xcalloc(1, sizeof *c);
    c->req_id = req_id;
    c->next = R.jobs.next;
    c->prev = &R.jobs;
    R.jobs.next->prev = c;
    R.jobs.next = c;
    return c;
}

static void jobctx_free(struct jobctx *c)
{
    c->next->prev = c->prev;
    c->prev->next = c->next;
    free(c);
}

static struct store_job *sql_job(bool write_behind, const char *sql, int nparams,
                                 const char *const *params)
{
    struct store_job *job = store_job_new(write_behind ? STORE_OP_SQL_BEHIND : STORE_OP_SQL);
    job->received_ms = R.io.now_ms(R.io.ctx);
    job->in.sql.sql = sql;
    if (nparams > 0) {
        job->in.sql.nparams = nparams;
        job->in.sql.params = xcalloc((size_t)nparams, sizeof(char *));
        for (int i = 0; i < nparams; i++)
            job->in.sql.params[i] = params[i] ? xstrdup(params[i]) : NULL;
    }
    return job;
}

void rest_sql(struct rest_request *r, const char *sql, int nparams, const char *const *params,
              rest_sql_done done)
{
    struct store_job *job = sql_job(false, sql, nparams, params);
    struct jobctx *c = jobctx_new(r->id);
    c->done = done;
    job->user = c;
    r->pending++;
    R.io.submit(R.io.ctx, job);
}

void rest_fw_sql(struct rest_request *r, const char *sql, int nparams, const char *const *params,
                 bool write_behind, rest_fw_done done)
{
    if (!R.inited)
        return; /* after shutdown (a command cancelled at exit): nothing can run it */
    struct store_job *job = sql_job(write_behind, sql, nparams, params);
    struct jobctx *c = jobctx_new(r ? r->id : 0);
    c->fw_done = done;
    job->user = c;
    if (r)
        r->pending++;
    R.io.submit(R.io.ctx, job);
}

const char *rest_value(const struct store_job *job, int row, int col)
{
    if (!job || row < 0 || col < 0 || row >= job->out.sql.ntuples || col >= job->out.sql.nfields ||
        !job->out.sql.values)
        return NULL;
    return job->out.sql.values[(size_t)row * (size_t)job->out.sql.nfields + (size_t)col];
}

void rest_on_store_result(struct store_job *job)
{
    if (job->op == STORE_OP_APIKEY_CHANGED) {
        if (R.inited)
            rest_auth_apply(&job->out.apikey);
        store_job_free(job);
        return;
    }
    struct jobctx *c = job->user;
    if (!R.inited || !c) {
        store_job_free(job);
        return;
    }
    struct rest_request *r = c->req_id ? hmap_get_u64(R.requests, c->req_id) : NULL;
    if (r && r->pending)
        r->pending--;
    if (c->done) {
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

/* ------------------------------------------------------------------ periodic */

static void keys_reloaded(struct rest_request *r, struct store_job *job);

static const char keys_sql[] =
    "SELECT " STORE_APIKEY_COLUMNS " FROM api_keys WHERE revoked_at IS NULL";

static void keys_reloaded(struct rest_request *r, struct store_job *job)
{
    (void)r;
    if (job->status != STORE_OK || job->out.sql.nfields != 8) {
        log_warn(NULL, "rest: API key reload failed; retrying");
        R.store_was_ready = false;
        return;
    }
    rest_auth_reload_begin();
    for (int row = 0; row < job->out.sql.ntuples; row++)
        rest_auth_apply_sql_row(job, row);
    rest_auth_reload_end();
    log_info(NULL, "rest: %zu API keys loaded", rest_auth_count());
}

static int sweep_cb(void *ctx, const void *key, size_t klen, void *val)
{
    (void)key, (void)klen;
    int64_t now = *(int64_t *)ctx;
    struct rest_request *r = val;
    if (r->conn || r->state != REST_REQ_RUNNING || r->idem != REST_IDEM_CLAIMED ||
        now - r->gone_ms < ORPHAN_MAX_MS)
        return 0;
    log_warn(NULL, "rest: %s %s (request %s) never answered; its Idempotency-Key stays in progress",
             rest_method_name(r->method), r->path, rest_request_id(r));
    r->id = 0;
    rest_request_free(r);
    return 1;
}

void rest_tick(void)
{
    if (!R.inited)
        return;
    int64_t now = R.io.now_ms(R.io.ctx);
    bool ready = R.io.store_ready(R.io.ctx);
    if (ready && !R.store_was_ready && now >= R.reload_at_ms) {
        /* notifications sent while the connection was down are lost: read every key again */
        R.reload_at_ms = now + RELOAD_RETRY_MS;
        R.store_was_ready = true;
        rest_fw_sql(NULL, keys_sql, 0, NULL, false, keys_reloaded);
    } else if (!ready) {
        R.store_was_ready = false;
    }
    if (now >= R.flush_at_ms) {
        R.flush_at_ms = now + FLUSH_EVERY_MS;
        rest_auth_flush_used(now);
    }
    if (ready && now >= R.cleanup_at_ms) {
        R.cleanup_at_ms = now + CLEANUP_EVERY_MS;
        rest_idem_cleanup();
    }
    if (now >= R.sweep_at_ms) {
        R.sweep_at_ms = now + 1000;
        hmap_foreach(R.requests, sweep_cb, &now);
    }
}

void rest_keys_add(void *ctx, const struct store_apikey *row)
{
    (void)ctx;
    rest_auth_apply(row);
}
