/*
 * Fakes for driving the core (src/core/) in unit tests: a struct core_io
 * whose clock only moves when the test advances it, whose outputs (CALLRESULTs,
 * CALLERRORs, CALLs, closes, events) are recorded in arrays the test reads,
 * whose "store" keeps every submitted job until the test completes it
 * (core_fake_complete), and whose random bytes are deterministic.
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
    char payload[256];
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

/* ---- outgoing-call callbacks ---- */

/* Pass one of these as `user` with core_fake_call_cb; it records every call. */
struct core_fake_outcome {
    int n;                          /* times the callback ran: must end at exactly 1 */
    enum core_call_outcome outcome;
    bool has_text;
    char text[128];
    bool has_detail;
    char detail[128];
};
void core_fake_call_cb(void *user, enum core_call_outcome outcome, const char *text,
                       const char *detail);

#endif
