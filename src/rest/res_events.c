/*
 * Events (../shared/spec/events.md; src/rest/res_events.h): GET /v1/events,
 * cursor pages by seq, oldest first, and GET /v1/events/{id}; scope
 * events:read. The rows are written by the transactional outbox
 * (sql/011_events.sql) in commit order, so a reader following `after`
 * never skips an event that commits later with a lower seq.
 *
 * The collection is a struct rest_list_spec like every other; `type` is a
 * list filter whose values are expanded here (prefix.* to the types it
 * means) before the statement is built, so that the SQL is one
 * `e.type = ANY($n)` the (type, seq) index serves. from/to bound createdAt
 * and, through the createdAt index, seq as well: createdAt is stamped
 * inside the outbox's commit lock and grows with seq, so a time window is
 * a seq range the primary key serves instead of a scan from the oldest
 * event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "rest.h"
#include "rest_query.h"
#include "rest_res.h"
#include "res_events.h"
#include "store_job.h"
#include "event_types.h"
#include "util.h"

/* ---------------------------------------------------------------- types */

/* The model's list (event_types.h) is the one vocabulary; NTYPES bounds it. */
#define NTYPES EVENT_TYPES_MAX

bool res_event_type_named_only(const char *type)
{
    return strcmp(type, "meter_values.received") == 0;
}

/* lower-case letters, digits and '_' in dot-separated words: the shape of a type */
static bool type_shaped(const char *s, size_t n)
{
    bool word = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')
            word = true;
        else if (c == '.' && word)
            word = false;
        else
            return false;
    }
    return word;
}

char *res_event_types_expand(const char *const *items, size_t n, const char **bad, char *reason,
                             size_t cap)
{
    bool want[NTYPES] = { false };
    for (size_t i = 0; i < n; i++) {
        const char *v = items[i];
        size_t len = strlen(v);
        bool prefix = len >= 2 && strcmp(v + len - 2, ".*") == 0;
        size_t stem = prefix ? len - 1 : len;       /* a prefix keeps its dot */
        if (!type_shaped(v, prefix ? len - 2 : len)) {
            *bad = v;
            snprintf(reason, cap, "'%.64s' is neither an event type nor a prefix ending in .*", v);
            return NULL;
        }
        bool any = false;
        for (size_t t = 0; event_types[t]; t++) {
            const char *type = event_types[t];
            bool match = prefix ? strncmp(type, v, stem) == 0 && !res_event_type_named_only(type)
                                : strcmp(type, v) == 0;
            if (match)
                want[t] = any = true;
        }
        if (!any) {
            *bad = v;
            if (prefix)
                snprintf(reason, cap, "'%.64s' matches no event type (meter_values.received must be named)", v);
            else
                snprintf(reason, cap, "unknown event type '%.64s'", v);
            return NULL;
        }
    }
    const char *names[NTYPES];
    size_t k = 0;
    for (size_t t = 0; event_types[t]; t++)
        if (want[t])
            names[k++] = event_types[t];
    return rest_pg_array(names, k);
}

/* ---------------------------------------------------------------- the collection */

static const struct rest_col event_cols[] = {
    { "id", "e.id::text", REST_COL_STR, NULL },
    { "seq", "e.seq", REST_COL_INT, NULL },
    { "type", "e.type", REST_COL_STR, NULL },
    { "createdAt", "e.created_at", REST_COL_TIME, NULL },
    { "occurredAt", "e.occurred_at", REST_COL_TIME, NULL },
    { "chargerId", "e.charger_id", REST_COL_STR, NULL },
    { "siteId", "e.site_id", REST_COL_STR, NULL },
    { "data", "e.data::text", REST_COL_JSON, NULL },
};
#define NCOLS (sizeof event_cols / sizeof event_cols[0])

static const struct rest_sort event_sorts[] = {
    { "seq", "e.seq", NULL, NULL },
};

/* The first seq committed at or after a time (createdAt grows with seq): NULL when none. */
#define FIRST_SEQ_FROM(t)                                                                    \
    "(SELECT min(f.seq) FROM events f WHERE f.created_at = (SELECT min(g.created_at) FROM events g" \
    " WHERE g.created_at >= " t "))"

enum { F_TYPE, F_CHARGER, F_CHARGERS, F_SITE, F_FROM, F_TO };

static const struct rest_filter event_filters[] = {
    [F_TYPE] = { "type", REST_F_LIST, "e.type = ANY($?::text[])", 64, NULL, 0, 0, NULL },
    [F_CHARGER] = { "chargerId", REST_F_TEXT, "e.charger_id = $?", OCPP_CHARGER_ID_MAX, NULL, 0, 0, NULL },
    [F_CHARGERS] = { "chargerIds", REST_F_LIST, "e.charger_id = ANY($?::text[])", OCPP_CHARGER_ID_MAX, NULL,
                     0, 0, NULL },
    [F_SITE] = { "siteId", REST_F_TEXT, "e.site_id = $?", 64, NULL, 0, 0, NULL },
    [F_FROM] = { "from", REST_F_TIME,
                 "(e.created_at >= ocppgw_ts($?::bigint) AND e.seq >= " FIRST_SEQ_FROM("ocppgw_ts($?::bigint)") ")",
                 0, NULL, 0, 0, NULL },
    [F_TO] = { "to", REST_F_TIME,
               "(e.created_at < ocppgw_ts($?::bigint) AND e.seq < coalesce("
               FIRST_SEQ_FROM("ocppgw_ts($?::bigint)") ", 9223372036854775807))",
               0, NULL, 0, 0, NULL },
};

static const struct rest_list_spec events_spec = {
    .name = "events",
    .paging = REST_PAGING_CURSOR,
    .kind = REST_LIST_EVENTS,
    .cols = event_cols,
    .ncols = NCOLS,
    .from = "events e",
    .id = "e.seq",
    .sorts = event_sorts,
    .nsorts = sizeof event_sorts / sizeof event_sorts[0],
    .desc = false,
    .filters = event_filters,
    .nfilters = sizeof event_filters / sizeof event_filters[0],
    .vis_chargers = "e.charger_id = ANY($?::text[])",
    .vis_sites = "e.site_id = ANY($?::text[])",
};
const struct rest_list_spec *const res_events_spec = &events_spec;

/* type's values (already checked as a list by rest_list_parse) to the types they mean */
static bool expand_type(const struct rest_query_source *src, struct rest_list_req *req,
                        struct rest_param_error *err)
{
    if (!req->values[F_TYPE])
        return true;
    const char *items[REST_LIST_ITEMS_MAX];
    size_t n = src->list(src->ctx, "type", items, REST_LIST_ITEMS_MAX);
    const char *bad = NULL;
    char *types = res_event_types_expand(items, n, &bad, err->reason, sizeof err->reason);
    if (!types) {
        str_copy(err->param, sizeof err->param, "type");
        return false;
    }
    free(req->values[F_TYPE]);
    req->values[F_TYPE] = types;
    return true;
}

/* A seq given as after / before: 1 to 18 digits. */
static bool seq_text(const char *s, int64_t *out)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 18)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* src with a seq in after / before hidden from the cursor parser */
static const char *cursor_get(void *ctx, const char *name)
{
    const struct rest_query_source *src = ctx;
    const char *v = src->get(src->ctx, name);
    int64_t seq;
    if (v && (strcmp(name, "after") == 0 || strcmp(name, "before") == 0) && seq_text(v, &seq))
        return NULL;
    return v;
}

static size_t src_list_of(void *ctx, const char *name, const char **out, size_t max)
{
    const struct rest_query_source *src = ctx;
    return src->list(src->ctx, name, out, max);
}

/*
 * after / before take an event's seq as well as a cursor: a reader that
 * kept the last seq it handled (a webhook consumer catching up, the
 * stream's Last-Event-ID) resumes from it.
 */
bool res_events_parse(const struct rest_query_source *src, struct rest_list_req *req,
                      struct rest_param_error *err)
{
    struct rest_query_source cursors = { cursor_get, src_list_of, (void *)src };
    if (!rest_list_parse(&events_spec, &cursors, req, err) || !expand_type(src, req, err))
        return false;
    const char *after = src->get(src->ctx, "after"), *before = src->get(src->ctx, "before");
    int64_t seq;
    bool a = after && seq_text(after, &seq), b = before && seq_text(before, &seq);
    if (!a && !b)
        return true;
    if (after && before) {
        str_copy(err->param, sizeof err->param, "before");
        str_copy(err->reason, sizeof err->reason, "give after or before, not both");
        return false;
    }
    req->dir = a ? REST_DIR_AFTER : REST_DIR_BEFORE;
    req->cursor = (struct rest_cursor){ .kind = REST_LIST_EVENTS, .sort = 0, .desc = req->desc, .key = seq,
                                        .id = seq };
    return true;
}

/* src without its paging parameters */
static const char *filters_get(void *ctx, const char *name)
{
    static const char *const paging[] = { "after", "before", "perPage", "order", "sort", NULL };
    const struct rest_query_source *src = ctx;
    return rest_strv_has(paging, name) ? NULL : src->get(src->ctx, name);
}

bool res_events_parse_filters(const struct rest_query_source *src, struct rest_list_req *req,
                              struct rest_param_error *err)
{
    struct rest_query_source only = { filters_get, src_list_of, (void *)src };
    return res_events_parse(&only, req, err);
}

void res_events_sql(const struct rest_list_req *req, char *const *charger_ids, char *const *site_ids,
                    struct rest_sqlb *b)
{
    rest_list_sql(req, NULL, charger_ids, site_ids, b);
}

void res_events_after_sql(const struct rest_list_req *req, int64_t after_seq, int limit,
                          char *const *charger_ids, char *const *site_ids, struct rest_sqlb *b)
{
    struct rest_list_req q = *req;
    q.sort = 0;
    q.desc = false;
    q.dir = REST_DIR_AFTER;
    q.per_page = limit;
    q.cursor = (struct rest_cursor){ .kind = REST_LIST_EVENTS, .key = after_seq, .id = after_seq };
    rest_list_sql(&q, NULL, charger_ids, site_ids, b);
}

cJSON *res_event_row_json(const struct store_job *job, int row, int col0)
{
    return rest_row_json(NULL, job, row, col0, event_cols, NCOLS);
}

int64_t res_event_row_seq(const struct store_job *job, int row, int col0)
{
    const char *v = rest_job_value(job, row, col0 + 1);
    return v ? strtoll(v, NULL, 10) : 0;
}

/* ---------------------------------------------------------------- handlers */

static const char *src_get(void *ctx, const char *name)
{
    return rest_query(ctx, name);
}

static size_t src_list(void *ctx, const char *name, const char **out, size_t max)
{
    return rest_query_list(ctx, name, out, max);
}

/* An export's query: perPage is ignored (read, so never "unknown"). */
static const char *src_get_export(void *ctx, const char *name)
{
    const char *v = rest_query(ctx, name);
    return strcmp(name, "perPage") == 0 ? NULL : v;
}

/* GET /v1/events */

static void list_done(struct rest_request *r, struct store_job *job)
{
    if (job->status != STORE_OK) {
        rest_reply_store_error(r, job);
        return;
    }
    /* validated when the statement was made: this parse succeeds */
    struct rest_list_req req;
    struct rest_query_source src = { src_get, src_list, r };
    struct rest_param_error err;
    if (res_events_parse(&src, &req, &err))
        rest_reply_json(r, 200, rest_list_page(r, &req, job));
    else
        rest_reply_error(r, REST_ERR_INTERNAL, "query changed while parked", NULL);
    rest_list_req_free(&req);
}

void res_events_list(struct rest_request *r)
{
    struct rest_list_req req;
    enum rest_export_format f = res_export_wanted(r);
    struct rest_query_source src = { f != REST_EXPORT_NONE ? src_get_export : src_get, src_list, r };
    struct rest_param_error err;
    if (!res_events_parse(&src, &req, &err)) {
        res_param_error(r, &err);
    } else if (f != REST_EXPORT_NONE) {
        if (!res_unknown_params(r))
            res_export_list(r, f, &req, NULL, NULL);
    } else if (!res_unknown_params(r)) {
        const struct rest_key *k = rest_key(r);
        struct rest_sqlb b;
        rest_sqlb_init(&b);
        res_events_sql(&req, k ? k->charger_ids : NULL, k ? k->site_ids : NULL, &b);
        res_sql_run(r, &b, list_done);
    }
    rest_list_req_free(&req);
}

/* GET /v1/events/{id} */

static const struct res_row event_row = {
    event_cols, NCOLS, "event", "eventId", NULL, "chargerId", "siteId",
};

/* A UUID as PostgreSQL prints it (8-4-4-4-12 lower-case hex): anything else names no event. */
static bool event_id_ok(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

static void get_done(struct rest_request *r, struct store_job *job)
{
    res_reply_row(r, job, &event_row, rest_param(r, "id"), 200);
}

void res_event_get(struct rest_request *r)
{
    static const char *sql;
    if (res_unknown_params(r))
        return;
    const char *id = rest_param(r, "id");
    if (!event_id_ok(id)) {
        res_not_found(r, "event", "eventId", id);
        return;
    }
    rest_sql(r, res_select_once(&sql, event_cols, NCOLS, " FROM events e WHERE e.id = $1::uuid"), 1, &id,
             get_done);
}
