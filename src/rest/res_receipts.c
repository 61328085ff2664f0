/*
 * A session's receipt: GET /v1/sessions/{id}/receipt (issue 13; spec
 * sites-and-tariffs.md, "Receipts"; docs/api.md, "Receipts"). What the
 * pricing job wrote (src/store/pricing_job.c: the cost, its lines and the
 * receipt number, sql/018 and sql/019) with the charger, its site's name and
 * address, the VAT rate of the tariff version and the start and stop in the
 * zone the pricing used (the site's, else the charger's, else UTC), as JSON
 * or, when the Accept header prefers it, as a small printable HTML page
 * (inline CSS, no scripts, no external assets, every text escaped).
 *
 * One statement; the key check is the session's (403 for a session of a
 * charger outside the key's). A session with no receipt (still active, not
 * priced yet, no tariff, or a tariff pricing refused) is 409
 * RECEIPT_NOT_AVAILABLE with context.reason.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "rest.h"
#include "rest_query.h"
#include "rest_res.h"
#include "store_job.h"
#include "strbuf.h"
#include "tz.h"

enum {
    C_ID, C_CHARGER, C_SITE_ID, C_STATUS, C_COST_STATE, C_TARIFF, C_GROSS, C_NET, C_VAT, C_LINES,
    C_CURRENCY, C_NUMBER, C_CHARGER_NAME, C_SITE_NAME, C_STREET, C_POSTAL, C_CITY, C_COUNTRY, C_ZONE,
    C_START, C_END, C_VAT_PERCENT, C_HAS_SITE
};

/* the zone the pricing used (sql/019), else ocppgw_session_cost_input's rule (sql/021) */
static const char receipt_sql[] =
    "SELECT s.id, s.charger_id, c.site_id, s.status, s.cost_state, s.tariff_id, s.cost, s.cost_net,"
    " s.cost_vat, s.cost_breakdown::text, s.currency, s.receipt_number, c.name, st.name, st.street,"
    " st.postal_code, st.city, st.country, coalesce(s.cost_zone, st.time_zone, c.time_zone, 'UTC'),"
    " floor(date_part('epoch', s.start_time))::bigint, floor(date_part('epoch', s.end_time))::bigint,"
    " v.vat_percent::text, st.id IS NOT NULL"
    " FROM sessions s LEFT JOIN chargers c ON c.id = s.charger_id LEFT JOIN sites st ON st.id = c.site_id"
    " LEFT JOIN tariff_versions v ON v.tariff_id = s.tariff_id AND v.version = s.tariff_version"
    " WHERE s.id = $1::bigint";

/* ---- money ---- */

/* ISO 4217 minor unit digits of the currencies without two. */
static int minor_digits(const char *currency)
{
    static const char *const zero[] = {
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV",
        "XAF", "XOF", "XPF", NULL
    };
    static const char *const three[] = { "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND", NULL };
    for (const char *const *c = zero; *c; c++)
        if (strcmp(*c, currency) == 0)
            return 0;
    for (const char *const *c = three; *c; c++)
        if (strcmp(*c, currency) == 0)
            return 3;
    if (strcmp(currency, "CLF") == 0 || strcmp(currency, "UYW") == 0)
        return 4;
    return 2;
}

/* Whole minor units as major units: 735 EUR -> "7.35". */
static void put_money(struct strbuf *b, int64_t minor, int digits)
{
    uint64_t a = minor < 0 ? 0 - (uint64_t)minor : (uint64_t)minor;
    uint64_t scale = 1;
    for (int i = 0; i < digits; i++)
        scale *= 10;
    strbuf_printf(b, "%s%llu", minor < 0 ? "-" : "", (unsigned long long)(a / scale));
    if (digits)
        strbuf_printf(b, ".%0*llu", digits, (unsigned long long)(a % scale));
}

/*
 * A decimal of minor units (a line's amount or unit price, up to seven
 * decimals) as major units, at least `digits` decimals, trailing zeros
 * beyond them dropped: 197.5 EUR cents -> "1.975", 50 -> "0.50".
 */
static void put_decimal_major(struct strbuf *b, double minor, int digits)
{
    double major = minor;
    for (int i = 0; i < digits; i++)
        major /= 10;
    char t[64];
    snprintf(t, sizeof t, "%.*f", 7 + digits, major);
    char *dot = strchr(t, '.');
    if (dot) {
        char *end = t + strlen(t);
        while (end > dot + 1 + digits && end[-1] == '0')
            *--end = '\0';
        if (end == dot + 1)
            *dot = '\0';
    }
    strbuf_puts(b, strcmp(t, "-0") == 0 ? "0" : t);
}

/* ---- HTML ---- */

static void put_html(struct strbuf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': strbuf_puts(b, "&amp;"); break;
        case '<': strbuf_puts(b, "&lt;"); break;
        case '>': strbuf_puts(b, "&gt;"); break;
        case '"': strbuf_puts(b, "&quot;"); break;
        case '\'': strbuf_puts(b, "&#39;"); break;
        default: strbuf_putc(b, *s);
        }
    }
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* A local ISO 8601 time as "2026-03-29 03:30 (+02:00)" for people. */
static void put_local_time(struct strbuf *b, const char *iso)
{
    if (!iso || strlen(iso) < 25) {
        put_html(b, iso);
        return;
    }
    char t[64];
    snprintf(t, sizeof t, "%.10s %.5s (%s)", iso, iso + 11, iso + 19);
    put_html(b, t);
}

static const char receipt_css[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#111;"
    "max-width:42em;margin:2em auto;padding:0 1em;line-height:1.4}"
    "h1{font-size:1.4em;margin:0 0 .2em}"
    ".muted{color:#555}"
    "table{border-collapse:collapse;width:100%;margin:1em 0}"
    "th,td{text-align:left;padding:.3em .4em;border-bottom:1px solid #ddd;vertical-align:top}"
    "td.n,th.n{text-align:right;white-space:nowrap}"
    "tr.total td{font-weight:bold;border-bottom:2px solid #111}"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em;margin:1em 0}"
    "dt{color:#555}dd{margin:0}"
    "@media print{body{margin:0;max-width:none;font-size:11pt}a{color:inherit;text-decoration:none}"
    "th,td{border-color:#999}}";

/* The page of a receipt built by receipt_json (borrowed); caller frees. */
static char *receipt_html(const cJSON *rc)
{
    const char *currency = str_of(rc, "currency");
    int digits = minor_digits(currency ? currency : "");
    struct strbuf b = { 0 };
    const char *number = str_of(rc, "receiptNumber");
    strbuf_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Receipt ");
    put_html(&b, number);
    strbuf_printf(&b, "</title><style>%s</style></head><body>\n<h1>Receipt ", receipt_css);
    put_html(&b, number);
    strbuf_puts(&b, "</h1>\n");
    const cJSON *site = cJSON_GetObjectItemCaseSensitive(rc, "site");
    if (cJSON_IsObject(site)) {
        strbuf_puts(&b, "<p>");
        const char *name = str_of(site, "name");
        if (name) {
            strbuf_puts(&b, "<strong>");
            put_html(&b, name);
            strbuf_puts(&b, "</strong>");
        }
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(site, "address");
        const char *street = str_of(a, "street"), *postal = str_of(a, "postalCode"), *city = str_of(a, "city"),
                   *country = str_of(a, "country");
        if (street) {
            strbuf_puts(&b, "<br>");
            put_html(&b, street);
        }
        if (postal || city) {
            strbuf_puts(&b, "<br>");
            put_html(&b, postal);
            strbuf_puts(&b, postal && city ? " " : "");
            put_html(&b, city);
        }
        if (country) {
            strbuf_puts(&b, "<br>");
            put_html(&b, country);
        }
        strbuf_puts(&b, "</p>\n");
    }
    const cJSON *charger = cJSON_GetObjectItemCaseSensitive(rc, "charger");
    char sid[32];
    snprintf(sid, sizeof sid, "%.0f", num_of(rc, "session"));
    strbuf_puts(&b, "<dl><dt>Session</dt><dd>");
    put_html(&b, sid);
    strbuf_puts(&b, "</dd><dt>Charger</dt><dd>");
    const char *cname = str_of(charger, "name");
    if (cname) {
        put_html(&b, cname);
        strbuf_puts(&b, " <span class=\"muted\">(");
        put_html(&b, str_of(charger, "id"));
        strbuf_puts(&b, ")</span>");
    } else {
        put_html(&b, str_of(charger, "id"));
    }
    strbuf_puts(&b, "</dd><dt>Start</dt><dd>");
    put_local_time(&b, str_of(rc, "startLocal"));
    strbuf_puts(&b, "</dd><dt>End</dt><dd>");
    put_local_time(&b, str_of(rc, "endLocal"));
    strbuf_puts(&b, "</dd></dl>\n<table><thead><tr><th>Item</th><th class=\"n\">Quantity</th>"
                    "<th class=\"n\">Unit price</th><th class=\"n\">Amount</th></tr></thead><tbody>\n");
    const cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(rc, "lines")) {
        const char *comp = str_of(l, "component"), *unit = str_of(l, "unit");
        static const struct { const char *component, *label; } labels[] = {
            { "energy", "Energy" }, { "time", "Charging time" }, { "idle", "Idle time" },
            { "sessionFee", "Session fee" },
        };
        const char *label = comp;
        for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
            if (comp && strcmp(comp, labels[i].component) == 0)
                label = labels[i].label;
        char q[40];
        snprintf(q, sizeof q, "%.7g", num_of(l, "quantity"));
        strbuf_puts(&b, "<tr><td>");
        put_html(&b, label);
        strbuf_puts(&b, "</td><td class=\"n\">");
        put_html(&b, q);
        strbuf_puts(&b, " ");
        put_html(&b, unit);
        strbuf_puts(&b, "</td><td class=\"n\">");
        put_decimal_major(&b, num_of(l, "unitPrice"), digits);
        strbuf_puts(&b, " ");
        put_html(&b, currency);
        strbuf_puts(&b, "/");
        put_html(&b, unit);
        strbuf_puts(&b, "</td><td class=\"n\">");
        put_decimal_major(&b, num_of(l, "amount"), digits);
        strbuf_puts(&b, " ");
        put_html(&b, currency);
        strbuf_puts(&b, "</td></tr>\n");
    }
    strbuf_puts(&b, "</tbody></table>\n<table><tbody><tr><td>Net</td><td class=\"n\">");
    put_money(&b, (int64_t)num_of(rc, "net"), digits);
    strbuf_puts(&b, " ");
    put_html(&b, currency);
    strbuf_puts(&b, "</td></tr><tr><td>VAT");
    const cJSON *pct = cJSON_GetObjectItemCaseSensitive(rc, "vatPercent");
    if (cJSON_IsNumber(pct)) {
        char p[32];
        snprintf(p, sizeof p, " %.4g %%", pct->valuedouble);
        put_html(&b, p);
    }
    strbuf_puts(&b, "</td><td class=\"n\">");
    put_money(&b, (int64_t)num_of(rc, "vat"), digits);
    strbuf_puts(&b, " ");
    put_html(&b, currency);
    strbuf_puts(&b, "</td></tr><tr class=\"total\"><td>Total</td><td class=\"n\">");
    put_money(&b, (int64_t)num_of(rc, "gross"), digits);
    strbuf_puts(&b, " ");
    put_html(&b, currency);
    strbuf_puts(&b, "</td></tr></tbody></table>\n</body></html>\n");
    return strbuf_take(&b);
}

/* ---- JSON ---- */

static void add_str_or_null(cJSON *o, const char *key, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

static void add_local(cJSON *o, const char *key, const struct tz *zone, const char *epoch_s)
{
    char t[TZ_ISO8601_LEN];
    if (epoch_s && tz_format_iso8601(zone, strtoll(epoch_s, NULL, 10), t, sizeof t))
        cJSON_AddStringToObject(o, key, t);
    else
        cJSON_AddNullToObject(o, key);
}

/* The receipt of a priced session's row; NULL if its stored breakdown does not parse. */
static cJSON *receipt_json(const struct store_job *job)
{
    cJSON *lines = cJSON_Parse(rest_job_value(job, 0, C_LINES));
    if (!cJSON_IsArray(lines)) {
        cJSON_Delete(lines);
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "receiptNumber", rest_job_value(job, 0, C_NUMBER));
    cJSON_AddNumberToObject(o, "session", (double)strtoll(rest_job_value(job, 0, C_ID), NULL, 10));
    cJSON *charger = cJSON_AddObjectToObject(o, "charger");
    cJSON_AddStringToObject(charger, "id", rest_job_value(job, 0, C_CHARGER));
    add_str_or_null(charger, "name", rest_job_value(job, 0, C_CHARGER_NAME));
    const char *has_site = rest_job_value(job, 0, C_HAS_SITE);
    if (has_site && strcmp(has_site, "t") == 0) {
        cJSON *site = cJSON_AddObjectToObject(o, "site");
        add_str_or_null(site, "name", rest_job_value(job, 0, C_SITE_NAME));
        cJSON *a = cJSON_AddObjectToObject(site, "address");
        add_str_or_null(a, "street", rest_job_value(job, 0, C_STREET));
        add_str_or_null(a, "city", rest_job_value(job, 0, C_CITY));
        add_str_or_null(a, "postalCode", rest_job_value(job, 0, C_POSTAL));
        add_str_or_null(a, "country", rest_job_value(job, 0, C_COUNTRY));
    } else {
        cJSON_AddNullToObject(o, "site");
    }
    cJSON_AddItemToObject(o, "lines", lines);
    const int money[] = { C_NET, C_VAT };
    const char *const money_keys[] = { "net", "vat" };
    for (int i = 0; i < 2; i++) {
        const char *v = rest_job_value(job, 0, money[i]);
        if (v)
            cJSON_AddNumberToObject(o, money_keys[i], (double)strtoll(v, NULL, 10));
        else
            cJSON_AddNullToObject(o, money_keys[i]);
    }
    const char *pct = rest_job_value(job, 0, C_VAT_PERCENT);
    if (pct)
        cJSON_AddNumberToObject(o, "vatPercent", strtod(pct, NULL));
    else
        cJSON_AddNullToObject(o, "vatPercent");
    cJSON_AddNumberToObject(o, "gross", (double)strtoll(rest_job_value(job, 0, C_GROSS), NULL, 10));
    add_str_or_null(o, "currency", rest_job_value(job, 0, C_CURRENCY));
    /* tz_get reads a zone's file once per process; the pricing job has loaded this one already */
    const struct tz *zone = tz_get(rest_job_value(job, 0, C_ZONE));
    if (!zone)
        zone = tz_get("UTC");
    add_local(o, "startLocal", zone, rest_job_value(job, 0, C_START));
    add_local(o, "endLocal", zone, rest_job_value(job, 0, C_END));
    return o;
}

static void not_available(struct rest_request *r, const char *id, const char *reason, const char *why)
{
    char msg[160];
    snprintf(msg, sizeof msg, "session '%.32s' has no receipt: %s", id, why);
    cJSON *ctx = cJSON_CreateObject();
    cJSON_AddStringToObject(ctx, "sessionId", id);
    cJSON_AddStringToObject(ctx, "reason", reason);
    rest_reply_error(r, REST_ERR_RECEIPT_NOT_AVAILABLE, msg, ctx);
}

static void receipt_done(struct rest_request *r, struct store_job *job)
{
    const char *id = rest_param(r, "id");
    if (job->status != STORE_OK) {
        rest_reply_store_error(r, job);
        return;
    }
    if (rest_job_rows(job) < 1) {
        res_not_found(r, "session", "sessionId", id);
        return;
    }
    if (!res_key_sees(r, rest_job_value(job, 0, C_CHARGER), rest_job_value(job, 0, C_SITE_ID))) {
        res_forbidden(r, "session", "sessionId", id);
        return;
    }
    const char *status = rest_job_value(job, 0, C_STATUS), *state = rest_job_value(job, 0, C_COST_STATE);
    if (!status || strcmp(status, "completed") != 0) {
        not_available(r, id, "active", "the session is still active");
        return;
    }
    if (!rest_job_value(job, 0, C_TARIFF)) {
        not_available(r, id, "noTariff", "the session has no tariff");
        return;
    }
    if (state && strcmp(state, "pending") == 0) {
        not_available(r, id, "costPending", "its cost is not computed yet; retry in a few seconds");
        return;
    }
    if (!rest_job_value(job, 0, C_GROSS) || !rest_job_value(job, 0, C_NUMBER)) {
        not_available(r, id, "noCost", "its tariff could not price it");
        return;
    }
    cJSON *rc = receipt_json(job);
    if (!rc) {
        rest_reply_error(r, REST_ERR_INTERNAL, "the session's cost breakdown does not parse", NULL);
        return;
    }
    rest_add_header(r, "Vary", "Accept");
    const char *accept = rest_header(r, "accept");
    double q_html = rest_accept_q(accept, "text/html"), q_json = rest_accept_q(accept, "application/json");
    if (q_html > q_json) {
        char *page = receipt_html(rc);
        cJSON_Delete(rc);
        rest_reply_text(r, 200, "text/html; charset=utf-8", page, strlen(page));
        free(page);
        return;
    }
    rest_reply_json(r, 200, rc);
}

void res_session_receipt(struct rest_request *r)
{
    const char *id = res_session_param(r);
    if (!id)
        return;
    rest_sql(r, receipt_sql, 1, &id, receipt_done);
}
