/*
 * The one place where enum rest_err becomes HTTP: status, errorCode and the
 * readable message of rest-api.md's table, and the error body
 * {status, message, readableMessage, errorCode, context}. `message` is for
 * developers and may name the offending input; `readableMessage` is fixed
 * per error and safe to show to end users.
 *
 * A leaf: the replies (reply.c) call this, never the other way round.
 */
#include <cJSON.h>

#include "framework.h"

static const struct {
    int status;
    const char *code;
    const char *readable;
} errs[REST_ERR_COUNT] = {
    [REST_ERR_BAD_REQUEST]            = { 400, "BAD_REQUEST", "The request is malformed." },
    [REST_ERR_UNAUTHORIZED]           = { 401, "UNAUTHORIZED", "Authentication is required." },
    [REST_ERR_INVALID_ACCESS_TOKEN]   = { 401, "INVALID_ACCESS_TOKEN",
                                          "The API key is unknown, revoked or expired." },
    [REST_ERR_FORBIDDEN]              = { 403, "ACCESS_FORBIDDEN",
                                          "The API key is not allowed to do this." },
    [REST_ERR_NOT_FOUND]              = { 404, "RESOURCE_NOT_FOUND", "The resource was not found." },
    [REST_ERR_METHOD_NOT_ALLOWED]     = { 405, "METHOD_NOT_ALLOWED",
                                          "This method is not allowed on this resource." },
    [REST_ERR_CHARGER_OFFLINE]        = { 409, "CHARGING_CHARGEPOINT_OFFLINE",
                                          "The charger is not connected." },
    [REST_ERR_CHARGER_NOT_AVAILABLE]  = { 409, "CHARGING_CHARGEPOINT_NOT_AVAILABLE",
                                          "The connector is not available." },
    [REST_ERR_IDEMPOTENCY_KEY_REUSED] = { 409, "IDEMPOTENCY_KEY_REUSED",
                                          "This Idempotency-Key was already used for another request"
                                          " or its request is still in progress." },
    [REST_ERR_CONFLICT]               = { 409, "CONFLICT", "The resource already exists or changed." },
    [REST_ERR_RESOURCE_IN_USE]        = { 409, "RESOURCE_IN_USE", "The resource is still in use." },
    [REST_ERR_LENGTH_REQUIRED]        = { 411, "LENGTH_REQUIRED",
                                          "The request body needs a Content-Length." },
    [REST_ERR_PAYLOAD_TOO_LARGE]      = { 413, "PAYLOAD_TOO_LARGE", "The request body is too large." },
    [REST_ERR_UNSUPPORTED_MEDIA_TYPE] = { 415, "UNSUPPORTED_MEDIA_TYPE",
                                          "The request body must be JSON." },
    [REST_ERR_UNPROCESSABLE]          = { 422, "UNPROCESSABLE_ENTITY", "The request has invalid values." },
    [REST_ERR_FAILED_TO_START]        = { 422, "CHARGING_FAILED_TO_START",
                                          "The charger refused to start charging." },
    [REST_ERR_FAILED_TO_STOP]         = { 422, "CHARGING_FAILED_TO_STOP",
                                          "The charger refused to stop charging." },
    [REST_ERR_PROFILE_NOT_UPGRADE]    = { 409, "SECURITY_PROFILE_NOT_UPGRADE",
                                          "The charger already has this security profile or a higher one." },
    [REST_ERR_PROFILE_PREREQUISITE]   = { 409, "SECURITY_PROFILE_PREREQUISITE",
                                          "The charger or the gateway is not ready for this security profile." },
    [REST_ERR_PROFILE_REJECTED]       = { 422, "SECURITY_PROFILE_REJECTED",
                                          "The charger refused the new security profile." },
    [REST_ERR_RATE_LIMITED]           = { 429, "RATE_LIMITED", "Too many requests; retry later." },
    [REST_ERR_INTERNAL]               = { 500, "INTERNAL_SERVER_ERROR", "Something went wrong on our side." },
    [REST_ERR_BAD_GATEWAY]            = { 502, "BAD_GATEWAY", "The charger answered with an error." },
    [REST_ERR_UNAVAILABLE]            = { 503, "SERVICE_UNAVAILABLE",
                                          "The service is temporarily unavailable; retry later." },
    [REST_ERR_CHARGER_TIMEOUT]        = { 504, "CHARGER_TIMEOUT", "The charger did not answer in time." },
    [REST_ERR_QUERY_TIMEOUT]          = { 503, "QUERY_TIMEOUT",
                                          "The query took too long; retry later or narrow it." },
    /* the table's 502/503 codes, with a readable message that says what happened */
    [REST_ERR_SHUTTING_DOWN]          = { 503, "SERVICE_UNAVAILABLE",
                                          "The gateway is shutting down; nothing was sent, retry later." },
    [REST_ERR_CUT_BY_SHUTDOWN]        = { 502, "BAD_GATEWAY",
                                          "The gateway shut down before the charger answered;"
                                          " the charger may have acted." },
    [REST_ERR_CUT_BY_DISCONNECT]      = { 502, "BAD_GATEWAY",
                                          "The charger disconnected before answering; it may have acted." },
    [REST_ERR_RECEIPT_NOT_AVAILABLE]  = { 409, "RECEIPT_NOT_AVAILABLE",
                                          "This session has no receipt (yet)." },
};

enum rest_err rest_err_known(enum rest_err e)
{
    return (unsigned)e < REST_ERR_COUNT ? e : REST_ERR_INTERNAL;
}

int rest_err_status(enum rest_err e)
{
    return errs[rest_err_known(e)].status;
}

const char *rest_err_code(enum rest_err e)
{
    return errs[rest_err_known(e)].code;
}

const char *rest_err_readable(enum rest_err e)
{
    return errs[rest_err_known(e)].readable;
}

struct cJSON *rest_error_body(enum rest_err e, const char *message, struct cJSON *context)
{
    e = rest_err_known(e);
    cJSON *body = cJSON_CreateObject();
    cJSON_AddNumberToObject(body, "status", errs[e].status);
    cJSON_AddStringToObject(body, "message", message && *message ? message : errs[e].readable);
    cJSON_AddStringToObject(body, "readableMessage", errs[e].readable);
    cJSON_AddStringToObject(body, "errorCode", errs[e].code);
    if (!context || !cJSON_IsObject(context)) {
        cJSON_Delete(context);
        context = cJSON_CreateObject();
    }
    cJSON_AddItemToObject(body, "context", context);
    return body;
}
