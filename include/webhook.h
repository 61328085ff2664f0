/*
 * Webhook delivery (src/webhook/): the thread that sends the deliveries the
 * fan-out queued (sql/013_webhooks.sql) to the integrators' endpoints, and
 * the pure pieces it is made of (signatures, the retry schedule,
 * Retry-After), which unit tests call directly.
 *
 * The thread owns a PostgreSQL connection (LISTEN ocppgw_events) and a
 * libcurl multi handle. It claims due deliveries with a lease, sends them
 * (DNS, connect, TLS, all in libcurl, on this thread), records each outcome
 * and schedules retries; several gateways share the work through the
 * database. The event loop only talks to it through wh_test_submit /
 * wh_test_take (POST /v1/webhook-endpoints/{id}/test) and the wake
 * callback (lws_cancel_service for the gateway), like the CSR signer.
 */
#ifndef OCPPGW_WEBHOOK_H
#define OCPPGW_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- the retry schedule (schedule.c) ---- */

#define WH_SCHEDULE_MAX 16
/* events.md: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, then failed */
#define WH_SCHEDULE_DEFAULT "5,300,1800,7200,18000,36000,36000"
#define WH_JITTER 0.2               /* each step +-20 % */

struct wh_schedule {
    int steps[WH_SCHEDULE_MAX];     /* seconds before retry 1, 2, ... */
    int n;
};
/* Parses "5,300,..." (1..WH_SCHEDULE_MAX positive integers); false if malformed. */
bool wh_schedule_parse(const char *text, struct wh_schedule *out);
/*
 * Seconds until the next attempt after `attempts` attempts failed (1 after
 * the first), or -1 when none is left (the delivery has failed). jitter in
 * [0, 1) places the delay within +-WH_JITTER of the step. retry_after_s >= 0
 * (a 429/503's Retry-After) is honoured: the delay is at least that, capped
 * at the step after this one (the last step for the last retry), never
 * below the jittered step.
 */
double wh_retry_delay(const struct wh_schedule *s, int attempts, double jitter, int64_t retry_after_s);
/*
 * A Retry-After value: delta-seconds, or an HTTP-date (IMF-fixdate) taken
 * against now_s. Seconds from now (0 for a date in the past) into *out;
 * false if malformed.
 */
bool wh_parse_retry_after(const char *value, int64_t now_s, int64_t *out);

/* ---- signatures (sign.c): Standard Webhooks ---- */

#define WH_SIGNATURE_MAX 128        /* one "v1,<base64 of 32 bytes>" with room */
/*
 * "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>" into out, where key is
 * the base64 after "whsec_" of secret. False if the secret is malformed or
 * out is too small.
 */
bool wh_sign(const char *secret, const char *msg_id, int64_t timestamp, const char *body, size_t len,
             char *out, size_t cap);
/*
 * A new secret: "whsec_" + base64 of 32 bytes from RAND_bytes (caller
 * frees). The gateway's endpoints get theirs from the database
 * (ocppgw_webhook_secret_new); tests and tools use this one.
 */
char *wh_secret_new(void);

/* ---- the delivery thread (thread.c) ---- */

struct wh_config {
    const char *conninfo;           /* PostgreSQL (copied) */
    int timeout_s;                  /* webhooks.timeout: a 2xx within it is success */
    int concurrency;                /* webhooks.concurrency: in flight per endpoint on this gateway */
    bool allow_private;             /* webhooks.allow_private */
    struct wh_schedule schedule;    /* webhooks.retry_schedule */
    int disable_after_s;            /* an endpoint failing this long is disabled (5 days) */
    const char *user_agent;         /* "ocppgw/<version>" (copied) */
    const char *node;               /* claimed_by of this process's claims (copied); NULL: host:pid:random */
    void (*wake)(void *ctx);        /* test results are ready (any thread) */
    void *wake_ctx;
};

struct webhooks;

/* Starts the thread (it connects on its own, with backoff). NULL if the thread cannot start. */
struct webhooks *wh_start(const struct wh_config *cfg);
/* Stops and joins it; transfers in flight are abandoned (their leases run out). NULL is fine. */
void wh_stop(struct webhooks *w);

/* POST .../test: deliver a webhook.test event to endpoint_id now; the answer comes back by handle. */
void wh_test_submit(struct webhooks *w, uint64_t handle, const char *endpoint_id);

struct wh_test_result {
    struct wh_test_result *next;
    uint64_t handle;
    bool found;                     /* the endpoint exists */
    bool delivered;                 /* a 2xx came back in time */
    int status_code;                /* 0: no HTTP answer */
    int latency_ms;
    char event_id[40];
    char error[256];                /* "" when delivered */
    char *response_body;            /* up to 64 KiB, NUL-terminated; owned */
};
/* The results ready since the last call (loop thread), oldest first; caller frees the list. */
struct wh_test_result *wh_test_take(struct webhooks *w);
void wh_test_result_free(struct wh_test_result *list);

#endif
