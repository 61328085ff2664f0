/*
 * The attack classes CISA names for OCPP backends, one test each, against
 * the real gateway (docs/operations.md, Security):
 *
 *   missing websocket authentication  a profile-1 charger id without, or with
 *                                     wrong, Basic credentials is refused 401
 *                                     and never reaches the OCPP protocol;
 *   session shadowing                 an unauthenticated or wrong-password
 *                                     second connection for a live charger id
 *                                     does not disturb the live one;
 *   no authentication throttling      after N wrong passwords from one address
 *                                     for one id even the right password is
 *                                     refused there for a while, and another
 *                                     id from another address is not;
 *   predictable transaction ids       transaction ids are not sequential nor
 *                                     derivable from the previous one.
 *
 * Charger ids start with "ia-"; each test's attacker uses its own loopback
 * address (127.0.0.x) so the per-address throttle of one test does not touch
 * another.
 */
#include "it.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <sim.h>

#include "calls.h"
#include "db.h"
#include "fixture.h"
#include "gw.h"
#include "http.h"

#define PW       "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
#define PW_WRONG "ffffffffffffffffffffffffffffffffffffffff"
#define FAIL_MAX_PER_ID 3

static int group_setup(void **state)
{
    (void)state;
    db_add_charger("ia-noauth", PW, 1);
    db_add_charger("ia-shadow", PW, 1);
    db_add_charger("ia-guess", PW, 1);
    db_add_charger("ia-other", PW, 1);
    db_add_charger("ia-tx", NULL, 0);
    db_add_token("IA-TAG", "Accepted", NULL, NULL);
    char *ini = it_strf("[ocpp]\nauth_fail_max_per_id = %d\nauth_fail_window_per_id = 60\nauth_block = 60\n",
                        FAIL_MAX_PER_ID);
    struct gw_opts o = { .name = "it_attacks", .ini = ini };
    W.gw = gw_start(&o);
    free(ini);
    return 0;
}

/* Upgrade status of one attempt: 101 (then closed again), 401, 429, ... */
static int attempt(const char *id, const char *user, const char *password, const char *from)
{
    struct sim_charger_opts o = { .id = id, .basic_user = user, .password = password, .source_addr = from };
    int status = -1;
    struct sim_charger *c = it_try_connect(W.sim, &o, &status, NULL);
    if (c) {
        sim_disconnect(c);
        return 101;
    }
    return status;
}

/* ---------------------------------------------------------------- missing websocket auth */

static void test_attack_missing_websocket_auth(void **state)
{
    (void)state;
    /* no credentials, a wrong password, the right password for another user name */
    assert_int_equal(attempt("ia-noauth", NULL, NULL, "127.0.0.31"), 401);
    assert_int_equal(attempt("ia-noauth", NULL, PW_WRONG, "127.0.0.32"), 401);
    assert_int_equal(attempt("ia-noauth", "ia-other", PW, "127.0.0.33"), 401);
    assert_int_equal(attempt("ia-noauth", NULL, "", "127.0.0.34"), 401);

    /* none of them reached OCPP: the charger never counted as connected */
    assert_int_equal(db_int("SELECT (connected_at IS NULL AND NOT connected)::int FROM chargers"
                            " WHERE id = 'ia-noauth'"), 1);
    /* and the right credentials do work (the refusals were about credentials) */
    struct sim_charger *c = it_connect(W.sim, "ia-noauth", PW);
    assert_true(it_heartbeat_ok(c));
    sim_disconnect(c);
}

/* ---------------------------------------------------------------- session shadowing */

static void test_attack_session_shadowing(void **state)
{
    (void)state;
    struct sim_charger *live = it_connect(W.sim, "ia-shadow", PW);
    it_boot(live);
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1, "SELECT connected::int FROM chargers WHERE id = 'ia-shadow'"), 1);

    /* an attacker opens the same id: without credentials, then with a wrong password */
    assert_int_equal(attempt("ia-shadow", NULL, NULL, "127.0.0.41"), 401);
    assert_int_equal(attempt("ia-shadow", NULL, PW_WRONG, "127.0.0.41"), 401);

    /* the live session was not replaced, closed or rerouted: it keeps answering */
    assert_int_equal(sim_state(live), SIM_OPEN);
    assert_true(it_heartbeat_ok(live));
    assert_true(it_heartbeat_ok(live));
    assert_int_equal(db_int("SELECT connected::int FROM chargers WHERE id = 'ia-shadow'"), 1);
    char *addr = db_str("SELECT remote_addr FROM chargers WHERE id = 'ia-shadow'");
    assert_non_null(addr);
    assert_null(strstr(addr, "127.0.0.41"));
    free(addr);
    sim_disconnect(live);
}

/* ---------------------------------------------------------------- no auth throttling */

static void test_attack_no_auth_throttling(void **state)
{
    (void)state;
    const char *attacker = "127.0.0.51";
    for (int i = 0; i < FAIL_MAX_PER_ID; i++)
        assert_int_equal(attempt("ia-guess", NULL, PW_WRONG, attacker), 401);
    /* the next guess would be the right one: refused all the same */
    int st = attempt("ia-guess", NULL, PW, attacker);
    if (st != 429 && st != 401)
        fail_msg("after %d wrong passwords the right one from the same address got %d, not 429/401",
                 FAIL_MAX_PER_ID, st);
    /* a different charger from another address is unaffected */
    assert_int_equal(attempt("ia-other", NULL, PW, "127.0.0.52"), 101);
    /* and counted */
    double n = metrics_get(gw_port(W.gw), "ocppgw_auth_throttled_total", NULL);
    if (!(n >= 1))
        fail_msg("ocppgw_auth_throttled_total is %g after a throttled upgrade", n);
}

/* ---------------------------------------------------------------- predictable transaction ids */

#define N_TX 40

static void test_attack_predictable_transaction_ids(void **state)
{
    (void)state;
    struct sim_charger *c = it_connect_booted(W.sim, "ia-tx", NULL);
    long long ids[N_TX];
    char ts[32];
    it_iso_time(ts, -3600);
    for (int i = 0; i < N_TX; i++) {
        char *p = it_start_payload(1 + i % 2, "IA-TAG", 1000 + i, ts);
        cJSON *conf = it_ok(c, "StartTransaction", p);
        free(p);
        ids[i] = (long long)ji(conf, "transactionId");
        cJSON_Delete(conf);
        assert_true(ids[i] > 0);
    }
    sim_disconnect(c);

    bool increasing = true, same_step = true;
    for (int i = 1; i < N_TX; i++) {
        long long d = ids[i] - ids[i - 1];
        for (int j = 0; j < i; j++)
            if (ids[j] == ids[i])
                fail_msg("transaction id %lld given twice", ids[i]);
        /* uniformly random 31-bit ids: two consecutive ones this close happen once in a million */
        if (d >= -1000 && d <= 1000)
            fail_msg("transaction ids %lld then %lld: the next id is guessable from the previous", ids[i - 1],
                     ids[i]);
        increasing = increasing && d > 0;
        same_step = same_step && (i < 2 || d == ids[i - 1] - ids[i - 2]);
    }
    assert_false(increasing);
    assert_false(same_step);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, it_test_setup, it_test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_attack_missing_websocket_auth),
        T(test_attack_session_shadowing),
        T(test_attack_no_auth_throttling),
        T(test_attack_predictable_transaction_ids),
    };
#undef T
    return cmocka_run_group_tests_name("it_attacks", tests, group_setup, it_group_teardown);
}
