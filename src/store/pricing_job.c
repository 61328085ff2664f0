/*
 * The pricing job: a thread with its own PostgreSQL connection that prices
 * completed sessions (issue 13; spec sites-and-tariffs.md, "Session cost").
 * A StopTransaction that completes a session with a tariff marks it
 * cost_state = 'pending' in its own transaction (sql/018_session_cost.sql);
 * this thread, about once a second, claims up to PRICING_JOB_BATCH pending
 * sessions with FOR UPDATE SKIP LOCKED (several gateways on one database
 * share them and never price one twice), reading each one's input in the
 * same statement (ocppgw_session_cost_input, sql/021: the frozen tariff
 * version and its elements, the zone, the samples, when charging ended by
 * status), prices it with session_cost_compute (include/session_cost.h,
 * the code REST's estimate of an active session uses too) with
 * tariffs.idle_power_w, and writes cost, net, VAT, the breakdown, the
 * receipt number (sql/019: the next of this gateway's receipts.prefix
 * counter, once per session) and cost_state = 'final', all in the claim's
 * transaction: a batch rolled back takes its receipt numbers back too, so
 * they stay gapless. The pending -> final update emits the session's
 * session.stopped (sql/018), so
 * the event carries the cost. Never on the event loop: plain blocking
 * libpq on this thread only.
 *
 * After each round the same thread, on the same connection, runs a round
 * of the energy report's rollups (store_energy_round, energy_job.c), so a
 * session priced here is rolled up in the same turn.
 *
 * A session that cannot be priced (a tariff pricing refuses, amounts beyond
 * int64) becomes final with no cost, and a line says why; a database error
 * rolls the batch back and the next round tries again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "session_cost.h"
#include "store.h"
#include "store_internal.h"
#include "util.h"

#define PRICING_JOB_BATCH 50
#define STR_(x) #x
#define STR(x) STR_(x)
#define PRICING_JOB_PERIOD_MS 1000
#define PRICING_JOB_ELEMENTS_MAX 64

struct store_pricing {
    struct store_worker *worker;
    char *receipt_prefix;           /* receipts.prefix */
    int32_t idle_power_w;           /* tariffs.idle_power_w */
};

static bool exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok;
}

/*
 * Prices session id from its input (ocppgw_session_cost_input, sql/021;
 * include/session_cost.h) inside the open transaction; false on a database
 * error.
 */
static bool price_one(PGconn *c, const char *id, const char *input, const char *receipt_prefix,
                      int32_t idle_power_w)
{
    const char *params[2] = { id, NULL };
    struct session_cost res;
    PGresult *up = NULL;
    bool ok = false;
    char net[24], vat[24], gross[24];
    const char *why = session_cost_compute(input, idle_power_w, &res);
    const char *json = res.breakdown, *currency = res.currency;
    if (!why && res.zone_unknown)
        log_warn(NULL, "pricing: session %s: its zone is unknown, priced in UTC", id);
    if (why) {
        log_warn(NULL, "pricing: session %s has no cost: %s", id, why);
        up = PQexecParams(c, "UPDATE sessions SET cost_state = 'final', updated_at = now() WHERE id = $1::bigint",
                          1, NULL, params, NULL, NULL, 0);
    } else {
        snprintf(net, sizeof net, "%lld", (long long)res.net);
        snprintf(vat, sizeof vat, "%lld", (long long)res.vat);
        snprintf(gross, sizeof gross, "%lld", (long long)res.gross);
        const char *up_params[8] = { id, gross, net, vat, json, currency, receipt_prefix, res.zone };
        /* COALESCE evaluates ocppgw_receipt_next only for a session without a number */
        up = PQexecParams(c,
                          "UPDATE sessions SET cost = $2::bigint, cost_net = $3::bigint, cost_vat = $4::bigint,"
                          " cost_breakdown = $5::jsonb, currency = $6, cost_final = true, cost_state = 'final',"
                          " receipt_number = coalesce(receipt_number, ocppgw_receipt_next($7)), cost_zone = $8,"
                          " updated_at = now() WHERE id = $1::bigint",
                          8, NULL, up_params, NULL, NULL, 0);
    }
    ok = PQresultStatus(up) == PGRES_COMMAND_OK;
    if (!ok)
        log_warn(NULL, "pricing: session %s: %s", id, PQerrorMessage(c));
    PQclear(up);
    session_cost_clear(&res);
    return ok;
}

/* One round: claims a batch and prices it in one transaction. The number priced, -1 on an error. */
static int price_batch(PGconn *c, const char *receipt_prefix, int32_t idle_power_w)
{
    if (!exec_ok(c, "BEGIN"))
        return -1;
    /* inputs read once claimed: none for rows another gateway holds */
    PGresult *r = PQexec(c, "WITH claimed AS (SELECT id FROM sessions WHERE cost_state = 'pending' ORDER BY id"
                            " LIMIT " STR(PRICING_JOB_BATCH) " FOR UPDATE SKIP LOCKED)"
                            " SELECT id, ocppgw_session_cost_input(id) FROM claimed ORDER BY id");
    int n = -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        goto out;
    n = PQntuples(r);
    for (int i = 0; i < n; i++)
        if (!price_one(c, PQgetvalue(r, i, 0), PQgetisnull(r, i, 1) ? NULL : PQgetvalue(r, i, 1),
                       receipt_prefix, idle_power_w)) {
            n = -1;
            goto out;
        }
out:
    PQclear(r);
    if (n >= 0 && !exec_ok(c, "COMMIT"))
        n = -1;
    if (n < 0)
        exec_ok(c, "ROLLBACK");
    return n;
}

/* One round: a batch priced, then the energy rollups; true when either was full (more may wait). */
static bool pricing_round(struct store_worker *w, PGconn *db, void *ctx)
{
    struct store_pricing *p = ctx;
    int n = price_batch(db, p->receipt_prefix, p->idle_power_w);
    if (n > 0)
        log_info(NULL, "pricing: %d session%s priced", n, n == 1 ? "" : "s");
    /* then the energy rollups (energy_job.c): what was just priced is rolled up this turn */
    int e = store_energy_round(w, db, p->idle_power_w);
    return n >= PRICING_JOB_BATCH || e >= ENERGY_JOB_BATCH;
}

struct store_pricing *store_pricing_start(const char *conninfo, const char *receipt_prefix, int idle_power_w)
{
    struct store_pricing *p = xcalloc(1, sizeof *p);
    p->receipt_prefix = xstrdup(receipt_prefix);
    p->idle_power_w = idle_power_w;
    struct store_worker_spec spec = { "pricing", NULL, PRICING_JOB_PERIOD_MS, pricing_round, p };
    p->worker = store_worker_start(conninfo, &spec);
    if (!p->worker) {
        free(p->receipt_prefix);
        free(p);
        return NULL;
    }
    return p;
}

void store_pricing_stop(struct store_pricing *p)
{
    if (!p)
        return;
    store_worker_stop(p->worker);
    free(p->receipt_prefix);
    free(p);
}
