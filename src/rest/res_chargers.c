/*
 * /v1/chargers: list (offset pages), pre-register, read, change, delete;
 * a charger's status history and security events (cursor pages). `connected` is the core's live
 * view (this process holds the charger's websocket), every other field the
 * chargers row and its connectors. A write changes the table, and this
 * process's registry from the committed row before the answer (other
 * gateways follow through the chargers NOTIFY trigger).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "core.h"
#include "rest.h"
#include "rest_body.h"
#include "rest_live.h"
#include "rest_query.h"
#include "rest_res.h"
#include "secret.h"
#include "store_job.h"
#include "tz.h"
#include "util.h"

/*
 * Live columns: what this process knows now, ahead of the table (the
 * connection state and last-seen times are written behind). Loop thread,
 * where the core lives.
 */
static cJSON *live_connected(const struct rest_request *r, const char *value, const char *id)
{
    (void)value;
    return cJSON_CreateBool(rest_charger_connected(r, id));
}

/* value: the table's last_seen_at in microseconds (NULL = never) */
static cJSON *live_last_seen(const struct rest_request *r, const char *value, const char *id)
{
    int64_t us = value ? strtoll(value, NULL, 10) : 0;
    int64_t live = rest_charger_last_seen(r, id) * 1000;
    if (live > us)
        us = live;
    if (us <= 0)
        return cJSON_CreateNull();
    char buf[TIME_ISO8601_LEN + 1];
    time_format_api(us, buf, sizeof buf);
    return cJSON_CreateString(buf);
}

/* value: the connectors as json arrays of CONNECTOR_COLUMNS (NULL = none) */
static cJSON *live_connectors(const struct rest_request *r, const char *value, const char *id)
{
    static const char *const keys[] = { "connectorId", "status", "errorCode", "info", "vendorId",
                                        "vendorErrorCode", "timestamp", "updatedAt", NULL };
    (void)r, (void)id;
    return rest_json_rows(value, keys, 1u << 6 | 1u << 7);
}

static const struct rest_col charger_cols[] = {
    { "id", "c.id", REST_COL_STR, NULL },
    { "name", "c.name", REST_COL_STR, NULL },
    { "serialNumber", "c.serial_number", REST_COL_STR, NULL },
    { "chargeBoxSerialNumber", "c.charge_box_serial", REST_COL_STR, NULL },
    { "model", "c.model", REST_COL_STR, NULL },
    { "vendor", "c.vendor", REST_COL_STR, NULL },
    { "firmwareVersion", "c.firmware_version", REST_COL_STR, NULL },
    { "iccid", "c.iccid", REST_COL_STR, NULL },
    { "imsi", "c.imsi", REST_COL_STR, NULL },
    { "meterType", "c.meter_type", REST_COL_STR, NULL },
    { "meterSerialNumber", "c.meter_serial", REST_COL_STR, NULL },
    { "maxAvailableCurrent", "c.max_available_current", REST_COL_NUM, NULL },
    /* PUT /v1/chargers/{id}/power-limit (res_power_limit.c): read-only here */
    { "powerLimit", "c.power_limit", REST_COL_NUM, NULL },
    { "timeZone", "c.time_zone", REST_COL_STR, NULL },
    { "latitude", "c.latitude", REST_COL_NUM, NULL },
    { "longitude", "c.longitude", REST_COL_NUM, NULL },
    { "commissioningDate", "to_char(c.commissioning_date, 'YYYY-MM-DD')", REST_COL_STR, NULL },
    { "connected", "NULL", REST_COL_LIVE, live_connected },
    { "lastSeenAt", "ocppgw_us(c.last_seen_at)", REST_COL_LIVE, live_last_seen },
    { "connectedAt", "c.connected_at", REST_COL_TIME, NULL },
    { "disconnectedAt", "c.disconnected_at", REST_COL_TIME, NULL },
    { "lastBootAt", "c.last_boot_at", REST_COL_TIME, NULL },
    { "registrationStatus", "c.registration_status", REST_COL_STR, NULL },
    { "securityProfile", "c.security_profile", REST_COL_INT, NULL },
    { "hasAuthorizationKey", "c.auth_hash IS NOT NULL", REST_COL_BOOL, NULL },
    { "autoRegistered", "c.auto_registered", REST_COL_BOOL, NULL },
    { "siteId", "c.site_id", REST_COL_STR, NULL },
    { "firmwareStatus", "c.firmware_status", REST_COL_STR, NULL },
    { "diagnosticsStatus", "c.diagnostics_status", REST_COL_STR, NULL },
    /* the last SignedFirmwareStatusNotification / LogStatusNotification (Security Extension) */
    { "signedFirmwareStatus", "c.signed_firmware_status", REST_COL_STR, NULL },
    { "signedFirmwareRequestId", "c.signed_firmware_request_id", REST_COL_INT, NULL },
    { "signedFirmwareStatusAt", "c.signed_firmware_status_at", REST_COL_TIME, NULL },
    { "logStatus", "c.log_status", REST_COL_STR, NULL },
    { "logRequestId", "c.log_request_id", REST_COL_INT, NULL },
    { "logStatusAt", "c.log_status_at", REST_COL_TIME, NULL },
    { "createdAt", "c.created_at", REST_COL_TIME, NULL },
    { "updatedAt", "c.updated_at", REST_COL_TIME, NULL },
    /* updatedAt: the charger's time of the status when it sent one, else when it arrived */
    { "connectors",
      "(SELECT json_agg(json_build_array(k.connector_id, k.status, k.error_code, k.info, k.vendor_id,"
      " k.vendor_error_code, k.status_at, coalesce(k.status_at, k.updated_at)) ORDER BY k.connector_id)"
      " FROM connectors k WHERE k.charger_id = c.id)",
      REST_COL_LIVE, live_connectors },
};
#define NCOLS (sizeof charger_cols / sizeof charger_cols[0])

/*
 * An export's live columns (formatted off the loop, where the core is out
 * of reach): what the table knows, as every gateway wrote it (connected
 * and last seen are written behind, so they may trail the core's view by
 * a moment); the connectors as the JSON shows them.
 */
#define API_TIME(t) "to_char((" t ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
static const struct rest_col charger_export_cols[] = {
    { "connected", "c.connected", REST_COL_BOOL, NULL },
    { "lastSeenAt", "c.last_seen_at", REST_COL_TIME, NULL },
    { "connectors",
      "coalesce((SELECT json_agg(json_build_object('connectorId', k.connector_id, 'status', k.status,"
      " 'errorCode', k.error_code, 'info', k.info, 'vendorId', k.vendor_id, 'vendorErrorCode', k.vendor_error_code,"
      " 'timestamp', " API_TIME("k.status_at") ", 'updatedAt', " API_TIME("coalesce(k.status_at, k.updated_at)") ")"
      " ORDER BY k.connector_id) FROM connectors k WHERE k.charger_id = c.id), '[]')",
      REST_COL_JSON, NULL },
};

static const char *const connector_statuses[] = {
    "Available", "Preparing", "Charging", "SuspendedEVSE", "SuspendedEV", "Finishing",
    "Reserved", "Unavailable", "Faulted", NULL
};
static const char *const registration_statuses[] = { "Accepted", "Pending", "Rejected", NULL };
/* the last FirmwareStatusNotification / DiagnosticsStatusNotification (OCPP 1.6) */
static const char *const firmware_statuses[] = {
    "Downloaded", "DownloadFailed", "Downloading", "Idle", "InstallationFailed", "Installing", "Installed", NULL
};
static const char *const diagnostics_statuses[] = { "Idle", "Uploaded", "UploadFailed", "Uploading", NULL };

static const struct rest_sort charger_sorts[] = {
    { "id", "c.id", NULL, NULL },
    { "name", "c.name", NULL, NULL },
    { "lastSeenAt", "c.last_seen_at", NULL, NULL },
    { "createdAt", "c.created_at", NULL, NULL },
};

/*
 * The whole value, as stored (BootNotification's CiStrings as the charger
 * sent them). A site's own list takes all but the last (its site is the
 * path's): keep siteId last.
 */
static const struct rest_filter charger_filters[] = {
    { "status", REST_F_ENUM, "EXISTS (SELECT 1 FROM connectors k WHERE k.charger_id = c.id AND k.status = $?)",
      0, connector_statuses, 0, 0, NULL },
    { "connected", REST_F_BOOL, "c.connected = $?::boolean", 0, NULL, 0, 0, NULL },
    { "chargerIds", REST_F_LIST, "c.id = ANY($?::text[])", OCPP_CHARGER_ID_MAX, NULL, 0, 0, NULL },
    { "registrationStatus", REST_F_ENUM, "c.registration_status = $?", 0, registration_statuses, 0, 0, NULL },
    { "name", REST_F_TEXT, "c.name = $?", 128, NULL, 0, 0, NULL },
    { "vendor", REST_F_TEXT, "c.vendor = $?", 20, NULL, 0, 0, NULL },
    { "model", REST_F_TEXT, "c.model = $?", 20, NULL, 0, 0, NULL },
    { "firmwareVersion", REST_F_TEXT, "c.firmware_version = $?", 50, NULL, 0, 0, NULL },
    { "securityProfile", REST_F_INT, "c.security_profile = $?::smallint", 0, NULL, 0, 3, NULL },
    { "hasAuthorizationKey", REST_F_BOOL, "(c.auth_hash IS NOT NULL) = $?::boolean", 0, NULL, 0, 0, NULL },
    { "autoRegistered", REST_F_BOOL, "c.auto_registered = $?::boolean", 0, NULL, 0, 0, NULL },
    { "firmwareStatus", REST_F_ENUM, "c.firmware_status = $?", 0, firmware_statuses, 0, 0, NULL },
    { "diagnosticsStatus", REST_F_ENUM, "c.diagnostics_status = $?", 0, diagnostics_statuses, 0, 0, NULL },
    { "search", REST_F_SEARCH,
      "(c.id ILIKE $? OR c.name ILIKE $? OR c.vendor ILIKE $? OR c.model ILIKE $?)", 100, NULL, 0, 0, NULL },
    { "siteId", REST_F_TEXT, "c.site_id = $?", 64, NULL, 0, 0, NULL },
};
#define CHARGER_FILTERS (sizeof charger_filters / sizeof charger_filters[0])

/* Both charger collections: offset pages of the same items. */
#define CHARGERS_SPEC                                                   \
    .paging = REST_PAGING_OFFSET,                                       \
    .kind = REST_LIST_CHARGERS,                                         \
    .cols = charger_cols,                                               \
    .ncols = NCOLS,                                                     \
    .from = "chargers c",                                               \
    .id = "c.id",                                                       \
    .sorts = charger_sorts,                                             \
    .nsorts = sizeof charger_sorts / sizeof charger_sorts[0],           \
    .desc = false,                                                      \
    .filters = charger_filters,                                         \
    .vis_chargers = "c.id = ANY($?::text[])",                           \
    .vis_sites = "c.site_id = ANY($?::text[])",                         \
    .export_cols = charger_export_cols,                                 \
    .nexport_cols = sizeof charger_export_cols / sizeof charger_export_cols[0]

static const struct rest_list_spec chargers_spec = {
    CHARGERS_SPEC,
    .name = "chargers",
    .nfilters = CHARGER_FILTERS,
};
const struct rest_list_spec *const res_chargers_spec = &chargers_spec;

static const struct rest_list_spec site_chargers_spec = {
    CHARGERS_SPEC,
    .name = "site chargers",
    .nfilters = CHARGER_FILTERS - 1,
    .scope = "c.site_id = $?",
    .parent = SITE_PARENT,
};
const struct rest_list_spec *const res_site_chargers_spec = &site_chargers_spec;

static bool printable_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

static const struct rest_field charger_fields[] = {
    { "id", REST_FT_STRING, REST_FF_REQUIRED | REST_FF_IMMUTABLE, "id", NULL, 1, OCPP_CHARGER_ID_MAX,
      0, 0, NULL, core_charger_id_valid, "must be 1 to 48 printable ASCII characters without blanks, '/', ',' or '%', and not '.' or '..'" },
    { "name", REST_FT_STRING, REST_FF_NULLABLE, "name", NULL, 1, 128, 0, 0, NULL, NULL, NULL },
    /* stored as its PBKDF2 hash, computed by the REST store thread (REST_FF_PASSWORD) */
    { "authorizationKey", REST_FT_STRING, REST_FF_NULLABLE | REST_FF_PASSWORD, "auth_hash", NULL, 16, 40,
      0, 0, NULL, printable_ascii, "must be printable ASCII without blanks" },
    { "securityProfile", REST_FT_INT, 0, "security_profile", "$?::smallint", 0, 3, 0, 0, NULL, NULL, NULL },
    { "registrationStatus", REST_FT_ENUM, 0, "registration_status", NULL, 0, 0, 0, 0,
      registration_statuses, NULL, NULL },
    /* a site of /v1/sites: an unknown one is the foreign key's refusal (unknown_site) */
    { "siteId", REST_FT_STRING, REST_FF_NULLABLE, "site_id", NULL, 1, 64, 0, 0, NULL, NULL, NULL },
    { "maxAvailableCurrent", REST_FT_NUMBER, REST_FF_NULLABLE, "max_available_current", "$?::numeric",
      0, 0, 0, 100000, NULL, NULL, NULL },
    /* a zone the system tz database has (tz_exists): local times are converted with it */
    { "timeZone", REST_FT_STRING, REST_FF_NULLABLE, "time_zone", NULL, 1, 64, 0, 0, NULL, tz_exists,
      RES_TIME_ZONE_RULE },
    { "latitude", REST_FT_NUMBER, REST_FF_NULLABLE, "latitude", "$?::float8", 0, 0, -90, 90, NULL, NULL, NULL },
    { "longitude", REST_FT_NUMBER, REST_FF_NULLABLE, "longitude", "$?::float8", 0, 0, -180, 180, NULL, NULL,
      NULL },
    { "commissioningDate", REST_FT_DATE, REST_FF_NULLABLE, "commissioning_date", "$?::date", 0, 0, 0, 0, NULL,
      NULL, NULL },
};
#define NFIELDS (sizeof charger_fields / sizeof charger_fields[0])

/* ---- GET /v1/chargers ---- */

static void list_done(struct rest_request *r, struct store_job *job)
{
    res_list_finish(r, job, &chargers_spec, NULL);
}

void res_chargers_list(struct rest_request *r)
{
    res_list_start(r, &chargers_spec, NULL, list_done);
}

/* ---- GET /v1/sites/{id}/chargers ---- */

static void site_list_done(struct rest_request *r, struct store_job *job)
{
    res_list_finish(r, job, &site_chargers_spec, "site");
}

void res_site_chargers(struct rest_request *r)
{
    res_list_start(r, &site_chargers_spec, rest_param(r, "id"), site_list_done);
}

/* ---- GET /v1/chargers/{id} ---- */

static const struct res_row charger_row = {
    charger_cols, NCOLS, "charger", "chargerId", "/v1/chargers/", "id", "siteId",
};

static void get_done(struct rest_request *r, struct store_job *job)
{
    res_reply_row(r, job, &charger_row, rest_param(r, "id"), 200);
}

void res_charger_get(struct rest_request *r)
{
    static const char *sql;
    if (res_unknown_params(r))
        return;
    const char *params[] = { rest_param(r, "id") };
    rest_sql(r, res_select_once(&sql, charger_cols, NCOLS, " FROM chargers c WHERE c.id = $1"), 1,
             params, get_done);
}

/* ---- writes: POST, PATCH, DELETE ---- */

/*
 * What a write returns after the shown columns: the row as the registry
 * needs it (include/store_job.h, struct store_charger), so that this
 * process's core applies the committed change before the answer
 * (rest_charger_committed) instead of waiting for its own NOTIFY: a charger
 * connecting right after a 201 meets its credentials, and a session the
 * change no longer admits is closed (1008) before a 200 or 204.
 */
#define REGISTRY_COLUMNS ", " RES_CHARGER_REGISTRY_COLUMNS " FROM c"

void res_charger_committed(struct rest_request *r, const struct store_job *job, int first)
{
    const char *id = rest_job_value(job, 0, 0), *hash = rest_job_value(job, 0, first),
               *profile = rest_job_value(job, 0, first + 1),
               *registration = rest_job_value(job, 0, first + 2),
               *version = rest_job_value(job, 0, first + 3), *site = rest_job_value(job, 0, first + 4),
               *max_current = rest_job_value(job, 0, first + 5),
               *power_limit = rest_job_value(job, 0, first + 6);
    if (!id || !profile || !registration || !version)
        return;
    struct store_charger row = { .security_profile = atoi(profile), .version = strtoll(version, NULL, 10),
                                 .load_known = true };
    str_copy(row.id, sizeof row.id, id);
    str_copy(row.auth_hash, sizeof row.auth_hash, hash ? hash : "");
    str_copy(row.registration, sizeof row.registration, registration);
    str_copy(row.site_id, sizeof row.site_id, site ? site : "");
    load_current_parse_da(max_current, &row.max_current_da);
    load_current_parse_da(power_limit, &row.power_limit_da);
    rest_charger_committed(r, &row);
}

static void apply_committed(struct rest_request *r, const struct store_job *job)
{
    res_charger_committed(r, job, (int)NCOLS);
}

static const struct rest_field *charger_field(const char *name)
{
    for (size_t i = 0; i < NFIELDS; i++)
        if (strcmp(charger_fields[i].name, name) == 0)
            return &charger_fields[i];
    abort();
}

/*
 * A siteId that names no site: the foreign key refused the write (chargers
 * have no other). Audited and answered 422 naming the field: true.
 */
static bool unknown_site(struct rest_request *r, const struct store_job *job, const char *action,
                         const char *id)
{
    if (!res_failed_with(job, SQLSTATE_FOREIGN_KEY_VIOLATION))
        return false;
    res_audit(r, action, id, "invalid");
    cJSON *ctx = cJSON_CreateObject();
    cJSON_AddStringToObject(ctx, "siteId", "no such site (POST /v1/sites makes one)");
    rest_reply_error(r, REST_ERR_UNPROCESSABLE, "invalid fields: siteId", ctx);
    return true;
}

/* ---- POST /v1/chargers ---- */

static void create_done(struct rest_request *r, struct store_job *job)
{
    const cJSON *body = rest_body(r);
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "id"));
    if (unknown_site(r, job, "charger.create", id) ||
        !res_write_done(r, job, "charger.create", "charger", "id", id, REST_ERR_CONFLICT))
        return;
    apply_committed(r, job);
    cJSON *c = rest_row_json(r, job, 0, 0, charger_cols, NCOLS);
    /* a key the gateway made is shown once, here; GET never shows it */
    const char *key = rest_job_password(job);
    if (key && !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(body, "authorizationKey"))) {
        cJSON_AddStringToObject(c, "authorizationKey", key);
        rest_reply_secret_field(r, "authorizationKey"); /* an Idempotency-Key replay answers null */
    }
    res_location(r, "/v1/chargers/", rest_job_value(job, 0, 0));
    rest_reply_json(r, 201, c);
}

/*
 * No unauthenticated charger by accident: without an authorizationKey the
 * charger gets security profile 1 and a key made here (profiles 1 and 2 ask
 * for one; 3 needs a client certificate instead); profile 0 must be asked
 * for, and then takes no key. A key given without a profile means 1.
 */
void res_charger_create(struct rest_request *r)
{
    struct rest_body body;
    if (res_unknown_params(r) ||
        !res_body(r, charger_fields, NFIELDS, true, "charger.create", NULL, &body))
        return;
    const char *id = rest_body_find(&body, "id")->text;
    const struct rest_body_value *site = rest_body_find(&body, "siteId");
    if (!res_key_sees(r, id, site ? site->text : NULL)) {
        res_audit(r, "charger.create", id, "forbidden");
        res_forbidden(r, "charger", "chargerId", id);
        rest_body_free(&body);
        return;
    }
    const struct rest_body_value *pv = rest_body_find(&body, "securityProfile");
    int profile = pv ? atoi(pv->text) : -1;
    struct rest_body_value *kv = rest_body_find(&body, "authorizationKey");
    if (profile == 0 && kv && kv->text) {
        res_audit(r, "charger.create", id, "invalid");
        cJSON *ctx = cJSON_CreateObject();
        cJSON_AddStringToObject(ctx, "authorizationKey", "must be absent or null with securityProfile 0");
        rest_reply_error(r, REST_ERR_UNPROCESSABLE, "invalid fields: authorizationKey", ctx);
        rest_body_free(&body);
        return;
    }
    if (profile < 0)
        rest_body_add(&body, charger_field("securityProfile"), "1");
    if (!(kv && kv->text) && profile != 0 && profile != 3) {
        /* hashed by the store thread like a given one (REST_FF_PASSWORD); create_done shows it once */
        char *key = secret_new_charger_key();
        if (kv) {
            free(kv->text);
            kv->text = key;
        } else {
            rest_body_add(&body, charger_field("authorizationKey"), key);
            secret_wipe(key, strlen(key));
            free(key);
        }
    }

    struct rest_sqlb b;
    rest_sqlb_init(&b);
    rest_body_insert(&body, &b, "c", "chargers");
    rest_sqlb_add(&b, " ON CONFLICT (id) DO NOTHING RETURNING *) ");
    res_select(&b, charger_cols, NCOLS, REGISTRY_COLUMNS);
    res_sql_run(r, &b, create_done);
    rest_body_free(&body);
}

/* ---- PATCH /v1/chargers/{id} ---- */

static void update_done(struct rest_request *r, struct store_job *job)
{
    if (unknown_site(r, job, "charger.update", rest_param(r, "id")) ||
        !res_write_done(r, job, "charger.update", "charger", "chargerId", rest_param(r, "id"),
                        REST_ERR_NOT_FOUND))
        return;
    apply_committed(r, job);
    res_reply_row(r, job, &charger_row, rest_param(r, "id"), 200);
}

void res_charger_update(struct rest_request *r)
{
    const char *id = rest_param(r, "id");
    struct rest_body body;
    if (res_unknown_params(r) ||
        !res_body(r, charger_fields, NFIELDS, false, "charger.update", id, &body))
        return;
    const struct rest_body_value *site = rest_body_find(&body, "siteId");
    const struct rest_key *k = rest_key(r);
    if (site && k && k->site_ids && !res_key_sees(r, id, site->text)) {
        res_audit(r, "charger.update", id, "forbidden");
        res_forbidden(r, "site", "siteId", site->text ? site->text : "");
        rest_body_free(&body);
        return;
    }

    struct rest_sqlb b;
    rest_sqlb_init(&b);
    rest_body_update(&body, &b, "c", "chargers c");
    rest_sqlb_add(&b, "updated_at = now()");
    rest_sqlb_frag(&b, " WHERE c.id = $?", rest_sqlb_param(&b, id));
    rest_sqlb_restrict(&b, &b, " AND ", chargers_spec.vis_chargers, chargers_spec.vis_sites,
                       k ? k->charger_ids : NULL, k ? k->site_ids : NULL);
    rest_sqlb_add(&b, " RETURNING c.*) ");
    res_select(&b, charger_cols, NCOLS, REGISTRY_COLUMNS);
    res_sql_run(r, &b, update_done);
    rest_body_free(&body);
}

/* ---- DELETE /v1/chargers/{id} (its sessions stay: no foreign key) ---- */

static void delete_done(struct rest_request *r, struct store_job *job)
{
    if (!res_write_done(r, job, "charger.delete", "charger", "chargerId", rest_param(r, "id"),
                        REST_ERR_NOT_FOUND))
        return;
    struct store_charger row = { .deleted = true };
    str_copy(row.id, sizeof row.id, rest_job_value(job, 0, 0));
    rest_charger_committed(r, &row);
    rest_reply_json(r, 204, NULL);
}

void res_charger_delete(struct rest_request *r)
{
    if (res_unknown_params(r))
        return;
    const struct rest_key *k = rest_key(r);
    struct rest_sqlb b;
    rest_sqlb_init(&b);
    rest_sqlb_frag(&b, "DELETE FROM chargers c WHERE c.id = $?", rest_sqlb_param(&b, rest_param(r, "id")));
    rest_sqlb_restrict(&b, &b, " AND ", chargers_spec.vis_chargers, chargers_spec.vis_sites,
                       k ? k->charger_ids : NULL, k ? k->site_ids : NULL);
    rest_sqlb_add(&b, " RETURNING c.id");
    res_sql_run(r, &b, delete_done);
}

/* ---- GET /v1/chargers/{id}/status-history ---- */

static const struct rest_col history_cols[] = {
    { "id", "h.id", REST_COL_INT, NULL },
    { "chargerId", "h.charger_id", REST_COL_STR, NULL },
    { "connectorId", "h.connector_id", REST_COL_INT, NULL },
    { "status", "h.status", REST_COL_STR, NULL },
    { "errorCode", "h.error_code", REST_COL_STR, NULL },
    { "info", "h.info", REST_COL_STR, NULL },
    { "vendorId", "h.vendor_id", REST_COL_STR, NULL },
    { "vendorErrorCode", "h.vendor_error_code", REST_COL_STR, NULL },
    { "timestamp", "h.status_at", REST_COL_TIME, NULL },
    { "receivedAt", "h.received_at", REST_COL_TIME, NULL },
};

static const struct rest_sort history_sorts[] = {
    { "receivedAt", "h.received_at", "ocppgw_us(h.received_at)", "ocppgw_ts_us($?::bigint)" },
    { "id", "h.id", NULL, NULL },
};

/* StatusNotification.req errorCode (OCPP 1.6 ChargePointErrorCode) */
static const char *const error_codes[] = {
    "ConnectorLockFailure", "EVCommunicationError", "GroundFailure", "HighTemperature", "InternalError",
    "LocalListConflict", "NoError", "OtherError", "OverCurrentFailure", "PowerMeterFailure",
    "PowerSwitchFailure", "ReaderFailure", "ResetFailure", "UnderVoltage", "OverVoltage", "WeakSignal", NULL
};

static const struct rest_filter history_filters[] = {
    { "connectorId", REST_F_INT, "h.connector_id = $?::integer", 0, NULL, 0, INT32_MAX, NULL },
    { "status", REST_F_ENUM, "h.status = $?", 0, connector_statuses, 0, 0, NULL },
    { "errorCode", REST_F_ENUM, "h.error_code = $?", 0, error_codes, 0, 0, NULL },
    { "vendorId", REST_F_TEXT, "h.vendor_id = $?", 255, NULL, 0, 0, NULL },
    { "vendorErrorCode", REST_F_TEXT, "h.vendor_error_code = $?", 50, NULL, 0, 0, NULL },
    { "from", REST_F_TIME, "h.received_at >= ocppgw_ts($?::bigint)", 0, NULL, 0, 0, NULL },
    { "to", REST_F_TIME, "h.received_at < ocppgw_ts($?::bigint)", 0, NULL, 0, 0, NULL },
};

static const struct rest_list_spec history_spec = {
    .name = "status-history",
    .paging = REST_PAGING_CURSOR,
    .kind = REST_LIST_STATUS_HISTORY,
    .cols = history_cols,
    .ncols = sizeof history_cols / sizeof history_cols[0],
    .from = "status_history h",
    .id = "h.id",
    .sorts = history_sorts,
    .nsorts = sizeof history_sorts / sizeof history_sorts[0],
    .desc = true,
    .filters = history_filters,
    .nfilters = sizeof history_filters / sizeof history_filters[0],
    .scope = "h.charger_id = $?",
    .parent = CHARGER_PARENT,
    .vis_chargers = "h.charger_id = ANY($?::text[])",
    .vis_sites = "h.charger_id IN (SELECT s.id FROM chargers s WHERE s.site_id = ANY($?::text[]))",
};
const struct rest_list_spec *const res_status_history_spec = &history_spec;

static void history_done(struct rest_request *r, struct store_job *job)
{
    res_list_finish(r, job, &history_spec, "charger");
}

void res_charger_status_history(struct rest_request *r)
{
    res_list_start(r, &history_spec, rest_param(r, "id"), history_done);
}

/* ---- GET /v1/chargers/{id}/security-events (SecurityEventNotification) ---- */

static const struct rest_col security_event_cols[] = {
    { "id", "e.id", REST_COL_INT, NULL },
    { "chargerId", "e.charger_id", REST_COL_STR, NULL },
    { "type", "e.type", REST_COL_STR, NULL },
    { "timestamp", "e.event_at", REST_COL_TIME, NULL },
    { "techInfo", "e.tech_info", REST_COL_STR, NULL },
    { "receivedAt", "e.received_at", REST_COL_TIME, NULL },
};

static const struct rest_sort security_event_sorts[] = {
    { "id", "e.id", NULL, NULL },
};

static const struct rest_filter security_event_filters[] = {
    { "type", REST_F_TEXT, "e.type = $?", 50, NULL, 0, 0, NULL },
    { "from", REST_F_TIME, "e.received_at >= ocppgw_ts($?::bigint)", 0, NULL, 0, 0, NULL },
    { "to", REST_F_TIME, "e.received_at < ocppgw_ts($?::bigint)", 0, NULL, 0, 0, NULL },
};

static const struct rest_list_spec security_events_spec = {
    .name = "security-events",
    .paging = REST_PAGING_CURSOR,
    .kind = REST_LIST_SECURITY_EVENTS,
    .cols = security_event_cols,
    .ncols = sizeof security_event_cols / sizeof security_event_cols[0],
    .from = "security_events e",
    .id = "e.id",
    .sorts = security_event_sorts,
    .nsorts = sizeof security_event_sorts / sizeof security_event_sorts[0],
    .desc = true,
    .filters = security_event_filters,
    .nfilters = sizeof security_event_filters / sizeof security_event_filters[0],
    .scope = "e.charger_id = $?",
    .parent = CHARGER_PARENT,
    .vis_chargers = "e.charger_id = ANY($?::text[])",
    .vis_sites = "e.charger_id IN (SELECT s.id FROM chargers s WHERE s.site_id = ANY($?::text[]))",
};
const struct rest_list_spec *const res_security_events_spec = &security_events_spec;

static void security_events_done(struct rest_request *r, struct store_job *job)
{
    res_list_finish(r, job, &security_events_spec, "charger");
}

void res_charger_security_events(struct rest_request *r)
{
    res_list_start(r, &security_events_spec, rest_param(r, "id"), security_events_done);
}
