/*
 * The pure parts of webhook delivery (src/webhook/, src/model/event_types.c,
 * src/util/netaddr.c): Standard Webhooks signatures against the
 * specification's published test vector, the retry schedule and its
 * jitter bounds, Retry-After (seconds and HTTP-date) and its cap,
 * subscription patterns with wildcards, and the address classes of the
 * SSRF rule (IPv4-mapped and other IPv6 forms of private IPv4 included).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "event_types.h"
#include "netaddr.h"
#include "webhook.h"

/* ---------------------------------------------------------------- signatures */

static void test_signature_of_the_standard_webhooks_vector(void **state)
{
    (void)state;
    const char body[] = "{\"test\": 2432232314}";
    char sig[WH_SIGNATURE_MAX];
    assert_true(wh_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
                        strlen(body), sig, sizeof sig));
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    /* the secret without its prefix is the same key */
    assert_true(wh_sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
                        strlen(body), sig, sizeof sig));
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    /* any other id, time or body signs differently */
    assert_true(wh_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, body,
                        strlen(body), sig, sizeof sig));
    assert_string_not_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    /* malformed secrets and short buffers are refused */
    assert_false(wh_sign("whsec_not base64!", "m", 1, body, strlen(body), sig, sizeof sig));
    assert_false(wh_sign("whsec_", "m", 1, body, strlen(body), sig, sizeof sig));
    assert_false(wh_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "m", 1, body, strlen(body), sig, 20));
}

static void test_new_secrets(void **state)
{
    (void)state;
    char *a = wh_secret_new(), *b = wh_secret_new();
    assert_int_equal(strncmp(a, "whsec_", 6), 0);
    assert_int_equal(strlen(a), 6 + 44);          /* base64 of 32 bytes */
    assert_string_not_equal(a, b);
    char sig[WH_SIGNATURE_MAX];
    assert_true(wh_sign(a, "m", 1, "{}", 2, sig, sizeof sig));
    free(a);
    free(b);
}

/* ---------------------------------------------------------------- schedule */

static void test_default_schedule_and_jitter_bounds(void **state)
{
    (void)state;
    struct wh_schedule s;
    assert_true(wh_schedule_parse(WH_SCHEDULE_DEFAULT, &s));
    static const int steps[] = { 5, 300, 1800, 7200, 18000, 36000, 36000 };
    assert_int_equal(s.n, 7);
    for (int i = 0; i < 7; i++) {
        assert_int_equal(s.steps[i], steps[i]);
        double lo = wh_retry_delay(&s, i + 1, 0.0, -1), mid = wh_retry_delay(&s, i + 1, 0.5, -1),
               hi = wh_retry_delay(&s, i + 1, 0.999999, -1);
        /* +-20 %, never outside */
        assert_true(lo >= steps[i] * 0.8 - 1e-9 && lo <= steps[i] * 0.8 + 1e-6);
        assert_true(mid > steps[i] * 0.999 && mid < steps[i] * 1.001);
        assert_true(hi <= steps[i] * 1.2 + 1e-9 && hi > steps[i] * 1.19);
        for (int k = 0; k < 100; k++) {
            double d = wh_retry_delay(&s, i + 1, k / 100.0, -1);
            assert_true(d >= steps[i] * 0.8 - 1e-9 && d <= steps[i] * 1.2 + 1e-9);
        }
    }
    /* after the 8th attempt (the 7th retry) nothing is left: failed */
    assert_true(wh_retry_delay(&s, 8, 0.5, -1) < 0);
    assert_true(wh_retry_delay(&s, 0, 0.5, -1) < 0);
    /* out-of-range jitter is clamped */
    assert_true(wh_retry_delay(&s, 1, -3, -1) >= 4.0 - 1e-9);
    assert_true(wh_retry_delay(&s, 1, 7, -1) <= 6.0 + 1e-9);
}

static void test_schedule_parse(void **state)
{
    (void)state;
    struct wh_schedule s;
    assert_true(wh_schedule_parse("1,1,2", &s));
    assert_int_equal(s.n, 3);
    assert_int_equal(s.steps[2], 2);
    assert_true(wh_schedule_parse(" 3 , 4 ", &s));
    assert_int_equal(s.n, 2);
    assert_false(wh_schedule_parse("", &s));
    assert_false(wh_schedule_parse("1,,2", &s));
    assert_false(wh_schedule_parse("1,", &s));
    assert_false(wh_schedule_parse("0", &s));
    assert_false(wh_schedule_parse("-5", &s));
    assert_false(wh_schedule_parse("5s", &s));
    assert_false(wh_schedule_parse("1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1", &s));   /* 17 steps */
}

static void test_retry_after_is_honoured_up_to_the_next_step(void **state)
{
    (void)state;
    struct wh_schedule s;
    assert_true(wh_schedule_parse(WH_SCHEDULE_DEFAULT, &s));
    /* after the 1st attempt the step is 5 s: Retry-After 60 waits 60 */
    assert_true(wh_retry_delay(&s, 1, 0.5, 60) == 60);
    /* ... but not past the step after it (5 min) */
    assert_true(wh_retry_delay(&s, 1, 0.5, 86400) == 300);
    /* never earlier than the schedule */
    assert_true(wh_retry_delay(&s, 2, 0.5, 1) == 300);
    /* the last retry is capped at the last step */
    assert_true(wh_retry_delay(&s, 7, 0.5, 999999) == 36000);
    assert_true(wh_retry_delay(&s, 8, 0.5, 10) < 0);
}

static void test_retry_after_parsing(void **state)
{
    (void)state;
    int64_t v = -1;
    assert_true(wh_parse_retry_after("120", 0, &v));
    assert_int_equal(v, 120);
    assert_true(wh_parse_retry_after(" 0 ", 0, &v));
    assert_int_equal(v, 0);
    /* 1994-11-06T08:49:37Z = 784111777 */
    assert_true(wh_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 - 30, &v));
    assert_int_equal(v, 30);
    assert_true(wh_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 + 30, &v));
    assert_int_equal(v, 0);                         /* in the past: now */
    assert_false(wh_parse_retry_after("soon", 0, &v));
    assert_false(wh_parse_retry_after("12abc", 0, &v));
    assert_false(wh_parse_retry_after("", 0, &v));
    assert_false(wh_parse_retry_after("Sun, 06 Nov 1994 08:49:37 PST", 0, &v));
}

/* ---------------------------------------------------------------- event types */

static void test_type_patterns(void **state)
{
    (void)state;
    assert_true(event_type_matches("session.started", "session.started"));
    assert_false(event_type_matches("session.started", "session.stopped"));
    assert_true(event_type_matches("session.*", "session.started"));
    assert_true(event_type_matches("session.*", "session.updated"));
    assert_false(event_type_matches("session.*", "sessions.started"));
    assert_false(event_type_matches("session.*", "connector.status_changed"));
    assert_true(event_type_matches("*", "charger.booted"));
    assert_true(event_type_matches("charger.*", "charger.disconnected"));
    /* no wildcard matches meter values: only their name */
    assert_false(event_type_matches("*", "meter_values.received"));
    assert_false(event_type_matches("meter_values.*", "meter_values.received"));
    assert_true(event_type_matches("meter_values.received", "meter_values.received"));

    assert_true(event_type_pattern_valid("session.*"));
    assert_true(event_type_pattern_valid("*"));
    assert_true(event_type_pattern_valid("token.deleted"));
    assert_true(event_type_pattern_valid("meter_values.received"));
    assert_false(event_type_pattern_valid("meter_values.*"));  /* would match nothing */
    assert_false(event_type_pattern_valid("session.stoped"));
    assert_false(event_type_pattern_valid("sess*"));
    assert_false(event_type_pattern_valid("*.started"));
    assert_false(event_type_pattern_valid("nothing.*"));
    assert_false(event_type_pattern_valid(""));
    for (size_t i = 0; event_types[i]; i++)
        assert_true(event_type_known(event_types[i]));
    assert_false(event_type_known("webhook.test"));
}

/* ---------------------------------------------------------------- addresses */

static enum netaddr_class cls(const char *text)
{
    enum netaddr_class c;
    if (!netaddr_class_text(text, &c))
        fail_msg("'%s' is no address", text);
    return c;
}

static void test_address_classes(void **state)
{
    (void)state;
    static const struct {
        const char *addr;
        enum netaddr_class want;
    } cases[] = {
        { "8.8.8.8", NETADDR_PUBLIC }, { "93.184.216.34", NETADDR_PUBLIC },
        { "127.0.0.1", NETADDR_LOOPBACK }, { "127.255.0.9", NETADDR_LOOPBACK },
        { "10.1.2.3", NETADDR_PRIVATE }, { "172.16.0.1", NETADDR_PRIVATE }, { "172.31.255.255", NETADDR_PRIVATE },
        { "172.32.0.1", NETADDR_PUBLIC }, { "172.15.0.1", NETADDR_PUBLIC },
        { "192.168.1.1", NETADDR_PRIVATE }, { "100.64.0.1", NETADDR_PRIVATE }, { "100.128.0.1", NETADDR_PUBLIC },
        { "169.254.169.254", NETADDR_LINK_LOCAL },
        { "224.0.0.1", NETADDR_MULTICAST }, { "239.255.255.250", NETADDR_MULTICAST },
        { "0.0.0.0", NETADDR_UNSPECIFIED }, { "255.255.255.255", NETADDR_RESERVED }, { "240.0.0.1", NETADDR_RESERVED },
        { "::1", NETADDR_LOOPBACK }, { "::", NETADDR_UNSPECIFIED },
        { "fe80::1", NETADDR_LINK_LOCAL }, { "fc00::1", NETADDR_PRIVATE }, { "fd12:3456::1", NETADDR_PRIVATE },
        { "ff02::1", NETADDR_MULTICAST }, { "2001:4860:4860::8888", NETADDR_PUBLIC },
        /* IPv4 inside IPv6: judged by the IPv4 */
        { "::ffff:127.0.0.1", NETADDR_LOOPBACK }, { "::ffff:10.0.0.1", NETADDR_PRIVATE },
        { "::ffff:169.254.169.254", NETADDR_LINK_LOCAL }, { "::ffff:8.8.8.8", NETADDR_PUBLIC },
        { "::127.0.0.1", NETADDR_LOOPBACK }, { "64:ff9b::192.168.0.1", NETADDR_PRIVATE },
        { "64:ff9b::8.8.8.8", NETADDR_PUBLIC }, { "2002:7f00:1::", NETADDR_LOOPBACK },
        { "2002:0808:0808::", NETADDR_PUBLIC },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum netaddr_class got = cls(cases[i].addr);
        if (got != cases[i].want)
            fail_msg("%s: %s, expected %s", cases[i].addr, netaddr_class_name(got), netaddr_class_name(cases[i].want));
    }
    enum netaddr_class c;
    assert_false(netaddr_class_text("localhost", &c));
    assert_false(netaddr_class_text("1.2.3", &c));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_of_the_standard_webhooks_vector),
        cmocka_unit_test(test_new_secrets),
        cmocka_unit_test(test_default_schedule_and_jitter_bounds),
        cmocka_unit_test(test_schedule_parse),
        cmocka_unit_test(test_retry_after_is_honoured_up_to_the_next_step),
        cmocka_unit_test(test_retry_after_parsing),
        cmocka_unit_test(test_type_patterns),
        cmocka_unit_test(test_address_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
