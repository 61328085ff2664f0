/*
 * The REST route table: {method, pattern, handler, scope, flags}, one row
 * per route of rest-api.md. The dispatcher (src/rest/dispatch.c) matches
 * method and pattern, checks the scope and, for REST_CHARGER_ID routes, the
 * key's charger restriction on {id}, before calling the handler. The
 * command routes (remote-start, stop, commands, configuration) come with
 * their own issue.
 */
#include <stddef.h>

#include "rest.h"

/* Placeholder until the resource handlers land. */
static void not_yet(struct rest_request *r)
{
    rest_reply_error(r, REST_ERR_NOT_FOUND, "not implemented yet", NULL);
}

const struct rest_route rest_routes[] = {
    { REST_GET,    "/v1/openapi.json",                    not_yet, NULL,             REST_NO_AUTH },
    { REST_GET,    "/v1/chargers",                        not_yet, "chargers:read",  0 },
    { REST_POST,   "/v1/chargers",                        not_yet, "chargers:write", REST_JSON_BODY },
    { REST_GET,    "/v1/chargers/{id}",                   not_yet, "chargers:read",  REST_CHARGER_ID },
    { REST_PATCH,  "/v1/chargers/{id}",                   not_yet, "chargers:write", REST_CHARGER_ID | REST_JSON_BODY },
    { REST_DELETE, "/v1/chargers/{id}",                   not_yet, "chargers:write", REST_CHARGER_ID },
    { REST_GET,    "/v1/chargers/{id}/sessions",          not_yet, "sessions:read",  REST_CHARGER_ID },
    { REST_GET,    "/v1/chargers/{id}/status-history",    not_yet, "chargers:read",  REST_CHARGER_ID },
    { REST_GET,    "/v1/sessions",                        not_yet, "sessions:read",  0 },
    { REST_GET,    "/v1/sessions/{id}",                   not_yet, "sessions:read",  0 },
    { REST_GET,    "/v1/sessions/{id}/meter-values",      not_yet, "sessions:read",  0 },
    { REST_GET,    "/v1/tokens",                          not_yet, "tokens:read",    0 },
    { REST_POST,   "/v1/tokens",                          not_yet, "tokens:write",   REST_JSON_BODY },
    { REST_GET,    "/v1/tokens/{idTag}",                  not_yet, "tokens:read",    0 },
    { REST_PATCH,  "/v1/tokens/{idTag}",                  not_yet, "tokens:write",   REST_JSON_BODY },
    { REST_DELETE, "/v1/tokens/{idTag}",                  not_yet, "tokens:write",   0 },
    { REST_GET,    "/v1/api-keys",                        not_yet, "admin",          0 },
    { REST_POST,   "/v1/api-keys",                        not_yet, "admin",          REST_JSON_BODY },
    { REST_DELETE, "/v1/api-keys/{id}",                   not_yet, "admin",          0 },
    { REST_GET,    "/v1/audit-log",                       not_yet, "admin",          0 },
};
const size_t rest_routes_count = sizeof rest_routes / sizeof rest_routes[0];
