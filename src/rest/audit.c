/*
 * The audit log of REST writes and commands: who (actor "apikey:<id>"),
 * what (action, resource, detail), when, with which result and request id,
 * in table audit_log, readable at GET /v1/audit-log. Written behind on the
 * REST store: the reply never waits for it, and while the database is down
 * the rows wait in the store's queue.
 */
#include <stdio.h>

#include <cJSON.h>

#include "framework.h"
#include "util.h"

static const char audit_sql[] =
    "INSERT INTO audit_log (actor, action, resource, detail, result, request_id)"
    " VALUES ($1, $2, $3, $4::jsonb, $5, $6)";

void rest_audit(struct rest_request *r, const char *action, const char *resource,
                const char *detail_json, const char *result)
{
    const struct rest_key *k = r ? rest_key(r) : NULL;
    /* a detail that is not JSON is kept as a JSON string rather than failing the row */
    cJSON *d = NULL;
    if (detail_json) {
        d = cJSON_Parse(detail_json);
        if (!d)
            d = cJSON_CreateString(detail_json);
    }
    rest_audit_as(k ? k->id : 0, r ? rest_request_id(r) : NULL, action, resource, d, result);
    cJSON_Delete(d);
}

void rest_audit_as(int64_t key_id, const char *request_id, const char *action,
                   const char *resource, const struct cJSON *detail, const char *result)
{
    char actor[40];
    if (key_id)
        snprintf(actor, sizeof actor, "apikey:%lld", (long long)key_id);
    else
        snprintf(actor, sizeof actor, "anonymous");
    char *text = detail ? cJSON_PrintUnformatted(detail) : NULL;
    const char *params[] = { actor, action ? action : "", resource, text, result ? result : "",
                             request_id };
    rest_fw_sql(NULL, audit_sql, 6, params, true, NULL);
    cJSON_free(text);
}
