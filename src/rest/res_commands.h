/*
 * Stored commands (docs/commands-design.md): the REST side of table
 * commands (src/rest/res_command_list.c) and the command resource's shape,
 * which the in-memory path of the command routes (src/rest/res_commands.c)
 * shares, so that a command reads the same from memory and from the table.
 */
#ifndef OCPPGW_REST_RES_COMMANDS_H
#define OCPPGW_REST_RES_COMMANDS_H

#include <stdbool.h>
#include <stdint.h>

struct cJSON;
struct core_command_view;
struct rest_request;

/*
 * GET /v1/chargers/{id}/commands: cursor pages of the charger's stored
 * commands, newest first (createdAt, then the id); perPage, after/before,
 * order, and the filters action, status, outcome, responseStatus,
 * sessionId, transactionId, apiKeyId, requestId, from, to (createdAt).
 * 404 when the charger does not exist, 403 when it is outside the key's
 * chargers or sites, 400 naming a bad parameter.
 */
void res_charger_commands(struct rest_request *r);

/*
 * GET /v1/commands/{commandId} answered from table commands, for a command
 * no longer (or not) in memory: 200 with the command resource; 404
 * RESOURCE_NOT_FOUND {commandId} for an unknown id or one that is not a
 * command id (res_command_id_ok), without asking the database; 403 when
 * the command's charger is outside the key's chargers or sites; 400 for a
 * query parameter. command_id borrowed for the call (copied into the query).
 */
void res_command_stored(struct rest_request *r, const char *command_id);

/*
 * True if s can be a command id: a UUID in the canonical form the gateway
 * gives out (8-4-4-4-12 lower-case hex digits).
 */
bool res_command_id_ok(const char *s);

/*
 * The command resource of a command in memory, with exactly the members
 * (and order) of a stored one: built from the same column table. Caller
 * owns the result; v borrowed.
 */
struct cJSON *res_command_json(const struct core_command_view *v);

/* ---- POST /v1/chargers/{id}/security-profile (res_security_profile.c) ---- */

/* What the white paper's profile upgrade needs, as the handler found it. */
struct res_profile_facts {
    int current;                    /* the charger's security_profile, 0..3 */
    int target;                     /* the one asked for: 2 or 3 */
    bool has_key;                   /* the charger has an AuthorizationKey */
    bool tls_listener;              /* server.tls_listen is configured */
    bool tls_client_ca;             /* server.tls_ca is configured */
};

enum res_profile_check {
    RES_PROFILE_OK,
    RES_PROFILE_NOT_UPGRADE,        /* target <= current: a downgrade, or nothing to do */
    RES_PROFILE_NO_TLS,             /* profiles 2 and 3 need the TLS listener */
    RES_PROFILE_NO_CLIENT_CA,       /* profile 3 needs server.tls_ca (client certificates) */
    RES_PROFILE_NO_KEY              /* profile 2 needs the charger's AuthorizationKey */
};

/* The first prerequisite of the upgrade that fails, in the order above (pure). */
enum res_profile_check res_profile_upgrade_check(const struct res_profile_facts *f);
/* Its reason as the 409's context.reason ("noTlsListener", ...). Static. */
const char *res_profile_check_reason(enum res_profile_check c);

/*
 * Sends ChangeConfiguration {key: "SecurityProfile", value: "<to>"} to the
 * charger through its command queue (res_commands.c) and answers r from its
 * end: Accepted commits security_profile = to in table chargers (whether or
 * not r still waits) and answers 200 {commandId, status, securityProfile,
 * previousSecurityProfile}; any other status 422 SECURITY_PROFILE_REJECTED;
 * failures as every command's. Prefer: respond-async answers 202 at once.
 * charger_id borrowed.
 */
void res_security_profile_send(struct rest_request *r, const char *charger_id, int from, int to);

/* ---- PUT /v1/chargers/{id}/power-limit (res_power_limit.c) ---- */

/*
 * The limit just stored (0.1 A; LOAD_NONE: none) to the charger when it is
 * connected to this gateway (a ChargePointMaxProfile, or its clearing,
 * through the command queue: core_power_limit_command), answering r 200
 * {maxCurrent, applied, status, commandId, outcome} from the command's end;
 * at once with applied false when it is not connected here or the command
 * could not be queued. charger_id borrowed.
 */
void res_power_limit_send(struct rest_request *r, const char *charger_id, int32_t limit_da);

#endif
