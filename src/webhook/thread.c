/*
 * The webhook delivery thread (include/webhook.h).
 *
 * DESIGN. One thread, one PostgreSQL connection, one libcurl multi handle.
 * Each turn of its loop:
 *   1. collects the attempts that ended and turns each into an outcome:
 *      delivered (a 2xx within webhooks.timeout), gone (410: the endpoint
 *      is disabled), retry after the schedule's next step (+-20 % jitter,
 *      Retry-After of a 429/503 honoured up to the step after), or failed
 *      when the schedule is spent;
 *   2. records the outcomes in one statement (ocppgw_webhook_record), which
 *      also moves the lanes on and disables endpoints (410, 5 days failing);
 *      now and then (WH_UNSTICK_MS) it runs the lanes' safety net;
 *   3. claims due deliveries when there is room and something may be due
 *      (a notification on ocppgw_events, or WH_POLL_MS since the last
 *      look: retries, leases that ran out), at most webhooks.concurrency in
 *      flight per endpoint on this gateway, and starts them;
 *   4. starts the test deliveries the loop asked for;
 *   5. waits in curl_multi_poll for the transfers, the database socket
 *      (notifications) or a wake-up (a test, stop).
 * Recording comes before claiming, so a lane's next event is claimable as
 * soon as its head's outcome is stored. While the database is away,
 * transfers in flight finish and their outcomes wait (bounded); nothing is
 * claimed; the connection is retried with backoff.
 *
 * The loop reaches this thread only through the test queue (mutex) and
 * curl_multi_wakeup; results go back on a list and through cfg.wake.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "event_types.h"
#include "hmap.h"
#include "secret.h"
#include "util.h"
#include "wh_internal.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- per-endpoint counts ---- */

static void endpoint_add(struct webhooks *w, const char *id, int d)
{
    intptr_t v = (intptr_t)hmap_get_str(w->per_endpoint, id);
    int n = (v ? (int)(v - 1) : 0) + d;
    if (n <= 0)
        hmap_del_str(w->per_endpoint, id);
    else
        hmap_put_str(w->per_endpoint, id, (void *)(intptr_t)(n + 1));
}

static int count_full(void *ctx, const void *key, size_t klen, void *val)
{
    (void)key;
    (void)klen;
    struct webhooks *w = ctx;
    if ((int)((intptr_t)val - 1) >= w->cfg.concurrency)
        w->full_seen = true;
    return 0;
}

/* Whether some endpoint has webhooks.concurrency deliveries in flight here. */
static bool endpoints_full(struct webhooks *w)
{
    w->full_seen = false;
    hmap_foreach(w->per_endpoint, count_full, w);
    return w->full_seen;
}

/* ---- results to the loop ---- */

static void push_result(struct webhooks *w, struct wh_test_result *r)
{
    pthread_mutex_lock(&w->mu);
    if (w->done_tail)
        w->done_tail->next = r;
    else
        w->done_head = r;
    w->done_tail = r;
    pthread_mutex_unlock(&w->mu);
    if (w->cfg.wake)
        w->cfg.wake(w->cfg.wake_ctx);
}

static void test_failed(struct webhooks *w, uint64_t handle, bool found, const char *event_id, const char *why)
{
    struct wh_test_result *r = xcalloc(1, sizeof *r);
    r->handle = handle;
    r->found = found;
    str_copy(r->event_id, sizeof r->event_id, event_id ? event_id : "");
    str_copy(r->error, sizeof r->error, why);
    push_result(w, r);
}

/* ---- outcomes ---- */

static double jitter(void)
{
    uint32_t r;
    secret_random(&r, sizeof r);
    return (double)r / 4294967296.0;
}

/* The error text of an attempt that did not end in a 2xx. */
static char *attempt_error(const struct wh_transfer *t, int result, long status)
{
    char buf[400];
    if (t->refused[0])
        snprintf(buf, sizeof buf, "%s", t->refused);
    else if (result != CURLE_OK && !(result == CURLE_WRITE_ERROR && t->resp_full))
        snprintf(buf, sizeof buf, "%s%s%s", wh_http_strerror(result), t->errbuf[0] ? ": " : "", t->errbuf);
    else
        snprintf(buf, sizeof buf, "HTTP %ld", status);
    return xstrdup(buf);
}

static void on_done(struct webhooks *w, struct wh_transfer *t, int result, long status)
{
    /* a body cut at 64 KiB ends the transfer early: the status decides */
    bool answered = status > 0 && (result == CURLE_OK || (result == CURLE_WRITE_ERROR && t->resp_full));
    bool ok = answered && status >= 200 && status < 300;
    int ms = (int)((time_mono_us() - t->started_us) / 1000);
    endpoint_add(w, t->endpoint_id, -1);
    if (!t->delivery_id) {
        struct wh_test_result *r = xcalloc(1, sizeof *r);
        r->handle = t->test_handle;
        r->found = true;
        r->delivered = ok;
        r->status_code = answered ? (int)status : 0;
        r->latency_ms = ms;
        str_copy(r->event_id, sizeof r->event_id, t->event_id);
        if (!ok) {
            char *e = attempt_error(t, result, status);
            str_copy(r->error, sizeof r->error, e);
            free(e);
        }
        r->response_body = wh_text_clean(t->resp.buf ? t->resp.buf : "", t->resp.len);
        push_result(w, r);
        return;
    }
    if (w->npending == WH_PENDING_MAX) {
        log_warn(NULL, "webhooks: outcome of delivery %lld dropped (%d waiting for the database)",
                 (long long)t->delivery_id, WH_PENDING_MAX);
        return;
    }
    if (w->npending == w->cap_pending) {
        w->cap_pending = w->cap_pending ? w->cap_pending * 2 : 64;
        w->pending = xrealloc(w->pending, w->cap_pending * sizeof *w->pending);
    }
    struct wh_outcome *o = &w->pending[w->npending++];
    memset(o, 0, sizeof *o);
    o->delivery_id = t->delivery_id;
    o->code = answered ? (int)status : 0;
    o->latency_ms = ms;
    o->body = answered ? wh_text_clean(t->resp.buf ? t->resp.buf : "", t->resp.len) : NULL;
    if (ok) {
        o->what = "delivered";
        return;
    }
    o->error = attempt_error(t, result, status);
    if (answered && status == 410) {
        o->what = "gone";
        return;
    }
    int64_t ra = -1;
    if (answered && (status == 429 || status == 503) && t->retry_after[0] &&
        !wh_parse_retry_after(t->retry_after, time_now_ms() / 1000, &ra))
        ra = -1;
    double delay = wh_retry_delay(&w->cfg.schedule, t->attempt, jitter(), ra);
    if (delay < 0) {
        o->what = "failed";
    } else {
        o->what = "retry";
        o->delay_s = delay;
    }
}

/* ---- starting attempts ---- */

static void start_claimed(struct webhooks *w, const struct wh_claimed *c)
{
    struct wh_transfer *t = xcalloc(1, sizeof *t);
    t->delivery_id = c->delivery_id;
    t->attempt = c->attempt;
    str_copy(t->endpoint_id, sizeof t->endpoint_id, c->endpoint_id);
    str_copy(t->event_id, sizeof t->event_id, c->event_id);
    t->body = wh_event_body(c->event_id, c->seq, c->type, c->created_us, c->occurred_us, c->charger_id,
                            c->site_id, c->data);
    endpoint_add(w, c->endpoint_id, 1);
    char why[200];
    if (!wh_http_start(w, t, c->url, c->secret, c->previous_secret, why, sizeof why)) {
        /* recorded as a failed attempt: it is retried on the schedule */
        struct wh_transfer fake;
        memset(&fake, 0, sizeof fake);
        fake.delivery_id = c->delivery_id;
        fake.attempt = c->attempt;
        str_copy(fake.endpoint_id, sizeof fake.endpoint_id, c->endpoint_id);
        str_copy(fake.refused, sizeof fake.refused, why);
        fake.started_us = time_mono_us();
        on_done(w, &fake, CURLE_FAILED_INIT, 0);
    }
}

static void start_test(struct webhooks *w, const struct wh_test_req *q)
{
    bool found;
    char *url, *secret, *previous;
    char event_id[40] = "";
    int64_t created_us = 0;
    if (!wh_db_test_target(w, q->endpoint_id, &found, &url, &secret, &previous, event_id, &created_us)) {
        test_failed(w, q->handle, true, NULL, "the database is unavailable");
        return;
    }
    if (!found) {
        test_failed(w, q->handle, false, NULL, "no such endpoint");
        return;
    }
    char data[200];
    snprintf(data, sizeof data, "{\"endpointId\":\"%s\",\"message\":\"a test delivery from ocppgw\"}",
             q->endpoint_id);
    struct wh_transfer *t = xcalloc(1, sizeof *t);
    t->test_handle = q->handle;
    t->attempt = 1;
    str_copy(t->endpoint_id, sizeof t->endpoint_id, q->endpoint_id);
    str_copy(t->event_id, sizeof t->event_id, event_id);
    t->body = wh_event_body(event_id, 0, EVENT_TYPE_WEBHOOK_TEST, created_us, INT64_MIN, NULL, NULL, data);
    endpoint_add(w, q->endpoint_id, 1);
    char why[200];
    if (!wh_http_start(w, t, url, secret, previous, why, sizeof why)) {
        endpoint_add(w, q->endpoint_id, -1);
        test_failed(w, q->handle, true, event_id, why);
    }
    secret_wipe(secret, strlen(secret));
    if (previous)
        secret_wipe(previous, strlen(previous));
    free(url);
    free(secret);
    free(previous);
}

/* ---- the loop ---- */

static void *run(void *arg)
{
    struct webhooks *w = arg;
    int64_t next_poll_us = 0, next_unstick_us = time_mono_us() + WH_UNSTICK_MS * 1000;
    int64_t first_done_us = 0;          /* the oldest outcome not yet recorded */
    bool freed = false;                 /* transfers ended since the last claim */
    for (;;) {
        pthread_mutex_lock(&w->mu);
        bool stop = w->stop;
        struct wh_test_req *tests = w->tests;
        w->tests = NULL;
        pthread_mutex_unlock(&w->mu);
        if (stop) {
            while (tests) {
                struct wh_test_req *next = tests->next;
                free(tests);
                tests = next;
            }
            break;
        }
        if (!w->db)
            wh_db_connect(w);

        int running = 0;
        curl_multi_perform(w->multi, &running);
        int64_t now = time_mono_us();
        if (wh_http_collect(w, on_done) > 0) {
            freed = true;
            if (!first_done_us)
                first_done_us = now;
        }
        /*
         * Outcomes are recorded in batches: while transfers are still in
         * flight, up to WH_BATCH_US after the first outcome, so that one
         * record and one claim serve many deliveries instead of one each.
         */
        bool batch_due = w->npending && (w->ninflight == 0 || now - first_done_us >= WH_BATCH_US ||
                                         w->npending >= WH_CLAIM_MAX);
        if (batch_due || (w->npending && !first_done_us)) {
            wh_db_record(w);
            first_done_us = 0;
        }

        if (w->db && now >= next_unstick_us) {
            next_unstick_us = now + WH_UNSTICK_MS * 1000;
            wh_db_unstick(w);
        }
        if (w->db && !w->npending && (w->notified || now >= next_poll_us || (freed && w->more))) {
            freed = false;
            int room = WH_INFLIGHT_MAX - w->ninflight;
            int limit = room < WH_CLAIM_MAX ? room : WH_CLAIM_MAX;
            if (limit > 0) {
                w->notified = false;
                bool full = endpoints_full(w);
                bool got_all;
                int n = wh_db_claim(w, limit, start_claimed, &got_all);
                /*
                 * Work found, or an endpoint at its concurrency: more may be
                 * due as soon as a transfer ends (a lane's next event, the
                 * endpoint's room). A full claim: look again at once.
                 */
                w->more = n > 0 || full;
                next_poll_us = got_all ? now : now + WH_POLL_MS * 1000;
            }
        }

        /* tests, in the order asked (the list is newest first) */
        struct wh_test_req *rev = NULL;
        while (tests) {
            struct wh_test_req *next = tests->next;
            tests->next = rev;
            rev = tests;
            tests = next;
        }
        while (rev) {
            struct wh_test_req *next = rev->next;
            if (!w->db)
                wh_db_connect(w);
            start_test(w, rev);
            free(rev);
            rev = next;
        }

        /* transfers this turn started or answers already there: collected now, not after the wait */
        curl_multi_perform(w->multi, &running);
        now = time_mono_us();
        if (wh_http_collect(w, on_done) > 0) {
            freed = true;
            if (!first_done_us)
                first_done_us = now;
        }
        int wait_ms = w->notified || next_poll_us <= now ? 0 : (int)((next_poll_us - now) / 1000) + 1;
        if (wait_ms > WH_POLL_MS)
            wait_ms = WH_POLL_MS;
        if (!w->db || w->npending)
            wait_ms = wait_ms < 200 ? wait_ms : 200;   /* the backoff, or a record to retry */
        if (first_done_us)
            wait_ms = wait_ms < 2 ? wait_ms : 2;       /* the batch's end (WH_BATCH_US) */
        if (w->notified && w->ninflight >= WH_INFLIGHT_MAX)
            wait_ms = 50;
        struct curl_waitfd fds[1];
        unsigned nfds = 0;
        int sock = wh_db_socket(w);
        if (sock >= 0) {
            fds[0].fd = sock;
            fds[0].events = CURL_WAIT_POLLIN;
            fds[0].revents = 0;
            nfds = 1;
        }
        curl_multi_poll(w->multi, fds, nfds, wait_ms, NULL);
        if (w->db)
            wh_db_poll(w);
    }
    /* abandoned: their leases run out and another turn (or gateway) claims them again */
    while (w->inflight) {
        struct wh_transfer *t = w->inflight;
        w->inflight = t->next;
        curl_multi_remove_handle(w->multi, t->easy);
        wh_transfer_free(t);
    }
    if (w->npending && w->db)
        wh_db_record(w);
    return NULL;
}

/* ---- API ---- */

struct webhooks *wh_start(const struct wh_config *cfg)
{
    pthread_once(&curl_once, curl_init_once);
    struct webhooks *w = xcalloc(1, sizeof *w);
    w->cfg = *cfg;
    w->cfg.conninfo = xstrdup(cfg->conninfo);
    w->cfg.user_agent = xstrdup(cfg->user_agent ? cfg->user_agent : "ocppgw");
    if (w->cfg.timeout_s < 1)
        w->cfg.timeout_s = 10;
    if (w->cfg.concurrency < 1)
        w->cfg.concurrency = 16;
    if (w->cfg.schedule.n < 1)
        wh_schedule_parse(WH_SCHEDULE_DEFAULT, &w->cfg.schedule);
    if (w->cfg.disable_after_s < 1)
        w->cfg.disable_after_s = 5 * 86400;
    if (cfg->node && cfg->node[0]) {
        str_copy(w->node, sizeof w->node, cfg->node);
    } else {
        char host[48] = "host";
        gethostname(host, sizeof host - 1);
        host[sizeof host - 1] = '\0';
        unsigned char rnd[4];
        secret_random(rnd, sizeof rnd);
        snprintf(w->node, sizeof w->node, "%s:%d:%02x%02x%02x%02x", host, (int)getpid(), rnd[0], rnd[1], rnd[2],
                 rnd[3]);
    }
    w->cfg.node = NULL;
    w->per_endpoint = hmap_new();
    w->multi = curl_multi_init();
    pthread_mutex_init(&w->mu, NULL);
    if (!w->multi || pthread_create(&w->thread, NULL, run, w) != 0) {
        if (w->multi)
            curl_multi_cleanup(w->multi);
        pthread_mutex_destroy(&w->mu);
        hmap_free(w->per_endpoint);
        free((char *)w->cfg.conninfo);
        free((char *)w->cfg.user_agent);
        free(w);
        return NULL;
    }
    return w;
}

void wh_stop(struct webhooks *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_mutex_unlock(&w->mu);
    curl_multi_wakeup(w->multi);
    pthread_join(w->thread, NULL);
    if (w->db)
        wh_db_drop(w, "stopping");
    for (size_t i = 0; i < w->npending; i++) {
        free(w->pending[i].error);
        free(w->pending[i].body);
    }
    free(w->pending);
    wh_test_result_free(w->done_head);
    curl_multi_cleanup(w->multi);
    hmap_free(w->per_endpoint);
    pthread_mutex_destroy(&w->mu);
    free((char *)w->cfg.conninfo);
    free((char *)w->cfg.user_agent);
    free(w);
}

void wh_test_submit(struct webhooks *w, uint64_t handle, const char *endpoint_id)
{
    struct wh_test_req *q = xcalloc(1, sizeof *q);
    q->handle = handle;
    str_copy(q->endpoint_id, sizeof q->endpoint_id, endpoint_id);
    pthread_mutex_lock(&w->mu);
    q->next = w->tests;
    w->tests = q;
    pthread_mutex_unlock(&w->mu);
    curl_multi_wakeup(w->multi);
}

struct wh_test_result *wh_test_take(struct webhooks *w)
{
    pthread_mutex_lock(&w->mu);
    struct wh_test_result *r = w->done_head;
    w->done_head = w->done_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    return r;
}

void wh_test_result_free(struct wh_test_result *list)
{
    while (list) {
        struct wh_test_result *next = list->next;
        free(list->response_body);
        free(list);
        list = next;
    }
}
