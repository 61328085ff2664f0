/*
 * The REST request object: its registry, what the transport fills in
 * (rest_transport.h), and what handlers read (the rest.h accessors). Also
 * the configuration and io the framework runs with, since everything a
 * request reaches (settings, clocks, the core) comes through here.
 *
 * Requests live in a map by a 64-bit id that is never reused; store jobs
 * and other callbacks carry that id, never the pointer, so a completion for
 * a request whose client went away finds nothing and is dropped. The one
 * exception (a request holding an idempotency claim outlives its client) is
 * described in framework.h; the sweep below frees such a request whose
 * handler never replied.
 *
 * This file calls only args.c, auth.c (to drop the request's key reference)
 * and version.c: replies, store jobs and dispatch are above it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

#include "framework.h"
#include "hmap.h"
#include "secret.h"
#include "util.h"

#define ORPHAN_MAX_MS (10 * 60 * 1000)  /* a claimed request without client, handler never replied */

static struct {
    bool running;
    struct rest_config cfg;
    char *cors;                     /* owned copy of cfg.cors_origins */
    struct rest_io io;
    struct hmap *requests;          /* id -> struct rest_request */
    uint64_t next_id;
    char rid_prefix[9];
    uint64_t rid_seq;
} Q;

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
    [REST_H_LAST_EVENT_ID] = "last-event-id",
    [REST_H_ACCEPT] = "accept",
};

const char *rest_hdr_name(enum rest_hdr h)
{
    return (unsigned)h < REST_H_COUNT ? hdr_names[h] : "";
}

/* ------------------------------------------------------------------ registry */

void rest_requests_init(const struct rest_config *cfg, const struct rest_io *io)
{
    memset(&Q, 0, sizeof Q);
    Q.running = true;
    Q.cfg = *cfg;
    if (!Q.cfg.max_body)
        Q.cfg.max_body = 1024 * 1024;
    if (Q.cfg.rate_per_s <= 0)
        Q.cfg.rate_per_s = 20;
    if (Q.cfg.rate_burst < 1)
        Q.cfg.rate_burst = 100;
    if (Q.cfg.park_timeout_s <= 0)
        Q.cfg.park_timeout_s = 60;
    if (Q.cfg.settings.password_iterations <= 0)
        Q.cfg.settings.password_iterations = SECRET_DEFAULT_ITERATIONS;
    Q.cors = cfg->cors_origins && *cfg->cors_origins ? xstrdup(cfg->cors_origins) : NULL;
    Q.cfg.cors_origins = Q.cors;
    Q.io = *io;
    Q.requests = hmap_new();
    unsigned char raw[4];
    secret_random(raw, sizeof raw);
    snprintf(Q.rid_prefix, sizeof Q.rid_prefix, "%02x%02x%02x%02x", raw[0], raw[1], raw[2], raw[3]);
}

static int free_request_cb(void *ctx, const void *key, size_t klen, void *val)
{
    (void)ctx, (void)key, (void)klen;
    struct rest_request *r = val;
    r->id = 0;                      /* already leaving the map */
    rest_request_free(r);
    return 1;
}

void rest_requests_free(void)
{
    if (!Q.running)
        return;
    hmap_foreach(Q.requests, free_request_cb, NULL);
    hmap_free(Q.requests);
    free(Q.cors);
    memset(&Q, 0, sizeof Q);
}

bool rest_running(void)
{
    return Q.running;
}

const struct rest_config *rest_cfg(void)
{
    return &Q.cfg;
}

const struct rest_io *rest_io(void)
{
    return &Q.io;
}

struct rest_request *rest_request_by_id(uint64_t id)
{
    return id && Q.running ? hmap_get_u64(Q.requests, id) : NULL;
}

size_t rest_request_count(void)
{
    return Q.running ? hmap_count(Q.requests) : 0;
}

size_t rest_in_flight(void)
{
    return rest_request_count();
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

void rest_requests_sweep(int64_t now_ms)
{
    if (Q.running)
        hmap_foreach(Q.requests, sweep_cb, &now_ms);
}

/* ------------------------------------------------------------------ the transport's side */

struct rest_request *rest_request_new(void *conn, enum rest_method m, const char *path, size_t plen)
{
    struct rest_request *r = xcalloc(1, sizeof *r);
    r->id = ++Q.next_id;
    r->conn = conn;
    r->method = m;
    r->path = xstrndup(path, plen);
    r->err = -1;
    r->started_us = Q.io.mono_us(Q.io.ctx);
    hmap_put_u64(Q.requests, r->id, r);
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

const char *rest_request_hdr(const struct rest_request *r, enum rest_hdr h)
{
    return (unsigned)h < REST_H_COUNT ? r->hdr[h] : NULL;
}

bool rest_request_add_arg(struct rest_request *r, const char *frag, size_t len, char *bad_buf,
                          size_t bad_cap)
{
    return rest_args_add(&r->args, frag, len, bad_buf, bad_cap);
}

bool rest_request_body_append(struct rest_request *r, const void *data, size_t len)
{
    if (len > Q.cfg.max_body || r->body.len > Q.cfg.max_body - len)
        return false;
    strbuf_put(&r->body, data, len);
    return true;
}

void rest_request_close_after(struct rest_request *r)
{
    r->reply.close = true;
}

enum rest_req_state rest_request_state(const struct rest_request *r)
{
    return r->state;
}

void *rest_request_conn(const struct rest_request *r)
{
    return r->conn;
}

const struct rest_reply *rest_request_reply(const struct rest_request *r)
{
    return &r->reply;
}

void rest_request_free(struct rest_request *r)
{
    if (!r)
        return;
    if (r->id)
        hmap_del_u64(Q.requests, r->id);
    rest_stream_free(r);
    rest_key_unref(r->key);
    free(r->path);
    rest_args_free(&r->args);
    for (int i = 0; i < REST_H_COUNT; i++)
        free(r->hdr[i]);
    strbuf_free(&r->body);
    cJSON_Delete(r->json);
    free(r->reply.body);
    for (size_t i = 0; i < r->reply.nheaders; i++) {
        free(r->reply.headers[i].name);
        free(r->reply.headers[i].value);
    }
    free(r->reply.headers);
    free(r);
}

void rest_request_gone(struct rest_request *r)
{
    r->conn = NULL;
    r->gone_ms = Q.io.now_ms(Q.io.ctx);
    bool keep = r->state == REST_REQ_RECORDING ||
                (r->state == REST_REQ_RUNNING &&
                 (r->idem == REST_IDEM_CLAIMING || r->idem == REST_IDEM_CLAIMED));
    if (!keep)
        rest_request_free(r);
}

/* ------------------------------------------------------------------ handles */

uint64_t rest_request_handle(const struct rest_request *r)
{
    return r->id;
}

int64_t rest_request_age_us(const struct rest_request *r)
{
    return Q.io.mono_us(Q.io.ctx) - r->started_us;
}

struct rest_request *rest_request_lookup(uint64_t handle)
{
    struct rest_request *r = rest_request_by_id(handle);
    return r && r->state == REST_REQ_RUNNING && !r->replied ? r : NULL;
}

/* ------------------------------------------------------------------ what handlers read */

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

/* One media range of an Accept value, [s, e): how specifically it matches media (0: not), its q. */
static int accept_range(const char *s, const char *e, const char *media, double *q)
{
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    const char *params = s;
    while (params < e && *params != ';')
        params++;
    const char *end = params;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t n = (size_t)(end - s);
    const char *slash = strchr(media, '/');
    size_t type_len = slash ? (size_t)(slash - media) : strlen(media);
    int level;
    if (n == 3 && memcmp(s, "*/*", 3) == 0)
        level = 1;
    else if (n == type_len + 2 && strncasecmp(s, media, type_len) == 0 && s[type_len] == '/' && s[type_len + 1] == '*')
        level = 2;
    else if (n == strlen(media) && strncasecmp(s, media, n) == 0)
        level = 3;
    else
        return 0;
    *q = 1;
    for (const char *p = params; p < e; p++) {
        if (*p != ';')
            continue;
        const char *v = p + 1;
        while (v < e && (*v == ' ' || *v == '\t'))
            v++;
        if (e - v >= 2 && (v[0] == 'q' || v[0] == 'Q') && v[1] == '=') {
            char num[16];
            size_t k = 0;
            for (v += 2; v < e && k + 1 < sizeof num && *v != ';'; v++)
                num[k++] = *v;
            num[k] = '\0';
            char *stop;
            double d = strtod(num, &stop);
            *q = stop == num || d < 0 ? 0 : d > 1 ? 1 : d;
        }
    }
    return level;
}

double rest_accept_q(const char *accept, const char *media)
{
    if (!accept || !accept[strspn(accept, " \t")])
        return 1;
    int best = 0;
    double q_best = 0;
    const char *s = accept;
    for (;;) {
        const char *e = strchr(s, ',');
        if (!e)
            e = s + strlen(s);
        double q;
        int level = accept_range(s, e, media, &q);
        if (level > best) {
            best = level;
            q_best = q;
        }
        if (!*e)
            break;
        s = e + 1;
    }
    return q_best;
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
        snprintf(w->request_id, sizeof w->request_id, "%s%016llx", Q.rid_prefix,
                 (unsigned long long)++Q.rid_seq);
    }
    return r->request_id;
}

const char *rest_api_version(const struct rest_request *r)
{
    return (r->rev ? r->rev : rest_revision_current())->name;
}

static bool strv_equal(char *const *a, char *const *b)
{
    if (!a || !b)
        return a == b;
    size_t i = 0;
    for (; a[i] && b[i]; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return !a[i] && !b[i];
}

void rest_request_brief_park(struct rest_request *r)
{
    r->brief_park = true;
}

bool rest_request_parks_briefly(const struct rest_request *r)
{
    return r->brief_park;
}

bool rest_request_key_valid(const struct rest_request *r)
{
    if (!r->key)
        return true;                /* a public route: nothing to lose */
    /* a reload replaces every entry: what counts is the key's entry now */
    const struct rest_key_entry *now = rest_auth_current(r->key->hash);
    if (!now || now->key.id != r->key->key.id)
        return false;
    int64_t exp = now->key.expires_ms;
    if (exp && Q.io.now_ms(Q.io.ctx) >= exp)
        return false;
    const char *scope = r->match.route ? r->match.route->scope : NULL;
    return (!scope || rest_key_has_scope(&now->key, scope)) &&
           strv_equal(now->key.charger_ids, r->key->key.charger_ids) &&
           strv_equal(now->key.site_ids, r->key->key.site_ids);
}

const struct rest_settings *rest_settings(const struct rest_request *r)
{
    (void)r;                        /* one framework per process: the same for every request */
    return &Q.cfg.settings;
}
