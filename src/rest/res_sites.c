/*
 * /v1/sites: where chargers stand (../shared/spec/sites-and-tariffs.md,
 * "Sites"): list (offset pages), create, read, change, delete. A site has a
 * name, the IANA zone its local times are shown in (a zone of the system tz
 * database, default UTC), a postal address (an object of four columns; the
 * country an assigned ISO 3166-1 alpha-2 code), a position, and the
 * constant carbon intensity of its grid (co2GramsPerKwh, for the energy
 * report; its hourly series is res_carbon.c's), the
 * configuration of load management (load-management.md: maxCurrent,
 * maxPower, loadBalancing stored in columns of their own so that a PATCH
 * merges it member by member; effectiveMaxCurrent read-only); every answer
 * counts its chargers. Chargers join and leave a site through their own
 * resource (PATCH /v1/chargers/{id} {"siteId": ...}), and GET
 * /v1/sites/{id}/chargers is the chargers list of one site (res_chargers.c).
 *
 * A key limited to sites sees the sites it lists and no other: the
 * dispatcher checks a route's {id} (REST_SITE_ID), the list is restricted in
 * its statement; a key limited to chargers alone sees no site. Deleting a
 * site that still has chargers is 409 RESOURCE_IN_USE unless ?force=true,
 * which takes them off it in the same statement (each charger's
 * charger.updated event with it). The foreign key of chargers.site_id
 * (sql/017_sites.sql) refuses the delete when a charger was placed on the
 * site after the statement counted them (its snapshot came first): never a
 * charger silently dropped from its site. The store runs a statement that
 * failed again on its own, with a fresh snapshot that counts the charger,
 * so that is 409 with the count; should the foreign key refuse that run
 * too, 409 without it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "core.h"
#include "iso3166.h"
#include "load_config.h"
#include "rest.h"
#include "rest_body.h"
#include "rest_query.h"
#include "rest_res.h"
#include "store_job.h"
#include "tz.h"

static const struct rest_col site_cols[] = {
    { "id", "s.id", REST_COL_STR, NULL },
    { "name", "s.name", REST_COL_STR, NULL },
    { "timeZone", "s.time_zone", REST_COL_STR, NULL },
    { "address",
      "json_build_object('street', s.street, 'city', s.city, 'postalCode', s.postal_code, 'country', s.country)",
      REST_COL_JSON, NULL },
    { "latitude", "s.latitude", REST_COL_NUM, NULL },
    { "longitude", "s.longitude", REST_COL_NUM, NULL },
    { "maxCurrent", "s.max_current", REST_COL_NUM, NULL },
    { "maxPower", "s.max_power", REST_COL_INT, NULL },
    /* the lower of maxCurrent and maxPower / (voltage x phases), rounded down to 0.1 A (load_config.h) */
    { "effectiveMaxCurrent",
      "least(s.max_current, floor(s.max_power * 10 / (s.lb_voltage * s.lb_phases)) / 10)", REST_COL_NUM, NULL },
    { "loadBalancing",
      "json_build_object('enabled', s.lb_enabled, 'strategy', s.lb_strategy, 'minCurrent', s.lb_min_current,"
      " 'phases', s.lb_phases, 'voltage', s.lb_voltage, 'redistribute', s.lb_redistribute)",
      REST_COL_JSON, NULL },
    { "co2GramsPerKwh", "s.co2_grams_per_kwh", REST_COL_NUM, NULL },
    { "chargerCount", "(SELECT count(*) FROM chargers c WHERE c.site_id = s.id)", REST_COL_INT, NULL },
    { "createdAt", "s.created_at", REST_COL_TIME, NULL },
    { "updatedAt", "s.updated_at", REST_COL_TIME, NULL },
};
#define NCOLS (sizeof site_cols / sizeof site_cols[0])

static const struct rest_sort site_sorts[] = {
    { "id", "s.id", NULL, NULL },
    { "name", "s.name", NULL, NULL },
    { "createdAt", "s.created_at", NULL, NULL },
};

/* country in any case (stored in capitals); search: id, name and the address */
static const struct rest_filter site_filters[] = {
    { "country", REST_F_TEXT, "s.country = upper($?)", 2, NULL, 0, 0, NULL },
    { "search", REST_F_SEARCH,
      "(s.id ILIKE $? OR s.name ILIKE $? OR s.street ILIKE $? OR s.city ILIKE $? OR s.postal_code ILIKE $?)",
      100, NULL, 0, 0, NULL },
};

/* CSV: the objects with fixed keys as one column per key */
static const char *const address_keys[] = { "street", "city", "postalCode", "country", NULL };
static const char *const load_balancing_keys[] = { "enabled", "strategy", "minCurrent", "phases", "voltage",
                                                   "redistribute", NULL };
static const struct rest_export_flat site_flat[] = {
    { "address", address_keys }, { "loadBalancing", load_balancing_keys }, { NULL, NULL },
};

static const struct rest_list_spec sites_spec = {
    .name = "sites",
    .paging = REST_PAGING_OFFSET,
    .kind = REST_LIST_SITES,
    .cols = site_cols,
    .ncols = NCOLS,
    .from = "sites s",
    .id = "s.id",
    .sorts = site_sorts,
    .nsorts = sizeof site_sorts / sizeof site_sorts[0],
    .desc = false,
    .filters = site_filters,
    .nfilters = sizeof site_filters / sizeof site_filters[0],
    .vis_sites = "s.id = ANY($?::text[])",
    .flat = site_flat,
};
const struct rest_list_spec *const res_sites_spec = &sites_spec;

static const char *const strategies[] = { "equal", "priority", NULL };

/* Ids follow the chargers' rule (core_path_id_valid), up to 64 characters. */
static const struct rest_field site_fields[] = {
    { "id", REST_FT_STRING, REST_FF_REQUIRED | REST_FF_IMMUTABLE, "id", NULL, 1, 64, 0, 0, NULL,
      core_path_id_valid,
      "must be 1 to 64 printable ASCII characters without blanks, '/', ',' or '%', and not '.' or '..'" },
    { "name", REST_FT_STRING, REST_FF_NULLABLE, "name", NULL, 1, 128, 0, 0, NULL, NULL, NULL },
    { "timeZone", REST_FT_STRING, 0, "time_zone", NULL, 1, 64, 0, 0, NULL, tz_exists, RES_TIME_ZONE_RULE },
    { "address", REST_FT_OBJECT, REST_FF_NULLABLE, NULL, NULL, 0, 0, 0, 0, NULL, NULL, NULL },
    { "address.street", REST_FT_STRING, REST_FF_NULLABLE, "street", NULL, 1, 200, 0, 0, NULL, NULL, NULL },
    { "address.city", REST_FT_STRING, REST_FF_NULLABLE, "city", NULL, 1, 100, 0, 0, NULL, NULL, NULL },
    { "address.postalCode", REST_FT_STRING, REST_FF_NULLABLE, "postal_code", NULL, 1, 20, 0, 0, NULL, NULL, NULL },
    { "address.country", REST_FT_STRING, REST_FF_NULLABLE, "country", NULL, 2, 2, 0, 0, NULL, iso3166_alpha2,
      "must be an ISO 3166-1 alpha-2 country code in capitals, such as DE" },
    { "latitude", REST_FT_NUMBER, REST_FF_NULLABLE, "latitude", "$?::float8", 0, 0, -90, 90, NULL, NULL, NULL },
    { "longitude", REST_FT_NUMBER, REST_FF_NULLABLE, "longitude", "$?::float8", 0, 0, -180, 180, NULL, NULL,
      NULL },
    /* the constant carbon intensity of the site's grid (reports.md, "Carbon"; series: res_carbon.c) */
    { "co2GramsPerKwh", REST_FT_NUMBER, REST_FF_NULLABLE, "co2_grams_per_kwh", "$?::numeric", 0, 0, 0, 100000, NULL,
      NULL, NULL },
    /*
     * Load management (load-management.md, "Configuration"). The rules that
     * join two fields of the merged row (minCurrent at most maxCurrent; load
     * balancing enabled only with a limit) are the table's, raised by
     * sql/020's trigger with an SQLSTATE of their own: load_rule().
     */
    { "maxCurrent", REST_FT_NUMBER, REST_FF_NULLABLE, "max_current", "$?::numeric", 0, 0, 0.1, 10000, NULL,
      load_current_text_valid, "must be a number of amperes above 0 with at most one decimal" },
    { "maxPower", REST_FT_INT, REST_FF_NULLABLE, "max_power", "$?::integer", 1, 100000000, 0, 0, NULL, NULL,
      NULL },
    { "loadBalancing", REST_FT_OBJECT, 0, NULL, NULL, 0, 0, 0, 0, NULL, NULL, NULL },
    { "loadBalancing.enabled", REST_FT_BOOL, 0, "lb_enabled", "$?::boolean", 0, 0, 0, 0, NULL, NULL, NULL },
    { "loadBalancing.strategy", REST_FT_ENUM, 0, "lb_strategy", NULL, 0, 0, 0, 0, strategies, NULL, NULL },
    { "loadBalancing.minCurrent", REST_FT_NUMBER, 0, "lb_min_current", "$?::numeric", 0, 0, 0, 10000, NULL,
      load_current_text_valid, "must be a number of amperes from 0 with at most one decimal" },
    { "loadBalancing.phases", REST_FT_INT, 0, "lb_phases", "$?::smallint", 1, 3, 0, 0, NULL,
      load_phases_text_valid, "must be 1 or 3" },
    { "loadBalancing.voltage", REST_FT_INT, 0, "lb_voltage", "$?::integer", 100, 500, 0, 0, NULL, NULL, NULL },
    { "loadBalancing.redistribute", REST_FT_BOOL, 0, "lb_redistribute", "$?::boolean", 0, 0, 0, 0, NULL, NULL,
      NULL },
};
#define NFIELDS (sizeof site_fields / sizeof site_fields[0])

static const struct res_row site_row = {
    site_cols, NCOLS, "site", "siteId", "/v1/sites/", NULL, NULL,
};

/*
 * A write the load rules of sql/020 refused (its trigger's SQLSTATEs),
 * answered 422 naming the field: the one of the body that the rule is
 * about, else the other one it joins. True if it was one of them.
 */
static bool load_rule(struct rest_request *r, const struct store_job *job, const char *action,
                      const char *id)
{
    const cJSON *body = rest_body(r);
    const cJSON *lb = cJSON_GetObjectItemCaseSensitive(body, "loadBalancing");
    const char *field, *why;
    if (res_failed_with(job, "OGL01")) {
        field = cJSON_GetObjectItemCaseSensitive(lb, "minCurrent") || !cJSON_GetObjectItemCaseSensitive(body, "maxCurrent")
                    ? "loadBalancing.minCurrent" : "maxCurrent";
        why = "loadBalancing.minCurrent must not be above maxCurrent";
    } else if (res_failed_with(job, "OGL02")) {
        field = cJSON_GetObjectItemCaseSensitive(lb, "enabled") ? "loadBalancing.enabled"
                : cJSON_GetObjectItemCaseSensitive(body, "maxCurrent") ? "maxCurrent" : "maxPower";
        why = "load balancing needs maxCurrent or maxPower";
    } else {
        return false;
    }
    res_audit(r, action, id, "invalid");
    cJSON *ctx = cJSON_CreateObject();
    cJSON_AddStringToObject(ctx, field, why);
    char msg[128];
    snprintf(msg, sizeof msg, "invalid fields: %s", field);
    rest_reply_error(r, REST_ERR_UNPROCESSABLE, msg, ctx);
    return true;
}

/* ---- GET /v1/sites ---- */

static void list_done(struct rest_request *r, struct store_job *job)
{
    res_list_finish(r, job, &sites_spec, NULL);
}

void res_sites_list(struct rest_request *r)
{
    res_list_start(r, &sites_spec, NULL, list_done);
}

/* ---- GET /v1/sites/{id} ---- */

static void get_done(struct rest_request *r, struct store_job *job)
{
    res_reply_row(r, job, &site_row, rest_param(r, "id"), 200);
}

void res_site_get(struct rest_request *r)
{
    static const char *sql;
    if (res_unknown_params(r))
        return;
    const char *params[] = { rest_param(r, "id") };
    rest_sql(r, res_select_once(&sql, site_cols, NCOLS, " FROM sites s WHERE s.id = $1"), 1, params, get_done);
}

/* ---- GET /v1/sites/{id}/load ---- */

/*
 * The allocation table the deciding gateway wrote (sql/022, site_load), so
 * that every gateway answers the same; a site nobody has decided yet shows
 * its limit and no sessions. docs/load-management.md, "Checking it".
 */
static const struct rest_col load_cols[] = {
    { "siteId", "s.id", REST_COL_STR, NULL },
    { "maxCurrent",
      "CASE WHEN s.lb_enabled THEN coalesce((l.doc ->> 'maxCurrent')::numeric,"
      " least(s.max_current, floor(s.max_power * 10 / (s.lb_voltage * s.lb_phases)) / 10)) END",
      REST_COL_NUM, NULL },
    { "allocated", "CASE WHEN s.lb_enabled THEN coalesce((l.doc ->> 'allocated')::numeric, 0) END", REST_COL_NUM, NULL },
    { "measured", "CASE WHEN s.lb_enabled THEN (l.doc ->> 'measured')::numeric END", REST_COL_NUM, NULL },
    { "strategy", "CASE WHEN s.lb_enabled THEN s.lb_strategy END", REST_COL_STR, NULL },
    { "sessions", "CASE WHEN s.lb_enabled THEN coalesce(l.doc -> 'sessions', '[]') ELSE '[]' END::text",
      REST_COL_JSON, NULL },
    { "updatedAt", "CASE WHEN s.lb_enabled THEN l.updated_at END", REST_COL_TIME, NULL },
};
#define NLOADCOLS (sizeof load_cols / sizeof load_cols[0])

static const struct res_row load_row = {
    load_cols, NLOADCOLS, "site", "siteId", NULL, NULL, NULL,
};

static void load_done(struct rest_request *r, struct store_job *job)
{
    res_reply_row(r, job, &load_row, rest_param(r, "id"), 200);
}

void res_site_load_get(struct rest_request *r)
{
    static const char *sql;
    if (res_unknown_params(r))
        return;
    const char *params[] = { rest_param(r, "id") };
    rest_sql(r, res_select_once(&sql, load_cols, NLOADCOLS,
                                " FROM sites s LEFT JOIN site_load l ON l.site_id = s.id WHERE s.id = $1"),
             1, params, load_done);
}

/* ---- POST /v1/sites ---- */

static void create_done(struct rest_request *r, struct store_job *job)
{
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rest_body(r), "id"));
    if (!load_rule(r, job, "site.create", id) &&
        res_write_done(r, job, "site.create", "site", "siteId", id, REST_ERR_CONFLICT))
        res_reply_row(r, job, &site_row, id, 201);
}

/* A key limited to sites makes only sites it lists (it could not see another). */
void res_site_create(struct rest_request *r)
{
    struct rest_body body;
    if (res_unknown_params(r) || !res_body(r, site_fields, NFIELDS, true, "site.create", NULL, &body))
        return;
    const char *id = rest_body_find(&body, "id")->text;
    if (!res_key_sees(r, NULL, id)) {
        res_audit(r, "site.create", id, "forbidden");
        res_forbidden(r, "site", "siteId", id);
        rest_body_free(&body);
        return;
    }
    struct rest_sqlb b;
    rest_sqlb_init(&b);
    rest_body_insert(&body, &b, "s", "sites");
    rest_sqlb_add(&b, " ON CONFLICT (id) DO NOTHING RETURNING *) ");
    res_select(&b, site_cols, NCOLS, " FROM s");
    res_sql_run(r, &b, create_done);
    rest_body_free(&body);
}

/* ---- PATCH /v1/sites/{id} (a merge; address members one by one) ---- */

static void update_done(struct rest_request *r, struct store_job *job)
{
    if (!load_rule(r, job, "site.update", rest_param(r, "id")) &&
        res_write_done(r, job, "site.update", "site", "siteId", rest_param(r, "id"), REST_ERR_NOT_FOUND))
        res_reply_row(r, job, &site_row, rest_param(r, "id"), 200);
}

void res_site_update(struct rest_request *r)
{
    const char *id = rest_param(r, "id");
    struct rest_body body;
    if (res_unknown_params(r) || !res_body(r, site_fields, NFIELDS, false, "site.update", id, &body))
        return;
    struct rest_sqlb b;
    rest_sqlb_init(&b);
    rest_body_update(&body, &b, "s", "sites s");
    rest_sqlb_add(&b, "updated_at = now()");
    rest_sqlb_frag(&b, " WHERE s.id = $? RETURNING s.*) ", rest_sqlb_param(&b, id));
    res_select(&b, site_cols, NCOLS, " FROM s");
    res_sql_run(r, &b, update_done);
    rest_body_free(&body);
}

/* ---- DELETE /v1/sites/{id}[?force=true] ---- */

static const struct rest_filter force_param = { "force", REST_F_BOOL, NULL, 0, NULL, 0, 0, "false" };

/*
 * One statement: the site locked, its chargers counted; with force they
 * leave it first; the site goes when forced or empty. Answers (id, chargers
 * counted, sites deleted); no row when there is no such site.
 */
static const char delete_sql[] =
    "WITH t AS (SELECT s.id, (SELECT count(*) FROM chargers c WHERE c.site_id = s.id) AS n"
    "           FROM sites s WHERE s.id = $1 FOR UPDATE),"
    " freed AS (UPDATE chargers c SET site_id = NULL, updated_at = now() FROM t"
    "           WHERE $2::boolean AND c.site_id = t.id RETURNING c.id),"
    " gone AS (DELETE FROM sites s USING t WHERE s.id = t.id AND ($2::boolean OR t.n = 0) RETURNING s.id)"
    " SELECT t.id, t.n, (SELECT count(*) FROM gone) FROM t";

static void reply_in_use(struct rest_request *r, const char *id, const char *chargers)
{
    res_audit(r, "site.delete", id, "conflict");
    cJSON *ctx = cJSON_CreateObject();
    cJSON_AddStringToObject(ctx, "siteId", id);
    if (chargers)
        cJSON_AddNumberToObject(ctx, "chargerCount", strtod(chargers, NULL));
    char msg[200];
    snprintf(msg, sizeof msg, "site '%.64s' still has chargers; ?force=true takes them off it", id);
    rest_reply_error(r, REST_ERR_RESOURCE_IN_USE, msg, ctx);
}

static void delete_done(struct rest_request *r, struct store_job *job)
{
    const char *id = rest_param(r, "id");
    const char *deleted = rest_job_value(job, 0, 2);
    if (res_failed_with(job, SQLSTATE_FOREIGN_KEY_VIOLATION))
        reply_in_use(r, id, NULL);      /* a charger placed on it after the count, twice */
    else if (job->status == STORE_OK && rest_job_rows(job) == 1 && deleted && strcmp(deleted, "0") == 0)
        reply_in_use(r, id, rest_job_value(job, 0, 1));
    else if (res_write_done(r, job, "site.delete", "site", "siteId", id, REST_ERR_NOT_FOUND))
        rest_reply_json(r, 204, NULL);
}

void res_site_delete(struct rest_request *r)
{
    char *force;
    if (!res_param(r, &force_param, &force) || res_unknown_params(r)) {
        free(force);
        return;
    }
    const char *params[] = { rest_param(r, "id"), force };
    rest_sql(r, delete_sql, 2, params, delete_done);
    free(force);
}
