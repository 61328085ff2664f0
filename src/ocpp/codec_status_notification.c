/*
 * StatusNotification: the state of a connector (connector 0 is the charger
 * itself), an error code, and optional free text, vendor codes and the
 * charger's timestamp. Answered {}.
 */
#include <cJSON.h>

#include "codec.h"

enum ocpp_err ocpp_parse_status_notification(const cJSON *p, union ocpp_req *req, struct ocpp_violation *v)
{
    struct ocpp_status_notification_req *r = &req->status;
    int64_t connector;
    enum ocpp_err err;
    if ((err = ocpp_get_int(p, "", "connectorId", 0, OCPP_CONNECTOR_MAX, &connector, NULL, v)) ||
        (err = ocpp_get_string(p, "", "errorCode", NULL, r->error_code, sizeof r->error_code, v)) ||
        (err = ocpp_get_string(p, "", "info", "", r->info, sizeof r->info, v)) ||
        (err = ocpp_get_string(p, "", "status", NULL, r->status, sizeof r->status, v)) ||
        (err = ocpp_get_time(p, "", "timestamp", &r->timestamp_ms, &r->has_timestamp, v)) ||
        (err = ocpp_get_string(p, "", "vendorId", "", r->vendor_id, sizeof r->vendor_id, v)) ||
        (err = ocpp_get_string(p, "", "vendorErrorCode", "", r->vendor_error_code,
                               sizeof r->vendor_error_code, v)))
        return err;
    r->connector_id = (int)connector;
    return OCPP_OK;
}
