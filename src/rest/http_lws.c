/*
 * libwebsockets glue for plain HTTP on the same context: the operational
 * endpoints (/healthz, /readyz, /metrics) and, in the REST issue, the /v1
 * router. Every response carries Content-Length (keep-alive needs it),
 * X-Request-Id and Api-Version, and completes the transaction (notes §4).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "core.h"
#include "gateway.h"
#include "metrics.h"
#include "secret.h"
#include "store.h"
#include "util.h"

#define API_VERSION "V2026_11_21"

static void request_id(struct lws *wsi, char *out, size_t cap)
{
    char hdr[128];
    int n = lws_hdr_custom_copy(wsi, hdr, sizeof hdr, "x-request-id:", 13);
    if (n > 0 && n <= 100) {
        str_copy(out, cap, hdr);
        return;
    }
    unsigned char raw[12];
    secret_random(raw, sizeof raw);
    size_t at = 0;
    for (size_t i = 0; i < sizeof raw && at + 2 < cap; i++)
        at += (size_t)snprintf(out + at, cap - at, "%02x", raw[i]);
}

int http_reply(struct lws *wsi, int status, const char *content_type, const char *body,
               size_t len, const char *extra_headers[][2])
{
    size_t cap = LWS_PRE + 2048 + len;
    unsigned char *buf = xmalloc(cap);
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + cap;
    char rid[128];
    request_id(wsi, rid, sizeof rid);
    int rc = -1;
    if (lws_add_http_header_status(wsi, (unsigned int)status, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                     (const unsigned char *)content_type, (int)strlen(content_type),
                                     &p, end) ||
        lws_add_http_header_content_length(wsi, len, &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"X-Request-Id:",
                                    (const unsigned char *)rid, (int)strlen(rid), &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"Api-Version:",
                                    (const unsigned char *)API_VERSION, (int)strlen(API_VERSION),
                                    &p, end))
        goto out;
    for (int i = 0; extra_headers && extra_headers[i][0]; i++)
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)extra_headers[i][0],
                                        (const unsigned char *)extra_headers[i][1],
                                        (int)strlen(extra_headers[i][1]), &p, end))
            goto out;
    if (lws_finalize_http_header(wsi, &p, end))
        goto out;
    memcpy(p, body, len);
    p += len;
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
    bool db = store_ready(g->store);
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
    };
    char *text = metrics_render(&gauges);
    int rc = http_reply(wsi, 200, "text/plain; version=0.0.4", text, strlen(text), NULL);
    free(text);
    return rc;
}

struct route {
    const char *path;
    int (*fn)(struct gateway *g, struct lws *wsi);
};

static const struct route ops_routes[] = {
    { "/healthz", handle_healthz },
    { "/metrics", handle_metrics },
    { "/readyz", handle_readyz },
};

static int on_http(struct gateway *g, struct lws *wsi)
{
    char *uri = NULL;
    int ulen = 0;
    int method = lws_http_get_uri_and_method(wsi, &uri, &ulen);
    if (method < 0 || !uri)
        return reply_error(wsi, 400, "BAD_REQUEST", "malformed request", "The request could not be read.");
    for (size_t i = 0; i < sizeof ops_routes / sizeof ops_routes[0]; i++) {
        if ((size_t)ulen == strlen(ops_routes[i].path) && memcmp(uri, ops_routes[i].path, (size_t)ulen) == 0) {
            if (method != LWSHUMETH_GET && method != LWSHUMETH_HEAD) {
                const char *allow[][2] = { { "Allow:", "GET, HEAD" }, { NULL, NULL } };
                static const char body[] =
                    "{\"status\":405,\"message\":\"method not allowed\",\"readableMessage\":\"Use GET.\","
                    "\"errorCode\":\"METHOD_NOT_ALLOWED\",\"context\":{}}";
                return http_reply(wsi, 405, "application/json", body, sizeof body - 1, allow);
            }
            return ops_routes[i].fn(g, wsi);
        }
    }
    return reply_error(wsi, 404, "RESOURCE_NOT_FOUND", "no such route", "The resource was not found.");
}

int http_callback(struct lws *wsi, int reason, struct gw_pss *pss, void *in, size_t len)
{
    (void)pss, (void)in, (void)len;
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return on_http(gw, wsi);
    case LWS_CALLBACK_HTTP_BODY:
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return reply_error(wsi, 404, "RESOURCE_NOT_FOUND", "no such route", "The resource was not found.");
    default:
        return lws_callback_http_dummy(wsi, (enum lws_callback_reasons)reason, pss, in, len);
    }
}
