/*
 * The core: ocppgw's state machine in plain C. It knows no socket, no JSON
 * and no SQL. Events come in as function calls (a charger asks to connect, a
 * connection opens or closes, a typed OCPP request arrives, a database job
 * completes, time passes) and the core acts through the function table
 * struct core_io (send a CALLRESULT, submit a store job, close a connection,
 * publish an event). Single-threaded: every call is made on the loop thread.
 *
 * What it owns:
 *  - the charger registry (every known charger, loaded from the database and
 *    kept in step through store CHARGER_CHANGED jobs), with credentials;
 *  - connections, by 64-bit id never reused (ids, not pointers, cross
 *    events: a database result for a connection that has since closed or
 *    been replaced is dropped);
 *  - inbound calls waiting for the database (durable ones are answered only
 *    from core_on_db_result);
 *  - commands, the gateway's CALLs to chargers: one in flight per charger,
 *    with a deadline, and a bounded per-charger queue behind it;
 *  - per-IP throttling of failed authentication;
 *  - typed events (connected, status changed, session started, ...).
 */
#ifndef OCPPGW_CORE_H
#define OCPPGW_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ocpp_msg.h"
#include "store_job.h"

struct core;

enum core_event_kind {
    CORE_EV_CHARGER_CONNECTED,
    CORE_EV_CHARGER_DISCONNECTED,
    CORE_EV_CHARGER_BOOTED,
    CORE_EV_STATUS_CHANGED,
    CORE_EV_SESSION_STARTED,
    CORE_EV_SESSION_STOPPED,
    CORE_EV_METER_VALUES,
    CORE_EV_DATA_TRANSFER,
    CORE_EV_FIRMWARE_STATUS,
    CORE_EV_DIAGNOSTICS_STATUS,
    CORE_EV_SECURITY,
    CORE_EV_COUNT
};
const char *core_event_name(enum core_event_kind k);

/* Borrowed views, valid only during the emit call. */
struct core_event {
    enum core_event_kind kind;
    const char *charger_id;
    int connector_id;               /* -1 when not about a connector */
    int64_t session_id;             /* 0 when none */
    int32_t transaction_id;         /* 0 when none */
    const char *status;             /* status / vendorId / security kind; may be NULL */
    const char *detail;             /* free text; may be NULL */
    int64_t at_ms;
};

struct core_command_view;

struct core_io {
    void *ctx;
    /* Wall clock, ms since epoch (a seam: tests use a fake clock). */
    int64_t (*now_ms)(void *ctx);
    /* CALLRESULT for an inbound call. conf borrowed. */
    void (*send_conf)(void *ctx, uint64_t conn_id, const char *msg_id, const struct ocpp_conf *conf);
    /* CALLERROR for an inbound call. */
    void (*send_error)(void *ctx, uint64_t conn_id, const char *msg_id, enum ocpp_err err,
                       const char *description);
    /* A CALL to the charger; payload_json is validated JSON text, borrowed. */
    void (*send_call)(void *ctx, uint64_t conn_id, const char *msg_id, enum ocpp_action action,
                      const char *payload_json);
    /* Close the websocket with that close code (1000, 1001, 1008, ...). */
    void (*close_conn)(void *ctx, uint64_t conn_id, int ws_code, const char *reason);
    /* Queue a store job; takes ownership. The job comes back via core_on_db_result. */
    void (*db_submit)(void *ctx, struct store_job *job);
    /* Publish a typed event (logs, metrics, later webhooks). May be NULL. */
    void (*emit)(void *ctx, const struct core_event *ev);
    /* Random bytes for transaction ids (RAND_bytes in production). */
    void (*random)(void *ctx, void *buf, size_t n);
    /* A command ended (metrics). May be NULL. */
    void (*command_done)(void *ctx, const struct core_command_view *v);
    /* Monotonic clock in µs for the charger's answer time of commands; NULL: now_ms * 1000. */
    int64_t (*mono_us)(void *ctx);
    /*
     * Sign a charger's CSR (SignCertificate) off the loop thread; NULL: no
     * CA is configured and SignCertificate is answered Rejected. Strings
     * borrowed (copy them). The outcome comes back through
     * core_on_csr_signed() on the loop thread.
     */
    void (*sign_csr)(void *ctx, const char *charger_id, const char *csr_pem);
};

struct core_config {
    bool auto_register;             /* unknown ids connect and get a charger row */
    int heartbeat_interval_s;       /* BootNotification interval (300) */
    bool authorize_concurrent_tx;   /* Authorize/Start answer ConcurrentTx for busy tags */
    int call_timeout_ms;            /* outgoing CALL deadline (30000) */
    int call_queue_max;             /* queued outgoing calls per charger (16) */
    int last_seen_flush_ms;         /* write-behind of last-seen times (5000) */
    int max_inflight_per_conn;      /* inbound calls awaiting the database (8) */
    int auth_fail_max;              /* failures per IP, any charger, before throttling the IP (100) */
    int auth_fail_window_ms;        /* ... within this sliding window (60000) */
    int auth_block_ms;              /* throttled for this long (60000) */
    int auth_fail_max_per_id;       /* failures per IP for one charger before throttling that pair (10) */
    int auth_fail_window_per_id_ms; /* ... within this sliding window (60000) */
    int auth_fail_max_per_id_day;   /* failures per charger, any IP, per 24 h (token bucket; 100) */
    int conn_rate_per_ip;           /* upgrades per second per IP; 0 = unlimited */
    int conn_burst_per_ip;          /* upgrades at once per IP (the bucket's size) */
    const char *data_transfer_vendors; /* comma list of vendorIds answered Accepted; NULL none */
    int remote_start_wait_ms;       /* default session wait of a remote start (10000) */
    /* load management (docs/load-management.md) */
    int load_interval_ms;           /* load.interval: the periodic round (60000) */
    int32_t load_margin_da;         /* load.margin: what a session drawing less keeps above its draw (10 = 1 A) */
    int load_stack_level;           /* load.stack_level: stackLevel of the profiles (1) */
    int load_disconnect_grace_ms;   /* load.disconnect_grace: an offline charger's allocation is kept (120000) */
    int32_t load_charger_max_da;    /* load.charger_max_current: a charger's current when it has no maxCurrent (320) */
};

/* Fills in the defaults above. */
void core_config_defaults(struct core_config *cfg);

/* io and cfg are copied (data_transfer_vendors duplicated). */
struct core *core_new(const struct core_io *io, const struct core_config *cfg);
/* Fails every queued or in-flight command with CANCELLED, frees everything. */
void core_free(struct core *c);

/* ---- registry ---- */

/*
 * A charger row loaded or changed (row->deleted: forget it), from start-up,
 * a notification, or the write this process just committed (REST applies
 * its own writes here before it answers, so that admission knows them at
 * once). A live connection the row no longer admits is closed (1008): the
 * charger removed, its AuthorizationKey or security profile changed, or its
 * registration changed to Rejected (disabled). Applying the same row twice
 * changes nothing.
 */
void core_charger_upsert(struct core *c, const struct store_charger *row);
/*
 * The whole chargers table, read again (after the database came back:
 * notifications sent while it was unreachable are lost). Upserts every row
 * and forgets chargers that are no longer there (closing their connection),
 * except what changed in the registry after `mark` (core_registry_mark(),
 * taken when the read was asked for): a create this process committed or an
 * auto-registered charger whose row the snapshot missed is not a deletion,
 * and a newer row is not replaced by an older one.
 */
uint64_t core_registry_mark(const struct core *c);
void core_registry_sync(struct core *c, const struct store_charger *rows, size_t n, uint64_t mark);
size_t core_charger_count(const struct core *c);

/* ---- sites: the load management configuration of each (sql/020, core_sites.c) ---- */

/*
 * A site as the load manager needs it, kept like the charger registry: all
 * rows loaded at start, then each change a NOTIFY on ocppgw_site announces
 * (any process), the whole table again after the database came back.
 */
struct core_site {
    char id[STORE_SITE_ID_MAX + 1];
    int32_t max_current_da;         /* A per phase in 0.1 A; LOAD_NONE = not set */
    int64_t max_power_w;            /* W; 0 = not set */
    int32_t limit_da;               /* in force: load_effective_current_da(); LOAD_NONE = no limit */
    bool lb_enabled;
    enum load_strategy strategy;
    int32_t min_current_da;
    int phases;
    int voltage;
    bool redistribute;
    int64_t version;                /* registry_version of the row applied */
    uint64_t seq;                   /* core registry_seq when it last changed */
};

/* A site row loaded or changed (row->deleted: forget it); an older version than the one held is ignored. */
void core_site_upsert(struct core *c, const struct store_site *row);
/* The whole sites table again (as core_registry_sync; mark from core_registry_mark()). */
void core_sites_sync(struct core *c, const struct store_site *rows, size_t n, uint64_t mark);
/* The site, or NULL if unknown; borrowed until the next registry change. */
const struct core_site *core_site_get(const struct core *c, const char *site_id);
size_t core_site_count(const struct core *c);
size_t core_connected_count(const struct core *c);
/* Chargers admitted without credentials: security profile 0 and no AuthorizationKey. */
size_t core_unauthenticated_count(const struct core *c);
bool core_charger_connected(const struct core *c, const char *charger_id);
/*
 * When this process last heard from the charger (ms since the epoch, the
 * core's clock), 0 if never. Ahead of chargers.last_seen_at, which is
 * written behind.
 */
int64_t core_charger_last_seen(const struct core *c, const char *charger_id);

/* ---- connections ---- */

enum core_admit {
    CORE_ADMIT_OK,
    CORE_ADMIT_BAD_ID,              /* HTTP 400 */
    CORE_ADMIT_UNKNOWN,             /* HTTP 404 */
    CORE_ADMIT_UNAUTHORIZED,        /* HTTP 401 */
    CORE_ADMIT_THROTTLED            /* HTTP 429: too many failures from this address */
};

/* What the transport knows about the peer beyond its address. */
struct core_peer {
    bool tls;                       /* arrived on the TLS listener */
    const char *cert_cn;            /* CN of a verified client certificate, or NULL */
};

/*
 * Decides an upgrade request before anything is touched: the id's syntax,
 * whether the charger is known (or auto-registration is on), its
 * credentials against its security profile, and the per-IP failure
 * throttle. password NULL = no Basic credentials; user must equal the id.
 * peer (borrowed, required) says whether the request came on the TLS
 * listener and with which verified client certificate: profile 2 wants TLS
 * and Basic, profile 3 TLS and a certificate whose CN is the charge point
 * id. Never disturbs a live connection. Failures are logged, counted, and
 * stored as security events.
 */
enum core_admit core_admit(struct core *c, const char *charger_id, const char *remote_addr,
                           const char *user, const char *password, const struct core_peer *peer);

/*
 * The one charger-id rule, of OCPP (the upgrade path, auto-registration)
 * and REST (create, API key charger lists) alike: 1..48 printable ASCII
 * characters without '/', ',', space or '%' (the path is already
 * percent-decoded, so a '%' left in it came from "%25": refused rather than
 * guessed at), and not "." or ".." (dot segments, which no URL can
 * address). Every id it accepts can be addressed through REST,
 * percent-encoded where needed ("CP%231" is "CP#1").
 */
bool core_charger_id_valid(const char *id);
/* NULL if valid, else why not ("has a space"), to follow "charge point id 'X' ". */
const char *core_charger_id_problem(const char *id);
/*
 * The same rule at any length (a site id's 1..64 characters are counted by
 * its REST field): the characters of an id that travels as a path segment
 * and as an item of a comma-separated query list.
 */
bool core_path_id_valid(const char *id);

/*
 * The websocket for an admitted charger is open. Returns the new connection
 * id (never reused), or 0 if the charger was removed since core_admit and
 * auto-registration is off: the caller closes the socket (1008). If the charger had a live connection, that one
 * is closed (1008 "replaced"), its waiting calls fail, and a security event
 * is stored.
 */
uint64_t core_conn_open(struct core *c, const char *charger_id, const char *remote_addr);

/* A charger row read by the store after a notification: true if it is set aside and read again (core.c). */
bool core_charger_read_is_stale(struct core *c, const struct store_charger *row);
/* The charger a live connection belongs to, or NULL. */
const char *core_conn_charger_id(const struct core *c, uint64_t conn_id);
/* The websocket is gone (any reason). Unknown or replaced ids are fine. */
void core_conn_closed(struct core *c, uint64_t conn_id, const char *reason);
/*
 * Shutdown, at the end of the drain: the disconnect of every connection
 * still open is recorded now (reason given); their closes afterwards store
 * nothing more. With each, one store job per connection, while the store
 * still writes; without, none: the caller's store writes them all in one
 * statement (presence: the node's stop marks every charger it still holds
 * disconnected). Returns how many.
 */
size_t core_record_disconnects(struct core *c, const char *reason, bool each);

/*
 * A valid, schema-checked CALL from the charger. Takes ownership of what req
 * owns (the struct itself is borrowed). Answers through io->send_conf /
 * send_error now or when its store job completes.
 */
void core_on_request(struct core *c, uint64_t conn_id, const char *msg_id, enum ocpp_action a,
                     union ocpp_req *req);

/*
 * Whether an inbound call with this id is still being handled on the
 * connection (OCPP-J: a repeated id is a protocol error).
 */
bool core_request_pending(const struct core *c, uint64_t conn_id, const char *msg_id);

/* ---- commands (gateway-initiated actions asked for through REST) ---- */

/*
 * A command is one gateway-initiated CALL with a life of its own: it has an
 * id (a UUIDv7, time-ordered), is stored (STORE_OP_COMMAND, written behind
 * when created and again when it ends), and is kept in memory from
 * submission until its final row has been written, so that
 * core_command_find() or the database always knows it.
 *
 *   QUEUED -> SENT -> COMPLETED                (CALLRESULT valid for the action)
 *                  -> AWAITING_SESSION -> COMPLETED   (Accepted RemoteStartTransaction
 *                                                      with a session wait)
 *   QUEUED/SENT -> FAILED                      (CALLERROR, timeout, disconnect,
 *                                               invalid answer, shutdown)
 *
 * A remote start that the charger accepted waits (session_wait_ms) for the
 * StartTransaction of that charger with the same idTag (and connector, when
 * one was given); the session found is recorded on the command, and a wait
 * that ends without one completes with session_id 0. A StartTransaction
 * that is committed before the charger's Accepted arrives still counts.
 *
 * A remote stop of a transaction (stop_transaction_id) joins a remote stop
 * of the same transaction that is queued, in flight, or was Accepted and
 * whose session has not ended yet: one RemoteStopTransaction, every caller
 * gets that command's outcome.
 */
#define CORE_CMD_ID_LEN 36

enum core_cmd_state {
    CORE_CMD_QUEUED,
    CORE_CMD_SENT,
    CORE_CMD_AWAITING_SESSION,
    CORE_CMD_COMPLETED,
    CORE_CMD_FAILED
};
const char *core_cmd_state_name(enum core_cmd_state s);   /* "queued", "sent", "awaitingSession", ... */

enum core_cmd_outcome {
    CORE_CMD_PENDING,               /* not ended yet */
    CORE_CMD_ANSWERED,              /* CALLRESULT (response_json; status its "status" field) */
    CORE_CMD_CALL_ERROR,            /* CALLERROR (error_code, error_description) */
    CORE_CMD_TIMEOUT,               /* no answer within call_timeout */
    CORE_CMD_DISCONNECTED,          /* charger went away while queued (sent false) or in flight */
    CORE_CMD_INVALID_ANSWER,        /* CALLRESULT that fails the action's .conf schema (error_description) */
    CORE_CMD_CANCELLED              /* gateway shut down */
};
const char *core_cmd_outcome_name(enum core_cmd_outcome o); /* NULL, "answered", "callError", ... */

/* Who asked for a command (table commands, column origin). */
enum core_cmd_origin {
    CORE_CMD_ORIGIN_API = 0,        /* an API client (REST) */
    CORE_CMD_ORIGIN_GATEWAY,        /* the gateway itself (CertificateSigned, a stored power limit) */
    CORE_CMD_ORIGIN_LOAD            /* the load manager (SetChargingProfile of a balanced site) */
};
const char *core_cmd_origin_name(enum core_cmd_origin o); /* "api", "gateway", "load" */

/* A snapshot of a command; every pointer borrowed, valid for the call it is given to. */
struct core_command_view {
    const char *id;
    const char *charger_id;
    enum ocpp_action action;
    const char *payload_json;
    enum core_cmd_state state;
    enum core_cmd_outcome outcome;
    bool sent;                      /* the CALL went out (false: failed while queued) */
    const char *response_json;      /* CALLRESULT payload or NULL */
    const char *status;             /* its "status" field or NULL */
    const char *error_code;         /* CALLERROR code or NULL */
    const char *error_description;  /* CALLERROR description / why the answer is invalid, or NULL */
    int64_t session_id;             /* remote start: the session found (0: none); remote stop: the session */
    int32_t transaction_id;         /* remote start: its transaction; remote stop: the one stopped */
    int64_t api_key_id;             /* who asked (0: nobody known) */
    const char *request_id;         /* X-Request-Id of the asking request, or NULL */
    enum core_cmd_origin origin;    /* who asked: an API client, the gateway, the load manager */
    int64_t created_ms, sent_ms, answered_ms, completed_ms; /* 0 = not yet */
    int64_t answer_us;              /* CALL sent to answer received (io->mono_us), -1 if none */
    int64_t queued_us;              /* submitted to CALL sent: waiting for the charger's earlier
                                       answers (one CALL at a time), -1 if not sent */
};

/* Called when the command ends (COMPLETED or FAILED), once per waiter. */
typedef void (*core_command_cb)(void *user, const struct core_command_view *v);

/* Why a command was refused (nothing is queued or stored then). */
enum core_call_err {
    CORE_CALL_OK = 0,
    CORE_CALL_ERR_OFFLINE,          /* REST 409 CHARGING_CHARGEPOINT_OFFLINE */
    CORE_CALL_ERR_QUEUE_FULL,       /* REST 503 */
    CORE_CALL_ERR_UNKNOWN_CHARGER,  /* REST 404 */
    CORE_CALL_ERR_SHUTDOWN          /* REST 503: the gateway is stopping */
};

struct core_command_req {
    const char *charger_id;
    enum ocpp_action action;        /* one of the 26 gateway-initiated actions */
    const char *payload_json;       /* schema-valid JSON text (validated by the caller), copied */
    int64_t api_key_id;
    const char *request_id;         /* copied; may be NULL */
    enum core_cmd_origin origin;    /* who asks (stored as its name: "api", "gateway", "load") */
    /* RemoteStartTransaction: what to match the StartTransaction against */
    const char *start_id_tag;       /* idTag of the payload */
    int start_connector_id;         /* 0 = any connector */
    int session_wait_ms;            /* after Accepted; 0 = do not wait, < 0 = remote_start_wait_ms */
    /* RemoteStopTransaction: the transaction and its session (dedup of stops) */
    int32_t stop_transaction_id;
    int64_t stop_session_id;
};

/*
 * Queues a command: its CALL goes out at once if nothing is in flight on
 * that charger, else behind the charger's queue (at most call_queue_max
 * waiting). Refused with CORE_CALL_ERR_* (the charger unknown or offline,
 * its queue full, the gateway stopping), and then nothing is stored and cb
 * never runs. On CORE_CALL_OK, out_id (CORE_CMD_ID_LEN + 1 bytes)
 * receives its id and cb (may be NULL: nobody waits) runs exactly once when
 * it ends, possibly from inside this call for a stop that joins one already
 * ended. *joined (optional) is set when a remote stop joined another
 * command (out_id is then that command's id).
 */
enum core_call_err core_command_submit(struct core *c, const struct core_command_req *req,
                                       core_command_cb cb, void *user, char *out_id,
                                       bool *joined);

/* A command still in memory (not yet ended, or its final row not yet written): fn(user, view). */
bool core_command_find(struct core *c, const char *id,
                       void (*fn)(void *user, const struct core_command_view *v), void *user);

/*
 * Whether a remote start on that connector (0 = any) can be tried, from the
 * StatusNotifications seen since the charger connected: false for a charger
 * (connector 0) or connector that is Unavailable or Faulted, or a connector
 * that is busy (Charging, SuspendedEV, SuspendedEVSE, Finishing); with
 * connector 0, false only when every connector known is so. Unknown
 * connectors are assumed available (the charger decides). Also false for a
 * connector that a remote start through this gateway is still starting
 * (queued, sent or awaiting its StartTransaction): *status is then
 * CORE_CONNECTOR_STARTING. *status receives the status that refused (at
 * least 16 bytes).
 */
#define CORE_CONNECTOR_STARTING "Starting"
bool core_connector_startable(const struct core *c, const char *charger_id, int connector_id,
                              char *status);

/*
 * Shutdown begins: from now on commands are refused (CORE_CALL_ERR_SHUTDOWN);
 * every queued or in-flight call ends CANCELLED at once (so that the REST
 * requests waiting for them are answered while the gateway still serves),
 * remote starts still waiting for their session complete without one, and
 * held remote stops are let go. Their final rows are queued for the store,
 * which writes them before it stops.
 */
void core_commands_shutdown(struct core *c);

/*
 * A charger's power limit (PUT /v1/chargers/{id}/power-limit): its
 * ChargePointMaxProfile as a command of req->origin (req's charger_id,
 * api_key_id, request_id; action and payload are made here). limit_da in
 * 0.1 A, >= 0 sets it, LOAD_NONE clears it. The chargingProfileId
 * CORE_POWER_LIMIT_PROFILE_ID is reserved for it. As core_command_submit().
 * A charger that boots (Accepted) with a stored limit is sent it again.
 */
#define CORE_POWER_LIMIT_PROFILE_ID 9000
enum core_call_err core_power_limit_command(struct core *c, const struct core_command_req *req,
                                            int32_t limit_da, core_command_cb cb, void *user,
                                            char *out_id);

/* Commands in memory (for /metrics and tests). */
size_t core_commands_live(const struct core *c);

/* ---- the charger's answers to commands ---- */

/* What the wire layer read from a CALLRESULT; every pointer borrowed. */
struct core_answer {
    const char *payload_json;       /* the payload as JSON text */
    const char *status;             /* its top-level "status" string, or NULL */
    const char *invalid;            /* NULL, or why the payload fails the action's .conf schema */
};

/*
 * A CALLRESULT / CALLERROR from the charger for the CALL in flight on
 * conn_id with msg_id: its command ends (or, for an Accepted remote start,
 * waits for its session) and the charger's next queued CALL goes out.
 * Answers with an unknown id, on another connection, or after a timeout are
 * logged and dropped.
 */
void core_on_call_result(struct core *c, uint64_t conn_id, const char *msg_id,
                         const struct core_answer *a);
void core_on_call_error(struct core *c, uint64_t conn_id, const char *msg_id, const char *code,
                        const char *description);
/* Action of the CALL in flight on conn_id with msg_id; OCPP_ACTION_NONE if none. */
enum ocpp_action core_call_action(const struct core *c, uint64_t conn_id, const char *msg_id);

/* ---- the Security Extension's certificate signing ---- */

/*
 * The outcome of an io->sign_csr (every one must come back: until it does,
 * the charger's next SignCertificate is Rejected): payload_json (borrowed) is the
 * CertificateSigned payload to send to the charger, as a command of the
 * gateway's own (api_key_id 0); NULL when no certificate was issued, why
 * saying so (logged and stored as the charger's security event
 * "csr_rejected"). A charger that has gone offline meanwhile gets nothing:
 * it asks again (SignCertificate) when it finds no certificate.
 */
void core_on_csr_signed(struct core *c, const char *charger_id, const char *payload_json,
                        const char *why);

/* ---- load management (src/core/core_load.c) ---- */

/* A site this gateway decides, for /metrics; site_id borrowed until the core runs again. */
struct core_site_load {
    const char *site_id;
    int32_t limit_da;               /* the site's limit, 0.1 A per phase */
    int32_t allocated_da;           /* sum of the sessions' allocations */
    int32_t accounted_da;           /* what the chargers may draw now (the invariant: <= limit_da) */
    int32_t measured_da;            /* sum of the sessions' last measured draws (-1: none known) */
    size_t sessions;
};
/* Fills out with up to max sites this gateway decides; returns how many there are. */
size_t core_load_sites(struct core *c, struct core_site_load *out, size_t max);

/* ---- database and time ---- */

/* A store job came back; takes ownership. */
void core_on_db_result(struct core *c, struct store_job *job);

/*
 * Runs what is due at io->now_ms(): call timeouts, last-seen flush, throttle
 * expiry. Returns ms until the next deadline (<= 1000, so a 1 s tick is enough).
 */
int core_expire(struct core *c);

/* Stored jobs the core submitted and not yet got back (for /metrics and tests). */
size_t core_jobs_outstanding(const struct core *c);

#endif
