/*
 * Integration: the durability rule under failure. Several chargers run
 * transactions (StartTransaction, MeterValues, StopTransaction) against the
 * real gateway while
 *   (a) PostgreSQL is stopped in the middle and started again, and
 *   (b) the gateway is killed with SIGKILL in the middle and restarted.
 * Each simulated charger behaves like a real one: a message not answered
 * with a CALLRESULT (CALLERROR InternalError, no answer, socket gone) is
 * sent again with the same payload and a new message id until it is; a
 * dropped socket is reconnected. Right before each failure every charger
 * also has one message in flight whose answer it never reads, so the
 * gateway may have committed what the charger will send again.
 *
 * Afterwards: every acknowledged message's rows are in the database exactly
 * once, nothing acknowledged is missing, retries created no duplicates, and
 * each StartTransaction acknowledged kept the transactionId it was answered
 * with. While the database is down, durable messages get InternalError (never
 * a CALLRESULT) and /readyz says 503; it returns to 200 without restarting
 * the gateway.
 *
 * Charger ids start with "id-".
 */
#include "it.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calls.h"
#include "db.h"
#include "fixture.h"
#include "gw.h"
#include "http.h"
#include "proc.h"

#define NCHARGERS 5
#define NTX 4                           /* transactions per charger */
#define NMV 3                           /* MeterValues per transaction */
#define STEPS_PER_TX (NMV + 2)
#define NSTEPS (NTX * STEPS_PER_TX)
#define ATTEMPT_MS 15000
#define FINISH_MS 120000

struct charger_run {
    char id[24];
    int index;
    struct sim_charger *c;
    int step;                           /* next step to get acknowledged; NSTEPS = done */
    int32_t tx[NTX];                    /* transactionId acknowledged per transaction */
    char *payload;                      /* the current step's payload, kept for retries */
    int retries;
};

struct run {
    struct charger_run ch[NCHARGERS];
    char base[32];                      /* start time of transaction 0 */
    int64_t base_epoch;
    bool db_down;                       /* a CALLRESULT for a durable message is a violation */
    int internal_errors;
    int no_answer;
    int acked;
};

static const char *step_action(int step)
{
    int k = step % STEPS_PER_TX;
    return k == 0 ? "StartTransaction" : k == STEPS_PER_TX - 1 ? "StopTransaction" : "MeterValues";
}

/* UTC ISO time of base + s seconds. */
static void time_at(const struct run *r, int64_t s, char *buf)
{
    time_t t = (time_t)(r->base_epoch + s);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int64_t meter_start_of(int t)
{
    return 100000 + (int64_t)t * 1000;
}

/* The MeterValues value of transaction t, sample m: unique per charger. */
static int64_t meter_value_of(int t, int m)
{
    return meter_start_of(t) + (m + 1) * 100;
}

static char *build_payload(const struct run *r, const struct charger_run *ch)
{
    int t = ch->step / STEPS_PER_TX, k = ch->step % STEPS_PER_TX;
    char ts[32];
    /* transactions of one charger start an hour apart, in the past */
    if (k == 0) {
        time_at(r, (int64_t)t * 3600, ts);
        return it_start_payload(1, "id-tag", meter_start_of(t), ts);
    }
    if (k == STEPS_PER_TX - 1) {
        time_at(r, (int64_t)t * 3600 + 1800, ts);
        return it_strf("{\"transactionId\":%d,\"idTag\":\"id-tag\",\"meterStop\":%lld,\"timestamp\":\"%s\"}",
                       ch->tx[t], (long long)(meter_start_of(t) + 500), ts);
    }
    int m = k - 1;
    time_at(r, (int64_t)t * 3600 + 60 * (m + 1), ts);
    return it_strf("{\"connectorId\":1,\"transactionId\":%d,\"meterValue\":[{\"timestamp\":\"%s\","
                   "\"sampledValue\":[{\"value\":\"%lld\",\"context\":\"Sample.Periodic\"}]}]}",
                   ch->tx[t], ts, (long long)meter_value_of(t, m));
}

static void drop_connection(struct charger_run *ch)
{
    if (ch->c)
        sim_disconnect(ch->c);
    ch->c = NULL;
}

/* Reconnects a charger whose socket is gone; false if the gateway refused or is not there. */
static bool ensure_connected(struct charger_run *ch)
{
    if (ch->c && sim_state(ch->c) == SIM_OPEN)
        return true;
    drop_connection(ch);
    struct sim_charger_opts o = { .id = ch->id };
    int status;
    ch->c = it_try_connect(W.sim, &o, &status, NULL);
    return ch->c != NULL;
}

/* One attempt at the current step of one charger. */
static void attempt(struct run *r, struct charger_run *ch)
{
    if (ch->step >= NSTEPS || !ensure_connected(ch))
        return;
    if (!ch->payload)
        ch->payload = build_payload(r, ch);
    const char *action = step_action(ch->step);
    char *text = sim_call(ch->c, action, ch->payload, ATTEMPT_MS);
    if (!text) {
        r->no_answer++;
        ch->retries++;
        if (sim_state(ch->c) != SIM_OPEN)
            drop_connection(ch);
        return;
    }
    cJSON *f = it_parse(text);
    if (frame_type(f) == 3) {
        if (r->db_down)
            fail_msg("%s %s acknowledged while the database is down: %s", ch->id, action, frame_text(f));
        if (ch->step % STEPS_PER_TX == 0) {
            int64_t id = ji(frame_payload(f), "transactionId");
            if (id <= 0 || id > INT32_MAX)
                fail_msg("%s StartTransaction answered transactionId %lld", ch->id, (long long)id);
            ch->tx[ch->step / STEPS_PER_TX] = (int32_t)id;
        }
        ch->step++;
        r->acked++;
        free(ch->payload);
        ch->payload = NULL;
    } else if (frame_is_callerror(f) && strcmp(frame_error_code(f), "InternalError") == 0) {
        r->internal_errors++;
        ch->retries++;
    } else {
        fail_msg("%s %s: expected a CALLRESULT or CALLERROR InternalError, got %s", ch->id, action,
                 frame_text(f));
    }
    cJSON_Delete(f);
}

/* Every charger tries once; returns how many are done. Paces retries a little, like a charger. */
static int tick(struct run *r)
{
    int done = 0, progressed = 0, before = r->acked;
    for (int i = 0; i < NCHARGERS; i++) {
        attempt(r, &r->ch[i]);
        done += r->ch[i].step >= NSTEPS;
        /* answers to the in-flight messages of before the failure: read and ignored */
        if (r->ch[i].c)
            while (true) {
                char *m = sim_recv(r->ch[i].c, 0);
                if (!m)
                    break;
                free(m);
            }
    }
    progressed = r->acked - before;
    if (!progressed && done < NCHARGERS)
        it_pause(W.sim, 200);
    return done;
}

static void run_init(struct run *r, const char *prefix)
{
    memset(r, 0, sizeof *r);
    r->base_epoch = (int64_t)time(NULL) - 30 * 86400;     /* the chargers were offline: old timestamps */
    for (int i = 0; i < NCHARGERS; i++) {
        struct charger_run *ch = &r->ch[i];
        snprintf(ch->id, sizeof ch->id, "%s%d", prefix, i);
        ch->index = i;
        ch->c = it_connect(W.sim, ch->id, NULL);
        it_boot(ch->c);
    }
}

static void run_free(struct run *r)
{
    for (int i = 0; i < NCHARGERS; i++) {
        drop_connection(&r->ch[i]);
        free(r->ch[i].payload);
        r->ch[i].payload = NULL;
    }
}

/* Runs until `acked` acknowledgements in total (or all done). */
static void run_until_acked(struct run *r, int acked, int timeout_ms)
{
    int64_t end = it_now_ms() + timeout_ms;
    while (r->acked < acked && tick(r) < NCHARGERS) {
        if (it_now_ms() > end)
            fail_msg("only %d of %d messages acknowledged within %d ms", r->acked, acked, timeout_ms);
    }
}

/*
 * Sends each charger's current message with an id of our own and does not
 * wait: at the failure that follows it may be committed, answered, or lost.
 * The charger will send it again (new id) as if unanswered.
 */
static void send_in_flight(struct run *r, const char *tag)
{
    for (int i = 0; i < NCHARGERS; i++) {
        struct charger_run *ch = &r->ch[i];
        if (ch->step >= NSTEPS || !ch->c)
            continue;
        if (!ch->payload)
            ch->payload = build_payload(r, ch);
        char *frame = it_strf("[2,\"%s-%d-%d\",\"%s\",%s]", tag, i, ch->step, step_action(ch->step), ch->payload);
        (void)sim_send_text(ch->c, frame, strlen(frame));
        free(frame);
    }
    sim_service(W.sim, 5);
}

static void pg_ctl(const char *cmd)
{
    const char *argv[] = { "scripts/pg.sh", cmd, it_env("OCPPGW_TEST_PGDIR"), NULL };
    struct proc_result res;
    proc_run(argv, NULL, 90000, &res);
    if (res.status != 0) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s", res.err);
        proc_result_free(&res);
        fail_msg("scripts/pg.sh %s failed: %s", cmd, msg);
    }
    proc_result_free(&res);
}

struct readyz_want {
    int port;
    int status;
};

static bool readyz_is(void *arg)
{
    struct readyz_want *w = arg;
    return http_get(w->port, "/readyz", NULL) == w->status;
}

/* Everything acknowledged is stored exactly once; nothing else is. */
static void verify(const struct run *r)
{
    for (int i = 0; i < NCHARGERS; i++) {
        const struct charger_run *ch = &r->ch[i];
        assert_int_equal(ch->step, NSTEPS);
        for (int t = 0; t < NTX; t++) {
            char ts[32], ms[24], txs[16], stop[24];
            time_at(r, (int64_t)t * 3600, ts);
            snprintf(ms, sizeof ms, "%lld", (long long)meter_start_of(t));
            snprintf(txs, sizeof txs, "%d", ch->tx[t]);
            snprintf(stop, sizeof stop, "%lld", (long long)(meter_start_of(t) + 500));
            int64_t n = db_int("SELECT count(*) FROM sessions WHERE charger_id = $1 AND connector_id = 1"
                               " AND start_time = $2::timestamptz AND meter_start = $3::bigint",
                               ch->id, ts, ms);
            if (n != 1)
                fail_msg("%s transaction %d: %lld session rows, expected exactly 1", ch->id, t, (long long)n);
            int64_t stored = db_int("SELECT transaction_id FROM sessions WHERE charger_id = $1"
                                    " AND start_time = $2::timestamptz AND meter_start = $3::bigint",
                                    ch->id, ts, ms);
            if (stored != ch->tx[t])
                fail_msg("%s transaction %d: answered transactionId %d, stored %lld", ch->id, t, ch->tx[t],
                         (long long)stored);
            if (db_int("SELECT count(*) FROM sessions WHERE transaction_id = $1::int AND status = 'completed'"
                       " AND meter_stop = $2::bigint AND energy_wh = 500",
                       txs, stop) != 1)
                fail_msg("%s transaction %d (id %d): acknowledged stop not stored", ch->id, t, ch->tx[t]);
            for (int m = 0; m < NMV; m++) {
                char v[24];
                snprintf(v, sizeof v, "%lld", (long long)meter_value_of(t, m));
                int64_t k = db_int("SELECT count(*) FROM meter_values mv JOIN sessions s ON s.id = mv.session_id"
                                   " WHERE mv.charger_id = $1 AND mv.value = $2 AND s.transaction_id = $3::int",
                                   ch->id, v, txs);
                if (k != 1)
                    fail_msg("%s transaction %d sample %d: %lld meter_values rows linked to the session,"
                             " expected exactly 1",
                             ch->id, t, m, (long long)k);
            }
        }
        assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE charger_id = $1", ch->id), NTX);
        int64_t samples = db_int("SELECT count(*) FROM meter_values WHERE charger_id = $1", ch->id);
        if (samples != NTX * NMV)
            fail_msg("%s: %lld meter_values rows, expected %d (duplicates?)", ch->id, (long long)samples, NTX * NMV);
        assert_int_equal(db_int("SELECT count(*) FROM orphan_stops WHERE charger_id = $1", ch->id), 0);
    }
}

static int group_setup(void **state)
{
    (void)state;
    for (int i = 0; i < NCHARGERS; i++) {
        char id[24];
        snprintf(id, sizeof id, "id-a-%d", i);
        db_add_charger(id, NULL, 0);
        snprintf(id, sizeof id, "id-b-%d", i);
        db_add_charger(id, NULL, 0);
    }
    db_exec("DELETE FROM sessions WHERE charger_id LIKE 'id-%'");
    db_exec("DELETE FROM meter_values WHERE charger_id LIKE 'id-%'");
    db_exec("DELETE FROM meter_messages WHERE charger_id LIKE 'id-%'");
    db_exec("DELETE FROM orphan_stops WHERE charger_id LIKE 'id-%'");
    db_add_token("id-tag", "Accepted", NULL, NULL);
    struct gw_opts o = { .name = "it_durability" };
    W.gw = gw_start(&o);
    return 0;
}

static void test_postgres_restart_mid_run(void **state)
{
    (void)state;
    static struct run r;
    run_init(&r, "id-a-");
    pid_t pid = gw_pid(W.gw);
    run_until_acked(&r, NCHARGERS * NSTEPS / 3, FINISH_MS);

    send_in_flight(&r, "pre-stop");
    pg_ctl("stop");
    db_disconnect();
    r.db_down = true;
    int errors_before = r.internal_errors;
    for (int i = 0; i < 3; i++)
        (void)tick(&r);
    if (r.internal_errors == errors_before)
        fail_msg("database down: no CALLERROR InternalError in %d attempts (%d unanswered)", 3 * NCHARGERS,
                 r.no_answer);
    struct readyz_want down = { gw_port(W.gw), 503 };
    if (!wait_until(W.sim, readyz_is, &down, IT_WAIT_MS))
        fail_msg("database down: /readyz did not answer 503");
    /* the charger's other traffic is still served; status is written behind */
    struct charger_run *ch0 = &r.ch[0];
    if (ensure_connected(ch0)) {
        assert_true(it_heartbeat_ok(ch0->c));
        cJSON_Delete(it_ok(ch0->c, "StatusNotification",
                           "{\"connectorId\":2,\"errorCode\":\"NoError\",\"status\":\"Unavailable\"}"));
    }
    r.db_down = false;

    pg_ctl("start");
    struct readyz_want up = { gw_port(W.gw), 200 };
    if (!wait_until(W.sim, readyz_is, &up, 60000))
        fail_msg("database back: /readyz did not return to 200 within 60 s");
    assert_true(gw_running(W.gw));
    assert_int_equal(gw_pid(W.gw), pid);

    run_until_acked(&r, NCHARGERS * NSTEPS, FINISH_MS);
    verify(&r);
    /* the status acknowledged while the database was down reached it */
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1,
                                 "SELECT count(*) FROM connectors WHERE charger_id = 'id-a-0'"
                                 " AND connector_id = 2 AND status = 'Unavailable'"),
                     1);
    print_message("postgres restart: %d acknowledged, %d InternalError, %d unanswered attempts\n", r.acked,
                  r.internal_errors, r.no_answer);
    run_free(&r);
}

static void test_gateway_sigkill_mid_run(void **state)
{
    (void)state;
    static struct run r;
    run_init(&r, "id-b-");
    run_until_acked(&r, NCHARGERS * NSTEPS / 3, FINISH_MS);

    send_in_flight(&r, "pre-kill");
    gw_kill9(W.gw);
    /* the chargers notice, keep their messages and fail to reconnect for a while */
    int acked = r.acked;
    for (int i = 0; i < 2; i++)
        (void)tick(&r);
    assert_int_equal(r.acked, acked);

    gw_restart(W.gw);
    run_until_acked(&r, NCHARGERS * NSTEPS, FINISH_MS);
    verify(&r);
    print_message("gateway SIGKILL: %d acknowledged, %d InternalError, %d unanswered attempts\n", r.acked,
                  r.internal_errors, r.no_answer);
    run_free(&r);
}

/* A failed test must not leave the database stopped for the next one. */
static int test_teardown(void **state)
{
    const char *argv[] = { "scripts/pg.sh", "start", getenv("OCPPGW_TEST_PGDIR"), NULL };
    if (argv[2]) {
        struct proc_result res;
        proc_run(argv, NULL, 90000, &res);
        proc_result_free(&res);
    }
    if (W.gw && !gw_running(W.gw))
        gw_restart(W.gw);
    return it_test_teardown(state);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, it_test_setup, test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_postgres_restart_mid_run),
        T(test_gateway_sigkill_mid_run),
    };
#undef T
    return cmocka_run_group_tests_name("it_durability", tests, group_setup, it_group_teardown);
}
