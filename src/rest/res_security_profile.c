/*
 * POST /v1/chargers/{id}/security-profile {"securityProfile": 2|3}: the
 * profile upgrade of the OCPP 1.6 Security Extension (white paper edition
 * 3, "Upgrading security profile"; docs/api.md "Security profile upgrade").
 *
 * The handler reads the charger's row (its profile, whether it has an
 * AuthorizationKey), checks the prerequisites against the gateway's own
 * listeners (res_profile_upgrade_check: only upward; TLS for 2 and 3, a
 * client CA for 3, a key for 2), then hands over to res_commands.c, which
 * sends ChangeConfiguration SecurityProfile through the command queue and,
 * on Accepted, commits the new profile with the same UPDATE of table
 * chargers as PATCH /v1/chargers/{id}: the chargers notification tells every
 * gateway, which then admits the charger only on the new profile.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "rest.h"
#include "rest_body.h"
#include "rest_res.h"
#include "res_commands.h"
#include "store_job.h"

static const char ACTION[] = "charger.securityProfile";

enum res_profile_check res_profile_upgrade_check(const struct res_profile_facts *f)
{
    if (f->target <= f->current)
        return RES_PROFILE_NOT_UPGRADE;
    if (f->target >= 2 && !f->tls_listener)
        return RES_PROFILE_NO_TLS;
    if (f->target == 3 && !f->tls_client_ca)
        return RES_PROFILE_NO_CLIENT_CA;
    if (f->target == 2 && !f->has_key)
        return RES_PROFILE_NO_KEY;
    return RES_PROFILE_OK;
}

const char *res_profile_check_reason(enum res_profile_check c)
{
    switch (c) {
    case RES_PROFILE_OK: return "ok";
    case RES_PROFILE_NOT_UPGRADE: return "notAnUpgrade";
    case RES_PROFILE_NO_TLS: return "noTlsListener";
    case RES_PROFILE_NO_CLIENT_CA: return "noClientCa";
    case RES_PROFILE_NO_KEY: return "noAuthorizationKey";
    }
    return "unknown";
}

static const struct rest_field profile_fields[] = {
    { "securityProfile", REST_FT_INT, REST_FF_REQUIRED, "security_profile", "$?::smallint", 2, 3, 0, 0,
      NULL, NULL, NULL },
};

static void refuse(struct rest_request *r, const char *id, const struct res_profile_facts *f,
                   enum res_profile_check c)
{
    static const char *const why[] = {
        [RES_PROFILE_NO_TLS] = "the gateway has no TLS listener (server.tls_listen)",
        [RES_PROFILE_NO_CLIENT_CA] = "the gateway has no client CA for certificates (server.tls_ca)",
        [RES_PROFILE_NO_KEY] = "the charger has no AuthorizationKey (set one with PATCH /v1/chargers/{id})",
    };
    cJSON *ctx = cJSON_CreateObject();
    cJSON_AddStringToObject(ctx, "chargerId", id);
    cJSON_AddNumberToObject(ctx, "securityProfile", f->current);
    cJSON_AddNumberToObject(ctx, "requestedSecurityProfile", f->target);
    cJSON_AddStringToObject(ctx, "reason", res_profile_check_reason(c));
    char msg[256];
    if (c == RES_PROFILE_NOT_UPGRADE)
        snprintf(msg, sizeof msg, "charger '%.48s' is on security profile %d: only an upgrade is possible",
                 id, f->current);
    else
        snprintf(msg, sizeof msg, "security profile %d for charger '%.48s': %s", f->target, id, why[c]);

    cJSON *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "from", f->current);
    cJSON_AddNumberToObject(d, "to", f->target);
    cJSON_AddStringToObject(d, "reason", res_profile_check_reason(c));
    const struct rest_key *k = rest_key(r);
    rest_audit_as(k ? k->id : 0, rest_request_id(r), ACTION, id, d, "refused");
    cJSON_Delete(d);
    rest_reply_error(r, c == RES_PROFILE_NOT_UPGRADE ? REST_ERR_PROFILE_NOT_UPGRADE : REST_ERR_PROFILE_PREREQUISITE,
                     msg, ctx);
}

static void charger_read(struct rest_request *r, struct store_job *job)
{
    const char *id = rest_param(r, "id");
    if (job->status != STORE_OK) {
        rest_reply_store_error(r, job);
        return;
    }
    if (job->out.sql.ntuples == 0) {
        cJSON *ctx = cJSON_CreateObject();
        cJSON_AddStringToObject(ctx, "chargerId", id);
        char msg[128];
        snprintf(msg, sizeof msg, "charger '%.48s' not found", id);
        rest_reply_error(r, REST_ERR_NOT_FOUND, msg, ctx);
        return;
    }
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(rest_body(r), "securityProfile");
    const char *current = rest_value(job, 0, 0), *has_key = rest_value(job, 0, 1);
    const struct rest_settings *s = rest_settings(r);
    struct res_profile_facts f = {
        .current = current ? atoi(current) : 0,
        .target = want->valueint,
        .has_key = has_key && strcmp(has_key, "t") == 0,
        .tls_listener = s->tls_listener,
        .tls_client_ca = s->tls_client_ca,
    };
    enum res_profile_check c = res_profile_upgrade_check(&f);
    if (c != RES_PROFILE_OK) {
        refuse(r, id, &f, c);
        return;
    }
    res_security_profile_send(r, id, f.current, f.target);
}

void res_security_profile_post(struct rest_request *r)
{
    const char *id = rest_param(r, "id");
    struct rest_body body;
    if (res_unknown_params(r) || !res_body(r, profile_fields, 1, true, ACTION, id, &body))
        return;
    rest_body_free(&body);
    const char *params[] = { id };
    rest_sql(r,
             "SELECT c.security_profile, coalesce(c.auth_hash, '') <> '' FROM chargers c WHERE c.id = $1",
             1, params, charger_read);
}
