/*
 * Load management configuration rules (src/model/load_config.c): current
 * texts, deci-amperes, phases, strategies and a site's effective limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "load_config.h"

static void current_texts(void **state)
{
    (void)state;
    assert_true(load_current_text_valid("32"));
    assert_true(load_current_text_valid("32.5"));
    assert_true(load_current_text_valid("32.100000000000001")); /* 32.1 as REST prints it */
    assert_true(load_current_text_valid("0"));
    assert_true(load_current_text_valid("6.0"));
    assert_false(load_current_text_valid("32.15"));
    assert_false(load_current_text_valid("0.05"));
    assert_false(load_current_text_valid("16.25"));
    assert_false(load_current_text_valid(""));
    assert_false(load_current_text_valid("16A"));
}

static void deci_amps(void **state)
{
    (void)state;
    int32_t da;
    assert_true(load_current_parse_da("32", &da));
    assert_int_equal(da, 320);
    assert_true(load_current_parse_da("32.1", &da));
    assert_int_equal(da, 321);
    assert_true(load_current_parse_da("32.100000000000001", &da));
    assert_int_equal(da, 321);
    assert_true(load_current_parse_da("6.0", &da));
    assert_int_equal(da, 60);
    assert_true(load_current_parse_da("0", &da));
    assert_int_equal(da, 0);
    assert_true(load_current_parse_da(NULL, &da));
    assert_int_equal(da, LOAD_NONE);
    assert_true(load_current_parse_da("", &da));
    assert_int_equal(da, LOAD_NONE);
    assert_false(load_current_parse_da("-1", &da));
    assert_int_equal(da, LOAD_NONE);
    assert_false(load_current_parse_da("x", &da));
}

static void phases_and_strategies(void **state)
{
    (void)state;
    assert_true(load_phases_text_valid("1"));
    assert_true(load_phases_text_valid("3"));
    assert_false(load_phases_text_valid("2"));
    assert_false(load_phases_text_valid("0"));
    enum load_strategy s;
    assert_true(load_strategy_parse("equal", &s));
    assert_int_equal(s, LOAD_STRATEGY_EQUAL);
    assert_true(load_strategy_parse("priority", &s));
    assert_int_equal(s, LOAD_STRATEGY_PRIORITY);
    assert_false(load_strategy_parse("Equal", &s));
    assert_false(load_strategy_parse(NULL, &s));
    assert_string_equal(load_strategy_name(LOAD_STRATEGY_PRIORITY), "priority");
    assert_string_equal(load_strategy_name(LOAD_STRATEGY_EQUAL), "equal");
}

static void effective_limit(void **state)
{
    (void)state;
    /* neither */
    assert_int_equal(load_effective_current_da(LOAD_NONE, 0, 230, 3), LOAD_NONE);
    /* current only */
    assert_int_equal(load_effective_current_da(320, 0, 230, 3), 320);
    /* power only: 22000 W / (230 V x 3) = 31.88 A -> 31.8 A (down, never up) */
    assert_int_equal(load_effective_current_da(LOAD_NONE, 22000, 230, 3), 318);
    /* one phase: 7400 / 230 = 32.17 -> 32.1 */
    assert_int_equal(load_effective_current_da(LOAD_NONE, 7400, 230, 1), 321);
    /* both: the lower */
    assert_int_equal(load_effective_current_da(320, 22000, 230, 3), 318);
    assert_int_equal(load_effective_current_da(160, 22000, 230, 3), 160);
    /* exact: 6900 / (230 x 3) = 10.0 */
    assert_int_equal(load_effective_current_da(LOAD_NONE, 6900, 230, 3), 100);
    /* nonsense voltage: power ignored */
    assert_int_equal(load_effective_current_da(LOAD_NONE, 6900, 0, 3), LOAD_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(current_texts),
        cmocka_unit_test(deci_amps),
        cmocka_unit_test(phases_and_strategies),
        cmocka_unit_test(effective_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
