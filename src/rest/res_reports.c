/*
 * GET /v1/reports/energy and GET /v1/reports/utilization
 * (../shared/spec/reports.md): the query validated and the statement made
 * by report.c, one statement on the REST store, the rows answered as
 * {"data": [...], "meta": {from, to, groupBy, generatedAt}}. A key limited
 * to chargers or sites sees only their part in every figure: the statement
 * hands the SQL function only the chargers the key may see. With Accept
 * text/csv or application/x-ndjson the same rows are exported (res_export.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "rest.h"
#include "rest_export.h"
#include "rest_query.h"
#include "rest_res.h"
#include "store_job.h"
#include "util.h"

static bool parse(struct rest_request *r, enum rest_report_kind kind, struct rest_report_req *req)
{
    struct rest_query_source src = res_query_source(r);
    struct rest_param_error err;
    if (!rest_report_parse(kind, &src, req, &err)) {
        res_param_error(r, &err);
        return false;
    }
    return !res_unknown_params(r);
}

static void add_time(cJSON *o, const char *name, int64_t ms)
{
    char buf[48];
    time_format_api(ms * 1000, buf, sizeof buf);
    cJSON_AddStringToObject(o, name, buf);
}

static void report_done(struct rest_request *r, struct store_job *job, enum rest_report_kind kind)
{
    if (job->status != STORE_OK) {
        rest_reply_store_error(r, job);
        return;
    }
    struct rest_report_req req;
    if (!parse(r, kind, &req)) {            /* validated before: cannot fail */
        rest_report_req_free(&req);
        return;
    }
    struct rest_col cols[REST_REPORT_COLS_MAX];
    size_t n = rest_report_cols(&req, cols);
    cJSON *page = cJSON_CreateObject();
    cJSON *data = cJSON_AddArrayToObject(page, "data");
    for (int i = 0; i < rest_job_rows(job); i++)
        cJSON_AddItemToArray(data, rest_row_json(r, job, i, 0, cols, n));
    cJSON *meta = cJSON_AddObjectToObject(page, "meta");
    add_time(meta, "from", req.from_ms);
    add_time(meta, "to", req.to_ms);
    cJSON *group = cJSON_AddArrayToObject(meta, "groupBy");
    for (int i = 0; i < req.nkeys; i++)
        cJSON_AddItemToArray(group, cJSON_CreateString(req.keys[i] == REST_RKEY_SITE      ? "site"
                                                       : req.keys[i] == REST_RKEY_CHARGER ? "charger"
                                                                                          : req.period));
    add_time(meta, "generatedAt", time_now_ms());
    rest_report_req_free(&req);
    rest_reply_json(r, 200, page);
}

static void energy_done(struct rest_request *r, struct store_job *job)
{
    report_done(r, job, REST_REPORT_ENERGY);
}

static void utilization_done(struct rest_request *r, struct store_job *job)
{
    report_done(r, job, REST_REPORT_UTILIZATION);
}

static void report_start(struct rest_request *r, enum rest_report_kind kind, rest_sql_done done)
{
    struct rest_report_req req;
    if (parse(r, kind, &req)) {
        const struct rest_key *k = rest_key(r);
        struct rest_sqlb b;
        rest_sqlb_init(&b);
        rest_report_sql(&req, k ? k->charger_ids : NULL, k ? k->site_ids : NULL, &b);
        enum rest_export_format f = res_export_wanted(r);
        if (f != REST_EXPORT_NONE) {
            /* CSV or NDJSON: the same rows streamed (revenue as JSON text in one cell) */
            struct rest_col cols[REST_REPORT_COLS_MAX];
            size_t n = rest_report_cols(&req, cols);
            res_export_start(r, f, cols, n, strbuf_str(&b.sql), b.nparams, (const char *const *)b.params);
            rest_sqlb_free(&b);
        } else {
            res_sql_run(r, &b, done);
        }
    }
    rest_report_req_free(&req);
}

void res_report_energy(struct rest_request *r)
{
    report_start(r, REST_REPORT_ENERGY, energy_done);
}

void res_report_utilization(struct rest_request *r)
{
    report_start(r, REST_REPORT_UTILIZATION, utilization_done);
}
