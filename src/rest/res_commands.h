/*
 * Stored commands (docs/commands-design.md): the REST side of table
 * commands (src/rest/res_command_list.c) and the command resource's shape,
 * which the in-memory path of the command routes (src/rest/res_commands.c)
 * shares, so that a command reads the same from memory and from the table.
 */
#ifndef OCPPGW_REST_RES_COMMANDS_H
#define OCPPGW_REST_RES_COMMANDS_H

#include <stdbool.h>

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

#endif
