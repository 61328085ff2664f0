/*
 * Private structures of the core, shared by its files:
 *   core.c          registry, admission, connection lifecycle, timers
 *   core_requests.c inbound OCPP requests and their database results
 *   core_calls.c    outgoing calls: per-charger queue, one in flight, deadlines
 */
#ifndef OCPPGW_CORE_INTERNAL_H
#define OCPPGW_CORE_INTERNAL_H

#include "core.h"
#include "hmap.h"

/* An inbound call waiting for its store job. */
struct core_pending {
    struct core_pending *next;
    char msg_id[OCPP_ID_MAX + 1];
};

struct core_charger;

/*
 * Connection states. One transition function (core_conn_set_state) with a
 * default that aborts: OPEN -> CLOSED is the only move, and a replaced
 * connection goes OPEN -> REPLACED.
 */
enum core_conn_state { CORE_CONN_OPEN, CORE_CONN_REPLACED, CORE_CONN_CLOSED };

struct core_conn {
    uint64_t id;
    enum core_conn_state state;
    struct core_charger *charger;
    int64_t opened_ms;
    char remote_addr[48];
    struct core_pending *pending;
    int n_pending;
};

struct core_outcall {
    struct core_outcall *next;              /* queue link */
    struct core_outcall *inflight_prev, *inflight_next; /* core->inflight list */
    struct core_charger *charger;
    char msg_id[OCPP_ID_MAX + 1];
    enum ocpp_action action;
    char *payload;                          /* owned JSON text */
    core_call_cb cb;
    void *user;
    int64_t deadline_ms;
};

struct core_charger {
    char id[OCPP_CHARGER_ID_MAX + 1];
    char auth_hash[160];
    int security_profile;
    enum ocpp_registration registration;
    bool auto_registered;                   /* created by a connect this run */
    bool has_verified;                      /* fast path for reconnects */
    unsigned char verified[32];             /* sha256(process key, password) */
    struct core_conn *conn;                 /* NULL when offline */
    int64_t last_seen_ms;
    bool last_seen_dirty;
    struct core_outcall *call_inflight;
    struct core_outcall *queue_head, *queue_tail;
    int queue_len;
};

struct core_throttle {
    int fails;
    int64_t window_start_ms;
    int64_t blocked_until_ms;
    double tokens;                          /* connection-rate bucket */
    int64_t refilled_ms;
};

struct core {
    struct core_io io;
    struct core_config cfg;
    char *dt_vendors;                       /* owned copy of cfg.data_transfer_vendors */
    struct hmap *chargers;                  /* id -> struct core_charger */
    struct hmap *conns;                     /* conn id -> struct core_conn */
    struct hmap *throttle;                  /* remote addr -> struct core_throttle */
    struct core_outcall *inflight;          /* calls awaiting an answer, any charger */
    uint64_t next_conn_id;
    uint64_t next_call_seq;
    size_t connected;
    size_t jobs_out;
    int64_t next_flush_ms;
    unsigned char process_key[32];
};

int64_t core_now(struct core *c);
void core_submit(struct core *c, struct store_job *job);
struct store_job *core_job(struct core *c, enum store_op op, const struct core_charger *ch,
                           uint64_t conn_id, const char *msg_id);
void core_emit(struct core *c, enum core_event_kind kind, const char *charger_id,
               int connector_id, int64_t session_id, int32_t transaction_id, const char *status,
               const char *detail);
void core_security_event(struct core *c, const char *charger_id, const char *kind,
                         const char *detail);
struct core_conn *core_conn_get(const struct core *c, uint64_t conn_id);

/* core_calls.c */
void core_calls_fail_charger(struct core *c, struct core_charger *ch,
                             enum core_call_outcome outcome);
void core_calls_expire(struct core *c, int64_t now);

#endif
