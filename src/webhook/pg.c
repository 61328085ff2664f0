/*
 * The delivery thread's PostgreSQL connection (libpq, blocking: this thread
 * waits for nothing else meanwhile but its transfers, which the kernel
 * buffers). It LISTENs on ocppgw_events (the outbox's commit notification)
 * and runs three statements, all functions of sql/013_webhooks.sql: the
 * claim, the record of outcomes, the target of a test.
 *
 * synchronous_commit is off on this connection: a claim or an outcome lost
 * with a crash of the database costs a second delivery (a lease that runs
 * out, a delivered row still pending), which at-least-once allows, and the
 * thread does not wait for a WAL flush per batch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "hmap.h"
#include "secret.h"
#include "util.h"
#include "wh_internal.h"

#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 5000

static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static void error_line(PGconn *c, char *buf, size_t cap)
{
    const char *m = PQerrorMessage(c);
    size_t n = strcspn(m ? m : "", "\n");
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, m ? m : "", n);
    buf[n] = '\0';
}

bool wh_db_connect(struct webhooks *w)
{
    int64_t now = time_mono_us();
    if (now < w->db_retry_us)
        return false;
    const char *const keys[] = { "application_name", "connect_timeout", "keepalives", "keepalives_idle",
                                 "dbname", NULL };
    const char *const vals[] = { "ocppgw-webhooks", "5", "1", "30", w->cfg.conninfo, NULL };
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c)
        abort();
    char err[256];
    if (PQstatus(c) != CONNECTION_OK) {
        error_line(c, err, sizeof err);
        PQfinish(c);
        goto fail;
    }
    PQsetNoticeProcessor(c, quiet, NULL);
    PGresult *res = PQexec(c, "SET synchronous_commit = off; LISTEN ocppgw_events; LISTEN ocppgw_webhooks");
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok) {
        error_line(c, err, sizeof err);
        PQfinish(c);
        goto fail;
    }
    w->db = c;
    w->db_backoff_ms = 0;
    w->notified = true;
    log_info(NULL, "webhooks: delivering (node %s)", w->node);
    return true;
fail:
    if (!w->db_backoff_ms)
        log_warn(NULL, "webhooks: database unavailable: %s", err);
    w->db_backoff_ms = w->db_backoff_ms ? w->db_backoff_ms * 2 : BACKOFF_MIN_MS;
    if (w->db_backoff_ms > BACKOFF_MAX_MS)
        w->db_backoff_ms = BACKOFF_MAX_MS;
    w->db_retry_us = now + (int64_t)w->db_backoff_ms * 1000;
    return false;
}

void wh_db_drop(struct webhooks *w, const char *why)
{
    if (!w->db)
        return;
    char err[256];
    error_line(w->db, err, sizeof err);
    if (strcmp(why, "stopping") == 0)
        log_debug(NULL, "webhooks: database connection closed (stopping)");
    else
        log_warn(NULL, "webhooks: database connection lost (%s): %s", why, err);
    PQfinish(w->db);
    w->db = NULL;
    w->db_backoff_ms = BACKOFF_MIN_MS;
    w->db_retry_us = time_mono_us() + BACKOFF_MIN_MS * 1000;
}

int wh_db_socket(struct webhooks *w)
{
    return w->db ? PQsocket(w->db) : -1;
}

bool wh_db_poll(struct webhooks *w)
{
    if (!w->db)
        return false;
    if (!PQconsumeInput(w->db)) {
        wh_db_drop(w, "reading");
        return false;
    }
    PGnotify *n;
    while ((n = PQnotifies(w->db))) {
        w->notified = true;
        PQfreemem(n);
    }
    return true;
}

/* A failed statement: the connection is dropped if it broke; false. */
static bool check(struct webhooks *w, PGresult *res, ExecStatusType want, const char *what)
{
    if (PQresultStatus(res) == want)
        return true;
    if (PQstatus(w->db) != CONNECTION_OK) {
        wh_db_drop(w, what);
    } else {
        char err[256];
        error_line(w->db, err, sizeof err);
        log_error(NULL, "webhooks: %s failed: %s", what, err);
    }
    return false;
}

/* ---- claim ---- */

struct room_ctx {
    struct strbuf *eps, *room;
    int concurrency;
    int total;                      /* room of the busy endpoints */
};

static int add_room(void *ctx, const void *key, size_t klen, void *val)
{
    struct room_ctx *rc = ctx;
    int inflight = (int)((intptr_t)val - 1);
    strbuf_puts(rc->eps, rc->eps->len > 1 ? "," : "");
    strbuf_put(rc->eps, key, klen);
    strbuf_printf(rc->room, "%s%d", rc->room->len > 1 ? "," : "", rc->concurrency - inflight);
    rc->total += rc->concurrency - inflight > 0 ? rc->concurrency - inflight : 0;
    return 0;
}

int wh_db_claim(struct webhooks *w, int limit, void (*start)(struct webhooks *w, const struct wh_claimed *c),
                bool *full)
{
    *full = false;
    if (!w->db || limit <= 0)
        return 0;
    struct strbuf eps = STRBUF_INIT, room = STRBUF_INIT;
    strbuf_putc(&eps, '{');
    strbuf_putc(&room, '{');
    struct room_ctx rc = { &eps, &room, w->cfg.concurrency, 0 };
    hmap_foreach(w->per_endpoint, add_room, &rc);
    /*
     * Ask for no more than there is room for (the busy endpoints' room, and
     * one endpoint's worth for the others): every row the claim looks at
     * is locked until it commits, so a larger limit only costs locks.
     */
    if (limit > rc.total + w->cfg.concurrency)
        limit = rc.total + w->cfg.concurrency;
    strbuf_putc(&eps, '}');
    strbuf_putc(&room, '}');
    char lease[16], lim[16], conc[16];
    snprintf(lease, sizeof lease, "%d", w->cfg.timeout_s + WH_LEASE_EXTRA_S);
    snprintf(lim, sizeof lim, "%d", limit);
    snprintf(conc, sizeof conc, "%d", w->cfg.concurrency);
    const char *params[] = { w->node, lease, lim, strbuf_str(&eps), strbuf_str(&room), conc };
    PGresult *res = PQexecParams(w->db, "SELECT * FROM ocppgw_webhook_claim($1, $2::integer, $3::integer,"
                                        " $4::uuid[], $5::integer[], $6::integer)",
                                 6, NULL, params, NULL, NULL, 0);
    strbuf_free(&eps);
    strbuf_free(&room);
    if (!check(w, res, PGRES_TUPLES_OK, "claim")) {
        PQclear(res);
        return -1;
    }
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        struct wh_claimed c;
        memset(&c, 0, sizeof c);
        c.delivery_id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        str_copy(c.endpoint_id, sizeof c.endpoint_id, PQgetvalue(res, i, 1));
        c.attempt = atoi(PQgetvalue(res, i, 2));
        c.url = PQgetvalue(res, i, 3);
        c.secret = PQgetvalue(res, i, 4);
        c.previous_secret = PQgetisnull(res, i, 5) ? NULL : PQgetvalue(res, i, 5);
        c.event_id = PQgetvalue(res, i, 6);
        c.seq = strtoll(PQgetvalue(res, i, 7), NULL, 10);
        c.type = PQgetvalue(res, i, 8);
        c.created_us = strtoll(PQgetvalue(res, i, 9), NULL, 10);
        c.occurred_us = PQgetisnull(res, i, 10) ? INT64_MIN : strtoll(PQgetvalue(res, i, 10), NULL, 10);
        c.charger_id = PQgetisnull(res, i, 11) ? NULL : PQgetvalue(res, i, 11);
        c.site_id = PQgetisnull(res, i, 12) ? NULL : PQgetvalue(res, i, 12);
        c.data = PQgetvalue(res, i, 13);
        start(w, &c);
    }
    *full = n == limit;
    /* the secrets were in the result: wipe it before it goes back to the heap */
    for (int i = 0; i < n; i++) {
        for (int col = 4; col <= 5; col++)
            if (!PQgetisnull(res, i, col))
                secret_wipe(PQgetvalue(res, i, col), (size_t)PQgetlength(res, i, col));
    }
    PQclear(res);
    return n;
}

/* ---- the lanes' safety net ---- */

void wh_db_unstick(struct webhooks *w)
{
    if (!w->db)
        return;
    PGresult *res = PQexec(w->db, "SELECT ocppgw_webhook_unstick()");
    if (check(w, res, PGRES_TUPLES_OK, "unsticking lanes") && atoi(PQgetvalue(res, 0, 0)) > 0) {
        log_warn(NULL, "webhooks: %s lane(s) found waiting behind nothing, made due", PQgetvalue(res, 0, 0));
        w->notified = true;
    }
    PQclear(res);
}

/* ---- record ---- */

/* Appends s as an element of a PostgreSQL array literal (NULL -> NULL). */
static void array_text(struct strbuf *b, const char *s)
{
    if (b->len > 1)
        strbuf_putc(b, ',');
    if (!s) {
        strbuf_puts(b, "NULL");
        return;
    }
    strbuf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            strbuf_putc(b, '\\');
        strbuf_putc(b, *s);
    }
    strbuf_putc(b, '"');
}

static void outcome_free(struct wh_outcome *o)
{
    free(o->error);
    free(o->body);
}

bool wh_db_record(struct webhooks *w)
{
    if (!w->db)
        return false;
    if (!w->npending)
        return true;
    struct strbuf ids = STRBUF_INIT, what = STRBUF_INIT, code = STRBUF_INIT, ms = STRBUF_INIT,
                  err = STRBUF_INIT, body = STRBUF_INIT, delay = STRBUF_INIT;
    struct strbuf *all[] = { &ids, &what, &code, &ms, &err, &body, &delay };
    for (size_t i = 0; i < 7; i++)
        strbuf_putc(all[i], '{');
    for (size_t i = 0; i < w->npending; i++) {
        const struct wh_outcome *o = &w->pending[i];
        const char *sep = i ? "," : "";
        strbuf_printf(&ids, "%s%lld", sep, (long long)o->delivery_id);
        strbuf_printf(&what, "%s%s", sep, o->what);
        if (o->code)
            strbuf_printf(&code, "%s%d", sep, o->code);
        else
            strbuf_printf(&code, "%sNULL", sep);
        strbuf_printf(&ms, "%s%d", sep, o->latency_ms);
        array_text(&err, o->error);
        array_text(&body, o->body);
        strbuf_printf(&delay, "%s%.3f", sep, o->delay_s);
    }
    for (size_t i = 0; i < 7; i++)
        strbuf_putc(all[i], '}');
    char disable[16];
    snprintf(disable, sizeof disable, "%d", w->cfg.disable_after_s);
    const char *params[] = { w->node, strbuf_str(&ids), strbuf_str(&what), strbuf_str(&code), strbuf_str(&ms),
                             strbuf_str(&err), strbuf_str(&body), strbuf_str(&delay), disable };
    PGresult *res = PQexecParams(w->db, "SELECT * FROM ocppgw_webhook_record($1, $2::bigint[], $3::text[],"
                                        " $4::integer[], $5::integer[], $6::text[], $7::text[],"
                                        " $8::double precision[], $9::integer)",
                                 9, NULL, params, NULL, NULL, 0);
    for (size_t i = 0; i < 7; i++)
        strbuf_free(all[i]);
    bool ok = check(w, res, PGRES_TUPLES_OK, "recording deliveries");
    if (ok) {
        for (int i = 0; i < PQntuples(res); i++)
            log_warn(NULL, "webhooks: endpoint %s disabled: %s", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
        for (size_t i = 0; i < w->npending; i++)
            outcome_free(&w->pending[i]);
        w->npending = 0;
    } else if (w->db) {
        /* the statement itself failed with the connection up: these outcomes cannot be stored */
        log_error(NULL, "webhooks: %zu delivery outcomes dropped (their leases will run out)", w->npending);
        for (size_t i = 0; i < w->npending; i++)
            outcome_free(&w->pending[i]);
        w->npending = 0;
    }
    PQclear(res);
    return ok;
}

/* ---- test ---- */

bool wh_db_test_target(struct webhooks *w, const char *endpoint_id, bool *found, char **url, char **secret,
                       char **previous, char event_id[40], int64_t *created_us)
{
    *found = false;
    *url = *secret = *previous = NULL;
    if (!w->db)
        return false;
    const char *params[] = { endpoint_id };
    PGresult *res = PQexecParams(w->db, "SELECT * FROM ocppgw_webhook_test_target($1::uuid)", 1, NULL, params,
                                 NULL, NULL, 0);
    if (!check(w, res, PGRES_TUPLES_OK, "reading a test's endpoint")) {
        PQclear(res);
        return false;
    }
    if (PQntuples(res) == 1) {
        *found = true;
        *url = xstrdup(PQgetvalue(res, 0, 0));
        *secret = xstrdup(PQgetvalue(res, 0, 1));
        *previous = PQgetisnull(res, 0, 2) ? NULL : xstrdup(PQgetvalue(res, 0, 2));
        str_copy(event_id, 40, PQgetvalue(res, 0, 3));
        *created_us = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
        for (int col = 1; col <= 2; col++)
            if (!PQgetisnull(res, 0, col))
                secret_wipe(PQgetvalue(res, 0, col), (size_t)PQgetlength(res, 0, col));
    }
    PQclear(res);
    return true;
}
