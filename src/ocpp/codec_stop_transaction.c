/*
 * StopTransaction: a session ends with the final meter reading, the
 * charger's timestamp, a reason (default Local) and optionally the tag that
 * stopped it and the session's meter values (transactionData, digested so
 * that a retried stop is recognised). The answer's idTagInfo is optional.
 */
#include <cJSON.h>

#include "codec.h"

enum ocpp_err ocpp_parse_stop_transaction(const cJSON *p, union ocpp_req *req, struct ocpp_violation *v)
{
    struct ocpp_stop_tx_req *r = &req->stop_tx;
    int64_t tx;
    enum ocpp_err err;
    if ((err = ocpp_get_string(p, "", "idTag", "", r->id_tag, sizeof r->id_tag, v)) ||
        (err = ocpp_get_int(p, "", "meterStop", -OCPP_INT53_MAX, OCPP_INT53_MAX, &r->meter_stop, NULL, v)) ||
        (err = ocpp_get_time(p, "", "timestamp", &r->timestamp_ms, NULL, v)) ||
        (err = ocpp_get_int(p, "", "transactionId", INT32_MIN, INT32_MAX, &tx, NULL, v)) ||
        (err = ocpp_get_string(p, "", "reason", "Local", r->reason, sizeof r->reason, v)))
        return err;
    r->transaction_id = (int32_t)tx;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(p, "transactionData");
    if (!data)
        return OCPP_OK;
    if ((err = ocpp_parse_meter_value_array(data, "transactionData", &r->values, &r->n_values, v)))
        return err;
    r->digest = ocpp_payload_digest(data);
    return OCPP_OK;
}

cJSON *ocpp_build_stop_transaction_conf(const struct ocpp_conf *conf)
{
    const struct ocpp_stop_tx_conf *c = &conf->body.stop_tx;
    cJSON *o = cJSON_CreateObject();
    if (c->has_info)
        cJSON_AddItemToObject(o, "idTagInfo", ocpp_id_tag_info_to_json(&c->info));
    return o;
}
