/*
 * A session's cost from ocppgw_session_cost_input's text (sql/021): parse,
 * price with pricing_compute, format the breakdown as the API shows it.
 * Shared by the pricing job (a final cost) and REST's estimate of an
 * active session (include/session_cost.h).
 */
#include <stdlib.h>
#include <string.h>

#include "pricing.h"
#include "session_cost.h"
#include "store_job.h"
#include "strbuf.h"
#include "tz.h"
#include "util.h"

#define INPUT_FIELDS 14
#define ELEMENTS_MAX 64

enum {
    F_START, F_STOP, F_METER_START, F_METER_STOP, F_ESTIMATE, F_CURRENCY, F_VAT, F_MIN, F_MAX, F_ZONE,
    F_STATUS_ENDED, F_ENERGY, F_POWER, F_ELEMENTS
};

struct field {
    const char *p;
    size_t n;
};

/* A decimal integer filling exactly [p, p + n); empty gives dflt when allowed. */
static bool field_int(const struct field *f, bool may_be_empty, int64_t dflt, int64_t *out)
{
    if (f->n == 0) {
        *out = dflt;
        return may_be_empty;
    }
    char buf[24];
    if (f->n >= sizeof buf)
        return false;
    memcpy(buf, f->p, f->n);
    buf[f->n] = '\0';
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (*end)
        return false;
    *out = v;
    return true;
}

/* "ms:value,ms:value" (n bytes) into *out (caller frees); the count, or -1 if malformed. */
static long parse_samples(const struct field *f, struct pricing_sample **out)
{
    *out = NULL;
    if (f->n == 0)
        return 0;
    size_t n = 1;
    for (size_t i = 0; i < f->n; i++)
        n += f->p[i] == ',';
    struct pricing_sample *v = xcalloc(n, sizeof *v);
    const char *q = f->p, *end_all = f->p + f->n;
    size_t k = 0;
    while (k < n) {
        char *end;
        v[k].at_ms = strtoll(q, &end, 10);
        if (end == q || *end != ':')
            break;
        q = end + 1;
        v[k].value = strtoll(q, &end, 10);
        if (end == q || end > end_all)
            break;
        k++;
        if (end == end_all)
            break;
        if (*end != ',')
            break;
        q = end + 1;
    }
    *out = v;
    return k == n ? (long)n : -1;
}

/* "e,t,i,g,f,s,e,d;..." into elems; the count, or -1 if malformed or more than cap. */
static long parse_elements(const struct field *f, struct pricing_element *elems, size_t cap)
{
    const char *q = f->p, *end_all = f->p + f->n;
    size_t k = 0;
    while (q < end_all) {
        if (k == cap)
            return -1;
        int64_t v[8];
        for (int i = 0; i < 8; i++) {
            char *end;
            v[i] = strtoll(q, &end, 10);
            if (end == q || end > end_all || (i < 7 && *end != ','))
                return -1;
            q = end + 1;
            if (i == 7 && end < end_all && *end != ';')
                return -1;
        }
        elems[k++] = (struct pricing_element){
            .energy = v[0], .time = v[1], .idle = v[2], .idle_grace_min = (int32_t)v[3],
            .session_fee = v[4], .start_min = (int32_t)v[5], .end_min = (int32_t)v[6], .days = (unsigned)v[7],
        };
    }
    return (long)k;
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

const char *session_cost_compute(const char *input, int32_t idle_power_w, struct session_cost *out)
{
    memset(out, 0, sizeof *out);
    if (!input)
        return "it has no tariff version";
    struct field f[INPUT_FIELDS];
    const char *q = input;
    for (int i = 0; i < INPUT_FIELDS; i++) {
        const char *bar = strchr(q, '|');
        if (!bar && i < INPUT_FIELDS - 1)
            return "its cost input is malformed";
        f[i] = (struct field){ q, bar ? (size_t)(bar - q) : strlen(q) };
        q = bar ? bar + 1 : q + f[i].n;
    }
    int64_t start, stop, m0, m1, est, vat, min, max, ended;
    if (!field_int(&f[F_START], false, 0, &start) || !field_int(&f[F_STOP], false, 0, &stop) ||
        !field_int(&f[F_METER_START], false, 0, &m0) || !field_int(&f[F_METER_STOP], false, 0, &m1) ||
        !field_int(&f[F_ESTIMATE], false, 0, &est) || !field_int(&f[F_VAT], true, 0, &vat) ||
        !field_int(&f[F_MIN], true, PRICING_NONE, &min) || !field_int(&f[F_MAX], true, PRICING_NONE, &max) ||
        !field_int(&f[F_STATUS_ENDED], true, PRICING_NONE, &ended) || f[F_CURRENCY].n != 3)
        return "its cost input is malformed";

    struct pricing_element elems[ELEMENTS_MAX];
    long ne = parse_elements(&f[F_ELEMENTS], elems, ELEMENTS_MAX);
    if (ne < 1)
        return "its tariff version has no usable elements";
    char zname[128];
    if (f[F_ZONE].n >= sizeof zname)
        return "its cost input is malformed";
    memcpy(zname, f[F_ZONE].p, f[F_ZONE].n);
    zname[f[F_ZONE].n] = '\0';
    const struct tz *zone = tz_get(zname);
    bool zone_unknown = !zone;
    if (!zone)
        zone = tz_get("UTC");

    struct pricing_sample *energy = NULL, *power = NULL;
    long n_energy = parse_samples(&f[F_ENERGY], &energy);
    long n_power = parse_samples(&f[F_POWER], &power);
    const char *why = NULL;
    struct pricing_result res = { 0 };
    if (n_energy < 0 || n_power < 0) {
        why = "its cost input is malformed";
        goto out;
    }
    struct pricing_session s = {
        .start_ms = start, .stop_ms = stop, .estimate = est != 0, .meter_start_wh = m0, .meter_stop_wh = m1,
        .energy = energy, .n_energy = (size_t)n_energy, .power = power, .n_power = (size_t)n_power,
        .status_ended_ms = ended, .idle_power_w = idle_power_w,
    };
    struct pricing_tariff t = {
        .elements = elems, .n_elements = (size_t)ne, .vat_percent = vat, .min_price = min, .max_price = max,
    };
    why = pricing_compute(&t, zone, &s, &res);
    if (why)
        goto out;
    out->net = res.net;
    out->vat = res.vat;
    out->gross = res.gross;
    memcpy(out->currency, f[F_CURRENCY].p, 3);
    out->currency[3] = '\0';
    out->final = res.final;
    out->zone_unknown = zone_unknown;
    out->zone = tz_name(zone);
    out->breakdown = breakdown_json(&res);
out:
    pricing_result_free(&res);
    free(energy);
    free(power);
    return why;
}

const char *session_energy_compute(const char *input, int32_t idle_power_w, int64_t slot_ms, size_t max_slots,
                                   struct pricing_split *out)
{
    memset(out, 0, sizeof *out);
    if (!input)
        return "it is not a completed session";
    struct field f[INPUT_FIELDS];
    const char *q = input;
    for (int i = 0; i < INPUT_FIELDS; i++) {
        const char *bar = strchr(q, '|');
        if (!bar && i < INPUT_FIELDS - 1)
            return "its input is malformed";
        f[i] = (struct field){ q, bar ? (size_t)(bar - q) : strlen(q) };
        q = bar ? bar + 1 : q + f[i].n;
    }
    int64_t start, stop, m0, m1, est, ended;
    if (!field_int(&f[F_START], false, 0, &start) || !field_int(&f[F_STOP], false, 0, &stop) ||
        !field_int(&f[F_METER_START], false, 0, &m0) || !field_int(&f[F_METER_STOP], false, 0, &m1) ||
        !field_int(&f[F_ESTIMATE], false, 0, &est) ||
        !field_int(&f[F_STATUS_ENDED], true, PRICING_NONE, &ended))
        return "its input is malformed";
    struct pricing_sample *energy = NULL, *power = NULL;
    long n_energy = parse_samples(&f[F_ENERGY], &energy);
    long n_power = parse_samples(&f[F_POWER], &power);
    const char *why = "its input is malformed";
    if (n_energy >= 0 && n_power >= 0) {
        struct pricing_session s = {
            .start_ms = start, .stop_ms = stop, .estimate = est != 0, .meter_start_wh = m0, .meter_stop_wh = m1,
            .energy = energy, .n_energy = (size_t)n_energy, .power = power, .n_power = (size_t)n_power,
            .status_ended_ms = ended, .idle_power_w = idle_power_w,
        };
        why = pricing_split_slots(&s, slot_ms, max_slots, out);
    }
    free(energy);
    free(power);
    return why;
}

void session_cost_clear(struct session_cost *c)
{
    free(c->breakdown);
    memset(c, 0, sizeof *c);
}

char *session_cost_members_json(const struct session_cost *c)
{
    struct strbuf b = { 0 };
    strbuf_printf(&b, "{\"cost\":%lld,\"net\":%lld,\"vat\":%lld,\"currency\":\"%s\",\"costBreakdown\":%s,"
                      "\"costFinal\":%s}",
                  (long long)c->gross, (long long)c->net, (long long)c->vat, c->currency,
                  c->breakdown ? c->breakdown : "[]", c->final ? "true" : "false");
    return strbuf_take(&b);
}

void session_cost_estimate_rows(struct store_job *job)
{
    int col = job->in.sql.hook.col, nf = job->out.sql.nfields;
    if (col < 0 || col >= nf)
        return;
    for (int row = 0; row < job->out.sql.ntuples; row++) {
        char **v = &job->out.sql.values[(size_t)row * (size_t)nf + (size_t)col];
        if (!*v)
            continue;
        struct session_cost c;
        const char *why = session_cost_compute(*v, job->in.sql.hook.arg, &c);
        free(*v);
        *v = why ? NULL : session_cost_members_json(&c);
        session_cost_clear(&c);
    }
}
