/*
 * The load manager (src/core/core_load.c) driven through the core's entry
 * points with the fake io of tests/unit/support/core_fakes.c: a balanced
 * site of three chargers, its claim answered by the fake store, the
 * chargers' answers to SetChargingProfile given (or held back) by the test.
 *
 * What a user would check, deterministically:
 *  - every connector gets a TxDefaultProfile: the site's headroom shared;
 *  - a session's TxProfile (its share) goes out only once the reductions
 *    that make room for it have been Accepted, whatever order they come
 *    in: the invariant of load-management.md, never over the limit;
 *  - a Rejected profile is stored as a load.profile_rejected and the
 *    others make up for it;
 *  - a session's stop gives its share back;
 *  - balancing turned off clears every profile the manager set.
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
#include "load_config.h"
#include "util.h"

#define T0 1767225600000LL          /* 2026-01-01T00:00:00Z */
#define ADDR "127.0.0.1"

struct fx {
    struct core_fake f;
    struct core_config cfg;
    struct core *c;
    uint64_t conn[3];
};

static const char *const ids[3] = { "LA", "LB", "LC" };

static int setup(void **state)
{
    struct fx *fx = xcalloc(1, sizeof *fx);
    core_fake_init(&fx->f, T0);
    core_config_defaults(&fx->cfg);
    struct core_io io = core_fake_io(&fx->f);
    fx->c = core_new(&io, &fx->cfg);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    core_free(fx->c);
    core_fake_fini(&fx->f);
    free(fx);
    return 0;
}

/* The 32 A site S, equal shares, 6 A minimum. */
static void add_site(struct fx *fx, int32_t limit_da)
{
    struct store_site row = { .max_current_da = limit_da, .lb_enabled = true, .strategy = LOAD_STRATEGY_EQUAL,
                              .min_current_da = 60, .phases = 3, .voltage = 230, .redistribute = true,
                              .version = 1 };
    str_copy(row.id, sizeof row.id, "S");
    core_site_upsert(fx->c, &row);
}

static void add_charger(struct fx *fx, const char *id)
{
    struct store_charger row = { .security_profile = 0, .load_known = true, .max_current_da = LOAD_NONE,
                                 .power_limit_da = LOAD_NONE };
    str_copy(row.id, sizeof row.id, id);
    str_copy(row.registration, sizeof row.registration, "Accepted");
    str_copy(row.site_id, sizeof row.site_id, "S");
    core_charger_upsert(fx->c, &row);
}

static void status(struct fx *fx, int i, const char *msg_id, const char *st)
{
    union ocpp_req r;
    memset(&r, 0, sizeof r);
    r.status.connector_id = 1;
    str_copy(r.status.status, sizeof r.status.status, st);
    str_copy(r.status.error_code, sizeof r.status.error_code, "NoError");
    core_on_request(fx->c, fx->conn[i], msg_id, OCPP_ACTION_STATUS_NOTIFICATION, &r);
}

/* The claim the manager asked for, answered: this gateway decides S. */
static void answer_claim(struct fx *fx)
{
    struct store_job *job = core_fake_take(&fx->f, STORE_OP_LOAD_CLAIM);
    assert_non_null(job);
    assert_string_equal(job->in.load_claim.site_id, "S");
    job->out.sql.ntuples = 1;
    job->out.sql.nfields = 7;
    job->out.sql.values = xcalloc(7, sizeof(char *));
    job->out.sql.values[0] = xstrdup("claimed");
    core_fake_complete(fx->c, job, STORE_OK);
}

/* Whether payload is a profile of purpose with that limit ("16.0"). */
static bool is_profile(const char *payload, const char *purpose, const char *limit)
{
    char want[64];
    snprintf(want, sizeof want, "\"chargingProfilePurpose\":\"%s\"", purpose);
    if (!strstr(payload, want))
        return false;
    snprintf(want, sizeof want, "\"limit\":%s}", limit);
    return strstr(payload, want) != NULL;
}

/* The recorded SetChargingProfile CALL from `from` on for charger i with purpose and limit, or -1. */
static int find_call(const struct fx *fx, size_t from, int i, const char *purpose, const char *limit)
{
    for (size_t k = from; k < fx->f.n_calls; k++) {
        const struct core_fake_call *call = &fx->f.calls[k];
        if (call->action == OCPP_ACTION_SET_CHARGING_PROFILE && call->conn_id == fx->conn[i] &&
            is_profile(call->payload, purpose, limit))
            return (int)k;
    }
    return -1;
}

static void answer(struct fx *fx, int k, const char *status_)
{
    char payload[64];
    snprintf(payload, sizeof payload, "{\"status\":\"%s\"}", status_);
    core_fake_result(fx->c, fx->f.calls[k].conn_id, fx->f.calls[k].msg_id, payload, status_);
}

/* Answers Accepted to every SetChargingProfile recorded from `from` on. */
static void accept_all(struct fx *fx, size_t from)
{
    size_t n = fx->f.n_calls;
    for (size_t k = from; k < n; k++)
        if (fx->f.calls[k].action == OCPP_ACTION_SET_CHARGING_PROFILE)
            answer(fx, (int)k, "Accepted");
}

/* Three connected chargers of S, each with connector 1 Available and its default accepted. */
static void site_of_three(struct fx *fx)
{
    add_site(fx, 320);
    for (int i = 0; i < 3; i++)
        add_charger(fx, ids[i]);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(core_fake_admit(fx->c, ids[i], ADDR, NULL, NULL), CORE_ADMIT_OK);
        fx->conn[i] = core_conn_open(fx->c, ids[i], ADDR);
        assert_true(fx->conn[i] != 0);
    }
    status(fx, 0, "s0", "Available");
    answer_claim(fx);
    status(fx, 1, "s1", "Available");
    status(fx, 2, "s2", "Available");
    /* defaults go out as the connectors appear; answering brings the rest */
    for (int round = 0; round < 6; round++)
        accept_all(fx, 0);
    /* settled: three idle connectors share 32 A, 10.6 A each (32 / 3 rounded down) */
    size_t from = fx->f.n_calls;
    status(fx, 0, "s3", "Available");
    assert_int_equal(fx->f.n_calls, from);      /* nothing left to send */
}

/* A StartTransaction on charger i's connector 1, committed as session sid / transaction tx. */
static void start_session(struct fx *fx, int i, const char *msg_id, int64_t sid, int32_t tx)
{
    union ocpp_req r;
    memset(&r, 0, sizeof r);
    r.start_tx.connector_id = 1;
    str_copy(r.start_tx.id_tag, sizeof r.start_tx.id_tag, "TAG");
    r.start_tx.meter_start = 0;
    r.start_tx.timestamp_ms = fx->f.now_ms;
    core_on_request(fx->c, fx->conn[i], msg_id, OCPP_ACTION_START_TRANSACTION, &r);
    struct store_job *job = core_fake_take(&fx->f, STORE_OP_START_TX);
    assert_non_null(job);
    job->out.start_tx.session_id = sid;
    job->out.start_tx.transaction_id = tx;
    job->out.start_tx.info.status = OCPP_AUTH_ACCEPTED;
    core_fake_complete(fx->c, job, STORE_OK);
    assert_non_null(core_fake_conf_for(&fx->f, fx->conn[i], msg_id));
}

static void test_defaults_share_the_headroom(void **state)
{
    struct fx *fx = *state;
    site_of_three(fx);
    for (int i = 0; i < 3; i++) {
        int k = -1;
        for (size_t from = 0; (k = find_call(fx, from, i, "TxDefaultProfile", "10.6")) >= 0 &&
                              find_call(fx, (size_t)k + 1, i, "TxDefaultProfile", "10.6") >= 0;
             from = (size_t)k + 1)
            ;
        assert_true(k >= 0);
    }
}

static void test_increase_waits_for_the_reductions(void **state)
{
    struct fx *fx = *state;
    site_of_three(fx);
    size_t from = fx->f.n_calls;
    start_session(fx, 0, "st0", 1, 101);
    /* LA's session may take 32 A, but LB and LC still hold 10.6 A each: their defaults go to 0 first */
    int kb = find_call(fx, from, 1, "TxDefaultProfile", "0.0");
    int kc = find_call(fx, from, 2, "TxDefaultProfile", "0.0");
    int ka = find_call(fx, from, 0, "TxDefaultProfile", "0.0");
    assert_true(kb >= 0 && kc >= 0 && ka >= 0);
    assert_int_equal(find_call(fx, from, 0, "TxProfile", "32.0"), -1);
    /* one of the two reductions accepted: 10.6 + 10.6 + 0 + the raise to 32 is still over */
    answer(fx, kc, "Accepted");
    answer(fx, ka, "Accepted");
    assert_int_equal(find_call(fx, from, 0, "TxProfile", "32.0"), -1);
    answer(fx, kb, "Accepted");
    int kt = find_call(fx, from, 0, "TxProfile", "32.0");
    assert_true(kt >= 0);
    assert_non_null(strstr(fx->f.calls[kt].payload, "\"transactionId\":101"));
    answer(fx, kt, "Accepted");

    /* a second session: LA comes down to 16 A before LB goes up */
    from = fx->f.n_calls;
    start_session(fx, 1, "st1", 2, 102);
    int kdown = find_call(fx, from, 0, "TxProfile", "16.0");
    assert_true(kdown >= 0);
    assert_int_equal(find_call(fx, from, 1, "TxProfile", "16.0"), -1);
    answer(fx, kdown, "Accepted");
    int kup = find_call(fx, from, 1, "TxProfile", "16.0");
    assert_true(kup >= 0);
    answer(fx, kup, "Accepted");

    /* LB stops: LA gets the whole 32 A back */
    from = fx->f.n_calls;
    union ocpp_req r;
    memset(&r, 0, sizeof r);
    r.stop_tx.transaction_id = 102;
    r.stop_tx.meter_stop = 1000;
    r.stop_tx.timestamp_ms = fx->f.now_ms;
    core_on_request(fx->c, fx->conn[1], "sp1", OCPP_ACTION_STOP_TRANSACTION, &r);
    struct store_job *job = core_fake_take(&fx->f, STORE_OP_STOP_TX);
    assert_non_null(job);
    job->out.stop_tx.outcome = STORE_STOP_CLOSED;
    job->out.stop_tx.session_id = 2;
    core_fake_complete(fx->c, job, STORE_OK);
    assert_true(find_call(fx, from, 0, "TxProfile", "32.0") >= 0);
}

static void test_rejected_profile_is_reported_and_compensated(void **state)
{
    struct fx *fx = *state;
    site_of_three(fx);
    size_t from = fx->f.n_calls;
    start_session(fx, 0, "st0", 1, 101);
    int kb = find_call(fx, from, 1, "TxDefaultProfile", "0.0");
    int kc = find_call(fx, from, 2, "TxDefaultProfile", "0.0");
    int ka = find_call(fx, from, 0, "TxDefaultProfile", "0.0");
    assert_true(kb >= 0 && kc >= 0 && ka >= 0);
    answer(fx, ka, "Accepted");
    answer(fx, kb, "Accepted");
    answer(fx, kc, "Rejected");             /* LC keeps its 10.6 A */
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_LOAD_REJECTED), 1);
    const struct store_job *rj = core_fake_job(&fx->f, STORE_OP_LOAD_REJECTED, 0);
    assert_string_equal(rj->charger_id, "LC");
    assert_string_equal(rj->in.load_rejected.outcome, "Rejected");
    assert_string_equal(rj->in.load_rejected.purpose, "TxDefaultProfile");
    /* LA's session gets what LC's 10.6 A leaves: 21.4 A, not 32 */
    assert_int_equal(find_call(fx, from, 0, "TxProfile", "32.0"), -1);
    int kt = find_call(fx, from, 0, "TxProfile", "21.4");
    assert_true(kt >= 0);
}

/* Balancing turned off: every profile the manager set is cleared, nobody is left held at 0 A. */
static void test_balancing_off_clears_the_profiles(void **state)
{
    struct fx *fx = *state;
    site_of_three(fx);
    size_t from = fx->f.n_calls;
    start_session(fx, 0, "st0", 1, 101);
    for (int round = 0; round < 4; round++)
        accept_all(fx, from);
    from = fx->f.n_calls;
    struct store_site off = { .max_current_da = 320, .lb_enabled = false, .strategy = LOAD_STRATEGY_EQUAL,
                              .min_current_da = 60, .phases = 3, .voltage = 230, .version = 2 };
    str_copy(off.id, sizeof off.id, "S");
    core_site_upsert(fx->c, &off);
    /* one CALL at a time per charger: the second clear follows the first's answer */
    for (size_t k = from; k < fx->f.n_calls; k++)
        core_fake_result(fx->c, fx->f.calls[k].conn_id, fx->f.calls[k].msg_id, "{\"status\":\"Accepted\"}",
                         "Accepted");
    int defaults = 0, tx = 0;
    for (size_t k = from; k < fx->f.n_calls; k++) {
        const struct core_fake_call *call = &fx->f.calls[k];
        assert_int_equal(call->action, OCPP_ACTION_CLEAR_CHARGING_PROFILE);
        defaults += strcmp(call->payload, "{\"id\":2001}") == 0;
        tx += strcmp(call->payload, "{\"id\":3001}") == 0 && call->conn_id == fx->conn[0];
    }
    assert_int_equal(defaults, 3);          /* each connector's TxDefaultProfile */
    assert_int_equal(tx, 1);                /* and the session's TxProfile */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults_share_the_headroom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_increase_waits_for_the_reductions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejected_profile_is_reported_and_compensated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_balancing_off_clears_the_profiles, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
