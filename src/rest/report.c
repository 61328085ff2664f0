/*
 * Reports (../shared/spec/reports.md): the query of GET /v1/reports/energy
 * and /v1/reports/utilization validated, their columns and their statement
 * (include/rest_query.h). Pure, like query.c: the handler in res_reports.c
 * glues it to the framework.
 *
 * The figures come from the SQL functions ocppgw_report_energy and
 * ocppgw_report_utilization (sql/023, sql/024), which read the rollups
 * (docs/architecture.md, "Reports: rollups"); this file only says which
 * chargers they cover and how the rows are grouped and ordered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocpp_msg.h"
#include "rest_query.h"
#include "util.h"

#define DAY_MS (24LL * 3600 * 1000)

static bool fail(struct rest_param_error *err, const char *param, const char *reason)
{
    snprintf(err->param, sizeof err->param, "%s", param);
    snprintf(err->reason, sizeof err->reason, "%s", reason);
    return false;
}

static const struct rest_filter f_from = { "from", REST_F_TIME, NULL, 0, NULL, 0, 0, NULL };
static const struct rest_filter f_to = { "to", REST_F_TIME, NULL, 0, NULL, 0, 0, NULL };
static const struct rest_filter f_site = { "siteId", REST_F_TEXT, NULL, 64, NULL, 0, 0, NULL };
static const struct rest_filter f_chargers = { "chargerIds", REST_F_LIST, NULL, OCPP_CHARGER_ID_MAX, NULL, 0, 0, NULL };

static bool parse_time(const struct rest_filter *f, const struct rest_query_source *src, int64_t *out,
                       struct rest_param_error *err)
{
    char *v = NULL;
    if (!rest_param_parse(f, src, &v, err))
        return false;
    if (!v)
        return fail(err, f->param, "is required: an ISO 8601 date-time with offset, e.g. 2026-01-01T00:00:00+01:00");
    *out = strtoll(v, NULL, 10);
    free(v);
    return true;
}

static const char *const group_names[] = { "site", "charger", "day", "week", "month", NULL };

static bool parse_group(const struct rest_query_source *src, struct rest_report_req *req,
                        struct rest_param_error *err)
{
    const char *items[8];
    size_t n = src->list(src->ctx, "groupBy", items, 8);
    if (n == 0 && src->get(src->ctx, "groupBy"))
        return fail(err, "groupBy", "must list at least one of: site, charger, day, week, month");
    if (n > 3)
        return fail(err, "groupBy", "at most three keys: site, charger and one of day, week, month");
    for (size_t i = 0; i < n; i++) {
        int which = -1;
        for (int g = 0; group_names[g]; g++)
            if (strcmp(items[i], group_names[g]) == 0)
                which = g;
        if (which < 0)
            return fail(err, "groupBy", "must list keys of: site, charger, day, week, month");
        enum rest_report_key k = which == 0 ? REST_RKEY_SITE : which == 1 ? REST_RKEY_CHARGER : REST_RKEY_PERIOD;
        if (rest_report_by(req, k))
            return fail(err, "groupBy", k == REST_RKEY_PERIOD ? "may name only one of day, week, month"
                                                               : "names a key twice");
        if (k == REST_RKEY_PERIOD)
            req->period = group_names[which];
        req->keys[req->nkeys++] = k;
    }
    return true;
}

bool rest_report_parse(enum rest_report_kind kind, const struct rest_query_source *src,
                       struct rest_report_req *req, struct rest_param_error *err)
{
    memset(req, 0, sizeof *req);
    req->kind = kind;
    if (!parse_time(&f_from, src, &req->from_ms, err) || !parse_time(&f_to, src, &req->to_ms, err))
        return false;
    if (req->to_ms <= req->from_ms)
        return fail(err, "to", "must be later than from");
    if (req->to_ms - req->from_ms > REST_REPORT_MAX_DAYS * DAY_MS)
        return fail(err, "to", "must be at most 400 days after from");
    if (!rest_param_parse(&f_site, src, &req->site_id, err) ||
        !rest_param_parse(&f_chargers, src, &req->charger_ids, err))
        return false;
    return parse_group(src, req, err);
}

void rest_report_req_free(struct rest_report_req *req)
{
    free(req->site_id);
    free(req->charger_ids);
    memset(req, 0, sizeof *req);
}

bool rest_report_by(const struct rest_report_req *req, enum rest_report_key k)
{
    for (int i = 0; i < req->nkeys; i++)
        if (req->keys[i] == k)
            return true;
    return false;
}

/* the group columns (r: the function's row alias), then each kind's figures */
static const struct rest_col col_site = { "siteId", "r.site_id", REST_COL_STR, NULL };
static const struct rest_col col_charger = { "chargerId", "r.charger_id", REST_COL_STR, NULL };
static const struct rest_col col_period = { "period", "r.period", REST_COL_STR, NULL };

static const struct rest_col energy_cols[] = {
    { "sessions", "r.sessions", REST_COL_INT, NULL },
    { "energyWh", "r.energy_wh", REST_COL_INT, NULL },
    { "chargingSeconds", "r.charging_s", REST_COL_INT, NULL },
    { "idleSeconds", "r.idle_s", REST_COL_INT, NULL },
    /* as json, not jsonb, so that each line reads currency, net, vat, gross (jsonb orders keys by length) */
    { "revenue",
      "(SELECT coalesce(json_agg(json_build_object('currency', x ->> 'currency', 'net', (x ->> 'net')::bigint,"
      " 'vat', (x ->> 'vat')::bigint, 'gross', (x ->> 'gross')::bigint) ORDER BY x ->> 'currency'), '[]')::text"
      " FROM jsonb_array_elements(coalesce(r.revenue, '[]'::jsonb)) x)",
      REST_COL_JSON, NULL },
    { "co2Grams", "r.co2_g", REST_COL_INT, NULL },
};

static const struct rest_col utilization_cols[] = {
    { "connectors", "r.connectors", REST_COL_INT, NULL },
    { "availableSeconds", "r.available_s", REST_COL_INT, NULL },
    { "occupiedSeconds", "r.occupied_s", REST_COL_INT, NULL },
    { "chargingSeconds", "r.charging_s", REST_COL_INT, NULL },
    { "faultedSeconds", "r.faulted_s", REST_COL_INT, NULL },
    { "unavailableSeconds", "r.unavailable_s", REST_COL_INT, NULL },
    { "offlineSeconds", "r.offline_s", REST_COL_INT, NULL },
    { "uptimePct", "r.uptime_pct", REST_COL_NUM, NULL },
    { "occupancyPct", "r.occupancy_pct", REST_COL_NUM, NULL },
};

_Static_assert(3 + sizeof utilization_cols / sizeof utilization_cols[0] <= REST_REPORT_COLS_MAX,
               "REST_REPORT_COLS_MAX holds every column");

size_t rest_report_cols(const struct rest_report_req *req, struct rest_col *out)
{
    size_t n = 0;
    if (rest_report_by(req, REST_RKEY_SITE) || rest_report_by(req, REST_RKEY_CHARGER))
        out[n++] = col_site;
    if (rest_report_by(req, REST_RKEY_CHARGER))
        out[n++] = col_charger;
    if (req->period)
        out[n++] = col_period;
    const struct rest_col *figs = req->kind == REST_REPORT_ENERGY ? energy_cols : utilization_cols;
    size_t nf = req->kind == REST_REPORT_ENERGY ? sizeof energy_cols / sizeof energy_cols[0]
                                                : sizeof utilization_cols / sizeof utilization_cols[0];
    for (size_t i = 0; i < nf; i++)
        out[n++] = figs[i];
    return n;
}

void rest_report_sql(const struct rest_report_req *req, char *const *charger_ids, char *const *site_ids,
                     struct rest_sqlb *b)
{
    struct rest_col cols[REST_REPORT_COLS_MAX];
    size_t n = rest_report_cols(req, cols);
    char *list = rest_select_list(cols, n);
    rest_sqlb_add(b, "SELECT ");
    rest_sqlb_add(b, list);
    free(list);
    rest_sqlb_add(b, req->kind == REST_REPORT_ENERGY ? " FROM ocppgw_report_energy("
                                                     : " FROM ocppgw_report_utilization(");
    char num[24];
    snprintf(num, sizeof num, "%lld", (long long)req->from_ms);
    rest_sqlb_frag(b, "ocppgw_ts($?::bigint), ", rest_sqlb_param(b, num));
    snprintf(num, sizeof num, "%lld", (long long)req->to_ms);
    rest_sqlb_frag(b, "ocppgw_ts($?::bigint), ", rest_sqlb_param(b, num));

    /* the chargers: every one (NULL) unless a filter or the key narrows them */
    bool restricted = charger_ids || site_ids;
    if (!req->site_id && !req->charger_ids && !restricted) {
        rest_sqlb_add(b, "NULL::text[], ");
    } else {
        rest_sqlb_add(b, "ARRAY(SELECT c.id FROM chargers c WHERE true");
        if (req->site_id)
            rest_sqlb_frag(b, " AND c.site_id = $?", rest_sqlb_param(b, req->site_id));
        if (req->charger_ids)
            rest_sqlb_frag(b, " AND c.id = ANY($?::text[])", rest_sqlb_param(b, req->charger_ids));
        rest_sqlb_restrict(b, b, " AND ", "c.id = ANY($?::text[])", "c.site_id = ANY($?::text[])",
                           charger_ids, site_ids);
        rest_sqlb_add(b, "), ");
    }
    rest_sqlb_frag(b, "$?::boolean, ", rest_sqlb_param(b, rest_report_by(req, REST_RKEY_SITE) ? "true" : "false"));
    rest_sqlb_frag(b, "$?::boolean, ", rest_sqlb_param(b, rest_report_by(req, REST_RKEY_CHARGER) ? "true" : "false"));
    rest_sqlb_frag(b, "$?::text) r", rest_sqlb_param(b, req->period));

    static const char *const order[] = {
        [REST_RKEY_SITE] = "r.site_id", [REST_RKEY_CHARGER] = "r.charger_id", [REST_RKEY_PERIOD] = "r.period",
    };
    for (int i = 0; i < req->nkeys; i++) {
        rest_sqlb_add(b, i ? ", " : " ORDER BY ");
        /* grouping by charger orders by its site first only if site was asked first */
        rest_sqlb_add(b, order[req->keys[i]]);
        rest_sqlb_add(b, " NULLS LAST");
    }
}
