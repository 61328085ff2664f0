/*
 * A site's carbon intensity series (../shared/spec/reports.md, "Carbon";
 * sql/023_report_energy.sql): PUT /v1/sites/{id}/carbon-intensity with
 * [{from, to, gramsPerKwh}] (hourly values from a grid operator) replaces
 * the site's series over the range the body covers, GET reads it back. The
 * energy report multiplies the energy of each 15-minute slot by the value
 * in force at the slot's start, else by the site's co2GramsPerKwh
 * (res_sites.c), else 0. Validation is here (422 naming "[i].from" style
 * fields, as the other endpoints name theirs); the write, the replacement
 * and the queueing of the rollups' rebuild are one SQL function
 * (ocppgw_carbon_put). Scopes are the sites' own (chargers:read/write).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "rest.h"
#include "rest_query.h"
#include "rest_res.h"
#include "store_job.h"
#include "util.h"

#define CARBON_ENTRIES_MAX 10000
#define CARBON_GRAMS_MAX 100000.0
#define CARBON_ERRORS_MAX 20

struct entry {
    int64_t from, to;
    int index;
};

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    return x->from < y->from ? -1 : x->from > y->from;
}

static void bad(cJSON *ctx, int i, const char *member, const char *why)
{
    if (cJSON_GetArraySize(ctx) >= CARBON_ERRORS_MAX)
        return;
    char name[48];
    if (i < 0)
        snprintf(name, sizeof name, "%s", member);
    else
        snprintf(name, sizeof name, "[%d]%s%s", i, *member ? "." : "", member);
    if (!cJSON_GetObjectItemCaseSensitive(ctx, name))
        cJSON_AddStringToObject(ctx, name, why);
}

static bool time_member(const cJSON *o, const char *member, int i, cJSON *ctx, int64_t *ms)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, member);
    if (!v) {
        bad(ctx, i, member, "is required");
        return false;
    }
    if (!cJSON_IsString(v) || !time_parse_iso8601(v->valuestring, ms)) {
        bad(ctx, i, member, "must be an RFC 3339 date-time with offset, e.g. 2026-03-29T01:00:00Z");
        return false;
    }
    return true;
}

/*
 * The body as ocppgw_carbon_put wants it ([{"f": ms, "t": ms, "g": n}];
 * caller frees), or NULL with ctx naming what is wrong.
 */
static char *carbon_items(const cJSON *body, cJSON *ctx)
{
    if (!cJSON_IsArray(body)) {
        bad(ctx, -1, "body", "must be an array of {from, to, gramsPerKwh}");
        return NULL;
    }
    int n = cJSON_GetArraySize(body);
    if (n > CARBON_ENTRIES_MAX) {
        bad(ctx, -1, "body", "must have at most 10000 entries");
        return NULL;
    }
    struct entry *e = xcalloc(n ? (size_t)n : 1, sizeof *e);
    cJSON *out = cJSON_CreateArray();
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, body) {
        if (!cJSON_IsObject(it)) {
            bad(ctx, i, "", "must be an object {from, to, gramsPerKwh}");
            i++;
            continue;
        }
        const cJSON *m;
        cJSON_ArrayForEach(m, it)
            if (strcmp(m->string, "from") != 0 && strcmp(m->string, "to") != 0 && strcmp(m->string, "gramsPerKwh") != 0)
                bad(ctx, i, m->string, "is not a field of a carbon intensity");
        int64_t from = 0, to = 0;
        bool ok = time_member(it, "from", i, ctx, &from);
        ok = time_member(it, "to", i, ctx, &to) && ok;
        if (ok && from >= to) {
            bad(ctx, i, "to", "must be after from");
            ok = false;
        }
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(it, "gramsPerKwh");
        if (!g) {
            bad(ctx, i, "gramsPerKwh", "is required");
            ok = false;
        } else if (!cJSON_IsNumber(g) || !isfinite(g->valuedouble) || g->valuedouble < 0 ||
                   g->valuedouble > CARBON_GRAMS_MAX) {
            bad(ctx, i, "gramsPerKwh", "must be a number from 0 to 100000");
            ok = false;
        }
        if (ok) {
            e[i] = (struct entry){ from, to, i };
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "f", (double)from);
            cJSON_AddNumberToObject(o, "t", (double)to);
            cJSON_AddNumberToObject(o, "g", g->valuedouble);
            cJSON_AddItemToArray(out, o);
        }
        i++;
    }
    if (cJSON_GetArraySize(ctx) == 0) {
        qsort(e, (size_t)n, sizeof *e, entry_cmp);
        for (int k = 1; k < n; k++)
            if (e[k].from < e[k - 1].to)
                bad(ctx, e[k].index, "from", "overlaps another entry of the body");
    }
    free(e);
    char *text = cJSON_GetArraySize(ctx) == 0 ? cJSON_PrintUnformatted(out) : NULL;
    cJSON_Delete(out);
    return text;
}

/* ---- PUT /v1/sites/{id}/carbon-intensity ---- */

static void put_done(struct rest_request *r, struct store_job *job)
{
    const char *id = rest_param(r, "id");
    if (!res_write_done(r, job, "site.carbon_intensity", "site", "siteId", id, REST_ERR_NOT_FOUND))
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "siteId", id);
    cJSON_AddNumberToObject(o, "written", strtod(rest_job_value(job, 0, 0), NULL));
    rest_reply_json(r, 200, o);
}

void res_site_carbon_put(struct rest_request *r)
{
    const char *id = rest_param(r, "id");
    if (res_unknown_params(r))
        return;
    cJSON *ctx = cJSON_CreateObject();
    char *items = carbon_items(rest_body(r), ctx);
    if (!items) {
        res_invalid(r, "site.carbon_intensity", id, ctx);
        return;
    }
    cJSON_Delete(ctx);
    const char *params[] = { id, items };
    rest_sql(r, "SELECT n FROM ocppgw_carbon_put($1, $2::jsonb) n WHERE n IS NOT NULL", 2, params, put_done);
    free(items);
}

/* ---- GET /v1/sites/{id}/carbon-intensity[?from=&to=] ---- */

static const struct rest_filter from_param = { "from", REST_F_TIME, NULL, 0, NULL, 0, 0, NULL };
static const struct rest_filter to_param = { "to", REST_F_TIME, NULL, 0, NULL, 0, 0, NULL };

static void get_done(struct rest_request *r, struct store_job *job)
{
    if (job->status != STORE_OK) {
        rest_reply_store_error(r, job);
        return;
    }
    if (rest_job_rows(job) < 1) {
        res_not_found(r, "site", "siteId", rest_param(r, "id"));
        return;
    }
    const char *text = rest_job_value(job, 0, 0);
    cJSON *data = text ? cJSON_Parse(text) : NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "data", data ? data : cJSON_CreateArray());
    rest_reply_json(r, 200, o);
}

/* Entries that meet [from, to), oldest first; every entry without them. */
void res_site_carbon_get(struct rest_request *r)
{
    char *from = NULL, *to = NULL;
    if (!res_param(r, &from_param, &from) || !res_param(r, &to_param, &to) || res_unknown_params(r))
        goto out;
    const char *params[] = { rest_param(r, "id"), from ? from : "", to ? to : "" };
    rest_sql(r,
             "SELECT (SELECT json_agg(json_build_object('from', ocppgw_iso(ci.from_ts), 'to', ocppgw_iso(ci.to_ts),"
             " 'gramsPerKwh', ci.grams_per_kwh) ORDER BY ci.from_ts) FROM site_carbon_intensity ci"
             " WHERE ci.site_id = s.id AND (nullif($2, '') IS NULL OR ci.to_ts > ocppgw_ts(nullif($2, '')::bigint))"
             " AND (nullif($3, '') IS NULL OR ci.from_ts < ocppgw_ts(nullif($3, '')::bigint)))::text"
             " FROM sites s WHERE s.id = $1",
             3, params, get_done);
out:
    free(from);
    free(to);
}
