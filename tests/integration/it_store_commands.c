/*
 * STORE_OP_COMMAND against a real PostgreSQL (sql/005_commands.sql): the
 * row a command leaves when it is created and when it ends (one upsert by
 * id), every column read back, SQL NULL for what is not known (0 and NULL
 * in struct store_command), an ended row that a late "created" write does
 * not turn back, a bad payload that fails alone, and the uuid tie-break
 * function of the command pages.
 *
 * Needs OCPPGW_TEST_DB (other it_* tests share it: every row here belongs
 * to a charger named "stc-..."). Run from the repository root.
 */
#include "it.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "db.h"
#include "store.h"
#include "util.h"

/* ------------------------------------------------------------------ harness */

/* A store plus what the loop would do: wait for wake, take completions. */
static struct {
    struct store *store;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned wakes;
    struct store_job *stash;        /* completed, not yet claimed */
} H;

static void on_wake(void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&H.mu);
    H.wakes++;
    pthread_cond_signal(&H.cv);
    pthread_mutex_unlock(&H.mu);
}

/* Moves completed jobs onto the stash. */
static void collect(void)
{
    struct store_job *list = store_take_completed(H.store);
    while (list) {
        struct store_job *next = list->next;
        list->next = H.stash;
        H.stash = list;
        list = next;
    }
}

static struct store_job *stash_take(const struct store_job *job)
{
    for (struct store_job **p = &H.stash; *p; p = &(*p)->next) {
        if (*p == job) {
            struct store_job *j = *p;
            *p = j->next;
            j->next = NULL;
            return j;
        }
    }
    return NULL;
}

/* Waits until job completes (IT_CALL_MS at most); NULL on timeout. */
static struct store_job *claim(const struct store_job *job)
{
    int64_t end = it_now_ms() + IT_CALL_MS;
    for (;;) {
        pthread_mutex_lock(&H.mu);
        unsigned seen = H.wakes;
        pthread_mutex_unlock(&H.mu);
        collect();
        struct store_job *j = stash_take(job);
        if (j)
            return j;
        if (it_now_ms() > end)
            return NULL;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&H.mu);
        while (H.wakes == seen &&
               pthread_cond_timedwait(&H.cv, &H.mu, &until) == 0)
            ;
        pthread_mutex_unlock(&H.mu);
    }
}

/* Submits, waits, expects that status, frees. */
static void run_expect(struct store_job *job, enum store_status want)
{
    store_submit(H.store, job);
    struct store_job *done = claim(job);
    assert_non_null(done);
    assert_int_equal(done->status, want);
    store_job_free(done);
}

/* ------------------------------------------------------------------ rows */

/* A random UUIDv7-shaped id, as the core makes them. */
static void new_id(char out[40])
{
    unsigned char b[16];
    assert_int_equal(RAND_bytes(b, sizeof b), 1);
    uint64_t ms = (uint64_t)time_now_ms();
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (b[6] & 0x0f));
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        o += (size_t)snprintf(out + o, 3, "%02x", b[i]);
    }
    out[o] = '\0';
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

/* A command job as the core submits it when the command is created (queued). */
static struct store_job *created_job(const char *id, const char *charger, const char *action,
                                     const char *payload, int64_t created_ms)
{
    struct store_job *j = store_job_new(STORE_OP_COMMAND);
    str_copy(j->charger_id, sizeof j->charger_id, charger);
    struct store_command *c = &j->in.command;
    str_copy(c->id, sizeof c->id, id);
    str_copy(c->action, sizeof c->action, action);
    str_copy(c->state, sizeof c->state, "queued");
    c->payload = xstrdup(payload);
    c->created_ms = created_ms;
    return j;
}

/* The same command's final row: state, outcome and what came back. */
static struct store_job *final_job(const char *id, const char *charger, const char *action,
                                   const char *payload, int64_t created_ms, const char *state,
                                   const char *outcome, const char *response, const char *status,
                                   const char *error_code, const char *error_description)
{
    struct store_job *j = created_job(id, charger, action, payload, created_ms);
    struct store_command *c = &j->in.command;
    str_copy(c->state, sizeof c->state, state);
    c->outcome = dup_or_null(outcome);
    c->response = dup_or_null(response);
    c->status = dup_or_null(status);
    c->error_code = dup_or_null(error_code);
    c->error_description = dup_or_null(error_description);
    return j;
}

/* One column of the command's row as text (caller frees), NULL for SQL NULL. */
static char *col(const char *id, const char *expr)
{
    char *sql = it_strf("SELECT %s FROM commands WHERE id = $1::uuid", expr);
    char *v = db_str(sql, id);
    free(sql);
    return v;
}

static void check_col(const char *id, const char *expr, const char *want)
{
    char *got = col(id, expr);
    if (want == NULL ? got != NULL : got == NULL || strcmp(got, want) != 0)
        fail_msg("command %s: %s is %s, not %s", id, expr, got ? got : "NULL", want ? want : "NULL");
    free(got);
}

static void check_ms(const char *id, const char *column, int64_t want)
{
    char *expr = it_strf("ocppgw_ms(%s)", column);
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", (long long)want);
    check_col(id, expr, want ? buf : NULL);
    free(expr);
}

/* ------------------------------------------------------------------ set-up */

static int group_setup(void **state)
{
    (void)state;
    log_setup(LOG_INFO, LOG_TEXT);
    const char *conninfo = it_env("OCPPGW_TEST_DB");
    char err[256];
    struct store_admin *a = store_admin_connect(conninfo, err, sizeof err);
    if (!a) {
        fprintf(stderr, "it_store_commands: %s\n", err);
        return -1;
    }
    int n = store_admin_migrate(a, err, sizeof err);
    store_admin_close(a);
    if (n < 0) {
        fprintf(stderr, "it_store_commands: migrate: %s\n", err);
        return -1;
    }
    db_exec("DELETE FROM commands WHERE charger_id LIKE 'stc-%'");

    pthread_mutex_init(&H.mu, NULL);
    pthread_cond_init(&H.cv, NULL);
    struct store_config cfg = { .conninfo = conninfo, .wake = on_wake };
    H.store = store_start(&cfg);
    if (!H.store)
        return -1;
    int64_t end = it_now_ms() + IT_WAIT_MS;
    while (!store_ready(H.store)) {
        if (it_now_ms() > end) {
            fprintf(stderr, "it_store_commands: the store did not connect\n");
            return -1;
        }
        struct timespec ts = { 0, 20 * 1000000L };
        nanosleep(&ts, NULL);
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    store_stop(H.store);
    while (H.stash) {
        struct store_job *j = H.stash;
        H.stash = j->next;
        store_job_free(j);
    }
    pthread_cond_destroy(&H.cv);
    pthread_mutex_destroy(&H.mu);
    return 0;
}

/* ------------------------------------------------------------------ tests */

static void test_created_then_answered(void **state)
{
    (void)state;
    char id[40];
    new_id(id);
    const int64_t t0 = INT64_C(1795255200123);     /* 2026-11-21T10:00:00.123Z */

    /* created: queued, nothing known yet but who asked */
    struct store_job *j = created_job(id, "stc-a", "Reset", "{\"type\": \"Soft\"}", t0);
    j->in.command.api_key_id = 3;
    j->in.command.request_id = xstrdup("req-stc-1");
    run_expect(j, STORE_OK);

    check_col(id, "id::text", id);
    check_col(id, "charger_id", "stc-a");
    check_col(id, "action", "Reset");
    check_col(id, "payload::text", "{\"type\": \"Soft\"}");
    check_col(id, "state", "queued");
    check_col(id, "outcome", NULL);
    check_col(id, "response", NULL);
    check_col(id, "response_status", NULL);
    check_col(id, "error_code", NULL);
    check_col(id, "error_description", NULL);
    check_col(id, "session_id", NULL);
    check_col(id, "transaction_id", NULL);
    check_col(id, "api_key_id", "3");
    check_col(id, "request_id", "req-stc-1");
    check_ms(id, "created_at", t0);
    check_ms(id, "sent_at", 0);
    check_ms(id, "answered_at", 0);
    check_ms(id, "completed_at", 0);

    /* ended: the same id again, with the answer and the times */
    j = final_job(id, "stc-a", "Reset", "{\"type\": \"Soft\"}", t0, "completed", "answered",
                  "{\"status\":\"Accepted\"}", "Accepted", NULL, NULL);
    j->in.command.api_key_id = 3;
    j->in.command.request_id = xstrdup("req-stc-1");
    j->in.command.sent_ms = t0 + 4;
    j->in.command.answered_ms = t0 + 16;
    j->in.command.completed_ms = t0 + 17;
    run_expect(j, STORE_OK);

    assert_int_equal(db_int("SELECT count(*) FROM commands WHERE id = $1::uuid", id), 1);
    check_col(id, "state", "completed");
    check_col(id, "outcome", "answered");
    check_col(id, "response::text", "{\"status\": \"Accepted\"}");
    check_col(id, "response->>'status'", "Accepted");
    check_col(id, "response_status", "Accepted");
    check_col(id, "error_code", NULL);
    check_col(id, "error_description", NULL);
    check_col(id, "payload->>'type'", "Soft");
    check_col(id, "api_key_id", "3");
    check_col(id, "request_id", "req-stc-1");
    check_ms(id, "created_at", t0);
    check_ms(id, "sent_at", t0 + 4);
    check_ms(id, "answered_at", t0 + 16);
    check_ms(id, "completed_at", t0 + 17);
    check_col(id, "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS')",
              "2026-11-21T10:00:00.123");

    /* a late "created" write (or any pending one) does not undo the end */
    j = created_job(id, "stc-a", "Reset", "{\"type\": \"Soft\"}", t0);
    run_expect(j, STORE_OK);
    check_col(id, "state", "completed");
    check_col(id, "outcome", "answered");
    check_ms(id, "completed_at", t0 + 17);
}

static void test_remote_start_with_session(void **state)
{
    (void)state;
    char id[40];
    new_id(id);
    int64_t t0 = time_now_ms();
    struct store_job *j = created_job(id, "stc-b", "RemoteStartTransaction",
                                      "{\"idTag\":\"stc-tag\",\"connectorId\":1}", t0);
    run_expect(j, STORE_OK);
    check_col(id, "state", "queued");

    /* accepted, then the session came: the session and its transaction recorded */
    j = final_job(id, "stc-b", "RemoteStartTransaction", "{\"idTag\":\"stc-tag\",\"connectorId\":1}", t0,
                  "completed", "answered", "{\"status\":\"Accepted\"}", "Accepted", NULL, NULL);
    j->in.command.session_id = INT64_C(9000000001);
    j->in.command.transaction_id = 2147483647;
    j->in.command.sent_ms = t0 + 1;
    j->in.command.answered_ms = t0 + 2;
    j->in.command.completed_ms = t0 + 900;
    run_expect(j, STORE_OK);
    check_col(id, "session_id", "9000000001");
    check_col(id, "transaction_id", "2147483647");
    check_col(id, "payload->>'idTag'", "stc-tag");
    check_col(id, "payload->'connectorId'", "1");
    check_col(id, "api_key_id", NULL);
    check_col(id, "request_id", NULL);
    check_ms(id, "completed_at", t0 + 900);
}

static void test_failures_and_nulls(void **state)
{
    (void)state;
    int64_t t0 = time_now_ms();

    /* CALLERROR: code and description, no response */
    char id[40];
    new_id(id);
    struct store_job *j = final_job(id, "stc-c", "TriggerMessage", "{\"requestedMessage\":\"Heartbeat\"}",
                                    t0, "failed", "callError", NULL, NULL, "NotSupported",
                                    "no \"triggers\" here; 'quotes' \\ too");
    j->in.command.sent_ms = t0 + 1;
    j->in.command.answered_ms = t0 + 3;
    j->in.command.completed_ms = t0 + 3;
    run_expect(j, STORE_OK);
    check_col(id, "state", "failed");
    check_col(id, "outcome", "callError");
    check_col(id, "response", NULL);
    check_col(id, "response_status", NULL);
    check_col(id, "error_code", "NotSupported");
    check_col(id, "error_description", "no \"triggers\" here; 'quotes' \\ too");
    check_ms(id, "answered_at", t0 + 3);

    /* an invalid answer: response kept, the reason as description, no code */
    new_id(id);
    j = final_job(id, "stc-c", "Reset", "{\"type\":\"Hard\"}", t0, "failed", "invalidAnswer",
                  "{\"status\":\"Maybe\"}", "Maybe", NULL, "status: not one of Accepted, Rejected");
    run_expect(j, STORE_OK);
    check_col(id, "outcome", "invalidAnswer");
    check_col(id, "response_status", "Maybe");
    check_col(id, "error_code", NULL);
    check_col(id, "error_description", "status: not one of Accepted, Rejected");

    /* failed while queued (never sent): every time but created and completed NULL */
    new_id(id);
    j = final_job(id, "stc-c", "ClearCache", "{}", t0, "failed", "disconnected", NULL, NULL, NULL, NULL);
    j->in.command.completed_ms = t0 + 5;
    run_expect(j, STORE_OK);
    check_col(id, "payload::text", "{}");
    check_col(id, "outcome", "disconnected");
    check_ms(id, "sent_at", 0);
    check_ms(id, "answered_at", 0);
    check_ms(id, "completed_at", t0 + 5);
    for (const char *const *c = (const char *const[]){ "response", "response_status", "error_code",
                                                       "error_description", "session_id",
                                                       "transaction_id", "api_key_id",
                                                       "request_id", NULL };
         *c; c++)
        check_col(id, *c, NULL);

    /* no creation time given: the database's */
    new_id(id);
    j = created_job(id, "stc-c", "ClearCache", "{}", 0);
    run_expect(j, STORE_OK);
    assert_int_equal(db_int("SELECT (abs(extract(epoch FROM now() - created_at)) < 60)::int"
                            " FROM commands WHERE id = $1::uuid", id), 1);
}

static void test_bad_rows_fail_alone(void **state)
{
    (void)state;
    char bad_json[40], bad_state[40], good[40];
    new_id(bad_json);
    new_id(bad_state);
    new_id(good);
    int64_t t0 = time_now_ms();

    /* three in one batch: the two the table refuses fail, the third is stored */
    struct store_job *j1 = created_job(bad_json, "stc-d", "Reset", "{not json", t0);
    struct store_job *j2 = created_job(bad_state, "stc-d", "Reset", "{}", t0);
    str_copy(j2->in.command.state, sizeof j2->in.command.state, "lost");
    struct store_job *j3 = created_job(good, "stc-d", "Reset", "{\"type\":\"Soft\"}", t0);
    store_submit(H.store, j1);
    store_submit(H.store, j2);
    store_submit(H.store, j3);
    struct store_job *d1 = claim(j1), *d2 = claim(j2), *d3 = claim(j3);
    assert_non_null(d1);
    assert_non_null(d2);
    assert_non_null(d3);
    assert_int_equal(d1->status, STORE_ERR_FAILED);
    assert_int_equal(d2->status, STORE_ERR_FAILED);
    assert_int_equal(d3->status, STORE_OK);
    store_job_free(d1);
    store_job_free(d2);
    store_job_free(d3);
    assert_int_equal(db_int("SELECT count(*) FROM commands WHERE id IN ($1::uuid, $2::uuid)",
                            bad_json, bad_state), 0);
    check_col(good, "state", "queued");
}

/* The tie-break of the command pages: the uuid's low 64 bits, two's complement. */
static void test_uuid_lo(void **state)
{
    (void)state;
    static const struct {
        const char *uuid, *lo;
    } cases[] = {
        { "00000000-0000-0000-0000-000000000000", "0" },
        { "ffffffff-ffff-ffff-0000-000000000001", "1" },
        { "00000000-0000-0000-ffff-ffffffffffff", "-1" },
        { "0193c9a4-7b1e-7c3a-7f00-5e4d3c2b1a09", "9151418128631798281" },
        { "0193c9a4-7b1e-7c3a-9f00-5e4d3c2b1a09", "-6989482935864059383" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = db_str("SELECT ocppgw_uuid_lo($1::uuid)::text", cases[i].uuid);
        if (!got || strcmp(got, cases[i].lo) != 0)
            fail_msg("ocppgw_uuid_lo(%s) = %s, not %s", cases[i].uuid, got ? got : "NULL", cases[i].lo);
        free(got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_created_then_answered),
        cmocka_unit_test(test_remote_start_with_session),
        cmocka_unit_test(test_failures_and_nulls),
        cmocka_unit_test(test_bad_rows_fail_alone),
        cmocka_unit_test(test_uuid_lo),
    };
    return cmocka_run_group_tests_name("it_store_commands", tests, group_setup, group_teardown);
}
