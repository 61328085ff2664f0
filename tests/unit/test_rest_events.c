/*
 * The events collection's C logic (src/rest/res_events.c): the `type`
 * filter (an exact type or a prefix ending in ".*", repeated or
 * comma-separated; no prefix matches meter_values.received; anything that
 * names no known type is a 400 naming `type`), the statement a request
 * makes (one `e.type = ANY(...)` of the expanded types, the key's
 * restriction on the event's charger or site), the stream's filters-only
 * parse and its "after seq N" statement.
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

#include "rest_fakes.h"
#include "rest_query.h"
#include "strbuf.h"
#include "../../src/rest/res_events.h"

/* The `type` parameter of `query` as the statement gets it (caller frees), or NULL after a 400 naming type. */
static char *types_of(const char *query, char *reason, size_t cap)
{
    struct rest_fake_query q;
    rest_fake_query_set(&q, query);
    struct rest_query_source src = rest_fake_source(&q);
    struct rest_list_req req;
    struct rest_param_error err = { "", "" };
    char *out = NULL;
    if (res_events_parse(&src, &req, &err)) {
        int i = 0;
        while (strcmp(res_events_spec->filters[i].param, "type") != 0)
            i++;
        out = req.values[i] ? strdup(req.values[i]) : strdup("(absent)");
    } else {
        if (strcmp(err.param, "type") != 0)
            fail_msg("%s: 400 named '%s' (%s), want 'type'", query, err.param, err.reason);
        snprintf(reason, cap, "%s", err.reason);
    }
    rest_list_req_free(&req);
    rest_fake_query_free(&q);
    return out;
}

static void expect_types(const char *query, const char *want)
{
    char reason[256] = "";
    char *got = types_of(query, reason, sizeof reason);
    if (!got)
        fail_msg("%s: refused (%s), want %s", query, reason, want);
    if (strcmp(got, want) != 0)
        fail_msg("%s: types %s, want %s", query, got, want);
    free(got);
}

static void expect_refused(const char *query, const char *reason_has)
{
    char reason[256] = "";
    char *got = types_of(query, reason, sizeof reason);
    if (got)
        fail_msg("%s: accepted as %s", query, got);
    if (!strstr(reason, reason_has))
        fail_msg("%s: reason '%s' does not say '%s'", query, reason, reason_has);
}

static void test_exact_types(void **state)
{
    (void)state;
    expect_types("", "(absent)");
    expect_types("type=session.stopped", "{\"session.stopped\"}");
    /* named, the one no wildcard matches is fine */
    expect_types("type=meter_values.received", "{\"meter_values.received\"}");
    /* repeated and comma-separated, in table order, once each */
    expect_types("type=token.deleted,charger.created&type[]=token.deleted",
                 "{\"charger.created\",\"token.deleted\"}");
}

static void test_prefix_types(void **state)
{
    (void)state;
    expect_types("type=session.*", "{\"session.started\",\"session.updated\",\"session.stopped\"}");
    expect_types("type=charger.*",
                 "{\"charger.created\",\"charger.updated\",\"charger.deleted\",\"charger.connected\","
                 "\"charger.disconnected\",\"charger.booted\"}");
    /* a prefix and a type it covers */
    expect_types("type=token.*,token.created", "{\"token.created\",\"token.updated\",\"token.deleted\"}");
    /* a prefix is whole words: "charger.*" is not "charge*" */
    expect_refused("type=charge.*", "matches no event type");
    /* no wildcard matches meter_values.received: it must be named */
    expect_refused("type=meter_values.*", "must be named");
    expect_refused("type=meter_values.*,meter_values.received", "must be named");
}

static void test_bad_types(void **state)
{
    (void)state;
    expect_refused("type=session.strated", "unknown event type");
    expect_refused("type=*", "neither");
    expect_refused("type=.*", "neither");
    expect_refused("type=Session.started", "neither");
    expect_refused("type=session..started", "neither");
    expect_refused("type=session.*.x", "neither");
    expect_refused("type=session*", "neither");
    expect_refused("type=session.started,nope", "unknown event type 'nope'");
}

static char *statement(const char *query, char **charger_ids, char **site_ids, bool after, int *nparams)
{
    struct rest_fake_query q;
    rest_fake_query_set(&q, query);
    struct rest_query_source src = rest_fake_source(&q);
    struct rest_list_req req;
    struct rest_param_error err;
    bool ok = after ? res_events_parse_filters(&src, &req, &err) : res_events_parse(&src, &req, &err);
    if (!ok)
        fail_msg("%s: refused: %s %s", query, err.param, err.reason);
    struct rest_sqlb b;
    rest_sqlb_init(&b);
    if (after)
        res_events_after_sql(&req, 41, 10, charger_ids, site_ids, &b);
    else
        res_events_sql(&req, charger_ids, site_ids, &b);
    *nparams = b.nparams;
    char *sql = rest_sqlb_take_sql(&b);
    rest_sqlb_free(&b);
    rest_list_req_free(&req);
    rest_fake_query_free(&q);
    return sql;
}

static void test_statement(void **state)
{
    (void)state;
    int n;
    char *sql = statement("type=session.*&chargerId=CP-1&from=2026-01-01T00:00:00Z", NULL, NULL, false, &n);
    assert_non_null(strstr(sql, "e.type = ANY($1::text[])"));
    assert_non_null(strstr(sql, "e.charger_id = $2"));
    assert_non_null(strstr(sql, "ORDER BY e.seq ASC"));
    assert_null(strstr(sql, "e.site_id = ANY"));
    assert_int_equal(n, 4);                         /* type, chargerId, from, LIMIT */
    free(sql);

    /* a limited key: its chargers or its sites, on the event's own columns */
    char *chargers[] = { "CP-1", NULL };
    char *sites[] = { "S-1", NULL };
    sql = statement("", chargers, sites, false, &n);
    assert_non_null(strstr(sql, "(e.charger_id = ANY($1::text[]) OR e.site_id = ANY($2::text[]))"));
    free(sql);
}

/* after / before take an event's seq too: a reader resumes from the last seq it handled */
static void test_seq_as_cursor(void **state)
{
    (void)state;
    int n;
    char *sql = statement("after=41", NULL, NULL, false, &n);
    assert_non_null(strstr(sql, "(e.seq) > ($1::bigint)"));
    assert_non_null(strstr(sql, "ORDER BY e.seq ASC"));
    free(sql);
    sql = statement("before=41", NULL, NULL, false, &n);
    assert_non_null(strstr(sql, "(e.seq) < ($1::bigint)"));
    assert_non_null(strstr(sql, "ORDER BY e.seq DESC"));    /* read backwards, turned round */
    free(sql);

    struct rest_fake_query q;
    const char *bad[] = { "after=41&before=50", "after=-1", "after=1234567890123456789", "after=x1" };
    const char *param[] = { "before", "after", "after", "after" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rest_fake_query_set(&q, bad[i]);
        struct rest_query_source src = rest_fake_source(&q);
        struct rest_list_req req;
        struct rest_param_error err = { "", "" };
        if (res_events_parse(&src, &req, &err))
            fail_msg("%s accepted", bad[i]);
        if (strcmp(err.param, param[i]) != 0)
            fail_msg("%s: 400 named %s, want %s", bad[i], err.param, param[i]);
        rest_list_req_free(&req);
        rest_fake_query_free(&q);
    }
}

/*
 * docs/openapi.json lists the values `type` takes (items of eventType):
 * each is accepted, every event type is among them, and so is every
 * prefix that matches one (meter_values.* matches none).
 */
static void test_documented_types(void **state)
{
    (void)state;
    const char *env = getenv("OCPPGW_OPENAPI");
    struct strbuf b = STRBUF_INIT;
    if (!strbuf_read_file(&b, env ? env : "docs/openapi.json"))
        fail_msg("docs/openapi.json not found (run from the top of the tree or set OCPPGW_OPENAPI)");
    cJSON *doc = cJSON_Parse(strbuf_str(&b));
    strbuf_free(&b);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "components"), "parameters"),
                "eventType"),
            "schema"),
        "items");
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(items, "enum");
    if (!cJSON_IsArray(en))
        fail_msg("components.parameters.eventType.schema.items has no enum");
    const cJSON *v;
    cJSON_ArrayForEach(v, en) {
        const char *one[] = { v->valuestring };
        const char *bad = NULL;
        char reason[192];
        char *types = res_event_types_expand(one, 1, &bad, reason, sizeof reason);
        if (!types)
            fail_msg("documented type value %s is refused: %s", v->valuestring, reason);
        free(types);
    }
    for (size_t i = 0; res_event_types[i]; i++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "%.*s*", (int)(strchr(res_event_types[i], '.') - res_event_types[i] + 1),
                 res_event_types[i]);
        bool type_listed = false, prefix_listed = false;
        cJSON_ArrayForEach(v, en) {
            type_listed |= strcmp(v->valuestring, res_event_types[i]) == 0;
            prefix_listed |= strcmp(v->valuestring, prefix) == 0;
        }
        if (!type_listed)
            fail_msg("event type %s is not documented", res_event_types[i]);
        if (!prefix_listed && !res_event_type_named_only(res_event_types[i]))
            fail_msg("prefix %s is not documented", prefix);
    }
    cJSON_Delete(doc);
}

static void test_stream_reads_filters_only(void **state)
{
    (void)state;
    int n;
    /* a stream's after=<seq> is its own business: not a cursor error here */
    char *sql = statement("after=41&type=charger.*", NULL, NULL, true, &n);
    assert_non_null(strstr(sql, "(e.seq) > ($2::bigint)"));
    assert_non_null(strstr(sql, "ORDER BY e.seq ASC"));
    assert_non_null(strstr(sql, "LIMIT $3"));
    free(sql);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_types),
        cmocka_unit_test(test_prefix_types),
        cmocka_unit_test(test_bad_types),
        cmocka_unit_test(test_statement),
        cmocka_unit_test(test_seq_as_cursor),
        cmocka_unit_test(test_documented_types),
        cmocka_unit_test(test_stream_reads_filters_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
