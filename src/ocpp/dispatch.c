/*
 * The OCPP-J dispatcher: one complete text message in, a core call or a
 * CALLERROR out. Preconditions are checked here once, in order, for every
 * CALL (redis processCommand): frame syntax, known action, direction,
 * payload schema, typed conversion; only then does the core see it. Every
 * error is an enum ocpp_err mapped to its CALLERROR code in one place
 * (ocpp_error_code). No sockets here: frames go out through a transport.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "core.h"
#include "metrics.h"
#include "ocpp.h"
#include "util.h"

void ocpp_send_error(const struct ocpp_transport *t, uint64_t conn_id, const char *msg_id,
                     enum ocpp_err err, const char *description)
{
    char *text = ocpp_build_callerror(msg_id, err, description);
    metrics_callerror(err);
    t->send_text(t->ctx, conn_id, text, strlen(text));
}

void ocpp_send_conf(const struct ocpp_transport *t, uint64_t conn_id, const char *msg_id,
                    const struct ocpp_conf *conf)
{
    cJSON *payload = ocpp_conf_to_json(conf);
    struct ocpp_violation v;
    if (ocpp_schema_validate(conf->action, OCPP_SCHEMA_CONF, payload, &v) != OCPP_OK) {
        /* a bug of ours: never send what the schema forbids */
        log_error(NULL, "built %s.conf violates the schema at '%s': %s", ocpp_action_name(conf->action),
                  v.path, v.message);
        cJSON_Delete(payload);
        metrics_frame(METRICS_OUT, conf->action, METRICS_CALLERROR);
        ocpp_send_error(t, conn_id, msg_id, OCPP_ERR_INTERNAL, "internal error building the answer");
        return;
    }
    char *text = ocpp_build_callresult(msg_id, payload);
    cJSON_Delete(payload);
    metrics_frame(METRICS_OUT, conf->action, METRICS_OK);
    t->send_text(t->ctx, conn_id, text, strlen(text));
}

void ocpp_send_call(const struct ocpp_transport *t, uint64_t conn_id, const char *msg_id,
                    enum ocpp_action a, const char *payload_json)
{
    char *text = ocpp_build_call(msg_id, a, payload_json);
    if (!text) {
        /* callers validate payloads first; this is a bug, and the call will time out */
        log_error(NULL, "refusing to send %s: payload is not one JSON object", ocpp_action_name(a));
        return;
    }
    metrics_frame(METRICS_OUT, a, METRICS_OK);
    t->send_text(t->ctx, conn_id, text, strlen(text));
}

static void refuse(const struct ocpp_transport *t, uint64_t conn_id, const char *msg_id,
                   enum ocpp_action a, enum ocpp_err err, const char *description)
{
    metrics_frame(METRICS_IN, a, METRICS_CALLERROR);
    ocpp_send_error(t, conn_id, msg_id, err, description);
}

static void dispatch_call(struct core *c, const struct ocpp_transport *t, uint64_t conn_id,
                          const struct ocpp_frame *f)
{
    enum ocpp_action a = ocpp_action_lookup(f->action);
    if (a == OCPP_ACTION_NONE) {
        char why[128];
        snprintf(why, sizeof why, "unknown action '%.40s'", f->action);
        refuse(t, conn_id, f->id, a, OCPP_ERR_NOT_IMPLEMENTED, why);
        return;
    }
    if (!ocpp_action_is_charger_initiated(a)) {
        refuse(t, conn_id, f->id, a, OCPP_ERR_NOT_SUPPORTED,
               "action is not supported from a charge point");
        return;
    }
    if (core_request_pending(c, conn_id, f->id)) {
        refuse(t, conn_id, f->id, a, OCPP_ERR_PROTOCOL,
               "a call with this unique id is still being handled");
        return;
    }
    struct ocpp_violation v;
    enum ocpp_err err = ocpp_schema_validate(a, OCPP_SCHEMA_REQ, f->payload, &v);
    union ocpp_req req;
    memset(&req, 0, sizeof req);
    if (err == OCPP_OK)
        err = ocpp_parse_request(a, f->payload, &req, &v);
    if (err != OCPP_OK) {
        char why[320];
        if (v.path[0])
            snprintf(why, sizeof why, "%s: %s", v.path, v.message);
        else
            snprintf(why, sizeof why, "%s", v.message);
        refuse(t, conn_id, f->id, a, err, why);
        return;
    }
    metrics_frame(METRICS_IN, a, METRICS_OK);
    core_on_request(c, conn_id, f->id, a, &req); /* takes what req owns */
}

/*
 * A CALLRESULT: checked against the .conf schema of the action it answers
 * (an answer the charger got wrong fails the command rather than reaching
 * the REST client as if it were valid), then handed to the core with its
 * "status".
 */
static void dispatch_result(struct core *c, uint64_t conn_id, const struct ocpp_frame *f)
{
    char why[320];
    struct core_answer ans = { 0 };
    enum ocpp_action a = core_call_action(c, conn_id, f->id);
    if (a != OCPP_ACTION_NONE) {
        struct ocpp_violation v;
        if (ocpp_schema_validate(a, OCPP_SCHEMA_CONF, f->payload, &v) != OCPP_OK) {
            if (v.path[0])
                snprintf(why, sizeof why, "%s: %s", v.path, v.message);
            else
                snprintf(why, sizeof why, "%s", v.message);
            ans.invalid = why;
        }
    }
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(f->payload, "status");
    ans.status = cJSON_IsString(status) ? status->valuestring : NULL;
    char *payload = cJSON_PrintUnformatted(f->payload);
    ans.payload_json = payload;
    core_on_call_result(c, conn_id, f->id, &ans);
    free(payload);
}

enum ocpp_dispatch_result ocpp_dispatch(struct core *c, const struct ocpp_transport *t,
                                        uint64_t conn_id, const char *text, size_t len)
{
    struct ocpp_frame f;
    enum ocpp_err err = OCPP_OK;
    const char *why = NULL;
    enum ocpp_dispatch_result result = OCPP_DISPATCH_OK;
    enum ocpp_parse_result pr = ocpp_frame_parse(text, len, &f, &err, &why);
    switch (pr) {
    case OCPP_PARSE_IGNORE:
        log_debug(NULL, "message type %d ignored", f.type);
        break;
    case OCPP_PARSE_ERROR:
        refuse(t, conn_id, f.id[0] ? f.id : "-1", OCPP_ACTION_NONE, err, why ? why : "malformed frame");
        result = OCPP_DISPATCH_MALFORMED;
        break;
    case OCPP_PARSE_OK:
        if (f.type == OCPP_CALL) {
            dispatch_call(c, t, conn_id, &f);
        } else if (f.type == OCPP_CALLRESULT) {
            dispatch_result(c, conn_id, &f);
        } else {
            core_on_call_error(c, conn_id, f.id, f.error_code ? f.error_code : "GenericError",
                               f.error_description ? f.error_description : "");
        }
        break;
    }
    ocpp_frame_free(&f);
    return result;
}
