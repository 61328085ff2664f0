/*
 * Private to the store thread's files: the state of one store (struct
 * store) and what the files call across. The design is in thread.c.
 *
 *   thread.c    the thread's loop, the job queue and the completion list,
 *               the API of include/store.h, the fault-injection seam
 *   pipeline.c  the pipeline engine: a batch's steps and segments, sending
 *               and reading results, the meter batch, the re-run one job
 *               per transaction after a data error
 *   conn.c      the connection: connect/poll, setup, LISTEN and
 *               notifications, the one state-change function, backoff;
 *               also the libpq helpers pg_internal.h shares with admin.c
 *   stmt_cache.c the bounded LRU of STORE_OP_SQL texts prepared on the
 *               connection (stmt_cache.h; plain C, unit-tested)
 *   ops.c       the op table: each op's statement, parameter builder and
 *               row reader; statement parameters and array literals
 *   presence.c  this gateway as a node of the cluster: the node row's start,
 *               heartbeat and stop, the sweep of lost nodes (jobs of the
 *               thread's own)
 *
 * Each part of struct store names the file that owns it: only that file
 * writes it; where another file reads it, the comment says so. Everything
 * marked "store thread" is touched by the store thread only, without a lock.
 */
#ifndef OCPPGW_STORE_INTERNAL_H
#define OCPPGW_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "pg_internal.h"
#include "stmt_cache.h"
#include "store.h"
#include "strbuf.h"

struct hmap;

/* ------------------------------------------------------------------ job lists */

/* A FIFO of jobs linked through job->next; the list owns what it holds. */
struct job_list {
    struct store_job *head, *tail;
    size_t n;
};

static inline void job_list_push(struct job_list *l, struct store_job *job)
{
    job->next = NULL;
    if (l->tail)
        l->tail->next = job;
    else
        l->head = job;
    l->tail = job;
    l->n++;
}

/* The oldest job (caller owns it) or NULL. */
static inline struct store_job *job_list_pop(struct job_list *l)
{
    struct store_job *job = l->head;
    if (!job)
        return NULL;
    l->head = job->next;
    if (!l->head)
        l->tail = NULL;
    l->n--;
    job->next = NULL;
    return job;
}

/* ------------------------------------------------------------------ ops.c */

#define STORE_MAX_PARAMS 24         /* of one op's statement (STORE_OP_COMMAND: 18) */

/*
 * A PostgreSQL array literal in text form under construction, "{...}".
 * Text elements are always double-quoted with '"' and '\' escaped, so any
 * value a charger sends (commas, braces, quotes, the word NULL) survives.
 * The memory is kept between uses; store_arr_free releases it.
 */
struct store_arr {
    struct strbuf b;
    size_t n;                       /* elements so far */
};

/* Starts a new literal ("{"), keeping the memory. */
void store_arr_reset(struct store_arr *a);
void store_arr_null(struct store_arr *a);
/* Appends s (borrowed for the call) as a quoted element. */
void store_arr_text(struct store_arr *a, const char *s);
void store_arr_int(struct store_arr *a, int64_t v);
/* Closes the literal; the text is borrowed until the next reset. */
const char *store_arr_done(struct store_arr *a);
void store_arr_free(struct store_arr *a);

/*
 * Text parameters of one statement. v[] borrows the job's strings and num[]
 * (numbers are written there); libpq copies them at send.
 */
struct store_params {
    const struct store_node *node;  /* this process as a node (presence), NULL = none; set by pipeline.c */
    int n;
    const char *v[STORE_MAX_PARAMS];
    char num[STORE_MAX_PARAMS][24];
};

/*
 * One meter message of a job (MeterValues, or StopTransaction's
 * transactionData) for the batch's ocppgw_meter_batch() call. Borrows the job.
 */
struct store_meter_msg {
    uint64_t digest;
    const int *connector;           /* NULL = SQL NULL */
    int32_t tx;
    bool has_tx;
    const struct ocpp_meter_value *values;
    size_t n;
};

/* Arrays a job's own statement may build its parameters in (struct batch's scratch). */
#define STORE_SCRATCH_ARRAYS 2

/*
 * Per op: the prepared statement (made at connect as store_op_stmt_name()),
 * how its parameters are filled, how its row is read, and what it adds to
 * the batch's meter call. Exactly one of params/params_arr/sql_from_job is
 * set, unless the op only contributes meter values.
 */
struct store_op_def {
    const char *sql;                /* NULL: no statement of its own */
    bool sql_from_job;              /* the job carries its SQL text (prepared lazily, pipeline.c) */
    void (*params)(const struct store_job *j, struct store_params *p);
    void (*params_arr)(const struct store_job *j, struct store_params *p,
                       struct store_arr scratch[STORE_SCRATCH_ARRAYS]);
    /* Reads the statement's result (borrowed) into the job's output. */
    void (*read)(struct store_job *j, const PGresult *r);
    /* Fills *out and returns true when the job carries meter values. */
    bool (*meter)(const struct store_job *j, struct store_meter_msg *out);
};

extern const struct store_op_def store_ops[STORE_OP_COUNT];

/* The prepared statement's name of an op: "ocppgw_<op name>". */
void store_op_stmt_name(enum store_op op, char *buf, size_t cap);

/* The bigint at (row, col); SQL NULL reads as 0. */
int64_t store_pg_int(const PGresult *r, int row, int col);

/* ------------------------------------------------------------------ pipeline.c */

enum step_kind {
    STEP_CTL,               /* BEGIN, ROLLBACK, LISTEN, a prepare at connect */
    STEP_COMMIT,
    STEP_PARSE,             /* lazy prepare of a STORE_OP_SQL text; arg = its cache entry's seq */
    STEP_JOB,               /* a job's own statement; arg = job index */
    STEP_METER,             /* ocppgw_meter_batch(); arg = offset of its messages in meter_jobs */
    STEP_SYNC
};

/* One result the pipeline owes us, in send order. */
struct step {
    enum step_kind kind;
    uint32_t seg;
    uint32_t arg;
};

/* Statements between two Syncs: one transaction. */
struct segment {
    uint32_t from, to;      /* jobs [from, to) */
    bool explicit_tx;       /* BEGIN ... COMMIT (else the Sync commits) */
    bool failed;
    bool committed;         /* COMMIT answered OK */
    bool done;              /* its Sync arrived */
    char sqlstate[6];       /* of the first error */
    char message[200];
    uint32_t failed_job;    /* 1 + the batch index of the job whose statement failed first; 0 = none */
};

/* Parameters of ocppgw_meter_batch(), in order (pipeline.c's METER_SQL). */
enum {
    MA_CHARGER, MA_DIGEST, MA_CONNECTOR, MA_TX,                     /* one per message */
    MA_MSG, MA_TS, MA_VALUE, MA_MEASURAND, MA_UNIT, MA_CONTEXT,     /* one per sample */
    MA_FORMAT, MA_PHASE, MA_LOCATION,
    MA_COUNT
};

/*
 * The jobs of one round trip and what the pipeline owes for them. thread.c
 * fills jobs[0..n) (take_batch); everything else is pipeline.c's.
 */
struct batch {
    struct store_job **jobs;        /* batch_max + STORE_PRESENCE_JOBS slots; owned while in the batch */
    uint32_t n;
    struct step *steps;
    size_t nsteps, capsteps, next;
    struct segment *segs;
    size_t nsegs, capsegs;
    uint32_t *meter_jobs;           /* job index of each meter message, all groups */
    size_t nmeter, capmeter;
    size_t group_first;             /* first meter_jobs entry of the group being built */
    struct store_arr arrays[MA_COUNT];
    struct store_arr scratch[STORE_SCRATCH_ARRAYS]; /* array parameters of a job's own statement */
    int64_t commit_us;              /* monotonic time COMMIT answered */
};


/* Allocates the batch for s->batch_max jobs (store_start). */
void store_pipeline_init(struct store *s);
/* Frees the batch's buffers and the statement cache (store_stop; the batch is empty). */
void store_pipeline_free(struct store *s);

/*
 * The set-up round trip of a new connection: the statements ctl[0..nctl)
 * (LISTENs), then a prepare of every op's statement and of the meter batch,
 * one Sync. False with a one-line reason in err.
 */
bool store_pipeline_setup(struct store *s, const char *const *ctl, size_t nctl,
                          char *err, size_t cap);

/*
 * Runs the batch taken (jobs[0..n)) in one transaction, or one job per
 * transaction after a data error, sets every job's status, collects the
 * notifications that came and completes the jobs (store_complete). When
 * the connection fails it calls store_conn_lost.
 */
void store_pipeline_run(struct store *s);

/* The connection is gone: no SQL text is prepared any more. */
void store_pipeline_forget_prepared(struct store *s);

/* ------------------------------------------------------------------ conn.c */

/* The connection as the rest of the process sees it (store_ready, the log). */
enum store_state {
    STORE_STATE_STARTING,           /* no connection yet */
    STORE_STATE_UP,
    STORE_STATE_DOWN                /* lost, or never made: reconnecting with backoff */
};

/*
 * Ids announced on a channel and not yet loaded, oldest first, each once:
 * the SELECT runs later and reads the newest row anyway. Kept as ids, not
 * jobs, so that a bulk UPDATE of every charger costs little memory.
 */
struct notified {
    enum store_op op;               /* CHARGER_CHANGED, APIKEY_CHANGED or SITE_CHANGED */
    char (*ids)[STORE_SITE_ID_MAX + 1]; /* the longest id: a site's */
    size_t head, n, cap;
    struct hmap *pending;           /* id -> non-NULL while queued */
};

void store_notified_init(struct notified *q, enum store_op op);
/* A CHARGER_CHANGED (APIKEY_CHANGED) job for the oldest id (caller owns it), or NULL. */
struct store_job *store_notified_pop(struct notified *q);
void store_notified_free(struct notified *q);

/* Connects, sets up and marks the store up; false (store down) on failure. */
bool store_conn_open(struct store *s);
/* Closes the connection (if any) and drops what was tied to it. */
void store_conn_close(struct store *s);
/* The connection failed: store down, connection closed, durable queued jobs failed. */
void store_conn_lost(struct store *s);
/* Turns the notifications libpq has read into queued ids or completed jobs. */
void store_collect_notifies(struct store *s);
/* Sleeps the backoff (half to full, random) unless the store is stopping. */
void store_backoff_sleep(struct store *s);

/* ------------------------------------------------------------------ presence.c */

#define STORE_NODE_ID_MAX 64
#define STORE_BOOT_ID_MAX 32
#define STORE_SWEEP_MAX 16          /* lost nodes cleared per sweep */
#define STORE_PRESENCE_JOBS 2       /* presence jobs a batch may carry beyond batch_max */

/*
 * This process as a node of the cluster: the identity (fixed by
 * store_start) and the heartbeat's state (store thread only).
 */
struct store_node {
    bool on;                        /* presence: the OCPP store of a gateway */
    char id[STORE_NODE_ID_MAX + 1];
    char boot[STORE_BOOT_ID_MAX + 1];
    char version[64];
    int interval_s;
    bool started;                   /* this boot's NODE_START committed */
    bool superseded;                /* the node row is another boot's (logged once) */
    int64_t next_us;                /* monotonic: the start or the next heartbeat is due */
    int64_t sweep_from_us;          /* monotonic: no sweep before (3 intervals after each connect) */
};

/* Whether the op is a presence job (the thread's own: never completed to the loop). */
bool store_presence_op(enum store_op op);
/* The identity from cfg (presence on when cfg->node_id is set); false with a reason logged. */
bool store_presence_init(struct store_node *n, const struct store_config *cfg);
/* The connection is (again) up: the start or a heartbeat is due now; sweeps wait 3 intervals. */
void store_presence_connected(struct store *s);
/* Appends the presence jobs that are due to jobs[*n, cap) (the thread owns them). */
void store_presence_take(struct store *s, struct store_job **jobs, uint32_t *n, uint32_t cap);
/* Milliseconds until a presence job is due (a poll timeout): -1 = never. */
int store_presence_wait_ms(const struct store *s);
/* A presence job's batch is settled: logs and counts what it did, frees the job. */
void store_presence_done(struct store *s, struct store_job *job);
/*
 * The thread's last write (stopping, queue empty, connected): NODE_STOP in a
 * batch of its own. Nothing without presence.
 */
void store_presence_stop(struct store *s);

/* ------------------------------------------------------------------ thread.c */

/* Puts a list of finished jobs (taken from l) on the completion list and wakes the loop. */
void store_complete(struct store *s, struct job_list *l);
/* Fails queued jobs at once: the durable ones (database down) or all (stopping). */
void store_fail_queued(struct store *s, bool durable_only);
/* Resets the eventfd after poll() saw it readable. */
void store_drain_wakeups(struct store *s);

/* ------------------------------------------------------------------ the store */

struct store {
    /* fixed by store_start (thread.c); read by every file */
    char *conninfo;
    uint32_t batch_max;
    size_t queue_max;
    void (*wake)(void *ctx);
    void *wake_ctx;
    int efd;                        /* eventfd: a job or stop for the sleeping thread */
    unsigned listen;                /* enum store_listen */
    const char *application_name;
    int statement_timeout_ms;       /* SET at connect; 0 = the server's */
    size_t sql_cache_max;           /* capacity of sqls */
    int session_update_interval_s;  /* SET ocppgw.session_update_interval at connect; 0 = none */
    pthread_t thread;

    /* thread.c: queues, any thread under their locks */
    pthread_mutex_t lock;           /* queue, stopping */
    struct job_list queue;
    atomic_bool stopping;
    atomic_size_t depth;
    pthread_mutex_t done_lock;
    struct job_list done;
    atomic_long fail_io_after;      /* test seam (pg_internal.h); counted down by pipeline.c */

    /* conn.c, store thread; `ready` read by any thread */
    PGconn *conn;                   /* used by pipeline.c and thread.c while set */
    atomic_bool ready;
    enum store_state state;
    bool ever_connected;
    unsigned attempts;              /* failed connects since the last success */
    int backoff_ms;
    int64_t down_since_us;
    struct notified notified;       /* charger ids to load; popped by thread.c's take_batch */
    struct notified notified_keys;  /* api key ids to load; likewise */
    struct notified notified_sites; /* site ids to load (with the chargers' channel); likewise */

    /* presence.c: identity fixed by store_start, the rest store thread */
    struct store_node node;

    /* pipeline.c, store thread */
    char io_error[128];             /* why the last I/O wait failed, when libpq does not say;
                                       read and cleared by conn.c (store_conn_lost) */
    struct stmt_cache sqls;         /* STORE_OP_SQL texts prepared on this connection (bounded LRU) */
    struct batch batch;
};

/* ------------------------------------------------------------------ background workers (worker.c) */

/*
 * A background job: a thread with its own connection ("ocppgw-<name>",
 * libpq options added) that runs round() at start and then every period_ms,
 * at once again when round() answers true (more work may be waiting). The
 * pricing job (pricing_job.c, with the energy rollups), the utilization job
 * and the retention job are workers.
 */
struct store_worker;
struct store_worker_spec {
    const char *name;               /* "pricing": its log lines and application_name (static) */
    const char *options;            /* libpq options ("-c jit=off"), NULL = none (static) */
    int period_ms;
    bool (*round)(struct store_worker *w, PGconn *db, void *ctx);
    void *ctx;                      /* the job's own; freed by it after store_worker_stop */
};
/* NULL if the thread cannot start (logged). */
struct store_worker *store_worker_start(const char *conninfo, const struct store_worker_spec *spec);
/* Stop asked (for a round that checks between its batches). */
bool store_worker_stopping(struct store_worker *w);
/* From a round: waits ms, or less when stop is asked; false then. */
bool store_worker_pause(struct store_worker *w, int ms);
/* Stops and joins the thread after its round in progress, frees the worker; NULL is a no-op. */
void store_worker_stop(struct store_worker *w);

/* ------------------------------------------------------------------ the energy job (energy_job.c) */

#define ENERGY_JOB_BATCH 100
/*
 * One round of the energy report's rollups on c (the pricing thread's
 * connection, pricing_job.c, worker w): the number of sessions rolled up,
 * 0 when another gateway holds the round, -1 on a database error or when w
 * is told to stop mid-round (rolled back: the claimed sessions go back to
 * the queue, so a stop never waits for a whole batch).
 */
int store_energy_round(struct store_worker *w, PGconn *c, int32_t idle_power_w);

#endif
