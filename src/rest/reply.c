/*
 * Replies: exactly one per request. A handler (or the framework's checks)
 * answers with rest_reply_json/_text/_error; the reply is assembled into
 * r->reply (status, body, the handler's headers), passes through the
 * request's finish hook when it has one (idempotency records it first),
 * then gets the standard headers (X-Request-Id, Api-Version and its
 * deprecation, rate limit, CORS) and is handed to the transport through
 * rest_io.send. A request whose client has gone is freed instead.
 *
 * Errors become HTTP through errors.c alone; nothing here calls upward
 * (dispatch, idempotency, jobs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

#include "framework.h"
#include "store_job.h"
#include "util.h"

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

/* The reply is assembled: record it first if a claim asks for it, else send. */
static void reply_complete(struct rest_request *r)
{
    void (*finish)(struct rest_request *r) = r->finish;
    r->finish = NULL;
    if (finish)
        finish(r);
    else
        rest_reply_send(r);
}

void rest_reply_json(struct rest_request *r, int status, struct cJSON *body)
{
    if (!reply_start(r)) {
        cJSON_Delete(body);
        return;
    }
    r->reply.status = status;
    if (body && status != 204 && status != 304) {     /* these never carry a body */
        r->reply.body = cJSON_PrintUnformatted(body);
        r->reply.len = strlen(r->reply.body);
        r->reply.content_type = "application/json";
    }
    cJSON_Delete(body);
    reply_complete(r);
}

void rest_reply_text(struct rest_request *r, int status, const char *content_type,
                     const char *body, size_t len)
{
    if (!reply_start(r))
        return;
    r->reply.status = status;
    if (body && status != 204 && status != 304) {
        r->reply.body = xmalloc(len + 1);
        memcpy(r->reply.body, body, len);
        r->reply.body[len] = '\0';
        r->reply.len = len;
        r->reply.content_type = content_type ? content_type : "application/json";
    }
    reply_complete(r);
}

void rest_reply_error(struct rest_request *r, enum rest_err e, const char *message,
                      struct cJSON *context)
{
    e = rest_err_known(e);
    if (e == REST_ERR_INTERNAL)
        log_error(NULL, "rest: %s %s: internal error (request %s): %s", rest_method_name(r->method),
                  r->path, r->request_id, message ? message : "");
    if (!r->replied)
        r->err = (int)e;
    rest_reply_json(r, rest_err_status(e), rest_error_body(e, message, context));
}

void rest_reply_store_error(struct rest_request *r, const struct store_job *job)
{
    if (job && job->status == STORE_ERR_UNAVAILABLE && strcmp(job->out.sql.sqlstate, "57014") == 0) {
        rest_reply_error(r, REST_ERR_QUERY_TIMEOUT, "the statement ran past rest.statement_timeout", NULL);
        return;
    }
    if (job && job->status == STORE_ERR_UNAVAILABLE) {
        rest_reply_error(r, REST_ERR_UNAVAILABLE, "the database is unavailable", NULL);
        return;
    }
    char msg[96];
    snprintf(msg, sizeof msg, "database statement failed (SQLSTATE %s)",
             job && job->out.sql.sqlstate[0] ? job->out.sql.sqlstate : "unknown");
    rest_reply_error(r, REST_ERR_INTERNAL, msg, NULL);
}

void rest_reply_transport_error(struct rest_request *r, enum rest_err e, const char *message,
                                const char *ctx_name, const char *ctx_value, bool close)
{
    r->state = REST_REQ_RUNNING;
    r->reply.close |= close;
    cJSON *ctx = NULL;
    if (ctx_name) {
        ctx = cJSON_CreateObject();
        cJSON_AddStringToObject(ctx, ctx_name, ctx_value ? ctx_value : "");
    }
    rest_reply_error(r, e, message, ctx);
}

/* ------------------------------------------------------------------ headers */

static void add_pair(struct rest_request *r, const char *name, const char *value)
{
    struct rest_reply *p = &r->reply;
    if (p->nheaders == r->cap_headers) {
        r->cap_headers = r->cap_headers ? r->cap_headers * 2 : 8;
        p->headers = xrealloc(p->headers, r->cap_headers * sizeof *p->headers);
    }
    p->headers[p->nheaders].name = xstrdup(name);
    p->headers[p->nheaders].value = xstrdup(value);
    p->nheaders++;
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
    r->n_handler_hdrs = r->reply.nheaders;
}

void rest_reply_secret_field(struct rest_request *r, const char *field)
{
    if (r->n_secret_fields == REST_SECRET_FIELDS_MAX) {
        log_error(NULL, "rest: more than %d secret fields in one reply", REST_SECRET_FIELDS_MAX);
        abort();
    }
    r->secret_fields[r->n_secret_fields++] = field;
}

/* The Origin, if CORS is configured and it is one of the allowed origins. */
static const char *cors_origin(const struct rest_request *r)
{
    const char *origin = r->hdr[REST_H_ORIGIN];
    const char *allowed = rest_cfg()->cors_origins;
    if (!allowed || !origin || !*origin)
        return NULL;
    size_t olen = strlen(origin);
    for (const char *p = allowed; *p;) {
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

/* ------------------------------------------------------------------ hand-over */

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
    const struct rest_io *io = rest_io();
    io->send(io->ctx, r);
}
