/*
 * /v1/api-keys (admin): list, create, revoke. The secret is made here
 * (secret_new_api_key), answered once in the 201 and stored only as its
 * SHA-256 (computed here: fast, and the secret never becomes a SQL
 * parameter); listings never show either, and an Idempotency-Key replay of
 * the create answers "secret": null. The framework's key cache is told
 * as soon as the write committed, so the next request sees the change (its
 * NOTIFY follows too, for other gateways).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "core.h"
#include "hmap.h"
#include "rest.h"
#include "rest_body.h"
#include "rest_query.h"
#include "rest_res.h"
#include "secret.h"
#include "store_job.h"
#include "util.h"

static const struct rest_col key_cols[] = {
    { "id", "k.id", REST_COL_INT, NULL },
    { "name", "k.name", REST_COL_STR, NULL },
    { "prefix", "k.key_prefix", REST_COL_STR, NULL },
    { "scopes", "array_to_json(k.scopes)", REST_COL_JSON, NULL },
    { "chargerIds", "array_to_json(k.charger_ids)", REST_COL_JSON, NULL },
    { "siteIds", "array_to_json(k.site_ids)", REST_COL_JSON, NULL },
    { "expiresAt", "k.expires_at", REST_COL_TIME, NULL },
    { "createdAt", "k.created_at", REST_COL_TIME, NULL },
    { "lastUsedAt", "k.last_used_at", REST_COL_TIME, NULL },
    { "revokedAt", "k.revoked_at", REST_COL_TIME, NULL },
};
#define NCOLS (sizeof key_cols / sizeof key_cols[0])

static const struct rest_sort key_sorts[] = {
    { "id", "k.id", NULL, NULL },
    { "name", "k.name", NULL, NULL },
    { "createdAt", "k.created_at", NULL, NULL },
    { "lastUsedAt", "k.last_used_at", NULL, NULL },
};

/* rest.h: `ocppgw apikey create` checks against this list too, and names it in its error */
const char *const rest_scopes[] = {
    "chargers:read", "chargers:write", "sessions:read", "commands:write", "tokens:read",
    "tokens:write", "tariffs:read", "tariffs:write", "reports:read", "webhooks:write", "events:read",
    "admin", NULL
};

/* scope: keys that list it (an admin key holds every scope without listing them) */
static const struct rest_filter key_filters[] = {
    /* revoked keys are gone for the API: listed only when asked for */
    { "revoked", REST_F_BOOL, "(k.revoked_at IS NOT NULL) = $?::boolean", 0, NULL, 0, 0, "false" },
    { "name", REST_F_TEXT, "k.name = $?", 127, NULL, 0, 0, NULL },
    { "prefix", REST_F_TEXT, "k.key_prefix = $?", 12, NULL, 0, 0, NULL },
    { "scope", REST_F_ENUM, "$? = ANY(k.scopes)", 0, rest_scopes, 0, 0, NULL },
    { "search", REST_F_SEARCH, "(k.name ILIKE $? OR k.key_prefix ILIKE $?)", 100, NULL, 0, 0, NULL },
};

static const struct rest_list_spec keys_spec = {
    .name = "api-keys",
    .paging = REST_PAGING_OFFSET,
    .kind = REST_LIST_API_KEYS,
    .cols = key_cols,
    .ncols = NCOLS,
    .from = "api_keys k",
    .id = "k.id",
    .sorts = key_sorts,
    .nsorts = sizeof key_sorts / sizeof key_sorts[0],
    .desc = false,
    .filters = key_filters,
    .nfilters = sizeof key_filters / sizeof key_filters[0],
};
const struct rest_list_spec *const res_api_keys_spec = &keys_spec;

static const struct rest_field key_fields[] = {
    { "name", REST_FT_STRING, REST_FF_REQUIRED, "name", NULL, 1, 127, 0, 0, NULL, NULL, NULL },
    { "scopes", REST_FT_STRINGS, REST_FF_REQUIRED | REST_FF_NONEMPTY, "scopes", "$?::text[]", 1, 32, 0, 0,
      rest_scopes, NULL, NULL },
    { "chargerIds", REST_FT_STRINGS, REST_FF_NULLABLE, "charger_ids", "$?::text[]", 1, OCPP_CHARGER_ID_MAX,
      0, 0, NULL, core_charger_id_valid, "must be a charger id" },
    { "siteIds", REST_FT_STRINGS, REST_FF_NULLABLE, "site_ids", "$?::text[]", 1, 64, 0, 0, NULL, NULL, NULL },
    { "expiresAt", REST_FT_TIME, REST_FF_NULLABLE, "expires_at", "ocppgw_ts($?::bigint)", 0, 0, 0, 0, NULL,
      NULL, NULL },
};
#define NFIELDS (sizeof key_fields / sizeof key_fields[0])

/* Stored beside the body's fields, never from it. */
static const struct rest_field prefix_field = { .name = "prefix", .column = "key_prefix" };
static const struct rest_field hash_field = { .name = "hash", .column = "key_hash" };

/*
 * Secrets between the INSERT and its answer, by request handle: the secret
 * never travels to the database (statement logs may show parameters). An
 * entry whose client went away is dropped by the next creation after
 * PENDING_MAX_MS.
 */
#define PENDING_MAX_MS (10 * 60 * 1000)

struct pending_secret {
    char *secret;
    int64_t at_ms;
};

static struct hmap *pending;

static void pending_free(struct pending_secret *p)
{
    memset(p->secret, 0, strlen(p->secret));
    free(p->secret);
    free(p);
}

static int drop_stale(void *ctx, const void *key, size_t klen, void *val)
{
    (void)key;
    (void)klen;
    struct pending_secret *p = val;
    if (p->at_ms > *(const int64_t *)ctx)
        return 0;
    pending_free(p);
    return 1;
}

static void pending_put(uint64_t handle, char *secret)
{
    if (!pending)
        pending = hmap_new();
    int64_t cutoff = time_now_ms() - PENDING_MAX_MS;
    hmap_foreach(pending, drop_stale, &cutoff);
    struct pending_secret *p = xmalloc(sizeof *p);
    p->secret = secret;
    p->at_ms = time_now_ms();
    struct pending_secret *old = hmap_put_u64(pending, handle, p);
    if (old)
        pending_free(old);
}

/* The secret of that request (caller frees with pending_free), or NULL. */
static struct pending_secret *pending_take(uint64_t handle)
{
    return pending ? hmap_del_u64(pending, handle) : NULL;
}

/* ---- GET /v1/api-keys ---- */

static void list_done(struct rest_request *r, struct store_job *job)
{
    res_list_finish(r, job, &keys_spec, NULL);
}

void res_api_keys_list(struct rest_request *r)
{
    res_list_start(r, &keys_spec, NULL, list_done);
}

/* ---- POST /v1/api-keys ---- */

static void create_done(struct rest_request *r, struct store_job *job)
{
    struct pending_secret *secret = pending_take(rest_request_handle(r));
    const char *id = rest_job_value(job, 0, 0);
    if (!res_write_done(r, job, "apikey.create", "API key", "id", id, REST_ERR_INTERNAL)) {
        if (secret)
            pending_free(secret);
        return;
    }
    if (!secret) {
        /* cannot happen: the loop thread put it there before the statement left */
        rest_reply_error(r, REST_ERR_INTERNAL, "the new key's secret was lost", NULL);
        return;
    }
    cJSON *key = rest_row_json(r, job, 0, 0, key_cols, NCOLS);
    int64_t expires_ms = 0;
    const char *expires = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(key, "expiresAt"));
    if (expires)
        time_parse_iso8601(expires, &expires_ms);
    const cJSON *chargers = cJSON_GetObjectItemCaseSensitive(key, "chargerIds");
    const cJSON *sites = cJSON_GetObjectItemCaseSensitive(key, "siteIds");
    /* the key hash comes after the shown columns */
    const char *hash = rest_job_value(job, 0, (int)NCOLS);
    rest_auth_key_created(strtoll(id, NULL, 10), rest_job_value(job, 0, 1), hash ? hash : "",
                          cJSON_GetObjectItemCaseSensitive(key, "scopes"),
                          cJSON_IsArray(chargers) ? chargers : NULL,
                          cJSON_IsArray(sites) ? sites : NULL, expires_ms);
    cJSON_AddStringToObject(key, "secret", secret->secret);
    pending_free(secret);
    rest_reply_secret_field(r, "secret");       /* shown once: an Idempotency-Key replay gets null */
    res_location(r, "/v1/api-keys/", id);
    rest_reply_json(r, 201, key);
}

static void insert_key(struct rest_request *r);

/*
 * chargerIds and siteIds must name chargers and sites that exist (sites are
 * made with POST /v1/sites): the ids each list names that the database does
 * not know, as JSON arrays (NULL: none unknown).
 */
static const char unknown_sql[] =
    "SELECT (SELECT json_agg(u.x ORDER BY u.o) FROM unnest($1::text[]) WITH ORDINALITY AS u(x, o)"
    "         WHERE NOT EXISTS (SELECT 1 FROM chargers c WHERE c.id = u.x))::text,"
    "       (SELECT json_agg(u.x ORDER BY u.o) FROM unnest($2::text[]) WITH ORDINALITY AS u(x, o)"
    "         WHERE NOT EXISTS (SELECT 1 FROM sites s WHERE s.id = u.x))::text";

/* Adds "unknown <what>: a, b" to ctx under field if unknown (a JSON array text) lists any. */
static bool add_unknown(cJSON *ctx, const char *field, const char *what, const char *unknown)
{
    cJSON *ids = unknown ? cJSON_Parse(unknown) : NULL;
    bool any = cJSON_GetArraySize(ids) > 0;
    if (any) {
        char text[300];
        size_t at = (size_t)snprintf(text, sizeof text, "unknown %s:", what);
        const cJSON *id;
        int i = 0;
        cJSON_ArrayForEach(id, ids) {
            if (at >= sizeof text - 60) {
                snprintf(text + at, sizeof text - at, " ...");
                break;
            }
            at += (size_t)snprintf(text + at, sizeof text - at, "%s '%.48s'", i++ ? "," : "",
                                   cJSON_GetStringValue(id) ?: "");
        }
        cJSON_AddStringToObject(ctx, field, text);
    }
    cJSON_Delete(ids);
    return any;
}

static void unknown_done(struct rest_request *r, struct store_job *job)
{
    if (job->status != STORE_OK) {
        rest_reply_store_error(r, job);
        return;
    }
    cJSON *ctx = cJSON_CreateObject();
    bool chargers = add_unknown(ctx, "chargerIds", "charger ids", rest_job_value(job, 0, 0));
    bool sites = add_unknown(ctx, "siteIds", "site ids (POST /v1/sites makes one)",
                             rest_job_value(job, 0, 1));
    if (!chargers && !sites) {
        cJSON_Delete(ctx);
        insert_key(r);
        return;
    }
    res_audit(r, "apikey.create", NULL, "invalid");
    char msg[64];
    snprintf(msg, sizeof msg, "invalid fields: %s%s%s", chargers ? "chargerIds" : "",
             chargers && sites ? ", " : "", sites ? "siteIds" : "");
    rest_reply_error(r, REST_ERR_UNPROCESSABLE, msg, ctx);
}

void res_api_key_create(struct rest_request *r)
{
    struct rest_body body;
    if (res_unknown_params(r) || !res_body(r, key_fields, NFIELDS, true, "apikey.create", NULL, &body))
        return;
    const struct rest_body_value *exp = rest_body_find(&body, "expiresAt");
    if (exp && exp->text && strtoll(exp->text, NULL, 10) <= time_now_ms()) {
        rest_body_free(&body);
        res_audit(r, "apikey.create", NULL, "invalid");
        cJSON *ctx = cJSON_CreateObject();
        cJSON_AddStringToObject(ctx, "expiresAt", "must be in the future");
        rest_reply_error(r, REST_ERR_UNPROCESSABLE, "invalid fields: expiresAt", ctx);
        return;
    }
    const struct rest_body_value *chargers = rest_body_find(&body, "chargerIds");
    const struct rest_body_value *sites = rest_body_find(&body, "siteIds");
    if ((chargers && chargers->text) || (sites && sites->text)) {
        const char *params[] = { chargers && chargers->text ? chargers->text : "{}",
                                 sites && sites->text ? sites->text : "{}" };
        rest_sql(r, unknown_sql, 2, params, unknown_done);
        rest_body_free(&body);
        return;
    }
    rest_body_free(&body);
    insert_key(r);
}

/* The body was checked (and its ids looked up): the INSERT. */
static void insert_key(struct rest_request *r)
{
    struct rest_body body;
    if (!res_body(r, key_fields, NFIELDS, true, "apikey.create", NULL, &body))
        return; /* cannot happen: the same body passed before */
    char prefix[13], hash[65];
    char *secret = secret_new_api_key(prefix);
    secret_sha256_hex(secret, strlen(secret), hash);
    pending_put(rest_request_handle(r), secret);
    rest_body_add(&body, &prefix_field, prefix);
    rest_body_add(&body, &hash_field, hash);

    struct rest_sqlb b;
    rest_sqlb_init(&b);
    rest_body_insert(&body, &b, "k", "api_keys");
    rest_sqlb_add(&b, " RETURNING *) ");
    res_select(&b, key_cols, NCOLS, ", k.key_hash FROM k");
    res_sql_run(r, &b, create_done);
    rest_body_free(&body);
}

/* ---- DELETE /v1/api-keys/{id}: revoke ---- */

static void revoke_done(struct rest_request *r, struct store_job *job)
{
    const char *id = rest_param(r, "id");
    if (res_write_done(r, job, "apikey.revoke", "API key", "id", id, REST_ERR_NOT_FOUND)) {
        rest_auth_key_revoked(strtoll(id, NULL, 10));
        rest_reply_json(r, 204, NULL);
    }
}

void res_api_key_revoke(struct rest_request *r)
{
    static const char *sql;
    if (res_unknown_params(r))
        return;
    const char *id = rest_param(r, "id");
    if (!res_id_ok(id)) {
        res_audit(r, "apikey.revoke", id, "not_found");
        res_not_found(r, "API key", "id", id);
        return;
    }
    if (!sql)
        sql = rest_sql_intern("UPDATE api_keys SET revoked_at = now()"
                              " WHERE id = $1::bigint AND revoked_at IS NULL RETURNING id");
    rest_sql(r, sql, 1, &id, revoke_done);
}
