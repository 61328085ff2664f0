/*
 * Opaque cursors (src/rest/cursor.c): round trip of every field including
 * extremes, fixed length and alphabet, and strict refusal of anything that
 * was not made by rest_cursor_encode: any changed character, truncation,
 * padding, foreign alphabet, non-canonical trailing bits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rest_cursor.h"

static void test_round_trip(void **state)
{
    (void)state;
    const struct rest_cursor cases[] = {
        { 1, 0, false, 0, 0 },
        { 2, 1, true, INT64_C(1714521600123456), 42 },
        { 7, 3, false, INT64_MIN, INT64_MAX },
        { 255, 255, true, -1, -1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char enc[REST_CURSOR_MAX];
        rest_cursor_encode(&cases[i], enc);
        assert_int_equal(strlen(enc), 38);
        assert_int_equal(strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                         38);
        struct rest_cursor back;
        memset(&back, 0xa5, sizeof back);
        assert_true(rest_cursor_decode(enc, &back));
        assert_int_equal(back.kind, cases[i].kind);
        assert_int_equal(back.sort, cases[i].sort);
        assert_int_equal(back.desc, cases[i].desc);
        assert_true(back.key == cases[i].key);
        assert_true(back.id == cases[i].id);
    }
}

static void test_distinct(void **state)
{
    (void)state;
    struct rest_cursor a = { 2, 0, true, 1000, 1 }, b = a;
    char ea[REST_CURSOR_MAX], eb[REST_CURSOR_MAX];
    rest_cursor_encode(&a, ea);
    b.id = 2;
    rest_cursor_encode(&b, eb);
    assert_string_not_equal(ea, eb);
    b = a;
    b.desc = false;
    rest_cursor_encode(&b, eb);
    assert_string_not_equal(ea, eb);
}

static void test_every_character_tampered(void **state)
{
    (void)state;
    struct rest_cursor c = { 2, 1, true, INT64_C(1714521600123456), 987654321 }, out;
    char enc[REST_CURSOR_MAX];
    rest_cursor_encode(&c, enc);
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t accepted = 0;
    for (size_t i = 0; i < 38; i++) {
        for (const char *a = alphabet; *a; a++) {
            if (*a == enc[i])
                continue;
            char t[REST_CURSOR_MAX];
            memcpy(t, enc, sizeof t);
            t[i] = *a;
            if (rest_cursor_decode(t, &out))
                accepted++;
        }
    }
    /* 38 * 63 forgeries, none may pass (the 8-byte check makes a pass ~2^-64) */
    assert_int_equal(accepted, 0);
}

static void test_malformed(void **state)
{
    (void)state;
    struct rest_cursor c = { 3, 0, false, 5, 6 }, out;
    char enc[REST_CURSOR_MAX], t[REST_CURSOR_MAX + 8];
    rest_cursor_encode(&c, enc);

    assert_false(rest_cursor_decode(NULL, &out));
    assert_false(rest_cursor_decode("", &out));
    assert_false(rest_cursor_decode("abc", &out));
    memcpy(t, enc, 37);
    t[37] = '\0';
    assert_false(rest_cursor_decode(t, &out));            /* truncated */
    snprintf(t, sizeof t, "%sA", enc);
    assert_false(rest_cursor_decode(t, &out));            /* too long */
    snprintf(t, sizeof t, "%s=", enc);
    assert_false(rest_cursor_decode(t, &out));            /* padding */
    memcpy(t, enc, sizeof enc);
    t[5] = '+';                                           /* standard base64 alphabet */
    assert_false(rest_cursor_decode(t, &out));
    t[5] = '/';
    assert_false(rest_cursor_decode(t, &out));
    memcpy(t, enc, sizeof enc);
    t[10] = ' ';
    assert_false(rest_cursor_decode(t, &out));
    assert_false(rest_cursor_decode("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &out));
}

/* The last character carries 2 data bits and 4 zero bits: setting those is refused. */
static void test_non_canonical_tail(void **state)
{
    (void)state;
    struct rest_cursor c = { 4, 1, true, 77, 88 }, out;
    char enc[REST_CURSOR_MAX];
    rest_cursor_encode(&c, enc);
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int v = (int)(strchr(alphabet, enc[37]) - alphabet);
    assert_int_equal(v & 15, 0);
    for (int low = 1; low < 16; low++) {
        enc[37] = alphabet[v | low];
        assert_false(rest_cursor_decode(enc, &out));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_distinct),
        cmocka_unit_test(test_every_character_tampered),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_non_canonical_tail),
    };
    return cmocka_run_group_tests_name("rest_cursor", tests, NULL, NULL);
}
