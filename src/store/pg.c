/*
 * The store thread: the only code that writes to PostgreSQL while the
 * gateway serves (design in include/store.h, after redis bio.c).
 *
 * DESIGN
 * store_submit() appends a job to a bounded queue under `lock` and, when the
 * queue was empty, writes the eventfd. The thread sleeps in poll() on that
 * eventfd and, while connected, on the PostgreSQL socket (LISTEN). It takes
 * up to batch_max jobs and sends them in one pipeline round trip:
 *
 *     BEGIN, one statement per job, one ocppgw_meter_batch() call carrying
 *     every meter value of the batch, COMMIT, Sync
 *
 * using prepared statements made once per connection (sql/002_functions.sql
 * holds the logic). The connection is non-blocking; while waiting for
 * results the thread keeps flushing and reading, so no batch size can
 * deadlock the two socket buffers. Only when COMMIT answers OK are the jobs
 * completed STORE_OK; then they go onto the completion list (`done_lock`)
 * and wake() tells the loop.
 *
 * A statement error with the connection intact (bad data) re-runs the batch
 * one job per transaction (each job its own Sync segment, an implicit
 * transaction) so that only the bad job fails. A broken connection, or a
 * COMMIT whose outcome is unknown, completes every job of the batch
 * STORE_ERR_UNAVAILABLE; the thread then reconnects with exponential backoff
 * and jitter, store_ready() is false meanwhile, durable jobs are refused at
 * submit and write-behind jobs wait in the queue. Retrying is safe: every
 * write is idempotent (see the SQL functions).
 *
 * Notifications on channel ocppgw_charger are turned into
 * STORE_OP_CHARGER_CHANGED jobs that ride in the next batch (a SELECT of the
 * row) and are completed like any other job. A REST store listens on
 * ocppgw_apikey instead: "<id>" becomes a STORE_OP_APIKEY_CHANGED job that
 * loads the row; "<id> gone" (revoked or deleted) is completed at once, so a
 * revocation reaches the key cache without waiting for a round trip.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/rand.h>

#include "hmap.h"
#include "metrics.h"
#include "pg_internal.h"
#include "store.h"
#include "util.h"

#define STORE_BATCH_DEFAULT 512
#define STORE_QUEUE_DEFAULT 100000
#define STORE_BACKOFF_MIN_MS 100
#define STORE_BACKOFF_MAX_MS 5000
#define STORE_CONNECT_TIMEOUT_MS 10000
#define STORE_IO_TIMEOUT_MS 60000       /* no byte from the server for this long: connection lost */
#define STORE_CHANNEL "ocppgw_charger"
#define STORE_CHANNEL_APIKEY "ocppgw_apikey"
#define STORE_MAX_PARAMS 24          /* of one op's statement (STORE_OP_COMMAND: 18) */

/* ------------------------------------------------------------------ buffers */

struct buf {
    char *p;
    size_t len, cap;
};

static void buf_reserve(struct buf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

static void buf_put(struct buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void buf_putc(struct buf *b, char c)
{
    buf_reserve(b, 1);
    b->p[b->len++] = c;
}

/* Decimal text of v into out (>= 21 bytes); returns the length. */
static size_t fmt_int(char *out, int64_t v)
{
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t len = 0;
    if (v < 0)
        out[len++] = '-';
    while (n)
        out[len++] = tmp[--n];
    out[len] = '\0';
    return len;
}

/*
 * A PostgreSQL array literal in text form under construction, "{...}".
 * Text elements are always double-quoted with '"' and '\' escaped, so any
 * value a charger sends (commas, braces, quotes, the word NULL) survives.
 */
struct arr {
    struct buf b;
    size_t n;
};

static void arr_reset(struct arr *a)
{
    a->b.len = 0;
    a->n = 0;
    buf_putc(&a->b, '{');
}

static void arr_sep(struct arr *a)
{
    if (a->n++)
        buf_putc(&a->b, ',');
}

static void arr_null(struct arr *a)
{
    arr_sep(a);
    buf_put(&a->b, "NULL", 4);
}

static void arr_text(struct arr *a, const char *s)
{
    arr_sep(a);
    buf_putc(&a->b, '"');
    for (const char *run = s;; s++) {
        if (*s == '"' || *s == '\\' || *s == '\0') {
            buf_put(&a->b, run, (size_t)(s - run));
            if (*s == '\0')
                break;
            buf_putc(&a->b, '\\');
            run = s;
        }
    }
    buf_putc(&a->b, '"');
}

static void arr_int(struct arr *a, int64_t v)
{
    char num[24];
    arr_sep(a);
    buf_put(&a->b, num, fmt_int(num, v));
}

static const char *arr_done(struct arr *a)
{
    buf_putc(&a->b, '}');
    a->b.p[a->b.len] = '\0';
    return a->b.p;
}

/* Text parameters of one statement. Values are copied by libpq at send. */
struct params {
    int n;
    const char *v[STORE_MAX_PARAMS];
    char num[STORE_MAX_PARAMS][24];
};

static void p_text(struct params *p, const char *s)
{
    p->v[p->n++] = s;
}

static void p_int(struct params *p, int64_t v)
{
    fmt_int(p->num[p->n], v);
    p->v[p->n] = p->num[p->n];
    p->n++;
}

static void p_bool(struct params *p, bool v)
{
    p->v[p->n++] = v ? "t" : "f";
}

/* The job's wall-clock time: when the gateway received it. */
static int64_t job_ms(const struct store_job *job)
{
    return job->received_ms ? job->received_ms : time_now_ms();
}

/* ------------------------------------------------------------------ state */

struct job_list {
    struct store_job *head, *tail;
    size_t n;
};

static void list_push(struct job_list *l, struct store_job *job)
{
    job->next = NULL;
    if (l->tail)
        l->tail->next = job;
    else
        l->head = job;
    l->tail = job;
    l->n++;
}

static struct store_job *list_pop(struct job_list *l)
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

enum step_kind {
    STEP_CTL,               /* BEGIN, ROLLBACK, LISTEN, a prepare at connect */
    STEP_COMMIT,
    STEP_PARSE,             /* lazy prepare of a STORE_OP_SQL text; arg = sql cache index */
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
};

/* Columns of ocppgw_meter_batch(), in order. */
enum {
    MA_CHARGER, MA_DIGEST, MA_CONNECTOR, MA_TX,                     /* one per message */
    MA_MSG, MA_TS, MA_VALUE, MA_MEASURAND, MA_UNIT, MA_CONTEXT,     /* one per sample */
    MA_FORMAT, MA_PHASE, MA_LOCATION,
    MA_COUNT
};

struct batch {
    struct store_job **jobs;
    uint32_t n;
    struct step *steps;
    size_t nsteps, capsteps, next;
    struct segment *segs;
    size_t nsegs, capsegs;
    uint32_t *meter_jobs;           /* job index of each meter message, all groups */
    size_t nmeter, capmeter;
    size_t group_first;             /* first meter_jobs entry of the group being built */
    struct arr arrays[MA_COUNT];
    struct arr scratch[2];          /* array parameters of a job's own statement */
    int64_t commit_us;              /* monotonic time COMMIT answered */
};

enum sql_state { SQL_UNPREPARED, SQL_PREPARING, SQL_READY };

/* A STORE_OP_SQL text prepared on the current connection (cache by pointer). */
struct sql_stmt {
    const char *sql;
    char name[24];
    enum sql_state state;
};

/*
 * Charger ids announced on the channel and not yet loaded, oldest first,
 * each once: the SELECT runs later and reads the newest row anyway. Kept as
 * ids, not jobs, so that a bulk UPDATE of every charger costs little memory.
 */
struct notified {
    enum store_op op;               /* CHARGER_CHANGED or APIKEY_CHANGED */
    char (*ids)[OCPP_CHARGER_ID_MAX + 1];
    size_t head, n, cap;
    struct hmap *pending;           /* id -> non-NULL while queued */
};

static void notified_push(struct notified *q, const char *id)
{
    if (strlen(id) > OCPP_CHARGER_ID_MAX || hmap_get_str(q->pending, id))
        return;
    if (q->head + q->n == q->cap) {
        if (q->head > q->cap / 2) {
            memmove(q->ids, q->ids + q->head, q->n * sizeof *q->ids);
            q->head = 0;
        } else {
            q->cap = q->cap ? q->cap * 2 : 64;
            q->ids = xrealloc(q->ids, q->cap * sizeof *q->ids);
        }
    }
    str_copy(q->ids[q->head + q->n], sizeof q->ids[0], id);
    hmap_put_str(q->pending, id, q);
    q->n++;
}

/* A CHARGER_CHANGED (APIKEY_CHANGED) job for the oldest id, or NULL. */
static struct store_job *notified_pop(struct notified *q)
{
    if (!q->n)
        return NULL;
    struct store_job *job = store_job_new(q->op);
    const char *id = q->ids[q->head];
    if (q->op == STORE_OP_APIKEY_CHANGED)
        job->in.apikey_id = strtoll(id, NULL, 10);
    else
        str_copy(job->charger_id, sizeof job->charger_id, id);
    hmap_del_str(q->pending, id);
    q->head++;
    if (--q->n == 0)
        q->head = 0;
    return job;
}

static void notified_clear(struct notified *q)
{
    while (q->n)
        store_job_free(notified_pop(q));
}

/* The connection as the rest of the process sees it (store_ready, the log). */
enum store_state {
    STORE_STATE_STARTING,           /* no connection yet */
    STORE_STATE_UP,
    STORE_STATE_DOWN                /* lost, or never made: reconnecting with backoff */
};

struct store {
    /* fixed at start */
    char *conninfo;
    uint32_t batch_max;
    size_t queue_max;
    void (*wake)(void *ctx);
    void *wake_ctx;
    int efd;
    pthread_t thread;

    pthread_mutex_t lock;           /* queue, stopping */
    struct job_list queue;
    atomic_bool stopping;
    atomic_size_t depth;
    atomic_bool ready;

    pthread_mutex_t done_lock;
    struct job_list done;

    atomic_long fail_io_after;      /* test seam, see pg_internal.h */

    /* store thread only */
    PGconn *conn;
    enum store_state state;
    bool ever_connected;
    unsigned attempts;              /* failed connects since the last success */
    int backoff_ms;
    int64_t down_since_us;
    char io_error[128];             /* why the last I/O wait failed, when libpq does not say */
    unsigned listen;                /* enum store_listen */
    const char *application_name;
    struct notified notified;       /* charger ids to load in the next batches */
    struct notified notified_keys;  /* api key ids to load in the next batches */
    struct sql_stmt *sqls;
    size_t nsqls, capsqls;
    struct batch batch;
};

/* ------------------------------------------------------------------ ops */

static void read_id_tag_info(const PGresult *r, int col, struct ocpp_id_tag_info *info)
{
    if (!ocpp_auth_status_parse(PQgetvalue(r, 0, col), &info->status))
        info->status = OCPP_AUTH_INVALID;
    info->expiry_ms = PQgetisnull(r, 0, col + 1) ? 0 : strtoll(PQgetvalue(r, 0, col + 1), NULL, 10);
    str_copy(info->parent_id_tag, sizeof info->parent_id_tag, PQgetvalue(r, 0, col + 2));
}

static int64_t get_int(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static void params_connected(const struct store_job *j, struct params *p)
{
    p_text(p, j->charger_id);
    p_bool(p, j->in.connected.auto_register);
    p_int(p, job_ms(j));
    p_text(p, j->in.connected.remote_addr);
}

static void params_disconnected(const struct store_job *j, struct params *p)
{
    p_text(p, j->charger_id);
    p_int(p, job_ms(j));
    if (j->in.disconnected.connected_ms)
        p_int(p, j->in.disconnected.connected_ms);
    else
        p_text(p, NULL);
    p_text(p, j->in.disconnected.reason);
}

/* Two array literals, built in the batch's meter buffers (free between statements). */
static void params_last_seen(const struct store_job *j, struct params *p, struct arr *a)
{
    arr_reset(&a[0]);
    arr_reset(&a[1]);
    for (size_t i = 0; i < j->in.last_seen.n; i++) {
        arr_text(&a[0], j->in.last_seen.items[i].charger_id);
        arr_int(&a[1], j->in.last_seen.items[i].at_ms);
    }
    p_text(p, arr_done(&a[0]));
    p_text(p, arr_done(&a[1]));
}

static void params_boot(const struct store_job *j, struct params *p)
{
    const struct ocpp_boot_req *b = &j->in.boot;
    p_text(p, j->charger_id);
    p_text(p, b->vendor);
    p_text(p, b->model);
    p_text(p, b->cp_serial);
    p_text(p, b->cb_serial);
    p_text(p, b->firmware);
    p_text(p, b->iccid);
    p_text(p, b->imsi);
    p_text(p, b->meter_type);
    p_text(p, b->meter_serial);
    p_int(p, job_ms(j));
}

static void params_status(const struct store_job *j, struct params *p)
{
    const struct ocpp_status_notification_req *st = &j->in.status;
    p_text(p, j->charger_id);
    p_int(p, st->connector_id);
    p_text(p, st->status);
    p_text(p, st->error_code);
    p_text(p, st->info);
    p_text(p, st->vendor_id);
    p_text(p, st->vendor_error_code);
    if (st->has_timestamp)
        p_int(p, st->timestamp_ms);
    else
        p_text(p, NULL);
    p_int(p, job_ms(j));
}

static void params_authorize(const struct store_job *j, struct params *p)
{
    p_text(p, j->in.authorize.id_tag);
    p_bool(p, j->in.authorize.check_concurrent);
}

static void read_authorize(struct store_job *j, const PGresult *r)
{
    if (PQntuples(r) < 1)
        return;
    read_id_tag_info(r, 0, &j->out.authorize);
}

static void params_start_tx(const struct store_job *j, struct params *p)
{
    const struct ocpp_start_tx_req *st = &j->in.start_tx.req;
    p_text(p, j->charger_id);
    p_int(p, st->connector_id);
    p_text(p, st->id_tag);
    p_int(p, st->timestamp_ms);
    p_int(p, st->meter_start);
    if (st->has_reservation_id)
        p_int(p, st->reservation_id);
    else
        p_text(p, NULL);
    p_int(p, j->in.start_tx.candidate_tx_id);
    p_bool(p, j->in.start_tx.check_concurrent);
}

static void read_start_tx(struct store_job *j, const PGresult *r)
{
    if (PQntuples(r) < 1)
        return;
    j->out.start_tx.session_id = get_int(r, 0, 0);
    j->out.start_tx.transaction_id = (int32_t)get_int(r, 0, 1);
    j->out.start_tx.existing = PQgetvalue(r, 0, 2)[0] == 't';
    read_id_tag_info(r, 3, &j->out.start_tx.info);
}

static void params_stop_tx(const struct store_job *j, struct params *p)
{
    const struct ocpp_stop_tx_req *st = &j->in.stop_tx;
    p_text(p, j->charger_id);
    p_int(p, st->transaction_id);
    p_text(p, st->id_tag);
    p_int(p, st->meter_stop);
    p_int(p, st->timestamp_ms);
    p_text(p, st->reason);
}

static void read_stop_tx(struct store_job *j, const PGresult *r)
{
    if (PQntuples(r) < 1)
        return;
    const char *outcome = PQgetvalue(r, 0, 0);
    j->out.stop_tx.outcome = strcmp(outcome, "closed") == 0   ? STORE_STOP_CLOSED
                             : strcmp(outcome, "repeated") == 0 ? STORE_STOP_REPEATED
                                                                : STORE_STOP_ORPHAN;
    j->out.stop_tx.session_id = get_int(r, 0, 1);
    j->out.stop_tx.has_info = !PQgetisnull(r, 0, 2);
    if (j->out.stop_tx.has_info)
        read_id_tag_info(r, 2, &j->out.stop_tx.info);
}

static void params_data_transfer(const struct store_job *j, struct params *p)
{
    p_text(p, j->charger_id);
    p_text(p, j->in.data_transfer.vendor_id);
    p_text(p, j->in.data_transfer.message_id);
    p_text(p, j->in.data_transfer.data);
    p_int(p, job_ms(j));
}

static void params_fw_diag_status(const struct store_job *j, struct params *p)
{
    p_text(p, j->charger_id);
    p_text(p, j->in.fw_diag_status.status);
    p_int(p, job_ms(j));
}

static void params_security_event(const struct store_job *j, struct params *p)
{
    p_text(p, j->charger_id);
    p_text(p, j->in.security_event.kind);
    p_text(p, j->in.security_event.detail);
    p_int(p, job_ms(j));
}

/* A bigint parameter, SQL NULL for 0 (ids and times that are not known yet). */
static void p_int_or_null(struct params *p, int64_t v)
{
    if (v)
        p_int(p, v);
    else
        p_text(p, NULL);
}

static void params_command(const struct store_job *j, struct params *p)
{
    const struct store_command *c = &j->in.command;
    p_text(p, c->id);
    p_text(p, j->charger_id);
    p_text(p, c->action);
    p_text(p, c->payload);
    p_text(p, c->state);
    p_text(p, c->outcome);
    p_text(p, c->response);
    p_text(p, c->status);
    p_text(p, c->error_code);
    p_text(p, c->error_description);
    p_int_or_null(p, c->session_id);
    p_int_or_null(p, c->transaction_id);
    p_int_or_null(p, c->api_key_id);
    p_text(p, c->request_id);
    p_int_or_null(p, c->created_ms);
    p_int_or_null(p, c->sent_ms);
    p_int_or_null(p, c->answered_ms);
    p_int_or_null(p, c->completed_ms);
}

static void params_charger_id(const struct store_job *j, struct params *p)
{
    p_text(p, j->charger_id);
}

static void read_charger(struct store_job *j, const PGresult *r)
{
    memset(&j->out.charger, 0, sizeof j->out.charger);
    if (PQntuples(r) == 0) {
        str_copy(j->out.charger.id, sizeof j->out.charger.id, j->charger_id);
        j->out.charger.deleted = true;
        return;
    }
    store_pg_charger_from_row(r, 0, &j->out.charger);
}

static void params_none(const struct store_job *j, struct params *p)
{
    (void)j, (void)p;
}

static void read_chargers(struct store_job *j, const PGresult *r)
{
    size_t n = (size_t)PQntuples(r);
    free(j->out.chargers.items);
    j->out.chargers.items = xcalloc(n + 1, sizeof *j->out.chargers.items);
    j->out.chargers.n = n;
    for (size_t i = 0; i < n; i++)
        store_pg_charger_from_row(r, (int)i, &j->out.chargers.items[i]);
}

static void params_apikey_id(const struct store_job *j, struct params *p)
{
    p_int(p, j->in.apikey_id);
}

static void read_apikey(struct store_job *j, const PGresult *r)
{
    store_apikey_clear(&j->out.apikey);
    if (PQntuples(r) == 0) {
        j->out.apikey.id = j->in.apikey_id;
        j->out.apikey.deleted = true;
        return;
    }
    store_pg_apikey_from_row(r, 0, &j->out.apikey);
}

static void read_sql(struct store_job *j, const PGresult *r)
{
    store_job_clear_sql_out(j);         /* a re-run after a failed batch */
    j->out.sql.ntuples = PQntuples(r);
    j->out.sql.nfields = PQnfields(r);
    size_t n = (size_t)j->out.sql.ntuples * (size_t)j->out.sql.nfields;
    if (n == 0)
        return;
    j->out.sql.values = xcalloc(n, sizeof(char *));
    for (int row = 0; row < j->out.sql.ntuples; row++)
        for (int col = 0; col < j->out.sql.nfields; col++)
            if (!PQgetisnull(r, row, col))
                j->out.sql.values[(size_t)row * (size_t)j->out.sql.nfields + (size_t)col] =
                    xstrdup(PQgetvalue(r, row, col));
}

/* One meter message (MeterValues, or StopTransaction's transactionData). */
static void meter_add(struct batch *b, uint32_t job_index, const struct store_job *j,
                      uint64_t digest, const int *connector, int32_t tx, bool has_tx,
                      const struct ocpp_meter_value *v, size_t n)
{
    struct arr *a = b->arrays;
    if (b->nmeter == b->capmeter) {
        b->capmeter = b->capmeter ? b->capmeter * 2 : 1024;
        b->meter_jobs = xrealloc(b->meter_jobs, b->capmeter * sizeof *b->meter_jobs);
    }
    b->meter_jobs[b->nmeter++] = job_index;
    int64_t ord = (int64_t)(b->nmeter - b->group_first);

    arr_text(&a[MA_CHARGER], j->charger_id);
    arr_int(&a[MA_DIGEST], (int64_t)digest);
    if (connector)
        arr_int(&a[MA_CONNECTOR], *connector);
    else
        arr_null(&a[MA_CONNECTOR]);
    if (has_tx)
        arr_int(&a[MA_TX], tx);
    else
        arr_null(&a[MA_TX]);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < v[i].n_sampled; k++) {
            const struct ocpp_sampled_value *sv = &v[i].sampled[k];
            arr_int(&a[MA_MSG], ord);
            arr_int(&a[MA_TS], v[i].timestamp_ms);
            arr_text(&a[MA_VALUE], sv->value ? sv->value : "");
            arr_text(&a[MA_MEASURAND], sv->measurand);
            arr_text(&a[MA_UNIT], sv->unit);
            arr_text(&a[MA_CONTEXT], sv->context);
            arr_text(&a[MA_FORMAT], sv->format);
            if (sv->phase[0])
                arr_text(&a[MA_PHASE], sv->phase);
            else
                arr_null(&a[MA_PHASE]);
            arr_text(&a[MA_LOCATION], sv->location);
        }
    }
}

static void meter_meter_values(struct batch *b, uint32_t idx, const struct store_job *j)
{
    const struct ocpp_meter_values_req *m = &j->in.meter_values;
    meter_add(b, idx, j, m->digest, &m->connector_id, m->transaction_id, m->has_transaction_id,
              m->values, m->n_values);
}

static void meter_stop_tx(struct batch *b, uint32_t idx, const struct store_job *j)
{
    const struct ocpp_stop_tx_req *st = &j->in.stop_tx;
    if (st->n_values > 0)
        meter_add(b, idx, j, st->digest, NULL, st->transaction_id, true, st->values, st->n_values);
}

static bool send_sql_job(struct store *s, uint32_t idx);

/*
 * Per op: the prepared statement (made at connect as "ocppgw_<op name>"),
 * how its parameters are filled, how its row is read, and what it adds to
 * the batch's meter call. Exactly one of params/params_arr/send is set,
 * unless the op only contributes meter values.
 */
static const struct op_def {
    const char *sql;
    void (*params)(const struct store_job *j, struct params *p);
    void (*params_arr)(const struct store_job *j, struct params *p, struct arr *scratch);
    bool (*send)(struct store *s, uint32_t idx);
    void (*read)(struct store_job *j, const PGresult *r);
    void (*meter)(struct batch *b, uint32_t idx, const struct store_job *j);
} ops[STORE_OP_COUNT] = {
    [STORE_OP_CHARGER_CONNECTED] = {
        .sql = "SELECT ocppgw_charger_connected($1, $2::boolean, $3::bigint, $4)",
        .params = params_connected },
    [STORE_OP_CHARGER_DISCONNECTED] = {
        .sql = "SELECT ocppgw_charger_disconnected($1, $2::bigint, $3::bigint, $4)",
        .params = params_disconnected },
    [STORE_OP_LAST_SEEN] = {
        .sql = "SELECT ocppgw_last_seen($1::text[], $2::bigint[])",
        .params_arr = params_last_seen },
    [STORE_OP_BOOT] = {
        .sql = "SELECT ocppgw_boot($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::bigint)",
        .params = params_boot },
    [STORE_OP_STATUS] = {
        .sql = "SELECT ocppgw_status($1, $2::integer, $3, $4, $5, $6, $7, $8::bigint, $9::bigint)",
        .params = params_status },
    [STORE_OP_AUTHORIZE] = {
        .sql = "SELECT status, expiry_ms, parent_id_tag FROM ocppgw_id_tag_info($1, $2::boolean)",
        .params = params_authorize, .read = read_authorize },
    [STORE_OP_START_TX] = {
        .sql = "SELECT session_id, transaction_id, existing, status, expiry_ms, parent_id_tag"
        " FROM ocppgw_start_tx($1, $2::integer, $3, $4::bigint, $5::bigint, $6::integer,"
        " $7::integer, $8::boolean)",
        .params = params_start_tx, .read = read_start_tx },
    [STORE_OP_STOP_TX] = {
        .sql = "SELECT outcome, session_id, status, expiry_ms, parent_id_tag"
        " FROM ocppgw_stop_tx($1, $2::integer, $3, $4::bigint, $5::bigint, $6)",
        .params = params_stop_tx, .read = read_stop_tx, .meter = meter_stop_tx },
    [STORE_OP_METER_VALUES] = { .meter = meter_meter_values },
    [STORE_OP_DATA_TRANSFER] = {
        .sql = "SELECT ocppgw_data_transfer($1, $2, $3, $4, $5::bigint)",
        .params = params_data_transfer },
    [STORE_OP_FIRMWARE_STATUS] = {
        .sql = "SELECT ocppgw_fw_diag_status($1, 'firmware', $2, $3::bigint)",
        .params = params_fw_diag_status },
    [STORE_OP_DIAGNOSTICS_STATUS] = {
        .sql = "SELECT ocppgw_fw_diag_status($1, 'diagnostics', $2, $3::bigint)",
        .params = params_fw_diag_status },
    [STORE_OP_SECURITY_EVENT] = {
        .sql = "SELECT ocppgw_charger_event($1, $2, $3, $4::bigint)",
        .params = params_security_event },
    [STORE_OP_CHARGER_CHANGED] = {
        .sql = "SELECT " STORE_CHARGER_COLUMNS " FROM chargers WHERE id = $1",
        .params = params_charger_id, .read = read_charger },
    [STORE_OP_SQL] = { .send = send_sql_job, .read = read_sql },
    [STORE_OP_APIKEY_CHANGED] = {
        .sql = "SELECT " STORE_APIKEY_COLUMNS " FROM api_keys WHERE id = $1::bigint",
        .params = params_apikey_id, .read = read_apikey },
    [STORE_OP_SQL_BEHIND] = { .send = send_sql_job, .read = read_sql },
    [STORE_OP_CHARGERS_ALL] = {
        .sql = "SELECT " STORE_CHARGER_COLUMNS " FROM chargers ORDER BY id",
        .params = params_none, .read = read_chargers },
    /* created, then ended: the second write updates what can change; an ended row stays ended */
    [STORE_OP_COMMAND] = {
        .sql = "INSERT INTO commands AS k (id, charger_id, action, payload, state, outcome, response,"
        " response_status, error_code, error_description, session_id, transaction_id, api_key_id,"
        " request_id, created_at, sent_at, answered_at, completed_at)"
        " VALUES ($1::uuid, $2, $3, $4::jsonb, $5, $6, $7::jsonb, $8, $9, $10, $11::bigint,"
        " $12::integer, $13::bigint, $14, coalesce(ocppgw_ts($15::bigint), now()),"
        " ocppgw_ts($16::bigint), ocppgw_ts($17::bigint), ocppgw_ts($18::bigint))"
        " ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, outcome = EXCLUDED.outcome,"
        " response = EXCLUDED.response, response_status = EXCLUDED.response_status,"
        " error_code = EXCLUDED.error_code, error_description = EXCLUDED.error_description,"
        " session_id = EXCLUDED.session_id, transaction_id = EXCLUDED.transaction_id,"
        " sent_at = EXCLUDED.sent_at, answered_at = EXCLUDED.answered_at,"
        " completed_at = EXCLUDED.completed_at"
        " WHERE k.state NOT IN ('completed', 'failed') OR EXCLUDED.state IN ('completed', 'failed')",
        .params = params_command },
};

#define METER_STMT "ocppgw_meter_batch"
#define METER_SQL \
    "SELECT ord, duplicate, session_id FROM ocppgw_meter_batch($1::text[], $2::bigint[]," \
    " $3::integer[], $4::integer[], $5::integer[], $6::bigint[], $7::text[], $8::text[]," \
    " $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])"

static void op_stmt_name(enum store_op op, char *buf, size_t cap)
{
    snprintf(buf, cap, "ocppgw_%s", store_op_name(op));
}

/* ------------------------------------------------------------------ shared with admin.c */

void store_pg_charger_from_row(const PGresult *r, int row, struct store_charger *out)
{
    memset(out, 0, sizeof *out);
    str_copy(out->id, sizeof out->id, PQgetvalue(r, row, 0));
    str_copy(out->auth_hash, sizeof out->auth_hash, PQgetvalue(r, row, 1));
    out->security_profile = atoi(PQgetvalue(r, row, 2));
    str_copy(out->registration, sizeof out->registration, PQgetvalue(r, row, 3));
}

static char *dup_or_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : xstrdup(PQgetvalue(r, row, col));
}

void store_pg_apikey_from_row(const PGresult *r, int row, struct store_apikey *out)
{
    memset(out, 0, sizeof *out);
    out->id = get_int(r, row, 0);
    str_copy(out->name, sizeof out->name, PQgetvalue(r, row, 1));
    str_copy(out->key_hash, sizeof out->key_hash, PQgetvalue(r, row, 2));
    out->scopes_json = dup_or_null(r, row, 3);
    out->charger_ids_json = dup_or_null(r, row, 4);
    out->site_ids_json = dup_or_null(r, row, 5);
    out->expires_ms = get_int(r, row, 6);
    out->deleted = PQgetvalue(r, row, 7)[0] == 't';
}

bool store_pg_conninfo_valid(const char *conninfo)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
    PQconninfoFree(opts);
    PQfreemem(err);                 /* may quote the string: never shown */
    return opts != NULL;
}

PGconn *store_pg_connect(const char *conninfo, const char *application_name, bool async)
{
    /* entries before "dbname" are defaults: the expanded conninfo overrides them */
    const char *const keys[] = { "application_name", "keepalives", "keepalives_idle",
                                 "keepalives_interval", "keepalives_count", "connect_timeout",
                                 "dbname", NULL };
    const char *const vals[] = { application_name, "1", "30", "10", "3", "10", conninfo, NULL };
    PGconn *c = async ? PQconnectStartParams(keys, vals, 1) : PQconnectdbParams(keys, vals, 1);
    if (!c) {
        log_error(NULL, "store: out of memory starting a database connection");
        abort();
    }
    return c;
}

static void notice_to_log(void *arg, const char *message)
{
    (void)arg;
    char line[256];
    store_pg_error_line(message, line, sizeof line);
    log_debug(NULL, "store: server says: %s", line);
}

void store_pg_quiet_notices(PGconn *conn)
{
    PQsetNoticeProcessor(conn, notice_to_log, NULL);
}

void store_pg_error_line(const char *message, char *buf, size_t cap)
{
    if (!message || !*message)
        message = "unknown error";
    size_t n = strcspn(message, "\n");
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, message, n);
    buf[n] = '\0';
}

/* ------------------------------------------------------------------ queues */

static void kick(struct store *s)
{
    uint64_t one = 1;
    ssize_t w = write(s->efd, &one, sizeof one);
    (void)w;                /* EAGAIN: the counter is already non-zero */
}

static void drain_efd(struct store *s)
{
    uint64_t v;
    ssize_t r = read(s->efd, &v, sizeof v);
    (void)r;
}

/* Puts a list of finished jobs on the completion list and wakes the loop. */
static void complete(struct store *s, struct job_list *l)
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
static void fail_queued(struct store *s, bool durable_only)
{
    struct job_list failed = { 0 }, kept = { 0 };
    pthread_mutex_lock(&s->lock);
    struct store_job *job;
    while ((job = list_pop(&s->queue)))
        list_push(!durable_only || store_op_is_durable(job->op) ? &failed : &kept, job);
    s->queue = kept;
    atomic_store(&s->depth, kept.n);
    pthread_mutex_unlock(&s->lock);
    for (job = failed.head; job; job = job->next) {
        job->status = STORE_ERR_UNAVAILABLE;
        metrics_store_rejected();
    }
    complete(s, &failed);
}

/* ------------------------------------------------------------------ I/O */

static void fault_tick(struct store *s)
{
    if (atomic_load(&s->fail_io_after) > 0 && atomic_fetch_sub(&s->fail_io_after, 1) == 1)
        shutdown(PQsocket(s->conn), SHUT_RDWR);
}

void store_test_fail_io_after(struct store *s, long nth)
{
    atomic_store(&s->fail_io_after, nth);
}

/* Waits for the socket (readable, or writable too) and reads what came. */
static bool pump(struct store *s, bool want_write)
{
    fault_tick(s);
    struct pollfd p = { .fd = PQsocket(s->conn), .events = POLLIN | (want_write ? POLLOUT : 0) };
    if (p.fd < 0)
        return false;
    int rc;
    do
        rc = poll(&p, 1, STORE_IO_TIMEOUT_MS);
    while (rc < 0 && errno == EINTR);
    if (rc == 0) {
        snprintf(s->io_error, sizeof s->io_error, "no answer from the server for %d s",
                 STORE_IO_TIMEOUT_MS / 1000);
        return false;
    }
    if (rc < 0)
        return false;
    if ((p.revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(s->conn))
        return false;
    return PQstatus(s->conn) == CONNECTION_OK;
}

/* The next result of the pipeline, flushing and reading as needed. */
static PGresult *next_result(struct store *s, bool *lost)
{
    for (;;) {
        int f = PQflush(s->conn);
        if (f < 0) {
            *lost = true;
            return NULL;
        }
        if (!PQisBusy(s->conn))
            return PQgetResult(s->conn);
        if (!pump(s, f == 1)) {
            *lost = true;
            return NULL;
        }
    }
}

/* ------------------------------------------------------------------ pipeline */

static void batch_reset(struct batch *b)
{
    b->nsteps = b->next = b->nsegs = b->nmeter = 0;
    b->commit_us = 0;
}

static void add_step(struct batch *b, enum step_kind kind, uint32_t arg)
{
    if (b->nsteps == b->capsteps) {
        b->capsteps = b->capsteps ? b->capsteps * 2 : 1024;
        b->steps = xrealloc(b->steps, b->capsteps * sizeof *b->steps);
    }
    b->steps[b->nsteps++] = (struct step){ kind, (uint32_t)(b->nsegs - 1), arg };
}

static void add_segment(struct batch *b, uint32_t from, uint32_t to, bool explicit_tx)
{
    if (b->nsegs == b->capsegs) {
        b->capsegs = b->capsegs ? b->capsegs * 2 : 64;
        b->segs = xrealloc(b->segs, b->capsegs * sizeof *b->segs);
    }
    b->segs[b->nsegs++] = (struct segment){ .from = from, .to = to, .explicit_tx = explicit_tx };
}

static bool send_ctl(struct store *s, const char *sql, enum step_kind kind)
{
    fault_tick(s);
    if (!PQsendQueryParams(s->conn, sql, 0, NULL, NULL, NULL, NULL, 0))
        return false;
    add_step(&s->batch, kind, 0);
    return true;
}

static bool send_prepared(struct store *s, const char *name, const struct params *p,
                          enum step_kind kind, uint32_t arg)
{
    fault_tick(s);
    if (!PQsendQueryPrepared(s->conn, name, p->n, p->v, NULL, NULL, 0))
        return false;
    add_step(&s->batch, kind, arg);
    return true;
}

static struct sql_stmt *sql_lookup(struct store *s, const char *sql)
{
    for (size_t i = 0; i < s->nsqls; i++)
        if (s->sqls[i].sql == sql)
            return &s->sqls[i];
    if (s->nsqls == s->capsqls) {
        s->capsqls = s->capsqls ? s->capsqls * 2 : 16;
        s->sqls = xrealloc(s->sqls, s->capsqls * sizeof *s->sqls);
    }
    struct sql_stmt *st = &s->sqls[s->nsqls];
    st->sql = sql;
    snprintf(st->name, sizeof st->name, "ocppgw_sql_%zu", s->nsqls);
    st->state = SQL_UNPREPARED;
    s->nsqls++;
    return st;
}

/* STORE_OP_SQL: prepared lazily on first use on this connection. */
static bool send_sql_job(struct store *s, uint32_t idx)
{
    struct store_job *j = s->batch.jobs[idx];
    if (j->in.sql.nparams < 0 || (j->in.sql.nparams > 0 && !j->in.sql.params))
        j->in.sql.nparams = 0;
    struct sql_stmt *st = sql_lookup(s, j->in.sql.sql);
    if (st->state == SQL_UNPREPARED) {
        fault_tick(s);
        if (!PQsendPrepare(s->conn, st->name, st->sql, 0, NULL))
            return false;
        add_step(&s->batch, STEP_PARSE, (uint32_t)(st - s->sqls));
        st->state = SQL_PREPARING;
    }
    fault_tick(s);
    if (!PQsendQueryPrepared(s->conn, st->name, j->in.sql.nparams,
                             (const char *const *)j->in.sql.params, NULL, NULL, 0))
        return false;
    add_step(&s->batch, STEP_JOB, idx);
    return true;
}

static bool send_job(struct store *s, uint32_t idx)
{
    struct batch *b = &s->batch;
    struct store_job *j = b->jobs[idx];
    const struct op_def *d = &ops[j->op];
    if (d->meter)
        d->meter(b, idx, j);
    if (d->send)
        return d->send(s, idx);
    if (!d->sql)
        return true;
    struct params p = { 0 };
    if (d->params_arr)
        d->params_arr(j, &p, b->scratch);
    else
        d->params(j, &p);
    char name[48];
    op_stmt_name(j->op, name, sizeof name);
    return send_prepared(s, name, &p, STEP_JOB, idx);
}

static void meter_group_begin(struct batch *b)
{
    b->group_first = b->nmeter;
    for (int i = 0; i < MA_COUNT; i++)
        arr_reset(&b->arrays[i]);
}

static bool meter_group_send(struct store *s)
{
    struct batch *b = &s->batch;
    if (b->nmeter == b->group_first)
        return true;
    struct params p = { .n = MA_COUNT };
    for (int i = 0; i < MA_COUNT; i++)
        p.v[i] = arr_done(&b->arrays[i]);
    return send_prepared(s, METER_STMT, &p, STEP_METER, (uint32_t)b->group_first);
}

/* Jobs [from, to) as one transaction, ended by a Sync. */
static bool send_segment(struct store *s, uint32_t from, uint32_t to, bool explicit_tx)
{
    struct batch *b = &s->batch;
    add_segment(b, from, to, explicit_tx);
    if (explicit_tx && !send_ctl(s, "BEGIN", STEP_CTL))
        return false;
    meter_group_begin(b);
    for (uint32_t i = from; i < to; i++)
        if (!send_job(s, i))
            return false;
    if (!meter_group_send(s))
        return false;
    if (explicit_tx && !send_ctl(s, "COMMIT", STEP_COMMIT))
        return false;
    if (!PQpipelineSync(s->conn))
        return false;
    add_step(b, STEP_SYNC, 0);
    return PQflush(s->conn) >= 0;
}

static void read_meter(struct batch *b, uint32_t first, const PGresult *r)
{
    for (int row = 0; row < PQntuples(r); row++) {
        int64_t ord = get_int(r, row, 0);
        if (ord < 1 || first + (size_t)ord > b->nmeter)
            continue;
        struct store_job *j = b->jobs[b->meter_jobs[first + (size_t)ord - 1]];
        if (j->op != STORE_OP_METER_VALUES)
            continue;
        j->out.meter_values.duplicate = PQgetvalue(r, row, 1)[0] == 't';
        j->out.meter_values.session_id = get_int(r, row, 2);
    }
}

static void segment_error(struct segment *seg, const PGresult *r)
{
    if (seg->failed && seg->sqlstate[0])
        return;
    seg->failed = true;
    if (PQresultStatus(r) != PGRES_FATAL_ERROR)
        return;
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    str_copy(seg->sqlstate, sizeof seg->sqlstate, state ? state : "");
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    store_pg_error_line(msg ? msg : PQresultErrorMessage(r), seg->message, sizeof seg->message);
}

static void on_result(struct store *s, const struct step *st, const PGresult *r)
{
    struct batch *b = &s->batch;
    struct segment *seg = &b->segs[st->seg];
    ExecStatusType rs = PQresultStatus(r);
    if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK) {
        segment_error(seg, r);
        if (st->kind == STEP_PARSE)
            s->sqls[st->arg].state = SQL_UNPREPARED;
        return;
    }
    switch (st->kind) {
    case STEP_CTL:
    case STEP_SYNC:
        break;
    case STEP_COMMIT:
        /* COMMIT of a failed transaction answers ROLLBACK, also with COMMAND_OK */
        if (strcmp(PQcmdStatus((PGresult *)r), "COMMIT") != 0) {
            seg->failed = true;
            break;
        }
        seg->committed = true;
        b->commit_us = time_mono_us();
        break;
    case STEP_PARSE:
        s->sqls[st->arg].state = SQL_READY;
        break;
    case STEP_JOB: {
        struct store_job *j = b->jobs[st->arg];
        if (ops[j->op].read)
            ops[j->op].read(j, r);
        break;
    }
    case STEP_METER:
        read_meter(b, st->arg, r);
        break;
    }
}

/*
 * Reads every result the steps announce. False when the connection failed:
 * segments whose Sync arrived are settled, the rest are not.
 */
static bool read_steps(struct store *s)
{
    struct batch *b = &s->batch;
    bool lost = false;
    while (b->next < b->nsteps) {
        const struct step *st = &b->steps[b->next];
        PGresult *r = next_result(s, &lost);
        if (lost)
            return false;
        if (st->kind == STEP_SYNC) {
            /* an implicit transaction's commit error arrives before its Sync */
            int nulls = 0;
            while (!r || PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
                if (r) {
                    segment_error(&b->segs[st->seg], r);
                    PQclear(r);
                } else if (++nulls > 1) {
                    snprintf(s->io_error, sizeof s->io_error, "pipeline out of step at a sync");
                    return false;
                }
                if (PQstatus(s->conn) != CONNECTION_OK)
                    return false;
                r = next_result(s, &lost);
                if (lost)
                    return false;
            }
            PQclear(r);
            b->segs[st->seg].done = true;
            b->next++;
            continue;
        }
        if (!r) {
            snprintf(s->io_error, sizeof s->io_error, "pipeline out of step");
            return false;
        }
        on_result(s, st, r);
        PQclear(r);
        while ((r = next_result(s, &lost)))         /* the NULL that ends this statement */
            PQclear(r);
        if (lost || PQstatus(s->conn) != CONNECTION_OK)
            return false;
        b->next++;
    }
    return true;
}

static bool segment_ok(const struct segment *seg)
{
    return seg->done && !seg->failed && (!seg->explicit_tx || seg->committed);
}

/* Errors worth a retry (the charger's, after UNAVAILABLE) rather than this job's fault. */
static bool sqlstate_transient(const char *state)
{
    static const char *const classes[] = { "08", "40", "53", "57", "58", "XX" };
    if (!state[0])
        return true;
    if (strcmp(state, "08P01") == 0)     /* protocol violation: a bad job (wrong parameter count) */
        return false;
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
        if (strncmp(state, classes[i], 2) == 0)
            return true;
    return false;
}

/* ------------------------------------------------------------------ connection */

static void conn_close(struct store *s)
{
    if (s->conn)
        PQfinish(s->conn);
    s->conn = NULL;
    for (size_t i = 0; i < s->nsqls; i++)
        s->sqls[i].state = SQL_UNPREPARED;
    notified_clear(&s->notified);       /* the loop reloads every charger after a reconnect */
    notified_clear(&s->notified_keys);  /* ... and every API key (REST store) */
}

/*
 * The one place the connection state changes: readiness, backoff and the
 * log line (one per change; failed retries while down only at debug).
 */
static void set_state(struct store *s, enum store_state to, const char *why)
{
    enum store_state from = s->state;
    switch (to) {
    case STORE_STATE_UP:
        atomic_store(&s->ready, true);
        if (from == STORE_STATE_STARTING)
            log_info(NULL, "store: connected to the database (server %d)", PQserverVersion(s->conn));
        else
            log_info(NULL, "store: %s to the database after %.1f s (attempt %u)",
                     s->ever_connected ? "reconnected" : "connected",
                     (double)(time_mono_us() - s->down_since_us) / 1e6, s->attempts + 1);
        s->ever_connected = true;
        s->attempts = 0;
        s->backoff_ms = 0;
        break;
    case STORE_STATE_DOWN:
        atomic_store(&s->ready, false);
        if (from == STORE_STATE_UP) {
            log_warn(NULL, "store: database connection lost (%s); reconnecting", why);
            s->backoff_ms = STORE_BACKOFF_MIN_MS;
            s->attempts = 0;
        } else {
            if (from == STORE_STATE_STARTING)
                log_warn(NULL, "store: database unavailable (%s); retrying", why);
            else
                log_debug(NULL, "store: connect attempt %u failed: %s", s->attempts + 1, why);
            s->attempts++;
            s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : STORE_BACKOFF_MIN_MS;
            if (s->backoff_ms > STORE_BACKOFF_MAX_MS)
                s->backoff_ms = STORE_BACKOFF_MAX_MS;
        }
        if (from != STORE_STATE_DOWN)
            s->down_since_us = time_mono_us();
        break;
    default:
        abort();
    }
    s->state = to;
}

static void conn_lost(struct store *s)
{
    char why[200];
    if (s->io_error[0])
        str_copy(why, sizeof why, s->io_error);
    else
        store_pg_error_line(PQerrorMessage(s->conn), why, sizeof why);
    s->io_error[0] = '\0';
    set_state(s, STORE_STATE_DOWN, why);
    conn_close(s);
    fail_queued(s, true);
}

/*
 * "<id> gone" on the API key channel: revoked or deleted. Completed at once
 * (no row to load), so the next request with that key is refused.
 */
static bool apikey_gone(const char *payload, struct job_list *out)
{
    char *end = NULL;
    long long id = strtoll(payload, &end, 10);
    if (end == payload || strcmp(end, " gone") != 0)
        return false;
    struct store_job *job = store_job_new(STORE_OP_APIKEY_CHANGED);
    job->in.apikey_id = id;
    job->out.apikey.id = id;
    job->out.apikey.deleted = true;
    job->status = STORE_OK;
    list_push(out, job);
    return true;
}

static void collect_notifies(struct store *s)
{
    PGnotify *n;
    struct job_list gone = { 0 };
    while ((n = PQnotifies(s->conn))) {
        if (strcmp(n->relname, STORE_CHANNEL) == 0)
            notified_push(&s->notified, n->extra);
        else if (strcmp(n->relname, STORE_CHANNEL_APIKEY) == 0 && !apikey_gone(n->extra, &gone))
            notified_push(&s->notified_keys, n->extra);
        PQfreemem(n);
    }
    complete(s, &gone);
}

/* Drives PQconnectPoll; gives up on timeout or when the store is stopping. */
static bool connect_poll(struct store *s, PGconn *c, char *err, size_t cap)
{
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    int64_t deadline = time_mono_us() + (int64_t)STORE_CONNECT_TIMEOUT_MS * 1000;
    while (PQstatus(c) != CONNECTION_BAD) {
        if (st == PGRES_POLLING_OK)
            return true;
        if (st == PGRES_POLLING_FAILED)
            break;
        int64_t left_ms = (deadline - time_mono_us()) / 1000;
        if (left_ms <= 0) {
            snprintf(err, cap, "timed out after %d s", STORE_CONNECT_TIMEOUT_MS / 1000);
            return false;
        }
        struct pollfd p[2] = {
            { .fd = PQsocket(c), .events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT },
            { .fd = s->efd, .events = POLLIN },
        };
        int rc = poll(p, 2, (int)left_ms);
        if (rc < 0 && errno != EINTR)
            break;
        if (rc > 0 && p[1].revents) {
            drain_efd(s);
            if (atomic_load(&s->stopping)) {
                snprintf(err, cap, "stopping");
                return false;
            }
        }
        if (rc > 0 && p[0].revents)
            st = PQconnectPoll(c);
    }
    store_pg_error_line(PQerrorMessage(c), err, cap);
    return false;
}

/* LISTEN and every op's prepared statement, in one pipeline round trip. */
static bool conn_setup(struct store *s, char *err, size_t cap)
{
    struct batch *b = &s->batch;
    batch_reset(b);
    add_segment(b, 0, 0, false);
    if ((s->listen & STORE_LISTEN_CHARGERS) && !send_ctl(s, "LISTEN " STORE_CHANNEL, STEP_CTL))
        goto io;
    if ((s->listen & STORE_LISTEN_APIKEYS) && !send_ctl(s, "LISTEN " STORE_CHANNEL_APIKEY, STEP_CTL))
        goto io;
    for (int op = 0; op < STORE_OP_COUNT; op++) {
        if (!ops[op].sql)
            continue;
        char name[48];
        op_stmt_name((enum store_op)op, name, sizeof name);
        if (!PQsendPrepare(s->conn, name, ops[op].sql, 0, NULL))
            goto io;
        add_step(b, STEP_CTL, 0);
    }
    if (!PQsendPrepare(s->conn, METER_STMT, METER_SQL, 0, NULL))
        goto io;
    add_step(b, STEP_CTL, 0);
    if (!PQpipelineSync(s->conn))
        goto io;
    add_step(b, STEP_SYNC, 0);
    if (!read_steps(s))
        goto io;
    if (!segment_ok(&b->segs[0])) {
        snprintf(err, cap, "preparing statements: %s (are the migrations applied?)",
                 b->segs[0].message);
        return false;
    }
    return true;
io:
    store_pg_error_line(s->io_error[0] ? s->io_error : PQerrorMessage(s->conn), err, cap);
    s->io_error[0] = '\0';
    return false;
}

static bool conn_open(struct store *s)
{
    char err[256] = "";
    PGconn *c = store_pg_connect(s->conninfo, s->application_name, true);
    if (!connect_poll(s, c, err, sizeof err)) {
        PQfinish(c);
        goto fail;
    }
    store_pg_quiet_notices(c);
    if (PQsetnonblocking(c, 1) != 0 || !PQenterPipelineMode(c)) {
        store_pg_error_line(PQerrorMessage(c), err, sizeof err);
        PQfinish(c);
        goto fail;
    }
    s->conn = c;
    if (!conn_setup(s, err, sizeof err)) {
        conn_close(s);
        goto fail;
    }
    set_state(s, STORE_STATE_UP, NULL);
    return true;
fail:
    if (!atomic_load(&s->stopping))
        set_state(s, STORE_STATE_DOWN, err);
    return false;
}

/* Sleeps the backoff (half to full, random) unless the store is stopping. */
static void backoff_sleep(struct store *s)
{
    uint32_t r = 0;
    if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
        r = (uint32_t)time_mono_us();
    int half = s->backoff_ms / 2;
    int64_t deadline = time_mono_us() + (int64_t)(half + (int)(r % (uint32_t)(half + 1))) * 1000;
    for (;;) {
        int64_t left_ms = (deadline - time_mono_us()) / 1000;
        if (left_ms <= 0 || atomic_load(&s->stopping))
            return;
        struct pollfd p = { .fd = s->efd, .events = POLLIN };
        if (poll(&p, 1, (int)left_ms) > 0)
            drain_efd(s);
    }
}

/* ------------------------------------------------------------------ batches */

static bool take_batch(struct store *s)
{
    struct batch *b = &s->batch;
    b->n = 0;
    struct store_job *job;
    while (b->n < s->batch_max && (job = notified_pop(&s->notified)))
        b->jobs[b->n++] = job;
    while (b->n < s->batch_max && (job = notified_pop(&s->notified_keys)))
        b->jobs[b->n++] = job;
    pthread_mutex_lock(&s->lock);
    while (b->n < s->batch_max && (job = list_pop(&s->queue)))
        b->jobs[b->n++] = job;
    atomic_store(&s->depth, s->queue.n);
    pthread_mutex_unlock(&s->lock);
    return b->n > 0;
}

/* Hands the batch's jobs to the loop (CHARGER/APIKEY_CHANGED that failed are dropped). */
static void finish_batch(struct store *s)
{
    struct batch *b = &s->batch;
    struct job_list out = { 0 };
    for (uint32_t i = 0; i < b->n; i++) {
        struct store_job *j = b->jobs[i];
        if ((j->op == STORE_OP_CHARGER_CHANGED || j->op == STORE_OP_APIKEY_CHANGED) &&
            j->status != STORE_OK)
            store_job_free(j);
        else
            list_push(&out, j);
    }
    b->n = 0;
    complete(s, &out);
}

static void log_failed_job(const struct store_job *j, const struct segment *seg)
{
    log_warn(j->charger_id[0] ? j->charger_id : NULL, "store: %s failed: %s%s%s%s",
             store_op_name(j->op), seg->message[0] ? seg->message : "error",
             seg->sqlstate[0] ? " (SQLSTATE " : "", seg->sqlstate, seg->sqlstate[0] ? ")" : "");
}

/* After a statement error: each job again in its own transaction. False: connection lost. */
static bool run_isolated(struct store *s, int64_t t0)
{
    struct batch *b = &s->batch;
    batch_reset(b);
    /* the failed explicit transaction is still open: end it first */
    add_segment(b, 0, 0, false);
    bool ok = send_ctl(s, "ROLLBACK", STEP_CTL) && PQpipelineSync(s->conn);
    if (ok)
        add_step(b, STEP_SYNC, 0);
    for (uint32_t i = 0; ok && i < b->n; i++)
        ok = send_segment(s, i, i + 1, false);
    if (ok)
        ok = read_steps(s);

    size_t committed = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        struct store_job *j = b->jobs[i];
        const struct segment *seg = i + 1 < b->nsegs ? &b->segs[i + 1] : NULL;
        if (!seg || !seg->done) {
            j->status = STORE_ERR_UNAVAILABLE;
        } else if (segment_ok(seg)) {
            j->status = STORE_OK;
            committed++;
        } else if (sqlstate_transient(seg->sqlstate)) {
            j->status = STORE_ERR_UNAVAILABLE;
        } else {
            j->status = STORE_ERR_FAILED;
            if (j->op == STORE_OP_SQL || j->op == STORE_OP_SQL_BEHIND)
                str_copy(j->out.sql.sqlstate, sizeof j->out.sql.sqlstate, seg->sqlstate);
            log_failed_job(j, seg);
        }
    }
    if (committed)
        metrics_batch(committed, time_mono_us() - t0);
    return ok;
}

static void run_batch(struct store *s)
{
    struct batch *b = &s->batch;
    batch_reset(b);
    for (uint32_t i = 0; i < b->n; i++)
        b->jobs[i]->status = STORE_OK;
    int64_t t0 = time_mono_us();
    bool ok = send_segment(s, 0, b->n, true) && read_steps(s);
    if (!ok) {
        metrics_batch_failed();
        for (uint32_t i = 0; i < b->n; i++)
            b->jobs[i]->status = STORE_ERR_UNAVAILABLE;
    } else if (segment_ok(&b->segs[0])) {
        metrics_batch(b->n, b->commit_us - t0);
    } else {
        metrics_batch_failed();
        log_debug(NULL, "store: batch of %u failed (%s), retrying one job per transaction",
                  b->n, b->segs[0].message);
        ok = run_isolated(s, t0);
    }
    if (ok)
        collect_notifies(s);
    finish_batch(s);
    if (!ok)
        conn_lost(s);
}

/* Idle: sleeps until a job is submitted or the server sends something. */
static void wait_idle(struct store *s)
{
    struct pollfd p[2] = {
        { .fd = s->efd, .events = POLLIN },
        { .fd = PQsocket(s->conn), .events = POLLIN },
    };
    if (poll(p, 2, -1) <= 0)
        return;
    if (p[0].revents)
        drain_efd(s);
    if (p[1].revents) {
        if (!PQconsumeInput(s->conn) || PQstatus(s->conn) != CONNECTION_OK) {
            conn_lost(s);
            return;
        }
        collect_notifies(s);
    }
}

static bool queue_empty(struct store *s)
{
    pthread_mutex_lock(&s->lock);
    bool empty = s->queue.n == 0;
    pthread_mutex_unlock(&s->lock);
    return empty && !s->notified.n && !s->notified_keys.n;
}

static void *store_main(void *arg)
{
    struct store *s = arg;
    for (;;) {
        if (!s->conn) {
            if (atomic_load(&s->stopping))
                break;
            if (s->backoff_ms)
                backoff_sleep(s);
            if (atomic_load(&s->stopping))
                break;
            if (!conn_open(s)) {
                fail_queued(s, true);
                continue;
            }
        }
        if (take_batch(s)) {
            run_batch(s);
            continue;
        }
        if (atomic_load(&s->stopping) && queue_empty(s))
            break;
        wait_idle(s);
    }
    fail_queued(s, false);
    conn_close(s);
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
    s->batch.jobs = xcalloc(s->batch_max, sizeof *s->batch.jobs);
    s->listen = cfg->listen ? cfg->listen : STORE_LISTEN_CHARGERS;
    s->application_name = cfg->application_name ? cfg->application_name : "ocppgw-store";
    s->notified.op = STORE_OP_CHARGER_CHANGED;
    s->notified.pending = hmap_new();
    s->notified_keys.op = STORE_OP_APIKEY_CHANGED;
    s->notified_keys.pending = hmap_new();
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
    hmap_free(s->notified.pending);
    hmap_free(s->notified_keys.pending);
    free(s->batch.jobs);
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
        list_push(&one, job);
        complete(s, &one);
        return;
    }
    bool accepted = false, was_empty = false;
    pthread_mutex_lock(&s->lock);
    if (!atomic_load(&s->stopping) && s->queue.n < s->queue_max &&
        (atomic_load(&s->ready) || !store_op_is_durable(job->op))) {
        was_empty = s->queue.n == 0;
        list_push(&s->queue, job);
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
    list_push(&one, job);
    complete(s, &one);
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

void store_stop(struct store *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->stopping, true);
    pthread_mutex_unlock(&s->lock);
    kick(s);
    pthread_join(s->thread, NULL);

    struct store_job *job;
    while ((job = list_pop(&s->done)))
        store_job_free(job);
    while ((job = list_pop(&s->queue)))
        store_job_free(job);
    struct batch *b = &s->batch;
    for (int i = 0; i < MA_COUNT; i++)
        free(b->arrays[i].b.p);
    for (int i = 0; i < 2; i++)
        free(b->scratch[i].b.p);
    free(b->jobs);
    free(b->steps);
    free(b->segs);
    free(b->meter_jobs);
    free(s->sqls);
    free(s->notified.ids);
    hmap_free(s->notified.pending);
    free(s->notified_keys.ids);
    hmap_free(s->notified_keys.pending);
    close(s->efd);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->done_lock);
    free(s->conninfo);
    free(s);
}
