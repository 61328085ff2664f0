/*
 * GET /v1/audit-log (admin): the rows rest_audit() writes for every write
 * and command, newest first by default, cursor pages.
 */
#include <stddef.h>

#include "rest.h"
#include "rest_query.h"
#include "rest_res.h"

static const struct rest_col audit_cols[] = {
    { "id", "a.id", REST_COL_INT, NULL },
    { "at", "a.at", REST_COL_TIME, NULL },
    { "actor", "a.actor", REST_COL_STR, NULL },
    { "action", "a.action", REST_COL_STR, NULL },
    { "resource", "a.resource", REST_COL_STR, NULL },
    { "detail", "a.detail::text", REST_COL_JSON, NULL },
    { "result", "a.result", REST_COL_STR, NULL },
    { "requestId", "a.request_id", REST_COL_STR, NULL },
};

static const struct rest_sort audit_sorts[] = {
    { "at", "a.at", "ocppgw_us(a.at)", "ocppgw_ts_us($?::bigint)" },
    { "id", "a.id", NULL, NULL },
};

static const struct rest_filter audit_filters[] = {
    { "action", REST_F_TEXT, "a.action = $?", 64, NULL, 0, 0, NULL },
    { "actor", REST_F_TEXT, "a.actor = $?", 64, NULL, 0, 0, NULL },
    { "resource", REST_F_TEXT, "a.resource = $?", 255, NULL, 0, 0, NULL },
    { "result", REST_F_TEXT, "a.result = $?", 64, NULL, 0, 0, NULL },
    { "requestId", REST_F_TEXT, "a.request_id = $?", 64, NULL, 0, 0, NULL },
    { "from", REST_F_TIME, "a.at >= ocppgw_ts($?::bigint)", 0, NULL, 0, 0, NULL },
    { "to", REST_F_TIME, "a.at < ocppgw_ts($?::bigint)", 0, NULL, 0, 0, NULL },
    { "search", REST_F_SEARCH, "(a.action ILIKE $? OR a.actor ILIKE $? OR a.resource ILIKE $?)", 100,
      NULL, 0, 0, NULL },
};

static const struct rest_list_spec audit_spec = {
    .name = "audit-log",
    .paging = REST_PAGING_CURSOR,
    .kind = REST_LIST_AUDIT,
    .cols = audit_cols,
    .ncols = sizeof audit_cols / sizeof audit_cols[0],
    .from = "audit_log a",
    .id = "a.id",
    .sorts = audit_sorts,
    .nsorts = sizeof audit_sorts / sizeof audit_sorts[0],
    .desc = true,
    .filters = audit_filters,
    .nfilters = sizeof audit_filters / sizeof audit_filters[0],
};
const struct rest_list_spec *const res_audit_spec = &audit_spec;

static void list_done(struct rest_request *r, struct store_job *job)
{
    res_list_finish(r, job, &audit_spec, NULL);
}

void res_audit_list(struct rest_request *r)
{
    res_list_start(r, &audit_spec, NULL, list_done);
}
