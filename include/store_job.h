/*
 * Store jobs (model, src/model/store_job.c): the unit of work between the
 * core or REST and the store. A job names an operation, carries its input
 * and, once the store has run it, its output and status. This header is
 * all the core knows of the store: it builds jobs and hands them to
 * core_io.db_submit, and gets them back in core_on_db_result. How jobs are
 * run (a thread, PostgreSQL, pipeline mode) is include/store.h's business.
 *
 * Ownership: a job owns the heap parts of its input (meter value arrays,
 * DataTransfer data, SQL parameters, a command row's strings) and of its
 * output (SQL result values, an API key row's arrays); store_job_free()
 * releases all of them.
 */
#ifndef OCPPGW_STORE_JOB_H
#define OCPPGW_STORE_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "load_config.h"
#include "ocpp_msg.h"

enum store_op {
    STORE_OP_CHARGER_CONNECTED,     /* write-behind; creates the row if auto_register */
    STORE_OP_CHARGER_DISCONNECTED,  /* write-behind */
    STORE_OP_LAST_SEEN,             /* write-behind; many chargers in one job */
    STORE_OP_BOOT,                  /* write-behind */
    STORE_OP_STATUS,                /* write-behind; connector upsert + history */
    STORE_OP_AUTHORIZE,             /* read: token lookup */
    STORE_OP_START_TX,              /* durable: session row, idempotent */
    STORE_OP_STOP_TX,               /* durable: close session or store orphan */
    STORE_OP_METER_VALUES,          /* durable: samples, deduplicated per message */
    STORE_OP_DATA_TRANSFER,         /* write-behind */
    STORE_OP_FIRMWARE_STATUS,       /* write-behind */
    STORE_OP_DIAGNOSTICS_STATUS,    /* write-behind */
    STORE_OP_SECURITY_EVENT,        /* write-behind: replacement, auth failures */
    STORE_OP_CHARGER_CHANGED,       /* produced by the store thread from NOTIFY */
    STORE_OP_SQL,                   /* generic parameterised statement (REST) */
    STORE_OP_APIKEY_CHANGED,        /* produced by the store thread from NOTIFY (REST store) */
    STORE_OP_SQL_BEHIND,            /* as STORE_OP_SQL, but write-behind (kept while the database is down) */
    STORE_OP_CHARGERS_ALL,          /* read: every charger row (registry reload after a reconnect) */
    STORE_OP_COMMAND,               /* write-behind: upsert of one row of table commands */
    STORE_OP_CP_SECURITY_EVENT,     /* write-behind: a SecurityEventNotification (security_events) */
    STORE_OP_SIGNED_FW_STATUS,      /* write-behind: SignedFirmwareStatusNotification */
    STORE_OP_LOG_STATUS,            /* write-behind: LogStatusNotification */
    /* presence: produced and consumed by the OCPP store thread itself (src/store/presence.c) */
    STORE_OP_NODE_START,            /* this boot takes its node row; an earlier boot's chargers cleared */
    STORE_OP_NODE_HEARTBEAT,        /* the node row's heartbeat (and taking chargers back after a sweep) */
    STORE_OP_NODE_SWEEP,            /* nodes silent for 3 intervals: their chargers cleared */
    STORE_OP_NODE_STOP,             /* the last write: chargers this boot still holds cleared */
    STORE_OP_EVENTS_NOTIFIED,       /* produced by the store thread from NOTIFY ocppgw_events (REST store) */
    /* load management (src/core/core_load.c, sql/022_load_state.sql) */
    STORE_OP_LOAD_CLAIM,            /* read: the site's advisory lock, then its sessions (out.sql rows) */
    STORE_OP_LOAD_STATE,            /* write-behind: the site's allocation table (site_load), its event */
    STORE_OP_LOAD_REJECTED,         /* write-behind: a load.profile_rejected event */
    STORE_OP_SITE_CHANGED,          /* produced by the store thread from NOTIFY ocppgw_site (sql/020) */
    STORE_OP_SITES_ALL,             /* read: every site row (site registry reload after a reconnect) */
    STORE_OP_COUNT
};

enum store_status {
    STORE_OK = 0,
    STORE_ERR_UNAVAILABLE,          /* database down or commit unknown: retryable */
    STORE_ERR_FAILED                /* the statement failed for this job's data */
};

#define STORE_SITE_ID_MAX 64

/* A charger as the registry needs it (one row of table chargers). */
struct store_charger {
    char id[OCPP_CHARGER_ID_MAX + 1];
    char auth_hash[160];            /* "" = no password (security profile 0) */
    int security_profile;           /* 0, 1, 2, 3 */
    char registration[12];          /* BootNotification answer: Accepted|Pending|Rejected */
    int64_t version;                /* registry_version (sql/016): a row older than the one held is not applied */
    bool deleted;                   /* row gone: forget the charger */
    /*
     * Load management (sql/020), taken only with load_known (a whole row
     * read); a row built from a partial write leaves the registry's as is.
     */
    bool load_known;
    char site_id[STORE_SITE_ID_MAX + 1];    /* "" = no site */
    int32_t max_current_da;         /* rated current (max_available_current), 0.1 A; LOAD_NONE unknown */
    int32_t power_limit_da;         /* PUT /power-limit, 0.1 A; LOAD_NONE none */
};

/* A site as the site registry needs it (one row of table sites: its load management). */
struct store_site {
    char id[STORE_SITE_ID_MAX + 1];
    int32_t max_current_da;         /* 0.1 A per phase; LOAD_NONE = not set */
    int64_t max_power_w;            /* W; 0 = not set */
    bool lb_enabled;
    enum load_strategy strategy;
    int32_t min_current_da;
    int phases;                     /* 1 or 3 */
    int voltage;                    /* V */
    bool redistribute;
    int64_t version;                /* registry_version: a row older than the one held is not applied */
    bool deleted;                   /* row gone: forget the site */
};

/* An API key as the REST key cache needs it (one row of table api_keys). */
struct store_apikey {
    int64_t id;
    char name[128];
    char key_hash[65];              /* hex SHA-256 of the secret */
    char *scopes_json;              /* owned JSON array text ["admin", ...]; NULL = none */
    char *charger_ids_json;         /* owned JSON array text; NULL = all chargers */
    char *site_ids_json;            /* owned JSON array text; NULL = all sites */
    int64_t expires_ms;             /* 0 = never */
    bool deleted;                   /* revoked or gone: forget the key */
};

/*
 * The columns of an api_keys row as struct store_apikey wants them, in
 * order (the REST key cache reloads with this list too).
 */
#define STORE_APIKEY_COLUMNS \
    "id, name, key_hash, to_json(scopes)::text, to_json(charger_ids)::text," \
    " to_json(site_ids)::text, (extract(epoch FROM expires_at) * 1000)::bigint," \
    " revoked_at IS NOT NULL"

/*
 * One row of table commands (sql/005_commands.sql), written when the command
 * is created and again when it ends (upsert by id). Strings owned (NULL =
 * SQL NULL); times in ms since the epoch, 0 = NULL.
 */
struct store_command {
    char id[40];                    /* UUID text */
    char action[48];
    char state[24];                 /* queued, sent, awaitingSession, completed, failed */
    char *outcome;                  /* NULL while pending; answered, callError, timeout, ... */
    char *payload;                  /* JSON text */
    char *response;                 /* JSON text */
    char *status;                   /* response's "status" */
    char *error_code;
    char *error_description;
    char *request_id;
    char origin[12];                /* "api", "gateway" or "load" (who asked: core_cmd_origin_name) */
    int64_t api_key_id;             /* 0 = NULL */
    int64_t session_id;             /* 0 = NULL */
    int32_t transaction_id;         /* 0 = NULL */
    int64_t created_ms, sent_ms, answered_ms, completed_ms;
};

struct store_last_seen {
    char charger_id[OCPP_CHARGER_ID_MAX + 1];
    int64_t at_ms;
};

/* One session of a site's allocation table (STORE_OP_LOAD_STATE); currents in 0.1 A, -1 = unknown. */
struct store_load_row {
    char charger_id[OCPP_CHARGER_ID_MAX + 1];
    int64_t session_id;
    int connector_id;
    int32_t alloc_da, accepted_da, measured_da;
    int64_t since_ms;
};

struct store_load_state {
    char site_id[65];
    int32_t limit_da;
    char strategy[12];
    int64_t at_ms;
    bool changed;                   /* the allocations changed: emit load.allocation_changed */
    size_t n;
    struct store_load_row *rows;    /* owned */
};

/* A profile of the load manager that is not in force (STORE_OP_LOAD_REJECTED). */
struct store_load_rejected {
    char site_id[65];
    int connector_id;
    int32_t limit_da;
    int64_t session_id;             /* TxProfile: its session; else 0 */
    char purpose[20];               /* TxProfile, TxDefaultProfile */
    char outcome[24];               /* Rejected, callError, timeout, ... */
    char command_id[40];
    int64_t at_ms;
};

/* A node that STORE_OP_NODE_SWEEP found silent and cleared. */
struct store_node_lost {
    char node_id[65];
    char boot_id[33];
    int64_t heartbeat_ms;           /* its last heartbeat */
    int cleared;                    /* chargers marked disconnected */
};

/* Outcome of a StopTransaction. */
enum store_stop_outcome {
    STORE_STOP_CLOSED,              /* session closed now */
    STORE_STOP_REPEATED,            /* already closed before: nothing changed */
    STORE_STOP_ORPHAN               /* unknown or foreign transaction: stored as orphan */
};

/*
 * Work a STORE_OP_SQL job asks of the store thread on its rows, once they
 * are read and before the job completes: off the loop, e.g. an active
 * session's cost estimate (session_cost_estimate_rows, include/session_cost.h).
 * fn may rewrite (free and replace) out.sql.values; col and arg are its own.
 */
struct store_job;
struct store_rows_hook {
    void (*fn)(struct store_job *job);  /* NULL = none */
    int col;                            /* the column it works on */
    int arg;
};

struct store_job {
    struct store_job *next;         /* queue link, owned by whoever holds the job */
    enum store_op op;
    enum store_status status;
    uint64_t conn_id;               /* 0 = no connection waits for it */
    char msg_id[OCPP_ID_MAX + 1];   /* OCPP unique id to answer, "" = none */
    char charger_id[OCPP_CHARGER_ID_MAX + 1];
    int64_t received_ms;            /* when the gateway received it (wall clock) */
    int64_t submitted_us;           /* monotonic, set by store_submit */
    void *user;                     /* opaque to the store (REST request, ...) */

    union {
        struct { char remote_addr[48]; bool auto_register; } connected;
        struct { char reason[64]; int64_t connected_ms; } disconnected; /* connected_ms: when the closing connection opened */
        struct { size_t n; struct store_last_seen *items; } last_seen;     /* owned */
        struct ocpp_boot_req boot;
        struct ocpp_status_notification_req status;
        struct { char id_tag[OCPP_IDTAG_MAX + 1]; bool check_concurrent; } authorize;
        struct { struct ocpp_start_tx_req req; int32_t candidate_tx_id; bool check_concurrent; } start_tx;
        struct ocpp_stop_tx_req stop_tx;                /* owns its values */
        struct ocpp_meter_values_req meter_values;       /* owns values */
        struct ocpp_data_transfer_req data_transfer;    /* owns data */
        struct ocpp_status_req fw_diag_status;
        struct { char kind[48]; char detail[256]; } security_event;
        struct store_command command;                    /* owns its strings */
        struct ocpp_security_event_req cp_security_event;
        struct ocpp_request_status_req request_status;  /* SIGNED_FW_STATUS, LOG_STATUS */
        int64_t apikey_id;                               /* APIKEY_CHANGED: the row to load */
        struct { char site_id[65]; } load_claim;
        struct store_load_state load_state;              /* owns rows */
        struct store_load_rejected load_rejected;
        char site_id[STORE_SITE_ID_MAX + 1];             /* SITE_CHANGED: the row to load */
        struct {                    /* SQL and SQL_BEHIND */
            const char *sql;        /* static text, borrowed; or the job's own when sql_owned */
            bool sql_owned;         /* sql was malloc'd for this job (a query shape): freed with it */
            int password_param;     /* 1-based: params[n-1] is a plain password the store thread
                                       replaces with its PBKDF2 hash before sending; 0 = none */
            int password_iterations;
            int nparams;
            char **params;          /* owned array of owned strings (NULL entry = SQL NULL) */
            char *password;         /* the plain password once hashed (owned, never sent, wiped
                                       when freed): for the done callback (rest_job_password) */
            struct store_rows_hook hook; /* run on the store thread over the rows read */
        } sql;
    } in;

    union {
        struct ocpp_id_tag_info authorize;
        struct {
            int32_t transaction_id;
            int64_t session_id;
            bool existing;          /* a retry of a start already stored */
            struct ocpp_id_tag_info info;
            int priority;           /* the token's priority (sql/020; 0 for an unknown tag) */
        } start_tx;
        struct {
            enum store_stop_outcome outcome;
            int64_t session_id;     /* 0 for orphans */
            bool has_info;
            struct ocpp_id_tag_info info;
        } stop_tx;
        struct { int64_t session_id; bool duplicate; } meter_values;
        struct store_charger charger;                   /* CHARGER_CHANGED */
        struct { size_t n; struct store_charger *items; } chargers; /* CHARGERS_ALL, owned */
        struct store_apikey apikey;                     /* APIKEY_CHANGED (owns its strings) */
        struct store_site site;                         /* SITE_CHANGED */
        struct { size_t n; struct store_site *items; } sites; /* SITES_ALL, owned */
        struct {                    /* NODE_* (presence) */
            int cleared;            /* START, STOP: chargers marked disconnected; HEARTBEAT: taken back */
            char state[12];         /* HEARTBEAT: ok, resumed, recreated, superseded */
            char other_boot[33];    /* START: the previous boot of the node ("" none);
                                       HEARTBEAT superseded: the boot the row belongs to */
            int64_t other_ms;       /* START: the previous boot's last heartbeat (0 none) */
            bool other_stopped;     /* START: the previous boot stopped cleanly */
            size_t n_lost;          /* SWEEP */
            struct store_node_lost *lost;   /* SWEEP, owned */
        } node;
        int64_t events_seq;                             /* EVENTS_NOTIFIED: the highest seq announced */
        struct {
            int ntuples, nfields;
            char **values;          /* owned, ntuples*nfields, row-major; NULL = SQL NULL */
            char sqlstate[6];       /* on STORE_ERR_FAILED; on STORE_ERR_UNAVAILABLE when the server
                                       gave one (57014: statement_timeout), else "" */
        } sql;
    } out;
};

/* Frees the strings a store_apikey owns and zeroes it. */
void store_apikey_clear(struct store_apikey *k);

/* New zeroed job of that op. Caller owns it until it is submitted. */
struct store_job *store_job_new(enum store_op op);
/* Frees the job and everything it owns. NULL is fine. */
void store_job_free(struct store_job *job);
/* Durable ops are answered only after commit; the rest are write-behind. */
bool store_op_is_durable(enum store_op op);
const char *store_op_name(enum store_op op);

/* Frees a STORE_OP_SQL job's result values and zeroes the counts. */
void store_job_clear_sql_out(struct store_job *job);

#endif
