/*
 * Unit tests for the per-key token bucket (src/rest/ratelimit.c) with a
 * fake clock: burst, refill at the rate, the cap at the burst, Retry-After,
 * keys independent, a forgotten key starting full again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../src/rest/framework.h"

#define SEC 1000000LL

static void test_burst_then_refused(void **state)
{
    (void)state;
    struct rest_ratelimit *rl = rest_rl_new(20, 100);
    int64_t t = 5 * SEC;
    for (int i = 0; i < 100; i++) {
        struct rest_rl_result r = rest_rl_take(rl, 1, t);
        assert_true(r.allowed);
        assert_int_equal(r.limit, 100);
        assert_int_equal(r.remaining, 99 - i);
    }
    struct rest_rl_result r = rest_rl_take(rl, 1, t);
    assert_false(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_int_equal(r.retry_after_s, 1);
    rest_rl_free(rl);
}

static void test_refill_at_rate(void **state)
{
    (void)state;
    struct rest_ratelimit *rl = rest_rl_new(20, 100);
    int64_t t = 0;
    for (int i = 0; i < 100; i++)
        assert_true(rest_rl_take(rl, 7, t).allowed);
    assert_false(rest_rl_take(rl, 7, t).allowed);
    /* 20/s: one token every 50 ms */
    t += 49 * 1000;
    assert_false(rest_rl_take(rl, 7, t).allowed);
    t += 1000;
    assert_true(rest_rl_take(rl, 7, t).allowed);
    assert_false(rest_rl_take(rl, 7, t).allowed);
    /* a second later: 20 more, not 21 */
    t += SEC;
    for (int i = 0; i < 20; i++)
        assert_true(rest_rl_take(rl, 7, t).allowed);
    assert_false(rest_rl_take(rl, 7, t).allowed);
    /* a long pause fills to the burst, never beyond */
    t += 3600 * SEC;
    struct rest_rl_result r = rest_rl_take(rl, 7, t);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 99);
    rest_rl_free(rl);
}

static void test_sustained_rate(void **state)
{
    (void)state;
    struct rest_ratelimit *rl = rest_rl_new(20, 100);
    int64_t t = 0;
    int allowed = 0;
    /* 100 requests a second for 10 s: burst + 20/s get through */
    for (int i = 0; i < 1000; i++, t += SEC / 100)
        allowed += rest_rl_take(rl, 3, t).allowed;
    assert_in_range(allowed, 100 + 200 - 2, 100 + 200 + 1);
    rest_rl_free(rl);
}

static void test_retry_after_slow_rate(void **state)
{
    (void)state;
    struct rest_ratelimit *rl = rest_rl_new(0.25, 1);     /* one every 4 s */
    assert_true(rest_rl_take(rl, 1, 0).allowed);
    struct rest_rl_result r = rest_rl_take(rl, 1, 0);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after_s, 4);
    r = rest_rl_take(rl, 1, 3 * SEC);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after_s, 1);
    assert_true(rest_rl_take(rl, 1, 4 * SEC).allowed);
    rest_rl_free(rl);
}

static void test_keys_independent_and_forget(void **state)
{
    (void)state;
    struct rest_ratelimit *rl = rest_rl_new(1, 2);
    assert_true(rest_rl_take(rl, 1, 0).allowed);
    assert_true(rest_rl_take(rl, 1, 0).allowed);
    assert_false(rest_rl_take(rl, 1, 0).allowed);
    assert_true(rest_rl_take(rl, 2, 0).allowed);
    assert_int_equal(rest_rl_count(rl), 2);
    rest_rl_forget(rl, 1);
    assert_int_equal(rest_rl_count(rl), 1);
    assert_true(rest_rl_take(rl, 1, 0).allowed);
    rest_rl_forget(rl, 99);             /* unknown: nothing */
    /* a clock that goes backwards refills nothing and breaks nothing */
    assert_true(rest_rl_take(rl, 1, -5 * SEC).allowed);
    assert_false(rest_rl_take(rl, 1, -5 * SEC).allowed);
    rest_rl_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_refused),
        cmocka_unit_test(test_refill_at_rate),
        cmocka_unit_test(test_sustained_rate),
        cmocka_unit_test(test_retry_after_slow_rate),
        cmocka_unit_test(test_keys_independent_and_forget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
