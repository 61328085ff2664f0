/*
 * The codec of the charger-initiated actions: JSON <-> the typed
 * messages of ocpp_msg.h. A table indexed by action holds each action's
 * parse function (payload -> union ocpp_req) and conf builder (struct
 * ocpp_conf -> payload); the functions themselves live one file per action
 * (codec_<action>.c), and the field readers and writers they share, and the
 * digest that recognises a retried message, live here. The payload reaching a parse
 * function has passed ocpp_schema_validate(); what the schema cannot say
 * (integer ranges, the fixed sizes of ocpp_msg.h, dates) is checked here.
 */
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

#include "codec.h"
#include "util.h"

struct handler {
    enum ocpp_err (*parse)(const cJSON *p, union ocpp_req *req, struct ocpp_violation *v);
    cJSON *(*build)(const struct ocpp_conf *conf);
};

/* Only charger-initiated actions have an entry; a NULL parse means an empty request. */
static const struct handler handlers[OCPP_ACTION_COUNT] = {
    [OCPP_ACTION_AUTHORIZE] = { ocpp_parse_authorize, ocpp_build_authorize_conf },
    [OCPP_ACTION_BOOT_NOTIFICATION] = { ocpp_parse_boot_notification, ocpp_build_boot_notification_conf },
    [OCPP_ACTION_DATA_TRANSFER] = { ocpp_parse_data_transfer, ocpp_build_data_transfer_conf },
    [OCPP_ACTION_DIAGNOSTICS_STATUS_NOTIFICATION] = { ocpp_parse_diagnostics_status, NULL },
    [OCPP_ACTION_FIRMWARE_STATUS_NOTIFICATION] = { ocpp_parse_firmware_status, NULL },
    [OCPP_ACTION_HEARTBEAT] = { NULL, ocpp_build_heartbeat_conf },
    [OCPP_ACTION_LOG_STATUS_NOTIFICATION] = { ocpp_parse_request_status, NULL },
    [OCPP_ACTION_METER_VALUES] = { ocpp_parse_meter_values, NULL },
    [OCPP_ACTION_SECURITY_EVENT_NOTIFICATION] = { ocpp_parse_security_event, NULL },
    [OCPP_ACTION_SIGN_CERTIFICATE] = { ocpp_parse_sign_certificate, ocpp_build_sign_certificate_conf },
    [OCPP_ACTION_SIGNED_FIRMWARE_STATUS_NOTIFICATION] = { ocpp_parse_request_status, NULL },
    [OCPP_ACTION_START_TRANSACTION] = { ocpp_parse_start_transaction, ocpp_build_start_transaction_conf },
    [OCPP_ACTION_STATUS_NOTIFICATION] = { ocpp_parse_status_notification, NULL },
    [OCPP_ACTION_STOP_TRANSACTION] = { ocpp_parse_stop_transaction, ocpp_build_stop_transaction_conf },
};

enum ocpp_err ocpp_parse_request(enum ocpp_action a, const struct cJSON *payload,
                                 union ocpp_req *req, struct ocpp_violation *v)
{
    struct ocpp_violation scratch;
    if (!v)
        v = &scratch;
    memset(req, 0, sizeof *req);
    v->err = OCPP_OK;
    v->path[0] = v->message[0] = '\0';
    if (!ocpp_action_is_charger_initiated(a))
        return ocpp_violation_set(v, OCPP_ERR_NOT_SUPPORTED, "", "not a charger-initiated action");
    if (!cJSON_IsObject(payload))
        return ocpp_violation_set(v, OCPP_ERR_FORMATION, "", "payload must be a JSON object");
    if (!handlers[a].parse)
        return OCPP_OK;
    enum ocpp_err err = handlers[a].parse(payload, req, v);
    if (err) {
        ocpp_req_free(a, req);
        memset(req, 0, sizeof *req);
    }
    return err;
}

struct cJSON *ocpp_conf_to_json(const struct ocpp_conf *conf)
{
    if (!conf || !ocpp_action_is_charger_initiated(conf->action))
        return NULL;
    const struct handler *h = &handlers[conf->action];
    return h->build ? h->build(conf) : cJSON_CreateObject();
}

/* ---- field readers ---- */

void ocpp_path_join(char *dst, size_t cap, const char *prefix, const char *name, long index)
{
    int n = snprintf(dst, cap, "%s%s%s", prefix, *prefix && *name ? "." : "", name);
    if (index >= 0 && n >= 0 && (size_t)n < cap && snprintf(dst + n, cap - (size_t)n, "[%ld]", index) < 0)
        dst[n] = '\0';
}

__attribute__((format(printf, 5, 6)))
static enum ocpp_err field_fail(struct ocpp_violation *v, enum ocpp_err err, const char *prefix,
                                const char *name, const char *fmt, ...)
{
    char path[sizeof v->path];
    ocpp_path_join(path, sizeof path, prefix, name, -1);
    va_list ap;
    va_start(ap, fmt);
    ocpp_violation_vset(v, err, path, fmt, ap);
    va_end(ap);
    return err;
}

enum ocpp_err ocpp_get_string(const struct cJSON *obj, const char *prefix, const char *name,
                              const char *dflt, char *dst, size_t cap, struct ocpp_violation *v)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    const char *s = dflt;
    if (it && !cJSON_IsString(it))
        return field_fail(v, OCPP_ERR_TYPE_CONSTRAINT, prefix, name, "must be a string");
    if (it)
        s = it->valuestring;
    else if (!dflt)
        return field_fail(v, OCPP_ERR_OCCURENCE_CONSTRAINT, prefix, name, "required property missing");
    if (!str_copy(dst, cap, s))
        return field_fail(v, OCPP_ERR_PROPERTY_CONSTRAINT, prefix, name, "longer than %zu bytes", cap - 1);
    return OCPP_OK;
}

const struct cJSON *ocpp_get_member(const struct cJSON *obj, const char *prefix, const char *name,
                                    cJSON_bool (*is_type)(const struct cJSON *), const char *type_msg,
                                    bool *present, struct ocpp_violation *v, enum ocpp_err *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    *err = OCPP_OK;
    if (present)
        *present = it != NULL;
    if (!it && !present)
        *err = field_fail(v, OCPP_ERR_OCCURENCE_CONSTRAINT, prefix, name, "required property missing");
    else if (it && !is_type(it))
        *err = field_fail(v, OCPP_ERR_TYPE_CONSTRAINT, prefix, name, "%s", type_msg);
    return *err ? NULL : it;
}

enum ocpp_err ocpp_get_int(const struct cJSON *obj, const char *prefix, const char *name,
                           int64_t min, int64_t max, int64_t *out, bool *present,
                           struct ocpp_violation *v)
{
    enum ocpp_err err;
    const cJSON *it = ocpp_get_member(obj, prefix, name, cJSON_IsNumber, "must be an integer", present, v, &err);
    *out = 0;
    if (!it)
        return err;
    double d = it->valuedouble;
    if (!(d >= (double)min && d <= (double)max))
        return field_fail(v, OCPP_ERR_PROPERTY_CONSTRAINT, prefix, name,
                          "out of range %lld..%lld", (long long)min, (long long)max);
    if (d != (double)(int64_t)d)
        return field_fail(v, OCPP_ERR_TYPE_CONSTRAINT, prefix, name, "must be an integer");
    *out = (int64_t)d;
    return OCPP_OK;
}

enum ocpp_err ocpp_get_time(const struct cJSON *obj, const char *prefix, const char *name,
                            int64_t *out, bool *present, struct ocpp_violation *v)
{
    enum ocpp_err err;
    const cJSON *it = ocpp_get_member(obj, prefix, name, cJSON_IsString, "must be a string", present, v, &err);
    *out = 0;
    if (it && !time_parse_iso8601(it->valuestring, out))
        return field_fail(v, OCPP_ERR_TYPE_CONSTRAINT, prefix, name,
                          "must be an RFC 3339 date-time with offset");
    return err;
}

/* ---- writers ---- */

void ocpp_add_time(struct cJSON *obj, const char *name, int64_t ms)
{
    char buf[TIME_ISO8601_LEN];
    time_format_iso8601(ms, buf, sizeof buf);
    cJSON_AddStringToObject(obj, name, buf);
}

struct cJSON *ocpp_id_tag_info_to_json(const struct ocpp_id_tag_info *info)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", ocpp_auth_status_name(info->status));
    if (info->expiry_ms != 0)
        ocpp_add_time(o, "expiryDate", info->expiry_ms);
    if (info->parent_id_tag[0])
        cJSON_AddStringToObject(o, "parentIdTag", info->parent_id_tag);
    return o;
}

uint64_t ocpp_payload_digest(const struct cJSON *payload)
{
    uint64_t h = UINT64_C(14695981039346656037);
    char *text = payload ? cJSON_PrintUnformatted(payload) : NULL;
    for (const unsigned char *p = (const unsigned char *)(text ? text : "null"); *p; p++) {
        h ^= *p;
        h *= UINT64_C(1099511628211);
    }
    cJSON_free(text);
    return h;
}
