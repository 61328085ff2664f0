/*
 * libwebsockets glue for plain HTTP: the operational endpoints (/healthz,
 * /readyz, /metrics, on every listener) and the transport of the REST
 * framework (/v1/..., on the REST listener: the OCPP one unless
 * --api-listen moved it). Only the glue (src/glue/) sees lws.
 *
 * Per request (notes on lws 4.1.6 §4, §5):
 *  - LWS_CALLBACK_HTTP: a struct rest_request hangs off the pss; method and
 *    path (lws_http_get_uri_and_method, already decoded), the query
 *    fragments (WSI_TOKEN_HTTP_URI_ARGS), the headers the framework uses.
 *    Chunked bodies never complete in 4.1.6: 411 and close. A Content-Length
 *    over rest.max_body: 413 at once (lws discards the declared body and the
 *    connection stays usable).
 *  - LWS_CALLBACK_HTTP_BODY appends (413 and close past the limit);
 *    BODY_COMPLETION dispatches. Requests without a body dispatch at once.
 *  - A reply made inside the request's own callback is written before the
 *    callback returns; one made later (a store job's completion, in
 *    EVENT_WAIT_CANCELLED) asks lws_callback_on_writable and is written in
 *    LWS_CALLBACK_HTTP_WRITEABLE. Parked requests get
 *    lws_set_timeout(PENDING_TIMEOUT_HTTP_CONTENT, rest park timeout) or lws
 *    would drop them after timeout_secs (not those parked briefly on one
 *    query: an event stream's start). A streaming reply: see
 *    write_stream_head.
 *  - Every reply: status, Content-Length (keep-alive), the framework's
 *    headers (X-Request-Id, Api-Version, ...), one lws_write(HTTP_FINAL),
 *    then lws_http_transaction_completed(). HEAD gets the headers only.
 *  - LWS_CALLBACK_HTTP_DROP_PROTOCOL / CLOSED_HTTP: the client is gone; the
 *    framework frees the request (or keeps it without client, see
 *    include/rest_transport.h). lws re-zeroes the pss between keep-alive
 *    transactions, so the pointer never outlives its transaction.
 *
 * The gateway is the lws context's user pointer (set where the context is
 * made); the REST framework is reached through include/rest_transport.h
 * only. The one piece of state kept here is which request's callback is
 * running (loop thread only).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libwebsockets.h>

#include "core.h"
#include "gateway.h"
#include "metrics.h"
#include "rest_transport.h"
#include "secret.h"
#include "store.h"
#include "util.h"
#include "webhook.h"

#define FRAG_MAX 4096               /* one query fragment, decoded */

/* The request whose lws callback is running: its reply is written on return. */
static struct rest_request *in_callback;

static struct gateway *gateway_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

/* ------------------------------------------------------------------ ops endpoints */

static void ops_request_id(struct lws *wsi, char *out, size_t cap)
{
    char hdr[128];
    int n = lws_hdr_custom_copy(wsi, hdr, sizeof hdr, "x-request-id:", 13);
    if (n > 0 && n <= 64 && strspn(hdr, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789-_.:@/+=") == (size_t)n) {
        str_copy(out, cap, hdr);
        return;
    }
    unsigned char raw[12];
    secret_random(raw, sizeof raw);
    size_t at = 0;
    for (size_t i = 0; i < sizeof raw && at + 2 < cap; i++)
        at += (size_t)snprintf(out + at, cap - at, "%02x", raw[i]);
}

static int head_request(struct lws *wsi)
{
    char *uri = NULL;
    int ulen = 0;
    return lws_http_get_uri_and_method(wsi, &uri, &ulen) == LWSHUMETH_HEAD;
}

int http_reply(struct lws *wsi, int status, const char *content_type, const char *body,
               size_t len, const char *extra_headers[][2])
{
    size_t cap = LWS_PRE + 2048 + len;
    unsigned char *buf = xmalloc(cap);
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + cap;
    char rid[128];
    ops_request_id(wsi, rid, sizeof rid);
    const char *version = rest_current_api_version();
    int rc = -1;
    if (lws_add_http_header_status(wsi, (unsigned int)status, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                     (const unsigned char *)content_type, (int)strlen(content_type),
                                     &p, end) ||
        lws_add_http_header_content_length(wsi, len, &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"X-Request-Id:",
                                    (const unsigned char *)rid, (int)strlen(rid), &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"Api-Version:",
                                    (const unsigned char *)version, (int)strlen(version), &p, end))
        goto out;
    for (int i = 0; extra_headers && extra_headers[i][0]; i++)
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)extra_headers[i][0],
                                        (const unsigned char *)extra_headers[i][1],
                                        (int)strlen(extra_headers[i][1]), &p, end))
            goto out;
    if (lws_finalize_http_header(wsi, &p, end))
        goto out;
    if (!head_request(wsi)) {
        memcpy(p, body, len);
        p += len;
    }
    if (lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_FINAL) < 0)
        goto out;
    rc = lws_http_transaction_completed(wsi) ? -1 : 0;
out:
    free(buf);
    return rc;
}

static int reply_error(struct lws *wsi, int status, const char *code, const char *message,
                       const char *readable)
{
    char body[512];
    int n = snprintf(body, sizeof body,
                     "{\"status\":%d,\"message\":\"%s\",\"readableMessage\":\"%s\",\"errorCode\":\"%s\",\"context\":{}}",
                     status, message, readable, code);
    return http_reply(wsi, status, "application/json", body, (size_t)n, NULL);
}

static int handle_healthz(struct gateway *g, struct lws *wsi)
{
    char body[128];
    int n = snprintf(body, sizeof body, "{\"status\":\"ok\",\"uptimeSeconds\":%lld}",
                     (long long)((time_now_ms() - g->started_ms) / 1000));
    return http_reply(wsi, 200, "application/json", body, (size_t)n, NULL);
}

static int handle_readyz(struct gateway *g, struct lws *wsi)
{
    /* both connections: REST's requests go through its own store */
    bool db = store_ready(g->store) && (!g->rest_store || store_ready(g->rest_store));
    bool ready = db && !g->shutting_down;
    char body[128];
    int n = snprintf(body, sizeof body, "{\"status\":\"%s\",\"database\":\"%s\"}",
                     ready ? "ready" : "unavailable", db ? "up" : "down");
    return http_reply(wsi, ready ? 200 : 503, "application/json", body, (size_t)n, NULL);
}

static int handle_metrics(struct gateway *g, struct lws *wsi)
{
    struct metrics_gauges gauges = {
        .connected_chargers = core_connected_count(g->core),
        .known_chargers = core_charger_count(g->core),
        .db_queue_depth = store_queue_depth(g->store),
        .db_up = store_ready(g->store),
        .commands_live = core_commands_live(g->core),
        .unauthenticated_chargers = core_unauthenticated_count(g->core),
    };
    size_t n_sites = core_load_sites(g->core, NULL, 0);
    struct core_site_load *sites = xcalloc(n_sites + 1, sizeof *sites);
    struct metrics_site_load *ms = xcalloc(n_sites + 1, sizeof *ms);
    size_t cap_sites = n_sites;
    n_sites = core_load_sites(g->core, sites, cap_sites);
    if (n_sites > cap_sites)
        n_sites = cap_sites;
    for (size_t i = 0; i < n_sites; i++)
        ms[i] = (struct metrics_site_load){ sites[i].site_id, sites[i].limit_da, sites[i].allocated_da,
                                            sites[i].accounted_da, sites[i].measured_da };
    gauges.sites = ms;
    gauges.n_sites = n_sites;
    char *text = metrics_render(&gauges);
    free(ms);
    free(sites);
    int rc = http_reply(wsi, 200, "text/plain; version=0.0.4", text, strlen(text), NULL);
    free(text);
    return rc;
}

struct ops_route {
    const char *path;
    int (*fn)(struct gateway *g, struct lws *wsi);
};

static const struct ops_route ops_routes[] = {
    { "/healthz", handle_healthz },
    { "/metrics", handle_metrics },
    { "/readyz", handle_readyz },
};

/* 0/-1 when the path was an operational endpoint (answered), 1 otherwise. */
static int ops_endpoint(struct lws *wsi, int method, const char *uri, size_t ulen)
{
    for (size_t i = 0; i < sizeof ops_routes / sizeof ops_routes[0]; i++) {
        if (ulen != strlen(ops_routes[i].path) || memcmp(uri, ops_routes[i].path, ulen) != 0)
            continue;
        if (method != LWSHUMETH_GET && method != LWSHUMETH_HEAD) {
            const char *allow[][2] = { { "Allow:", "GET, HEAD" }, { NULL, NULL } };
            static const char body[] =
                "{\"status\":405,\"message\":\"method not allowed\",\"readableMessage\":\"Use GET.\","
                "\"errorCode\":\"METHOD_NOT_ALLOWED\",\"context\":{}}";
            return http_reply(wsi, 405, "application/json", body, sizeof body - 1, allow);
        }
        return ops_routes[i].fn(gateway_of(wsi), wsi);
    }
    return 1;
}

/* ------------------------------------------------------------------ REST transport */

static bool rest_here(struct lws *wsi)
{
    const struct gateway *g = gateway_of(wsi);
    return !g->api_vhost || lws_get_vhost(wsi) == g->api_vhost;
}

static bool map_method(int m, enum rest_method *out)
{
    switch (m) {
    case LWSHUMETH_GET: *out = REST_GET; return true;
    case LWSHUMETH_POST: *out = REST_POST; return true;
    case LWSHUMETH_OPTIONS: *out = REST_OPTIONS; return true;
    case LWSHUMETH_PUT: *out = REST_PUT; return true;
    case LWSHUMETH_PATCH: *out = REST_PATCH; return true;
    case LWSHUMETH_DELETE: *out = REST_DELETE; return true;
    case LWSHUMETH_HEAD: *out = REST_HEAD; return true;
    default: return false;
    }
}

static void copy_header(struct lws *wsi, struct rest_request *r, enum rest_hdr h)
{
    static const int tokens[REST_H_COUNT] = {
        [REST_H_AUTHORIZATION] = WSI_TOKEN_HTTP_AUTHORIZATION,
        [REST_H_X_API_KEY] = -1, [REST_H_API_VERSION] = -1, [REST_H_IDEMPOTENCY_KEY] = -1,
        [REST_H_PREFER] = -1, [REST_H_X_REQUEST_ID] = -1,
        [REST_H_CONTENT_TYPE] = WSI_TOKEN_HTTP_CONTENT_TYPE,
        [REST_H_CONTENT_LENGTH] = WSI_TOKEN_HTTP_CONTENT_LENGTH,
        [REST_H_TRANSFER_ENCODING] = WSI_TOKEN_HTTP_TRANSFER_ENCODING,
        [REST_H_ORIGIN] = WSI_TOKEN_ORIGIN,
        [REST_H_AC_REQUEST_METHOD] = -1, [REST_H_AC_REQUEST_HEADERS] = -1,
        [REST_H_LAST_EVENT_ID] = -1,
        [REST_H_ACCEPT] = WSI_TOKEN_HTTP_ACCEPT,
    };
    int tok = tokens[h];
    int len;
    char custom[48];
    int clen = 0;
    if (tok >= 0) {
        len = lws_hdr_total_length(wsi, (enum lws_token_indexes)tok);
    } else {
        clen = snprintf(custom, sizeof custom, "%s:", rest_hdr_name(h));
        len = lws_hdr_custom_length(wsi, custom, clen);
    }
    if (len < 0 || (len == 0 && tok >= 0))
        return;
    char stack[256];
    char *buf = (size_t)len < sizeof stack ? stack : xmalloc((size_t)len + 1);
    int n = tok >= 0 ? lws_hdr_copy(wsi, buf, len + 1, (enum lws_token_indexes)tok)
                     : lws_hdr_custom_copy(wsi, buf, len + 1, custom, clen);
    if (n >= 0)
        rest_request_set_header(r, h, buf, (size_t)n);
    if (buf != stack)
        free(buf);
}

/* False with bad set when a fragment is unacceptable (the caller answers 400). */
static bool copy_args(struct lws *wsi, struct rest_request *r, char *bad, size_t badcap)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS) <= 0)
        return true;
    char frag[FRAG_MAX];
    bool ok = true;
    for (int i = 0; ok; i++) {
        int n = lws_hdr_copy_fragment(wsi, frag, FRAG_MAX, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0) {
            /* -1 is both "no more" and "does not fit": a long one is refused by name */
            int flen = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
            if (flen <= 0)
                break;
            char *big = xmalloc((size_t)flen + 1);
            n = lws_hdr_copy_fragment(wsi, big, flen + 1, WSI_TOKEN_HTTP_URI_ARGS, i);
            ok = n >= 0 && rest_request_add_arg(r, big, (size_t)n, bad, badcap);
            free(big);
            continue;
        }
        ok = rest_request_add_arg(r, frag, (size_t)n, bad, badcap);
    }
    return ok;
}

/* ------------------------------------------------------------------ streaming replies */

#define STREAM_WRITE_MAX (64 * 1024)    /* bytes of one lws_write of a stream */
#define CHUNK_HEAD 10                   /* "%zx\r\n" of a chunk up to STREAM_WRITE_MAX */

/* One write buffer for every stream: lws_write sends or keeps a copy before returning. */
static unsigned char stream_buf[LWS_PRE + 1024 + CHUNK_HEAD + STREAM_WRITE_MAX + 8];

/*
 * Appends to [p, end) up to STREAM_WRITE_MAX queued bytes of r's stream,
 * framed as one chunk when chunked, and the last chunk once the stream has
 * ended and nothing is left (*last). Returns the new p.
 */
static unsigned char *stream_take(struct rest_request *r, bool chunked, unsigned char *p, bool *last)
{
    const char *data;
    bool ended;
    size_t n = rest_stream_peek(r, &data, &ended);
    if (n > STREAM_WRITE_MAX)
        n = STREAM_WRITE_MAX;
    if (n) {
        if (chunked)
            p += sprintf((char *)p, "%zx\r\n", n);
        memcpy(p, data, n);
        p += n;
        if (chunked) {
            memcpy(p, "\r\n", 2);
            p += 2;
        }
        rest_stream_consumed(r, n);
        n = rest_stream_peek(r, &data, &ended);
    }
    *last = ended && n == 0;
    if (*last && chunked) {
        memcpy(p, "0\r\n\r\n", 5);
        p += 5;
    }
    return p;
}

/*
 * The headers of a streaming reply (and what is already queued). HTTP/1.1
 * gets Transfer-Encoding: chunked (we frame the chunks ourselves: lws 4.1.6
 * chunks only its own file and compression output), HTTP/1.0 Connection:
 * close. Then the connection is made to last: the request's lws timeout
 * (timeout_secs, or the park timeout) is removed, an O(1) unlink, nothing
 * inserted; and the header table (about 5 KB) is given back to lws's pool,
 * as a stream reads no further request. (lws 4.1.6's "ah excessive hold"
 * check would drop a connection holding one for timeout_secs_ah_idle +
 * 360 s, but it runs only once, 30 s after start: a stream that kept its
 * table lived 450 s in a probe.) No other timer is armed per stream:
 * keepalives come from one tick for all.
 */
static int write_stream_head(struct lws *wsi, struct gw_pss *pss, struct rest_request *r)
{
    const struct rest_reply *rp = rest_request_reply(r);
    char ver[16] = "";
    bool chunked = lws_hdr_copy(wsi, ver, sizeof ver, WSI_TOKEN_HTTP) > 0 && strcmp(ver, "HTTP/1.1") == 0;
    unsigned char *start = stream_buf + LWS_PRE, *p = start, *end = start + 1024;
    if (lws_add_http_header_status(wsi, (unsigned int)rp->status, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                     (const unsigned char *)rp->content_type,
                                     (int)strlen(rp->content_type), &p, end) ||
        (chunked ? lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING,
                                                (const unsigned char *)"chunked", 7, &p, end)
                 : lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
                                                (const unsigned char *)"close", 5, &p, end)))
        return -1;
    for (size_t i = 0; i < rp->nheaders; i++) {
        char name[80];
        snprintf(name, sizeof name, "%s:", rp->headers[i].name);
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                        (const unsigned char *)rp->headers[i].value,
                                        (int)strlen(rp->headers[i].value), &p, end))
            return -1;
    }
    if (lws_finalize_http_header(wsi, &p, end))
        return -1;
    pss->http_chunked = chunked;
    rest_stream_opened(r);
    bool last;
    p = stream_take(r, chunked, p, &last);
    if (lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP) < 0)
        return -1;
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    lws_http_headers_detach(wsi);
    if (log_enabled(LOG_DEBUG))
        log_debug(NULL, "rest: %s %s -> %d, streaming (%s, request %s)",
                  rest_method_name(rest_method(r)), rest_path(r), rp->status,
                  chunked ? "chunked" : "until close", rest_request_id(r));
    if (last)
        return -1;
    if (rest_stream_queued(r))
        lws_callback_on_writable(wsi);
    return 0;
}

/* WRITEABLE on a stream: the next piece of its body; closes once it has ended. */
static int write_stream(struct lws *wsi, struct gw_pss *pss, struct rest_request *r)
{
    unsigned char *start = stream_buf + LWS_PRE;
    bool last;
    unsigned char *p = stream_take(r, pss->http_chunked, start, &last);
    if (p > start && lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP) < 0)
        return -1;
    if (last)
        return -1;                  /* the body is complete: close (lws sends what it holds first) */
    if (rest_stream_queued(r))
        lws_callback_on_writable(wsi);
    return 0;
}

/* Writes r's reply and frees it; the callback's return value. */
static int write_reply(struct lws *wsi, struct gw_pss *pss, struct rest_request *r)
{
    const struct rest_reply *rp = rest_request_reply(r);
    if (rp->stream)
        return write_stream_head(wsi, pss, r);
    size_t cap = LWS_PRE + 512 + rp->len;
    for (size_t i = 0; i < rp->nheaders; i++)
        cap += strlen(rp->headers[i].name) + strlen(rp->headers[i].value) + 8;
    unsigned char *buf = xmalloc(cap);
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + cap;
    int rc = -1;
    if (lws_add_http_header_status(wsi, (unsigned int)rp->status, &p, end))
        goto out;
    if (rp->content_type &&
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                     (const unsigned char *)rp->content_type,
                                     (int)strlen(rp->content_type), &p, end))
        goto out;
    if (lws_add_http_header_content_length(wsi, rp->len, &p, end))
        goto out;
    if (rp->close &&
        lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5,
                                     &p, end))
        goto out;
    for (size_t i = 0; i < rp->nheaders; i++) {
        char name[80];
        snprintf(name, sizeof name, "%s:", rp->headers[i].name);
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                        (const unsigned char *)rp->headers[i].value,
                                        (int)strlen(rp->headers[i].value), &p, end))
            goto out;
    }
    if (lws_finalize_http_header(wsi, &p, end))
        goto out;
    if (rest_method(r) != REST_HEAD && rp->len) {
        memcpy(p, rp->body, rp->len);
        p += rp->len;
    }
    if (lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_FINAL) < 0)
        goto out;
    rc = 0;
out:
    free(buf);
    if (log_enabled(LOG_DEBUG))
        log_debug(NULL, "rest: %s %s -> %d in %.1f ms (request %s%s)",
                  rest_method_name(rest_method(r)), rest_path(r), rp->status,
                  (double)rest_request_age_us(r) / 1000.0, rest_request_id(r),
                  rc ? ", write failed" : "");
    bool close = rp->close;
    pss->http = NULL;
    rest_request_free(r);
    if (rc || close)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* After the framework had r in hand inside its callback: write, or park. */
static int settle(struct lws *wsi, struct gw_pss *pss, struct rest_request *r)
{
    in_callback = NULL;
    enum rest_req_state st = rest_request_state(r);
    if (st == REST_REQ_READY)
        return write_reply(wsi, pss, r);
    if (st != REST_REQ_READING && !rest_request_parks_briefly(r))
        lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, rest_cfg()->park_timeout_s);
    return 0;
}

static void early_error(struct rest_request *r, enum rest_err e, const char *message,
                        const char *ctx_name, const char *ctx_value, bool close)
{
    rest_reply_transport_error(r, e, message, ctx_name, ctx_value, close);
}

/* Content-Length as a number; false if it is not plain digits. */
static bool parse_length(const char *s, unsigned long long *out)
{
    if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 18)
        return false;
    *out = strtoull(s, NULL, 10);
    return true;
}

static int on_http(struct lws *wsi, struct gw_pss *pss)
{
    char *uri = NULL;
    int ulen = 0;
    int method = lws_http_get_uri_and_method(wsi, &uri, &ulen);
    if (method < 0 || !uri)
        return reply_error(wsi, 400, "BAD_REQUEST", "malformed request", "The request is malformed.");
    int ops = ops_endpoint(wsi, method, uri, (size_t)ulen);
    if (ops <= 0)
        return ops;
    enum rest_method m;
    if (!rest_here(wsi))
        return reply_error(wsi, 404, "RESOURCE_NOT_FOUND", "no such route (REST is on the API listener)",
                           "The resource was not found.");
    if (!map_method(method, &m))
        return reply_error(wsi, 405, "METHOD_NOT_ALLOWED", "method not allowed",
                           "This method is not allowed on this resource.");

    if (pss->http) {
        /* a request on a streaming connection (the stream never completes its transaction) */
        if (rest_request_state(pss->http) == REST_REQ_STREAMING)
            return -1;
        rest_request_gone(pss->http);   /* cannot happen: lws re-zeroes the pss per transaction */
        pss->http = NULL;
    }
    struct rest_request *r = rest_request_new(wsi, m, uri, (size_t)ulen);
    pss->http = r;
    in_callback = r;
    for (int h = 0; h < REST_H_COUNT; h++)
        copy_header(wsi, r, (enum rest_hdr)h);

    /*
     * POST/PUT/PATCH without Content-Length (curl -X POST): no body, but lws
     * 4.1.6 would take what follows on the connection for one, so the
     * connection ends with this answer.
     */
    bool with_body = m == REST_POST || m == REST_PUT || m == REST_PATCH;
    const char *cl = rest_request_hdr(r, REST_H_CONTENT_LENGTH);
    const char *te = rest_request_hdr(r, REST_H_TRANSFER_ENCODING);
    if (with_body && !cl && !te)
        rest_request_close_after(r);

    char bad[REST_ARG_NAME_MAX + 1] = "";
    if (!copy_args(wsi, r, bad, sizeof bad)) {
        early_error(r, REST_ERR_BAD_REQUEST, "malformed query parameter (encoding, length or count)",
                    bad[0] ? bad : "query", "invalid", false);
        return settle(wsi, pss, r);
    }
    if (te && strcasestr(te, "chunked")) {
        early_error(r, REST_ERR_LENGTH_REQUIRED, "chunked request bodies are not supported;"
                    " send Content-Length", NULL, NULL, true);
        return settle(wsi, pss, r);
    }
    unsigned long long length = 0;
    if (cl && !parse_length(cl, &length)) {
        early_error(r, REST_ERR_BAD_REQUEST, "malformed Content-Length", "Content-Length", cl, true);
        return settle(wsi, pss, r);
    }
    if (length > rest_cfg()->max_body) {
        char limit[32];
        snprintf(limit, sizeof limit, "%zu", rest_cfg()->max_body);
        early_error(r, REST_ERR_PAYLOAD_TOO_LARGE, "the request body is over the limit", "maxBytes",
                    limit, false);
        return settle(wsi, pss, r);
    }
    /* a body follows (BODY ... BODY_COMPLETION) only when announced, and GET/HEAD/OPTIONS ignore it */
    bool body = cl && (with_body || (m == REST_DELETE && length > 0));
    if (!body)
        rest_dispatch(r);
    return settle(wsi, pss, r);
}

static int on_body(struct lws *wsi, struct gw_pss *pss, const void *in, size_t len)
{
    struct rest_request *r = pss->http;
    if (!r || rest_request_state(r) != REST_REQ_READING)
        return 0;
    if (rest_request_body_append(r, in, len))
        return 0;
    in_callback = r;
    char limit[32];
    snprintf(limit, sizeof limit, "%zu", rest_cfg()->max_body);
    early_error(r, REST_ERR_PAYLOAD_TOO_LARGE, "the request body is over the limit", "maxBytes",
                limit, true);
    return settle(wsi, pss, r);
}

static int on_body_done(struct lws *wsi, struct gw_pss *pss)
{
    struct rest_request *r = pss->http;
    if (!r || rest_request_state(r) != REST_REQ_READING)
        return 0;
    in_callback = r;
    rest_dispatch(r);
    return settle(wsi, pss, r);
}

static int on_writeable(struct lws *wsi, struct gw_pss *pss)
{
    struct rest_request *r = pss->http;
    if (r && rest_request_state(r) == REST_REQ_STREAMING)
        return write_stream(wsi, pss, r);
    if (!r || rest_request_state(r) != REST_REQ_READY)
        return 0;
    return write_reply(wsi, pss, r);
}

static void on_gone(struct gw_pss *pss)
{
    if (!pss || !pss->http)
        return;
    struct rest_request *r = pss->http;
    pss->http = NULL;
    rest_request_gone(r);
}

int http_callback(struct lws *wsi, int reason, struct gw_pss *pss, void *in, size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return on_http(wsi, pss);
    case LWS_CALLBACK_HTTP_BODY:
        return on_body(wsi, pss, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return on_body_done(wsi, pss);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return on_writeable(wsi, pss);
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        on_gone(pss);
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, (enum lws_callback_reasons)reason, pss, in, len);
}

/* ------------------------------------------------------------------ rest_io */

/* The framework hands over READY requests with a client only (conn: the wsi given to rest_request_new). */
static void io_send(void *ctx, struct rest_request *r)
{
    (void)ctx;
    if (r == in_callback)
        return;                     /* written when its callback returns */
    lws_callback_on_writable(rest_request_conn(r));
}

/* A stream's client stopped reading: close now (lws_set_timeout's kill goes at the head of its list). */
static void io_kill(void *ctx, struct rest_request *r)
{
    (void)ctx;
    lws_set_timeout(rest_request_conn(r), PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

static void io_submit(void *ctx, struct store_job *job)
{
    struct gateway *g = ctx;
    if (!g->rest_store) {           /* shutting down: nothing will run it */
        store_job_free(job);
        return;
    }
    store_submit(g->rest_store, job);
}

static bool io_store_ready(void *ctx)
{
    struct gateway *g = ctx;
    return g->rest_store && store_ready(g->rest_store);
}

static int64_t io_now_ms(void *ctx)
{
    (void)ctx;
    return time_now_ms();
}

static int64_t io_mono_us(void *ctx)
{
    (void)ctx;
    return time_mono_us();
}

/* POST /v1/webhook-endpoints/{id}/test: the delivery thread answers through drain_webhooks. */
static void io_webhook_test(void *ctx, uint64_t handle, const char *endpoint_id)
{
    struct gateway *g = ctx;
    if (g->webhooks) {
        wh_test_submit(g->webhooks, handle, endpoint_id);
        return;
    }
    struct rest_webhook_test_result res = { .found = true, .event_id = "", .error = "shutting down" };
    rest_on_webhook_test(handle, &res);
}

/* Exports (src/store/export.c): the framework's handles are the service's; none once it stopped. */
static void *io_export_begin(void *ctx, struct store_export_req *req)
{
    struct gateway *g = ctx;
    if (!g->exports || g->shutting_down) {
        store_export_req_clear(req);
        return NULL;
    }
    return store_export_begin(g->exports, req);
}

static char *io_export_take(void *ctx, void *export, size_t *len, enum store_export_state *state, char *why,
                            size_t cap)
{
    struct gateway *g = ctx;
    if (!g->exports) {
        *len = 0;
        *state = STORE_EXPORT_UNAVAILABLE;
        str_copy(why, cap, "shutting down");
        return NULL;
    }
    return store_export_take(export, len, state, why, cap);
}

static void io_export_release(void *ctx, void *export)
{
    struct gateway *g = ctx;
    if (g->exports)
        store_export_release(export);
}

static int park_timeout_s(const struct config *c)
{
    int wait = c->remote_start_wait > 60 ? c->remote_start_wait : 60; /* ?wait= goes up to 60 */
    long s = (long)c->call_timeout * (c->call_queue + 1) + wait + 30;
    if (s < 2L * c->rest_statement_timeout + 30)  /* a query waits at most its batch's, then its own */
        s = 2L * c->rest_statement_timeout + 30;
    return s < 60 ? 60 : s > 86400 ? 86400 : (int)s;
}

/* The REST framework over g: its settings, its core (made before this) and its store. */
void http_init(struct gateway *g)
{
    struct rest_config rc = {
        .max_body = (size_t)g->cfg.rest_max_body,
        .rate_per_s = g->cfg.rest_rate_per_second,
        .rate_burst = g->cfg.rest_rate_burst,
        .cors_origins = g->cfg.rest_cors_origins,
        /*
         * A command is bounded by the core: its queue (ocpp.call_queue calls ahead of
         * it, each at most ocpp.call_timeout), its own call, and a remote start's wait.
         * The transport's timeout only has to be longer than that.
         */
        .park_timeout_s = park_timeout_s(&g->cfg),
        .routes = rest_routes,
        .nroutes = rest_routes_count,
        .settings = {
            .password_iterations = g->cfg.password_iterations,
            .call_timeout_s = g->cfg.call_timeout,
            .call_queue = g->cfg.call_queue,
            .stale_session_after_s = g->cfg.stale_session_after,
            .tls_listener = g->cfg.tls_listen[0] != '\0',
            .tls_client_ca = g->cfg.tls_ca != NULL && g->cfg.tls_ca[0] != '\0',
            .stream_buffer = (size_t)g->cfg.events_stream_buffer,
            .stream_keepalive_s = g->cfg.events_stream_keepalive,
            .idle_power_w = g->cfg.tariffs_idle_power_w,
        },
    };
    struct rest_io io = {
        .ctx = g, .core = g->core, .send = io_send, .submit = io_submit,
        .store_ready = io_store_ready, .now_ms = io_now_ms, .mono_us = io_mono_us,
        .kill = io_kill,
        .webhook_test = io_webhook_test,
        .export_begin = io_export_begin, .export_take = io_export_take, .export_release = io_export_release,
    };
    rest_init(&rc, &io);
}

void http_shutdown(void)
{
    rest_shutdown();
    in_callback = NULL;
}
