/*
 * SignedFirmwareStatusNotification and LogStatusNotification (security
 * white paper): the progress of a SignedUpdateFirmware / GetLog, a status
 * and the requestId of the request it reports on (optional, but sent
 * whenever the status is not Idle). Answered {}.
 */
#include <stdint.h>

#include <cJSON.h>

#include "codec.h"

enum ocpp_err ocpp_parse_request_status(const cJSON *p, union ocpp_req *req, struct ocpp_violation *v)
{
    struct ocpp_request_status_req *r = &req->request_status;
    enum ocpp_err err = ocpp_get_string(p, "", "status", NULL, r->status, sizeof r->status, v);
    int64_t id = 0;
    if (!err)
        err = ocpp_get_int(p, "", "requestId", INT32_MIN, INT32_MAX, &id, &r->has_request_id, v);
    r->request_id = (int32_t)id;
    return err;
}
