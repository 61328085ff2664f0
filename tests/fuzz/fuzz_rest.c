/*
 * libFuzzer driver: one REST request as the HTTP transport hands it to the
 * framework (src/rest/), without a socket or a database. The input is text:
 *
 *   METHOD /path?name=value&name=value        (first line)
 *   header-name: value                        (any number of lines)
 *                                             (blank line)
 *   body bytes...
 *
 * The path goes to rest_request_new() (the router, path parameters), each
 * '&' fragment of the query to rest_request_add_arg() (query parameters,
 * then the collections' validation in query.c / args.c), each header the
 * framework reads to rest_request_set_header() (Authorization, x-api-key,
 * Api-Version, Idempotency-Key, Prefer, Content-Type, Origin, ...) and the
 * body to rest_request_body_append() (JSON parsing and body.c validation),
 * then rest_dispatch() runs the real route table. One admin key is in the
 * key cache (Authorization: Bearer ogw_fuzz_admin_key, or x-api-key), so
 * handlers run; every store job is answered SERVICE_UNAVAILABLE, so the
 * validation before it and the error path after it run, never a fake row.
 *
 *   make fuzz                 (every target; corpus in tests/fuzz/corpus/fuzz_rest)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

#include "../../src/rest/framework.h"
#include "ocpp.h"
#include "rest.h"
#include "rest_transport.h"
#include "secret.h"
#include "store_job.h"
#include "util.h"

#define FUZZ_KEY "ogw_fuzz_admin_key"
#define MAX_JOBS 64

static struct store_job *jobs[MAX_JOBS];
static int njobs;
static int64_t mono = 1000000;

/*
 * As src/glue/http_lws.c: a reply is written (and r freed) when the call
 * into the framework that made it READY has returned, never inside it.
 */
static struct rest_request *ready;

static void f_send(void *ctx, struct rest_request *r)
{
    (void)ctx;
    if (rest_request_state(r) != REST_REQ_READY || ready)
        abort();
    ready = r;
}

static void write_ready(void)
{
    if (!ready)
        return;
    const struct rest_reply *rp = rest_request_reply(ready);
    if (rp->status < 100 || rp->status > 599 || (rp->len && !rp->body))
        abort();
    if (getenv("FUZZ_REST_SHOW"))   /* to check what the seeds reach */
        fprintf(stderr, "%s %s -> %d %.*s\n", rest_method_name(rest_method(ready)), rest_path(ready),
                rp->status, (int)(rp->len < 160 ? rp->len : 160), rp->body ? rp->body : "");
    rest_request_free(ready);
    ready = NULL;
}
static void f_submit(void *ctx, struct store_job *job)
{
    (void)ctx;
    if (njobs == MAX_JOBS) {        /* more than one request could ever queue: a bug */
        abort();
    }
    jobs[njobs++] = job;
}
static bool f_ready(void *ctx) { (void)ctx; return true; }
static int64_t f_now(void *ctx) { (void)ctx; return 1700000000000LL; }
static int64_t f_mono(void *ctx) { (void)ctx; return mono; }

static const char *const methods[] = {
    [REST_GET] = "GET", [REST_POST] = "POST", [REST_PUT] = "PUT", [REST_PATCH] = "PATCH",
    [REST_DELETE] = "DELETE", [REST_HEAD] = "HEAD", [REST_OPTIONS] = "OPTIONS",
};

static void init(void)
{
    log_setup(LOG_ERROR, LOG_TEXT);
    ocpp_json_init();
    ocpp_schema_init();
    struct rest_config cfg = { .max_body = 64 * 1024, .rate_per_s = 1e9, .rate_burst = 1e9,
                               .cors_origins = "https://app.example",
                               .routes = rest_routes, .nroutes = rest_routes_count };
    struct rest_io io = { .core = NULL, .send = f_send, .submit = f_submit,
                          .store_ready = f_ready, .now_ms = f_now, .mono_us = f_mono };
    rest_init(&cfg, &io);
    struct store_apikey k;
    memset(&k, 0, sizeof k);
    k.id = 1;
    strcpy(k.name, "fuzz");
    secret_sha256_hex(FUZZ_KEY, strlen(FUZZ_KEY), k.key_hash);
    k.scopes_json = (char *)"[\"admin\"]";
    rest_keys_add(NULL, &k);
}

/* The next line of [*p, end) without its "\r\n" / "\n"; false at the end. */
static bool next_line(const char **p, const char *end, const char **line, size_t *len)
{
    if (*p >= end)
        return false;
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    const char *stop = nl ? nl : end;
    *line = *p;
    *len = (size_t)(stop - *p);
    if (*len && (*line)[*len - 1] == '\r')
        (*len)--;
    *p = nl ? nl + 1 : end;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool inited;
    if (!inited) {
        init();
        inited = true;
    }
    const char *p = (const char *)data, *end = p + size;
    const char *line;
    size_t len;
    if (!next_line(&p, end, &line, &len))
        return 0;
    const char *sp = memchr(line, ' ', len);
    if (!sp)
        return 0;
    enum rest_method m = REST_METHOD_COUNT;
    for (int i = 0; i < REST_METHOD_COUNT; i++)
        if ((size_t)(sp - line) == strlen(methods[i]) && !memcmp(line, methods[i], (size_t)(sp - line)))
            m = (enum rest_method)i;
    if (m == REST_METHOD_COUNT)
        return 0;
    const char *target = sp + 1;
    size_t tlen = len - (size_t)(target - line);
    const char *q = memchr(target, '?', tlen);
    size_t plen = q ? (size_t)(q - target) : tlen;

    mono += 1000;
    struct rest_request *r = rest_request_new((void *)1, m, target, plen);
    char bad[REST_ARG_NAME_MAX + 1] = "";
    bool args_ok = true;
    if (q) {
        const char *a = q + 1, *aend = target + tlen;
        while (args_ok && a <= aend) {
            const char *amp = memchr(a, '&', (size_t)(aend - a));
            const char *stop = amp ? amp : aend;
            if (stop > a)
                args_ok = rest_request_add_arg(r, a, (size_t)(stop - a), bad, sizeof bad);
            a = stop + 1;
        }
    }
    while (next_line(&p, end, &line, &len) && len) {
        const char *colon = memchr(line, ':', len);
        if (!colon)
            continue;
        size_t nlen = (size_t)(colon - line);
        const char *v = colon + 1;
        while (v < line + len && *v == ' ')
            v++;
        for (int h = 0; h < REST_H_COUNT; h++) {
            const char *name = rest_hdr_name((enum rest_hdr)h);
            if (strlen(name) == nlen && !strncasecmp(name, line, nlen))
                rest_request_set_header(r, (enum rest_hdr)h, v, (size_t)(line + len - v));
        }
    }
    if (!args_ok) {
        rest_reply_transport_error(r, REST_ERR_BAD_REQUEST, "malformed query parameter",
                                   bad[0] ? bad : "query", "invalid", false);
    } else {
        if (p < end && !rest_request_body_append(r, p, (size_t)(end - p)))
            rest_reply_transport_error(r, REST_ERR_PAYLOAD_TOO_LARGE, "too large", NULL, NULL, true);
        else
            rest_dispatch(r);
    }
    write_ready();
    /* the reply may come at once (f_send frees r), or after the store's answers */
    for (int rounds = 0; njobs && rounds < 16; rounds++) {
        int n = njobs;
        struct store_job *batch[MAX_JOBS];
        memcpy(batch, jobs, (size_t)n * sizeof batch[0]);
        njobs = 0;
        for (int i = 0; i < n; i++) {
            batch[i]->status = STORE_ERR_UNAVAILABLE;
            rest_on_store_result(batch[i]);
            write_ready();
        }
    }
    while (njobs)
        store_job_free(jobs[--njobs]);
    if (rest_request_count() != 0)  /* a request nobody answered and nobody freed */
        abort();
    return 0;
}
