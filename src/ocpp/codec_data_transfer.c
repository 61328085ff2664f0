/*
 * DataTransfer (charger to gateway): vendor-specific data. The 1.6 schema
 * types `data` as a string, but chargers in the field send objects too; we
 * keep whatever arrives as text (a string as its raw characters, anything
 * else as its compact JSON) for the store and the event stream.
 */
#include <cJSON.h>

#include "codec.h"
#include "util.h"

enum ocpp_err ocpp_parse_data_transfer(const cJSON *p, union ocpp_req *req, struct ocpp_violation *v)
{
    struct ocpp_data_transfer_req *r = &req->data_transfer;
    enum ocpp_err err = ocpp_get_string(p, "", "vendorId", NULL, r->vendor_id, sizeof r->vendor_id, v);
    if (!err)
        err = ocpp_get_string(p, "", "messageId", "", r->message_id, sizeof r->message_id, v);
    if (err)
        return err;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(p, "data");
    if (cJSON_IsString(data))
        r->data = xstrdup(data->valuestring);
    else if (data)
        r->data = cJSON_PrintUnformatted(data);
    return OCPP_OK;
}

cJSON *ocpp_build_data_transfer_conf(const struct ocpp_conf *conf)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", conf->body.data_transfer.status);
    return o;
}
