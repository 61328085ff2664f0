/*
 * Private structures of the core, shared by its files:
 *   core.c          registry, admission, connection lifecycle, timers
 *   core_requests.c inbound OCPP requests and their database results
 *   core_calls.c    the CALL slot under each command: per-charger queue, one
 *                   in flight, deadlines, the charger's answers
 *   core_commands.c commands: ids, stored rows, session waits, stop dedup
 *   core_load.c     the load manager: site limits shared by Smart Charging
 *   core_sites.c    the site registry (load management configuration)
 *   core_power_limit.c a charger's power limit (ChargePointMaxProfile) sent as a command
 */
#ifndef OCPPGW_CORE_INTERNAL_H
#define OCPPGW_CORE_INTERNAL_H

#include "core.h"
#include "hmap.h"
#include "load_alloc.h"

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
    bool disconnect_stored;                 /* core_record_disconnects: its close stores nothing more */
};

/*
 * The slot of a command's CALL (core_calls.c) from submission until its
 * answer, timeout or failure; freed before the command is told. The action
 * and payload are the command's.
 */
struct core_outcall {
    struct core_outcall *next;              /* queue link */
    struct core_outcall *inflight_prev, *inflight_next; /* core->inflight list */
    struct core_charger *charger;
    struct core_command *cmd;               /* borrowed: outlives the slot */
    char msg_id[OCPP_ID_MAX + 1];
    int64_t deadline_ms;
};

struct core_cmd_waiter {
    struct core_cmd_waiter *next;
    core_command_cb cb;
    void *user;
};

/* A command (core_commands.c); in c->commands by id until freed. */
struct core_command {
    char id[CORE_CMD_ID_LEN + 1];
    char charger_id[OCPP_CHARGER_ID_MAX + 1];
    enum ocpp_action action;
    char *payload;
    enum core_cmd_state state;
    enum core_cmd_outcome outcome;
    bool sent;
    char *response, *status, *error_code, *error_description;
    int64_t session_id;
    int32_t transaction_id;
    int64_t api_key_id;
    char *request_id;
    enum core_cmd_origin origin;
    int64_t created_ms, sent_ms, answered_ms, completed_ms;
    int64_t created_us, sent_us, answered_us; /* io->mono_us */
    struct core_cmd_waiter *waiters;
    int writes_out;                         /* STORE_OP_COMMAND jobs not yet back */
    /* remote start: matching its StartTransaction */
    char start_id_tag[OCPP_IDTAG_MAX + 1];
    int start_connector_id;
    int session_wait_ms;
    int64_t wait_deadline_ms;
    bool matched;
    /* remote stop: joinable until the session ends (held) */
    int32_t stop_tx;
    bool stop_session_ended;                /* its StopTransaction came before the answer */
    bool held;
    int64_t hold_until_ms;
    /* c->tracked: remote starts that may still match, remote stops that may be joined */
    struct core_command *tr_prev, *tr_next;
    bool tracked;
};

struct core_charger {
    char id[OCPP_CHARGER_ID_MAX + 1];
    char auth_hash[160];
    int security_profile;
    enum ocpp_registration registration;
    int64_t version;                        /* the registry_version of the row applied (sql/016) */
    bool auto_registered;                   /* created by a connect this run */
    uint64_t seq;                           /* core.registry_seq when this entry last changed */
    bool has_verified;                      /* fast path for reconnects */
    char last_auth_addr[64];                /* last address that passed the credential check */
    unsigned char verified[32];             /* sha256(process key, password) */
    struct core_conn *conn;                 /* NULL when offline */
    int64_t last_seen_ms;
    bool last_seen_dirty;
    bool csr_pending;                       /* a SignCertificate is with the signer */
    struct core_outcall *call_inflight;
    struct core_outcall *queue_head, *queue_tail;
    int queue_len;
    /* the last StatusNotification of each connector this run (for remote start checks) */
    struct core_connector_status *connectors;
    int n_connectors;
    /* load management (sql/020): from the chargers row */
    char site_id[STORE_SITE_ID_MAX + 1];    /* "" = no site */
    int32_t max_current_da;                 /* rated per phase (maxAvailableCurrent), LOAD_NONE unknown */
    int32_t power_limit_da;                 /* PUT /power-limit, LOAD_NONE none */
    int64_t limit_due_ms;                   /* a power limit change seen while connected, sent then
                                               unless this process sends it first (0 = none) */
};

struct core_connector_status {
    int connector_id;
    char status[16];
};

/*
 * One entry of c->throttle, keyed by scope and subject (core.c,
 * throttle_key): an address ("a <addr>"), an address and a charger
 * ("p <addr> <id>"), or a charger ("c <id>").
 */
struct core_throttle {
    int64_t win_start_ms;                   /* sliding window of failures: start of the current one */
    int prev_fails, cur_fails;              /* failures in the previous and the current window */
    int64_t blocked_until_ms;
    double tokens;                          /* address: connection-rate bucket; charger: long-term cap */
    int64_t refilled_ms;                    /* 0 = bucket not started (full) */
};

struct core {
    struct core_io io;
    struct core_config cfg;
    char *dt_vendors;                       /* owned copy of cfg.data_transfer_vendors */
    struct hmap *chargers;                  /* id -> struct core_charger */
    struct hmap *tombstones;                /* ids deleted here since start (value unused) */
    struct hmap *conns;                     /* conn id -> struct core_conn */
    struct hmap *throttle;                  /* remote addr -> struct core_throttle */
    struct core_outcall *inflight;          /* calls awaiting an answer, any charger */
    struct hmap *commands;                  /* command id -> struct core_command */
    struct core_command *tracked;           /* remote starts/stops still to match or join */
    bool freeing;                           /* core_free running: no more store jobs */
    bool stopping;                          /* core_commands_shutdown: no more calls */
    int64_t cmd_id_ms;                      /* timestamp and counter of the last command id */
    unsigned cmd_id_seq;
    uint64_t next_conn_id;
    uint64_t next_call_seq;
    size_t connected;
    size_t unauthenticated;                 /* chargers admitted without credentials (profile 0, no key) */
    uint64_t registry_seq;                  /* counts registry changes (core_registry_mark) */
    struct hmap *sites;                     /* site id -> struct core_site (core_sites.c) */
    size_t limits_due;                      /* chargers with limit_due_ms set (core_power_limit.c) */
    size_t jobs_out;
    int64_t next_flush_ms;
    unsigned char process_key[32];
    struct load_mgr *load;                  /* core_load.c */
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

/* core_sites.c */
void core_sites_free(struct core *c);

/* core_power_limit.c (core_power_limit_command() is in core.h) */
/* A booted charger (registration Accepted) with a stored limit gets it (origin gateway). */
void core_power_limit_on_boot(struct core *c, struct core_charger *ch);
/* The charger's current limit (its power_limit_da; LOAD_NONE clears) as a gateway command; why for the log. */
void core_power_limit_send(struct core *c, struct core_charger *ch, const char *why);
/*
 * The registry saw the connected charger's power limit change (a NOTIFY of
 * a change made through another gateway, a reload): it is sent after a
 * grace period, unless core_power_limit_command() sends that limit first
 * (this process's REST, whose committed row may come after the NOTIFY).
 */
void core_power_limit_changed(struct core *c, struct core_charger *ch);
/* Sends the limits whose grace period is over (core_expire). */
void core_power_limit_expire(struct core *c, int64_t now);
/* The charger leaves the registry: forget its pending limit. */
void core_power_limit_forget(struct core *c, struct core_charger *ch);

/* core_calls.c */
/* Queues cmd's CALL to its charger (sent at once if nothing is in flight). */
enum core_call_err core_calls_queue(struct core *c, struct core_command *cmd);
/* Fails the charger's CALL in flight and its queue (DISCONNECTED or CANCELLED). */
void core_calls_fail_charger(struct core *c, struct core_charger *ch,
                             enum core_cmd_outcome outcome);
void core_calls_expire(struct core *c, int64_t now);

/* core_commands.c: what core_calls.c tells a command */
void core_cmd_sent(struct core *c, struct core_command *cmd);
void core_cmd_answered(struct core *c, struct core_command *cmd, const struct core_answer *a);
/* outcome: CALL_ERROR (code, description), TIMEOUT, DISCONNECTED or CANCELLED. */
void core_cmd_failed(struct core *c, struct core_command *cmd, enum core_cmd_outcome outcome,
                     const char *code, const char *description);
void core_cmds_session_started(struct core *c, const char *charger_id, int connector_id,
                               const char *id_tag, int64_t session_id, int32_t tx_id);
void core_cmds_session_stopped(struct core *c, const char *charger_id, int32_t tx_id);
void core_cmds_db_result(struct core *c, const struct store_job *job);
void core_cmds_expire(struct core *c, int64_t now);
/* ms from now until the next session wait or hold ends (INT64_MAX if none). */
int64_t core_cmds_next_deadline(const struct core *c, int64_t now);
void core_cmds_free(struct core *c);
void core_cmds_connector_status(struct core_charger *ch, int connector_id, const char *status);

/* ---- core_load.c: the load manager ---- */

#define CORE_SITE_ID_MAX STORE_SITE_ID_MAX

/* A site's load balancing, as the manager needs it (the registry's site row). */
struct core_load_site_cfg {
    bool enabled;                           /* loadBalancing.enabled and a limit */
    int32_t limit_da;                       /* min(maxCurrent, maxPower / (voltage x phases)), 0.1 A */
    enum load_strategy strategy;
    int32_t min_da;
    int phases;
    int voltage;
    bool redistribute;
};
/* The registry's answers (core_load_sites.c). */
bool core_site_load_cfg(struct core *c, const char *site_id, struct core_load_site_cfg *out);
const char *core_charger_site_id(const struct core_charger *ch);
/* What the charger may draw at most per connector: min(its rated current, its power limit), 0.1 A. */
int32_t core_charger_cap_da(const struct core *c, const struct core_charger *ch);

void core_load_init(struct core *c);
void core_load_free(struct core *c);
void core_load_expire(struct core *c);
void core_load_db_result(struct core *c, const struct store_job *job);
/* After the StartTransaction's answer went out (a TxProfile must not overtake it). */
void core_load_session_started(struct core *c, const char *charger_id, int connector_id, int64_t session_id,
                               int32_t tx_id, int64_t start_ms, int32_t priority);
void core_load_session_stopped(struct core *c, const char *charger_id, int32_t tx_id);
void core_load_meter_values(struct core *c, const char *charger_id, const struct ocpp_meter_values_req *m);
/* A StatusNotification of a connector (> 0) of a connected charger. */
void core_load_connector_seen(struct core *c, struct core_charger *ch, int connector_id);
void core_load_charger_offline(struct core *c, struct core_charger *ch);
/*
 * Configuration changes, after the registry took them: a site's row changed,
 * was added or deleted (core_site_get() NULL); a charger's site, rated
 * current or power limit changed (its new values in place).
 */
void core_load_on_site_changed(struct core *c, const char *site_id);
void core_load_on_charger_changed(struct core *c, struct core_charger *ch);

#endif
