/*
 * What REST handlers ask of this process's core (src/rest/live.c): the live
 * view of chargers (connected, last seen, connector state) and commands. The
 * core is the one given to rest_init (rest_io.core) and is reached through
 * the request, never through a global; handlers call these, not core_*()
 * with a core pointer of their own.
 *
 * Without a core (rest_io.core NULL: the framework run on its own, as in
 * unit tests) these functions, and only they, decide the answer: as if no
 * charger were connected to this process. Not connected, never seen here,
 * any connector may be tried (the charger would decide), every command
 * refused with CORE_CALL_ERR_OFFLINE (409 CHARGING_CHARGEPOINT_OFFLINE), no
 * command in memory (its row in the database is the answer).
 *
 * Loop thread only, like the core.
 */
#ifndef OCPPGW_REST_LIVE_H
#define OCPPGW_REST_LIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "core.h"
#include "rest.h"

/* Whether the charger's websocket is open in this process. */
bool rest_charger_connected(const struct rest_request *r, const char *charger_id);
/* When this process last heard from the charger (ms since the epoch), 0 if never. */
int64_t rest_charger_last_seen(const struct rest_request *r, const char *charger_id);
/*
 * A charger row this process has just committed (create, change, delete:
 * row->deleted): the core's registry takes it now, before the reply, so a
 * charger connecting right after the answer meets the new credentials
 * (core_charger_upsert; the row's NOTIFY follows for every gateway). r may be NULL
 * (an answer committed with no request waiting).
 */
void rest_charger_committed(const struct rest_request *r, const struct store_charger *row);
/* core_connector_startable(): status (>= 16 bytes) receives the refusing status. */
bool rest_connector_startable(const struct rest_request *r, const char *charger_id,
                              int connector_id, char *status);
/*
 * core_command_submit() on the request's behalf: CORE_CALL_OK (out_id, at
 * least CORE_CMD_ID_LEN + 1 bytes, receives the id, cb runs once when the
 * command ends) or why it was refused (then cb never runs).
 */
enum core_call_err rest_command_submit(const struct rest_request *r,
                                       const struct core_command_req *req, core_command_cb cb,
                                       void *user, char *out_id);
/* core_power_limit_command() on the request's behalf: as rest_command_submit(). */
enum core_call_err rest_power_limit_submit(const struct rest_request *r, const struct core_command_req *req,
                                           int32_t limit_da, core_command_cb cb, void *user, char *out_id);
/* core_command_find(): fn(user, view) when the command is still in memory. */
bool rest_command_find(const struct rest_request *r, const char *id,
                       void (*fn)(void *user, const struct core_command_view *v), void *user);

#endif
