/*
 * The store thread and the store's API (include/store.h): the only code
 * that writes to PostgreSQL while the gateway serves, after redis bio.c.
 *
 * DESIGN
 * The gateway runs two stores, each a thread with its own connection: the
 * OCPP store (the chargers' writes and reads) and the REST store (API
 * queries and REST's write-behind rows: audit log, last_used_at,
 * idempotency records), so that an integrator's query never waits inside
 * the chargers' write transactions, nor the other way round. Both work the
 * same way; the loop thread never makes a libpq call while it serves
 * (admin.c's synchronous calls run before the loop starts, or in the CLI).
 *
 * Queues. store_submit() appends a job to a bounded queue under `lock` and,
 * when the queue was empty, writes the eventfd. The thread sleeps in poll()
 * on that eventfd and, while connected, on the PostgreSQL socket (LISTEN).
 * A finished job goes onto the completion list (`done_lock`) and wake()
 * tells the loop (lws_cancel_service); the loop drains the list with
 * store_take_completed() in LWS_CALLBACK_EVENT_WAIT_CANCELLED and hands
 * each job to the core (core_on_db_result) or to REST. Only the loop
 * thread touches a wsi; only the store thread touches its PGconn.
 *
 * Batches (pipeline.c). The thread takes up to batch_max jobs and sends
 * them in one pipeline round trip:
 *
 *     BEGIN, one statement per job, one ocppgw_meter_batch() call carrying
 *     every meter value of the batch, COMMIT, Sync
 *
 * using prepared statements made once per connection (ops.c has them;
 * sql/002_functions.sql holds the logic). REST's statements (STORE_OP_SQL,
 * one text per query shape) are prepared on first use and kept in a
 * bounded LRU (stmt_cache.c); an evicted one is DEALLOCATEd in its own
 * segment at the start of the next batch. The REST store's connection also
 * runs with statement_timeout: a statement cancelled by it (57014) fails
 * alone, without a second run, as STORE_ERR_UNAVAILABLE with that SQLSTATE.
 * The connection is non-blocking; while waiting for results the thread
 * keeps flushing and reading, so no batch size can deadlock the two socket
 * buffers. Only when COMMIT answers OK are the jobs completed STORE_OK: a
 * job is answered only after its batch committed (the durability rule).
 *
 * Passwords. A REST statement that stores a charger's AuthorizationKey
 * carries the plain key beside its parameters (rest_sql_password); the
 * thread puts its PBKDF2 hash into the statement's empty parameter just
 * before sending it, so the key never reaches PostgreSQL (nor a statement
 * log) and the hashing never runs on the loop.
 *
 * Failures. A statement error with the connection intact (bad data) re-runs
 * the batch one job per transaction (each job its own Sync segment, an
 * implicit transaction) so that only the bad job fails (STORE_ERR_FAILED).
 * A broken connection, or a COMMIT whose outcome is unknown, completes
 * every job of the batch STORE_ERR_UNAVAILABLE (the charger retries); the
 * thread then reconnects with exponential backoff and jitter (conn.c),
 * store_ready() is false meanwhile, durable jobs are refused at submit and
 * the queued ones failed, and write-behind jobs wait in the queue (up to its
 * bound) to be written after the reconnect. Retrying is safe: every write
 * is idempotent (see the SQL functions).
 *
 * Presence (presence.c). The OCPP store of a gateway (store_config.node_id
 * set) also keeps this process's row in gateway_nodes: jobs of its own,
 * taken first into a batch when due, never completed to the loop. The
 * first batch after the first connect registers this boot (NODE_START,
 * which clears the chargers an earlier boot of the node left connected);
 * every heartbeat interval after that a NODE_HEARTBEAT, and, from three
 * intervals after each connect on, a NODE_SWEEP of nodes whose heartbeat
 * stopped. When stopping, once the queue is empty (every disconnect the
 * loop recorded is written), NODE_STOP is the last batch: every charger
 * this boot still holds is marked disconnected in one statement. The
 * heartbeat runs on this thread, so a long drain at shutdown or a busy
 * loop does not make the node look dead; a loop that hangs is systemd's
 * watchdog's to catch (WatchdogSec).
 *
 * Notifications (conn.c). A trigger on chargers NOTIFYs the id on channel
 * ocppgw_charger on every change, from any process. The OCPP store LISTENs
 * there; each id (queued once) becomes a STORE_OP_CHARGER_CHANGED job
 * nobody submitted that rides in the next batch (a SELECT of the row) and
 * is completed like any other job, so the in-memory registry follows the
 * table. A REST store (STORE_LISTEN_APIKEYS) listens on ocppgw_apikey
 * instead: "<id>" becomes a STORE_OP_APIKEY_CHANGED job that loads the row;
 * "<id> gone" (revoked or deleted) is completed at once, so a revocation
 * reaches the key cache without waiting for a round trip. With
 * STORE_LISTEN_EVENTS it also LISTENs on ocppgw_events (sql/011): the seqs
 * announced together become one STORE_OP_EVENTS_NOTIFIED job completed at
 * once, carrying the highest (the event stream reads the rows itself). Ids not yet
 * loaded when the connection drops are forgotten: after a reconnect the
 * loop reloads everything.
 *
 * The files: this one (the thread's loop, queues, API, the fault-injection
 * seam), pipeline.c, conn.c, ops.c, presence.c; store_internal.h is what
 * they share.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "metrics.h"
#include "store_internal.h"
#include "util.h"

#define STORE_BATCH_DEFAULT 512
#define STORE_QUEUE_DEFAULT 100000

/* ------------------------------------------------------------------ queues */

/* Wakes the store thread (submit, stop). */
static void kick(struct store *s)
{
    uint64_t one = 1;
    ssize_t w = write(s->efd, &one, sizeof one);
    (void)w;                /* EAGAIN: the counter is already non-zero */
}

void store_drain_wakeups(struct store *s)
{
    uint64_t v;
    ssize_t r = read(s->efd, &v, sizeof v);
    (void)r;
}

/* Puts a list of finished jobs on the completion list and wakes the loop. */
void store_complete(struct store *s, struct job_list *l)
{
    if (!l->head)
        return;
    pthread_mutex_lock(&s->done_lock);
    if (s->done.tail)
        s->done.tail->next = l->head;
    else
        s->done.head = l->head;
    s->done.tail = l->tail;
    s->done.n += l->n;
    pthread_mutex_unlock(&s->done_lock);
    *l = (struct job_list){ 0 };
    if (s->wake)
        s->wake(s->wake_ctx);
}

/* Fails queued jobs at once: the durable ones (database down) or all (stopping). */
void store_fail_queued(struct store *s, bool durable_only)
{
    struct job_list failed = { 0 }, kept = { 0 };
    pthread_mutex_lock(&s->lock);
    struct store_job *job;
    while ((job = job_list_pop(&s->queue)))
        job_list_push(!durable_only || store_op_is_durable(job->op) ? &failed : &kept, job);
    s->queue = kept;
    atomic_store(&s->depth, kept.n);
    pthread_mutex_unlock(&s->lock);
    for (job = failed.head; job; job = job->next) {
        job->status = STORE_ERR_UNAVAILABLE;
        metrics_store_rejected();
    }
    store_complete(s, &failed);
}

void store_test_fail_io_after(struct store *s, long nth)
{
    atomic_store(&s->fail_io_after, nth);
}

/* ------------------------------------------------------------------ the thread */

/*
 * The next batch: the presence jobs that are due (beyond batch_max), then
 * notified ids, then queued jobs, up to batch_max of those.
 */
static bool take_batch(struct store *s)
{
    struct batch *b = &s->batch;
    b->n = 0;
    store_presence_take(s, b->jobs, &b->n, STORE_PRESENCE_JOBS);
    uint32_t cap = s->batch_max + b->n;
    struct store_job *job;
    while (b->n < cap && (job = store_notified_pop(&s->notified)))
        b->jobs[b->n++] = job;
    while (b->n < cap && (job = store_notified_pop(&s->notified_keys)))
        b->jobs[b->n++] = job;
    while (b->n < cap && (job = store_notified_pop(&s->notified_sites)))
        b->jobs[b->n++] = job;
    pthread_mutex_lock(&s->lock);
    while (b->n < cap && (job = job_list_pop(&s->queue)))
        b->jobs[b->n++] = job;
    atomic_store(&s->depth, s->queue.n);
    pthread_mutex_unlock(&s->lock);
    return b->n > 0;
}

/* Idle: sleeps until a job is submitted, the server sends something or a heartbeat is due. */
static void wait_idle(struct store *s)
{
    struct pollfd p[2] = {
        { .fd = s->efd, .events = POLLIN },
        { .fd = PQsocket(s->conn), .events = POLLIN },
    };
    if (poll(p, 2, store_presence_wait_ms(s)) <= 0)
        return;
    if (p[0].revents)
        store_drain_wakeups(s);
    if (p[1].revents) {
        if (!PQconsumeInput(s->conn) || PQstatus(s->conn) != CONNECTION_OK) {
            store_conn_lost(s);
            return;
        }
        store_collect_notifies(s);
    }
}

static bool queue_empty(struct store *s)
{
    pthread_mutex_lock(&s->lock);
    bool empty = s->queue.n == 0;
    pthread_mutex_unlock(&s->lock);
    return empty && !s->notified.n && !s->notified_keys.n && !s->notified_sites.n;
}

static void *store_main(void *arg)
{
    struct store *s = arg;
    for (;;) {
        if (!s->conn) {
            if (atomic_load(&s->stopping))
                break;
            if (s->backoff_ms)
                store_backoff_sleep(s);
            if (atomic_load(&s->stopping))
                break;
            if (!store_conn_open(s)) {
                store_fail_queued(s, true);
                continue;
            }
            store_presence_connected(s);
        }
        if (take_batch(s)) {
            store_pipeline_run(s);
            continue;
        }
        if (atomic_load(&s->stopping) && queue_empty(s)) {
            store_presence_stop(s);     /* the last write, after everything queued */
            break;
        }
        wait_idle(s);
    }
    store_fail_queued(s, false);
    store_conn_close(s);
    return NULL;
}

/* ------------------------------------------------------------------ API */

struct store *store_start(const struct store_config *cfg)
{
    if (!cfg || !cfg->conninfo || !*cfg->conninfo) {
        log_error(NULL, "store: no database connection string");
        return NULL;
    }
    if (!store_pg_conninfo_valid(cfg->conninfo)) {
        log_error(NULL, "store: the database connection string is malformed");
        return NULL;
    }
    if (cfg->batch_max < 0 || cfg->queue_max < 0) {
        log_error(NULL, "store: batch_max and queue_max must not be negative");
        return NULL;
    }
    struct store *s = xcalloc(1, sizeof *s);
    s->conninfo = xstrdup(cfg->conninfo);
    s->batch_max = cfg->batch_max ? (uint32_t)cfg->batch_max : STORE_BATCH_DEFAULT;
    s->queue_max = cfg->queue_max ? (size_t)cfg->queue_max : STORE_QUEUE_DEFAULT;
    s->wake = cfg->wake;
    s->wake_ctx = cfg->wake_ctx;
    s->listen = cfg->listen ? cfg->listen : STORE_LISTEN_CHARGERS;
    s->application_name = cfg->application_name ? cfg->application_name : "ocppgw-store";
    s->statement_timeout_ms = cfg->statement_timeout_ms > 0 ? cfg->statement_timeout_ms : 0;
    s->sql_cache_max = cfg->sql_cache_max > 0 ? (size_t)cfg->sql_cache_max : STMT_CACHE_DEFAULT;
    if (!store_presence_init(&s->node, cfg)) {
        free(s->conninfo);
        free(s);
        return NULL;
    }
    s->session_update_interval_s = cfg->session_update_interval_s > 0 ? cfg->session_update_interval_s : 0;
    store_pipeline_init(s);
    store_notified_init(&s->notified, STORE_OP_CHARGER_CHANGED);
    store_notified_init(&s->notified_keys, STORE_OP_APIKEY_CHANGED);
    store_notified_init(&s->notified_sites, STORE_OP_SITE_CHANGED);
    s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->efd < 0) {
        log_error(NULL, "store: eventfd: %s", strerror(errno));
        goto fail;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->done_lock, NULL);

    /* signals stay with the loop thread */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&s->thread, NULL, store_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        log_error(NULL, "store: cannot start its thread: %s", strerror(rc));
        pthread_mutex_destroy(&s->lock);
        pthread_mutex_destroy(&s->done_lock);
        close(s->efd);
        goto fail;
    }
    return s;
fail:
    store_notified_free(&s->notified);
    store_notified_free(&s->notified_keys);
    store_notified_free(&s->notified_sites);
    store_pipeline_free(s);
    free(s->conninfo);
    free(s);
    return NULL;
}

void store_submit(struct store *s, struct store_job *job)
{
    job->next = NULL;
    job->status = STORE_OK;
    job->submitted_us = time_mono_us();
    if ((unsigned)job->op >= STORE_OP_COUNT ||
        ((job->op == STORE_OP_SQL || job->op == STORE_OP_SQL_BEHIND) && !job->in.sql.sql)) {
        log_error(job->charger_id[0] ? job->charger_id : NULL, "store: malformed %s job refused",
                  store_op_name(job->op));
        job->status = STORE_ERR_FAILED;
        struct job_list one = { 0 };
        job_list_push(&one, job);
        store_complete(s, &one);
        return;
    }
    bool accepted = false, was_empty = false;
    pthread_mutex_lock(&s->lock);
    if (!atomic_load(&s->stopping) && s->queue.n < s->queue_max &&
        (atomic_load(&s->ready) || !store_op_is_durable(job->op))) {
        was_empty = s->queue.n == 0;
        job_list_push(&s->queue, job);
        atomic_store(&s->depth, s->queue.n);
        accepted = true;
    }
    pthread_mutex_unlock(&s->lock);
    if (accepted) {
        if (was_empty)
            kick(s);
        return;
    }
    job->status = STORE_ERR_UNAVAILABLE;
    metrics_store_rejected();
    struct job_list one = { 0 };
    job_list_push(&one, job);
    store_complete(s, &one);
}

struct store_job *store_take_completed(struct store *s)
{
    pthread_mutex_lock(&s->done_lock);
    struct store_job *head = s->done.head;
    s->done = (struct job_list){ 0 };
    pthread_mutex_unlock(&s->done_lock);
    return head;
}

bool store_ready(const struct store *s)
{
    return atomic_load(&s->ready);
}

size_t store_queue_depth(const struct store *s)
{
    return atomic_load(&s->depth);
}

void store_begin_stop(struct store *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->stopping, true);
    pthread_mutex_unlock(&s->lock);
    kick(s);
}

void store_stop(struct store *s)
{
    if (!s)
        return;
    store_begin_stop(s);
    pthread_join(s->thread, NULL);

    struct store_job *job;
    while ((job = job_list_pop(&s->done)))
        store_job_free(job);
    while ((job = job_list_pop(&s->queue)))
        store_job_free(job);
    store_pipeline_free(s);
    store_notified_free(&s->notified);
    store_notified_free(&s->notified_keys);
    store_notified_free(&s->notified_sites);
    close(s->efd);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->done_lock);
    free(s->conninfo);
    free(s);
}
