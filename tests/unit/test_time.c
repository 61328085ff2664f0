/*
 * RFC 3339 timestamps as OCPP sends them (src/util/timeutil.c):
 * time_parse_iso8601 accepts offsets, fractions and leap days and refuses
 * everything else; time_format_iso8601 always answers UTC with 'Z' and
 * milliseconds, and round-trips with the parser; time_format_api (the REST
 * API's and webhooks' times) writes the milliseconds only when not zero.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"

#define DAY_MS INT64_C(86400000)
#define T_2024_05_01Z INT64_C(1714521600000)

static int64_t parse_ok(const char *s)
{
    int64_t ms = -12345;
    if (!time_parse_iso8601(s, &ms))
        print_error("refused: '%s'\n", s);
    assert_true(time_parse_iso8601(s, &ms));
    return ms;
}

static void test_utc_and_epoch(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse_ok("1970-01-02T00:00:00Z"), DAY_MS);
    assert_int_equal(parse_ok("2024-05-01T00:00:00Z"), T_2024_05_01Z);
    assert_int_equal(parse_ok("2024-05-01t00:00:00z"), T_2024_05_01Z);
    assert_int_equal(parse_ok("2024-05-01T23:59:59Z"), T_2024_05_01Z + DAY_MS - 1000);
    assert_int_equal(parse_ok("2038-01-19T03:14:08Z"), INT64_C(2147483648000));
    assert_int_equal(parse_ok("9999-12-31T23:59:59Z"), INT64_C(253402300799000));
}

static void test_offsets(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("2024-05-01T02:00:00+02:00"), T_2024_05_01Z);
    assert_int_equal(parse_ok("2024-04-30T19:00:00-05:00"), T_2024_05_01Z);
    assert_int_equal(parse_ok("2024-05-01T05:30:00+05:30"), T_2024_05_01Z);
    assert_int_equal(parse_ok("2024-05-01T00:00:00+00:00"), T_2024_05_01Z);
    assert_int_equal(parse_ok("2024-05-01T00:00:00-00:00"), T_2024_05_01Z);
    assert_int_equal(parse_ok("2024-05-01T23:59:00+23:59"), T_2024_05_01Z);
    /* an offset may cross the epoch */
    assert_int_equal(parse_ok("1970-01-01T00:00:00+01:00"), -3600000);
}

static void test_fractions(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("2024-05-01T00:00:00.5Z"), T_2024_05_01Z + 500);
    assert_int_equal(parse_ok("2024-05-01T00:00:00.05Z"), T_2024_05_01Z + 50);
    assert_int_equal(parse_ok("2024-05-01T00:00:00.123Z"), T_2024_05_01Z + 123);
    assert_int_equal(parse_ok("2024-05-01T00:00:00.1239Z"), T_2024_05_01Z + 123); /* truncated, not rounded */
    assert_int_equal(parse_ok("2024-05-01T00:00:00.999999999Z"), T_2024_05_01Z + 999);
    assert_int_equal(parse_ok("2024-05-01T02:00:00.250+02:00"), T_2024_05_01Z + 250);
}

static void test_leap_years(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("2024-02-29T00:00:00Z") + DAY_MS, parse_ok("2024-03-01T00:00:00Z"));
    assert_int_equal(parse_ok("2000-02-29T00:00:00Z") + DAY_MS, parse_ok("2000-03-01T00:00:00Z"));
    assert_int_equal(parse_ok("2023-02-28T00:00:00Z") + DAY_MS, parse_ok("2023-03-01T00:00:00Z"));
    assert_int_equal(parse_ok("2024-12-31T00:00:00Z") + DAY_MS, parse_ok("2025-01-01T00:00:00Z"));
    assert_int_equal(parse_ok("2025-01-01T00:00:00Z") - parse_ok("2024-01-01T00:00:00Z"), 366 * DAY_MS);
    assert_int_equal(parse_ok("2101-01-01T00:00:00Z") - parse_ok("2100-01-01T00:00:00Z"), 365 * DAY_MS);
    int64_t ms;
    assert_false(time_parse_iso8601("2023-02-29T00:00:00Z", &ms));
    assert_false(time_parse_iso8601("2100-02-29T00:00:00Z", &ms));
    assert_false(time_parse_iso8601("2024-02-30T00:00:00Z", &ms));
    assert_false(time_parse_iso8601("2024-04-31T00:00:00Z", &ms));
    /* a leap second is clamped to :59 */
    assert_int_equal(parse_ok("2016-12-31T23:59:60Z"), parse_ok("2016-12-31T23:59:59Z"));
}

static void test_garbage(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "now", "2024-05-01", "2024-05-01T00:00:00", "2024-05-01T00:00Z", "2024-05-01 00:00:00Z",
        "2024-05-01T00:00:00ZZ", "2024-05-01T00:00:00Z ", " 2024-05-01T00:00:00Z", "2024-5-01T00:00:00Z",
        "2024-05-01T00:00:00.Z", "2024-05-01T00:00:00.1234567890Z", "2024-05-01T00:00:00+0200",
        "2024-05-01T00:00:00+02", "2024-05-01T00:00:00+24:00", "2024-05-01T00:00:00+02:60",
        "2024-13-01T00:00:00Z", "2024-00-01T00:00:00Z", "2024-05-00T00:00:00Z", "2024-05-01T24:00:00Z",
        "2024-05-01T00:60:00Z", "2024-05-01T00:00:61Z", "1969-12-31T23:59:59Z", "abcd-ef-ghTij:kl:mnZ",
        "2024-05-01T00:00:00,5Z", "+2024-05-01T00:00:00Z", "2024-05-01T00:00:00-", "2024-05-01T00:00:00+",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 42;
        if (time_parse_iso8601(bad[i], &ms))
            print_error("accepted: '%s'\n", bad[i]);
        assert_false(time_parse_iso8601(bad[i], &ms));
        assert_int_equal(ms, 42); /* untouched on failure */
    }
}

static void test_format(void **state)
{
    (void)state;
    char buf[TIME_ISO8601_LEN];
    time_format_iso8601(0, buf, sizeof buf);
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
    time_format_iso8601(T_2024_05_01Z + 3723004, buf, sizeof buf);
    assert_string_equal(buf, "2024-05-01T01:02:03.004Z");
    time_format_iso8601(-1, buf, sizeof buf);
    assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
    time_format_iso8601(INT64_C(253402300799999), buf, sizeof buf);
    assert_string_equal(buf, "9999-12-31T23:59:59.999Z");
    assert_int_equal(strlen(buf) + 1, TIME_ISO8601_LEN);
    /* a short buffer is cut, still terminated */
    char small[11];
    time_format_iso8601(T_2024_05_01Z, small, sizeof small);
    assert_string_equal(small, "2024-05-01");
}

static void test_format_api(void **state)
{
    (void)state;
    char buf[32];
    char small[TIME_ISO8601_LEN - 1] = "x";
    time_format_api(0, small, sizeof small);        /* too short: empty */
    assert_string_equal(small, "");
    time_format_api(INT64_C(1714521600000000), buf, sizeof buf);
    assert_string_equal(buf, "2024-05-01T00:00:00Z");
    time_format_api(INT64_C(1714521600250000), buf, sizeof buf);
    assert_string_equal(buf, "2024-05-01T00:00:00.250Z");
    time_format_api(INT64_C(1714521600001999), buf, sizeof buf);
    assert_string_equal(buf, "2024-05-01T00:00:00.001Z");
    time_format_api(INT64_C(1714521600000999), buf, sizeof buf);
    assert_string_equal(buf, "2024-05-01T00:00:00Z");
    time_format_api(-1, buf, sizeof buf);
    assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
    /* against the libc-based formatter, over leap years and centuries */
    for (int64_t ms = -INT64_C(2208988800000); ms < INT64_C(7258118400000); ms += INT64_C(86399999) * 7 + 13) {
        char want[32];
        time_format_iso8601(ms, want, sizeof want);
        size_t n = strlen(want);
        if (strcmp(want + n - 5, ".000Z") == 0)
            memcpy(want + n - 5, "Z", 2);
        time_format_api(ms * 1000, buf, sizeof buf);
        if (strcmp(buf, want) != 0)
            fail_msg("%lld ms: %s, want %s", (long long)ms, buf, want);
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252u; /* xorshift: deterministic spread over 1970..9999 */
    for (int i = 0; i < 10000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t ms = (int64_t)(x % UINT64_C(253402300800000));
        char buf[TIME_ISO8601_LEN];
        time_format_iso8601(ms, buf, sizeof buf);
        assert_int_equal(parse_ok(buf), ms);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utc_and_epoch),
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_fractions),
        cmocka_unit_test(test_leap_years),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_api),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
