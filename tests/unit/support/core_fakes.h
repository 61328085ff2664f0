/*
 * Fakes for driving the core (src/core/) in unit tests: a struct core_io
 * whose clock only moves when the test advances it, whose outputs (CALLRESULTs,
 * CALLERRORs, CALLs, closes, events) are recorded in arrays the test reads,
 * whose "store" keeps every submitted job until the test completes it
 * (core_fake_complete), and whose random bytes are deterministic. Plus
 * short ways to call the core's entry points as production does (admission
 * from a plain peer, a charger's CALLRESULT, a command) and a recorder for
 * command views.
 *
 * Recorded strings are copies: they stay valid after the core's call
 * returns. Fixed capacities; exceeding one aborts the test binary.
 */
#ifndef OCPPGW_TESTS_CORE_FAKES_H
#define OCPPGW_TESTS_CORE_FAKES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"

#define CORE_FAKE_MAX 256

struct core_fake_conf {
    uint64_t conn_id;
    char msg_id[OCPP_ID_MAX + 1];
    struct ocpp_conf conf;
};

struct core_fake_error {
    uint64_t conn_id;
    char msg_id[OCPP_ID_MAX + 1];
    enum ocpp_err err;
    char description[160];
};

struct core_fake_call {
    uint64_t conn_id;
    char msg_id[OCPP_ID_MAX + 1];
    enum ocpp_action action;
    char payload[512];
};

struct core_fake_close {
    uint64_t conn_id;
    int code;
    char reason[96];
};

struct core_fake_event {
    enum core_event_kind kind;
    char charger_id[OCPP_CHARGER_ID_MAX + 1];
    int connector_id;
    int64_t session_id;
    int32_t transaction_id;
    bool has_status;
    char status[64];
    bool has_detail;
    char detail[256];
    int64_t at_ms;
};

struct core_fake {
    int64_t now_ms;
    uint32_t rng;                   /* xorshift32 state, never 0 */
    uint32_t script[16];            /* 32-bit random values handed out first */
    size_t n_script, script_at;

    struct core_fake_conf confs[CORE_FAKE_MAX];
    size_t n_confs;
    struct core_fake_error errors[CORE_FAKE_MAX];
    size_t n_errors;
    struct core_fake_call calls[CORE_FAKE_MAX];
    size_t n_calls;
    struct core_fake_close closes[CORE_FAKE_MAX];
    size_t n_closes;
    struct core_fake_event events[CORE_FAKE_MAX];
    size_t n_events;

    struct store_job *jobs[CORE_FAKE_MAX]; /* submitted, not completed; owned */
    size_t n_jobs;
};

/* Zeroes the fake; the clock starts at start_ms. */
void core_fake_init(struct core_fake *f, int64_t start_ms);
/* Frees the jobs never completed. */
void core_fake_fini(struct core_fake *f);
/* The io table pointing at f (emit set). */
struct core_io core_fake_io(struct core_fake *f);
/* Forgets every recorded output (confs, errors, calls, closes, events); keeps jobs. */
void core_fake_clear(struct core_fake *f);

void core_fake_advance(struct core_fake *f, int64_t ms);
/* The next 32-bit random draws return vals (then the generator resumes). */
void core_fake_script_random(struct core_fake *f, const uint32_t *vals, size_t n);

/* ---- jobs ---- */
size_t core_fake_job_count(const struct core_fake *f, enum store_op op);
/* The nth (0-based) waiting job of that op, still owned by the fake; NULL if none. */
struct store_job *core_fake_job(const struct core_fake *f, enum store_op op, size_t nth);
/* Removes a waiting job from the fake; the caller owns it. NULL if absent. */
struct store_job *core_fake_take(struct core_fake *f, enum store_op op);
/* Sets the status of a taken job and hands it back to the core (which takes ownership). */
void core_fake_complete(struct core *c, struct store_job *job, enum store_status status);

/* ---- recorded outputs ---- */
size_t core_fake_event_count(const struct core_fake *f, enum core_event_kind kind);
/* The nth (0-based) recorded event of that kind or NULL. */
const struct core_fake_event *core_fake_event(const struct core_fake *f, enum core_event_kind kind,
                                              size_t nth);
/* Outputs addressed to conn_id. */
size_t core_fake_sends_to(const struct core_fake *f, uint64_t conn_id);
/* The recorded conf / error for (conn_id, msg_id) or NULL. */
const struct core_fake_conf *core_fake_conf_for(const struct core_fake *f, uint64_t conn_id,
                                                const char *msg_id);
const struct core_fake_error *core_fake_error_for(const struct core_fake *f, uint64_t conn_id,
                                                  const char *msg_id);

/* ---- driving the core as the glue does ---- */

/* core_admit from a peer on the plain-TCP listener without a client certificate. */
enum core_admit core_fake_admit(struct core *c, const char *charger_id, const char *remote_addr,
                                const char *user, const char *password);

/*
 * The charger answers the CALL msg_id on conn_id with a CALLRESULT that
 * passed its .conf schema, as the wire dispatcher hands it over: status is
 * the payload's top-level "status" string, or NULL if it has none.
 */
void core_fake_result(struct core *c, uint64_t conn_id, const char *msg_id,
                      const char *payload_json, const char *status);

/* ---- commands ---- */

/* A copy of a struct core_command_view, and how many times one was given. */
struct core_fake_cmd {
    int n;                          /* callbacks: a waiter's must end at exactly 1 */
    char id[CORE_CMD_ID_LEN + 1];
    char charger_id[OCPP_CHARGER_ID_MAX + 1];
    enum ocpp_action action;
    char payload[256];
    enum core_cmd_state state;
    enum core_cmd_outcome outcome;
    bool sent;
    bool has_response;
    char response[256];
    bool has_status;
    char status[64];
    bool has_error_code;
    char error_code[64];
    bool has_error_description;
    char error_description[160];
    int64_t session_id;
    int32_t transaction_id;
    int64_t api_key_id;
    bool has_request_id;
    char request_id[64];
    int64_t created_ms, sent_ms, answered_ms, completed_ms;
};

/* Copies v into r (strings truncated to r's buffers) and counts it. */
void core_fake_record(struct core_fake_cmd *r, const struct core_command_view *v);
/* A core_command_cb: user is a struct core_fake_cmd, filled by core_fake_record. */
void core_fake_command_cb(void *user, const struct core_command_view *v);

/*
 * Submits a command of action a with payload_json and nothing else (no
 * remote-start match, no stop dedup): core_command_submit with
 * core_fake_command_cb and rec (NULL: nobody waits). out_id optional.
 */
enum core_call_err core_fake_command(struct core *c, const char *charger_id, enum ocpp_action a,
                                     const char *payload_json, struct core_fake_cmd *rec,
                                     char *out_id);

/* core_command_find into *out (zeroed first; out->n is 1 if found). */
bool core_fake_find(struct core *c, const char *id, struct core_fake_cmd *out);

#endif
