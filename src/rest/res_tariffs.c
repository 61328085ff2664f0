/*
 * /v1/tariffs: what a session costs (../shared/spec/sites-and-tariffs.md,
 * "Tariffs"): list (offset pages), create, read (?version=N for an old
 * version), change (a new version), delete; the assignment of a tariff to a
 * site, a charger or a token (PUT .../tariff {tariffId}); and the tariff
 * that applies to a charger and token (GET /v1/chargers/{id}/tariff).
 *
 * A tariff's versions are immutable rows of tariff_versions
 * (sql/015_tariffs.sql): PATCH merges the body onto the version in force and
 * writes it as the next one, so a session frozen on version n keeps it. The
 * body's plain fields go through the shared validator (rest_body.h); its
 * elements, an array of objects that validator does not describe, are
 * checked here field by field, prices with pricing.h's scale, and the whole
 * with pricing_check(); every problem is one entry of the 422 context
 * ("elements[1].restrictions.startTime"). The elements are stored as the
 * validated JSON.
 *
 * Tariffs are global objects: any key with tariffs:read reads them all,
 * whatever charger or site set it is limited to (a price list is no
 * charger data). The assignment routes check the key's restriction on the
 * site or charger they change, and the effective tariff route on its
 * charger. At most one tariff is the default (a unique index): making a
 * second one the default is 409 CONFLICT. A tariff still assigned, or
 * frozen on a session (sessions.tariff_id/tariff_version, set by a trigger
 * at the session's insert), cannot be deleted (the foreign keys): 409
 * RESOURCE_IN_USE. When no tariff applies,
 * the effective route answers 200 with tariff and source null (rest-api.md
 * has no error code for "no tariff", and "no cost" is an answer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "core.h"
#include "pricing.h"
#include "rest.h"
#include "rest_body.h"
#include "rest_query.h"
#include "rest_res.h"
#include "store_job.h"
#include "util.h"

/* The version shown: t.current_version, or ?version=N (LEFT JOIN: v.* NULL when there is no such version). */
static const struct rest_col tariff_cols[] = {
    { "id", "t.id", REST_COL_STR, NULL },
    { "version", "v.version", REST_COL_INT, NULL },
    { "currentVersion", "t.current_version", REST_COL_INT, NULL },
    { "name", "v.name", REST_COL_STR, NULL },
    { "currency", "v.currency", REST_COL_STR, NULL },
    { "vatPercent", "v.vat_percent", REST_COL_NUM, NULL },
    { "validFrom", "v.valid_from", REST_COL_TIME, NULL },
    { "validTo", "v.valid_to", REST_COL_TIME, NULL },
    { "default", "t.is_default", REST_COL_BOOL, NULL },
    { "elements", "v.elements", REST_COL_JSON, NULL },
    { "minPrice", "v.min_price", REST_COL_NUM, NULL },
    { "maxPrice", "v.max_price", REST_COL_NUM, NULL },
    { "createdAt", "t.created_at", REST_COL_TIME, NULL },
    { "updatedAt", "v.created_at", REST_COL_TIME, NULL },
};
#define NCOLS (sizeof tariff_cols / sizeof tariff_cols[0])
#define CURRENT_VERSION " FROM tariffs t JOIN tariff_versions v ON v.tariff_id = t.id AND v.version = t.current_version"

static const struct rest_sort tariff_sorts[] = {
    { "id", "t.id", NULL, NULL },
    { "name", "v.name", NULL, NULL },
    { "createdAt", "t.created_at", NULL, NULL },
};

static const struct rest_filter tariff_filters[] = {
    { "currency", REST_F_TEXT, "v.currency = upper($?)", 3, NULL, 0, 0, NULL },
    { "default", REST_F_BOOL, "t.is_default = $?::boolean", 0, NULL, 0, 0, NULL },
    { "search", REST_F_SEARCH, "(t.id ILIKE $? OR v.name ILIKE $?)", 100, NULL, 0, 0, NULL },
};

static const struct rest_list_spec tariffs_spec = {
    .name = "tariffs",
    .paging = REST_PAGING_OFFSET,
    .kind = REST_LIST_TARIFFS,
    .cols = tariff_cols,
    .ncols = NCOLS,
    .from = "tariffs t JOIN tariff_versions v ON v.tariff_id = t.id AND v.version = t.current_version",
    .id = "t.id",
    .sorts = tariff_sorts,
    .nsorts = sizeof tariff_sorts / sizeof tariff_sorts[0],
    .desc = false,
    .filters = tariff_filters,
    .nfilters = sizeof tariff_filters / sizeof tariff_filters[0],
};
const struct rest_list_spec *const res_tariffs_spec = &tariffs_spec;

static bool currency_ok(const char *s)
{
    return strlen(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && s[2] >= 'A' &&
           s[2] <= 'Z';
}

/*
 * The plain fields (elements: check_elements). Columns are those of
 * tariff_versions; id and default belong to tariffs and are written by the
 * handlers. Prices and vatPercent are rewritten as exact decimals
 * (fix_decimals) before they are stored.
 */
static const struct rest_field tariff_fields[] = {
    { "id", REST_FT_STRING, REST_FF_REQUIRED | REST_FF_IMMUTABLE, NULL, NULL, 1, 64, 0, 0, NULL,
      core_path_id_valid,
      "must be 1 to 64 printable ASCII characters without blanks, '/', ',' or '%', and not '.' or '..'" },
    { "name", REST_FT_STRING, REST_FF_NULLABLE, "name", NULL, 1, 128, 0, 0, NULL, NULL, NULL },
    { "currency", REST_FT_STRING, REST_FF_REQUIRED, "currency", NULL, 3, 3, 0, 0, NULL, currency_ok,
      "must be an ISO 4217 currency code in capitals, such as EUR" },
    { "vatPercent", REST_FT_NUMBER, REST_FF_REQUIRED, "vat_percent", "$?::numeric", 0, 0, 0, 100, NULL, NULL,
      NULL },
    { "validFrom", REST_FT_TIME, REST_FF_NULLABLE, "valid_from", "ocppgw_ts($?::bigint)", 0, 0, 0, 0, NULL, NULL,
      NULL },
    { "validTo", REST_FT_TIME, REST_FF_NULLABLE, "valid_to", "ocppgw_ts($?::bigint)", 0, 0, 0, 0, NULL, NULL,
      NULL },
    { "default", REST_FT_BOOL, 0, NULL, NULL, 0, 0, 0, 0, NULL, NULL, NULL },
    { "minPrice", REST_FT_NUMBER, REST_FF_NULLABLE, "min_price", "$?::numeric", 0, 0, 0, 1e6, NULL, NULL, NULL },
    { "maxPrice", REST_FT_NUMBER, REST_FF_NULLABLE, "max_price", "$?::numeric", 0, 0, 0, 1e6, NULL, NULL, NULL },
};
#define NFIELDS (sizeof tariff_fields / sizeof tariff_fields[0])

static const struct res_row tariff_row = {
    tariff_cols, NCOLS, "tariff", "tariffId", "/v1/tariffs/", NULL, NULL,
};

/* ---- validation of a body ---- */

static void add_reason(cJSON **ctx, const char *name, const char *why)
{
    if (!*ctx)
        *ctx = cJSON_CreateObject();
    if (!cJSON_GetObjectItemCaseSensitive(*ctx, name))
        cJSON_AddStringToObject(*ctx, name, why);
}

/* A price member of an element: absent is 0. */
static void take_price(const cJSON *el, const char *member, const char *at, int64_t *out, cJSON **ctx)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(el, member);
    char name[96];
    *out = 0;
    if (!j)
        return;
    snprintf(name, sizeof name, "%s.%s", at, member);
    if (!cJSON_IsNumber(j) ||
        !pricing_decimal_from_double(j->valuedouble, PRICING_PRICE_SCALE, PRICING_PRICE_MAX, out))
        add_reason(ctx, name, "must be a number from 0 to 1000000 with at most 4 decimals");
}

static void take_restrictions(const cJSON *res, const char *at, struct pricing_element *e, cJSON **ctx)
{
    char name[128];
    snprintf(name, sizeof name, "%s.restrictions", at);
    if (!cJSON_IsObject(res)) {
        add_reason(ctx, name, "must be an object");
        return;
    }
    const cJSON *j;
    cJSON_ArrayForEach(j, res) {
        const char *m = j->string ? j->string : "";
        snprintf(name, sizeof name, "%s.restrictions.%.32s", at, m);
        bool start = strcmp(m, "startTime") == 0;
        if (start || strcmp(m, "endTime") == 0) {
            int32_t *dst = start ? &e->start_min : &e->end_min;
            if (!cJSON_IsString(j) || !pricing_parse_hhmm(j->valuestring, !start, dst))
                add_reason(ctx, name, start ? "must be a time HH:MM from 00:00 to 23:59"
                                            : "must be a time HH:MM from 00:00 to 24:00");
        } else if (strcmp(m, "daysOfWeek") == 0) {
            const cJSON *d;
            if (!cJSON_IsArray(j) || cJSON_GetArraySize(j) < 1)
                add_reason(ctx, name, "must be a non-empty array of day names (MONDAY to SUNDAY)");
            cJSON_ArrayForEach(d, j) {
                unsigned bit = cJSON_IsString(d) ? pricing_day_from_name(d->valuestring) : 0;
                if (!bit || (e->days & bit))
                    add_reason(ctx, name, "must be a non-empty array of distinct day names (MONDAY to SUNDAY)");
                e->days |= bit;
            }
        } else {
            add_reason(ctx, name, "unknown field");
        }
    }
}

/*
 * Checks the elements array into *out (caller frees; n in *n), adding a
 * reason per bad field to *ctx.
 */
static void check_elements(const cJSON *arr, struct pricing_element **out, size_t *n, cJSON **ctx)
{
    *out = NULL;
    *n = 0;
    int size = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
    if (size < 1 || size > REST_BODY_LIST_MAX) {
        add_reason(ctx, "elements", "must be an array of 1 to 100 element objects");
        return;
    }
    *out = xcalloc((size_t)size, sizeof **out);
    *n = (size_t)size;
    const cJSON *el;
    size_t i = 0;
    cJSON_ArrayForEach(el, arr) {
        struct pricing_element *e = &(*out)[i];
        char at[32];
        snprintf(at, sizeof at, "elements[%zu]", i++);
        e->start_min = e->end_min = -1;
        if (!cJSON_IsObject(el)) {
            add_reason(ctx, at, "must be an object");
            continue;
        }
        const cJSON *j;
        cJSON_ArrayForEach(j, el) {
            static const char *const known[] = { "energy", "time", "idle", "idleGraceMinutes", "sessionFee",
                                                 "restrictions" };
            bool ok = false;
            for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
                ok |= j->string && strcmp(j->string, known[k]) == 0;
            if (!ok) {
                char name[96];
                snprintf(name, sizeof name, "%s.%.32s", at, j->string ? j->string : "");
                add_reason(ctx, name, "unknown field");
            }
        }
        take_price(el, "energy", at, &e->energy, ctx);
        take_price(el, "time", at, &e->time, ctx);
        take_price(el, "idle", at, &e->idle, ctx);
        take_price(el, "sessionFee", at, &e->session_fee, ctx);
        const cJSON *grace = cJSON_GetObjectItemCaseSensitive(el, "idleGraceMinutes");
        if (grace) {
            double g = cJSON_IsNumber(grace) ? grace->valuedouble : -1;
            if (g < 0 || g > 1440 || g != (double)(int32_t)g) {
                char name[64];
                snprintf(name, sizeof name, "%s.idleGraceMinutes", at);
                add_reason(ctx, name, "must be an integer from 0 to 1440");
            } else {
                e->idle_grace_min = (int32_t)g;
            }
        }
        const cJSON *res = cJSON_GetObjectItemCaseSensitive(el, "restrictions");
        if (res && !cJSON_IsNull(res))
            take_restrictions(res, at, e, ctx);
    }
}

/* A number field's text rewritten as the exact decimal it stands for, or a reason. */
static void fix_decimal(struct rest_body *body, const char *name, int64_t scale, int64_t max, const char *why,
                        int64_t *out, cJSON **ctx)
{
    struct rest_body_value *v = rest_body_find(body, name);
    *out = PRICING_NONE;
    if (!v || !v->text)
        return;
    if (!pricing_decimal_from_double(strtod(v->text, NULL), scale, max, out)) {
        add_reason(ctx, name, why);
        *out = PRICING_NONE;
        return;
    }
    char buf[PRICING_DECIMAL_LEN];
    pricing_format_decimal(*out, scale, buf, sizeof buf);
    free(v->text);
    v->text = xstrdup(buf);
}

/*
 * The request's tariff body checked; the plain fields into *out and the
 * elements' JSON text into *elements (NULL when absent; caller frees both).
 * False after replying 400 or 422 (every bad field named).
 */
static bool tariff_body(struct rest_request *r, bool create, const char *action, const char *id,
                        struct rest_body *out, char **elements)
{
    const cJSON *body = rest_body(r);
    *elements = NULL;
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(body)) {
        res_audit(r, action, id, "invalid");
        rest_reply_error(r, REST_ERR_BAD_REQUEST, "the body must be a JSON object", NULL);
        return false;
    }
    cJSON *plain = cJSON_Duplicate(body, true);
    cJSON *els = cJSON_DetachItemFromObjectCaseSensitive(plain, "elements");
    cJSON *ctx = rest_body_parse(plain, tariff_fields, NFIELDS, create, out);
    cJSON_Delete(plain);

    struct pricing_tariff t = { NULL, 0, 0, PRICING_NONE, PRICING_NONE };
    struct pricing_element *elv = NULL;
    fix_decimal(out, "vatPercent", PRICING_VAT_SCALE, 100 * PRICING_VAT_SCALE,
                "must be a number from 0 to 100 with at most 2 decimals", &t.vat_percent, &ctx);
    fix_decimal(out, "minPrice", PRICING_PRICE_SCALE, PRICING_PRICE_MAX,
                "must be a number from 0 to 1000000 with at most 4 decimals", &t.min_price, &ctx);
    fix_decimal(out, "maxPrice", PRICING_PRICE_SCALE, PRICING_PRICE_MAX,
                "must be a number from 0 to 1000000 with at most 4 decimals", &t.max_price, &ctx);
    if (t.min_price != PRICING_NONE && t.max_price != PRICING_NONE && t.min_price > t.max_price)
        add_reason(&ctx, "maxPrice", "must not be below minPrice");
    if (t.vat_percent == PRICING_NONE)
        t.vat_percent = 0;
    if (els && cJSON_IsNull(els) && !create)
        add_reason(&ctx, "elements", "must be an array of 1 to 100 element objects");
    if (els || create)
        check_elements(els, &elv, &t.n_elements, &ctx);
    t.elements = elv;
    const char *why;
    if (!ctx && els && (why = pricing_check(&t)) != NULL)
        add_reason(&ctx, "elements", why);
    free(elv);
    if (ctx) {
        rest_body_free(out);
        cJSON_Delete(els);
        res_invalid(r, action, id, ctx);
        return false;
    }
    if (els)
        *elements = cJSON_PrintUnformatted(els);
    cJSON_Delete(els);
    return true;
}

/* The versioned columns, in the order of the INSERT INTO tariff_versions below. */
static const char *const version_fields[] = { "name", "currency", "vatPercent", "validFrom", "validTo",
                                              "minPrice", "maxPrice" };
#define NVERSION (sizeof version_fields / sizeof version_fields[0])
#define VERSION_COLUMNS "name, currency, vat_percent, valid_from, valid_to, min_price, max_price, elements"

/*
 * The values of a new version: each field given, else `keep` + its column
 * (PATCH: "cur.", the version it replaces), else NULL (create); then the
 * elements.
 */
static void version_values(struct rest_body *body, const char *elements, const char *keep, struct rest_sqlb *b)
{
    for (size_t i = 0; i < NVERSION; i++) {
        struct rest_body_value *v = rest_body_find(body, version_fields[i]);
        const struct rest_field *f = NULL;
        for (size_t k = 0; k < NFIELDS; k++)
            if (strcmp(tariff_fields[k].name, version_fields[i]) == 0)
                f = &tariff_fields[k];
        if (v && v->text) {
            rest_sqlb_frag(b, f->value ? f->value : "$?", rest_sqlb_param(b, v->text));
        } else if (v || !keep) {
            rest_sqlb_add(b, "NULL");
        } else {
            rest_sqlb_add(b, keep);
            rest_sqlb_add(b, f->column);
        }
        rest_sqlb_add(b, ", ");
    }
    if (elements) {
        rest_sqlb_frag(b, "$?::jsonb", rest_sqlb_param(b, elements));
    } else {
        rest_sqlb_add(b, keep);
        rest_sqlb_add(b, "elements");
    }
}

/* ---- GET /v1/tariffs ---- */

static void list_done(struct rest_request *r, struct store_job *job)
{
    res_list_finish(r, job, &tariffs_spec, NULL);
}

void res_tariffs_list(struct rest_request *r)
{
    res_list_start(r, &tariffs_spec, NULL, list_done);
}

/* ---- GET /v1/tariffs/{id}[?version=N] ---- */

static const struct rest_filter version_param = { "version", REST_F_INT, NULL, 0, NULL, 1, INT32_MAX, NULL };

static void get_done(struct rest_request *r, struct store_job *job)
{
    const char *id = rest_param(r, "id");
    if (job->status == STORE_OK && rest_job_rows(job) == 1 && !rest_job_value(job, 0, 1)) {
        const char *version = rest_job_value(job, 0, (int)NCOLS);
        char msg[160];
        snprintf(msg, sizeof msg, "tariff '%.64s' has no version %.12s", id, version ? version : "");
        cJSON *ctx = cJSON_CreateObject();
        cJSON_AddStringToObject(ctx, "tariffId", id);
        cJSON_AddNumberToObject(ctx, "version", version ? strtod(version, NULL) : 0);
        rest_reply_error(r, REST_ERR_NOT_FOUND, msg, ctx);
        return;
    }
    res_reply_row(r, job, &tariff_row, id, 200);
}

void res_tariff_get(struct rest_request *r)
{
    static const char *sql;
    char *version;
    if (!res_param(r, &version_param, &version) || res_unknown_params(r)) {
        free(version);
        return;
    }
    const char *params[] = { rest_param(r, "id"), version };
    rest_sql(r,
             res_select_once(&sql, tariff_cols, NCOLS,
                             ", $2::integer FROM tariffs t LEFT JOIN tariff_versions v ON v.tariff_id = t.id"
                             " AND v.version = coalesce($2::integer, t.current_version) WHERE t.id = $1"),
             2, params, get_done);
    free(version);
}

/* ---- POST /v1/tariffs ---- */

static void create_done(struct rest_request *r, struct store_job *job)
{
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rest_body(r), "id"));
    if (res_write_done(r, job, "tariff.create", "tariff", "tariffId", id, REST_ERR_CONFLICT))
        res_reply_row(r, job, &tariff_row, id, 201);
}

void res_tariff_create(struct rest_request *r)
{
    struct rest_body body;
    char *elements;
    if (res_unknown_params(r) || !tariff_body(r, true, "tariff.create", NULL, &body, &elements))
        return;
    struct rest_body_value *def = rest_body_find(&body, "default");
    struct rest_sqlb b;
    rest_sqlb_init(&b);
    rest_sqlb_frag(&b, "WITH t AS (INSERT INTO tariffs (id, is_default) VALUES ($?, ",
                   rest_sqlb_param(&b, rest_body_find(&body, "id")->text));
    rest_sqlb_frag(&b, "coalesce($?::boolean, false)) ON CONFLICT (id) DO NOTHING RETURNING *),",
                   rest_sqlb_param(&b, def ? def->text : NULL));
    rest_sqlb_add(&b, " v AS (INSERT INTO tariff_versions (tariff_id, version, " VERSION_COLUMNS ")"
                      " SELECT t.id, 1, ");
    version_values(&body, elements, NULL, &b);
    rest_sqlb_add(&b, " FROM t RETURNING *) ");
    res_select(&b, tariff_cols, NCOLS, " FROM t JOIN v ON v.tariff_id = t.id");
    res_sql_run(r, &b, create_done);
    rest_body_free(&body);
    cJSON_free(elements);
}

/* ---- PATCH /v1/tariffs/{id}: the next version ---- */

static void update_done(struct rest_request *r, struct store_job *job)
{
    if (res_write_done(r, job, "tariff.update", "tariff", "tariffId", rest_param(r, "id"), REST_ERR_NOT_FOUND))
        res_reply_row(r, job, &tariff_row, rest_param(r, "id"), 200);
}

/*
 * One statement: the version in force read with its tariff locked, the next
 * written from it and the body, the tariff moved to it. Two PATCHes at once
 * serialise on the lock; the second's snapshot misses the first's version,
 * so its insert collides on (tariff_id, version): 409, to be retried.
 */
void res_tariff_update(struct rest_request *r)
{
    const char *id = rest_param(r, "id");
    struct rest_body body;
    char *elements;
    if (res_unknown_params(r) || !tariff_body(r, false, "tariff.update", id, &body, &elements))
        return;
    struct rest_body_value *def = rest_body_find(&body, "default");
    struct rest_sqlb b;
    rest_sqlb_init(&b);
    rest_sqlb_frag(&b, "WITH cur AS (SELECT v.* FROM tariffs t JOIN tariff_versions v ON v.tariff_id = t.id"
                       " AND v.version = t.current_version WHERE t.id = $? FOR UPDATE OF t),",
                   rest_sqlb_param(&b, id));
    rest_sqlb_add(&b, " v AS (INSERT INTO tariff_versions (tariff_id, version, " VERSION_COLUMNS ")"
                      " SELECT cur.tariff_id, cur.version + 1, ");
    version_values(&body, elements, "cur.", &b);
    rest_sqlb_add(&b, " FROM cur RETURNING *),"
                      " t AS (UPDATE tariffs t SET current_version = v.version, updated_at = now()");
    if (def && def->text)
        rest_sqlb_frag(&b, ", is_default = $?::boolean", rest_sqlb_param(&b, def->text));
    rest_sqlb_add(&b, " FROM v WHERE t.id = v.tariff_id RETURNING t.*) ");
    res_select(&b, tariff_cols, NCOLS, " FROM t JOIN v ON v.tariff_id = t.id");
    res_sql_run(r, &b, update_done);
    rest_body_free(&body);
    cJSON_free(elements);
}

/* ---- DELETE /v1/tariffs/{id} ---- */

static void delete_done(struct rest_request *r, struct store_job *job)
{
    const char *id = rest_param(r, "id");
    if (res_failed_with(job, SQLSTATE_FOREIGN_KEY_VIOLATION)) {
        res_audit(r, "tariff.delete", id, "conflict");
        cJSON *ctx = cJSON_CreateObject();
        cJSON_AddStringToObject(ctx, "tariffId", id);
        char msg[200];
        snprintf(msg, sizeof msg,
                 "tariff '%.64s' is still assigned to a site, charger or token, or frozen on a session", id);
        rest_reply_error(r, REST_ERR_RESOURCE_IN_USE, msg, ctx);
    } else if (res_write_done(r, job, "tariff.delete", "tariff", "tariffId", id, REST_ERR_NOT_FOUND)) {
        rest_reply_json(r, 204, NULL);
    }
}

void res_tariff_delete(struct rest_request *r)
{
    if (res_unknown_params(r))
        return;
    const char *id = rest_param(r, "id");
    rest_sql(r, "DELETE FROM tariffs WHERE id = $1 RETURNING id", 1, &id, delete_done);
}

/* ---- PUT /v1/{sites,chargers,tokens}/{id}/tariff ---- */

static const struct rest_field assign_fields[] = {
    { "tariffId", REST_FT_STRING, REST_FF_REQUIRED | REST_FF_NULLABLE, "tariff_id", NULL, 1, 64, 0, 0, NULL,
      NULL, NULL },
};

/* What an assignment changes: the table, how its path parameter finds the row, the names in answers. */
struct assign_target {
    const char *param;   /* path parameter */
    const char *what;    /* "site" */
    const char *ctx_key; /* "siteId" */
    const char *action;  /* audit */
    const char *update;  /* statement: $1 the path value, $2 the tariff id; answers the row's id and tariff */
};

static const struct assign_target assign_site = {
    "id", "site", "siteId", "site.tariff",
    "UPDATE sites SET tariff_id = $2, updated_at = now() WHERE id = $1 RETURNING id, tariff_id",
};
static const struct assign_target assign_charger = {
    "id", "charger", "chargerId", "charger.tariff",
    "UPDATE chargers SET tariff_id = $2, updated_at = now() WHERE id = $1 RETURNING id, tariff_id",
};
static const struct assign_target assign_token = {
    "idTag", "token", "idTag", "token.tariff",
    "UPDATE tokens SET tariff_id = $2, updated_at = now() WHERE id_tag = (SELECT x.id_tag FROM tokens x"
    " WHERE lower(x.id_tag) = lower($1) ORDER BY x.id_tag = $1 DESC LIMIT 1) RETURNING id_tag, tariff_id",
};

static void assign_done(struct rest_request *r, struct store_job *job, const struct assign_target *t)
{
    const char *id = rest_param(r, t->param);
    if (res_failed_with(job, SQLSTATE_FOREIGN_KEY_VIOLATION)) {
        cJSON *ctx = cJSON_CreateObject();
        cJSON_AddStringToObject(ctx, "tariffId", "must name an existing tariff");
        res_invalid(r, t->action, id, ctx);
        return;
    }
    if (!res_write_done(r, job, t->action, t->what, t->ctx_key, id, REST_ERR_NOT_FOUND))
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, t->ctx_key, rest_job_value(job, 0, 0));
    const char *tariff = rest_job_value(job, 0, 1);
    if (tariff)
        cJSON_AddStringToObject(o, "tariffId", tariff);
    else
        cJSON_AddNullToObject(o, "tariffId");
    rest_reply_json(r, 200, o);
}

static void assign_site_done(struct rest_request *r, struct store_job *job)
{
    assign_done(r, job, &assign_site);
}
static void assign_charger_done(struct rest_request *r, struct store_job *job)
{
    assign_done(r, job, &assign_charger);
}
static void assign_token_done(struct rest_request *r, struct store_job *job)
{
    assign_done(r, job, &assign_token);
}

static void assign(struct rest_request *r, const struct assign_target *t, rest_sql_done done)
{
    const char *id = rest_param(r, t->param);
    struct rest_body body;
    if (res_unknown_params(r) || !res_body(r, assign_fields, 1, true, t->action, id, &body))
        return;
    const char *params[] = { id, rest_body_find(&body, "tariffId")->text };
    rest_sql(r, t->update, 2, params, done);
    rest_body_free(&body);
}

void res_site_tariff_put(struct rest_request *r)
{
    assign(r, &assign_site, assign_site_done);
}

void res_charger_tariff_put(struct rest_request *r)
{
    assign(r, &assign_charger, assign_charger_done);
}

void res_token_tariff_put(struct rest_request *r)
{
    assign(r, &assign_token, assign_token_done);
}

/* ---- GET /v1/chargers/{id}/tariff[?idTag=...]: the tariff that applies ---- */

static const struct rest_filter id_tag_param = { "idTag", REST_F_TEXT, NULL, 20, NULL, 0, 0, NULL };

/* (the tariff's columns or NULLs, charger id, idTag, source); no row when there is no such charger */
static void effective_done(struct rest_request *r, struct store_job *job)
{
    const char *id = rest_param(r, "id");
    if (job->status != STORE_OK) {
        rest_reply_store_error(r, job);
        return;
    }
    if (rest_job_rows(job) < 1) {
        res_not_found(r, "charger", "chargerId", id);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "chargerId", rest_job_value(job, 0, (int)NCOLS));
    const char *tag = rest_job_value(job, 0, (int)NCOLS + 1);
    const char *source = rest_job_value(job, 0, (int)NCOLS + 2);
    if (tag)
        cJSON_AddStringToObject(o, "idTag", tag);
    else
        cJSON_AddNullToObject(o, "idTag");
    if (source) {
        cJSON_AddStringToObject(o, "source", source);
        cJSON_AddItemToObject(o, "tariff", rest_row_json(r, job, 0, 0, tariff_cols, NCOLS));
    } else {
        cJSON_AddNullToObject(o, "source");
        cJSON_AddNullToObject(o, "tariff");
    }
    rest_reply_json(r, 200, o);
}

void res_charger_tariff_get(struct rest_request *r)
{
    static const char *sql;
    char *tag;
    if (!res_param(r, &id_tag_param, &tag) || res_unknown_params(r)) {
        free(tag);
        return;
    }
    const char *params[] = { rest_param(r, "id"), tag };
    res_select_once(&sql, tariff_cols, NCOLS,
                    ", c.id, $2::text, e.source FROM chargers c"
                    " LEFT JOIN LATERAL ocppgw_effective_tariff(c.id, $2::text) e ON true"
                    " LEFT JOIN tariffs t ON t.id = e.tariff_id"
                    " LEFT JOIN tariff_versions v ON v.tariff_id = t.id AND v.version = t.current_version"
                    " WHERE c.id = $1");
    rest_sql(r, sql, 2, params, effective_done);
    free(tag);
}
