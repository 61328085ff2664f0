/*
 * The energy job: keeps the energy report's rollups (sql/023_report_energy.sql;
 * docs/architecture.md, "Reports: rollups") as data arrives. It runs on the
 * pricing thread (src/store/pricing_job.c), on its connection, after each
 * pricing round, so a session made final by the pricing is rolled up in the
 * same turn.
 *
 * Triggers queue work in energy_queue in the writers' own transactions
 * (inserts only). One round, one transaction: the gateway that gets the
 * job's advisory lock (pg_try_advisory_xact_lock: gateways sharing a
 * database never run a round at once, and never wait for each other)
 * claims up to ENERGY_JOB_BATCH queue rows (ocppgw_energy_claim: deleted,
 * FOR UPDATE SKIP LOCKED, rebuilds of chargers' and sites' days done
 * there), then reads the claimed sessions' inputs in a LATER statement (so
 * they hold everything committed before the claim: a row queued by a late
 * upload that commits after it stays queued for the next round), splits each
 * session into 15-minute slots in C with the pricing's own interpolation
 * (session_energy_compute, include/session_cost.h -> pricing_split_slots)
 * and writes it with ocppgw_energy_apply, which replaces the session's old
 * contribution and rebuilds the local days either touches. A database
 * error rolls the round back: the queue rows come back with it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "pricing.h"
#include "session_cost.h"
#include "store_internal.h"
#include "strbuf.h"
#include "util.h"

#define STR_(x) #x
#define STR(x) STR_(x)
#define ENERGY_SLOT_MS (15 * 60 * 1000)
#define ENERGY_SLOTS_MAX (400 * 96) /* 400 days of 15 minutes */

static bool exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return ok;
}

/* "{v,v,...}" of one member of each slot (0: energy, 1: charging, 2: idle); caller frees. */
static char *slots_array(const struct pricing_split *sp, int member)
{
    struct strbuf b = { 0 };
    strbuf_putc(&b, '{');
    for (size_t i = 0; i < sp->n_slots; i++) {
        const struct pricing_slot *s = &sp->slots[i];
        int64_t v = member == 0 ? s->energy_wh : member == 1 ? s->charging_ms : s->idle_ms;
        strbuf_printf(&b, "%s%lld", i ? "," : "", (long long)v);
    }
    strbuf_putc(&b, '}');
    return strbuf_take(&b);
}

/* Splits and writes one session; false on a database error. */
static bool apply_one(PGconn *c, const char *id, const char *input, int32_t idle_power_w)
{
    struct pricing_split sp;
    const char *why = session_energy_compute(input, idle_power_w, ENERGY_SLOT_MS, ENERGY_SLOTS_MAX, &sp);
    if (why) {
        if (input) /* NULL: gone or not completed (any more): nothing to roll up */
            log_warn(NULL, "energy: session %s is left out of the reports: %s", id, why);
        return true;
    }
    char slot0[24];
    snprintf(slot0, sizeof slot0, "%lld", (long long)sp.slot0_ms);
    char *wh = slots_array(&sp, 0), *ch = slots_array(&sp, 1), *idle = slots_array(&sp, 2);
    const char *params[5] = { id, slot0, wh, ch, idle };
    PGresult *r = PQexecParams(c, "SELECT ocppgw_energy_apply($1::bigint, $2::bigint, $3::bigint[], $4::bigint[],"
                                  " $5::bigint[])",
                               5, NULL, params, NULL, NULL, 0);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        log_warn(NULL, "energy: session %s: %s", id, PQerrorMessage(c));
    PQclear(r);
    free(wh);
    free(ch);
    free(idle);
    pricing_split_free(&sp);
    return ok;
}

int store_energy_round(struct store_worker *w, PGconn *c, int32_t idle_power_w)
{
    if (!exec_ok(c, "BEGIN"))
        return -1;
    int n = -1;
    PGresult *claim = NULL, *in = NULL;
    PGresult *lock = PQexec(c, "SELECT pg_try_advisory_xact_lock(hashtext('ocppgw_energy_job'))");
    bool got = PQresultStatus(lock) == PGRES_TUPLES_OK && PQntuples(lock) == 1 && PQgetvalue(lock, 0, 0)[0] == 't';
    bool lock_ok = PQresultStatus(lock) == PGRES_TUPLES_OK;
    PQclear(lock);
    if (!lock_ok)
        goto out;
    if (!got) { /* another gateway's round */
        n = 0;
        goto out;
    }
    claim = PQexec(c, "SELECT coalesce(array_agg(session_id)::text, '{}') FROM ocppgw_energy_claim("
                      STR(ENERGY_JOB_BATCH) ")");
    if (PQresultStatus(claim) != PGRES_TUPLES_OK) {
        log_warn(NULL, "energy: claim: %s", PQerrorMessage(c));
        goto out;
    }
    /* a statement of its own: a snapshot taken after the claim */
    const char *params[1] = { PQgetvalue(claim, 0, 0) };
    in = PQexecParams(c, "SELECT id, ocppgw_session_energy_input(id) FROM unnest($1::bigint[]) id ORDER BY id", 1,
                      NULL, params, NULL, NULL, 0);
    if (PQresultStatus(in) != PGRES_TUPLES_OK) {
        log_warn(NULL, "energy: inputs: %s", PQerrorMessage(c));
        goto out;
    }
    int rows = PQntuples(in);
    for (int i = 0; i < rows; i++)
        if (store_worker_stopping(w) ||
            !apply_one(c, PQgetvalue(in, i, 0), PQgetisnull(in, i, 1) ? NULL : PQgetvalue(in, i, 1), idle_power_w))
            goto out;
    /* the claim also counts rebuilds: report a full batch when the queue may hold more */
    n = rows;
out:
    PQclear(claim);
    PQclear(in);
    if (n >= 0 && !exec_ok(c, "COMMIT"))
        n = -1;
    if (n < 0)
        exec_ok(c, "ROLLBACK");
    return n;
}
