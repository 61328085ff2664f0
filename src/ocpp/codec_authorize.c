/*
 * Authorize: the charger asks whether an idTag may charge. The request is
 * just the tag; the answer is an idTagInfo (status, optional expiry and
 * parent tag) that the core fills from the tokens table.
 */
#include <cJSON.h>

#include "codec.h"

enum ocpp_err ocpp_parse_authorize(const cJSON *p, union ocpp_req *req, struct ocpp_violation *v)
{
    struct ocpp_authorize_req *r = &req->authorize;
    return ocpp_get_string(p, "", "idTag", NULL, r->id_tag, sizeof r->id_tag, v);
}

cJSON *ocpp_build_authorize_conf(const struct ocpp_conf *conf)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "idTagInfo", ocpp_id_tag_info_to_json(&conf->body.authorize));
    return o;
}
