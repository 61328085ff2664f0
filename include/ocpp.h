/*
 * The OCPP-J wire layer, without sockets: frame parsing, schema validation,
 * JSON <-> typed message translation, and the dispatcher that turns a text
 * frame into a core call or a CALLERROR. src/glue/ws_lws.c feeds it complete
 * text messages and sends what it produces.
 */
#ifndef OCPPGW_OCPP_H
#define OCPPGW_OCPP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ocpp_msg.h"

struct cJSON;

/*
 * cJSON allocates with xmalloc (out of memory aborts). Call once at start,
 * before any JSON is parsed or built (src/ocpp/json.c).
 */
void ocpp_json_init(void);

/* ---- schema validation (src/ocpp/schema.c) ---- */

/*
 * Compiles the embedded official 1.6 schemas. Call once at start (and in
 * tests); false if the embedded data is broken.
 */
bool ocpp_schema_init(void);
void ocpp_schema_free(void);

enum ocpp_schema_dir { OCPP_SCHEMA_REQ, OCPP_SCHEMA_CONF };

struct ocpp_violation {
    enum ocpp_err err;              /* FORMATION, TYPE_CONSTRAINT, PROPERTY_CONSTRAINT, OCCURENCE_CONSTRAINT */
    char path[128];                 /* e.g. "meterValue[0].sampledValue[2].unit" ("" = the payload) */
    char message[160];              /* e.g. "must be one of Wh, kWh, ..."; no user data echoed beyond 40 chars */
};

/*
 * Validates payload against urn:<Action>.req or .conf. OCPP_OK, or the first
 * violation (in document order) in *v. Mapping: missing required property ->
 * OCCURENCE; wrong JSON type, enum mismatch, bad date-time -> TYPE; string
 * over maxLength, multipleOf, minItems -> PROPERTY; unknown property
 * (additionalProperties false) or a payload that is not an object ->
 * FORMATION.
 */
enum ocpp_err ocpp_schema_validate(enum ocpp_action a, enum ocpp_schema_dir dir,
                                   const struct cJSON *payload, struct ocpp_violation *v);

/* ---- frames (src/ocpp/rpc.c) ---- */

enum ocpp_msg_type { OCPP_CALL = 2, OCPP_CALLRESULT = 3, OCPP_CALLERROR = 4 };

struct ocpp_frame {
    int type;                       /* 2, 3, 4, or another number to ignore */
    char id[256];                   /* as sent (up to 255 chars), "" if unreadable */
    char action[64];                /* CALL only */
    const struct cJSON *payload;    /* CALL/CALLRESULT payload; borrowed from root */
    const char *error_code;         /* CALLERROR, borrowed */
    const char *error_description;  /* CALLERROR, borrowed */
    struct cJSON *root;             /* owned: free with ocpp_frame_free */
};

enum ocpp_parse_result {
    OCPP_PARSE_OK,
    OCPP_PARSE_IGNORE,              /* message type not 2/3/4: ignore (OCPP-J 4.1.3) */
    OCPP_PARSE_ERROR                /* answer CALLERROR err with frame->id or "-1" */
};

/*
 * Parses one text message. On OCPP_PARSE_ERROR, *err is FORMATION or
 * PROTOCOL and *why a static description; frame->id holds the id if one
 * could be read (else ""). Unique ids longer than 36 bytes are a
 * FORMATION error answered with the id as sent (if it fits in frame->id).
 * Always call ocpp_frame_free afterwards.
 */
enum ocpp_parse_result ocpp_frame_parse(const char *text, size_t len, struct ocpp_frame *frame,
                                        enum ocpp_err *err, const char **why);
void ocpp_frame_free(struct ocpp_frame *frame);

/*
 * Serialisers: return malloc'd text, caller frees. payload_json borrowed.
 * ocpp_build_call returns NULL if a is not an action or payload_json is not
 * one JSON object (NULL payload_json sends {}); callers must check.
 */
char *ocpp_build_callresult(const char *id, const struct cJSON *payload);
char *ocpp_build_callerror(const char *id, enum ocpp_err err, const char *description);
char *ocpp_build_call(const char *id, enum ocpp_action a, const char *payload_json);

/* ---- typed translation (src/ocpp/codec*.c) ---- */

/*
 * JSON payload (already schema-valid) -> typed request. Fills defaults of
 * the spec (sampledValue measurand/unit/context/format/location, stop
 * reason). OCPP_OK or a PROPERTY/TYPE violation for what a schema cannot say
 * (e.g. a date-time that does not parse); req owns heap parts on OCPP_OK only.
 */
enum ocpp_err ocpp_parse_request(enum ocpp_action a, const struct cJSON *payload,
                                 union ocpp_req *req, struct ocpp_violation *v);

/* Typed answer -> JSON payload (caller frees with cJSON_Delete). */
struct cJSON *ocpp_conf_to_json(const struct ocpp_conf *conf);

/*
 * 64-bit digest of a MeterValues / transactionData payload for dedup of
 * retried messages: FNV-1a over the canonical (unformatted) JSON.
 */
uint64_t ocpp_payload_digest(const struct cJSON *payload);

/*
 * The payload of the CertificateSigned the gateway sends after signing a
 * charger's CSR: {"certificateChain": chain_pem} as JSON text (caller
 * frees), or NULL when the chain is longer than the schema's 10000 bytes.
 */
char *ocpp_certificate_signed_payload(const char *chain_pem);

/* ---- dispatch (src/ocpp/dispatch.c) ---- */

struct core;

/*
 * What the dispatcher needs from the socket layer (src/glue/ws_lws.c):
 * queue a text frame on a connection, or close it.
 */
struct ocpp_transport {
    void *ctx;
    void (*send_text)(void *ctx, uint64_t conn_id, char *text, size_t len); /* takes ownership */
    void (*close)(void *ctx, uint64_t conn_id, int ws_code, const char *reason);
};

enum ocpp_dispatch_result { OCPP_DISPATCH_OK, OCPP_DISPATCH_MALFORMED };

/*
 * Handles one complete text message from a charger: parses, validates
 * against the 1.6 schema, answers CALLERRORs itself, and hands valid CALLs
 * to core_on_request and answers to core_on_call_result/error. Returns
 * MALFORMED for a frame that was not valid OCPP-J (the caller counts them
 * and closes a socket that sends nothing else).
 */
enum ocpp_dispatch_result ocpp_dispatch(struct core *c, const struct ocpp_transport *t,
                                        uint64_t conn_id, const char *text, size_t len);

/* The core's send_conf / send_error / send_call, on top of a transport. */
void ocpp_send_conf(const struct ocpp_transport *t, uint64_t conn_id, const char *msg_id,
                    const struct ocpp_conf *conf);
void ocpp_send_error(const struct ocpp_transport *t, uint64_t conn_id, const char *msg_id,
                     enum ocpp_err err, const char *description);
void ocpp_send_call(const struct ocpp_transport *t, uint64_t conn_id, const char *msg_id,
                    enum ocpp_action a, const char *payload_json);

#endif
