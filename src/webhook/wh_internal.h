/*
 * Private to src/webhook/: what thread.c, pg.c, http.c and event_body.c
 * share. Everything here runs on the delivery thread, except the queues of
 * struct webhooks under its mutex.
 */
#ifndef OCPPGW_WH_INTERNAL_H
#define OCPPGW_WH_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "strbuf.h"
#include "webhook.h"

#define WH_BODY_MAX (64 * 1024)     /* response bytes read and stored */
#define WH_CLAIM_MAX 256            /* deliveries claimed per statement */
#define WH_INFLIGHT_MAX 1024        /* transfers at once on this gateway */
#define WH_POLL_MS 1000             /* due retries and expired leases are looked for this often */
#define WH_LEASE_EXTRA_S 5          /* a claim's lease: webhooks.timeout plus this (sent at once, ended by the timeout) */
#define WH_PENDING_MAX 100000       /* outcomes kept while the database is away */
#define WH_BATCH_US 2000            /* outcomes wait this long for others before they are recorded */
#define WH_UNSTICK_MS 30000         /* the lanes' safety net runs this often */

struct pg_conn;

/* A test request from the loop. */
struct wh_test_req {
    struct wh_test_req *next;
    uint64_t handle;
    char endpoint_id[40];
};

/* One HTTP attempt (a claimed delivery, or a test). */
struct wh_transfer {
    struct wh_transfer *prev, *next;   /* in flight */
    void *easy;                        /* CURL * */
    void *headers;                     /* struct curl_slist * */
    struct webhooks *w;
    int64_t delivery_id;               /* 0: a test */
    uint64_t test_handle;
    char endpoint_id[40];
    char event_id[40];
    int attempt;                       /* attempts made, this one included */
    char *body;                        /* the event JSON (owned) */
    struct strbuf resp;                /* up to WH_BODY_MAX */
    bool resp_full;                    /* stopped reading at WH_BODY_MAX */
    char retry_after[64];
    char refused[160];                 /* the SSRF rule refused the address ("" none) */
    char errbuf[256];                  /* CURLOPT_ERRORBUFFER */
    int64_t started_us;
};

/* The outcome of one attempt, waiting to be recorded. */
struct wh_outcome {
    int64_t delivery_id;
    const char *what;                  /* "delivered", "retry", "failed", "gone" */
    int code;                          /* HTTP status, 0 = none */
    int latency_ms;
    char *error;                       /* owned, may be NULL */
    char *body;                        /* owned, may be NULL */
    double delay_s;                    /* retry */
};

/* A claimed delivery as pg.c reads it. */
struct wh_claimed {
    int64_t delivery_id;
    char endpoint_id[40];
    int attempt;
    const char *url, *secret, *previous_secret;
    const char *event_id, *type, *charger_id, *site_id, *data;
    int64_t seq, created_us, occurred_us;  /* occurred_us: INT64_MIN = none */
};

struct webhooks {
    struct wh_config cfg;              /* conninfo and user_agent owned copies */
    char node[96];                     /* claimed_by: host, pid, random */
    pthread_t thread;
    pthread_mutex_t mu;
    struct wh_test_req *tests;         /* from the loop, under mu */
    struct wh_test_result *done_head, *done_tail;   /* to the loop, under mu */
    bool stop;                         /* under mu */

    /* delivery thread only */
    void *multi;                       /* CURLM * */
    struct wh_transfer *inflight;
    int ninflight;
    struct hmap *per_endpoint;         /* endpoint id -> in flight (intptr_t + 1) */
    struct wh_outcome *pending;        /* outcomes to record */
    size_t npending, cap_pending;
    void *db;                          /* PGconn *, NULL while away */
    int64_t db_retry_us;               /* next connection attempt */
    int db_backoff_ms;
    bool notified;                     /* new events since the last claim */
    bool full_seen;                    /* endpoints_full's scratch */
    bool more;                         /* the last claim found work or met a full endpoint: claim again once room frees */
};

/* ---- pg.c ---- */
/* Connects (blocking, short timeout), LISTENs; false (logged) if the database is away. */
bool wh_db_connect(struct webhooks *w);
void wh_db_drop(struct webhooks *w, const char *why);
/* Reads notifications that arrived; false if the connection broke. */
bool wh_db_poll(struct webhooks *w);
int wh_db_socket(struct webhooks *w);
/*
 * Claims and starts up to limit deliveries through start(w, c) (fewer when
 * the endpoints in flight have less room); returns how many, -1 on error.
 * *full: as many as were asked for came (more may be due).
 */
int wh_db_claim(struct webhooks *w, int limit, void (*start)(struct webhooks *w, const struct wh_claimed *c),
                bool *full);
/* Makes due any lane head left waiting (ocppgw_webhook_unstick); a safety net. */
void wh_db_unstick(struct webhooks *w);
/* Records w->pending; true if done (the list is emptied). */
bool wh_db_record(struct webhooks *w);
/*
 * A test's endpoint: false if the database failed; *found false if there
 * is no such endpoint. The strings are copied into the caller's buffers
 * (url, secrets: caller frees with free, secrets wiped first).
 */
bool wh_db_test_target(struct webhooks *w, const char *endpoint_id, bool *found, char **url, char **secret,
                       char **previous, char event_id[40], int64_t *created_us);

/* ---- http.c ---- */
/*
 * Starts an attempt: POST body to url with the Standard Webhooks headers
 * signed with secret (and previous, when not NULL). Takes t (freed when it
 * ends); false (t freed, *why says why) if it cannot even start.
 */
bool wh_http_start(struct webhooks *w, struct wh_transfer *t, const char *url, const char *secret,
                   const char *previous, char *why, size_t cap);
/* The attempts that ended: fn(w, t, curl result, status) for each, then t is freed; returns how many. */
int wh_http_collect(struct webhooks *w, void (*fn)(struct webhooks *w, struct wh_transfer *t, int result,
                                                    long status));
void wh_transfer_free(struct wh_transfer *t);
/* Text for a curl result code. */
const char *wh_http_strerror(int result);

/* ---- event_body.c ---- */
/* The event JSON as GET /v1/events/{id} shows it (caller frees). */
char *wh_event_body(const char *id, int64_t seq, const char *type, int64_t created_us, int64_t occurred_us,
                    const char *charger_id, const char *site_id, const char *data);
/* Bytes as stored text: invalid UTF-8 and NUL replaced by '?' (caller frees). */
char *wh_text_clean(const char *s, size_t n);

#endif
