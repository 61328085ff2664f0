/*
 * The store thread's connection to PostgreSQL: connecting without blocking
 * (so that store_stop is heard meanwhile), the set-up round trip (LISTEN,
 * every prepared statement), the one function that changes the
 * connection's state (readiness, backoff, the log line), losing the
 * connection, the backoff between attempts, and the notifications that
 * arrive on it (charger and API key ids to reload). Also the libpq helpers
 * admin.c shares (pg_internal.h): defaults for a connection, conninfo
 * check, notices to the log, one-line errors. Design: thread.c.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/rand.h>

#include "hmap.h"
#include "store_internal.h"
#include "util.h"

#define STORE_BACKOFF_MIN_MS 100
#define STORE_BACKOFF_MAX_MS 5000
#define STORE_CONNECT_TIMEOUT_MS 10000
#define STORE_CHANNEL "ocppgw_charger"
#define STORE_CHANNEL_APIKEY "ocppgw_apikey"
#define STORE_CHANNEL_EVENTS "ocppgw_events"
#define STORE_CHANNEL_SITE "ocppgw_site"       /* sql/020: with the chargers' (STORE_LISTEN_CHARGERS) */

/* ------------------------------------------------------------------ shared with admin.c */

bool store_pg_conninfo_valid(const char *conninfo)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
    PQconninfoFree(opts);
    PQfreemem(err);                 /* may quote the string: never shown */
    return opts != NULL;
}

PGconn *store_pg_connect(const char *conninfo, const char *application_name, bool async)
{
    /*
     * Entries before "dbname" are defaults: the expanded conninfo overrides
     * them. jit=off: the gateway's statements are short; PostgreSQL's JIT,
     * triggered by a cost estimate, spent more than a second compiling the
     * plan of a bulk statement that runs in a tenth of that (sql/014).
     */
    const char *const keys[] = { "application_name", "keepalives", "keepalives_idle",
                                 "keepalives_interval", "keepalives_count", "connect_timeout",
                                 "options", "dbname", NULL };
    const char *const vals[] = { application_name, "1", "30", "10", "3", "10", "-c jit=off", conninfo, NULL };
    PGconn *c = async ? PQconnectStartParams(keys, vals, 1) : PQconnectdbParams(keys, vals, 1);
    if (!c) {
        log_error(NULL, "store: out of memory starting a database connection");
        abort();
    }
    return c;
}

static void notice_to_log(void *arg, const char *message)
{
    (void)arg;
    char line[256];
    store_pg_error_line(message, line, sizeof line);
    log_debug(NULL, "store: server says: %s", line);
}

void store_pg_quiet_notices(PGconn *conn)
{
    PQsetNoticeProcessor(conn, notice_to_log, NULL);
}

void store_pg_error_line(const char *message, char *buf, size_t cap)
{
    if (!message || !*message)
        message = "unknown error";
    size_t n = strcspn(message, "\n");
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, message, n);
    buf[n] = '\0';
}

/* ------------------------------------------------------------------ notified ids */

void store_notified_init(struct notified *q, enum store_op op)
{
    q->op = op;
    q->pending = hmap_new();
}

static void notified_push(struct notified *q, const char *id)
{
    size_t max = q->op == STORE_OP_SITE_CHANGED ? STORE_SITE_ID_MAX : OCPP_CHARGER_ID_MAX;
    if (strlen(id) > max || hmap_get_str(q->pending, id))
        return;
    if (q->head + q->n == q->cap) {
        if (q->head > q->cap / 2) {
            memmove(q->ids, q->ids + q->head, q->n * sizeof *q->ids);
            q->head = 0;
        } else {
            q->cap = q->cap ? q->cap * 2 : 64;
            q->ids = xrealloc(q->ids, q->cap * sizeof *q->ids);
        }
    }
    str_copy(q->ids[q->head + q->n], sizeof q->ids[0], id);
    hmap_put_str(q->pending, id, q);
    q->n++;
}

struct store_job *store_notified_pop(struct notified *q)
{
    if (!q->n)
        return NULL;
    struct store_job *job = store_job_new(q->op);
    const char *id = q->ids[q->head];
    if (q->op == STORE_OP_APIKEY_CHANGED)
        job->in.apikey_id = strtoll(id, NULL, 10);
    else if (q->op == STORE_OP_SITE_CHANGED)
        str_copy(job->in.site_id, sizeof job->in.site_id, id);
    else
        str_copy(job->charger_id, sizeof job->charger_id, id);
    hmap_del_str(q->pending, id);
    q->head++;
    if (--q->n == 0)
        q->head = 0;
    return job;
}

static void notified_clear(struct notified *q)
{
    while (q->n)
        store_job_free(store_notified_pop(q));
}

void store_notified_free(struct notified *q)
{
    free(q->ids);
    hmap_free(q->pending);
    *q = (struct notified){ 0 };
}

/* ------------------------------------------------------------------ state */

void store_conn_close(struct store *s)
{
    if (s->conn)
        PQfinish(s->conn);
    s->conn = NULL;
    store_pipeline_forget_prepared(s);
    notified_clear(&s->notified);       /* the loop reloads every charger after a reconnect */
    notified_clear(&s->notified_keys);  /* ... and every API key (REST store) */
    notified_clear(&s->notified_sites); /* ... and every site */
}

/*
 * The one place the connection state changes: readiness, backoff and the
 * log line (one per change; failed retries while down only at debug).
 */
static void set_state(struct store *s, enum store_state to, const char *why)
{
    enum store_state from = s->state;
    switch (to) {
    case STORE_STATE_UP:
        atomic_store(&s->ready, true);
        if (from == STORE_STATE_STARTING)
            log_info(NULL, "store: connected to the database (server %d)", PQserverVersion(s->conn));
        else
            log_info(NULL, "store: %s to the database after %.1f s (attempt %u)",
                     s->ever_connected ? "reconnected" : "connected",
                     (double)(time_mono_us() - s->down_since_us) / 1e6, s->attempts + 1);
        s->ever_connected = true;
        s->attempts = 0;
        s->backoff_ms = 0;
        break;
    case STORE_STATE_DOWN:
        atomic_store(&s->ready, false);
        if (from == STORE_STATE_UP) {
            log_warn(NULL, "store: database connection lost (%s); reconnecting", why);
            s->backoff_ms = STORE_BACKOFF_MIN_MS;
            s->attempts = 0;
        } else {
            if (from == STORE_STATE_STARTING)
                log_warn(NULL, "store: database unavailable (%s); retrying", why);
            else
                log_debug(NULL, "store: connect attempt %u failed: %s", s->attempts + 1, why);
            s->attempts++;
            s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : STORE_BACKOFF_MIN_MS;
            if (s->backoff_ms > STORE_BACKOFF_MAX_MS)
                s->backoff_ms = STORE_BACKOFF_MAX_MS;
        }
        if (from != STORE_STATE_DOWN)
            s->down_since_us = time_mono_us();
        break;
    default:
        abort();
    }
    s->state = to;
}

void store_conn_lost(struct store *s)
{
    char why[200];
    if (s->io_error[0])
        str_copy(why, sizeof why, s->io_error);
    else
        store_pg_error_line(PQerrorMessage(s->conn), why, sizeof why);
    s->io_error[0] = '\0';
    set_state(s, STORE_STATE_DOWN, why);
    store_conn_close(s);
    store_fail_queued(s, true);
}

/*
 * "<id> gone" on the API key channel: revoked or deleted. Completed at once
 * (no row to load), so the next request with that key is refused.
 */
static bool apikey_gone(const char *payload, struct job_list *out)
{
    char *end = NULL;
    long long id = strtoll(payload, &end, 10);
    if (end == payload || strcmp(end, " gone") != 0)
        return false;
    struct store_job *job = store_job_new(STORE_OP_APIKEY_CHANGED);
    job->in.apikey_id = id;
    job->out.apikey.id = id;
    job->out.apikey.deleted = true;
    job->status = STORE_OK;
    job_list_push(out, job);
    return true;
}

/*
 * "<seq>" on the events channel: events up to seq committed. The
 * notifications read together become one job with the highest seq,
 * completed at once (the loop reads the rows itself).
 */
static void events_notified(const char *payload, int64_t *max)
{
    char *end = NULL;
    long long seq = strtoll(payload, &end, 10);
    if (end != payload && *end == '\0' && seq > *max)
        *max = seq;
}

void store_collect_notifies(struct store *s)
{
    PGnotify *n;
    struct job_list gone = { 0 };
    int64_t events_max = 0;
    while ((n = PQnotifies(s->conn))) {
        if (strcmp(n->relname, STORE_CHANNEL) == 0)
            notified_push(&s->notified, n->extra);
        else if (strcmp(n->relname, STORE_CHANNEL_SITE) == 0)
            notified_push(&s->notified_sites, n->extra);
        else if (strcmp(n->relname, STORE_CHANNEL_APIKEY) == 0 && !apikey_gone(n->extra, &gone))
            notified_push(&s->notified_keys, n->extra);
        else if (strcmp(n->relname, STORE_CHANNEL_EVENTS) == 0)
            events_notified(n->extra, &events_max);
        PQfreemem(n);
    }
    if (events_max > 0) {
        struct store_job *job = store_job_new(STORE_OP_EVENTS_NOTIFIED);
        job->out.events_seq = events_max;
        job->status = STORE_OK;
        job_list_push(&gone, job);
    }
    store_complete(s, &gone);
}

/* ------------------------------------------------------------------ connecting */

/* Drives PQconnectPoll; gives up on timeout or when the store is stopping. */
static bool connect_poll(struct store *s, PGconn *c, char *err, size_t cap)
{
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    int64_t deadline = time_mono_us() + (int64_t)STORE_CONNECT_TIMEOUT_MS * 1000;
    while (PQstatus(c) != CONNECTION_BAD) {
        if (st == PGRES_POLLING_OK)
            return true;
        if (st == PGRES_POLLING_FAILED)
            break;
        int64_t left_ms = (deadline - time_mono_us()) / 1000;
        if (left_ms <= 0) {
            snprintf(err, cap, "timed out after %d s", STORE_CONNECT_TIMEOUT_MS / 1000);
            return false;
        }
        struct pollfd p[2] = {
            { .fd = PQsocket(c), .events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT },
            { .fd = s->efd, .events = POLLIN },
        };
        int rc = poll(p, 2, (int)left_ms);
        if (rc < 0 && errno != EINTR)
            break;
        if (rc > 0 && p[1].revents) {
            store_drain_wakeups(s);
            if (atomic_load(&s->stopping)) {
                snprintf(err, cap, "stopping");
                return false;
            }
        }
        if (rc > 0 && p[0].revents)
            st = PQconnectPoll(c);
    }
    store_pg_error_line(PQerrorMessage(c), err, cap);
    return false;
}

/* LISTEN and every op's prepared statement, in one pipeline round trip. */
static bool conn_setup(struct store *s, char *err, size_t cap)
{
    const char *ctl[6];
    size_t n = 0;
    if (s->listen & STORE_LISTEN_CHARGERS) {
        ctl[n++] = "LISTEN " STORE_CHANNEL;
        ctl[n++] = "LISTEN " STORE_CHANNEL_SITE;
    }
    if (s->listen & STORE_LISTEN_APIKEYS)
        ctl[n++] = "LISTEN " STORE_CHANNEL_APIKEY;
    if (s->listen & STORE_LISTEN_EVENTS)
        ctl[n++] = "LISTEN " STORE_CHANNEL_EVENTS;
    /* for this connection's every statement: a query past it fails with 57014 */
    char timeout[64];
    if (s->statement_timeout_ms > 0) {
        snprintf(timeout, sizeof timeout, "SET statement_timeout = %d", s->statement_timeout_ms);
        ctl[n++] = timeout;
    }
    /* sql/012: how often ocppgw_meter_batch may emit session.updated per session */
    char interval[80];
    if (s->session_update_interval_s > 0) {
        snprintf(interval, sizeof interval, "SET ocppgw.session_update_interval = %d",
                 s->session_update_interval_s);
        ctl[n++] = interval;
    }
    return store_pipeline_setup(s, ctl, n, err, cap);
}

bool store_conn_open(struct store *s)
{
    char err[256] = "";
    PGconn *c = store_pg_connect(s->conninfo, s->application_name, true);
    if (!connect_poll(s, c, err, sizeof err)) {
        PQfinish(c);
        goto fail;
    }
    store_pg_quiet_notices(c);
    if (PQsetnonblocking(c, 1) != 0 || !PQenterPipelineMode(c)) {
        store_pg_error_line(PQerrorMessage(c), err, sizeof err);
        PQfinish(c);
        goto fail;
    }
    s->conn = c;
    if (!conn_setup(s, err, sizeof err)) {
        store_conn_close(s);
        goto fail;
    }
    set_state(s, STORE_STATE_UP, NULL);
    return true;
fail:
    if (!atomic_load(&s->stopping))
        set_state(s, STORE_STATE_DOWN, err);
    return false;
}

/* Sleeps the backoff (half to full, random) unless the store is stopping. */
void store_backoff_sleep(struct store *s)
{
    uint32_t r = 0;
    if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
        r = (uint32_t)time_mono_us();
    int half = s->backoff_ms / 2;
    int64_t deadline = time_mono_us() + (int64_t)(half + (int)(r % (uint32_t)(half + 1))) * 1000;
    for (;;) {
        int64_t left_ms = (deadline - time_mono_us()) / 1000;
        if (left_ms <= 0 || atomic_load(&s->stopping))
            return;
        struct pollfd p = { .fd = s->efd, .events = POLLIN };
        if (poll(&p, 1, (int)left_ms) > 0)
            store_drain_wakeups(s);
    }
}

