/*
 * The simulator's Smart Charging (tests/sim/profiles.c): which profiles a
 * simulated charger accepts, which it clears, and the limit per connector
 * that follows (OCPP 1.6 section 3.13). The load management tests trust
 * the simulator's record of what it was told, so this logic is tested on
 * its own: TxProfile over TxDefaultProfile, a connector's default over
 * connector 0's, stack levels, the ChargePointMaxProfile cap, W to A,
 * Relative and Absolute schedules, clearing, a TxProfile ending with its
 * transaction, and the refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "profiles.h"

#define T0 INT64_C(1714521600000)       /* 2024-05-01T00:00:00Z */

static struct sim_profile amps(int id, enum sim_profile_purpose purpose, int connector, int stack, double limit)
{
    struct sim_profile p = { .id = id, .connector = connector, .stack_level = stack, .purpose = purpose,
                             .kind = SIM_KIND_ABSOLUTE, .nperiods = 1 };
    p.periods[0] = (struct sim_profile_period){ .start_s = 0, .limit = limit };
    return p;
}

static void set_ok(struct sim_profiles *ps, const struct sim_profile *p, const struct sim_profile_tx *tx)
{
    const char *why = NULL;
    if (!sim_profiles_set(ps, p, tx, T0, &why))
        fail_msg("refused: %s", why);
}

static void test_no_profile_is_unlimited(void **state)
{
    (void)state;
    struct sim_profiles ps;
    sim_profiles_init(&ps, 2);
    assert_true(sim_profiles_limit(&ps, 1, NULL, T0) < 0);
    assert_true(sim_profiles_limit(&ps, 0, NULL, T0) < 0);
}

static void test_tx_profile_over_tx_default(void **state)
{
    (void)state;
    struct sim_profiles ps;
    struct sim_profile_tx tx = { .tx_id = 7, .started_ms = T0 };
    sim_profiles_init(&ps, 1);
    struct sim_profile d = amps(1, SIM_PURPOSE_TX_DEFAULT, 1, 0, 16);
    set_ok(&ps, &d, NULL);
    assert_float_equal(sim_profiles_limit(&ps, 1, &tx, T0), 16, 1e-4);
    struct sim_profile t = amps(2, SIM_PURPOSE_TX, 1, 0, 10);
    set_ok(&ps, &t, &tx);
    assert_float_equal(sim_profiles_limit(&ps, 1, &tx, T0), 10, 1e-4);
    /* a higher TxDefault stack level does not beat the TxProfile */
    struct sim_profile d2 = amps(3, SIM_PURPOSE_TX_DEFAULT, 1, 5, 20);
    set_ok(&ps, &d2, NULL);
    assert_float_equal(sim_profiles_limit(&ps, 1, &tx, T0), 10, 1e-4);
    /* a TxProfile of another transaction is not in force */
    struct sim_profile_tx other = { .tx_id = 8, .started_ms = T0 };
    assert_float_equal(sim_profiles_limit(&ps, 1, &other, T0), 20, 1e-4);
}

static void test_connector_default_over_connector_0(void **state)
{
    (void)state;
    struct sim_profiles ps;
    sim_profiles_init(&ps, 2);
    struct sim_profile all = amps(1, SIM_PURPOSE_TX_DEFAULT, 0, 3, 12);
    set_ok(&ps, &all, NULL);
    assert_float_equal(sim_profiles_limit(&ps, 1, NULL, T0), 12, 1e-4);
    assert_float_equal(sim_profiles_limit(&ps, 2, NULL, T0), 12, 1e-4);
    struct sim_profile one = amps(2, SIM_PURPOSE_TX_DEFAULT, 2, 0, 6);
    set_ok(&ps, &one, NULL);
    assert_float_equal(sim_profiles_limit(&ps, 1, NULL, T0), 12, 1e-4);
    assert_float_equal(sim_profiles_limit(&ps, 2, NULL, T0), 6, 1e-4);
    /* connector 0's limit is the ChargePointMaxProfile's alone */
    assert_true(sim_profiles_limit(&ps, 0, NULL, T0) < 0);
}

static void test_stack_levels(void **state)
{
    (void)state;
    struct sim_profiles ps;
    sim_profiles_init(&ps, 1);
    struct sim_profile low = amps(1, SIM_PURPOSE_TX_DEFAULT, 1, 1, 16);
    struct sim_profile high = amps(2, SIM_PURPOSE_TX_DEFAULT, 1, 2, 25);
    high.duration_s = 60;               /* in force for a minute only */
    set_ok(&ps, &high, NULL);
    set_ok(&ps, &low, NULL);
    assert_float_equal(sim_profiles_limit(&ps, 1, NULL, T0 + 1000), 25, 1e-4);
    assert_float_equal(sim_profiles_limit(&ps, 1, NULL, T0 + 60000), 16, 1e-4);
    /* same purpose, connector and stack level: replaced */
    struct sim_profile again = amps(3, SIM_PURPOSE_TX_DEFAULT, 1, 1, 8);
    set_ok(&ps, &again, NULL);
    assert_int_equal(ps.n, 2);
    assert_float_equal(sim_profiles_limit(&ps, 1, NULL, T0 + 60000), 8, 1e-4);
    /* same id, another stack level: replaced too */
    struct sim_profile same_id = amps(3, SIM_PURPOSE_TX_DEFAULT, 1, 4, 9);
    set_ok(&ps, &same_id, NULL);
    assert_int_equal(ps.n, 2);
    assert_float_equal(sim_profiles_limit(&ps, 1, NULL, T0 + 1000), 9, 1e-4);
}

static void test_charge_point_max_caps(void **state)
{
    (void)state;
    struct sim_profiles ps;
    struct sim_profile_tx tx = { .tx_id = 1, .started_ms = T0 };
    sim_profiles_init(&ps, 2);
    struct sim_profile max = amps(1, SIM_PURPOSE_CHARGE_POINT_MAX, 0, 0, 20);
    set_ok(&ps, &max, NULL);
    assert_float_equal(sim_profiles_limit(&ps, 1, NULL, T0), 20, 1e-4);
    assert_float_equal(sim_profiles_limit(&ps, 0, NULL, T0), 20, 1e-4);
    struct sim_profile t = amps(2, SIM_PURPOSE_TX, 1, 0, 32);
    set_ok(&ps, &t, &tx);
    assert_float_equal(sim_profiles_limit(&ps, 1, &tx, T0), 20, 1e-4);
    struct sim_profile t2 = amps(3, SIM_PURPOSE_TX, 1, 0, 13.5);
    set_ok(&ps, &t2, &tx);
    assert_float_equal(sim_profiles_limit(&ps, 1, &tx, T0), 13.5, 1e-4);
    struct sim_profile bad = amps(4, SIM_PURPOSE_CHARGE_POINT_MAX, 1, 0, 20);
    const char *why = NULL;
    assert_false(sim_profiles_set(&ps, &bad, NULL, T0, &why));
    assert_non_null(why);
}

static void test_watts_to_amps(void **state)
{
    (void)state;
    struct sim_profiles ps;
    sim_profiles_init(&ps, 1);
    struct sim_profile w = amps(1, SIM_PURPOSE_TX_DEFAULT, 1, 0, 11040);
    w.watts = true;                     /* 3 phases by default: 11040 / 690 = 16 A */
    set_ok(&ps, &w, NULL);
    assert_float_equal(sim_profiles_limit(&ps, 1, NULL, T0), 16, 1e-4);
    w.periods[0].phases = 1;            /* 11040 / 230 = 48 A */
    set_ok(&ps, &w, NULL);
    assert_float_equal(sim_profiles_limit(&ps, 1, NULL, T0), 48, 1e-4);
}

static void test_relative_schedule(void **state)
{
    (void)state;
    struct sim_profiles ps;
    struct sim_profile_tx tx = { .tx_id = 5, .started_ms = T0 };
    sim_profiles_init(&ps, 1);
    struct sim_profile r = amps(1, SIM_PURPOSE_TX, 1, 0, 6);
    r.kind = SIM_KIND_RELATIVE;
    r.nperiods = 3;
    r.periods[1] = (struct sim_profile_period){ .start_s = 600, .limit = 16 };
    r.periods[2] = (struct sim_profile_period){ .start_s = 1800, .limit = 0 };
    /* set 15 minutes into the transaction: periods count from its start */
    assert_true(sim_profiles_set(&ps, &r, &tx, T0 + 900000, NULL));
    assert_float_equal(sim_profiles_limit(&ps, 1, &tx, T0 + 900000), 16, 1e-4);
    assert_float_equal(sim_profiles_limit(&ps, 1, &tx, T0 + 599000), 6, 1e-4);
    assert_float_equal(sim_profiles_limit(&ps, 1, &tx, T0 + 1800000), 0, 1e-4);
    /* Absolute: from its startSchedule; not yet in force before it */
    struct sim_profile a = amps(2, SIM_PURPOSE_TX_DEFAULT, 1, 0, 10);
    a.has_start = true;
    a.start_ms = T0 + 3600000;
    set_ok(&ps, &a, NULL);
    assert_true(sim_profiles_limit(&ps, 1, NULL, T0 + 3599000) < 0);
    assert_float_equal(sim_profiles_limit(&ps, 1, NULL, T0 + 3600000), 10, 1e-4);
    /* periods out of order: refused */
    struct sim_profile bad = r;
    bad.id = 3;
    bad.periods[2].start_s = 100;
    assert_false(sim_profiles_set(&ps, &bad, &tx, T0, NULL));
}

static void test_clear(void **state)
{
    (void)state;
    struct sim_profiles ps;
    struct sim_profile_tx tx = { .tx_id = 9, .started_ms = T0 };
    sim_profiles_init(&ps, 2);
    struct sim_profile d0 = amps(1, SIM_PURPOSE_TX_DEFAULT, 0, 0, 10);
    struct sim_profile d1 = amps(2, SIM_PURPOSE_TX_DEFAULT, 1, 1, 8);
    struct sim_profile t1 = amps(3, SIM_PURPOSE_TX, 1, 1, 6);
    struct sim_profile mx = amps(4, SIM_PURPOSE_CHARGE_POINT_MAX, 0, 0, 30);
    set_ok(&ps, &d0, NULL);
    set_ok(&ps, &d1, NULL);
    set_ok(&ps, &t1, &tx);
    set_ok(&ps, &mx, NULL);
    /* by id */
    assert_int_equal(sim_profiles_clear(&ps, &(struct sim_profile_filter){ 3, -1, -1, -1 }), 1);
    assert_float_equal(sim_profiles_limit(&ps, 1, &tx, T0), 8, 1e-4);
    assert_int_equal(sim_profiles_clear(&ps, &(struct sim_profile_filter){ 3, -1, -1, -1 }), 0);
    /* the id wins over the other fields */
    assert_int_equal(sim_profiles_clear(&ps, &(struct sim_profile_filter){ 99, 1, SIM_PURPOSE_TX_DEFAULT, -1 }), 0);
    /* by purpose: both defaults go, the max stays */
    assert_int_equal(sim_profiles_clear(&ps, &(struct sim_profile_filter){ -1, -1, SIM_PURPOSE_TX_DEFAULT, -1 }),
                     2);
    assert_float_equal(sim_profiles_limit(&ps, 1, &tx, T0), 30, 1e-4);
    /* by connector and stack level */
    assert_int_equal(sim_profiles_clear(&ps, &(struct sim_profile_filter){ -1, 0, -1, 1 }), 0);
    assert_int_equal(sim_profiles_clear(&ps, &(struct sim_profile_filter){ -1, 0, -1, 0 }), 1);
    assert_int_equal(ps.n, 0);
    /* no filter: all */
    set_ok(&ps, &d0, NULL);
    set_ok(&ps, &d1, NULL);
    assert_int_equal(sim_profiles_clear(&ps, &(struct sim_profile_filter){ -1, -1, -1, -1 }), 2);
}

static void test_tx_profile_ends_with_transaction(void **state)
{
    (void)state;
    struct sim_profiles ps;
    struct sim_profile_tx tx = { .tx_id = 11, .started_ms = T0 };
    sim_profiles_init(&ps, 1);
    struct sim_profile d = amps(1, SIM_PURPOSE_TX_DEFAULT, 0, 0, 16);
    struct sim_profile t = amps(2, SIM_PURPOSE_TX, 1, 0, 4);
    set_ok(&ps, &d, NULL);
    set_ok(&ps, &t, &tx);
    assert_float_equal(sim_profiles_limit(&ps, 1, &tx, T0), 4, 1e-4);
    assert_int_equal(sim_profiles_tx_ended(&ps, 1, 11), 1);
    assert_int_equal(ps.n, 1);
    /* the next transaction starts under the default */
    struct sim_profile_tx next = { .tx_id = 12, .started_ms = T0 };
    assert_float_equal(sim_profiles_limit(&ps, 1, &next, T0), 16, 1e-4);
}

static void test_tx_profile_refusals(void **state)
{
    (void)state;
    struct sim_profiles ps;
    struct sim_profile_tx tx = { .tx_id = 21, .started_ms = T0 };
    const char *why;
    sim_profiles_init(&ps, 2);
    struct sim_profile t = amps(1, SIM_PURPOSE_TX, 1, 0, 10);
    assert_false(sim_profiles_set(&ps, &t, NULL, T0, &why));             /* no transaction */
    assert_false(sim_profiles_set(&ps, &t, &(struct sim_profile_tx){ 0, 0 }, T0, &why));
    t.transaction_id = 22;
    assert_false(sim_profiles_set(&ps, &t, &tx, T0, &why));              /* another transaction */
    t.transaction_id = 21;
    struct sim_profile zero = t;
    zero.connector = 0;
    assert_false(sim_profiles_set(&ps, &zero, &tx, T0, &why));           /* connector 0 */
    struct sim_profile far = t;
    far.connector = 3;
    assert_false(sim_profiles_set(&ps, &far, &tx, T0, &why));            /* no such connector */
    struct sim_profile deep = t;
    deep.stack_level = SIM_PROFILE_STACK_MAX + 1;
    assert_false(sim_profiles_set(&ps, &deep, &tx, T0, &why));
    assert_int_equal(ps.n, 0);
    assert_true(sim_profiles_limit(&ps, 1, &tx, T0) < 0);
    assert_true(sim_profiles_set(&ps, &t, &tx, T0, &why));
    assert_null(why);
    assert_float_equal(sim_profiles_limit(&ps, 1, &tx, T0), 10, 1e-4);
    /* a refused profile changes nothing, not even one it would replace */
    struct sim_profile neg = t;
    neg.periods[0].limit = -1;
    assert_false(sim_profiles_set(&ps, &neg, &tx, T0, &why));
    assert_float_equal(sim_profiles_limit(&ps, 1, &tx, T0), 10, 1e-4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_profile_is_unlimited),
        cmocka_unit_test(test_tx_profile_over_tx_default),
        cmocka_unit_test(test_connector_default_over_connector_0),
        cmocka_unit_test(test_stack_levels),
        cmocka_unit_test(test_charge_point_max_caps),
        cmocka_unit_test(test_watts_to_amps),
        cmocka_unit_test(test_relative_schedule),
        cmocka_unit_test(test_clear),
        cmocka_unit_test(test_tx_profile_ends_with_transaction),
        cmocka_unit_test(test_tx_profile_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
