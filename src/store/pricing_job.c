/*
 * The pricing job: a thread with its own PostgreSQL connection that prices
 * completed sessions (issue 13; spec sites-and-tariffs.md, "Session cost").
 * A StopTransaction that completes a session with a tariff marks it
 * cost_state = 'pending' in its own transaction (sql/018_session_cost.sql);
 * this thread, about once a second, claims up to PRICING_JOB_BATCH pending
 * sessions with FOR UPDATE SKIP LOCKED (several gateways on one database
 * share them and never price one twice), reads each one's inputs
 * (ocppgw_session_cost_inputs: the frozen tariff version, the zone, the
 * samples, when charging ended by status) and the version's elements, prices
 * it with pricing_compute (include/pricing.h) and writes cost, net, VAT, the
 * breakdown, the receipt number (sql/019: the next of this gateway's
 * receipts.prefix counter, once per session) and cost_state = 'final', all
 * in the claim's transaction: a batch rolled back takes its receipt numbers
 * back too, so they stay gapless. The pending -> final update emits the session's session.stopped (sql/018), so
 * the event carries the cost. Never on the event loop: plain blocking
 * libpq on this thread only.
 *
 * A session that cannot be priced (a tariff pricing refuses, amounts beyond
 * int64) becomes final with no cost, and a line says why; a database error
 * rolls the batch back and the next round tries again.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "pricing.h"
#include "store.h"
#include "strbuf.h"
#include "tz.h"
#include "util.h"

#define PRICING_JOB_BATCH 50
#define STR_(x) #x
#define STR(x) STR_(x)
#define PRICING_JOB_PERIOD_MS 1000
#define PRICING_JOB_ELEMENTS_MAX 64

struct store_pricing {
    char *conninfo;
    char *receipt_prefix;           /* receipts.prefix */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    PGconn *db;
    bool down;                      /* the last connect failed (logged once) */
};

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static bool connect_db(struct store_pricing *p)
{
    const char *const keys[] = { "application_name", "connect_timeout", "keepalives", "dbname", NULL };
    const char *const vals[] = { "ocppgw-pricing", "5", "1", p->conninfo, NULL };
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c)
        abort();
    if (PQstatus(c) != CONNECTION_OK) {
        if (!p->down)
            log_warn(NULL, "pricing: cannot connect to the database, retrying every second: %s", PQerrorMessage(c));
        p->down = true;
        PQfinish(c);
        return false;
    }
    p->down = false;
    PQsetNoticeProcessor(c, quiet, NULL);
    p->db = c;
    return true;
}

static bool exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok;
}

static int64_t num(const PGresult *r, int row, int col, int64_t null_value)
{
    if (PQgetisnull(r, row, col))
        return null_value;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* "ms:value,ms:value" into *out (caller frees); the count. */
static size_t parse_samples(const char *s, struct pricing_sample **out)
{
    *out = NULL;
    if (!s || !*s)
        return 0;
    size_t n = 1;
    for (const char *q = s; *q; q++)
        n += *q == ',';
    struct pricing_sample *v = xcalloc(n, sizeof *v);
    size_t k = 0;
    const char *q = s;
    while (*q && k < n) {
        char *end;
        v[k].at_ms = strtoll(q, &end, 10);
        if (*end != ':')
            break;
        v[k].value = strtoll(end + 1, &end, 10);
        k++;
        q = *end == ',' ? end + 1 : end;
    }
    *out = v;
    return k;
}

static void put_decimal(struct strbuf *b, int64_t v, int64_t scale)
{
    char d[PRICING_DECIMAL_LEN];
    pricing_format_decimal(v, scale, d, sizeof d);
    strbuf_puts(b, d);
}

/* As every time of the API: UTC with Z (docs/api.md). */
static void put_time(struct strbuf *b, int64_t ms)
{
    char t[TIME_ISO8601_LEN];
    time_format_api(ms * 1000, t, sizeof t);
    strbuf_printf(b, "\"%s\"", t);
}

/*
 * costBreakdown: [{component, quantity, unit, unitPrice, amount, from, to}]
 * with the quantity in its unit, unitPrice in minor units per unit and the
 * amount in minor units, as exact decimal JSON numbers; from/to in UTC
 * (sessionFee: none).
 */
static char *breakdown_json(const struct pricing_result *r)
{
    struct strbuf b = { 0 };
    strbuf_putc(&b, '[');
    for (size_t i = 0; i < r->n_lines; i++) {
        const struct pricing_line *l = &r->lines[i];
        char q[PRICING_DECIMAL_LEN];
        pricing_format_quantity(l, q, sizeof q);
        strbuf_printf(&b, "%s{\"component\":\"%s\",\"quantity\":%s,\"unit\":\"%s\",\"unitPrice\":", i ? "," : "",
                      pricing_component_name(l->component), q, pricing_unit_name(l->component));
        put_decimal(&b, l->unit_price, PRICING_PRICE_SCALE);
        strbuf_puts(&b, ",\"amount\":");
        put_decimal(&b, l->amount, PRICING_AMOUNT_SCALE);
        if (l->component != PRICING_SESSION_FEE) {
            strbuf_puts(&b, ",\"from\":");
            put_time(&b, l->from_ms);
            strbuf_puts(&b, ",\"to\":");
            put_time(&b, l->to_ms);
        }
        strbuf_putc(&b, '}');
    }
    strbuf_putc(&b, ']');
    return strbuf_take(&b);
}

/* Prices session id inside the open transaction; false on a database error. */
static bool price_one(PGconn *c, const char *id, const char *receipt_prefix)
{
    const char *params[2] = { id, NULL };
    PGresult *in = PQexecParams(c, "SELECT * FROM ocppgw_session_cost_inputs($1::bigint)", 1, NULL, params,
                                NULL, NULL, 0);
    PGresult *el = NULL;
    struct pricing_sample *energy = NULL, *power = NULL;
    struct pricing_element elems[PRICING_JOB_ELEMENTS_MAX];
    struct pricing_result res = { 0 };
    char *json = NULL;
    PGresult *up = NULL;
    bool ok = false;
    if (PQresultStatus(in) != PGRES_TUPLES_OK)
        goto out;
    const char *why = NULL;
    char net[24], vat[24], gross[24];
    const char *currency = NULL;
    const struct tz *zone = NULL;
    if (PQntuples(in) != 1) {
        why = "its tariff version is gone";
    } else {
        const char *zname = PQgetvalue(in, 0, 8);
        zone = tz_get(zname);
        if (!zone) {
            log_warn(NULL, "pricing: session %s: zone '%s' unknown, priced in UTC", id, zname);
            zone = tz_get("UTC");
        }
        currency = PQgetvalue(in, 0, 4);
        size_t n_energy = parse_samples(PQgetisnull(in, 0, 9) ? NULL : PQgetvalue(in, 0, 9), &energy);
        size_t n_power = parse_samples(PQgetisnull(in, 0, 10) ? NULL : PQgetvalue(in, 0, 10), &power);
        struct pricing_session s = {
            .start_ms = num(in, 0, 0, 0), .stop_ms = num(in, 0, 1, 0),
            .meter_start_wh = num(in, 0, 2, 0), .meter_stop_wh = num(in, 0, 3, 0),
            .energy = energy, .n_energy = n_energy, .power = power, .n_power = n_power,
            .status_ended_ms = num(in, 0, 11, PRICING_NONE), .idle_power_w = PRICING_IDLE_POWER_W_DEFAULT,
        };
        /* the inputs' row names the version: read its elements */
        PGresult *tv = PQexecParams(c, "SELECT tariff_id, tariff_version::text FROM sessions WHERE id = $1::bigint",
                                    1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(tv) != PGRES_TUPLES_OK || PQntuples(tv) != 1) {
            PQclear(tv);
            goto out;
        }
        const char *ep[2] = { PQgetvalue(tv, 0, 0), PQgetvalue(tv, 0, 1) };
        el = PQexecParams(c, "SELECT * FROM ocppgw_tariff_elements($1, $2::integer)", 2, NULL, ep, NULL, NULL, 0);
        PQclear(tv);
        if (PQresultStatus(el) != PGRES_TUPLES_OK)
            goto out;
        int ne = PQntuples(el);
        if (ne < 1 || ne > PRICING_JOB_ELEMENTS_MAX) {
            why = "its tariff version has no usable elements";
        } else {
            for (int i = 0; i < ne; i++)
                elems[i] = (struct pricing_element){
                    .energy = num(el, i, 1, 0), .time = num(el, i, 2, 0), .idle = num(el, i, 3, 0),
                    .idle_grace_min = (int32_t)num(el, i, 4, 0), .session_fee = num(el, i, 5, 0),
                    .start_min = (int32_t)num(el, i, 6, -1), .end_min = (int32_t)num(el, i, 7, -1),
                    .days = (unsigned)num(el, i, 8, 0),
                };
            struct pricing_tariff t = {
                .elements = elems, .n_elements = (size_t)ne, .vat_percent = num(in, 0, 5, 0),
                .min_price = num(in, 0, 6, PRICING_NONE), .max_price = num(in, 0, 7, PRICING_NONE),
            };
            why = pricing_compute(&t, zone, &s, &res);
        }
    }
    if (why) {
        log_warn(NULL, "pricing: session %s has no cost: %s", id, why);
        up = PQexecParams(c, "UPDATE sessions SET cost_state = 'final', updated_at = now() WHERE id = $1::bigint",
                          1, NULL, params, NULL, NULL, 0);
    } else {
        json = breakdown_json(&res);
        snprintf(net, sizeof net, "%lld", (long long)res.net);
        snprintf(vat, sizeof vat, "%lld", (long long)res.vat);
        snprintf(gross, sizeof gross, "%lld", (long long)res.gross);
        const char *up_params[8] = { id, gross, net, vat, json, currency, receipt_prefix,
                                     zone ? tz_name(zone) : NULL };
        /* COALESCE evaluates ocppgw_receipt_next only for a session without a number */
        up = PQexecParams(c,
                          "UPDATE sessions SET cost = $2::bigint, cost_net = $3::bigint, cost_vat = $4::bigint,"
                          " cost_breakdown = $5::jsonb, currency = $6, cost_final = true, cost_state = 'final',"
                          " receipt_number = coalesce(receipt_number, ocppgw_receipt_next($7)), cost_zone = $8,"
                          " updated_at = now() WHERE id = $1::bigint",
                          8, NULL, up_params, NULL, NULL, 0);
    }
    ok = PQresultStatus(up) == PGRES_COMMAND_OK;
out:
    if (!ok)
        log_warn(NULL, "pricing: session %s: %s", id, PQerrorMessage(c));
    PQclear(up);
    free(json);
    pricing_result_free(&res);
    free(energy);
    free(power);
    PQclear(el);
    PQclear(in);
    return ok;
}

/* One round: claims a batch and prices it in one transaction. The number priced, -1 on an error. */
static int price_batch(PGconn *c, const char *receipt_prefix)
{
    if (!exec_ok(c, "BEGIN"))
        return -1;
    PGresult *r = PQexec(c, "SELECT id FROM sessions WHERE cost_state = 'pending' ORDER BY id"
                            " LIMIT " STR(PRICING_JOB_BATCH) " FOR UPDATE SKIP LOCKED");
    int n = -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        goto out;
    n = PQntuples(r);
    for (int i = 0; i < n; i++)
        if (!price_one(c, PQgetvalue(r, i, 0), receipt_prefix)) {
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

static void *pricing_main(void *arg)
{
    struct store_pricing *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stopping) {
        pthread_mutex_unlock(&p->mu);
        int n = 0;
        if (!p->db || PQstatus(p->db) != CONNECTION_OK) {
            if (p->db)
                PQfinish(p->db);
            p->db = NULL;
            connect_db(p);
        }
        if (p->db) {
            n = price_batch(p->db, p->receipt_prefix);
            if (n > 0)
                log_info(NULL, "pricing: %d session%s priced", n, n == 1 ? "" : "s");
        }
        pthread_mutex_lock(&p->mu);
        if (n >= PRICING_JOB_BATCH || p->stopping)
            continue;               /* a full batch: more may be waiting */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)PRICING_JOB_PERIOD_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (!p->stopping && pthread_cond_timedwait(&p->cv, &p->mu, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&p->mu);
    if (p->db)
        PQfinish(p->db);
    p->db = NULL;
    return NULL;
}

struct store_pricing *store_pricing_start(const char *conninfo, const char *receipt_prefix)
{
    struct store_pricing *p = xcalloc(1, sizeof *p);
    p->conninfo = xstrdup(conninfo);
    p->receipt_prefix = xstrdup(receipt_prefix);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pthread_create(&p->thread, NULL, pricing_main, p) != 0) {
        log_error(NULL, "pricing: cannot start its thread");
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        free(p->conninfo);
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
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->conninfo);
    free(p->receipt_prefix);
    free(p);
}
