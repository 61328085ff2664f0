/*
 * OCPP exchanges as the tests write them, on top of the simulator
 * (tests/sim/sim.h): connect and fail the test if refused, send a CALL and
 * get the reply parsed with cJSON, insist on a CALLRESULT or a CALLERROR.
 * A reply is the whole frame as a cJSON array: [3,id,payload] or
 * [4,id,code,description,details].
 */
#ifndef OCPPGW_IT_CALLS_H
#define OCPPGW_IT_CALLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "sim.h"

/* A quiet simulator for 127.0.0.1:port; fails the test if it cannot be made. */
struct sim *it_sim(int port);

/* Connects with the default subprotocol; fails the test unless the upgrade succeeds (101). */
struct sim_charger *it_connect(struct sim *s, const char *id, const char *password);

/*
 * Connects with the given options and returns the charger or NULL; the
 * HTTP status (101, 400, 401, ...; 0 for none) goes to *status, the
 * selected subprotocol to proto (>= 32 bytes, may be NULL).
 */
struct sim_charger *it_try_connect(struct sim *s, const struct sim_charger_opts *o, int *status,
                                   char *proto);

/* Sends the CALL and returns the reply frame; fails the test if no reply within IT_CALL_MS. */
cJSON *it_call(struct sim_charger *c, const char *action, const char *payload);
/* The same with a chosen unique id. */
cJSON *it_call_id(struct sim_charger *c, const char *id, const char *action, const char *payload);

/* Sends the CALL, fails unless the reply is a CALLRESULT; returns its payload (caller deletes). */
cJSON *it_ok(struct sim_charger *c, const char *action, const char *payload);

/* Sends the CALL, fails unless the reply is a CALLERROR; returns its code (caller frees). */
char *it_err(struct sim_charger *c, const char *action, const char *payload);

/*
 * Sends text as one websocket message and returns the next message that
 * arrives, parsed (NULL if none within timeout_ms or on close). Fails the
 * test if what arrives is not JSON.
 */
cJSON *it_raw(struct sim_charger *c, const char *text, int timeout_ms);
/* Next message that arrives, parsed; NULL if none within timeout_ms. */
cJSON *it_recv(struct sim_charger *c, int timeout_ms);

/* Parses a frame text (NULL stays NULL); fails the test if it is not JSON. Frees text. */
cJSON *it_parse(char *text);

/* Frame accessors: type (2/3/4, -1 if not a frame), id, CALLERROR code, CALLRESULT payload. Borrowed. */
int frame_type(const cJSON *f);
const char *frame_id(const cJSON *f);
const char *frame_error_code(const cJSON *f);
const cJSON *frame_payload(const cJSON *f);
/* Whether f is a well-formed CALLERROR [4,"id","code","description",{details}]. */
bool frame_is_callerror(const cJSON *f);
/* The frame as compact text for messages (static buffer, truncated). */
const char *frame_text(const cJSON *f);

/* Object members: string (NULL if absent or not a string), number (DB_NONE-like INT64_MIN if absent). */
const char *js(const cJSON *o, const char *key);
int64_t ji(const cJSON *o, const char *key);
/* A nested member by path "idTagInfo.status". Borrowed, NULL if absent. */
const cJSON *jpath(const cJSON *o, const char *path);

/* BootNotification with vendor/model; fails unless answered Accepted. */
void it_boot(struct sim_charger *c);

/*
 * Connects as soon as the gateway admits the charger with that password
 * (NULL: none), retrying until IT_WAIT_MS: for credentials it learns by
 * NOTIFY. Fails the test with the last HTTP status otherwise.
 */
struct sim_charger *it_connect_when_known(struct sim *s, const char *id, const char *password);

/* it_connect, then it_boot. */
struct sim_charger *it_connect_booted(struct sim *s, const char *id, const char *password);

/* Heartbeat answered with a CALLRESULT carrying currentTime: the socket works. */
bool it_heartbeat_ok(struct sim_charger *c);

/* A connector's StartTransaction payload (timestamp ISO string). Caller frees. */
char *it_start_payload(int connector, const char *id_tag, int64_t meter_start, const char *timestamp);
/* StartTransaction answered Accepted with a positive transactionId (fails the test otherwise): the id. */
int32_t it_start_accepted(struct sim_charger *c, int connector, const char *tag, int64_t meter, const char *ts);

#endif
