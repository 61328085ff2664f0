/*
 * Heartbeat: an empty request; the answer carries the server time, which
 * chargers use to set their clock.
 */
#include <cJSON.h>

#include "codec.h"

cJSON *ocpp_build_heartbeat_conf(const struct ocpp_conf *conf)
{
    cJSON *o = cJSON_CreateObject();
    ocpp_add_time(o, "currentTime", conf->body.heartbeat_time_ms);
    return o;
}
