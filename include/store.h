/*
 * The store: everything ocppgw writes to or reads from PostgreSQL, behind a
 * job interface the core can be driven with (tests use a fake that records
 * jobs). Nothing here includes libpq. The design (a thread per store, after
 * redis bio.c; batches in pipeline mode; reconnects; LISTEN) is written once,
 * in src/store/thread.c.
 *
 * For a caller:
 * - Threads: the store runs its own thread, which alone touches its
 *   connection; the calls below are safe from any thread except where they
 *   say "loop thread". wake is called from the store thread: it should only
 *   wake the loop. A job is handed over at submit and always comes back
 *   through store_take_completed().
 * - Durability: a job completes STORE_OK only after the transaction holding
 *   it committed; answer a charger only then. STORE_ERR_UNAVAILABLE: not
 *   stored, or not known to be (database down, queue full, commit outcome
 *   unknown); a retry is safe, every write is idempotent. STORE_ERR_FAILED:
 *   this job's own data was refused (it failed alone).
 * - The store also completes jobs nobody submitted: STORE_OP_CHARGER_CHANGED
 *   (and, for STORE_LISTEN_APIKEYS, STORE_OP_APIKEY_CHANGED) when a row
 *   changes in the database, from any process; for STORE_LISTEN_EVENTS,
 *   STORE_OP_EVENTS_NOTIFIED when events were committed (one job for the
 *   notifications read together, carrying the highest seq). Presence jobs
 *   (STORE_OP_NODE_*) are the thread's own and never come back.
 */
#ifndef OCPPGW_STORE_H
#define OCPPGW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store_export.h"
#include "store_job.h"

struct store;

/* Channels a store LISTENs on (0 = STORE_LISTEN_CHARGERS, the OCPP store). */
enum store_listen {
    STORE_LISTEN_CHARGERS = 1 << 0, /* ocppgw_charger -> STORE_OP_CHARGER_CHANGED */
    STORE_LISTEN_APIKEYS = 1 << 1,  /* ocppgw_apikey -> STORE_OP_APIKEY_CHANGED */
    STORE_LISTEN_NONE = 1 << 2,
    STORE_LISTEN_EVENTS = 1 << 3,   /* ocppgw_events -> STORE_OP_EVENTS_NOTIFIED */
};

struct store_config {
    const char *conninfo;           /* libpq conninfo or URL; borrowed for the call */
    int batch_max;                  /* jobs per transaction (default 512) */
    int queue_max;                  /* queued jobs before submit fails them (default 100000) */
    void (*wake)(void *ctx);        /* called from the store thread when completions wait */
    void *wake_ctx;
    unsigned listen;                /* enum store_listen bits; 0 = chargers */
    const char *application_name;   /* static text for pg_stat_activity; NULL = "ocppgw-store" */
    int statement_timeout_ms;       /* SET statement_timeout on the connection; 0 = none */
    int sql_cache_max;              /* STORE_OP_SQL texts kept prepared (LRU); 0 = 256 */
    /*
     * Presence (the OCPP store only; see src/store/presence.c): this
     * gateway as a node of the cluster. NULL node_id: no presence (the REST
     * store, tests of the store). Strings copied.
     */
    const char *node_id;            /* cluster.node_id: [A-Za-z0-9._:-], 1 to 64 */
    const char *boot_id;            /* this process's random id (1 to 32 characters) */
    const char *version;            /* written into the node row; may be NULL */
    int heartbeat_interval_s;       /* cluster.heartbeat_interval; 0 = 10 */
    /* events.session_update_interval: SET ocppgw.session_update_interval at connect
     * (sql/012, ocppgw_meter_batch's session.updated); 0 = the function's default */
    int session_update_interval_s;
};

/*
 * Starts the store thread. Fails (NULL, message logged) only on bad config;
 * an unreachable database is not an error here: the thread keeps trying.
 */
struct store *store_start(const struct store_config *cfg);

/*
 * Queues a job; takes ownership. Never blocks on the database. If the queue
 * is full, or the database is down and the job is not write-behind, the job
 * is completed at once with STORE_ERR_UNAVAILABLE (it still comes back
 * through store_take_completed()).
 */
void store_submit(struct store *s, struct store_job *job);

/* Loop thread: the completed jobs as a list (oldest first) or NULL. Caller owns them. */
struct store_job *store_take_completed(struct store *s);

/* True while the store thread has a working connection. Any thread. */
bool store_ready(const struct store *s);
/* Jobs queued and not yet taken by the store thread. Any thread. */
size_t store_queue_depth(const struct store *s);

/*
 * Stops accepting, lets the thread finish what is queued (when the database
 * is up; otherwise queued jobs fail), joins it and frees the store. Jobs
 * still on the completion queue are freed. With presence, the thread's last
 * write, after everything queued, marks every charger this boot still holds
 * disconnected and the node stopped. Call from the loop thread after the
 * loop has stopped.
 */
void store_stop(struct store *s);
/*
 * The first half of store_stop, without waiting: from now on jobs are
 * refused (STORE_ERR_UNAVAILABLE), and the thread writes what is queued,
 * then its last write, then ends. The loop keeps draining completions;
 * store_stop later only joins. Lets that last write (one statement for every
 * charger still held, with its events) run while the loop closes sockets.
 */
void store_begin_stop(struct store *s);

/* ---- synchronous administration (CLI and start-up only, never the loop) ---- */

struct store_admin;

/* Connects; on failure NULL with a one-line reason in errbuf. */
struct store_admin *store_admin_connect(const char *conninfo, char *errbuf, size_t errcap);
void store_admin_close(struct store_admin *a);

/* Applies the embedded migrations not yet in schema_migrations, in order. Returns count or -1. */
int store_admin_migrate(struct store_admin *a, char *errbuf, size_t errcap);

/*
 * Loads every charger; calls fn for each. Returns the count or -1.
 */
int store_admin_load_chargers(struct store_admin *a,
                              void (*fn)(void *ctx, const struct store_charger *c), void *ctx,
                              char *errbuf, size_t errcap);
/* Loads every site (its load management configuration); calls fn for each. Returns the count or -1. */
int store_admin_load_sites(struct store_admin *a, void (*fn)(void *ctx, const struct store_site *s),
                           void *ctx, char *errbuf, size_t errcap);

/* Inserts a charger (auth_hash "" = none). 0 ok, 1 exists, -1 error. */
int store_admin_add_charger(struct store_admin *a, const char *id, const char *name,
                            const char *auth_hash, int security_profile,
                            char *errbuf, size_t errcap);

/*
 * A charger as `ocppgw charger list` shows it. connected and last_seen are
 * what the gateways last wrote (last seen: every few seconds while
 * connected); json is the same row as a JSON object, for --json.
 */
struct store_admin_charger {
    char id[OCPP_CHARGER_ID_MAX + 1];
    char name[129];
    int security_profile;
    bool has_key;
    char registration[12];
    bool connected;
    char last_seen[32];             /* "YYYY-MM-DDTHH:MM:SSZ", "" = never */
    char *json;                     /* owned */
};
/*
 * Every charger, ordered by id, into *rows (caller frees with
 * store_admin_chargers_free). Returns the count or -1.
 */
int store_admin_list_chargers(struct store_admin *a, struct store_admin_charger **rows,
                              char *errbuf, size_t errcap);
void store_admin_chargers_free(struct store_admin_charger *rows, int n);

/*
 * Deletes a charger (its sessions stay); the chargers NOTIFY tells every
 * gateway, which closes its live connection (1008). 0 removed, 1 no such
 * charger, -1 error.
 */
int store_admin_remove_charger(struct store_admin *a, const char *id, char *errbuf, size_t errcap);

/*
 * Sets a charger's AuthorizationKey to auth_hash (a PBKDF2 hash made by the
 * caller: the key itself never becomes a SQL parameter) and raises security
 * profile 0 to 1 (a key is then asked for). Refused for profile 3 (client
 * certificates, no key). *old_profile / *new_profile: the profile before and
 * after. The chargers NOTIFY closes the live connection (1008) wherever it
 * is. 0 changed, 1 no such charger, 2 profile 3, -1 error.
 */
int store_admin_set_charger_key(struct store_admin *a, const char *id, const char *auth_hash,
                                int *old_profile, int *new_profile, char *errbuf, size_t errcap);

/* API keys (secret never stored: key_hash is hex SHA-256 of the whole key). */
int store_admin_apikey_create(struct store_admin *a, const char *name, const char *scopes_csv,
                              const char *key_prefix, const char *key_hash, int64_t *out_id,
                              char *errbuf, size_t errcap);
/* Writes one line per key (id, name, prefix, scopes, created, state) to out. Returns count or -1. */
int store_admin_apikey_list(struct store_admin *a, void *out_file, char *errbuf, size_t errcap);
/* 0 revoked, 1 no such (unrevoked) key, -1 error. */
int store_admin_apikey_revoke(struct store_admin *a, int64_t id, char *errbuf, size_t errcap);
/*
 * Loads every key that is not revoked (expired ones too: they answer
 * INVALID_ACCESS_TOKEN); calls fn for each (row borrowed for the call).
 * Returns the count or -1.
 */
int store_admin_apikey_load(struct store_admin *a,
                            void (*fn)(void *ctx, const struct store_apikey *k), void *ctx,
                            char *errbuf, size_t errcap);
/* Number of live keys holding scope "admin", or -1. */
int store_admin_apikey_count_admin(struct store_admin *a, char *errbuf, size_t errcap);

/*
 * The pricing job (src/store/pricing_job.c): a thread with its own
 * connection to conninfo (copied) that prices the sessions a StopTransaction
 * left cost_state = 'pending' (sql/018) with tariffs.idle_power_w (W),
 * numbering their receipts "<receipt_prefix>-NNNNNN" (sql/019; copied).
 * NULL if the thread cannot start. Stop joins it (a batch in progress
 * finishes first). NULL is a no-op.
 */
struct store_pricing;
struct store_pricing *store_pricing_start(const char *conninfo, const char *receipt_prefix, int idle_power_w);
void store_pricing_stop(struct store_pricing *p);

/*
 * The utilization job (src/store/utilization_job.c): a thread with its own
 * connection to conninfo (copied) that keeps the utilization rollups of
 * sql/024 in step (ocppgw_util_drain about once a second). NULL if the
 * thread cannot start. Stop joins it (a round in progress finishes
 * first). NULL is a no-op.
 */
struct store_utilization;
struct store_utilization *store_utilization_start(const char *conninfo);
void store_utilization_stop(struct store_utilization *u);

/*
 * The retention job (src/store/retention_job.c): a thread with its own
 * connection to conninfo (copied) that deletes raw rows older than their
 * retention in small batches, at start and once a minute. Each value: how
 * long rows are kept, 0 = for ever. NULL if the thread cannot start. Stop
 * joins it (the batch in progress finishes first). NULL is a no-op.
 */
struct store_retention_config {
    int events_s;                   /* events, seconds */
    int meter_values_days;          /* meter_values, meter_messages */
    int status_history_days;        /* status_history, charger_events, security_events, data_transfers, orphan_stops */
    int commands_days;              /* commands that ended */
    int audit_log_days;             /* audit_log */
};
struct store_retention;
struct store_retention *store_retention_start(const char *conninfo, const struct store_retention_config *cfg);
void store_retention_stop(struct store_retention *t);

/*
 * Exports (src/store/export.c): CSV / NDJSON answers of whole collections.
 * Each export runs on a thread of its own with its own connection
 * (application_name ocppgw-export), in a READ ONLY REPEATABLE READ
 * transaction: DECLARE CURSOR on the request's statement, then FETCH in
 * batches of fetch_rows, each batch's rows formatted there (the request's
 * functions) into chunks of about 64 KiB queued for the loop. While `bound`
 * bytes wait, the thread stops fetching until the loop takes some (a slow
 * client holds only its own export, never the REST store); wake (any
 * thread: it should only wake the loop) says chunks or an end wait. At most
 * `max` exports run at once in the process.
 */
struct store_exports;
struct store_export;
struct store_exports_config {
    const char *conninfo;           /* copied */
    int max;                        /* exports running at once; 0 = 4 */
    size_t bound;                   /* bytes of chunks waiting for the loop per export; 0 = 256 KiB */
    int fetch_rows;                 /* rows per FETCH; 0 = 1000 */
    void (*wake)(void *ctx);
    void *wake_ctx;
};
/* The export service (no thread until an export begins); NULL only on bad config. */
struct store_exports *store_exports_start(const struct store_exports_config *cfg);
/* Cancels every export, joins the threads and frees everything, handles too. Loop thread, after the loop. */
void store_exports_stop(struct store_exports *x);
/*
 * Starts an export of req (taken whatever happens: cleared). NULL when
 * `max` run already. Loop thread.
 */
struct store_export *store_export_begin(struct store_exports *x, struct store_export_req *req);
/*
 * Loop thread: the next chunk (caller frees; *len bytes) or NULL, and
 * where the export stands. Once it failed, no chunk comes any more (those
 * not taken are dropped) and why (cap bytes) says what happened.
 */
char *store_export_take(struct store_export *e, size_t *len, enum store_export_state *state, char *why,
                        size_t cap);
/* Loop thread: the caller lets go of e (client gone, or all taken): the thread stops and frees it. */
void store_export_release(struct store_export *e);
/* Exports running now (threads not yet ended). Any thread. */
size_t store_exports_running(struct store_exports *x);

#endif
