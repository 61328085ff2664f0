/*
 * REST request bodies (src/rest/body.c): every kind of field accepted and
 * turned into its SQL parameter text, every problem reported at once with
 * the field named (unknown, required, type, length, range, enum, date,
 * null, immutable on update), and the INSERT/SET fragments numbered in
 * order; an object field's members (a site's address).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cJSON.h>

#include "rest_body.h"
#include "rest_query.h"
#include "ocpp.h"
#include "util.h"

static const char *const colors[] = { "red", "green", NULL };

static bool no_x(const char *s)
{
    return !strchr(s, 'x');
}

static const struct rest_field fields[] = {
    { "id", REST_FT_STRING, REST_FF_REQUIRED | REST_FF_IMMUTABLE, "id", NULL, 1, 5, 0, 0, NULL, no_x,
      "must not contain x" },
    { "name", REST_FT_STRING, REST_FF_NULLABLE, "name", NULL, 1, 4, 0, 0, NULL, NULL, NULL },
    { "color", REST_FT_ENUM, 0, "color", NULL, 0, 0, 0, 0, colors, NULL, NULL },
    { "count", REST_FT_INT, 0, "count", "$?::integer", 0, 3, 0, 0, NULL, NULL, NULL },
    { "ratio", REST_FT_NUMBER, REST_FF_NULLABLE, "ratio", "$?::float8", 0, 0, -1, 1, NULL, NULL, NULL },
    { "on", REST_FT_BOOL, 0, "on_", NULL, 0, 0, 0, 0, NULL, NULL, NULL },
    { "at", REST_FT_TIME, REST_FF_NULLABLE, "at", "ocppgw_ts($?::bigint)", 0, 0, 0, 0, NULL, NULL, NULL },
    { "day", REST_FT_DATE, 0, "day", "$?::date", 0, 0, 0, 0, NULL, NULL, NULL },
    { "tags", REST_FT_STRINGS, REST_FF_NONEMPTY, "tags", "$?::text[]", 1, 5, 0, 0, colors, NULL, NULL },
    { "any", REST_FT_STRINGS, REST_FF_NULLABLE, "any_", "$?::text[]", 1, 3, 0, 0, NULL, NULL, NULL },
    { "extra", REST_FT_STRING, 0, NULL, NULL, 0, 10, 0, 0, NULL, NULL, NULL },
};
#define N (sizeof fields / sizeof fields[0])

static cJSON *run(const char *json, bool create, struct rest_body *out)
{
    cJSON *body = cJSON_Parse(json);
    assert_non_null(body);
    cJSON *ctx = rest_body_parse(body, fields, N, create, out);
    cJSON_Delete(body);
    return ctx;
}

static void expect_reason(const char *json, bool create, const char *field, const char *needle)
{
    struct rest_body out;
    cJSON *ctx = run(json, create, &out);
    if (!ctx)
        fail_msg("accepted: %s", json);
    const char *why = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ctx, field));
    if (!why || !strstr(why, needle))
        fail_msg("%s: %s is '%s', want '%s'", json, field, why ? why : "(absent)", needle);
    assert_int_equal(out.n, 0);
    cJSON_Delete(ctx);
}

static void test_accepts_every_type(void **state)
{
    (void)state;
    struct rest_body out;
    cJSON *ctx = run("{\"id\":\"ab\",\"name\":\"\\u00e9t\\u00e9s\",\"color\":\"red\",\"count\":3,"
                     "\"ratio\":-0.5,\"on\":false,\"at\":\"2024-05-01T02:00:00+02:00\",\"day\":\"2024-02-29\","
                     "\"tags\":[\"red\",\"green\"],\"any\":[\"a\\\"b\"],\"extra\":\"e\"}",
                     true, &out);
    if (ctx)
        fail_msg("refused: %s", cJSON_PrintUnformatted(ctx));
    assert_int_equal(out.n, 11);
    assert_string_equal(rest_body_find(&out, "name")->text, "\xc3\xa9t\xc3\xa9s"); /* 4 characters */
    assert_string_equal(rest_body_find(&out, "count")->text, "3");
    assert_string_equal(rest_body_find(&out, "ratio")->text, "-0.5");
    assert_string_equal(rest_body_find(&out, "on")->text, "false");
    assert_string_equal(rest_body_find(&out, "at")->text, "1714521600000");
    assert_string_equal(rest_body_find(&out, "day")->text, "2024-02-29");
    assert_string_equal(rest_body_find(&out, "tags")->text, "{\"red\",\"green\"}");
    assert_string_equal(rest_body_find(&out, "any")->text, "{\"a\\\"b\"}");
    assert_null(rest_body_find(&out, "nope"));

    struct rest_sqlb b;
    rest_sqlb_init(&b);
    rest_sqlb_add(&b, "INSERT INTO t ");
    rest_body_columns(&out, &b);
    rest_sqlb_add(&b, " VALUES (");
    rest_body_values(&out, &b);
    rest_sqlb_add(&b, ")");
    assert_string_equal(strbuf_str(&b.sql),
        "INSERT INTO t (id, name, color, count, ratio, on_, at, day, tags, any_) VALUES ($1, $2, $3,"
        " $4::integer, $5::float8, $6, ocppgw_ts($7::bigint), $8::date, $9::text[], $10::text[])");
    assert_int_equal(b.nparams, 10); /* "extra" has no column: the handler's */
    rest_sqlb_free(&b);
    rest_body_free(&out);
}

static void test_nulls_and_update(void **state)
{
    (void)state;
    struct rest_body out;
    cJSON *ctx = run("{\"name\":null,\"at\":null,\"count\":0}", false, &out);
    assert_null(ctx);
    assert_int_equal(out.n, 3);
    assert_null(rest_body_find(&out, "name")->text);
    struct rest_sqlb b;
    rest_sqlb_init(&b);
    assert_true(rest_body_set(&out, &b));
    /* table order: name, count, at */
    assert_string_equal(strbuf_str(&b.sql), "name = $1, count = $2::integer, at = ocppgw_ts($3::bigint)");
    assert_null(b.params[0]);
    assert_string_equal(b.params[1], "0");
    rest_sqlb_free(&b);

    /* a computed value added by the handler */
    static const struct rest_field hash = { .name = "hash", .column = "hash" };
    rest_body_add(&out, &hash, "h1");
    rest_sqlb_init(&b);
    rest_body_columns(&out, &b);
    assert_string_equal(strbuf_str(&b.sql), "(name, count, at, hash)");
    rest_sqlb_free(&b);
    rest_body_free(&out);

    /* an empty update sets nothing */
    ctx = run("{}", false, &out);
    assert_null(ctx);
    rest_sqlb_init(&b);
    assert_false(rest_body_set(&out, &b));
    rest_sqlb_free(&b);
    rest_body_free(&out);
}

/* A REST_FF_PASSWORD field marks its parameter for hashing off the loop; a null one does not. */
static void test_password_parameter_marked(void **state)
{
    (void)state;
    static const struct rest_field pw_fields[] = {
        { "name", REST_FT_STRING, 0, "name", NULL, 1, 10, 0, 0, NULL, NULL, NULL },
        { "key", REST_FT_STRING, REST_FF_NULLABLE | REST_FF_PASSWORD, "key_hash", NULL, 1, 40, 0, 0, NULL,
          NULL, NULL },
    };
    struct rest_body out;
    cJSON *body = cJSON_Parse("{\"name\":\"n\",\"key\":\"plain-secret\"}");
    assert_null(rest_body_parse(body, pw_fields, 2, true, &out));
    cJSON_Delete(body);
    struct rest_sqlb b;
    rest_sqlb_init(&b);
    rest_body_values(&out, &b);
    assert_int_equal(b.password_param, 2);
    assert_string_equal(b.params[1], "plain-secret");  /* the store thread hashes it */
    rest_sqlb_free(&b);
    rest_sqlb_init(&b);
    rest_sqlb_param(&b, "id");
    assert_true(rest_body_set(&out, &b));
    assert_int_equal(b.password_param, 3);
    rest_sqlb_free(&b);
    rest_body_free(&out);

    body = cJSON_Parse("{\"key\":null}");
    assert_null(rest_body_parse(body, pw_fields, 2, false, &out));
    cJSON_Delete(body);
    rest_sqlb_init(&b);
    assert_true(rest_body_set(&out, &b));
    assert_int_equal(b.password_param, 0);
    rest_sqlb_free(&b);
    rest_body_free(&out);
}

static void test_refusals(void **state)
{
    (void)state;
    expect_reason("{}", true, "id", "required");
    expect_reason("{\"id\":\"a\",\"bogus\":1}", true, "bogus", "unknown");
    expect_reason("{\"id\":1}", true, "id", "string");
    expect_reason("{\"id\":\"\"}", true, "id", "1 to 5");
    expect_reason("{\"id\":\"abcdef\"}", true, "id", "1 to 5");
    expect_reason("{\"id\":\"axe\"}", true, "id", "must not contain x");
    expect_reason("{\"id\":null}", true, "id", "null");
    expect_reason("{\"id\":\"a\"}", false, "id", "cannot be changed");
    expect_reason("{\"name\":\"abcde\"}", false, "name", "1 to 4");
    expect_reason("{\"color\":\"blue\"}", false, "color", "one of: red, green");
    expect_reason("{\"color\":null}", false, "color", "null");
    expect_reason("{\"count\":4}", false, "count", "0 to 3");
    expect_reason("{\"count\":1.5}", false, "count", "integer");
    expect_reason("{\"count\":\"1\"}", false, "count", "integer");
    expect_reason("{\"ratio\":2}", false, "ratio", "-1 to 1");
    expect_reason("{\"ratio\":true}", false, "ratio", "number");
    expect_reason("{\"on\":1}", false, "on", "boolean");
    expect_reason("{\"at\":\"2024-05-01\"}", false, "at", "ISO 8601");
    expect_reason("{\"at\":5}", false, "at", "ISO 8601");
    expect_reason("{\"day\":\"2023-02-29\"}", false, "day", "YYYY-MM-DD");
    expect_reason("{\"day\":\"2024-13-01\"}", false, "day", "YYYY-MM-DD");
    expect_reason("{\"day\":\"2024-1-01\"}", false, "day", "YYYY-MM-DD");
    expect_reason("{\"tags\":[]}", false, "tags", "at least one");
    expect_reason("{\"tags\":\"red\"}", false, "tags", "array");
    expect_reason("{\"tags\":[\"red\",1]}", false, "tags", "array");
    expect_reason("{\"tags\":[\"red\",\"blue\"]}", false, "tags", "item 1");
    expect_reason("{\"any\":[\"abcd\"]}", false, "any", "1 to 3");
    expect_reason("{\"name\":\"a\",\"name\":\"b\"}", false, "name", "twice");
}

/* The writes' statement heads: an INSERT and an UPDATE as a CTE that answers the row. */
static void test_insert_and_update_heads(void **state)
{
    (void)state;
    struct rest_body out;
    struct rest_sqlb b;
    assert_null(run("{\"id\":\"y\",\"count\":2}", true, &out));
    rest_sqlb_init(&b);
    rest_body_insert(&out, &b, "t", "things");
    assert_string_equal(strbuf_str(&b.sql), "WITH t AS (INSERT INTO things (id, count) VALUES ($1, $2::integer)");
    rest_sqlb_free(&b);
    rest_body_free(&out);

    assert_null(run("{\"name\":null}", false, &out));
    rest_sqlb_init(&b);
    rest_body_update(&out, &b, "t", "things t");
    assert_string_equal(strbuf_str(&b.sql), "WITH t AS (UPDATE things t SET name = $1, ");
    rest_sqlb_free(&b);
    rest_body_free(&out);
    /* nothing given: the caller's own assignments follow SET directly */
    assert_null(run("{}", false, &out));
    rest_sqlb_init(&b);
    rest_body_update(&out, &b, "t", "things t");
    assert_string_equal(strbuf_str(&b.sql), "WITH t AS (UPDATE things t SET ");
    rest_sqlb_free(&b);
    rest_body_free(&out);
}

/* Keys in any order make the same statement (a bounded number of shapes). */
static void test_table_order(void **state)
{
    (void)state;
    struct rest_body a, b;
    cJSON *ctx = run("{\"count\":1,\"name\":\"n\",\"id\":\"y\"}", true, &a);
    if (ctx)
        fail_msg("refused: %s", cJSON_PrintUnformatted(ctx));
    assert_null(run("{\"id\":\"y\",\"count\":1,\"name\":\"n\"}", true, &b));
    struct rest_sqlb sa, sb;
    rest_sqlb_init(&sa);
    rest_sqlb_init(&sb);
    rest_body_columns(&a, &sa);
    rest_body_values(&a, &sa);
    rest_body_columns(&b, &sb);
    rest_body_values(&b, &sb);
    assert_string_equal(strbuf_str(&sa.sql), "(id, name, count)$1, $2, $3::integer");
    assert_string_equal(strbuf_str(&sa.sql), strbuf_str(&sb.sql));
    assert_string_equal(sa.params[0], "y");
    assert_string_equal(sb.params[2], "1");
    rest_sqlb_free(&sa);
    rest_sqlb_free(&sb);
    rest_body_free(&a);
    rest_body_free(&b);
}

static void test_all_problems_at_once(void **state)
{
    (void)state;
    struct rest_body out;
    cJSON *ctx = run("{\"x1\":1,\"x2\":2,\"count\":9,\"name\":\"ok\"}", true, &out);
    assert_non_null(ctx);
    assert_non_null(cJSON_GetObjectItem(ctx, "x1"));
    assert_non_null(cJSON_GetObjectItem(ctx, "x2"));
    assert_non_null(cJSON_GetObjectItem(ctx, "count"));
    assert_non_null(cJSON_GetObjectItem(ctx, "id"));
    assert_null(cJSON_GetObjectItem(ctx, "name"));
    assert_int_equal(cJSON_GetArraySize(ctx), 4);
    cJSON_Delete(ctx);

    cJSON *arr = cJSON_Parse("[1]");
    ctx = rest_body_parse(arr, fields, N, true, &out);
    assert_non_null(cJSON_GetObjectItem(ctx, "body"));
    cJSON_Delete(ctx);
    cJSON_Delete(arr);
}

/*
 * An object field: its members are the table's "<field>.<member>" fields,
 * each a column; a member given sets it, an absent one is left alone, null
 * clears them all; a member outside its object, or an unknown one, is
 * refused naming "<field>.<member>".
 */
static const struct rest_field place_fields[] = {
    { "name", REST_FT_STRING, 0, "name", NULL, 1, 10, 0, 0, NULL, NULL, NULL },
    { "address", REST_FT_OBJECT, REST_FF_NULLABLE, NULL, NULL, 0, 0, 0, 0, NULL, NULL, NULL },
    { "address.city", REST_FT_STRING, REST_FF_NULLABLE, "city", NULL, 1, 5, 0, 0, NULL, NULL, NULL },
    { "address.country", REST_FT_STRING, REST_FF_NULLABLE, "country", NULL, 2, 2, 0, 0, NULL, no_x,
      "must not contain x" },
};

static cJSON *run_place(const char *json, bool create, struct rest_body *out)
{
    cJSON *body = cJSON_Parse(json);
    assert_non_null(body);
    cJSON *ctx = rest_body_parse(body, place_fields, 4, create, out);
    cJSON_Delete(body);
    return ctx;
}

static void expect_place_reason(const char *json, const char *field, const char *needle)
{
    struct rest_body out;
    cJSON *ctx = run_place(json, false, &out);
    if (!ctx)
        fail_msg("accepted: %s", json);
    const char *why = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ctx, field));
    if (!why || !strstr(why, needle))
        fail_msg("%s: %s is '%s', want '%s' (%s)", json, field, why ? why : "(absent)", needle,
                 cJSON_PrintUnformatted(ctx));
    assert_int_equal(out.n, 0);
    cJSON_Delete(ctx);
}

static void test_object_members(void **state)
{
    (void)state;
    struct rest_body out;
    struct rest_sqlb b;
    /* members in any order: table order, each its own column */
    assert_null(run_place("{\"address\":{\"country\":\"DE\",\"city\":\"Bonn\"},\"name\":\"n\"}", true, &out));
    assert_int_equal(out.n, 3);
    assert_string_equal(rest_body_find(&out, "address.city")->text, "Bonn");
    assert_null(rest_body_find(&out, "address"));
    rest_sqlb_init(&b);
    rest_body_columns(&out, &b);
    rest_body_values(&out, &b);
    assert_string_equal(strbuf_str(&b.sql), "(name, city, country)$1, $2, $3");
    rest_sqlb_free(&b);
    rest_body_free(&out);

    /* a merge: only the members given */
    assert_null(run_place("{\"address\":{\"city\":null}}", false, &out));
    rest_sqlb_init(&b);
    assert_true(rest_body_set(&out, &b));
    assert_string_equal(strbuf_str(&b.sql), "city = $1");
    assert_null(b.params[0]);
    rest_sqlb_free(&b);
    rest_body_free(&out);

    /* an empty object sets nothing; null clears every member */
    assert_null(run_place("{\"address\":{}}", false, &out));
    assert_int_equal(out.n, 0);
    rest_body_free(&out);
    assert_null(run_place("{\"address\":null}", false, &out));
    rest_sqlb_init(&b);
    assert_true(rest_body_set(&out, &b));
    assert_string_equal(strbuf_str(&b.sql), "city = $1, country = $2");
    assert_null(b.params[0]);
    assert_null(b.params[1]);
    rest_sqlb_free(&b);
    rest_body_free(&out);

    expect_place_reason("{\"address\":\"Bonn\"}", "address", "object");
    expect_place_reason("{\"address\":[]}", "address", "object");
    expect_place_reason("{\"address\":{\"city\":\"Bonn-Beuel\"}}", "address.city", "1 to 5");
    expect_place_reason("{\"address\":{\"country\":\"xx\"}}", "address.country", "must not contain x");
    expect_place_reason("{\"address\":{\"country\":7}}", "address.country", "string");
    expect_place_reason("{\"address\":{\"planet\":\"Mars\"}}", "address.planet", "unknown");
    expect_place_reason("{\"address\":{\"city\":\"a\",\"city\":\"b\"}}", "address.city", "twice");
    /* members only inside their object; the object's name is no member of itself */
    expect_place_reason("{\"city\":\"Bonn\"}", "city", "unknown");
    expect_place_reason("{\"address.city\":\"Bonn\"}", "address.city", "unknown");
    expect_place_reason("{\"address\":{\"address\":{}}}", "address.address", "unknown");
    expect_place_reason("{\"address\":{\"name\":\"n\"}}", "address.name", "unknown");
}

int main(void)
{
    ocpp_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_every_type),
        cmocka_unit_test(test_nulls_and_update),
        cmocka_unit_test(test_password_parameter_marked),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_table_order),
        cmocka_unit_test(test_insert_and_update_heads),
        cmocka_unit_test(test_all_problems_at_once),
        cmocka_unit_test(test_object_members),
    };
    return cmocka_run_group_tests_name("rest_body", tests, NULL, NULL);
}
