/*
 * The REST route table: {method, pattern, handler, scope, flags}, one row
 * per route of rest-api.md. The dispatcher (src/rest/dispatch.c) matches
 * method and pattern, checks the scope and, for REST_CHARGER_ID and
 * REST_SITE_ID routes, the key's restriction on {id}, before calling the
 * handler.
 */
#include <stddef.h>

#include "rest.h"
#include "rest_res.h"
#include "res_commands.h"
#include "res_events.h"

const struct rest_route rest_routes[] = {
    { REST_GET,    "/v1/openapi.json",                  res_openapi_get,             NULL,             REST_NO_AUTH },
    { REST_GET,    "/v1/chargers",                      res_chargers_list,           "chargers:read",  0 },
    { REST_POST,   "/v1/chargers",                      res_charger_create,          "chargers:write", REST_JSON_BODY },
    { REST_GET,    "/v1/chargers/{id}",                 res_charger_get,             "chargers:read",  REST_CHARGER_ID },
    { REST_PATCH,  "/v1/chargers/{id}",                 res_charger_update,          "chargers:write", REST_CHARGER_ID | REST_JSON_BODY },
    { REST_DELETE, "/v1/chargers/{id}",                 res_charger_delete,          "chargers:write", REST_CHARGER_ID },
    { REST_GET,    "/v1/chargers/{id}/sessions",        res_charger_sessions,        "sessions:read",  REST_CHARGER_ID },
    { REST_GET,    "/v1/chargers/{id}/status-history",  res_charger_status_history,  "chargers:read",  REST_CHARGER_ID },
    { REST_GET,    "/v1/chargers/{id}/security-events", res_charger_security_events, "chargers:read",  REST_CHARGER_ID },
    { REST_POST,   "/v1/chargers/{id}/remote-start",    res_remote_start,            "commands:write", REST_CHARGER_ID | REST_JSON_BODY },
    { REST_POST,   "/v1/chargers/{id}/commands/{action}", res_command_post,          "commands:write", REST_CHARGER_ID },
    { REST_GET,    "/v1/chargers/{id}/commands",        res_charger_commands,        "commands:write", REST_CHARGER_ID },
    { REST_GET,    "/v1/commands/{commandId}",          res_command_get,             "commands:write", 0 },
    { REST_GET,    "/v1/chargers/{id}/configuration",   res_configuration_get,       "chargers:read",  REST_CHARGER_ID },
    { REST_PATCH,  "/v1/chargers/{id}/configuration",   res_configuration_patch,     "chargers:write", REST_CHARGER_ID | REST_JSON_BODY },
    { REST_POST,   "/v1/chargers/{id}/security-profile", res_security_profile_post,  "chargers:write", REST_CHARGER_ID | REST_JSON_BODY },
    { REST_PUT,    "/v1/chargers/{id}/power-limit",     res_charger_power_limit_put, "chargers:write", REST_CHARGER_ID | REST_JSON_BODY },
    { REST_GET,    "/v1/sites",                         res_sites_list,              "chargers:read",  0 },
    { REST_POST,   "/v1/sites",                         res_site_create,             "chargers:write", REST_JSON_BODY },
    { REST_GET,    "/v1/sites/{id}",                    res_site_get,                "chargers:read",  REST_SITE_ID },
    { REST_PATCH,  "/v1/sites/{id}",                    res_site_update,             "chargers:write", REST_SITE_ID | REST_JSON_BODY },
    { REST_DELETE, "/v1/sites/{id}",                    res_site_delete,             "chargers:write", REST_SITE_ID },
    { REST_GET,    "/v1/sites/{id}/chargers",           res_site_chargers,           "chargers:read",  REST_SITE_ID },
    { REST_GET,    "/v1/sites/{id}/load",               res_site_load_get,           "chargers:read",  REST_SITE_ID },
    { REST_GET,    "/v1/sites/{id}/carbon-intensity",   res_site_carbon_get,         "chargers:read",  REST_SITE_ID },
    { REST_PUT,    "/v1/sites/{id}/carbon-intensity",   res_site_carbon_put,         "chargers:write", REST_SITE_ID },
    { REST_PUT,    "/v1/sites/{id}/tariff",             res_site_tariff_put,         "tariffs:write",  REST_SITE_ID | REST_JSON_BODY },
    { REST_GET,    "/v1/tariffs",                       res_tariffs_list,            "tariffs:read",   0 },
    { REST_POST,   "/v1/tariffs",                       res_tariff_create,           "tariffs:write",  REST_JSON_BODY },
    { REST_GET,    "/v1/tariffs/{id}",                  res_tariff_get,              "tariffs:read",   0 },
    { REST_PATCH,  "/v1/tariffs/{id}",                  res_tariff_update,           "tariffs:write",  REST_JSON_BODY },
    { REST_DELETE, "/v1/tariffs/{id}",                  res_tariff_delete,           "tariffs:write",  0 },
    { REST_GET,    "/v1/chargers/{id}/tariff",          res_charger_tariff_get,      "tariffs:read",   REST_CHARGER_ID },
    { REST_PUT,    "/v1/chargers/{id}/tariff",          res_charger_tariff_put,      "tariffs:write",  REST_CHARGER_ID | REST_JSON_BODY },
    { REST_PUT,    "/v1/tokens/{idTag}/tariff",         res_token_tariff_put,        "tariffs:write",  REST_JSON_BODY },
    { REST_GET,    "/v1/sessions",                      res_sessions_list,           "sessions:read",  0 },
    { REST_GET,    "/v1/sessions/{id}",                 res_session_get,             "sessions:read",  0 },
    { REST_GET,    "/v1/sessions/{id}/meter-values",    res_session_meter_values,    "sessions:read",  0 },
    { REST_GET,    "/v1/sessions/{id}/receipt",         res_session_receipt,         "sessions:read",  0 },
    { REST_POST,   "/v1/sessions/{id}/stop",            res_session_stop,            "commands:write", 0 },
    { REST_GET,    "/v1/reports/energy",                res_report_energy,           "reports:read",   0 },
    { REST_GET,    "/v1/reports/utilization",           res_report_utilization,      "reports:read",   0 },
    { REST_GET,    "/v1/tokens",                        res_tokens_list,             "tokens:read",    0 },
    { REST_POST,   "/v1/tokens",                        res_token_create,            "tokens:write",   REST_JSON_BODY },
    { REST_GET,    "/v1/tokens/{idTag}",                res_token_get,               "tokens:read",    0 },
    { REST_PATCH,  "/v1/tokens/{idTag}",                res_token_update,            "tokens:write",   REST_JSON_BODY },
    { REST_DELETE, "/v1/tokens/{idTag}",                res_token_delete,            "tokens:write",   0 },
    { REST_POST,   "/v1/tokens/{idTag}/erase",          res_token_erase,             "admin",          0 },
    { REST_GET,    "/v1/api-keys",                      res_api_keys_list,           "admin",          0 },
    { REST_POST,   "/v1/api-keys",                      res_api_key_create,          "admin",          REST_JSON_BODY },
    { REST_DELETE, "/v1/api-keys/{id}",                 res_api_key_revoke,          "admin",          0 },
    { REST_GET,    "/v1/audit-log",                     res_audit_list,              "admin",          0 },
    { REST_GET,    "/v1/events",                        res_events_list,             "events:read",    0 },
    { REST_GET,    "/v1/events/{id}",                   res_event_get,               "events:read",    0 },
    { REST_GET,    "/v1/events/stream",                 res_event_stream,            "events:read",    0 },
    { REST_GET,    "/v1/webhook-endpoints",             res_webhook_endpoints_list,  "webhooks:write", 0 },
    { REST_POST,   "/v1/webhook-endpoints",             res_webhook_endpoint_create, "webhooks:write", REST_JSON_BODY },
    { REST_GET,    "/v1/webhook-endpoints/{id}",        res_webhook_endpoint_get,    "webhooks:write", 0 },
    { REST_PATCH,  "/v1/webhook-endpoints/{id}",        res_webhook_endpoint_update, "webhooks:write", REST_JSON_BODY },
    { REST_DELETE, "/v1/webhook-endpoints/{id}",        res_webhook_endpoint_delete, "webhooks:write", 0 },
    { REST_POST,   "/v1/webhook-endpoints/{id}/rotate-secret", res_webhook_endpoint_rotate, "webhooks:write", 0 },
    { REST_POST,   "/v1/webhook-endpoints/{id}/test",   res_webhook_endpoint_test,   "webhooks:write", 0 },
    { REST_GET,    "/v1/webhook-endpoints/{id}/deliveries", res_webhook_deliveries_list, "webhooks:write", 0 },
    { REST_POST,   "/v1/events/{id}/redeliver",         res_event_redeliver,         "webhooks:write", REST_JSON_BODY },
};
const size_t rest_routes_count = sizeof rest_routes / sizeof rest_routes[0];
