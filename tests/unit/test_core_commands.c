/*
 * Unit tests of the core's commands (src/core/core_commands.c riding on the
 * outgoing-call slots of src/core/core_calls.c), driven through the
 * "commands" API of include/core.h with the fakes of
 * tests/unit/support/core_fakes.c: a clock that moves only when a test
 * advances it, a store whose jobs wait until the test completes them, and
 * recorded CALLs. The io hook command_done is recorded here (struct fx).
 *
 * Groups: refusal and ids; the stored rows and how long a command stays in
 * memory; the ways a command ends (answer, CALLERROR, invalid answer,
 * timeout, disconnect, shutdown); one CALL at a time and the queue bound;
 * the remote-start session wait; remote-stop dedup; the command_done hook;
 * callbacks that submit again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core.h"
#include "core_fakes.h"
#include "util.h"

#define T0 INT64_C(1700000000000)
#define ADDR "192.0.2.10"
#define ACCEPTED "{\"status\":\"Accepted\"}"
#define REJECTED "{\"status\":\"Rejected\"}"
#define RESET_SOFT "{\"type\":\"Soft\"}"

#define MAX_DONE 64

struct fx {
    struct core_fake f;             /* io ctx: command_done finds the fixture from it */
    struct core_config cfg;
    struct core *c;
    struct core_fake_cmd done[MAX_DONE]; /* every io->command_done call, in order */
    size_t n_done;
    void *scratch[64];
    size_t n_scratch;
};

static void fake_command_done(void *ctx, const struct core_command_view *v)
{
    struct fx *fx = (struct fx *)((char *)ctx - offsetof(struct fx, f));
    if (fx->n_done >= MAX_DONE) {
        fprintf(stderr, "test_core_commands: too many command_done calls\n");
        abort();
    }
    core_fake_record(&fx->done[fx->n_done++], v);
}

/*
 * Zeroed memory for callback state: freed in teardown after core_free, so a
 * callback the core runs late (shutdown, or after a failed assertion left
 * commands pending) never writes into a dead stack frame.
 */
static void *scratch(struct fx *fx, size_t n)
{
    assert_true(fx->n_scratch < sizeof fx->scratch / sizeof fx->scratch[0]);
    return fx->scratch[fx->n_scratch++] = xcalloc(1, n);
}

static struct core_fake_cmd *recs(struct fx *fx, size_t n)
{
    return scratch(fx, n * sizeof(struct core_fake_cmd));
}

static void new_core(struct fx *fx)
{
    struct core_io io = core_fake_io(&fx->f);
    io.command_done = fake_command_done;
    fx->c = core_new(&io, &fx->cfg);
}

static int setup(void **state)
{
    struct fx *fx = xcalloc(1, sizeof *fx);
    core_fake_init(&fx->f, T0);
    core_config_defaults(&fx->cfg);
    new_core(fx);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    core_free(fx->c);
    core_fake_fini(&fx->f);
    for (size_t i = 0; i < fx->n_scratch; i++)
        free(fx->scratch[i]);
    free(fx);
    return 0;
}

/* Recreates the core with fx->cfg (after a test changed it). */
static void restart(struct fx *fx)
{
    core_free(fx->c);
    core_fake_fini(&fx->f);
    core_fake_clear(&fx->f);
    fx->n_done = 0;
    new_core(fx);
}

static void add_charger(struct fx *fx, const char *id)
{
    struct store_charger row = { 0 };
    str_copy(row.id, sizeof row.id, id);
    str_copy(row.registration, sizeof row.registration, "Accepted");
    core_charger_upsert(fx->c, &row);
}

static uint64_t connect_charger(struct fx *fx, const char *id)
{
    assert_int_equal(core_fake_admit(fx->c, id, ADDR, NULL, NULL), CORE_ADMIT_OK);
    uint64_t conn = core_conn_open(fx->c, id, ADDR);
    assert_true(conn != 0);
    return conn;
}

/* A known profile-0 charger, connected. */
static uint64_t open_charger(struct fx *fx, const char *id)
{
    add_charger(fx, id);
    return connect_charger(fx, id);
}

/* ---- submitting ---- */

static struct core_command_req reset_req(const char *charger_id)
{
    return (struct core_command_req){
        .charger_id = charger_id,
        .action = OCPP_ACTION_RESET,
        .payload_json = RESET_SOFT,
    };
}

static enum core_call_err submit(struct fx *fx, const struct core_command_req *req,
                                 struct core_fake_cmd *rec, char *id, bool *joined)
{
    return core_command_submit(fx->c, req, rec ? core_fake_command_cb : NULL, rec, id, joined);
}

static enum core_call_err reset(struct fx *fx, const char *charger_id, struct core_fake_cmd *rec,
                                char *id)
{
    struct core_command_req req = reset_req(charger_id);
    return submit(fx, &req, rec, id, NULL);
}

static enum core_call_err remote_start(struct fx *fx, const char *charger_id, const char *tag,
                                       int connector, int wait_ms, struct core_fake_cmd *rec, char *id)
{
    char payload[96];
    if (connector > 0)
        snprintf(payload, sizeof payload, "{\"connectorId\":%d,\"idTag\":\"%s\"}", connector, tag);
    else
        snprintf(payload, sizeof payload, "{\"idTag\":\"%s\"}", tag);
    struct core_command_req req = {
        .charger_id = charger_id,
        .action = OCPP_ACTION_REMOTE_START_TRANSACTION,
        .payload_json = payload,
        .start_id_tag = tag,
        .start_connector_id = connector,
        .session_wait_ms = wait_ms,
    };
    return submit(fx, &req, rec, id, NULL);
}

static enum core_call_err remote_stop(struct fx *fx, const char *charger_id, int32_t tx,
                                      int64_t session, struct core_fake_cmd *rec, char *id, bool *joined)
{
    char payload[64];
    snprintf(payload, sizeof payload, "{\"transactionId\":%d}", (int)tx);
    struct core_command_req req = {
        .charger_id = charger_id,
        .action = OCPP_ACTION_REMOTE_STOP_TRANSACTION,
        .payload_json = payload,
        .stop_transaction_id = tx,
        .stop_session_id = session,
    };
    return submit(fx, &req, rec, id, joined);
}

/* ---- the charger's side ---- */

/* The last CALL sent to conn (the one in flight); fails the test if none. */
static const struct core_fake_call *last_call(struct fx *fx, uint64_t conn)
{
    for (size_t i = fx->f.n_calls; i > 0; i--)
        if (fx->f.calls[i - 1].conn_id == conn)
            return &fx->f.calls[i - 1];
    fail_msg("no CALL sent to connection %llu", (unsigned long long)conn);
    return NULL;
}

static size_t calls_to(struct fx *fx, uint64_t conn)
{
    size_t n = 0;
    for (size_t i = 0; i < fx->f.n_calls; i++)
        n += fx->f.calls[i].conn_id == conn;
    return n;
}

/* The charger answers the CALL in flight on conn with a valid CALLRESULT. */
static void answer(struct fx *fx, uint64_t conn, const char *payload, const char *status)
{
    core_fake_result(fx->c, conn, last_call(fx, conn)->msg_id, payload, status);
}

/* A StartTransaction from conn, committed by the store as a new session (or a retry: existing). */
static void session_started(struct fx *fx, uint64_t conn, const char *msg_id, int connector,
                            const char *tag, int64_t session_id, int32_t tx_id, bool existing)
{
    union ocpp_req r;
    memset(&r, 0, sizeof r);
    r.start_tx.connector_id = connector;
    str_copy(r.start_tx.id_tag, sizeof r.start_tx.id_tag, tag);
    r.start_tx.meter_start = 1000;
    r.start_tx.timestamp_ms = fx->f.now_ms;
    core_on_request(fx->c, conn, msg_id, OCPP_ACTION_START_TRANSACTION, &r);
    struct store_job *job = core_fake_take(&fx->f, STORE_OP_START_TX);
    assert_non_null(job);
    job->out.start_tx.session_id = session_id;
    job->out.start_tx.transaction_id = tx_id;
    job->out.start_tx.existing = existing;
    job->out.start_tx.info.status = OCPP_AUTH_ACCEPTED;
    core_fake_complete(fx->c, job, STORE_OK);
    assert_non_null(core_fake_conf_for(&fx->f, conn, msg_id));
}

/* A StopTransaction from conn, committed by the store with that outcome. */
static void session_stopped(struct fx *fx, uint64_t conn, const char *msg_id, int32_t tx_id,
                            int64_t session_id, enum store_stop_outcome outcome)
{
    union ocpp_req r;
    memset(&r, 0, sizeof r);
    r.stop_tx.transaction_id = tx_id;
    r.stop_tx.meter_stop = 9000;
    r.stop_tx.timestamp_ms = fx->f.now_ms;
    str_copy(r.stop_tx.reason, sizeof r.stop_tx.reason, "Remote");
    core_on_request(fx->c, conn, msg_id, OCPP_ACTION_STOP_TRANSACTION, &r);
    struct store_job *job = core_fake_take(&fx->f, STORE_OP_STOP_TX);
    assert_non_null(job);
    job->out.stop_tx.outcome = outcome;
    job->out.stop_tx.session_id = session_id;
    core_fake_complete(fx->c, job, STORE_OK);
    assert_non_null(core_fake_conf_for(&fx->f, conn, msg_id));
}

/* ---- the store's side: STORE_OP_COMMAND rows ---- */

static size_t rows_for(struct fx *fx, const char *id)
{
    size_t n = 0;
    struct store_job *job;
    for (size_t i = 0; (job = core_fake_job(&fx->f, STORE_OP_COMMAND, i)) != NULL; i++)
        n += strcmp(job->in.command.id, id) == 0;
    return n;
}

/* The nth (0-based) waiting row of command id, still at the fake store; NULL if none. */
static struct store_job *row_for(struct fx *fx, const char *id, size_t nth)
{
    struct store_job *job;
    for (size_t i = 0; (job = core_fake_job(&fx->f, STORE_OP_COMMAND, i)) != NULL; i++)
        if (strcmp(job->in.command.id, id) == 0 && nth-- == 0)
            return job;
    return NULL;
}

/*
 * The store writes the nth waiting row of command id (status st), out of
 * order if need be: core_fake_take only takes the first job of an op, so
 * this one is unlinked from the fake's array here.
 */
static void write_row(struct fx *fx, const char *id, size_t nth, enum store_status st)
{
    struct store_job *job = row_for(fx, id, nth);
    assert_non_null(job);
    size_t i = 0;
    while (fx->f.jobs[i] != job)
        i++;
    memmove(&fx->f.jobs[i], &fx->f.jobs[i + 1], (fx->f.n_jobs - i - 1) * sizeof fx->f.jobs[0]);
    fx->f.n_jobs--;
    core_fake_complete(fx->c, job, st);
}

/* The store writes every waiting command row, oldest first. */
static void write_all_rows(struct fx *fx)
{
    struct store_job *job;
    while ((job = core_fake_take(&fx->f, STORE_OP_COMMAND)) != NULL)
        core_fake_complete(fx->c, job, STORE_OK);
}

/* core_command_find into *out (zeroed first). */
static bool find(struct fx *fx, const char *id, struct core_fake_cmd *out)
{
    return core_fake_find(fx->c, id, out);
}

static bool is_hex(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
}

/* ================================================================ refusal, ids */

static void test_submit_refused_unknown_offline(void **state)
{
    struct fx *fx = *state;
    struct core_fake_cmd *r = recs(fx, 1);
    char id[CORE_CMD_ID_LEN + 1];
    bool joined = true;
    struct core_command_req req = reset_req("NOPE");
    assert_int_equal(submit(fx, &req, r, id, &joined), CORE_CALL_ERR_UNKNOWN_CHARGER);
    assert_false(joined);

    add_charger(fx, "CP-1");
    req = reset_req("CP-1");
    assert_int_equal(submit(fx, &req, r, id, NULL), CORE_CALL_ERR_OFFLINE);
    /* a remote stop and a remote start are refused the same way */
    assert_int_equal(remote_stop(fx, "CP-1", 5, 50, r, id, &joined), CORE_CALL_ERR_OFFLINE);
    assert_false(joined);
    assert_int_equal(remote_start(fx, "CP-1", "TAG", 1, 1000, r, id), CORE_CALL_ERR_OFFLINE);

    /* connected once, then gone */
    uint64_t conn = connect_charger(fx, "CP-1");
    core_conn_closed(fx->c, conn, "bye");
    assert_int_equal(submit(fx, &req, r, id, NULL), CORE_CALL_ERR_OFFLINE);

    assert_int_equal(r->n, 0);
    assert_int_equal(fx->f.n_calls, 0);
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_COMMAND), 0);
    assert_int_equal(core_commands_live(fx->c), 0);
    assert_int_equal(fx->n_done, 0);
}

static void check_uuidv7(const char *id, int64_t ms)
{
    assert_int_equal(strlen(id), CORE_CMD_ID_LEN);
    for (int i = 0; i < CORE_CMD_ID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(id[i], '-');
        else
            assert_true(is_hex(id[i]));
    }
    assert_int_equal(id[14], '7');                  /* version */
    assert_non_null(strchr("89ab", id[19]));        /* variant 10 */
    char ts[13];
    memcpy(ts, id, 8);
    memcpy(ts + 8, id + 9, 4);
    ts[12] = '\0';
    assert_int_equal((int64_t)strtoull(ts, NULL, 16), ms); /* 48-bit unix ms */
}

static void test_id_is_uuidv7(void **state)
{
    struct fx *fx = *state;
    open_charger(fx, "CP-1");
    char ids[6][CORE_CMD_ID_LEN + 1];
    for (int i = 0; i < 5; i++) {
        assert_int_equal(reset(fx, "CP-1", NULL, ids[i]), CORE_CALL_OK);
        check_uuidv7(ids[i], fx->f.now_ms);
        core_fake_advance(&fx->f, i == 2 ? 86400000 : 1);
    }
    /* time-ordered: later commands sort after earlier ones */
    for (int i = 1; i < 5; i++)
        assert_true(strcmp(ids[i - 1], ids[i]) < 0);
    /* two in the same millisecond differ */
    assert_int_equal(reset(fx, "CP-1", NULL, ids[5]), CORE_CALL_OK);
    char same[CORE_CMD_ID_LEN + 1];
    assert_int_equal(reset(fx, "CP-1", NULL, same), CORE_CALL_OK);
    assert_string_not_equal(same, ids[5]);
    assert_memory_equal(same, ids[5], 13);           /* same timestamp */
    for (int i = 0; i < 5; i++)
        assert_string_not_equal(same, ids[i]);

    /* the version and variant bits are forced whatever the random bytes are */
    static const uint32_t ones[] = { 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu };
    static const uint32_t zeros[] = { 0, 0, 0, 0 };
    char id[CORE_CMD_ID_LEN + 1];
    core_fake_script_random(&fx->f, ones, 4);
    assert_int_equal(reset(fx, "CP-1", NULL, id), CORE_CALL_OK);
    check_uuidv7(id, fx->f.now_ms);
    core_fake_script_random(&fx->f, zeros, 4);
    assert_int_equal(reset(fx, "CP-1", NULL, id), CORE_CALL_OK);
    check_uuidv7(id, fx->f.now_ms);
}

/* Ids made within one millisecond still sort in the order they were made. */
static void test_ids_ordered_within_a_ms(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    char prev[CORE_CMD_ID_LEN + 1] = "";
    for (int i = 0; i < 12; i++) {
        char id[CORE_CMD_ID_LEN + 1];
        struct core_fake_cmd *r = recs(fx, 1);
        assert_int_equal(reset(fx, "CP-1", r, id), CORE_CALL_OK);
        check_uuidv7(id, fx->f.now_ms);
        assert_true(strcmp(prev, id) < 0);
        memcpy(prev, id, sizeof id);
        if (i % 4 == 3) { /* keep the queue from filling: answer what is in flight */
            for (int k = 0; k < 4; k++)
                answer(fx, conn, ACCEPTED, "Accepted");
        }
    }
}

/* A StatusNotification from conn. */
static void status(struct fx *fx, uint64_t conn, int connector, const char *st)
{
    union ocpp_req r;
    memset(&r, 0, sizeof r);
    r.status.connector_id = connector;
    str_copy(r.status.status, sizeof r.status.status, st);
    str_copy(r.status.error_code, sizeof r.status.error_code, "NoError");
    core_on_request(fx->c, conn, "sn", OCPP_ACTION_STATUS_NOTIFICATION, &r);
}

/* Whether a remote start may be tried, from the statuses the charger sent. */
static void test_connector_startable(void **state)
{
    struct fx *fx = *state;
    char st[16];
    uint64_t conn = open_charger(fx, "CP-1");
    assert_true(core_connector_startable(fx->c, "CP-1", 1, st));  /* nothing known yet */
    assert_true(core_connector_startable(fx->c, "CP-9", 1, st));  /* unknown charger: the core says */
    status(fx, conn, 1, "Available");
    status(fx, conn, 2, "Charging");
    assert_true(core_connector_startable(fx->c, "CP-1", 1, st));
    assert_false(core_connector_startable(fx->c, "CP-1", 2, st));
    assert_string_equal(st, "Charging");
    assert_true(core_connector_startable(fx->c, "CP-1", 0, st));  /* connector 1 is free */
    assert_true(core_connector_startable(fx->c, "CP-1", 3, st));  /* never reported */
    status(fx, conn, 1, "Faulted");
    assert_false(core_connector_startable(fx->c, "CP-1", 1, st));
    assert_string_equal(st, "Faulted");
    assert_false(core_connector_startable(fx->c, "CP-1", 0, st)); /* every known one is out */
    status(fx, conn, 1, "Preparing");
    assert_true(core_connector_startable(fx->c, "CP-1", 1, st));
    status(fx, conn, 0, "Unavailable");                            /* the whole charger */
    assert_false(core_connector_startable(fx->c, "CP-1", 1, st));
    assert_string_equal(st, "Unavailable");
    /* a new connection forgets what the old one said */
    core_conn_closed(fx->c, conn, "test");
    open_charger(fx, "CP-1");
    assert_true(core_connector_startable(fx->c, "CP-1", 1, st));
}

/* ================================================================ rows and memory */

static void test_rows_at_creation_and_end(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_command_req req = reset_req("CP-1");
    req.api_key_id = 3;
    req.request_id = "req-1";
    char a[CORE_CMD_ID_LEN + 1], b[CORE_CMD_ID_LEN + 1];
    assert_int_equal(submit(fx, &req, NULL, a, NULL), CORE_CALL_OK);
    core_fake_advance(&fx->f, 5);
    req.request_id = NULL;
    assert_int_equal(submit(fx, &req, NULL, b, NULL), CORE_CALL_OK);
    assert_int_equal(core_commands_live(fx->c), 2);

    /* a row each at creation: a went out at once, b waits behind it */
    assert_int_equal(rows_for(fx, a), 1);
    assert_int_equal(rows_for(fx, b), 1);
    const struct store_command *row = &row_for(fx, a, 0)->in.command;
    assert_string_equal(row_for(fx, a, 0)->charger_id, "CP-1");
    assert_string_equal(row->id, a);
    assert_string_equal(row->action, "Reset");
    assert_string_equal(row->state, "sent");
    assert_null(row->outcome);
    assert_string_equal(row->payload, RESET_SOFT);
    assert_null(row->response);
    assert_null(row->status);
    assert_int_equal(row->api_key_id, 3);
    assert_string_equal(row->request_id, "req-1");
    assert_int_equal(row->created_ms, T0);
    assert_int_equal(row->sent_ms, T0);
    assert_int_equal(row->answered_ms, 0);
    assert_int_equal(row->completed_ms, 0);
    row = &row_for(fx, b, 0)->in.command;
    assert_string_equal(row->state, "queued");
    assert_null(row->outcome);
    assert_null(row->request_id);
    assert_int_equal(row->created_ms, T0 + 5);
    assert_int_equal(row->sent_ms, 0);

    struct core_fake_cmd v;
    assert_true(find(fx, a, &v));
    assert_int_equal(v.state, CORE_CMD_SENT);
    assert_int_equal(v.outcome, CORE_CMD_PENDING);
    assert_true(find(fx, b, &v));
    assert_int_equal(v.state, CORE_CMD_QUEUED);
    assert_false(v.sent);

    /* the creation rows written: still pending, still in memory */
    write_all_rows(fx);
    assert_true(find(fx, a, &v));
    assert_true(find(fx, b, &v));

    /* a answered: a final row, and a stays findable until that row is written */
    core_fake_advance(&fx->f, 20);
    answer(fx, conn, ACCEPTED, "Accepted");
    assert_int_equal(rows_for(fx, a), 1);
    row = &row_for(fx, a, 0)->in.command;
    assert_string_equal(row->state, "completed");
    assert_string_equal(row->outcome, "answered");
    assert_string_equal(row->response, ACCEPTED);
    assert_string_equal(row->status, "Accepted");
    assert_null(row->error_code);
    assert_null(row->error_description);
    assert_string_equal(row->request_id, "req-1");
    assert_int_equal(row->created_ms, T0);
    assert_int_equal(row->sent_ms, T0);
    assert_int_equal(row->answered_ms, T0 + 25);
    assert_int_equal(row->completed_ms, T0 + 25);
    assert_true(find(fx, a, &v));
    assert_int_equal(v.state, CORE_CMD_COMPLETED);
    assert_int_equal(v.outcome, CORE_CMD_ANSWERED);
    write_row(fx, a, 0, STORE_OK);
    assert_false(find(fx, a, &v));
    assert_int_equal(core_commands_live(fx->c), 1);

    /* b went out when a was answered; its final row written before... */
    assert_true(find(fx, b, &v));
    assert_int_equal(v.state, CORE_CMD_SENT);
    assert_int_equal(v.sent_ms, T0 + 25);
    answer(fx, conn, ACCEPTED, "Accepted");
    write_row(fx, b, 0, STORE_OK);
    assert_false(find(fx, b, &v));
    assert_int_equal(core_commands_live(fx->c), 0);

    /* ... and the final row coming back before the creation row */
    char c3[CORE_CMD_ID_LEN + 1];
    assert_int_equal(reset(fx, "CP-1", NULL, c3), CORE_CALL_OK);
    answer(fx, conn, ACCEPTED, "Accepted");
    assert_int_equal(rows_for(fx, c3), 2);
    write_row(fx, c3, 1, STORE_OK);
    assert_true(find(fx, c3, &v));
    assert_int_equal(v.state, CORE_CMD_COMPLETED);
    /* a row the database could not take does not keep the command forever */
    write_row(fx, c3, 0, STORE_ERR_UNAVAILABLE);
    assert_false(find(fx, c3, &v));
    assert_int_equal(core_commands_live(fx->c), 0);
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_COMMAND), 0);
}

/* ================================================================ how a command ends */

static void test_answered(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r = recs(fx, 1);
    struct core_command_req req = reset_req("CP-1");
    req.api_key_id = 7;
    req.request_id = "rq-42";
    char id[CORE_CMD_ID_LEN + 1];
    core_fake_advance(&fx->f, 10);
    assert_int_equal(submit(fx, &req, r, id, NULL), CORE_CALL_OK);
    assert_int_equal(fx->f.n_calls, 1);
    assert_int_equal(fx->f.calls[0].conn_id, conn);
    assert_int_equal(fx->f.calls[0].action, OCPP_ACTION_RESET);
    assert_string_equal(fx->f.calls[0].payload, RESET_SOFT);
    /* the wire layer learns which action's .conf schema to check the answer against */
    assert_int_equal(core_call_action(fx->c, conn, fx->f.calls[0].msg_id), OCPP_ACTION_RESET);
    assert_int_equal(r->n, 0);

    core_fake_advance(&fx->f, 40);
    answer(fx, conn, ACCEPTED, "Accepted");
    assert_int_equal(r->n, 1);
    assert_string_equal(r->id, id);
    assert_string_equal(r->charger_id, "CP-1");
    assert_int_equal(r->action, OCPP_ACTION_RESET);
    assert_string_equal(r->payload, RESET_SOFT);
    assert_int_equal(r->state, CORE_CMD_COMPLETED);
    assert_int_equal(r->outcome, CORE_CMD_ANSWERED);
    assert_true(r->sent);
    assert_string_equal(r->response, ACCEPTED);
    assert_string_equal(r->status, "Accepted");
    assert_false(r->has_error_code);
    assert_false(r->has_error_description);
    assert_int_equal(r->api_key_id, 7);
    assert_string_equal(r->request_id, "rq-42");
    assert_int_equal(r->created_ms, T0 + 10);
    assert_int_equal(r->sent_ms, T0 + 10);
    assert_int_equal(r->answered_ms, T0 + 50);
    assert_int_equal(r->completed_ms, T0 + 50);
    assert_string_equal(core_cmd_state_name(r->state), "completed");
    assert_string_equal(core_cmd_outcome_name(r->outcome), "answered");
    assert_null(core_cmd_outcome_name(CORE_CMD_PENDING));
    assert_int_equal(core_call_action(fx->c, conn, fx->f.calls[0].msg_id), OCPP_ACTION_NONE);

    /* a late duplicate answer changes nothing */
    answer(fx, conn, REJECTED, "Rejected");
    assert_int_equal(r->n, 1);
    assert_string_equal(r->status, "Accepted");
    assert_int_equal(fx->n_done, 1);
}

static void test_call_error(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r = recs(fx, 1);
    char id[CORE_CMD_ID_LEN + 1];
    assert_int_equal(reset(fx, "CP-1", r, id), CORE_CALL_OK);
    write_all_rows(fx);
    core_fake_advance(&fx->f, 30);
    core_on_call_error(fx->c, conn, last_call(fx, conn)->msg_id, "NotSupported", "no reset here");
    assert_int_equal(r->n, 1);
    assert_int_equal(r->state, CORE_CMD_FAILED);
    assert_int_equal(r->outcome, CORE_CMD_CALL_ERROR);
    assert_true(r->sent);
    assert_string_equal(r->error_code, "NotSupported");
    assert_string_equal(r->error_description, "no reset here");
    assert_false(r->has_response);
    assert_false(r->has_status);
    assert_int_equal(r->answered_ms, T0 + 30);
    assert_int_equal(r->completed_ms, T0 + 30);

    const struct store_command *row = &row_for(fx, id, 0)->in.command;
    assert_string_equal(row->state, "failed");
    assert_string_equal(row->outcome, "callError");
    assert_string_equal(row->error_code, "NotSupported");
    assert_string_equal(row->error_description, "no reset here");
    assert_null(row->response);
    write_all_rows(fx);
    assert_int_equal(core_commands_live(fx->c), 0);
}

static void test_invalid_answer(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r = recs(fx, 2);
    char id[CORE_CMD_ID_LEN + 1];
    assert_int_equal(reset(fx, "CP-1", &r[0], id), CORE_CALL_OK);
    core_fake_advance(&fx->f, 15);
    struct core_answer bad = { .payload_json = "{\"status\":\"Maybe\"}", .status = "Maybe",
                               .invalid = "status: not one of Accepted, Rejected" };
    core_on_call_result(fx->c, conn, last_call(fx, conn)->msg_id, &bad);
    assert_int_equal(r[0].n, 1);
    assert_int_equal(r[0].state, CORE_CMD_FAILED);
    assert_int_equal(r[0].outcome, CORE_CMD_INVALID_ANSWER);
    assert_true(r[0].sent);
    assert_false(r[0].has_error_code);
    assert_string_equal(r[0].error_description, "status: not one of Accepted, Rejected");
    assert_int_equal(r[0].answered_ms, T0 + 15);
    const struct store_command *row = &row_for(fx, id, 1)->in.command;
    assert_string_equal(row->state, "failed");
    assert_string_equal(row->outcome, "invalidAnswer");
    assert_string_equal(row->error_description, "status: not one of Accepted, Rejected");

    /* an invalid "Accepted" to a remote start fails at once: no session wait */
    assert_int_equal(remote_start(fx, "CP-1", "TAG", 1, 10000, &r[1], id), CORE_CALL_OK);
    struct core_answer bad_start = { .payload_json = "{\"status\":\"Accepted\",\"x\":1}",
                                     .status = "Accepted", .invalid = "x: not allowed" };
    core_on_call_result(fx->c, conn, last_call(fx, conn)->msg_id, &bad_start);
    assert_int_equal(r[1].n, 1);
    assert_int_equal(r[1].state, CORE_CMD_FAILED);
    assert_int_equal(r[1].outcome, CORE_CMD_INVALID_ANSWER);
    session_started(fx, conn, "s-1", 1, "TAG", 5, 500, false);
    assert_int_equal(r[1].n, 1);
    assert_int_equal(r[1].session_id, 0);
}

static void test_timeout(void **state)
{
    struct fx *fx = *state;
    fx->cfg.call_timeout_ms = 1000;
    restart(fx);
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r = recs(fx, 2);
    char a[CORE_CMD_ID_LEN + 1], b[CORE_CMD_ID_LEN + 1];
    assert_int_equal(reset(fx, "CP-1", &r[0], a), CORE_CALL_OK);
    assert_int_equal(reset(fx, "CP-1", &r[1], b), CORE_CALL_OK);
    core_fake_advance(&fx->f, 999);
    core_expire(fx->c);
    assert_int_equal(r[0].n, 0);
    core_fake_advance(&fx->f, 1);
    core_expire(fx->c);
    assert_int_equal(r[0].n, 1);
    assert_int_equal(r[0].state, CORE_CMD_FAILED);
    assert_int_equal(r[0].outcome, CORE_CMD_TIMEOUT);
    assert_true(r[0].sent);
    assert_int_equal(r[0].sent_ms, T0);
    assert_int_equal(r[0].answered_ms, 0);
    assert_int_equal(r[0].completed_ms, T0 + 1000);
    assert_false(r[0].has_response);
    assert_string_equal(row_for(fx, a, 1)->in.command.outcome, "timeout");
    /* the next command goes out, with its own deadline */
    assert_int_equal(calls_to(fx, conn), 2);
    assert_int_equal(r[1].n, 0);
    struct core_fake_cmd v;
    assert_true(find(fx, b, &v));
    assert_int_equal(v.state, CORE_CMD_SENT);
    assert_int_equal(v.sent_ms, T0 + 1000);
    /* the first one's answer, too late, is dropped */
    struct core_answer late = { .payload_json = ACCEPTED, .status = "Accepted" };
    core_on_call_result(fx->c, conn, fx->f.calls[0].msg_id, &late);
    assert_int_equal(r[0].n, 1);
    assert_int_equal(r[0].outcome, CORE_CMD_TIMEOUT);
    assert_int_equal(r[1].n, 0);
}

static void test_disconnect(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r = recs(fx, 4);
    char a[CORE_CMD_ID_LEN + 1], b[CORE_CMD_ID_LEN + 1];
    assert_int_equal(reset(fx, "CP-1", &r[0], a), CORE_CALL_OK);
    assert_int_equal(reset(fx, "CP-1", &r[1], b), CORE_CALL_OK);
    write_all_rows(fx);
    core_fake_advance(&fx->f, 100);
    core_conn_closed(fx->c, conn, "socket closed");
    /* in flight */
    assert_int_equal(r[0].n, 1);
    assert_int_equal(r[0].state, CORE_CMD_FAILED);
    assert_int_equal(r[0].outcome, CORE_CMD_DISCONNECTED);
    assert_true(r[0].sent);
    assert_int_equal(r[0].completed_ms, T0 + 100);
    /* queued behind it: never sent */
    assert_int_equal(r[1].n, 1);
    assert_int_equal(r[1].state, CORE_CMD_FAILED);
    assert_int_equal(r[1].outcome, CORE_CMD_DISCONNECTED);
    assert_false(r[1].sent);
    assert_int_equal(r[1].sent_ms, 0);
    assert_int_equal(fx->f.n_calls, 1);
    const struct store_command *row = &row_for(fx, b, 0)->in.command;
    assert_string_equal(row->state, "failed");
    assert_string_equal(row->outcome, "disconnected");
    assert_int_equal(row->sent_ms, 0);
    assert_string_equal(row_for(fx, a, 0)->in.command.outcome, "disconnected");
    write_all_rows(fx);
    assert_int_equal(core_commands_live(fx->c), 0);

    /* a connection replaced by a new one is a disconnect too */
    connect_charger(fx, "CP-1");
    assert_int_equal(reset(fx, "CP-1", &r[2], a), CORE_CALL_OK);
    assert_int_equal(reset(fx, "CP-1", &r[3], b), CORE_CALL_OK);
    connect_charger(fx, "CP-1");
    assert_int_equal(r[2].n, 1);
    assert_int_equal(r[2].outcome, CORE_CMD_DISCONNECTED);
    assert_true(r[2].sent);
    assert_int_equal(r[3].n, 1);
    assert_int_equal(r[3].outcome, CORE_CMD_DISCONNECTED);
    assert_false(r[3].sent);
}

static void test_free_cancels(void **state)
{
    struct fx *fx = *state;
    uint64_t c3 = open_charger(fx, "CP-3");
    open_charger(fx, "CP-1");
    open_charger(fx, "CP-2");
    struct core_fake_cmd *r = recs(fx, 5);
    char id[CORE_CMD_ID_LEN + 1];
    bool joined = false;
    assert_int_equal(reset(fx, "CP-1", &r[0], id), CORE_CALL_OK);                   /* in flight */
    assert_int_equal(reset(fx, "CP-1", &r[1], id), CORE_CALL_OK);                   /* queued */
    assert_int_equal(remote_stop(fx, "CP-2", 9, 90, &r[2], id, &joined), CORE_CALL_OK);
    assert_int_equal(remote_stop(fx, "CP-2", 9, 90, &r[3], id, &joined), CORE_CALL_OK);
    assert_true(joined);
    /* a remote start waiting for its session */
    assert_int_equal(remote_start(fx, "CP-3", "TAG", 1, 60000, &r[4], id), CORE_CALL_OK);
    answer(fx, c3, ACCEPTED, "Accepted");
    assert_int_equal(r[4].n, 0);

    core_free(fx->c);
    fx->c = NULL;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(r[i].n, 1);
        assert_int_equal(r[i].state, CORE_CMD_FAILED);
        assert_int_equal(r[i].outcome, CORE_CMD_CANCELLED);
    }
    assert_true(r[0].sent);
    assert_false(r[1].sent);
    assert_true(r[2].sent);
    /* the wait ends without a session */
    assert_int_equal(r[4].n, 1);
    assert_int_equal(r[4].state, CORE_CMD_COMPLETED);
    assert_int_equal(r[4].session_id, 0);
    /* once per command, not per waiter */
    assert_int_equal(fx->n_done, 4);
}

/*
 * Shutdown begins (core_commands_shutdown): a remote start still waiting
 * completes without a session; an Accepted stop held for joining is let go;
 * queued and in-flight commands end CANCELLED at once (their REST clients
 * are answered while the gateway still serves), with sent telling which had
 * gone out; every final row is submitted; new commands are refused.
 */
static void test_commands_shutdown(void **state)
{
    struct fx *fx = *state;
    uint64_t c1 = open_charger(fx, "CP-1");
    uint64_t c2 = open_charger(fx, "CP-2");
    struct core_fake_cmd *r = recs(fx, 4);
    char start[CORE_CMD_ID_LEN + 1], stop[CORE_CMD_ID_LEN + 1], rst[CORE_CMD_ID_LEN + 1],
        queued[CORE_CMD_ID_LEN + 1];
    assert_int_equal(remote_start(fx, "CP-1", "TAG", 1, 60000, &r[0], start), CORE_CALL_OK);
    answer(fx, c1, ACCEPTED, "Accepted");
    assert_int_equal(remote_stop(fx, "CP-2", 9, 90, &r[1], stop, NULL), CORE_CALL_OK);
    answer(fx, c2, ACCEPTED, "Accepted");
    assert_int_equal(reset(fx, "CP-1", &r[2], rst), CORE_CALL_OK);
    assert_int_equal(reset(fx, "CP-1", &r[3], queued), CORE_CALL_OK);
    write_all_rows(fx);
    assert_int_equal(core_commands_live(fx->c), 4);
    assert_int_equal(r[0].n, 0);

    core_fake_advance(&fx->f, 5);
    core_commands_shutdown(fx->c);
    assert_int_equal(r[0].n, 1);
    assert_int_equal(r[0].state, CORE_CMD_COMPLETED);
    assert_int_equal(r[0].outcome, CORE_CMD_ANSWERED);
    assert_int_equal(r[0].session_id, 0);
    assert_int_equal(r[0].completed_ms, T0 + 5);
    assert_int_equal(rows_for(fx, start), 1);
    assert_string_equal(row_for(fx, start, 0)->in.command.state, "completed");
    assert_int_equal(r[1].n, 1);                 /* not told again */
    assert_int_equal(r[2].n, 1);                 /* in flight: cancelled, and it had gone out */
    assert_int_equal(r[2].outcome, CORE_CMD_CANCELLED);
    assert_true(r[2].sent);
    assert_int_equal(r[3].n, 1);                 /* queued: cancelled, never sent */
    assert_int_equal(r[3].outcome, CORE_CMD_CANCELLED);
    assert_false(r[3].sent);
    assert_int_equal(rows_for(fx, rst), 1);
    assert_string_equal(row_for(fx, rst, 0)->in.command.outcome, "cancelled");
    write_all_rows(fx);
    struct core_fake_cmd v;
    assert_false(find(fx, start, &v));
    assert_false(find(fx, stop, &v));
    assert_false(find(fx, rst, &v));
    assert_int_equal(core_commands_live(fx->c), 0);
    /* nothing new is taken */
    assert_int_equal(reset(fx, "CP-2", NULL, NULL), CORE_CALL_ERR_SHUTDOWN);
    assert_int_equal(calls_to(fx, c2), 1);
}

/* ================================================================ one at a time, queue bound */

static void test_one_call_at_a_time(void **state)
{
    struct fx *fx = *state;
    uint64_t c1 = open_charger(fx, "CP-1");
    uint64_t c2 = open_charger(fx, "CP-2");
    struct core_fake_cmd *r = recs(fx, 3);
    char a[CORE_CMD_ID_LEN + 1], b[CORE_CMD_ID_LEN + 1], c[CORE_CMD_ID_LEN + 1];
    assert_int_equal(reset(fx, "CP-1", &r[0], a), CORE_CALL_OK);
    struct core_command_req req = {
        .charger_id = "CP-1",
        .action = OCPP_ACTION_UNLOCK_CONNECTOR,
        .payload_json = "{\"connectorId\":1}",
    };
    assert_int_equal(submit(fx, &req, &r[1], b, NULL), CORE_CALL_OK);
    assert_int_equal(reset(fx, "CP-2", &r[2], c), CORE_CALL_OK);
    /* one CALL per charger in flight */
    assert_int_equal(calls_to(fx, c1), 1);
    assert_int_equal(calls_to(fx, c2), 1);
    assert_int_equal(last_call(fx, c1)->action, OCPP_ACTION_RESET);

    core_fake_advance(&fx->f, 70);
    answer(fx, c1, ACCEPTED, "Accepted");
    assert_int_equal(r[0].n, 1);
    assert_int_equal(r[1].n, 0);
    assert_int_equal(calls_to(fx, c1), 2);
    assert_int_equal(last_call(fx, c1)->action, OCPP_ACTION_UNLOCK_CONNECTOR);
    assert_string_equal(last_call(fx, c1)->payload, "{\"connectorId\":1}");
    assert_string_not_equal(fx->f.calls[0].msg_id, last_call(fx, c1)->msg_id);
    answer(fx, c1, "{\"status\":\"Unlocked\"}", "Unlocked");
    assert_int_equal(r[1].n, 1);
    assert_string_equal(r[1].id, b);
    assert_string_equal(r[1].status, "Unlocked");
    assert_int_equal(r[1].sent_ms, T0 + 70);
    /* the other charger's command is untouched */
    assert_int_equal(r[2].n, 0);
    answer(fx, c2, REJECTED, "Rejected");
    assert_int_equal(r[2].n, 1);
    assert_string_equal(r[2].status, "Rejected");
    assert_int_equal(r[2].state, CORE_CMD_COMPLETED);
}

static void test_queue_full(void **state)
{
    struct fx *fx = *state;
    fx->cfg.call_queue_max = 2;
    restart(fx);
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r = recs(fx, 5);
    char id[CORE_CMD_ID_LEN + 1];
    /* one in flight, call_queue_max waiting */
    for (int i = 0; i < 3; i++)
        assert_int_equal(reset(fx, "CP-1", &r[i], id), CORE_CALL_OK);
    size_t rows = core_fake_job_count(&fx->f, STORE_OP_COMMAND);
    assert_int_equal(reset(fx, "CP-1", &r[3], id), CORE_CALL_ERR_QUEUE_FULL);
    bool joined = true;
    assert_int_equal(remote_stop(fx, "CP-1", 1, 10, &r[3], id, &joined), CORE_CALL_ERR_QUEUE_FULL);
    assert_false(joined);
    assert_int_equal(r[3].n, 0);
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_COMMAND), rows);
    assert_int_equal(core_commands_live(fx->c), 3);
    /* one answered: room for one more */
    answer(fx, conn, ACCEPTED, "Accepted");
    assert_int_equal(reset(fx, "CP-1", &r[4], id), CORE_CALL_OK);
    assert_int_equal(reset(fx, "CP-1", &r[3], id), CORE_CALL_ERR_QUEUE_FULL);
    for (int i = 0; i < 3; i++)
        answer(fx, conn, ACCEPTED, "Accepted");
    for (int i = 0; i < 5; i++)
        assert_int_equal(r[i].n, i == 3 ? 0 : 1);
}

/* ================================================================ remote start */

static void test_remote_start_waits_for_its_session(void **state)
{
    struct fx *fx = *state;
    uint64_t c1 = open_charger(fx, "CP-1");
    uint64_t c2 = open_charger(fx, "CP-2");
    struct core_fake_cmd *r = recs(fx, 1);
    char id[CORE_CMD_ID_LEN + 1];
    assert_int_equal(remote_start(fx, "CP-1", "TAG-A", 2, 10000, r, id), CORE_CALL_OK);
    assert_int_equal(last_call(fx, c1)->action, OCPP_ACTION_REMOTE_START_TRANSACTION);
    assert_string_equal(last_call(fx, c1)->payload, "{\"connectorId\":2,\"idTag\":\"TAG-A\"}");
    core_fake_advance(&fx->f, 50);
    answer(fx, c1, ACCEPTED, "Accepted");
    /* accepted: not done yet, waiting for the StartTransaction */
    assert_int_equal(r->n, 0);
    assert_int_equal(fx->n_done, 0);
    struct core_fake_cmd v;
    assert_true(find(fx, id, &v));
    assert_int_equal(v.state, CORE_CMD_AWAITING_SESSION);
    assert_int_equal(v.outcome, CORE_CMD_PENDING);
    assert_string_equal(core_cmd_state_name(v.state), "awaitingSession");
    assert_int_equal(v.answered_ms, T0 + 50);
    assert_int_equal(v.completed_ms, 0);

    core_fake_advance(&fx->f, 1000);
    /* not its session: another tag, another connector, another charger, a retried start */
    session_started(fx, c1, "s-1", 2, "OTHER", 11, 1100, false);
    session_started(fx, c1, "s-2", 1, "TAG-A", 12, 1200, false);
    session_started(fx, c2, "s-3", 2, "TAG-A", 13, 1300, false);
    session_started(fx, c1, "s-4", 2, "TAG-A", 14, 1400, true);
    assert_int_equal(r->n, 0);
    assert_true(find(fx, id, &v));
    assert_int_equal(v.state, CORE_CMD_AWAITING_SESSION);

    /* its session; idTags compare case-insensitively */
    core_fake_advance(&fx->f, 1000);
    session_started(fx, c1, "s-5", 2, "tag-a", 41, 4100, false);
    assert_int_equal(r->n, 1);
    assert_string_equal(r->id, id);
    assert_int_equal(r->state, CORE_CMD_COMPLETED);
    assert_int_equal(r->outcome, CORE_CMD_ANSWERED);
    assert_string_equal(r->status, "Accepted");
    assert_string_equal(r->response, ACCEPTED);
    assert_int_equal(r->session_id, 41);
    assert_int_equal(r->transaction_id, 4100);
    assert_int_equal(r->answered_ms, T0 + 50);
    assert_int_equal(r->completed_ms, T0 + 2050);
    const struct store_command *row = &row_for(fx, id, 1)->in.command;
    assert_string_equal(row->state, "completed");
    assert_string_equal(row->outcome, "answered");
    assert_int_equal(row->session_id, 41);
    assert_int_equal(row->transaction_id, 4100);
    assert_int_equal(fx->n_done, 1);
    assert_int_equal(fx->done[0].session_id, 41);

    /* a later session for the tag is nobody's */
    session_started(fx, c1, "s-6", 2, "TAG-A", 42, 4200, false);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->session_id, 41);
    write_all_rows(fx);
    assert_int_equal(core_commands_live(fx->c), 0);
}

/* A second remote start on a connector whose first one is still starting is refused (issue 10). */
static void test_remote_start_in_progress_holds_the_connector(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r = recs(fx, 2);
    char id[CORE_CMD_ID_LEN + 1], st[16];
    assert_true(core_connector_startable(fx->c, "CP-1", 2, st));
    assert_int_equal(remote_start(fx, "CP-1", "TAG-A", 2, 10000, r, id), CORE_CALL_OK);
    /* queued or sent */
    assert_false(core_connector_startable(fx->c, "CP-1", 2, st));
    assert_string_equal(st, CORE_CONNECTOR_STARTING);
    assert_true(core_connector_startable(fx->c, "CP-1", 1, st)); /* another connector */
    assert_true(core_connector_startable(fx->c, "CP-1", 0, st)); /* the charger picks */
    assert_true(core_connector_startable(fx->c, "CP-2", 2, st));
    answer(fx, conn, ACCEPTED, "Accepted");
    /* awaiting its StartTransaction */
    assert_false(core_connector_startable(fx->c, "CP-1", 2, st));
    session_started(fx, conn, "s-1", 2, "TAG-A", 5, 500, false);
    assert_int_equal(r->n, 1);
    /* matched: the session (in the database) holds the connector from now on, not the command */
    assert_true(core_connector_startable(fx->c, "CP-1", 2, st));

    /* one the charger rejects lets the connector go */
    assert_int_equal(remote_start(fx, "CP-1", "TAG-B", 1, 10000, &r[1], id), CORE_CALL_OK);
    assert_false(core_connector_startable(fx->c, "CP-1", 1, st));
    answer(fx, conn, "{\"status\":\"Rejected\"}", "Rejected");
    assert_true(core_connector_startable(fx->c, "CP-1", 1, st));
}

static void test_remote_start_any_connector(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r = recs(fx, 1);
    char id[CORE_CMD_ID_LEN + 1];
    assert_int_equal(remote_start(fx, "CP-1", "TAG", 0, 10000, r, id), CORE_CALL_OK);
    assert_string_equal(last_call(fx, conn)->payload, "{\"idTag\":\"TAG\"}");
    answer(fx, conn, ACCEPTED, "Accepted");
    session_started(fx, conn, "s-1", 3, "TAG", 8, 800, false);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->session_id, 8);
    assert_int_equal(r->transaction_id, 800);
}

static void test_remote_start_wait_elapses(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r = recs(fx, 1);
    char id[CORE_CMD_ID_LEN + 1];
    assert_int_equal(remote_start(fx, "CP-1", "TAG", 1, 5000, r, id), CORE_CALL_OK);
    core_fake_advance(&fx->f, 100);
    answer(fx, conn, ACCEPTED, "Accepted");
    core_fake_advance(&fx->f, 4999);
    core_expire(fx->c);
    assert_int_equal(r->n, 0);
    core_fake_advance(&fx->f, 1);
    core_expire(fx->c);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->state, CORE_CMD_COMPLETED);
    assert_int_equal(r->outcome, CORE_CMD_ANSWERED);
    assert_string_equal(r->status, "Accepted");
    assert_int_equal(r->session_id, 0);
    assert_int_equal(r->transaction_id, 0);
    assert_int_equal(r->answered_ms, T0 + 100);
    assert_int_equal(r->completed_ms, T0 + 5100);
    assert_string_equal(row_for(fx, id, 1)->in.command.state, "completed");
    assert_int_equal(row_for(fx, id, 1)->in.command.session_id, 0);
    /* the session that comes too late is not recorded on the command */
    session_started(fx, conn, "s-1", 1, "TAG", 9, 900, false);
    assert_int_equal(r->n, 1);
    struct core_fake_cmd v;
    assert_true(find(fx, id, &v));
    assert_int_equal(v.session_id, 0);
    assert_int_equal(fx->n_done, 1);
}

/*
 * core_expire() returns the ms until its next deadline, and the glue arms its
 * one timer with that: a session wait must end when it is due, not up to a
 * second later.
 */
static void test_remote_start_wait_is_a_deadline(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r = recs(fx, 1);
    char id[CORE_CMD_ID_LEN + 1];
    assert_int_equal(remote_start(fx, "CP-1", "TAG", 1, 200, r, id), CORE_CALL_OK);
    answer(fx, conn, ACCEPTED, "Accepted");
    for (int i = 0; i < 10 && r->n == 0; i++)
        core_fake_advance(&fx->f, core_expire(fx->c));
    assert_int_equal(r->n, 1);
    assert_int_equal(r->completed_ms - r->answered_ms, 200);
}

static void test_remote_start_session_before_answer(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r = recs(fx, 1);
    char id[CORE_CMD_ID_LEN + 1];
    assert_int_equal(remote_start(fx, "CP-1", "TAG", 1, 10000, r, id), CORE_CALL_OK);
    /* the charger starts (and the store commits) before its CALLRESULT arrives */
    core_fake_advance(&fx->f, 10);
    session_started(fx, conn, "s-1", 1, "TAG", 21, 2100, false);
    assert_int_equal(r->n, 0);
    struct core_fake_cmd v;
    assert_true(find(fx, id, &v));
    assert_int_equal(v.state, CORE_CMD_SENT);
    core_fake_advance(&fx->f, 10);
    answer(fx, conn, ACCEPTED, "Accepted");
    assert_int_equal(r->n, 1);
    assert_int_equal(r->state, CORE_CMD_COMPLETED);
    assert_int_equal(r->session_id, 21);
    assert_int_equal(r->transaction_id, 2100);
    assert_int_equal(r->completed_ms, T0 + 20);
    assert_int_equal(fx->n_done, 1);
}

static void test_remote_start_rejected(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r = recs(fx, 1);
    char id[CORE_CMD_ID_LEN + 1];
    assert_int_equal(remote_start(fx, "CP-1", "TAG", 1, 10000, r, id), CORE_CALL_OK);
    core_fake_advance(&fx->f, 10);
    answer(fx, conn, REJECTED, "Rejected");
    assert_int_equal(r->n, 1);
    assert_int_equal(r->state, CORE_CMD_COMPLETED);
    assert_int_equal(r->outcome, CORE_CMD_ANSWERED);
    assert_true(r->sent);
    assert_string_equal(r->status, "Rejected");
    assert_int_equal(r->session_id, 0);
    assert_int_equal(r->completed_ms, T0 + 10);
    session_started(fx, conn, "s-1", 1, "TAG", 3, 300, false);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->session_id, 0);
    write_all_rows(fx);
    assert_int_equal(core_commands_live(fx->c), 0);

    /* a session of that tag committed before the charger says Rejected is not this command's */
    struct core_fake_cmd *r2 = recs(fx, 1);
    assert_int_equal(remote_start(fx, "CP-1", "TAG", 1, 10000, r2, id), CORE_CALL_OK);
    session_started(fx, conn, "s-2", 1, "TAG", 4, 400, false);
    answer(fx, conn, REJECTED, "Rejected");
    assert_int_equal(r2->n, 1);
    assert_string_equal(r2->status, "Rejected");
    assert_int_equal(r2->session_id, 0);
    assert_int_equal(r2->transaction_id, 0);
    assert_int_equal(row_for(fx, id, 1)->in.command.session_id, 0);
}

static void test_remote_start_oldest_first(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r = recs(fx, 2);
    char a[CORE_CMD_ID_LEN + 1], b[CORE_CMD_ID_LEN + 1];
    assert_int_equal(remote_start(fx, "CP-1", "TAG", 0, 10000, &r[0], a), CORE_CALL_OK);
    core_fake_advance(&fx->f, 1);
    assert_int_equal(remote_start(fx, "CP-1", "TAG", 0, 10000, &r[1], b), CORE_CALL_OK);
    answer(fx, conn, ACCEPTED, "Accepted");
    answer(fx, conn, ACCEPTED, "Accepted");
    assert_int_equal(calls_to(fx, conn), 2);
    assert_int_equal(r[0].n + r[1].n, 0);
    session_started(fx, conn, "s-1", 1, "TAG", 1, 100, false);
    assert_int_equal(r[0].n, 1);
    assert_int_equal(r[0].session_id, 1);
    assert_int_equal(r[1].n, 0);
    session_started(fx, conn, "s-2", 2, "TAG", 2, 200, false);
    assert_int_equal(r[1].n, 1);
    assert_string_equal(r[1].id, b);
    assert_int_equal(r[1].session_id, 2);
    assert_int_equal(r[1].transaction_id, 200);
    assert_int_equal(r[0].n, 1);
}

static void test_remote_start_no_wait(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r = recs(fx, 1);
    char id[CORE_CMD_ID_LEN + 1];
    assert_int_equal(remote_start(fx, "CP-1", "TAG", 1, 0, r, id), CORE_CALL_OK);
    answer(fx, conn, ACCEPTED, "Accepted");
    assert_int_equal(r->n, 1);
    assert_int_equal(r->state, CORE_CMD_COMPLETED);
    assert_string_equal(r->status, "Accepted");
    assert_int_equal(r->session_id, 0);
}

static void test_remote_start_default_wait(void **state)
{
    struct fx *fx = *state;
    fx->cfg.remote_start_wait_ms = 3000;
    restart(fx);
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r = recs(fx, 1);
    char id[CORE_CMD_ID_LEN + 1];
    assert_int_equal(remote_start(fx, "CP-1", "TAG", 1, -1, r, id), CORE_CALL_OK);
    answer(fx, conn, ACCEPTED, "Accepted");
    assert_int_equal(r->n, 0);
    core_fake_advance(&fx->f, 2999);
    core_expire(fx->c);
    assert_int_equal(r->n, 0);
    core_fake_advance(&fx->f, 1);
    core_expire(fx->c);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->completed_ms, T0 + 3000);
    assert_int_equal(r->session_id, 0);
}

/* ================================================================ remote stop dedup */

static void test_remote_stop_joins_pending(void **state)
{
    struct fx *fx = *state;
    uint64_t c1 = open_charger(fx, "CP-1");
    uint64_t c2 = open_charger(fx, "CP-2");
    struct core_fake_cmd *r = recs(fx, 4);
    char a[CORE_CMD_ID_LEN + 1], b[CORE_CMD_ID_LEN + 1], other[CORE_CMD_ID_LEN + 1];
    bool joined = true;
    assert_int_equal(remote_stop(fx, "CP-1", 77, 7, &r[0], a, &joined), CORE_CALL_OK);
    assert_false(joined);
    assert_int_equal(calls_to(fx, c1), 1);
    assert_int_equal(last_call(fx, c1)->action, OCPP_ACTION_REMOTE_STOP_TRANSACTION);
    assert_string_equal(last_call(fx, c1)->payload, "{\"transactionId\":77}");
    size_t rows = core_fake_job_count(&fx->f, STORE_OP_COMMAND);

    assert_int_equal(remote_stop(fx, "CP-1", 77, 7, &r[1], b, &joined), CORE_CALL_OK);
    assert_true(joined);
    assert_string_equal(b, a);
    assert_int_equal(calls_to(fx, c1), 1);
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_COMMAND), rows);
    assert_int_equal(core_commands_live(fx->c), 1);
    /* another transaction, or the same number on another charger, is another command */
    assert_int_equal(remote_stop(fx, "CP-1", 78, 8, &r[2], other, &joined), CORE_CALL_OK);
    assert_false(joined);
    assert_string_not_equal(other, a);
    assert_int_equal(remote_stop(fx, "CP-2", 77, 70, &r[3], other, &joined), CORE_CALL_OK);
    assert_false(joined);
    assert_int_equal(calls_to(fx, c2), 1);

    core_fake_advance(&fx->f, 30);
    answer(fx, c1, ACCEPTED, "Accepted");
    for (int i = 0; i < 2; i++) {
        assert_int_equal(r[i].n, 1);
        assert_string_equal(r[i].id, a);
        assert_int_equal(r[i].state, CORE_CMD_COMPLETED);
        assert_int_equal(r[i].outcome, CORE_CMD_ANSWERED);
        assert_string_equal(r[i].status, "Accepted");
        assert_int_equal(r[i].session_id, 7);
        assert_int_equal(r[i].transaction_id, 77);
        assert_int_equal(r[i].answered_ms, T0 + 30);
    }
    assert_int_equal(r[2].n, 0);
    assert_int_equal(fx->n_done, 1);
    assert_string_equal(fx->done[0].id, a);
}

static void test_remote_stop_joined_failure(void **state)
{
    struct fx *fx = *state;
    fx->cfg.call_timeout_ms = 1000;
    restart(fx);
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r = recs(fx, 3);
    char a[CORE_CMD_ID_LEN + 1], b[CORE_CMD_ID_LEN + 1];
    bool joined = false;
    assert_int_equal(remote_stop(fx, "CP-1", 5, 50, &r[0], a, NULL), CORE_CALL_OK);
    assert_int_equal(remote_stop(fx, "CP-1", 5, 50, &r[1], b, &joined), CORE_CALL_OK);
    assert_true(joined);
    core_fake_advance(&fx->f, 1000);
    core_expire(fx->c);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(r[i].n, 1);
        assert_int_equal(r[i].outcome, CORE_CMD_TIMEOUT);
    }
    /* a stop that failed is not joined: the next one is sent */
    assert_int_equal(remote_stop(fx, "CP-1", 5, 50, &r[2], b, &joined), CORE_CALL_OK);
    assert_false(joined);
    assert_string_not_equal(b, a);
    assert_int_equal(calls_to(fx, conn), 2);
}

static void test_remote_stop_accepted_joined_until_session_ends(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r = recs(fx, 3);
    char a[CORE_CMD_ID_LEN + 1], b[CORE_CMD_ID_LEN + 1];
    bool joined = true;
    assert_int_equal(remote_stop(fx, "CP-1", 77, 7, &r[0], a, &joined), CORE_CALL_OK);
    core_fake_advance(&fx->f, 10);
    answer(fx, conn, ACCEPTED, "Accepted");
    assert_int_equal(r[0].n, 1);
    write_all_rows(fx);
    size_t rows = core_fake_job_count(&fx->f, STORE_OP_COMMAND);
    size_t calls = fx->f.n_calls;

    /* accepted, session still running: a new stop joins at once, nothing sent */
    core_fake_advance(&fx->f, 1000);
    assert_int_equal(remote_stop(fx, "CP-1", 77, 7, &r[1], b, &joined), CORE_CALL_OK);
    assert_int_equal(r[1].n, 1);
    assert_true(joined);
    assert_string_equal(b, a);
    assert_string_equal(r[1].id, a);
    assert_int_equal(r[1].state, CORE_CMD_COMPLETED);
    assert_int_equal(r[1].outcome, CORE_CMD_ANSWERED);
    assert_string_equal(r[1].status, "Accepted");
    assert_int_equal(r[1].transaction_id, 77);
    assert_int_equal(r[1].completed_ms, T0 + 10);
    assert_int_equal(fx->f.n_calls, calls);
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_COMMAND), rows);
    assert_int_equal(fx->n_done, 1);
    assert_int_equal(r[0].n, 1);
    struct core_fake_cmd v;
    assert_true(find(fx, a, &v));

    /* the session ends: the command is let go, and a new stop is a new CALL */
    session_stopped(fx, conn, "st-1", 77, 7, STORE_STOP_CLOSED);
    assert_false(find(fx, a, &v));
    assert_int_equal(core_commands_live(fx->c), 0);
    assert_int_equal(remote_stop(fx, "CP-1", 77, 7, &r[2], b, &joined), CORE_CALL_OK);
    assert_false(joined);
    assert_string_not_equal(b, a);
    assert_int_equal(fx->f.n_calls, calls + 1);
    assert_int_equal(last_call(fx, conn)->action, OCPP_ACTION_REMOTE_STOP_TRANSACTION);
    assert_int_equal(r[2].n, 0);
}

/* An Accepted stop whose StopTransaction never comes is not kept (nor joined) for ever. */
static void test_remote_stop_hold_is_bounded(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r = recs(fx, 2);
    char a[CORE_CMD_ID_LEN + 1], b[CORE_CMD_ID_LEN + 1];
    bool joined = true;
    assert_int_equal(remote_stop(fx, "CP-1", 77, 7, &r[0], a, &joined), CORE_CALL_OK);
    answer(fx, conn, ACCEPTED, "Accepted");
    write_all_rows(fx);
    assert_int_equal(core_commands_live(fx->c), 1);
    for (int i = 0; i < 3600; i++) {            /* an hour of 1 s ticks */
        core_fake_advance(&fx->f, 1000);
        core_expire(fx->c);
    }
    assert_int_equal(core_commands_live(fx->c), 0);
    assert_int_equal(remote_stop(fx, "CP-1", 77, 7, &r[1], b, &joined), CORE_CALL_OK);
    assert_false(joined);
    assert_int_equal(calls_to(fx, conn), 2);
    assert_int_equal(r[0].n, 1);
}

static void test_remote_stop_rejected_not_joined(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r = recs(fx, 2);
    char a[CORE_CMD_ID_LEN + 1], b[CORE_CMD_ID_LEN + 1];
    bool joined = true;
    assert_int_equal(remote_stop(fx, "CP-1", 77, 7, &r[0], a, &joined), CORE_CALL_OK);
    answer(fx, conn, REJECTED, "Rejected");
    assert_int_equal(r[0].n, 1);
    assert_string_equal(r[0].status, "Rejected");
    assert_int_equal(r[0].state, CORE_CMD_COMPLETED);
    assert_int_equal(remote_stop(fx, "CP-1", 77, 7, &r[1], b, &joined), CORE_CALL_OK);
    assert_false(joined);
    assert_string_not_equal(b, a);
    assert_int_equal(r[1].n, 0);
    assert_int_equal(calls_to(fx, conn), 2);
    write_all_rows(fx);
    answer(fx, conn, ACCEPTED, "Accepted");
    assert_int_equal(r[1].n, 1);
    assert_string_equal(r[1].status, "Accepted");
}

/*
 * The charger may send (and the store commit) its StopTransaction before the
 * CALLRESULT of the RemoteStopTransaction arrives. The session is over then:
 * the Accepted that follows must not leave the command joinable (header:
 * "was Accepted and whose session has not ended yet") nor keep it in memory.
 */
static void test_remote_stop_session_ended_before_answer(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r = recs(fx, 2);
    char a[CORE_CMD_ID_LEN + 1], b[CORE_CMD_ID_LEN + 1];
    bool joined = true;
    assert_int_equal(remote_stop(fx, "CP-1", 77, 7, &r[0], a, &joined), CORE_CALL_OK);
    session_stopped(fx, conn, "st-1", 77, 7, STORE_STOP_CLOSED);
    answer(fx, conn, ACCEPTED, "Accepted");
    assert_int_equal(r[0].n, 1);
    write_all_rows(fx);
    assert_int_equal(remote_stop(fx, "CP-1", 77, 7, &r[1], b, &joined), CORE_CALL_OK);
    assert_false(joined);
    assert_string_not_equal(b, a);
    assert_int_equal(calls_to(fx, conn), 2);
    /* and the first one is not kept: only the second is in memory */
    struct core_fake_cmd v;
    assert_false(find(fx, a, &v));
    assert_int_equal(core_commands_live(fx->c), 1);
}

/* ================================================================ command_done */

static void test_command_done_hook(void **state)
{
    struct fx *fx = *state;
    fx->cfg.call_timeout_ms = 1000;
    restart(fx);
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r = recs(fx, 3);
    char ids[4][CORE_CMD_ID_LEN + 1];
    bool joined;
    assert_int_equal(reset(fx, "CP-1", &r[0], ids[0]), CORE_CALL_OK);
    assert_int_equal(reset(fx, "CP-1", NULL, ids[1]), CORE_CALL_OK);   /* nobody waits */
    assert_int_equal(remote_stop(fx, "CP-1", 3, 30, &r[1], ids[2], NULL), CORE_CALL_OK);
    assert_int_equal(remote_stop(fx, "CP-1", 3, 30, &r[2], ids[3], &joined), CORE_CALL_OK);
    assert_true(joined);
    assert_int_equal(fx->n_done, 0);

    answer(fx, conn, ACCEPTED, "Accepted");
    assert_int_equal(fx->n_done, 1);
    core_on_call_error(fx->c, conn, last_call(fx, conn)->msg_id, "InternalError", "busy");
    assert_int_equal(fx->n_done, 2);
    core_fake_advance(&fx->f, 1000);
    core_expire(fx->c);
    assert_int_equal(fx->n_done, 3);   /* two waiters, one command */
    /* nothing more ends: no more calls */
    core_fake_advance(&fx->f, 100000);
    core_expire(fx->c);
    write_all_rows(fx);
    assert_int_equal(fx->n_done, 3);

    assert_string_equal(fx->done[0].id, ids[0]);
    assert_int_equal(fx->done[0].state, CORE_CMD_COMPLETED);
    assert_int_equal(fx->done[0].outcome, CORE_CMD_ANSWERED);
    assert_string_equal(fx->done[0].status, "Accepted");
    assert_int_equal(fx->done[0].n, 1);
    assert_string_equal(fx->done[1].id, ids[1]);
    assert_int_equal(fx->done[1].state, CORE_CMD_FAILED);
    assert_int_equal(fx->done[1].outcome, CORE_CMD_CALL_ERROR);
    assert_string_equal(fx->done[1].error_code, "InternalError");
    assert_string_equal(fx->done[2].id, ids[2]);
    assert_int_equal(fx->done[2].outcome, CORE_CMD_TIMEOUT);
    assert_int_equal(fx->done[2].transaction_id, 3);
    assert_int_equal(fx->done[2].completed_ms, r[1].completed_ms);
    assert_int_equal(r[1].n, 1);
    assert_int_equal(r[2].n, 1);
}

/* ================================================================ re-entrancy */

/* A callback that submits another command (as a REST handler chaining requests would). */
struct chain {
    struct fx *fx;
    struct core_command_req next;
    struct core_fake_cmd got;             /* the callback's own command */
    bool found_self;                /* core_command_find of its own id, from inside */
    struct core_fake_cmd self;
    enum core_call_err next_err;
    char next_id[CORE_CMD_ID_LEN + 1];
    struct core_fake_cmd next_rec;        /* the chained command's outcome */
};

static void chain_cb(void *user, const struct core_command_view *v)
{
    struct chain *ch = user;
    core_fake_record(&ch->got, v);
    if (ch->fx->c == NULL)
        return;
    ch->found_self = find(ch->fx, v->id, &ch->self);
    ch->next_err = submit(ch->fx, &ch->next, &ch->next_rec, ch->next_id, NULL);
}

static struct chain *chain_new(struct fx *fx, struct core_command_req next)
{
    struct chain *ch = scratch(fx, sizeof *ch);
    ch->fx = fx;
    ch->next = next;
    ch->next_err = -1;
    return ch;
}

static void test_submit_from_callback(void **state)
{
    struct fx *fx = *state;
    fx->cfg.call_timeout_ms = 1000;
    restart(fx);
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *queued = recs(fx, 1);
    char id[CORE_CMD_ID_LEN + 1], q[CORE_CMD_ID_LEN + 1];

    /* from an answer, with another command already queued behind */
    struct chain *ch = chain_new(fx, reset_req("CP-1"));
    struct core_command_req clear = { .charger_id = "CP-1", .action = OCPP_ACTION_CLEAR_CACHE,
                                      .payload_json = "{}" };
    assert_int_equal(core_command_submit(fx->c, &clear, chain_cb, ch, id, NULL), CORE_CALL_OK);
    assert_int_equal(reset(fx, "CP-1", queued, q), CORE_CALL_OK);
    answer(fx, conn, ACCEPTED, "Accepted");
    assert_int_equal(ch->got.n, 1);
    assert_int_equal(ch->got.outcome, CORE_CMD_ANSWERED);
    assert_true(ch->found_self);
    assert_string_equal(ch->self.id, id);
    assert_int_equal(ch->self.state, CORE_CMD_COMPLETED);
    assert_int_equal(ch->next_err, CORE_CALL_OK);
    assert_string_not_equal(ch->next_id, id);
    /* one at a time, in the order asked: the queued reset, then the chained one */
    assert_int_equal(calls_to(fx, conn), 2);
    assert_int_equal(queued->n, 0);
    answer(fx, conn, ACCEPTED, "Accepted");
    assert_int_equal(queued->n, 1);
    assert_int_equal(calls_to(fx, conn), 3);
    assert_int_equal(ch->next_rec.n, 0);
    answer(fx, conn, ACCEPTED, "Accepted");
    assert_int_equal(ch->next_rec.n, 1);
    assert_string_equal(ch->next_rec.id, ch->next_id);

    /* from a timeout: the retry goes out with its own deadline */
    struct chain *retry = chain_new(fx, reset_req("CP-1"));
    core_command_submit(fx->c, &(struct core_command_req){ .charger_id = "CP-1",
                                                           .action = OCPP_ACTION_RESET,
                                                           .payload_json = RESET_SOFT },
                        chain_cb, retry, id, NULL);
    core_fake_advance(&fx->f, 1000);
    core_expire(fx->c);
    assert_int_equal(retry->got.n, 1);
    assert_int_equal(retry->got.outcome, CORE_CMD_TIMEOUT);
    assert_int_equal(retry->next_err, CORE_CALL_OK);
    assert_int_equal(calls_to(fx, conn), 5);
    answer(fx, conn, ACCEPTED, "Accepted");
    assert_int_equal(retry->next_rec.n, 1);

    /* from a session wait that ends: a new remote start, tracked while the list is walked */
    struct chain *again = chain_new(fx, (struct core_command_req){
        .charger_id = "CP-1", .action = OCPP_ACTION_REMOTE_START_TRANSACTION,
        .payload_json = "{\"idTag\":\"TAG\"}", .start_id_tag = "TAG", .session_wait_ms = 500 });
    core_command_submit(fx->c, &(struct core_command_req){
        .charger_id = "CP-1", .action = OCPP_ACTION_REMOTE_START_TRANSACTION,
        .payload_json = "{\"idTag\":\"TAG\"}", .start_id_tag = "TAG", .session_wait_ms = 500 },
        chain_cb, again, id, NULL);
    answer(fx, conn, ACCEPTED, "Accepted");
    core_fake_advance(&fx->f, 500);
    core_expire(fx->c);
    assert_int_equal(again->got.n, 1);
    assert_int_equal(again->got.state, CORE_CMD_COMPLETED);
    assert_int_equal(again->next_err, CORE_CALL_OK);
    answer(fx, conn, ACCEPTED, "Accepted");
    session_started(fx, conn, "s-1", 1, "TAG", 5, 500, false);
    assert_int_equal(again->next_rec.n, 1);
    assert_int_equal(again->next_rec.session_id, 5);
    assert_int_equal(again->got.n, 1);

    /* from a disconnect: the charger is gone, the new command is refused */
    struct chain *gone = chain_new(fx, reset_req("CP-1"));
    core_command_submit(fx->c, &(struct core_command_req){ .charger_id = "CP-1",
                                                           .action = OCPP_ACTION_RESET,
                                                           .payload_json = RESET_SOFT },
                        chain_cb, gone, id, NULL);
    size_t calls = fx->f.n_calls;
    core_conn_closed(fx->c, conn, "gone");
    assert_int_equal(gone->got.n, 1);
    assert_int_equal(gone->got.outcome, CORE_CMD_DISCONNECTED);
    assert_int_equal(gone->next_err, CORE_CALL_ERR_OFFLINE);
    assert_int_equal(gone->next_rec.n, 0);
    assert_int_equal(fx->f.n_calls, calls);
    write_all_rows(fx);
    assert_int_equal(core_commands_live(fx->c), 0);
}

/* A stop that joins one already Accepted runs its callback inside submit: submitting from it works. */
static void test_submit_from_join_callback(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    char a[CORE_CMD_ID_LEN + 1], b[CORE_CMD_ID_LEN + 1];
    assert_int_equal(remote_stop(fx, "CP-1", 77, 7, NULL, a, NULL), CORE_CALL_OK);
    answer(fx, conn, ACCEPTED, "Accepted");
    struct chain *ch = chain_new(fx, reset_req("CP-1"));
    bool joined = false;
    struct core_command_req stop = { .charger_id = "CP-1",
                                     .action = OCPP_ACTION_REMOTE_STOP_TRANSACTION,
                                     .payload_json = "{\"transactionId\":77}",
                                     .stop_transaction_id = 77, .stop_session_id = 7 };
    assert_int_equal(core_command_submit(fx->c, &stop, chain_cb, ch, b, &joined), CORE_CALL_OK);
    assert_true(joined);
    assert_string_equal(b, a);
    assert_int_equal(ch->got.n, 1);
    assert_true(ch->found_self);
    assert_int_equal(ch->next_err, CORE_CALL_OK);
    assert_int_equal(last_call(fx, conn)->action, OCPP_ACTION_RESET);
    answer(fx, conn, ACCEPTED, "Accepted");
    assert_int_equal(ch->next_rec.n, 1);
}

/* Callbacks run by core_free may submit again: refused, nothing sent, nothing leaked. */
static void test_free_refuses_submits_from_callbacks(void **state)
{
    struct fx *fx = *state;
    uint64_t c2 = open_charger(fx, "CP-2");
    open_charger(fx, "CP-1");
    char id[CORE_CMD_ID_LEN + 1];
    struct chain *ch[3];
    for (int i = 0; i < 3; i++)
        ch[i] = chain_new(fx, reset_req(i == 0 ? "CP-2" : "CP-1"));
    struct core_command_req clear = { .charger_id = "CP-1", .action = OCPP_ACTION_CLEAR_CACHE,
                                      .payload_json = "{}" };
    assert_int_equal(core_command_submit(fx->c, &clear, chain_cb, ch[0], id, NULL), CORE_CALL_OK);
    assert_int_equal(core_command_submit(fx->c, &clear, chain_cb, ch[1], id, NULL), CORE_CALL_OK);
    struct core_command_req start = { .charger_id = "CP-2",
                                      .action = OCPP_ACTION_REMOTE_START_TRANSACTION,
                                      .payload_json = "{\"idTag\":\"T\"}", .start_id_tag = "T",
                                      .session_wait_ms = 60000 };
    assert_int_equal(core_command_submit(fx->c, &start, chain_cb, ch[2], id, NULL), CORE_CALL_OK);
    answer(fx, c2, ACCEPTED, "Accepted");
    size_t calls = fx->f.n_calls;

    core_free(fx->c);
    fx->c = NULL;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ch[i]->got.n, 1);
        assert_true(ch[i]->next_err != CORE_CALL_OK);
        assert_int_equal(ch[i]->next_rec.n, 0);
    }
    assert_int_equal(ch[0]->got.outcome, CORE_CMD_CANCELLED);
    assert_int_equal(ch[2]->got.state, CORE_CMD_COMPLETED);
    assert_int_equal(fx->f.n_calls, calls);
}

int main(void)
{
    log_setup(LOG_ERROR, LOG_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_submit_refused_unknown_offline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_id_is_uuidv7, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_ordered_within_a_ms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connector_startable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rows_at_creation_and_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_cancels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_refuses_submits_from_callbacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commands_shutdown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_call_at_a_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_start_waits_for_its_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_start_in_progress_holds_the_connector, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_start_any_connector, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_start_wait_elapses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_start_wait_is_a_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_start_session_before_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_start_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_start_oldest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_start_no_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_start_default_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_stop_joins_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_stop_joined_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_stop_accepted_joined_until_session_ends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_stop_hold_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_stop_rejected_not_joined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_stop_session_ended_before_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_done_hook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_submit_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_submit_from_join_callback, setup, teardown),
    };
    return cmocka_run_group_tests_name("core_commands", tests, NULL, NULL);
}
