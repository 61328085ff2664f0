/*
 * /v1/webhook-endpoints (scope webhooks:write) and POST
 * /v1/events/{id}/redeliver: the endpoints integrators register for
 * signed event deliveries (events.md, "Webhooks"), their deliveries log,
 * secret rotation and test deliveries. The delivery itself is the
 * webhook layer's thread (src/webhook/); the fan-out that queues
 * deliveries is sql/013_webhooks.sql.
 *
 * The secret ("whsec_" + base64 of 32 random bytes) is made by the
 * database (the column's default, or the rotation's UPDATE), so it is
 * never a statement parameter; it is answered once, in the 201 of the
 * create and the 200 of a rotation, marked with rest_reply_secret_field so
 * that an Idempotency-Key replay answers "secret": null, and never shown or
 * logged again.
 *
 * Keys limited to chargers or sites: an endpoint remembers the creating
 * key's restriction (key_charger_ids, key_site_ids) and only ever receives
 * events of those chargers; its chargerIds / siteIds filter is the body's
 * intersected with the key's (a key limited to chargers A and B that names
 * no chargers gets [A, B]; naming one outside its set is 403). Such a key
 * sees only endpoints made by keys no wider than itself
 * (ocppgw_webhook_visible); others are 404 to it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "core.h"
#include "event_types.h"
#include "rest.h"
#include "rest_body.h"
#include "rest_query.h"
#include "rest_res.h"
#include "store_job.h"
#include "util.h"

/* ------------------------------------------------------------------ shapes */

static const struct rest_col endpoint_cols[] = {
    { "id", "w.id::text", REST_COL_STR, NULL },
    { "url", "w.url", REST_COL_STR, NULL },
    { "types", "array_to_json(w.types)", REST_COL_JSON, NULL },
    { "chargerIds", "array_to_json(w.charger_ids)", REST_COL_JSON, NULL },
    { "siteIds", "array_to_json(w.site_ids)", REST_COL_JSON, NULL },
    { "description", "w.description", REST_COL_STR, NULL },
    { "enabled", "w.enabled", REST_COL_BOOL, NULL },
    { "disabledReason", "w.disabled_reason", REST_COL_STR, NULL },
    { "previousSecretExpiresAt", "CASE WHEN w.previous_secret_until > now() THEN w.previous_secret_until END",
      REST_COL_TIME, NULL },
    { "createdAt", "w.created_at", REST_COL_TIME, NULL },
    { "updatedAt", "w.updated_at", REST_COL_TIME, NULL },
};
#define NCOLS (sizeof endpoint_cols / sizeof endpoint_cols[0])

static const struct rest_sort endpoint_sorts[] = {
    { "createdAt", "w.created_at", NULL, NULL },
    { "url", "w.url", NULL, NULL },
};

static const struct rest_filter endpoint_filters[] = {
    { "enabled", REST_F_BOOL, "w.enabled = $?::boolean", 0, NULL, 0, 0, NULL },
    { "search", REST_F_SEARCH, "(w.url ILIKE $? OR w.description ILIKE $?)", 100, NULL, 0, 0, NULL },
};

/* scope: the key's restriction (vis_param), not a path parameter */
static const struct rest_list_spec endpoints_spec = {
    .name = "webhook-endpoints",
    .paging = REST_PAGING_OFFSET,
    .kind = REST_LIST_WEBHOOK_ENDPOINTS,
    .cols = endpoint_cols,
    .ncols = NCOLS,
    .from = "webhook_endpoints w",
    .id = "w.id",
    .sorts = endpoint_sorts,
    .nsorts = sizeof endpoint_sorts / sizeof endpoint_sorts[0],
    .desc = false,
    .filters = endpoint_filters,
    .nfilters = sizeof endpoint_filters / sizeof endpoint_filters[0],
    .scope = "ocppgw_webhook_visible(w.key_charger_ids, w.key_site_ids, $?)",
};
const struct rest_list_spec *const res_webhook_endpoints_spec = &endpoints_spec;

static const struct rest_col delivery_cols[] = {
    { "id", "d.id", REST_COL_INT, NULL },
    { "eventId", "e.id::text", REST_COL_STR, NULL },
    { "eventSeq", "d.event_seq", REST_COL_INT, NULL },
    { "type", "e.type", REST_COL_STR, NULL },
    { "chargerId", "d.charger_id", REST_COL_STR, NULL },
    { "state", "d.state", REST_COL_STR, NULL },
    { "attempt", "d.attempt", REST_COL_INT, NULL },
    { "statusCode", "d.status_code", REST_COL_INT, NULL },
    { "latencyMs", "d.latency_ms", REST_COL_INT, NULL },
    { "error", "d.error", REST_COL_STR, NULL },
    { "responseBody", "d.response_body", REST_COL_STR, NULL },
    /* null when delivered, failed, or waiting ('infinity') behind an earlier event of its charger */
    { "nextAttemptAt", "CASE WHEN d.state = 'pending' AND d.next_attempt_at <> 'infinity' THEN d.next_attempt_at END",
      REST_COL_TIME, NULL },
    { "lastAttemptAt", "d.last_attempt_at", REST_COL_TIME, NULL },
    { "deliveredAt", "d.delivered_at", REST_COL_TIME, NULL },
    { "createdAt", "d.created_at", REST_COL_TIME, NULL },
};
#define NDCOLS (sizeof delivery_cols / sizeof delivery_cols[0])

static const char *const delivery_states[] = { "pending", "delivered", "failed", NULL };

static const struct rest_sort delivery_sorts[] = {
    { "id", "d.id", NULL, NULL },
};

static const struct rest_filter delivery_filters[] = {
    { "state", REST_F_ENUM, "d.state = $?", 0, delivery_states, 0, 0, NULL },
    { "type", REST_F_TEXT, "e.type = $?", 64, NULL, 0, 0, NULL },
    { "chargerId", REST_F_TEXT, "d.charger_id = $?", OCPP_CHARGER_ID_MAX, NULL, 0, 0, NULL },
    { "eventId", REST_F_TEXT, "e.id::text = lower($?)", 36, NULL, 0, 0, NULL },
};

static const struct rest_list_spec deliveries_spec = {
    .name = "deliveries",
    .paging = REST_PAGING_CURSOR,
    .kind = REST_LIST_WEBHOOK_DELIVERIES,
    .cols = delivery_cols,
    .ncols = NDCOLS,
    .from = "webhook_deliveries d JOIN events e ON e.seq = d.event_seq",
    .id = "d.id",
    .sorts = delivery_sorts,
    .nsorts = sizeof delivery_sorts / sizeof delivery_sorts[0],
    .desc = true,
    .filters = delivery_filters,
    .nfilters = sizeof delivery_filters / sizeof delivery_filters[0],
    .scope = "d.endpoint_id = $?::uuid",
};
const struct rest_list_spec *const res_webhook_deliveries_spec = &deliveries_spec;

/* ------------------------------------------------------------------ checks */

/* http:// or https:// with a host, no spaces or control characters. */
static bool url_ok(const char *s)
{
    size_t skip = strncmp(s, "http://", 7) == 0 ? 7 : strncmp(s, "https://", 8) == 0 ? 8 : 0;
    if (!skip || !s[skip] || s[skip] == '/' || s[skip] == '?' || s[skip] == '#')
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return false;
    return true;
}

static bool site_ok(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* 8-4-4-4-12 hex digits. */
static bool uuid_ok(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        char c = s[i];
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

static const struct rest_field endpoint_fields[] = {
    { "url", REST_FT_STRING, REST_FF_REQUIRED, "url", NULL, 1, 2048, 0, 0, NULL, url_ok,
      "must be an http:// or https:// URL with a host" },
    { "types", REST_FT_STRINGS, REST_FF_REQUIRED | REST_FF_NONEMPTY, "types", "$?::text[]", 1, 64, 0, 0, NULL,
      event_type_pattern_valid, "each must be an event type, \"prefix.*\" of one, or \"*\"" },
    { "chargerIds", REST_FT_STRINGS, REST_FF_NULLABLE, "charger_ids", "$?::text[]", 1, OCPP_CHARGER_ID_MAX, 0, 0,
      NULL, core_charger_id_valid, "must be a charger id" },
    { "siteIds", REST_FT_STRINGS, REST_FF_NULLABLE, "site_ids", "$?::text[]", 1, 64, 0, 0, NULL, site_ok,
      "must not hold control characters" },
    { "description", REST_FT_STRING, REST_FF_NULLABLE, "description", NULL, 0, 500, 0, 0, NULL, NULL, NULL },
    { "enabled", REST_FT_BOOL, 0, "enabled", NULL, 0, 0, 0, 0, NULL, NULL, NULL },
};
#define NFIELDS (sizeof endpoint_fields / sizeof endpoint_fields[0])

/* Stored beside the body's fields, never from it. */
static const struct rest_field key_chargers_field = { .name = "keyChargerIds", .column = "key_charger_ids",
                                                      .value = "$?::text[]" };
static const struct rest_field key_sites_field = { .name = "keySiteIds", .column = "key_site_ids",
                                                   .value = "$?::text[]" };
static const struct rest_field created_by_field = { .name = "createdBy", .column = "created_by",
                                                    .value = "$?::bigint" };

static size_t strv_len(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

/* The visibility parameter of ocppgw_webhook_visible: "" or the key's lists as JSON (caller frees). */
static char *vis_param(struct rest_request *r)
{
    const struct rest_key *k = rest_key(r);
    if (!k || (!k->charger_ids && !k->site_ids))
        return xstrdup("");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "chargerIds",
                          k->charger_ids ? cJSON_CreateStringArray((const char *const *)k->charger_ids,
                                                                   (int)strv_len(k->charger_ids))
                                         : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "siteIds",
                          k->site_ids ? cJSON_CreateStringArray((const char *const *)k->site_ids,
                                                                (int)strv_len(k->site_ids))
                                      : cJSON_CreateNull());
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *out = xstrdup(s);
    cJSON_free(s);
    return out;
}

/* The endpoints a key may see: $1 the endpoint's id, $2 vis_param's restriction. */
#define ENDPOINT_VISIBLE " WHERE w.id = $1::uuid AND ocppgw_webhook_visible(w.key_charger_ids, w.key_site_ids, $2)"

/* Runs sql with $1 = id and $2 = the key's restriction (ENDPOINT_VISIBLE). */
static void endpoint_query(struct rest_request *r, const char *id, const char *sql, rest_sql_done done)
{
    char *vis = vis_param(r);
    const char *params[] = { id, vis };
    rest_sql(r, sql, 2, params, done);
    free(vis);
}

/* SELECT w.id of a visible endpoint (test, deliveries: found before they act). */
static const char *endpoint_found_sql(void)
{
    static const char *sql;
    if (!sql)
        sql = rest_sql_intern("SELECT w.id FROM webhook_endpoints w" ENDPOINT_VISIBLE);
    return sql;
}

/*
 * A restricted key's filter on one dimension (chargers or sites), when the
 * key is limited on that dimension only: the body's list must lie within
 * the key's (else 403 naming the first outside, false), and no list (or
 * null) becomes the key's. Other keys: the body's list as given.
 */
static bool restrict_dimension(struct rest_request *r, struct rest_body *body, const char *field,
                               char *const *mine, char *const *other, bool create, const char *action,
                               const char *resource)
{
    if (!mine || other)
        return true;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(rest_body(r), field);
    struct rest_body_value *v = rest_body_find(body, field);
    if (cJSON_IsArray(list)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, list) {
            const char *id = cJSON_GetStringValue(it);
            if (id && !rest_strv_has((const char *const *)mine, id)) {
                res_audit(r, action, resource, "forbidden");
                char msg[160];
                snprintf(msg, sizeof msg, "%s: '%.64s' is outside this key's %s", field, id,
                         strcmp(field, "chargerIds") == 0 ? "chargers" : "sites");
                cJSON *ctx = cJSON_CreateObject();
                cJSON_AddStringToObject(ctx, field, id);
                rest_reply_error(r, REST_ERR_FORBIDDEN, msg, ctx);
                return false;
            }
        }
        return true;
    }
    /* absent (create) or null: the key's own list */
    if (v || create) {
        char *arr = rest_pg_array((const char *const *)mine, strv_len(mine));
        if (v) {
            free(v->text);
            v->text = arr;
        } else {
            const struct rest_field *f = NULL;
            for (size_t i = 0; i < NFIELDS; i++)
                if (strcmp(endpoint_fields[i].name, field) == 0)
                    f = &endpoint_fields[i];
            rest_body_add(body, f, arr);
            free(arr);
        }
    }
    return true;
}

/* The {id} of an endpoint route: NULL after replying 400 (unknown parameter) or 404 (not an id). */
static const char *endpoint_param(struct rest_request *r)
{
    if (res_unknown_params(r))
        return NULL;
    const char *id = rest_param(r, "id");
    if (!uuid_ok(id)) {
        res_not_found(r, "webhook endpoint", "endpointId", id);
        return NULL;
    }
    return id;
}

static const struct res_row endpoint_row = {
    endpoint_cols, NCOLS, "webhook endpoint", "endpointId", "/v1/webhook-endpoints/", NULL, NULL,
};

/* ------------------------------------------------------------------ GET list / one */

static void list_done(struct rest_request *r, struct store_job *job)
{
    res_list_finish(r, job, &endpoints_spec, NULL);
}

void res_webhook_endpoints_list(struct rest_request *r)
{
    char *vis = vis_param(r);
    res_list_start(r, &endpoints_spec, vis, list_done);
    free(vis);
}

static void get_done(struct rest_request *r, struct store_job *job)
{
    res_reply_row(r, job, &endpoint_row, rest_param(r, "id"), 200);
}

void res_webhook_endpoint_get(struct rest_request *r)
{
    static const char *sql;
    const char *id = endpoint_param(r);
    if (!id)
        return;
    endpoint_query(r, id, res_select_once(&sql, endpoint_cols, NCOLS, " FROM webhook_endpoints w" ENDPOINT_VISIBLE),
                   get_done);
}

/* ------------------------------------------------------------------ POST (create) */

/* The row, then its secret after the shown columns: 201 or 200 with the one-time secret. */
static void reply_with_secret(struct rest_request *r, struct store_job *job, int status)
{
    cJSON *o = rest_row_json(r, job, 0, 0, endpoint_cols, NCOLS);
    const char *secret = rest_job_value(job, 0, (int)NCOLS);
    cJSON_AddStringToObject(o, "secret", secret ? secret : "");
    rest_reply_secret_field(r, "secret");      /* shown once: an Idempotency-Key replay gets null */
    if (status == 201)
        res_location(r, "/v1/webhook-endpoints/", rest_job_value(job, 0, 0));
    rest_reply_json(r, status, o);
}

static void create_done(struct rest_request *r, struct store_job *job)
{
    if (res_write_done(r, job, "webhook_endpoint.create", "webhook endpoint", "endpointId", NULL,
                       REST_ERR_INTERNAL))
        reply_with_secret(r, job, 201);
}

void res_webhook_endpoint_create(struct rest_request *r)
{
    static const char action[] = "webhook_endpoint.create";
    struct rest_body body;
    if (res_unknown_params(r) || !res_body(r, endpoint_fields, NFIELDS, true, action, NULL, &body))
        return;
    const struct rest_key *k = rest_key(r);
    char *const *kc = k ? k->charger_ids : NULL;
    char *const *ks = k ? k->site_ids : NULL;
    if (!restrict_dimension(r, &body, "chargerIds", kc, ks, true, action, NULL) ||
        !restrict_dimension(r, &body, "siteIds", ks, kc, true, action, NULL)) {
        rest_body_free(&body);
        return;
    }
    if (kc || ks) {
        char *a = kc ? rest_pg_array((const char *const *)kc, strv_len(kc)) : NULL;
        rest_body_add(&body, &key_chargers_field, a);
        free(a);
        a = ks ? rest_pg_array((const char *const *)ks, strv_len(ks)) : NULL;
        rest_body_add(&body, &key_sites_field, a);
        free(a);
    }
    if (k) {
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)k->id);
        rest_body_add(&body, &created_by_field, id);
    }
    struct rest_sqlb b;
    rest_sqlb_init(&b);
    rest_body_insert(&body, &b, "w", "webhook_endpoints");
    rest_sqlb_add(&b, " RETURNING *) ");
    res_select(&b, endpoint_cols, NCOLS, ", w.secret FROM w");
    res_sql_run(r, &b, create_done);
    rest_body_free(&body);
}

/* ------------------------------------------------------------------ PATCH */

static void update_done(struct rest_request *r, struct store_job *job)
{
    const char *id = rest_param(r, "id");
    if (res_write_done(r, job, "webhook_endpoint.update", "webhook endpoint", "endpointId", id,
                       REST_ERR_NOT_FOUND))
        res_reply_row(r, job, &endpoint_row, id, 200);
}

void res_webhook_endpoint_update(struct rest_request *r)
{
    static const char action[] = "webhook_endpoint.update";
    const char *id = endpoint_param(r);
    struct rest_body body;
    if (!id || !res_body(r, endpoint_fields, NFIELDS, false, action, id, &body))
        return;
    const struct rest_key *k = rest_key(r);
    char *const *kc = k ? k->charger_ids : NULL;
    char *const *ks = k ? k->site_ids : NULL;
    if (!restrict_dimension(r, &body, "chargerIds", kc, ks, false, action, id) ||
        !restrict_dimension(r, &body, "siteIds", ks, kc, false, action, id)) {
        rest_body_free(&body);
        return;
    }
    const struct rest_body_value *enabled = rest_body_find(&body, "enabled");
    struct rest_sqlb b;
    rest_sqlb_init(&b);
    rest_body_update(&body, &b, "w", "webhook_endpoints w");
    if (enabled && enabled->text) {
        /* enabling starts afresh; disabling ends what is pending (below) */
        int n = rest_sqlb_param(&b, enabled->text);
        rest_sqlb_frag(&b, "disabled_reason = CASE WHEN $?::boolean THEN NULL"
                           " ELSE coalesce(w.disabled_reason, 'disabled through the API') END, ", n);
        rest_sqlb_frag(&b, "failing_since = CASE WHEN $?::boolean THEN NULL ELSE w.failing_since END, ", n);
    }
    rest_sqlb_add(&b, "updated_at = now() WHERE w.id = ");
    rest_sqlb_frag(&b, "$?::uuid", rest_sqlb_param(&b, id));
    char *vis = vis_param(r);
    rest_sqlb_frag(&b, " AND ocppgw_webhook_visible(w.key_charger_ids, w.key_site_ids, $?)",
                   rest_sqlb_param(&b, vis));
    free(vis);
    rest_sqlb_add(&b, " RETURNING *), f AS (UPDATE webhook_deliveries d SET state = 'failed',"
                      " error = 'endpoint disabled: ' || x.disabled_reason, claimed_by = NULL, claimed_until = NULL"
                      " FROM w x WHERE NOT x.enabled AND d.endpoint_id = x.id AND d.state = 'pending') ");
    res_select(&b, endpoint_cols, NCOLS, " FROM w");
    res_sql_run(r, &b, update_done);
    rest_body_free(&body);
}

/* ------------------------------------------------------------------ DELETE */

static void delete_done(struct rest_request *r, struct store_job *job)
{
    if (res_write_done(r, job, "webhook_endpoint.delete", "webhook endpoint", "endpointId",
                       rest_param(r, "id"), REST_ERR_NOT_FOUND))
        rest_reply_json(r, 204, NULL);
}

void res_webhook_endpoint_delete(struct rest_request *r)
{
    static const char *sql;
    const char *id = endpoint_param(r);
    if (!id)
        return;
    if (!sql)
        sql = rest_sql_intern("DELETE FROM webhook_endpoints w" ENDPOINT_VISIBLE " RETURNING w.id");
    endpoint_query(r, id, sql, delete_done);
}

/* ------------------------------------------------------------------ rotate-secret */

static void rotate_done(struct rest_request *r, struct store_job *job)
{
    if (res_write_done(r, job, "webhook_endpoint.rotate_secret", "webhook endpoint", "endpointId",
                       rest_param(r, "id"), REST_ERR_NOT_FOUND))
        reply_with_secret(r, job, 200);
}

void res_webhook_endpoint_rotate(struct rest_request *r)
{
    static const char *sql;
    const char *id = endpoint_param(r);
    if (!id)
        return;
    if (!sql) {
        struct rest_sqlb b;
        rest_sqlb_init(&b);
        rest_sqlb_add(&b, "WITH w AS (UPDATE webhook_endpoints w SET previous_secret = w.secret,"
                          " previous_secret_until = now() + interval '24 hours',"
                          " secret = ocppgw_webhook_secret_new(), updated_at = now()"
                          ENDPOINT_VISIBLE " RETURNING *) ");
        res_select(&b, endpoint_cols, NCOLS, ", w.secret FROM w");
        sql = rest_sql_intern(strbuf_str(&b.sql));
        rest_sqlb_free(&b);
    }
    endpoint_query(r, id, sql, rotate_done);
}

/* ------------------------------------------------------------------ test */

static void test_done(struct rest_request *r, const struct rest_webhook_test_result *res)
{
    const char *id = rest_param(r, "id");
    if (!res->found) {
        res_audit(r, "webhook_endpoint.test", id, "not_found");
        res_not_found(r, "webhook endpoint", "endpointId", id);
        return;
    }
    res_audit(r, "webhook_endpoint.test", id, res->delivered ? "ok" : "failed");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "endpointId", id);
    if (res->event_id && res->event_id[0])
        cJSON_AddStringToObject(o, "eventId", res->event_id);
    else
        cJSON_AddNullToObject(o, "eventId");
    cJSON_AddStringToObject(o, "type", EVENT_TYPE_WEBHOOK_TEST);
    cJSON_AddBoolToObject(o, "delivered", res->delivered);
    if (res->status_code)
        cJSON_AddNumberToObject(o, "statusCode", res->status_code);
    else
        cJSON_AddNullToObject(o, "statusCode");
    cJSON_AddNumberToObject(o, "latencyMs", res->latency_ms);
    if (res->error && res->error[0])
        cJSON_AddStringToObject(o, "error", res->error);
    else
        cJSON_AddNullToObject(o, "error");
    if (res->response_body && (res->status_code || res->response_body[0]))
        cJSON_AddStringToObject(o, "responseBody", res->response_body);
    else
        cJSON_AddNullToObject(o, "responseBody");
    rest_reply_json(r, 200, o);
}

static void test_found(struct rest_request *r, struct store_job *job)
{
    const char *id = rest_param(r, "id");
    if (job->status != STORE_OK) {
        rest_reply_store_error(r, job);
    } else if (rest_job_rows(job) < 1) {
        res_audit(r, "webhook_endpoint.test", id, "not_found");
        res_not_found(r, "webhook endpoint", "endpointId", id);
    } else if (!rest_webhook_test(r, id, test_done)) {
        rest_reply_error(r, REST_ERR_UNAVAILABLE, "this gateway delivers no webhooks", NULL);
    }
}

void res_webhook_endpoint_test(struct rest_request *r)
{
    const char *id = endpoint_param(r);
    if (!id)
        return;
    endpoint_query(r, id, endpoint_found_sql(), test_found);
}

/* ------------------------------------------------------------------ deliveries */

static void deliveries_done(struct rest_request *r, struct store_job *job)
{
    res_list_finish(r, job, &deliveries_spec, NULL);
}

static void deliveries_found(struct rest_request *r, struct store_job *job)
{
    const char *id = rest_param(r, "id");
    if (job->status != STORE_OK)
        rest_reply_store_error(r, job);
    else if (rest_job_rows(job) < 1)
        res_not_found(r, "webhook endpoint", "endpointId", id);
    else
        res_list_start(r, &deliveries_spec, id, deliveries_done);
}

void res_webhook_deliveries_list(struct rest_request *r)
{
    /* the query is checked by res_list_start once the endpoint is found */
    const char *id = rest_param(r, "id");
    if (!uuid_ok(id)) {
        res_not_found(r, "webhook endpoint", "endpointId", id);
        return;
    }
    endpoint_query(r, id, endpoint_found_sql(), deliveries_found);
}

/* ------------------------------------------------------------------ POST /v1/events/{id}/redeliver */

static const struct rest_field redeliver_fields[] = {
    { "endpointId", REST_FT_STRING, REST_FF_REQUIRED, NULL, NULL, 36, 36, 0, 0, NULL, uuid_ok, "must be a UUID" },
};

static void redeliver_done(struct rest_request *r, struct store_job *job)
{
    const char *id = rest_param(r, "id");
    if (res_write_done(r, job, "webhook_delivery.redeliver", "event", "eventId", id, REST_ERR_NOT_FOUND)) {
        cJSON *o = rest_row_json(r, job, 0, 0, delivery_cols, NDCOLS);
        char loc[128];
        snprintf(loc, sizeof loc, "/v1/webhook-endpoints/%s/deliveries?eventId=%s",
                 cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rest_body(r), "endpointId")), id);
        rest_add_header(r, "Location", loc);
        rest_reply_json(r, 202, o);
    }
}

static void redeliver_insert(struct rest_request *r)
{
    static const char *sql;
    if (!sql) {
        struct rest_sqlb b;
        rest_sqlb_init(&b);
        rest_sqlb_add(&b, "WITH d AS (INSERT INTO webhook_deliveries (endpoint_id, event_seq, charger_id)"
                          " SELECT $2::uuid, x.seq, x.charger_id FROM events x WHERE x.id = $1::uuid RETURNING *),"
                          " n AS (SELECT pg_notify('ocppgw_webhooks', '')) ");
        res_select(&b, delivery_cols, NDCOLS, " FROM d JOIN events e ON e.seq = d.event_seq, n");
        sql = rest_sql_intern(strbuf_str(&b.sql));
        rest_sqlb_free(&b);
    }
    const char *endpoint = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rest_body(r), "endpointId"));
    const char *params[] = { rest_param(r, "id"), endpoint };
    rest_sql(r, sql, 2, params, redeliver_done);
}

/* Both must exist and be the key's: the event (404 / 403) and the endpoint (404). */
static void redeliver_checked(struct rest_request *r, struct store_job *job)
{
    const char *id = rest_param(r, "id");
    const char *endpoint = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rest_body(r), "endpointId"));
    if (job->status != STORE_OK) {
        rest_reply_store_error(r, job);
    } else if (!rest_job_value(job, 0, 0)) {
        res_audit(r, "webhook_delivery.redeliver", id, "not_found");
        res_not_found(r, "event", "eventId", id);
    } else if (!res_key_sees(r, rest_job_value(job, 0, 1), rest_job_value(job, 0, 2))) {
        res_audit(r, "webhook_delivery.redeliver", id, "forbidden");
        res_forbidden(r, "event", "eventId", id);
    } else if (!rest_job_value(job, 0, 3)) {
        res_audit(r, "webhook_delivery.redeliver", id, "not_found");
        res_not_found(r, "webhook endpoint", "endpointId", endpoint);
    } else {
        redeliver_insert(r);
    }
}

void res_event_redeliver(struct rest_request *r)
{
    static const char *sql;
    if (res_unknown_params(r))
        return;
    const char *id = rest_param(r, "id");
    struct rest_body body;
    if (!res_body(r, redeliver_fields, 1, true, "webhook_delivery.redeliver", id, &body))
        return;
    rest_body_free(&body);
    if (!uuid_ok(id)) {
        res_not_found(r, "event", "eventId", id);
        return;
    }
    if (!sql)
        sql = rest_sql_intern("SELECT (SELECT 'yes' FROM events x WHERE x.id = $1::uuid),"
                              " (SELECT x.charger_id FROM events x WHERE x.id = $1::uuid),"
                              " (SELECT x.site_id FROM events x WHERE x.id = $1::uuid),"
                              " (SELECT w.id::text FROM webhook_endpoints w WHERE w.id = $2::uuid"
                              "    AND ocppgw_webhook_visible(w.key_charger_ids, w.key_site_ids, $3))");
    char *vis = vis_param(r);
    const char *params[] = {
        id, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rest_body(r), "endpointId")), vis
    };
    rest_sql(r, sql, 3, params, redeliver_checked);
    free(vis);
}
