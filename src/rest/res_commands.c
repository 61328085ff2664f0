/*
 * Commands: REST to OCPP and back (docs/commands-design.md, docs/api.md).
 *
 *   POST  /v1/chargers/{id}/commands/{action}   any of the 26 gateway-initiated actions
 *                                               (19 of 1.6, 7 of the Security Extension)
 *   POST  /v1/chargers/{id}/remote-start        RemoteStartTransaction + its session
 *   POST  /v1/sessions/{id}/stop                RemoteStopTransaction of a session
 *   GET   /v1/chargers/{id}/configuration       GetConfiguration
 *   PATCH /v1/chargers/{id}/configuration       ChangeConfiguration per key
 *   GET   /v1/commands/{commandId}              one command (memory, then the table)
 *
 * A payload is checked against the official 1.6 schema before anything is
 * queued (422 naming the field). The core queues the command (one CALL in
 * flight per charger), and its end comes back to on_end() with the request's
 * handle: the reply maps the outcome (rest-api.md's error table), or, in
 * asynchronous mode (Prefer: respond-async), the request was answered 202 at
 * once and only the audit row waits for the end. Every command, refused or
 * sent, gets an audit row when its outcome is known.
 *
 * Nothing here touches the database on the way to the charger, except for
 * the stop of a session (the session is looked up). The key's charger and
 * site restriction on {id} is the dispatcher's (REST_CHARGER_ID).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "core.h"
#include "metrics.h"
#include "ocpp.h"
#include "rest.h"
#include "rest_live.h"
#include "rest_query.h"
#include "rest_res.h"
#include "res_commands.h"
#include "store_job.h"
#include "util.h"

#define CONFIG_KEYS_MAX 50          /* keys of one PATCH /configuration */
#define WAIT_MAX_S 60               /* ?wait= of a remote start */

enum kind {
    K_GENERIC,                      /* body = the charger's answer */
    K_REMOTE_START,                 /* {commandId, status, sessionId, transactionId} */
    K_REMOTE_STOP,
    K_CONFIG_PATCH,                 /* one key of a PATCH /configuration */
    K_SECURITY_PROFILE,             /* ChangeConfiguration SecurityProfile of POST /security-profile */
    K_POWER_LIMIT                   /* Set/ClearChargingProfile of PUT /power-limit: {maxCurrent, applied, ...} */
};

/* Who waits for a command's end: a request (handle) and/or the audit row. */
struct waiter {
    uint64_t handle;                /* 0: nobody replies (async, or the request went) */
    enum kind kind;
    int64_t key_id;
    char request_id[72];
    /* PATCH /configuration: the keys still to send, the answers so far */
    cJSON *pending;                 /* owned object {"Key": "value", ...} in body order */
    cJSON *results;                 /* owned object {"Key": "Accepted", ...} */
    char key[64];                   /* the key of the command in flight */
    /* POST /security-profile: the charger's profile before, the one asked for */
    int profile_from, profile_to;
    /* PUT /power-limit: the limit stored (0.1 A, LOAD_NONE = none) */
    int32_t limit_da;
};

static void waiter_free(struct waiter *w)
{
    if (!w)
        return;
    cJSON_Delete(w->pending);
    cJSON_Delete(w->results);
    free(w);
}

static struct waiter *waiter_new(struct rest_request *r, enum kind kind, bool replies)
{
    struct waiter *w = xcalloc(1, sizeof *w);
    w->handle = replies ? rest_request_handle(r) : 0;
    w->kind = kind;
    const struct rest_key *k = rest_key(r);
    w->key_id = k ? k->id : 0;
    str_copy(w->request_id, sizeof w->request_id, rest_request_id(r));
    return w;
}

static cJSON *parse_or_null(const char *json)
{
    cJSON *v = json ? cJSON_Parse(json) : NULL;
    return v ? v : cJSON_CreateNull();
}

/* ---- audit and metrics ---- */

static void audit(int64_t key_id, const char *request_id, enum ocpp_action a,
                  const char *charger_id, const char *command_id, const char *outcome,
                  const char *status)
{
    char action[64];
    snprintf(action, sizeof action, "command.%s", ocpp_action_name(a));
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "chargerId", charger_id);
    if (command_id)
        cJSON_AddStringToObject(d, "commandId", command_id);
    if (status)
        cJSON_AddStringToObject(d, "status", status);
    rest_audit_as(key_id, request_id, action, command_id ? command_id : charger_id, d, outcome);
    cJSON_Delete(d);
}

/* ---- replies ---- */

static void command_headers(struct rest_request *r, const char *command_id)
{
    char loc[64];
    snprintf(loc, sizeof loc, "/v1/commands/%s", command_id);
    rest_add_header(r, "Content-Location", loc);
    rest_add_header(r, "X-Command-Id", command_id);
}

static cJSON *ctx_of(const struct core_command_view *v)
{
    cJSON *ctx = cJSON_CreateObject();
    cJSON_AddStringToObject(ctx, "chargerId", v->charger_id);
    cJSON_AddStringToObject(ctx, "commandId", v->id);
    return ctx;
}

/*
 * The failures common to every kind of command; false if v is not one
 * (the charger answered with a valid CALLRESULT).
 */
static bool reply_failure(struct rest_request *r, const struct core_command_view *v)
{
    enum rest_err e;
    const char *fmt;                /* about the charger (%s) and the action (%s) */
    const char *reason = NULL;      /* context.reason */
    switch (v->outcome) {
    case CORE_CMD_ANSWERED:
    case CORE_CMD_PENDING:
        return false;
    case CORE_CMD_CALL_ERROR:
        e = REST_ERR_BAD_GATEWAY;
        fmt = "charger '%.48s' answered %s with a CALLERROR";
        break;
    case CORE_CMD_INVALID_ANSWER:
        e = REST_ERR_BAD_GATEWAY;
        fmt = "charger '%.48s' answered %s with a payload that is not valid OCPP 1.6";
        reason = v->error_description ? v->error_description : "";
        break;
    case CORE_CMD_TIMEOUT:
        e = REST_ERR_CHARGER_TIMEOUT;
        fmt = "charger '%.48s' did not answer %s in time";
        break;
    case CORE_CMD_DISCONNECTED:
        /* never sent: nothing was done (and an Idempotency-Key claim is let go) */
        e = v->sent ? REST_ERR_CUT_BY_DISCONNECT : REST_ERR_CHARGER_OFFLINE;
        fmt = v->sent ? "charger '%.48s' disconnected before answering %s"
                      : "charger '%.48s' disconnected before %s was sent";
        reason = v->sent ? "disconnected" : NULL;
        break;
    case CORE_CMD_CANCELLED:
    default:
        /* once sent, the charger may have acted: not a 503 that lets an Idempotency-Key go */
        e = v->sent ? REST_ERR_CUT_BY_SHUTDOWN : REST_ERR_SHUTTING_DOWN;
        fmt = "the gateway shut down before charger '%.48s' answered %s";
        reason = v->sent ? "cancelled" : NULL;
        break;
    }
    cJSON *ctx = ctx_of(v);
    if (v->outcome == CORE_CMD_CALL_ERROR) {
        cJSON_AddStringToObject(ctx, "errorCode", v->error_code ? v->error_code : "");
        cJSON_AddStringToObject(ctx, "errorDescription",
                                v->error_description ? v->error_description : "");
    } else if (v->outcome == CORE_CMD_TIMEOUT) {
        cJSON_AddNumberToObject(ctx, "timeoutSeconds", rest_settings(r)->call_timeout_s);
    }
    if (reason)
        cJSON_AddStringToObject(ctx, "reason", reason);
    char msg[256];
    snprintf(msg, sizeof msg, fmt, v->charger_id, ocpp_action_name(v->action));
    if (v->sent)
        command_headers(r, v->id);
    rest_reply_error(r, e, msg, ctx);
    return true;
}

static bool accepted(const struct core_command_view *v)
{
    return v->status && strcmp(v->status, "Accepted") == 0;
}

static void reply_session_answer(struct rest_request *r, const struct core_command_view *v)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "commandId", v->id);
    cJSON_AddStringToObject(o, "status", v->status ? v->status : "");
    if (v->session_id)
        cJSON_AddNumberToObject(o, "sessionId", (double)v->session_id);
    else
        cJSON_AddNullToObject(o, "sessionId");
    if (v->transaction_id)
        cJSON_AddNumberToObject(o, "transactionId", v->transaction_id);
    else
        cJSON_AddNullToObject(o, "transactionId");
    command_headers(r, v->id);
    rest_reply_json(r, 200, o);
}

static void reply_refused_start_stop(struct rest_request *r, const struct core_command_view *v,
                                     bool start)
{
    char msg[160];
    cJSON *ctx = ctx_of(v);
    cJSON_AddStringToObject(ctx, "status", v->status ? v->status : "");
    snprintf(msg, sizeof msg, "charger '%.48s' answered %s to the remote %s", v->charger_id,
             v->status ? v->status : "no status", start ? "start" : "stop");
    command_headers(r, v->id);
    rest_reply_error(r, start ? REST_ERR_FAILED_TO_START : REST_ERR_FAILED_TO_STOP, msg, ctx);
}

static void config_next(struct rest_request *r, struct waiter *w);

/*
 * PUT /power-limit's answer: the limit stored, and whether the charger has
 * it in force now (it Accepted); v NULL when no command went out (the
 * charger is not connected to this gateway: it gets the limit when it
 * boots).
 */
static void reply_power_limit(struct rest_request *r, int32_t limit_da, const struct core_command_view *v)
{
    cJSON *o = cJSON_CreateObject();
    if (limit_da >= 0)
        cJSON_AddNumberToObject(o, "maxCurrent", limit_da / 10.0);
    else
        cJSON_AddNullToObject(o, "maxCurrent");
    bool answered = v && v->outcome == CORE_CMD_ANSWERED;
    cJSON_AddBoolToObject(o, "applied", answered && v->status && strcmp(v->status, "Accepted") == 0);
    if (answered && v->status)
        cJSON_AddStringToObject(o, "status", v->status);
    else
        cJSON_AddNullToObject(o, "status");
    if (v && v->sent) {
        cJSON_AddStringToObject(o, "commandId", v->id);
        command_headers(r, v->id);
    } else {
        cJSON_AddNullToObject(o, "commandId");
    }
    const char *outcome = v ? core_cmd_outcome_name(v->outcome) : NULL;
    if (outcome)
        cJSON_AddStringToObject(o, "outcome", outcome);
    else
        cJSON_AddNullToObject(o, "outcome");
    rest_reply_json(r, 200, o);
}

static void reply_outcome(struct rest_request *r, enum kind kind, const struct core_command_view *v)
{
    if (reply_failure(r, v))
        return;
    bool start = v->action == OCPP_ACTION_REMOTE_START_TRANSACTION;
    bool stop = v->action == OCPP_ACTION_REMOTE_STOP_TRANSACTION;
    if ((start || stop) && !accepted(v)) {
        reply_refused_start_stop(r, v, start);
        return;
    }
    if (kind == K_REMOTE_START || kind == K_REMOTE_STOP) {
        reply_session_answer(r, v);
        return;
    }
    command_headers(r, v->id);
    rest_reply_json(r, 200, parse_or_null(v->response_json));
}

static void security_profile_end(struct waiter *w, const struct core_command_view *v);

/* The core's word that a command ended. */
static void on_end(void *user, const struct core_command_view *v)
{
    struct waiter *w = user;
    audit(w->key_id, w->request_id, v->action, v->charger_id, v->id,
          core_cmd_outcome_name(v->outcome), v->status);
    if (w->kind == K_SECURITY_PROFILE) {
        security_profile_end(w, v); /* takes w; commits even when nobody waits */
        return;
    }
    struct rest_request *r = w->handle ? rest_request_lookup(w->handle) : NULL;
    if (!r) {
        waiter_free(w);
        return;
    }
    if (w->kind == K_POWER_LIMIT) {
        reply_power_limit(r, w->limit_da, v);
        waiter_free(w);
        return;
    }
    if (w->kind == K_CONFIG_PATCH && v->outcome == CORE_CMD_ANSWERED) {
        cJSON_AddStringToObject(w->results, w->key, v->status ? v->status : "");
        config_next(r, w); /* takes w */
        return;
    }
    /*
     * What the gateway added: not the charger's answer time, nor the wait for its
     * earlier answers (one CALL at a time), nor a remote start's wait for its session.
     */
    if (v->answer_us >= 0 && w->kind != K_REMOTE_START && w->kind != K_CONFIG_PATCH)
        metrics_command_overhead(rest_request_age_us(r) - v->answer_us - v->queued_us);
    reply_outcome(r, w->kind, v);
    waiter_free(w);
}

/* ---- submitting ---- */

struct submit {
    const char *charger_id;
    enum ocpp_action action;
    const char *payload;            /* JSON text */
    enum kind kind;
    bool async;
    /* remote start / stop */
    const char *id_tag;
    int connector_id;
    int wait_ms;
    int32_t stop_tx;
    int64_t stop_session;
    /* power limit: the command is core_power_limit_command()'s */
    bool power_limit;
    int32_t limit_da;
};

static void reply_async(struct rest_request *r, const char *command_id);

/* Queues the command; replies now on refusal or in async mode, else from on_end. */
static void submit(struct rest_request *r, const struct submit *s, struct waiter *w)
{
    const struct rest_key *k = rest_key(r);
    struct core_command_req req = {
        .charger_id = s->charger_id,
        .action = s->action,
        .payload_json = s->payload,
        .api_key_id = k ? k->id : 0,
        .request_id = rest_request_id(r),
        .start_id_tag = s->id_tag,
        .start_connector_id = s->connector_id,
        .session_wait_ms = s->wait_ms,
        .stop_transaction_id = s->stop_tx,
        .stop_session_id = s->stop_session,
    };
    if (!w)
        w = waiter_new(r, s->kind, !s->async);
    char id[CORE_CMD_ID_LEN + 1] = "";
    enum core_call_err e = s->power_limit ? rest_power_limit_submit(r, &req, s->limit_da, on_end, w, id)
                                          : rest_command_submit(r, &req, on_end, w, id);
    if (e == CORE_CALL_OK) {
        if (s->async)
            reply_async(r, id);
        return;
    }
    if (s->power_limit) {
        /* stored all the same: the charger gets it when it boots */
        audit(w->key_id, w->request_id, s->action, s->charger_id, NULL,
              e == CORE_CALL_ERR_OFFLINE ? "offline" : e == CORE_CALL_ERR_QUEUE_FULL ? "queue_full" : "shutdown",
              NULL);
        reply_power_limit(r, s->limit_da, NULL);
        waiter_free(w);
        return;
    }
    cJSON *ctx = cJSON_CreateObject();
    cJSON_AddStringToObject(ctx, "chargerId", s->charger_id);
    char msg[160];
    switch (e) {
    case CORE_CALL_ERR_UNKNOWN_CHARGER:
        audit(w->key_id, w->request_id, s->action, s->charger_id, NULL, "not_found", NULL);
        snprintf(msg, sizeof msg, "charger '%.48s' not found", s->charger_id);
        rest_reply_error(r, REST_ERR_NOT_FOUND, msg, ctx);
        break;
    case CORE_CALL_ERR_QUEUE_FULL:
        metrics_command(s->action, METRICS_CMD_QUEUE_FULL, -1);
        audit(w->key_id, w->request_id, s->action, s->charger_id, NULL, "queue_full", NULL);
        cJSON_AddNumberToObject(ctx, "queueMax", rest_settings(r)->call_queue);
        snprintf(msg, sizeof msg, "the command queue of charger '%.48s' is full", s->charger_id);
        rest_reply_error(r, REST_ERR_UNAVAILABLE, msg, ctx);
        break;
    case CORE_CALL_ERR_SHUTDOWN:
        audit(w->key_id, w->request_id, s->action, s->charger_id, NULL, "shutdown", NULL);
        rest_reply_error(r, REST_ERR_SHUTTING_DOWN, "the gateway is shutting down", ctx);
        break;
    case CORE_CALL_ERR_OFFLINE:
    default:
        metrics_command(s->action, METRICS_CMD_OFFLINE, -1);
        audit(w->key_id, w->request_id, s->action, s->charger_id, NULL, "offline", NULL);
        snprintf(msg, sizeof msg, "charger '%.48s' is not connected", s->charger_id);
        rest_reply_error(r, REST_ERR_CHARGER_OFFLINE, msg, ctx);
        break;
    }
    waiter_free(w);
}

static void view_to_json(void *user, const struct core_command_view *v)
{
    *(cJSON **)user = res_command_json(v);
}

static void reply_async(struct rest_request *r, const char *command_id)
{
    cJSON *body = NULL;
    if (!rest_command_find(r, command_id, view_to_json, &body))
        body = cJSON_CreateObject(); /* cannot happen: just submitted */
    char loc[64];
    snprintf(loc, sizeof loc, "/v1/commands/%s", command_id);
    rest_add_header(r, "Location", loc);
    rest_add_header(r, "Preference-Applied", "respond-async");
    rest_reply_json(r, 202, body);
}

/* Prefer: respond-async (RFC 7240), among other preferences. */
static bool wants_async(struct rest_request *r)
{
    const char *p = rest_header(r, "prefer");
    if (!p)
        return false;
    const char *at = p;
    while ((at = strstr(at, "respond-async")) != NULL) {
        bool start_ok = at == p || at[-1] == ' ' || at[-1] == ',' || at[-1] == '\t';
        char end = at[13];
        if (start_ok && (end == '\0' || end == ',' || end == ';' || end == ' ' || end == '\t'))
            return true;
        at += 13;
    }
    return false;
}

/* ---- validation ---- */

/* 422 naming the first field of payload that fails the action's 1.6 request schema. */
static bool payload_valid(struct rest_request *r, enum ocpp_action a, const cJSON *payload,
                          const char *prefix)
{
    struct ocpp_violation v;
    if (ocpp_schema_validate(a, OCPP_SCHEMA_REQ, payload, &v) == OCPP_OK)
        return true;
    char field[192];
    if (prefix && v.path[0])
        snprintf(field, sizeof field, "%s.%s", prefix, v.path);
    else
        snprintf(field, sizeof field, "%s", v.path[0] ? v.path : (prefix ? prefix : "body"));
    cJSON *ctx = cJSON_CreateObject();
    cJSON_AddStringToObject(ctx, field, v.message);
    char msg[512];
    snprintf(msg, sizeof msg, "the %s payload is not valid OCPP 1.6: %.192s: %.160s",
             ocpp_action_name(a), field, v.message);
    rest_reply_error(r, REST_ERR_UNPROCESSABLE, msg, ctx);
    return false;
}

/* The body as an object ({} when there is none); NULL after replying 422. */
static const cJSON *body_object(struct rest_request *r, cJSON **owned)
{
    const cJSON *b = rest_body(r);
    *owned = NULL;
    if (!b) {
        *owned = cJSON_CreateObject();
        return *owned;
    }
    if (!cJSON_IsObject(b)) {
        cJSON *ctx = cJSON_CreateObject();
        cJSON_AddStringToObject(ctx, "body", "expected a JSON object");
        rest_reply_error(r, REST_ERR_UNPROCESSABLE, "the body must be a JSON object", ctx);
        return NULL;
    }
    return b;
}

static void audit_invalid(struct rest_request *r, enum ocpp_action a)
{
    const struct rest_key *k = rest_key(r);
    const char *id = rest_param(r, "id");
    audit(k ? k->id : 0, rest_request_id(r), a, id ? id : "", NULL, "invalid", NULL);
}

/*
 * The SecurityProfile key changes only through POST .../security-profile,
 * which checks the upgrade and commits it: sent any other way the charger
 * would leave the profile the gateways admit it on (a lock-out).
 */
static bool security_profile_key(const char *key)
{
    return key && strcmp(key, "SecurityProfile") == 0;
}

static void refuse_security_profile_key(struct rest_request *r, enum ocpp_action a, const char *field)
{
    cJSON *ctx = cJSON_CreateObject();
    cJSON_AddStringToObject(ctx, field, "use POST /v1/chargers/{id}/security-profile");
    audit_invalid(r, a);
    rest_reply_error(r, REST_ERR_UNPROCESSABLE,
                     "SecurityProfile changes only through POST /v1/chargers/{id}/security-profile", ctx);
}

/* ---- POST /v1/chargers/{id}/commands/{action} ---- */

static void command_post_go(struct rest_request *r)
{
    enum ocpp_action a = ocpp_action_lookup(rest_param(r, "action"));
    cJSON *owned;
    const cJSON *body = body_object(r, &owned);
    char *payload = cJSON_PrintUnformatted(body);
    struct submit s = { .charger_id = rest_param(r, "id"), .action = a, .payload = payload,
                        .kind = K_GENERIC, .async = wants_async(r), .wait_ms = 0 };
    const cJSON *v;
    if (a == OCPP_ACTION_REMOTE_START_TRANSACTION) {
        v = cJSON_GetObjectItemCaseSensitive(body, "idTag");
        s.id_tag = cJSON_IsString(v) ? v->valuestring : "";
        v = cJSON_GetObjectItemCaseSensitive(body, "connectorId");
        s.connector_id = cJSON_IsNumber(v) ? v->valueint : 0;
    } else if (a == OCPP_ACTION_REMOTE_STOP_TRANSACTION) {
        v = cJSON_GetObjectItemCaseSensitive(body, "transactionId");
        s.stop_tx = cJSON_IsNumber(v) ? v->valueint : 0;
    }
    submit(r, &s, NULL);
    cJSON_free(payload);
    cJSON_Delete(owned);
}

void res_command_post(struct rest_request *r)
{
    if (res_unknown_params(r))
        return;
    const char *name = rest_param(r, "action");
    enum ocpp_action a = ocpp_action_lookup(name);
    if (!ocpp_action_is_gateway_initiated(a)) {
        cJSON *ctx = cJSON_CreateObject();
        cJSON_AddStringToObject(ctx, "action", name);
        char msg[160];
        snprintf(msg, sizeof msg, "'%.64s' is not a gateway-initiated OCPP 1.6 action", name);
        rest_reply_error(r, REST_ERR_NOT_FOUND, msg, ctx);
        return;
    }
    cJSON *owned;
    const cJSON *body = body_object(r, &owned);
    if (!body) {
        audit_invalid(r, a);
        return;
    }
    bool ok = payload_valid(r, a, body, NULL);
    bool profile = ok && a == OCPP_ACTION_CHANGE_CONFIGURATION &&
                   security_profile_key(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "key")));
    cJSON_Delete(owned);
    if (!ok) {
        audit_invalid(r, a);
        return;
    }
    if (profile) {
        refuse_security_profile_key(r, a, "key");
        return;
    }
    command_post_go(r);
}

/* ---- POST /v1/chargers/{id}/remote-start ---- */

static bool parse_wait(struct rest_request *r, int *wait_ms)
{
    const char *w = rest_query(r, "wait");
    *wait_ms = -1;
    if (!w)
        return true;
    char *end;
    long v = strtol(w, &end, 10);
    if (!*w || *end || v < 0 || v > WAIT_MAX_S) {
        cJSON *ctx = cJSON_CreateObject();
        cJSON_AddStringToObject(ctx, "wait", "must be whole seconds from 0 to 60");
        rest_reply_error(r, REST_ERR_BAD_REQUEST, "bad parameter wait", ctx);
        return false;
    }
    *wait_ms = (int)v * 1000;
    return true;
}

static int remote_start_connector(struct rest_request *r)
{
    const cJSON *conn = cJSON_GetObjectItemCaseSensitive(rest_body(r), "connectorId");
    return cJSON_IsNumber(conn) ? conn->valueint : 0;
}

/* The charger and connector checked; sends the RemoteStartTransaction. */
static void remote_start_send(struct rest_request *r)
{
    const cJSON *body = rest_body(r);
    const char *charger_id = rest_param(r, "id");
    const cJSON *tag = cJSON_GetObjectItemCaseSensitive(body, "idTag");
    int connector = remote_start_connector(r);
    int wait_ms;
    parse_wait(r, &wait_ms); /* already checked */
    char *payload = cJSON_PrintUnformatted(body);
    struct submit s = {
        .charger_id = charger_id,
        .action = OCPP_ACTION_REMOTE_START_TRANSACTION,
        .payload = payload,
        .kind = K_REMOTE_START,
        .async = wants_async(r),
        .id_tag = tag->valuestring,
        .connector_id = connector,
        .wait_ms = wait_ms,
    };
    submit(r, &s, NULL);
    cJSON_free(payload);
}

/*
 * The database's view of the connector: an active session that is not stale
 * (whichever gateway stored it) means the connector is occupied, whatever
 * the last StatusNotification said: 409, nothing sent.
 */
static void active_session_done(struct rest_request *r, struct store_job *job)
{
    if (job->status != STORE_OK) {
        rest_reply_store_error(r, job);
        return;
    }
    if (job->out.sql.ntuples == 0) {
        remote_start_send(r);
        return;
    }
    const char *charger_id = rest_param(r, "id");
    int connector = remote_start_connector(r);
    const char *session = rest_value(job, 0, 0);
    cJSON *ctx = cJSON_CreateObject();
    cJSON_AddStringToObject(ctx, "chargerId", charger_id);
    cJSON_AddNumberToObject(ctx, "connectorId", connector);
    cJSON_AddNumberToObject(ctx, "activeSessionId", session ? (double)strtoll(session, NULL, 10) : 0);
    char msg[200];
    snprintf(msg, sizeof msg, "connector %d of charger '%.48s' has an active session (%s)", connector,
             charger_id, session ? session : "?");
    const struct rest_key *k = rest_key(r);
    audit(k ? k->id : 0, rest_request_id(r), OCPP_ACTION_REMOTE_START_TRANSACTION, charger_id, NULL,
          "not_available", "active session");
    rest_reply_error(r, REST_ERR_CHARGER_NOT_AVAILABLE, msg, ctx);
}

static void remote_start_go(struct rest_request *r)
{
    const char *charger_id = rest_param(r, "id");
    int connector = remote_start_connector(r);
    char status[16];
    if (!rest_connector_startable(r, charger_id, connector, status)) {
        cJSON *ctx = cJSON_CreateObject();
        cJSON_AddStringToObject(ctx, "chargerId", charger_id);
        if (connector)
            cJSON_AddNumberToObject(ctx, "connectorId", connector);
        cJSON_AddStringToObject(ctx, "connectorStatus", status);
        char msg[160];
        snprintf(msg, sizeof msg, "charger '%.48s' cannot start a session now: connector %s",
                 charger_id, status);
        const struct rest_key *k = rest_key(r);
        audit(k ? k->id : 0, rest_request_id(r), OCPP_ACTION_REMOTE_START_TRANSACTION, charger_id,
              NULL, "not_available", status);
        rest_reply_error(r, REST_ERR_CHARGER_NOT_AVAILABLE, msg, ctx);
        return;
    }
    if (connector <= 0) {
        /* the charger picks the connector: only it knows which one is free */
        remote_start_send(r);
        return;
    }
    char conn[16];
    snprintf(conn, sizeof conn, "%d", connector);
    const char *params[] = { charger_id, conn };
    rest_sql(r,
             "SELECT s.id FROM sessions s WHERE s.charger_id = $1 AND s.connector_id = $2::integer"
             " AND s.status = 'active' AND NOT s.stale ORDER BY s.id DESC LIMIT 1",
             2, params, active_session_done);
}

void res_remote_start(struct rest_request *r)
{
    int wait_ms;
    if (!parse_wait(r, &wait_ms) || res_unknown_params(r))
        return;
    /* the body is the 1.6 payload itself: {connectorId?, idTag, chargingProfile?} */
    if (!payload_valid(r, OCPP_ACTION_REMOTE_START_TRANSACTION, rest_body(r), NULL)) {
        audit_invalid(r, OCPP_ACTION_REMOTE_START_TRANSACTION);
        return;
    }
    remote_start_go(r);
}

/* ---- POST /v1/sessions/{id}/stop ---- */

static void stop_lookup_done(struct rest_request *r, struct store_job *job)
{
    const char *id = rest_param(r, "id");
    const struct res_row *row = res_session_row;
    if (job->status != STORE_OK || job->out.sql.ntuples == 0) {
        res_reply_row(r, job, row, id, 200); /* 503/500, or 404 */
        return;
    }
    const char *charger_id = rest_value(job, 0, res_col(row->cols, row->ncols, "chargerId"));
    const char *status = rest_value(job, 0, res_col(row->cols, row->ncols, "status"));
    const char *tx = rest_value(job, 0, res_col(row->cols, row->ncols, "transactionId"));
    if (!res_key_sees(r, charger_id, rest_value(job, 0, (int)row->ncols))) {
        res_forbidden(r, "session", "sessionId", id);
        return;
    }
    if (status && strcmp(status, "completed") == 0) {
        /* nothing to stop: the session as it ended, and nothing sent */
        const struct rest_key *k = rest_key(r);
        audit(k ? k->id : 0, rest_request_id(r), OCPP_ACTION_REMOTE_STOP_TRANSACTION,
              charger_id ? charger_id : "", NULL, "already_completed", NULL);
        res_reply_row(r, job, row, id, 200);
        return;
    }
    char payload[48];
    snprintf(payload, sizeof payload, "{\"transactionId\":%s}", tx ? tx : "0");
    struct submit s = {
        .charger_id = charger_id,
        .action = OCPP_ACTION_REMOTE_STOP_TRANSACTION,
        .payload = payload,
        .kind = K_REMOTE_STOP,
        .async = wants_async(r),
        .stop_tx = tx ? (int32_t)strtol(tx, NULL, 10) : 0,
        .stop_session = strtoll(id, NULL, 10),
    };
    submit(r, &s, NULL);
}

void res_session_stop(struct rest_request *r)
{
    const char *id = res_session_param(r);
    if (!id)
        return;
    const cJSON *b = rest_body(r);
    if (b && !(cJSON_IsObject(b) && !b->child)) {
        cJSON *ctx = cJSON_CreateObject();
        cJSON_AddStringToObject(ctx, "body", "must be empty or {}");
        rest_reply_error(r, REST_ERR_UNPROCESSABLE, "a stop takes no body", ctx);
        return;
    }
    rest_sql(r, res_session_select(), 1, &id, stop_lookup_done);
}

/* ---- GET /v1/chargers/{id}/configuration ---- */

#define CONFIG_GET_KEYS_MAX 100

/* GetConfiguration's payload from ?key= (repeated or comma-separated); NULL past the limit. */
static cJSON *config_get_payload(struct rest_request *r)
{
    const char *keys[CONFIG_GET_KEYS_MAX + 1];
    size_t n = rest_query_list(r, "key", keys, CONFIG_GET_KEYS_MAX + 1);
    if (n > CONFIG_GET_KEYS_MAX)
        return NULL;
    cJSON *p = cJSON_CreateObject();
    if (n) {
        cJSON *arr = cJSON_AddArrayToObject(p, "key");
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(arr, cJSON_CreateString(keys[i]));
    }
    return p;
}

static void configuration_get_go(struct rest_request *r)
{
    cJSON *p = config_get_payload(r);
    char *payload = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);
    struct submit s = { .charger_id = rest_param(r, "id"), .action = OCPP_ACTION_GET_CONFIGURATION,
                        .payload = payload, .kind = K_GENERIC, .async = false };
    submit(r, &s, NULL);
    cJSON_free(payload);
}

void res_configuration_get(struct rest_request *r)
{
    cJSON *p = config_get_payload(r);
    if (res_unknown_params(r)) {
        cJSON_Delete(p);
        return;
    }
    struct ocpp_violation v;
    if (!p || ocpp_schema_validate(OCPP_ACTION_GET_CONFIGURATION, OCPP_SCHEMA_REQ, p, &v) != OCPP_OK) {
        cJSON *ctx = cJSON_CreateObject();
        cJSON_AddStringToObject(ctx, "key", p ? v.message : "at most 100 keys");
        rest_reply_error(r, REST_ERR_BAD_REQUEST, "bad parameter key", ctx);
        cJSON_Delete(p);
        return;
    }
    cJSON_Delete(p);
    configuration_get_go(r);
}

/* ---- PATCH /v1/chargers/{id}/configuration ---- */

/* Sends the next key of w->pending, or answers the results when none is left. */
static void config_next(struct rest_request *r, struct waiter *w)
{
    cJSON *item = w->pending->child;
    if (!item) {
        rest_reply_json(r, 200, w->results);
        w->results = NULL;
        waiter_free(w);
        return;
    }
    cJSON_DetachItemViaPointer(w->pending, item);
    str_copy(w->key, sizeof w->key, item->string);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "key", item->string);
    cJSON_AddStringToObject(p, "value", item->valuestring);
    cJSON_Delete(item);
    char *payload = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);
    struct submit s = { .charger_id = rest_param(r, "id"),
                        .action = OCPP_ACTION_CHANGE_CONFIGURATION, .payload = payload,
                        .kind = K_CONFIG_PATCH };
    /* on refusal submit() replies and frees w */
    submit(r, &s, w);
    cJSON_free(payload);
}

/*
 * The keys of a PATCH body as ChangeConfiguration wants them, every one
 * checked before the first is sent (all or nothing goes out): the waiter, or
 * NULL after replying 422.
 */
static struct waiter *patch_build(struct rest_request *r)
{
    const cJSON *body = rest_body(r);
    int n = cJSON_GetArraySize(body);
    if (n < 1 || n > CONFIG_KEYS_MAX) {
        cJSON *ctx = cJSON_CreateObject();
        cJSON_AddStringToObject(ctx, "body", "give 1 to 50 keys");
        audit_invalid(r, OCPP_ACTION_CHANGE_CONFIGURATION);
        rest_reply_error(r, REST_ERR_UNPROCESSABLE, "nothing to change, or too many keys", ctx);
        return NULL;
    }
    cJSON *pending = cJSON_CreateObject();
    cJSON *bad = cJSON_CreateObject();
    const cJSON *it;
    cJSON_ArrayForEach(it, body) {
        char text[64];
        const char *value = NULL;
        if (cJSON_IsString(it)) {
            value = it->valuestring;
        } else if (cJSON_IsBool(it)) {
            value = cJSON_IsTrue(it) ? "true" : "false";
        } else if (cJSON_IsNumber(it)) {
            /* an integer in long long's range (casting one outside it is undefined) */
            double d = it->valuedouble;
            if (d >= -9.2e18 && d <= 9.2e18 && d == (double)(long long)d)
                snprintf(text, sizeof text, "%lld", (long long)d);
            else
                snprintf(text, sizeof text, "%.17g", d);
            value = text;
        } else {
            cJSON_AddStringToObject(bad, it->string, "must be a string, number or boolean");
            continue;
        }
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "key", it->string);
        cJSON_AddStringToObject(p, "value", value);
        struct ocpp_violation v;
        if (security_profile_key(it->string))
            cJSON_AddStringToObject(bad, it->string, "use POST /v1/chargers/{id}/security-profile");
        else if (ocpp_schema_validate(OCPP_ACTION_CHANGE_CONFIGURATION, OCPP_SCHEMA_REQ, p, &v) != OCPP_OK)
            cJSON_AddStringToObject(bad, it->string,
                                    strcmp(v.path, "key") == 0 ? "key longer than 50 characters"
                                                               : "value longer than 500 characters");
        else if (cJSON_GetObjectItemCaseSensitive(pending, it->string))
            cJSON_AddStringToObject(bad, it->string, "given twice");
        else
            cJSON_AddStringToObject(pending, it->string, value);
        cJSON_Delete(p);
    }
    if (bad->child) {
        cJSON_Delete(pending);
        audit_invalid(r, OCPP_ACTION_CHANGE_CONFIGURATION);
        rest_reply_error(r, REST_ERR_UNPROCESSABLE, "invalid configuration keys or values", bad);
        return NULL;
    }
    cJSON_Delete(bad);
    struct waiter *w = waiter_new(r, K_CONFIG_PATCH, true);
    w->pending = pending;
    w->results = cJSON_CreateObject();
    return w;
}

void res_configuration_patch(struct rest_request *r)
{
    if (res_unknown_params(r))
        return;
    struct waiter *w = patch_build(r);
    if (w)
        config_next(r, w);
}

/* ---- GET /v1/commands/{commandId} ---- */

struct found {
    cJSON *json;
    char charger_id[OCPP_CHARGER_ID_MAX + 1];
};

static void found_view(void *user, const struct core_command_view *v)
{
    struct found *f = user;
    f->json = res_command_json(v);
    str_copy(f->charger_id, sizeof f->charger_id, v->charger_id);
}

void res_command_get(struct rest_request *r)
{
    if (res_unknown_params(r))
        return;
    const char *id = rest_param(r, "commandId");
    struct found f = { 0 };
    const struct rest_key *k = rest_key(r);
    /* in memory: pending, or not yet in the table; a key limited to sites asks the table */
    if ((!k || !k->site_ids) && rest_command_find(r, id, found_view, &f)) {
        if (!rest_key_allows_charger(k, f.charger_id)) {
            cJSON_Delete(f.json);
            res_forbidden(r, "command", "commandId", id);
            return;
        }
        rest_reply_json(r, 200, f.json);
        return;
    }
    res_command_stored(r, id);
}

/* ---- POST /v1/chargers/{id}/security-profile: the command and its commit ---- */

/*
 * What the commit of an accepted upgrade needs once the command has ended
 * (one block: rest_sql_detached frees it if the job never comes back).
 */
struct profile_commit {
    uint64_t handle;                /* the request, if it still waits (0: async) */
    int64_t key_id;
    char request_id[72];
    char charger_id[OCPP_CHARGER_ID_MAX + 1];
    char command_id[CORE_CMD_ID_LEN + 1];
    int from, to;
};

static void profile_audit(int64_t key_id, const char *request_id, const char *charger_id,
                          const char *command_id, int from, int to, const char *status,
                          const char *result)
{
    cJSON *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "from", from);
    cJSON_AddNumberToObject(d, "to", to);
    if (command_id)
        cJSON_AddStringToObject(d, "commandId", command_id);
    if (status)
        cJSON_AddStringToObject(d, "status", status);
    rest_audit_as(key_id, request_id, "charger.securityProfile", charger_id, d, result);
    cJSON_Delete(d);
}

static void profile_committed(struct store_job *job, void *user)
{
    struct profile_commit *pc = user;
    bool ok = job->status == STORE_OK && job->out.sql.ntuples == 1;
    bool gone = job->status == STORE_OK && !ok; /* deleted, or changed meanwhile */
    if (ok) {
        /* this process refuses the old profile at once, as after a PATCH (the NOTIFY tells the others) */
        const char *hash = rest_value(job, 0, 1), *registration = rest_value(job, 0, 2),
                   *version = rest_value(job, 0, 3);
        struct store_charger row = { .security_profile = pc->to, .version = version ? strtoll(version, NULL, 10) : 0 };
        str_copy(row.id, sizeof row.id, pc->charger_id);
        str_copy(row.auth_hash, sizeof row.auth_hash, hash ? hash : "");
        str_copy(row.registration, sizeof row.registration, registration ? registration : "");
        rest_charger_committed(NULL, &row);
    }
    if (!ok)
        log_error(NULL, "charger '%s' accepted security profile %d but it was not recorded (%s)",
                  pc->charger_id, pc->to,
                  gone ? "the charger was deleted or changed meanwhile"
                       : job->status == STORE_ERR_UNAVAILABLE ? "database unavailable"
                                                              : job->out.sql.sqlstate);
    profile_audit(pc->key_id, pc->request_id, pc->charger_id, pc->command_id, pc->from, pc->to,
                  "Accepted", ok ? "ok" : gone ? "conflict" : "store_error");
    struct rest_request *r = pc->handle ? rest_request_lookup(pc->handle) : NULL;
    if (r) {
        command_headers(r, pc->command_id);
        if (ok) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "commandId", pc->command_id);
            cJSON_AddStringToObject(o, "status", "Accepted");
            cJSON_AddNumberToObject(o, "securityProfile", pc->to);
            cJSON_AddNumberToObject(o, "previousSecurityProfile", pc->from);
            rest_reply_json(r, 200, o);
        } else if (gone) {
            cJSON *ctx = cJSON_CreateObject();
            cJSON_AddStringToObject(ctx, "chargerId", pc->charger_id);
            cJSON_AddStringToObject(ctx, "commandId", pc->command_id);
            char msg[192];
            snprintf(msg, sizeof msg,
                     "charger '%.48s' accepted profile %d but was deleted or changed meanwhile",
                     pc->charger_id, pc->to);
            rest_reply_error(r, REST_ERR_CONFLICT, msg, ctx);
        } else {
            rest_reply_store_error(r, job);
        }
    }
    free(pc);
}

/*
 * The end of the ChangeConfiguration SecurityProfile: Accepted commits the
 * new profile (the same UPDATE of table chargers as PATCH /v1/chargers/{id},
 * so its notification and change handling follow), whether or not the
 * request still waits; anything else changes nothing and says why.
 */
static void security_profile_end(struct waiter *w, const struct core_command_view *v)
{
    if (v->outcome == CORE_CMD_ANSWERED && accepted(v)) {
        struct profile_commit *pc = xcalloc(1, sizeof *pc);
        pc->handle = w->handle;
        pc->key_id = w->key_id;
        str_copy(pc->request_id, sizeof pc->request_id, w->request_id);
        str_copy(pc->charger_id, sizeof pc->charger_id, v->charger_id);
        str_copy(pc->command_id, sizeof pc->command_id, v->id);
        pc->from = w->profile_from;
        pc->to = w->profile_to;
        char to[8];
        snprintf(to, sizeof to, "%d", pc->to);
        const char *params[] = { pc->charger_id, to };
        waiter_free(w);
        rest_sql_detached("UPDATE chargers c SET security_profile = $2::smallint, updated_at = now()"
                          " WHERE c.id = $1 AND c.security_profile < $2::smallint"
                          " RETURNING c.security_profile, coalesce(c.auth_hash, ''), c.registration_status,"
                          " c.registry_version",
                          2, params, profile_committed, pc);
        return;
    }
    const char *result = v->outcome == CORE_CMD_ANSWERED ? "rejected" : core_cmd_outcome_name(v->outcome);
    profile_audit(w->key_id, w->request_id, v->charger_id, v->sent ? v->id : NULL, w->profile_from,
                  w->profile_to, v->status, result);
    struct rest_request *r = w->handle ? rest_request_lookup(w->handle) : NULL;
    if (r && !reply_failure(r, v)) {
        cJSON *ctx = ctx_of(v);
        cJSON_AddStringToObject(ctx, "status", v->status ? v->status : "");
        cJSON_AddNumberToObject(ctx, "securityProfile", w->profile_from);
        char msg[192];
        snprintf(msg, sizeof msg, "charger '%.48s' answered %s to security profile %d; it stays on %d",
                 v->charger_id, v->status ? v->status : "no status", w->profile_to, w->profile_from);
        command_headers(r, v->id);
        rest_reply_error(r, REST_ERR_PROFILE_REJECTED, msg, ctx);
    }
    waiter_free(w);
}

void res_power_limit_send(struct rest_request *r, const char *charger_id, int32_t limit_da)
{
    struct submit s = { .charger_id = charger_id, .kind = K_POWER_LIMIT, .power_limit = true,
                        .limit_da = limit_da,
                        .action = limit_da >= 0 ? OCPP_ACTION_SET_CHARGING_PROFILE
                                                : OCPP_ACTION_CLEAR_CHARGING_PROFILE };
    if (!rest_charger_connected(r, charger_id)) {
        reply_power_limit(r, limit_da, NULL);
        return;
    }
    struct waiter *w = waiter_new(r, K_POWER_LIMIT, true);
    w->limit_da = limit_da;
    submit(r, &s, w); /* on refusal it replies and frees w */
}

void res_security_profile_send(struct rest_request *r, const char *charger_id, int from, int to)
{
    char payload[64];
    snprintf(payload, sizeof payload, "{\"key\":\"SecurityProfile\",\"value\":\"%d\"}", to);
    struct submit s = { .charger_id = charger_id, .action = OCPP_ACTION_CHANGE_CONFIGURATION,
                        .payload = payload, .kind = K_SECURITY_PROFILE, .async = wants_async(r) };
    struct waiter *w = waiter_new(r, K_SECURITY_PROFILE, !s.async);
    w->profile_from = from;
    w->profile_to = to;
    submit(r, &s, w); /* on refusal it replies and frees w */
}
