/*
 * Unit: the store's statement cache (src/store/stmt_cache.c), the bounded
 * LRU from SQL text to prepared-statement name: hits keep their name and
 * move to the front, the least recently used goes past the capacity, an
 * evicted statement that reached the server is queued for DEALLOCATE (one
 * never sent is not), names are never reused, and clearing (connection
 * lost) forgets everything.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/store/stmt_cache.h"

static struct stmt_entry *get_ready(struct stmt_cache *c, const char *sql)
{
    struct stmt_entry *e = stmt_cache_get(c, sql);
    e->state = SQL_READY;           /* as pipeline.c does once the PREPARE answered */
    return e;
}

static void test_hit_keeps_name(void **state)
{
    (void)state;
    struct stmt_cache c;
    stmt_cache_init(&c, 4);
    char name[STMT_NAME_MAX];
    snprintf(name, sizeof name, "%s", get_ready(&c, "SELECT 1")->name);
    get_ready(&c, "SELECT 2");
    struct stmt_entry *e = stmt_cache_get(&c, "SELECT 1");
    assert_string_equal(e->name, name);
    assert_int_equal(e->state, SQL_READY);
    assert_ptr_equal(stmt_cache_by_seq(&c, e->seq), e);
    assert_int_equal(c.n, 2);
    assert_false(stmt_cache_take_evicted(&c, name));
    stmt_cache_free(&c);
}

static void test_least_recently_used_goes(void **state)
{
    (void)state;
    struct stmt_cache c;
    stmt_cache_init(&c, 3);
    char n1[STMT_NAME_MAX], n2[STMT_NAME_MAX], got[STMT_NAME_MAX];
    snprintf(n1, sizeof n1, "%s", get_ready(&c, "a")->name);
    snprintf(n2, sizeof n2, "%s", get_ready(&c, "b")->name);
    uint32_t seq_b = stmt_cache_get(&c, "b")->seq;
    get_ready(&c, "c");
    stmt_cache_get(&c, "a");        /* a used again: b is now the oldest */
    get_ready(&c, "d");
    assert_int_equal(c.n, 3);
    assert_null(stmt_cache_by_seq(&c, seq_b));
    assert_true(stmt_cache_take_evicted(&c, got));
    assert_string_equal(got, n2);
    assert_false(stmt_cache_take_evicted(&c, got));
    /* a is still there under its name; b comes back under a new one */
    assert_string_equal(stmt_cache_get(&c, "a")->name, n1);
    struct stmt_entry *b = stmt_cache_get(&c, "b");
    assert_int_equal(b->state, SQL_UNPREPARED);
    assert_string_not_equal(b->name, n2);
    assert_int_equal(c.evictions, 2);   /* c went for b */
    stmt_cache_free(&c);
}

static void test_unsent_statement_needs_no_deallocate(void **state)
{
    (void)state;
    struct stmt_cache c;
    stmt_cache_init(&c, 1);
    char got[STMT_NAME_MAX];
    stmt_cache_get(&c, "never sent");
    stmt_cache_get(&c, "other");
    assert_false(stmt_cache_take_evicted(&c, got));
    stmt_cache_get(&c, "other")->state = SQL_PREPARING;
    stmt_cache_get(&c, "third");
    assert_true(stmt_cache_take_evicted(&c, got));
    stmt_cache_free(&c);
}

/* Many shapes through a small cache: bounded, names unique, every sent one deallocated once. */
static void test_many_shapes_stay_bounded(void **state)
{
    (void)state;
    struct stmt_cache c;
    stmt_cache_init(&c, 16);
    char sql[64], got[STMT_NAME_MAX];
    size_t deallocated = 0;
    for (int i = 0; i < 5000; i++) {
        snprintf(sql, sizeof sql, "SELECT %d", i);
        get_ready(&c, sql);
        assert_true(c.n <= 16);
        while (stmt_cache_take_evicted(&c, got))
            deallocated++;
    }
    assert_int_equal(deallocated, 5000 - 16);
    assert_int_equal(c.evictions, 5000 - 16);
    /* the connection went: nothing is prepared, nothing to deallocate */
    get_ready(&c, "SELECT 'late'");
    stmt_cache_clear(&c);
    assert_int_equal(c.n, 0);
    assert_false(stmt_cache_take_evicted(&c, got));
    assert_int_equal(stmt_cache_get(&c, "SELECT 1")->state, SQL_UNPREPARED);
    stmt_cache_free(&c);
}

static void test_default_capacity(void **state)
{
    (void)state;
    struct stmt_cache c;
    stmt_cache_init(&c, 0);
    assert_int_equal(c.cap, STMT_CACHE_DEFAULT);
    stmt_cache_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_keeps_name),
        cmocka_unit_test(test_least_recently_used_goes),
        cmocka_unit_test(test_unsent_statement_needs_no_deallocate),
        cmocka_unit_test(test_many_shapes_stay_bounded),
        cmocka_unit_test(test_default_capacity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
