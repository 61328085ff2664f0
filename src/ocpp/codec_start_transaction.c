/*
 * StartTransaction: a session begins on a connector for an idTag, with the
 * meter reading and the charger's own timestamp (which may be old when the
 * charger was offline). The answer carries the transactionId the core chose
 * and the tag's idTagInfo.
 */
#include <cJSON.h>

#include "codec.h"

enum ocpp_err ocpp_parse_start_transaction(const cJSON *p, union ocpp_req *req, struct ocpp_violation *v)
{
    struct ocpp_start_tx_req *r = &req->start_tx;
    int64_t connector, reservation;
    enum ocpp_err err;
    if ((err = ocpp_get_int(p, "", "connectorId", 0, OCPP_CONNECTOR_MAX, &connector, NULL, v)) ||
        (err = ocpp_get_string(p, "", "idTag", NULL, r->id_tag, sizeof r->id_tag, v)) ||
        (err = ocpp_get_int(p, "", "meterStart", -OCPP_INT53_MAX, OCPP_INT53_MAX, &r->meter_start, NULL, v)) ||
        (err = ocpp_get_int(p, "", "reservationId", INT32_MIN, INT32_MAX, &reservation,
                            &r->has_reservation_id, v)) ||
        (err = ocpp_get_time(p, "", "timestamp", &r->timestamp_ms, NULL, v)))
        return err;
    r->connector_id = (int)connector;
    r->reservation_id = (int32_t)reservation;
    return OCPP_OK;
}

cJSON *ocpp_build_start_transaction_conf(const struct ocpp_conf *conf)
{
    const struct ocpp_start_tx_conf *c = &conf->body.start_tx;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "idTagInfo", ocpp_id_tag_info_to_json(&c->info));
    cJSON_AddNumberToObject(o, "transactionId", c->transaction_id);
    return o;
}
