/*
 * Unit tests for the log writer (src/util/log.c): text lines cannot be
 * forged (control characters, DEL, broken and C1 UTF-8 are escaped, JSON
 * lines are JSON-escaped), and the repetition table counts a message one
 * source repeats instead of writing it again. The clock is passed in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"

static void check_escape(const char *in, const char *want)
{
    char out[256];
    size_t n = log_escape_text(out, sizeof out, in);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void test_escape_controls(void **state)
{
    (void)state;
    check_escape("plain id CP-001", "plain id CP-001");
    check_escape("a\nb", "a\\nb");
    check_escape("a\r\nb\tc", "a\\r\\nb\\tc");
    check_escape("\x1b[31mred", "\\x1b[31mred");
    check_escape("nul\x01\x1f del\x7f", "nul\\x01\\x1f del\\x7f");
    /* well-formed UTF-8 stays; C1 controls and broken sequences do not */
    check_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x8c", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x8c");
    check_escape("csi\xc2\x9b" "2J", "csi\\xc2\\x9b2J");
    check_escape("raw\x9b" "x", "raw\\x9bx");
    check_escape("cut\xe2\x82", "cut\\xe2\\x82");
    check_escape("overlong\xc0\xaf", "overlong\\xc0\\xaf");
    check_escape("surrogate\xed\xa0\x80", "surrogate\\xed\\xa0\\x80");
}

static void test_escape_never_cuts_an_escape(void **state)
{
    (void)state;
    char out[6];
    assert_int_equal(log_escape_text(out, sizeof out, "abcd\ne"), 4);
    assert_string_equal(out, "abcd");
    assert_int_equal(log_escape_text(out, sizeof out, "abc\x01"), 3);
    assert_string_equal(out, "abc");
    assert_int_equal(log_escape_text(out, 1, "abc"), 0);
    assert_string_equal(out, "");
}

/* Runs fn with stderr captured into a string (caller frees). */
static char *capture_stderr(void (*fn)(void))
{
    char path[] = "/tmp/ocppgw-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    off_t size = lseek(fd, 0, SEEK_END);
    char *text = calloc(1, (size_t)size + 1);
    assert_int_equal(pread(fd, text, (size_t)size, 0), size);
    close(fd);
    return text;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void log_forgery_text(void)
{
    log_setup(LOG_INFO, LOG_TEXT);
    log_msg(LOG_WARN, "CP\n1", "tag %s", "ABC\n2026-01-01T00:00:00.000Z error forged\r\x1b[2J");
}

static void test_text_line_cannot_be_forged(void **state)
{
    (void)state;
    char *out = capture_stderr(log_forgery_text);
    assert_int_equal(count_lines(out), 1);
    assert_non_null(strstr(out, " warn charger=CP\\n1 tag ABC\\n2026-01-01T00:00:00.000Z error forged\\r\\x1b[2J\n"));
    free(out);
}

static void log_forgery_json(void)
{
    log_setup(LOG_INFO, LOG_JSON);
    log_msg(LOG_WARN, "CP\"1", "tag %s", "A\nB\x1b\x7f\\");
    log_setup(LOG_ERROR, LOG_TEXT);
}

static void test_json_line_is_escaped(void **state)
{
    (void)state;
    char *out = capture_stderr(log_forgery_json);
    assert_int_equal(count_lines(out), 1);
    assert_non_null(strstr(out, "\"charger\":\"CP\\\"1\",\"msg\":\"tag A\\u000aB\\u001b\\u007f\\\\\"}\n"));
    free(out);
}

static void test_repeat_counts_identical_messages(void **state)
{
    (void)state;
    struct log_repeat r;
    struct log_repeat_report rep;
    log_repeat_init(&r, 64, 10000);
    assert_true(log_repeat_check(&r, "conn 1", LOG_WARN, "CP1", "bad frame", 1000, &rep));
    assert_int_equal(rep.count, 0);
    for (int i = 0; i < 57; i++) {
        assert_false(log_repeat_check(&r, "conn 1", LOG_WARN, "CP1", "bad frame", 1000 + i, &rep));
        assert_int_equal(rep.count, 0);
    }
    /* another source with the same text is not counted with the first */
    assert_true(log_repeat_check(&r, "conn 2", LOG_WARN, "CP1", "bad frame", 2000, &rep));
    /* another text from the same source is written */
    assert_true(log_repeat_check(&r, "conn 1", LOG_WARN, "CP1", "other", 2000, &rep));
    /* once the window is over the message is written again, after its count */
    assert_true(log_repeat_check(&r, "conn 1", LOG_WARN, "CP1", "bad frame", 11000, &rep));
    assert_int_equal(rep.count, 57);
    assert_string_equal(rep.text, "bad frame");
    assert_string_equal(rep.charger, "CP1");
    assert_int_equal(rep.level, LOG_WARN);
    log_repeat_free(&r);
}

struct expired {
    int calls;
    unsigned count;
    char text[LOG_REPEAT_TEXT_MAX];
};

static void on_expired(void *ctx, const struct log_repeat_report *rep)
{
    struct expired *e = ctx;
    e->calls++;
    e->count = rep->count;
    snprintf(e->text, sizeof e->text, "%s", rep->text);
}

static void test_repeat_expire_reports_once(void **state)
{
    (void)state;
    struct log_repeat r;
    struct log_repeat_report rep;
    log_repeat_init(&r, 8, 5000);
    assert_true(log_repeat_check(&r, "10.0.0.1", LOG_WARN, NULL, "refused", 0, &rep));
    assert_false(log_repeat_check(&r, "10.0.0.1", LOG_WARN, NULL, "refused", 10, &rep));
    assert_false(log_repeat_check(&r, "10.0.0.1", LOG_WARN, NULL, "refused", 20, &rep));
    struct expired e = { 0 };
    log_repeat_expire(&r, 4999, on_expired, &e);
    assert_int_equal(e.calls, 0);           /* the window is still open */
    log_repeat_expire(&r, 5000, on_expired, &e);
    assert_int_equal(e.calls, 1);
    assert_int_equal(e.count, 2);
    assert_string_equal(e.text, "refused");
    log_repeat_expire(&r, 9000, on_expired, &e);
    assert_int_equal(e.calls, 1);           /* reported once */
    log_repeat_free(&r);
}

static void test_repeat_table_is_bounded(void **state)
{
    (void)state;
    /* one slot: sources take it from each other, and the loser's count is reported */
    struct log_repeat r;
    struct log_repeat_report rep;
    log_repeat_init(&r, 1, 10000);
    assert_true(log_repeat_check(&r, "a", LOG_WARN, NULL, "x", 0, &rep));
    assert_false(log_repeat_check(&r, "a", LOG_WARN, NULL, "x", 1, &rep));
    assert_true(log_repeat_check(&r, "b", LOG_WARN, NULL, "y", 2, &rep));
    assert_int_equal(rep.count, 1);
    assert_string_equal(rep.text, "x");
    log_repeat_free(&r);
}

static void flood(void)
{
    log_setup(LOG_INFO, LOG_TEXT);
    for (int i = 0; i < 1000; i++)
        log_msg_from(LOG_WARN, "conn 7", "CP7", "answer with unknown unique id '%s' dropped", "x");
    log_msg_from(LOG_WARN, "conn 8", "CP7", "answer with unknown unique id '%s' dropped", "x");
    log_setup(LOG_ERROR, LOG_TEXT);
}

static void test_flood_from_one_source_is_a_count_line(void **state)
{
    (void)state;
    char *out = capture_stderr(flood);
    /* one line for the flood (its count follows when the window ends), one for the other source */
    assert_int_equal(count_lines(out), 2);
    free(out);
}

int main(void)
{
    log_setup(LOG_ERROR, LOG_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_controls),
        cmocka_unit_test(test_escape_never_cuts_an_escape),
        cmocka_unit_test(test_text_line_cannot_be_forged),
        cmocka_unit_test(test_json_line_is_escaped),
        cmocka_unit_test(test_repeat_counts_identical_messages),
        cmocka_unit_test(test_repeat_expire_reports_once),
        cmocka_unit_test(test_repeat_table_is_bounded),
        cmocka_unit_test(test_flood_from_one_source_is_a_count_line),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
