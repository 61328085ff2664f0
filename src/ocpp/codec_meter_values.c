/*
 * MeterValues: samples of one connector, optionally tied to a transaction.
 * Every sampledValue gets the defaults of the spec for what it leaves out
 * (context Sample.Periodic, format Raw, measurand
 * Energy.Active.Import.Register, location Outlet, unit Wh), so that the
 * store never has to know them. StopTransaction's transactionData has the
 * same shape and is read by the same code. The digest of the whole payload
 * lets the core recognise a retried message.
 */
#include <stddef.h>

#include <cJSON.h>

#include "codec.h"
#include "util.h"

static enum ocpp_err parse_sampled_value(const cJSON *js, const char *path,
                                         struct ocpp_sampled_value *s, struct ocpp_violation *v)
{
    static const struct {
        const char *name, *dflt;
        size_t offset, cap;
    } fields[] = {
#define SV(name, dflt, member) { name, dflt, offsetof(struct ocpp_sampled_value, member), \
                                 sizeof ((struct ocpp_sampled_value *)0)->member }
        SV("context", "Sample.Periodic", context),
        SV("format", "Raw", format),
        SV("measurand", "Energy.Active.Import.Register", measurand),
        SV("phase", "", phase),
        SV("location", "Outlet", location),
        SV("unit", "Wh", unit),
#undef SV
    };
    enum ocpp_err err;
    const cJSON *value = ocpp_get_member(js, path, "value", cJSON_IsString, "must be a string", NULL, v, &err);
    if (!value)
        return err;
    s->value = xstrdup(value->valuestring);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        err = ocpp_get_string(js, path, fields[i].name, fields[i].dflt,
                                            (char *)s + fields[i].offset, fields[i].cap, v);
        if (err)
            return err;
    }
    return OCPP_OK;
}

static enum ocpp_err parse_meter_value(const cJSON *js, const char *path,
                                       struct ocpp_meter_value *mv, struct ocpp_violation *v)
{
    enum ocpp_err err = ocpp_get_time(js, path, "timestamp", &mv->timestamp_ms, NULL, v);
    if (err)
        return err;
    const cJSON *arr = ocpp_get_member(js, path, "sampledValue", cJSON_IsArray, "must be an array", NULL, v, &err);
    if (!arr)
        return err;
    mv->n_sampled = (size_t)cJSON_GetArraySize(arr);
    mv->sampled = mv->n_sampled ? xcalloc(mv->n_sampled, sizeof *mv->sampled) : NULL;
    size_t i = 0;
    for (const cJSON *it = arr->child; it; it = it->next, i++) {
        char p[sizeof v->path];
        ocpp_path_join(p, sizeof p, path, "sampledValue", (long)i);
        if ((err = parse_sampled_value(it, p, &mv->sampled[i], v)))
            return err;
    }
    return OCPP_OK;
}

enum ocpp_err ocpp_parse_meter_value_array(const cJSON *arr, const char *path,
                                           struct ocpp_meter_value **out, size_t *n,
                                           struct ocpp_violation *v)
{
    *out = NULL;
    *n = 0;
    if (!cJSON_IsArray(arr))
        return ocpp_violation_set(v, OCPP_ERR_TYPE_CONSTRAINT, path, "must be an array");
    *n = (size_t)cJSON_GetArraySize(arr);
    *out = *n ? xcalloc(*n, sizeof **out) : NULL;
    size_t i = 0;
    for (const cJSON *it = arr->child; it; it = it->next, i++) {
        char p[sizeof v->path];
        ocpp_path_join(p, sizeof p, path, "", (long)i);
        enum ocpp_err err = parse_meter_value(it, p, &(*out)[i], v);
        if (err)
            return err;
    }
    return OCPP_OK;
}

enum ocpp_err ocpp_parse_meter_values(const cJSON *p, union ocpp_req *req, struct ocpp_violation *v)
{
    struct ocpp_meter_values_req *r = &req->meter_values;
    int64_t connector, tx;
    enum ocpp_err err = ocpp_get_int(p, "", "connectorId", 0, OCPP_CONNECTOR_MAX, &connector, NULL, v);
    if (!err)
        err = ocpp_get_int(p, "", "transactionId", INT32_MIN, INT32_MAX, &tx, &r->has_transaction_id, v);
    if (err)
        return err;
    r->connector_id = (int)connector;
    r->transaction_id = (int32_t)tx;
    const cJSON *arr = ocpp_get_member(p, "", "meterValue", cJSON_IsArray, "must be an array", NULL, v, &err);
    if (!arr)
        return err;
    if ((err = ocpp_parse_meter_value_array(arr, "meterValue", &r->values, &r->n_values, v)))
        return err;
    r->digest = ocpp_payload_digest(p);
    return OCPP_OK;
}
