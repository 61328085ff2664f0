/*
 * The pipeline engine of the store thread: one round trip of libpq
 * pipeline mode per batch. A batch is a list of steps (each a result the
 * server owes us, in send order) grouped in segments (the statements
 * between two Syncs, one transaction each):
 *
 *     BEGIN, one statement per job (ops.c), one ocppgw_meter_batch() call
 *     carrying every meter value of the batch, COMMIT, Sync
 *
 * Reading walks the steps: each result goes to its job's row reader, the
 * meter call's rows to their MeterValues jobs, COMMIT settles the segment.
 * The connection is non-blocking: while waiting the engine keeps flushing
 * and reading (pump), so no batch size can deadlock the two socket buffers.
 * After a data error the batch is re-run one job per segment so that only
 * the bad job fails. The same machinery carries the set-up round trip of a
 * new connection (LISTENs and prepares). Why and when: thread.c's DESIGN.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libpq-fe.h>

#include "metrics.h"
#include "secret.h"
#include "store_internal.h"
#include "util.h"

#define SQLSTATE_QUERY_CANCELED "57014"    /* statement_timeout (or a cancel request) */
#define STORE_IO_TIMEOUT_MS 60000       /* no byte from the server for this long: connection lost */

/* Takes the arrays of enum MA_* (store_internal.h) in order. */
#define METER_STMT "ocppgw_meter_batch"
#define METER_SQL \
    "SELECT ord, duplicate, session_id FROM ocppgw_meter_batch($1::text[], $2::bigint[]," \
    " $3::integer[], $4::integer[], $5::integer[], $6::bigint[], $7::text[], $8::text[]," \
    " $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])"

/* ------------------------------------------------------------------ I/O */

/* The fault-injection seam (store_test_fail_io_after): counts socket operations down. */
static void fault_tick(struct store *s)
{
    if (atomic_load(&s->fail_io_after) > 0 && atomic_fetch_sub(&s->fail_io_after, 1) == 1)
        shutdown(PQsocket(s->conn), SHUT_RDWR);
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

/* ------------------------------------------------------------------ sending */

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

static bool send_prepared(struct store *s, const char *name, const struct store_params *p,
                          enum step_kind kind, uint32_t arg)
{
    fault_tick(s);
    if (!PQsendQueryPrepared(s->conn, name, p->n, p->v, NULL, NULL, 0))
        return false;
    add_step(&s->batch, kind, arg);
    return true;
}

/*
 * A plain password parameter becomes its PBKDF2 hash, here on the store
 * thread (never the loop's), once: a re-sent job keeps the hash.
 */
static void hash_password_param(struct store_job *j)
{
    int n = j->in.sql.password_param;
    j->in.sql.password_param = 0;
    if (n < 1 || n > j->in.sql.nparams || !j->in.sql.params[n - 1])
        return;
    char *plain = j->in.sql.params[n - 1];
    int iterations = j->in.sql.password_iterations > 0 ? j->in.sql.password_iterations
                                                       : SECRET_DEFAULT_ITERATIONS;
    j->in.sql.params[n - 1] = secret_hash_password(plain, iterations);
    /* kept (never sent) for the done callback, wiped when the job is freed */
    if (j->in.sql.password) {
        secret_wipe(j->in.sql.password, strlen(j->in.sql.password));
        free(j->in.sql.password);
    }
    j->in.sql.password = plain;
}

/* STORE_OP_SQL: prepared lazily on first use on this connection (stmt_cache.h). */
static bool send_sql_job(struct store *s, uint32_t idx)
{
    struct store_job *j = s->batch.jobs[idx];
    if (j->in.sql.nparams < 0 || (j->in.sql.nparams > 0 && !j->in.sql.params))
        j->in.sql.nparams = 0;
    if (j->in.sql.password_param)
        hash_password_param(j);
    struct stmt_entry *st = stmt_cache_get(&s->sqls, j->in.sql.sql);
    if (st->state == SQL_UNPREPARED) {
        fault_tick(s);
        if (!PQsendPrepare(s->conn, st->name, st->sql, 0, NULL))
            return false;
        add_step(&s->batch, STEP_PARSE, st->seq);
        st->state = SQL_PREPARING;
    }
    fault_tick(s);
    if (!PQsendQueryPrepared(s->conn, st->name, j->in.sql.nparams,
                             (const char *const *)j->in.sql.params, NULL, NULL, 0))
        return false;
    add_step(&s->batch, STEP_JOB, idx);
    return true;
}

/* One meter message (MeterValues, or StopTransaction's transactionData). */
static void meter_add(struct batch *b, uint32_t job_index, const struct store_job *j,
                      const struct store_meter_msg *m)
{
    struct store_arr *a = b->arrays;
    if (b->nmeter == b->capmeter) {
        b->capmeter = b->capmeter ? b->capmeter * 2 : 1024;
        b->meter_jobs = xrealloc(b->meter_jobs, b->capmeter * sizeof *b->meter_jobs);
    }
    b->meter_jobs[b->nmeter++] = job_index;
    int64_t ord = (int64_t)(b->nmeter - b->group_first);

    store_arr_text(&a[MA_CHARGER], j->charger_id);
    store_arr_int(&a[MA_DIGEST], (int64_t)m->digest);
    if (m->connector)
        store_arr_int(&a[MA_CONNECTOR], *m->connector);
    else
        store_arr_null(&a[MA_CONNECTOR]);
    if (m->has_tx)
        store_arr_int(&a[MA_TX], m->tx);
    else
        store_arr_null(&a[MA_TX]);
    const struct ocpp_meter_value *v = m->values;
    for (size_t i = 0; i < m->n; i++) {
        for (size_t k = 0; k < v[i].n_sampled; k++) {
            const struct ocpp_sampled_value *sv = &v[i].sampled[k];
            store_arr_int(&a[MA_MSG], ord);
            store_arr_int(&a[MA_TS], v[i].timestamp_ms);
            store_arr_text(&a[MA_VALUE], sv->value ? sv->value : "");
            store_arr_text(&a[MA_MEASURAND], sv->measurand);
            store_arr_text(&a[MA_UNIT], sv->unit);
            store_arr_text(&a[MA_CONTEXT], sv->context);
            store_arr_text(&a[MA_FORMAT], sv->format);
            if (sv->phase[0])
                store_arr_text(&a[MA_PHASE], sv->phase);
            else
                store_arr_null(&a[MA_PHASE]);
            store_arr_text(&a[MA_LOCATION], sv->location);
        }
    }
}

static bool send_job(struct store *s, uint32_t idx)
{
    struct batch *b = &s->batch;
    struct store_job *j = b->jobs[idx];
    const struct store_op_def *d = &store_ops[j->op];
    struct store_meter_msg m;
    if (d->meter && d->meter(j, &m))
        meter_add(b, idx, j, &m);
    if (d->sql_from_job)
        return send_sql_job(s, idx);
    if (!d->sql)
        return true;
    struct store_params p = { .node = s->node.on ? &s->node : NULL };
    if (d->params_arr)
        d->params_arr(j, &p, b->scratch);
    else
        d->params(j, &p);
    char name[48];
    store_op_stmt_name(j->op, name, sizeof name);
    return send_prepared(s, name, &p, STEP_JOB, idx);
}

static void meter_group_begin(struct batch *b)
{
    b->group_first = b->nmeter;
    for (int i = 0; i < MA_COUNT; i++)
        store_arr_reset(&b->arrays[i]);
}

static bool meter_group_send(struct store *s)
{
    struct batch *b = &s->batch;
    if (b->nmeter == b->group_first)
        return true;
    struct store_params p = { .n = MA_COUNT };
    for (int i = 0; i < MA_COUNT; i++)
        p.v[i] = store_arr_done(&b->arrays[i]);
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

/*
 * The statements the cache evicted (during the previous batch), each
 * DEALLOCATEd in a segment of its own before this batch's: outside any
 * transaction (after a failed batch's, an aborted one would refuse it until
 * the ROLLBACK) and failing alone (a name whose PREPARE failed is unknown to
 * the server; nothing else notices). Their results are read like any other
 * step and change no job.
 */
static bool send_deallocations(struct store *s)
{
    char name[STMT_NAME_MAX], sql[STMT_NAME_MAX + 16];
    while (stmt_cache_take_evicted(&s->sqls, name)) {
        snprintf(sql, sizeof sql, "DEALLOCATE %s", name);
        add_segment(&s->batch, 0, 0, false);
        if (!send_ctl(s, sql, STEP_CTL) || !PQpipelineSync(s->conn))
            return false;
        add_step(&s->batch, STEP_SYNC, 0);
    }
    return true;
}

/* ------------------------------------------------------------------ reading */

static void read_meter(struct batch *b, uint32_t first, const PGresult *r)
{
    for (int row = 0; row < PQntuples(r); row++) {
        int64_t ord = store_pg_int(r, row, 0);
        if (ord < 1 || first + (size_t)ord > b->nmeter)
            continue;
        struct store_job *j = b->jobs[b->meter_jobs[first + (size_t)ord - 1]];
        if (j->op != STORE_OP_METER_VALUES)
            continue;
        j->out.meter_values.duplicate = PQgetvalue(r, row, 1)[0] == 't';
        j->out.meter_values.session_id = store_pg_int(r, row, 2);
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
        if (st->kind == STEP_JOB && !seg->failed && rs == PGRES_FATAL_ERROR)
            seg->failed_job = st->arg + 1;
        segment_error(seg, r);
        if (st->kind == STEP_PARSE && stmt_cache_by_seq(&s->sqls, st->arg))
            stmt_cache_by_seq(&s->sqls, st->arg)->state = SQL_UNPREPARED;
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
    case STEP_PARSE: {
        struct stmt_entry *e = stmt_cache_by_seq(&s->sqls, st->arg);
        if (e)                      /* else evicted meanwhile: its DEALLOCATE is queued */
            e->state = SQL_READY;
        break;
    }
    case STEP_JOB: {
        struct store_job *j = b->jobs[st->arg];
        if (store_ops[j->op].read)
            store_ops[j->op].read(j, r);
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


/* ------------------------------------------------------------------ set-up */

bool store_pipeline_setup(struct store *s, const char *const *ctl, size_t nctl,
                          char *err, size_t cap)
{
    struct batch *b = &s->batch;
    batch_reset(b);
    add_segment(b, 0, 0, false);
    for (size_t i = 0; i < nctl; i++)
        if (!send_ctl(s, ctl[i], STEP_CTL))
            goto io;
    for (int op = 0; op < STORE_OP_COUNT; op++) {
        if (!store_ops[op].sql)
            continue;
        char name[48];
        store_op_stmt_name((enum store_op)op, name, sizeof name);
        if (!PQsendPrepare(s->conn, name, store_ops[op].sql, 0, NULL))
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

/* ------------------------------------------------------------------ batches */

/*
 * Test hook, for tests/integration/it_storm.c only: with the environment
 * variable OCPPGW_TEST_RELOAD_DELAY_MS set, the answer to a registry reload
 * read (STORE_OP_CHARGERS_ALL) is held back that long after its snapshot, so
 * that chargers auto-register deterministically between the snapshot and
 * core_registry_sync. Sleeps on the store thread, never on the loop.
 */
static void test_reload_delay(const struct batch *b)
{
    for (uint32_t i = 0; i < b->n; i++) {
        if (b->jobs[i]->op != STORE_OP_CHARGERS_ALL || b->jobs[i]->status != STORE_OK)
            continue;
        const char *v = getenv("OCPPGW_TEST_RELOAD_DELAY_MS");
        int ms = v ? atoi(v) : 0;
        if (ms > 0) {
            log_warn(NULL, "store: OCPPGW_TEST_RELOAD_DELAY_MS (a test hook): registry reload read, "
                           "answering in %d ms", ms);
            poll(NULL, 0, ms);
        }
        return;
    }
}

/*
 * Hands the batch's jobs to the loop (CHARGER/APIKEY_CHANGED that failed are
 * dropped); presence jobs stay with the thread (presence.c).
 */
static void finish_batch(struct store *s)
{
    struct batch *b = &s->batch;
    struct job_list out = { 0 };
    test_reload_delay(b);
    for (uint32_t i = 0; i < b->n; i++) {
        struct store_job *j = b->jobs[i];
        if (store_presence_op(j->op))
            store_presence_done(s, j);
        else if ((j->op == STORE_OP_CHARGER_CHANGED || j->op == STORE_OP_APIKEY_CHANGED ||
                  j->op == STORE_OP_SITE_CHANGED) &&
                 j->status != STORE_OK)
            store_job_free(j);
        else
            job_list_push(&out, j);
    }
    b->n = 0;
    store_complete(s, &out);
}

static void log_failed_job(const struct store_job *j, const struct segment *seg)
{
    log_warn(j->charger_id[0] ? j->charger_id : NULL, "store: %s failed: %s%s%s%s",
             store_op_name(j->op), seg->message[0] ? seg->message : "error",
             seg->sqlstate[0] ? " (SQLSTATE " : "", seg->sqlstate, seg->sqlstate[0] ? ")" : "");
}

/* A failed SQL job keeps the server's SQLSTATE (REST answers 57014, query_canceled, as QUERY_TIMEOUT). */
static void keep_sqlstate(struct store_job *j, const char *sqlstate)
{
    if (j->op == STORE_OP_SQL || j->op == STORE_OP_SQL_BEHIND)
        str_copy(j->out.sql.sqlstate, sizeof j->out.sql.sqlstate, sqlstate);
}

/*
 * After a statement error: each job again in its own transaction. A job
 * whose statement ran past statement_timeout (skip: 1 + its index, 0 =
 * none) is not run again: it would only wait as long once more; it fails
 * as unavailable with that SQLSTATE. False: connection lost.
 */
static bool run_isolated(struct store *s, int64_t t0, uint32_t skip)
{
    struct batch *b = &s->batch;
    batch_reset(b);
    /* the failed explicit transaction is still open: end it first */
    add_segment(b, 0, 0, false);
    bool ok = send_ctl(s, "ROLLBACK", STEP_CTL) && PQpipelineSync(s->conn);
    if (ok)
        add_step(b, STEP_SYNC, 0);
    for (uint32_t i = 0; ok && i < b->n; i++)
        ok = send_segment(s, i, i + 1 == skip ? i : i + 1, false);    /* the skipped: a bare Sync */
    if (ok)
        ok = read_steps(s);

    size_t committed = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        struct store_job *j = b->jobs[i];
        const struct segment *seg = i + 1 < b->nsegs ? &b->segs[i + 1] : NULL;
        if (i + 1 == skip) {
            j->status = STORE_ERR_UNAVAILABLE;
            keep_sqlstate(j, SQLSTATE_QUERY_CANCELED);
        } else if (!seg || !seg->done) {
            j->status = STORE_ERR_UNAVAILABLE;
        } else if (segment_ok(seg)) {
            j->status = STORE_OK;
            committed++;
        } else if (sqlstate_transient(seg->sqlstate)) {
            j->status = STORE_ERR_UNAVAILABLE;
            keep_sqlstate(j, seg->sqlstate);
        } else {
            j->status = STORE_ERR_FAILED;
            keep_sqlstate(j, seg->sqlstate);
            log_failed_job(j, seg);
        }
    }
    if (committed)
        metrics_batch(committed, time_mono_us() - t0);
    return ok;
}

void store_pipeline_run(struct store *s)
{
    struct batch *b = &s->batch;
    batch_reset(b);
    for (uint32_t i = 0; i < b->n; i++)
        b->jobs[i]->status = STORE_OK;
    int64_t t0 = time_mono_us();
    bool ok = send_deallocations(s);
    size_t main_seg = b->nsegs;
    ok = ok && send_segment(s, 0, b->n, true) && read_steps(s);
    if (!ok) {
        metrics_batch_failed();
        for (uint32_t i = 0; i < b->n; i++)
            b->jobs[i]->status = STORE_ERR_UNAVAILABLE;
    } else if (segment_ok(&b->segs[main_seg])) {
        metrics_batch(b->n, b->commit_us - t0);
    } else {
        metrics_batch_failed();
        log_debug(NULL, "store: batch of %u failed (%s), retrying one job per transaction",
                  b->n, b->segs[main_seg].message);
        const struct segment *seg = &b->segs[main_seg];
        bool timed_out = strcmp(seg->sqlstate, SQLSTATE_QUERY_CANCELED) == 0;
        ok = run_isolated(s, t0, timed_out ? seg->failed_job : 0);
    }
    if (ok)
        store_collect_notifies(s);
    finish_batch(s);
    if (!ok)
        store_conn_lost(s);
}


/* ------------------------------------------------------------------ lifetime */

void store_pipeline_init(struct store *s)
{
    s->batch.jobs = xcalloc(s->batch_max + STORE_PRESENCE_JOBS, sizeof *s->batch.jobs);
    stmt_cache_init(&s->sqls, s->sql_cache_max);
}

void store_pipeline_forget_prepared(struct store *s)
{
    stmt_cache_clear(&s->sqls);
}

void store_pipeline_free(struct store *s)
{
    struct batch *b = &s->batch;
    for (int i = 0; i < MA_COUNT; i++)
        store_arr_free(&b->arrays[i]);
    for (int i = 0; i < STORE_SCRATCH_ARRAYS; i++)
        store_arr_free(&b->scratch[i]);
    free(b->jobs);
    free(b->steps);
    free(b->segs);
    free(b->meter_jobs);
    stmt_cache_free(&s->sqls);
    *b = (struct batch){ 0 };
}
