/*
 * The store: everything ocppgw writes to or reads from PostgreSQL, behind a
 * job interface the core can be driven with (tests use a fake that records
 * jobs). Nothing here includes libpq; src/store/pg.c implements it.
 *
 * Threading (redis bio.c): store_submit() puts a job on a bounded queue under
 * a mutex and wakes the store thread. The thread owns its own PGconn, takes
 * up to `batch_max` jobs, sends them in libpq pipeline mode inside one
 * transaction (BEGIN, the jobs' statements, COMMIT, one sync), and once the
 * COMMIT is known puts every job on a completion queue and calls the wake
 * callback (lws_cancel_service). The loop thread drains completions with
 * store_take_completed() and hands each job to core_on_db_result().
 *
 * A job is answered only after its batch committed (durability rule). If a
 * statement fails for data reasons, the batch is re-run one job per
 * transaction so one bad job fails alone. If the connection is lost, every
 * job of the batch completes with STORE_ERR_UNAVAILABLE (the charger retries;
 * every write is idempotent), the thread reconnects with backoff, and while
 * it is down new jobs fail at once (write-behind jobs are kept, up to the
 * queue bound, and written after reconnect).
 *
 * The store thread also LISTENs on channel "ocppgw_charger" (a trigger on
 * chargers NOTIFYs the id on every change, from any process): it loads the
 * row and completes a STORE_OP_CHARGER_CHANGED job nobody submitted, so the
 * in-memory registry follows the table. A store started for REST
 * (STORE_LISTEN_APIKEYS) does the same for api_keys on channel
 * "ocppgw_apikey" with STORE_OP_APIKEY_CHANGED jobs: a revoked or deleted
 * key is announced as "<id> gone" and completed at once, without a query.
 */
#ifndef OCPPGW_STORE_H
#define OCPPGW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store_job.h"

struct store;

/* Channels a store LISTENs on (0 = STORE_LISTEN_CHARGERS, the OCPP store). */
enum store_listen {
    STORE_LISTEN_CHARGERS = 1 << 0, /* ocppgw_charger -> STORE_OP_CHARGER_CHANGED */
    STORE_LISTEN_APIKEYS = 1 << 1,  /* ocppgw_apikey -> STORE_OP_APIKEY_CHANGED */
    STORE_LISTEN_NONE = 1 << 2
};

struct store_config {
    const char *conninfo;           /* libpq conninfo or URL; borrowed for the call */
    int batch_max;                  /* jobs per transaction (default 512) */
    int queue_max;                  /* queued jobs before submit fails them (default 100000) */
    void (*wake)(void *ctx);        /* called from the store thread when completions wait */
    void *wake_ctx;
    unsigned listen;                /* enum store_listen bits; 0 = chargers */
    const char *application_name;   /* static text for pg_stat_activity; NULL = "ocppgw-store" */
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
 * still on the completion queue are freed. Call from the loop thread after
 * the loop has stopped.
 */
void store_stop(struct store *s);

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

/* Inserts a charger (auth_hash "" = none). 0 ok, 1 exists, -1 error. */
int store_admin_add_charger(struct store_admin *a, const char *id, const char *name,
                            const char *auth_hash, int security_profile,
                            char *errbuf, size_t errcap);

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

#endif
