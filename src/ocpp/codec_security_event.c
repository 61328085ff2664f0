/*
 * SecurityEventNotification (security white paper, edition 3): the charger
 * reports a security event (type, its timestamp, optional techInfo).
 * Answered {}; the core stores it among the charger's security events.
 */
#include <cJSON.h>

#include "codec.h"

enum ocpp_err ocpp_parse_security_event(const cJSON *p, union ocpp_req *req, struct ocpp_violation *v)
{
    struct ocpp_security_event_req *r = &req->security_event;
    enum ocpp_err err = ocpp_get_string(p, "", "type", NULL, r->type, sizeof r->type, v);
    if (!err)
        err = ocpp_get_time(p, "", "timestamp", &r->timestamp_ms, NULL, v);
    if (!err)
        err = ocpp_get_string(p, "", "techInfo", "", r->tech_info, sizeof r->tech_info, v);
    return err;
}
