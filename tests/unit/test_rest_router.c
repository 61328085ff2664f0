/*
 * Unit tests for the REST router (src/rest/router.c) and the query
 * parameters (src/rest/args.c): path parameters, 404 against 405 with its
 * Allow list, the most specific pattern winning, trailing slashes, decoded
 * segments (UTF-8, spaces; control characters and bad UTF-8 refused), list
 * parameters in both forms, repeated parameters, bad encodings, unread
 * parameters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/rest/framework.h"
#include "ocpp.h"
#include "util.h"

static void h(struct rest_request *r)
{
    (void)r;
}

static const struct rest_route routes[] = {
    { REST_GET, "/v1/chargers", h, "chargers:read", 0 },
    { REST_POST, "/v1/chargers", h, "chargers:write", REST_JSON_BODY },
    { REST_GET, "/v1/chargers/{id}", h, "chargers:read", REST_CHARGER_ID },
    { REST_PATCH, "/v1/chargers/{id}", h, "chargers:write", REST_CHARGER_ID },
    { REST_DELETE, "/v1/chargers/{id}", h, "chargers:write", REST_CHARGER_ID },
    { REST_GET, "/v1/chargers/export", h, "chargers:read", 0 },
    { REST_GET, "/v1/chargers/{id}/sessions", h, "sessions:read", REST_CHARGER_ID },
    { REST_POST, "/v1/chargers/{id}/commands/{action}", h, "commands:write", REST_CHARGER_ID },
    { REST_GET, "/v1/openapi.json", h, NULL, REST_NO_AUTH },
};
#define NROUTES (sizeof routes / sizeof routes[0])

static enum rest_match_result match(enum rest_method m, const char *path, struct rest_match *out)
{
    return rest_route_match(routes, NROUTES, m, path, out);
}

static void test_literal_and_params(void **state)
{
    (void)state;
    struct rest_match mt;
    assert_int_equal(match(REST_GET, "/v1/chargers", &mt), REST_MATCH_OK);
    assert_ptr_equal(mt.route, &routes[0]);
    assert_int_equal(mt.nparams, 0);

    assert_int_equal(match(REST_POST, "/v1/chargers", &mt), REST_MATCH_OK);
    assert_ptr_equal(mt.route, &routes[1]);

    assert_int_equal(match(REST_GET, "/v1/chargers/CP-1/sessions", &mt), REST_MATCH_OK);
    assert_ptr_equal(mt.route, &routes[6]);
    assert_int_equal(mt.nparams, 1);
    assert_string_equal(mt.params[0].name, "id");
    assert_string_equal(mt.params[0].value, "CP-1");

    assert_int_equal(match(REST_POST, "/v1/chargers/CP-1/commands/Reset", &mt), REST_MATCH_OK);
    assert_int_equal(mt.nparams, 2);
    assert_string_equal(mt.params[0].name, "id");
    assert_string_equal(mt.params[0].value, "CP-1");
    assert_string_equal(mt.params[1].name, "action");
    assert_string_equal(mt.params[1].value, "Reset");
}

static void test_specific_pattern_wins(void **state)
{
    (void)state;
    struct rest_match mt;
    assert_int_equal(match(REST_GET, "/v1/chargers/export", &mt), REST_MATCH_OK);
    assert_ptr_equal(mt.route, &routes[5]);
    assert_int_equal(mt.nparams, 0);
    /* the literal pattern owns the path: other methods of {id} do not apply */
    assert_int_equal(match(REST_DELETE, "/v1/chargers/export", &mt), REST_MATCH_METHOD);
    char allow[64];
    rest_allow_string(mt.allow, allow, sizeof allow);
    assert_string_equal(allow, "GET");
    /* any other id goes to the parameter routes */
    assert_int_equal(match(REST_DELETE, "/v1/chargers/exports", &mt), REST_MATCH_OK);
    assert_ptr_equal(mt.route, &routes[4]);
}

static void test_404_and_405_allow(void **state)
{
    (void)state;
    struct rest_match mt;
    char allow[64];
    assert_int_equal(match(REST_GET, "/v1/nothing", &mt), REST_MATCH_NOT_FOUND);
    assert_int_equal(match(REST_GET, "/v1/chargers/CP-1/unknown", &mt), REST_MATCH_NOT_FOUND);
    assert_int_equal(match(REST_GET, "/v1", &mt), REST_MATCH_NOT_FOUND);
    assert_int_equal(match(REST_GET, "/", &mt), REST_MATCH_NOT_FOUND);
    assert_int_equal(match(REST_GET, "", &mt), REST_MATCH_NOT_FOUND);
    assert_int_equal(match(REST_GET, "v1/chargers", &mt), REST_MATCH_NOT_FOUND);

    assert_int_equal(match(REST_PUT, "/v1/chargers", &mt), REST_MATCH_METHOD);
    assert_null(mt.route);
    rest_allow_string(mt.allow, allow, sizeof allow);
    assert_string_equal(allow, "GET, POST");

    assert_int_equal(match(REST_POST, "/v1/chargers/CP-1", &mt), REST_MATCH_METHOD);
    rest_allow_string(mt.allow, allow, sizeof allow);
    assert_string_equal(allow, "GET, PATCH, DELETE");

    assert_int_equal(match(REST_GET, "/v1/chargers/CP-1/commands/Reset", &mt), REST_MATCH_METHOD);
    rest_allow_string(mt.allow, allow, sizeof allow);
    assert_string_equal(allow, "POST");
}

static void test_head_uses_get(void **state)
{
    (void)state;
    struct rest_match mt;
    assert_int_equal(match(REST_HEAD, "/v1/chargers/CP-1", &mt), REST_MATCH_OK);
    assert_ptr_equal(mt.route, &routes[2]);
    assert_int_equal(match(REST_HEAD, "/v1/chargers/CP-1/commands/Reset", &mt), REST_MATCH_METHOD);
}

static void test_trailing_slash(void **state)
{
    (void)state;
    struct rest_match mt;
    assert_int_equal(match(REST_GET, "/v1/chargers/", &mt), REST_MATCH_OK);
    assert_ptr_equal(mt.route, &routes[0]);
    assert_int_equal(match(REST_GET, "/v1/chargers/CP-1/", &mt), REST_MATCH_OK);
    assert_string_equal(mt.params[0].value, "CP-1");
    /* only one: an empty segment is not an id */
    assert_int_equal(match(REST_GET, "/v1/chargers//", &mt), REST_MATCH_NOT_FOUND);
}

static void test_decoded_segments(void **state)
{
    (void)state;
    struct rest_match mt;
    /* lws has decoded %20 and %C3%A9 already: the router takes them as they are */
    assert_int_equal(match(REST_GET, "/v1/chargers/CP 001", &mt), REST_MATCH_OK);
    assert_string_equal(mt.params[0].value, "CP 001");
    assert_int_equal(match(REST_GET, "/v1/chargers/caf\xc3\xa9", &mt), REST_MATCH_OK);
    assert_string_equal(mt.params[0].value, "caf\xc3\xa9");
    assert_int_equal(match(REST_GET, "/v1/chargers/{id}", &mt), REST_MATCH_OK);
    assert_string_equal(mt.params[0].value, "{id}");
    /* a decoded %2F splits the segment: that path does not exist */
    assert_int_equal(match(REST_GET, "/v1/chargers/a/b", &mt), REST_MATCH_NOT_FOUND);

    assert_int_equal(match(REST_GET, "/v1/chargers/a\nb", &mt), REST_MATCH_BAD_PARAM);
    assert_string_equal(mt.bad_param, "id");
    assert_int_equal(match(REST_GET, "/v1/chargers/\xe9t\xe9", &mt), REST_MATCH_BAD_PARAM);
    assert_int_equal(match(REST_GET, "/v1/chargers/a\x7f", &mt), REST_MATCH_BAD_PARAM);
    char longid[REST_PARAM_MAX + 20] = "/v1/chargers/";
    memset(longid + 13, 'x', REST_PARAM_MAX + 1);
    assert_int_equal(match(REST_GET, longid, &mt), REST_MATCH_BAD_PARAM);
    longid[13 + REST_PARAM_MAX] = '\0';
    assert_int_equal(match(REST_GET, longid, &mt), REST_MATCH_OK);
}

static void test_case_sensitive_literals(void **state)
{
    (void)state;
    struct rest_match mt;
    assert_int_equal(match(REST_GET, "/V1/chargers", &mt), REST_MATCH_NOT_FOUND);
    assert_int_equal(match(REST_GET, "/v1/Chargers", &mt), REST_MATCH_NOT_FOUND);
}

static void test_methods(void **state)
{
    (void)state;
    enum rest_method m;
    assert_true(rest_method_parse("PATCH", &m));
    assert_int_equal(m, REST_PATCH);
    assert_false(rest_method_parse("patch", &m));
    assert_false(rest_method_parse("TRACE", &m));
    assert_string_equal(rest_method_name(REST_DELETE), "DELETE");
    char allow[80];
    rest_allow_string((1u << REST_METHOD_COUNT) - 1, allow, sizeof allow);
    assert_string_equal(allow, "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS");
    rest_allow_string(0, allow, sizeof allow);
    assert_string_equal(allow, "");
}

/* ---- query parameters ---- */

static bool add(struct rest_args *a, const char *frag, char *bad)
{
    return rest_args_add(a, frag, strlen(frag), bad, 65);
}

static void test_args_first_value_and_repeats(void **state)
{
    (void)state;
    struct rest_args a = { 0 };
    char bad[65];
    assert_true(add(&a, "status=Available", bad));
    assert_true(add(&a, "page=2", bad));
    assert_true(add(&a, "status=Faulted", bad));
    assert_true(add(&a, "flag", bad));                 /* no '=': empty value */
    assert_true(add(&a, "", bad));                     /* "&&" */
    assert_true(add(&a, "/", bad));                    /* a bare "?" as lws hands it over */
    assert_true(add(&a, "search=a b&c=d", bad));       /* %26 arrives decoded inside a value */
    assert_string_equal(rest_args_get(&a, "status"), "Available");
    assert_string_equal(rest_args_get(&a, "flag"), "");
    assert_string_equal(rest_args_get(&a, "search"), "a b&c=d");
    assert_null(rest_args_get(&a, "missing"));
    assert_null(rest_args_get(&a, "Status"));
    assert_string_equal(rest_args_unread(&a), "page");
    assert_string_equal(rest_args_get(&a, "page"), "2");
    assert_null(rest_args_unread(&a));
    char *joined = rest_args_joined(&a);
    assert_string_equal(joined, "status=Available&page=2&status=Faulted&flag=&search=a b&c=d");
    free(joined);
    rest_args_free(&a);
}

static void test_args_lists_both_forms(void **state)
{
    (void)state;
    struct rest_args a = { 0 };
    char bad[65];
    const char *v[8];
    assert_true(add(&a, "chargerIds[]=a", bad));
    assert_true(add(&a, "chargerIds[]=b", bad));
    assert_true(add(&a, "chargerIds=c,d,,e ", bad));
    assert_true(add(&a, "other=x", bad));
    assert_int_equal(rest_args_list(&a, "chargerIds", v, 8), 5);
    assert_string_equal(v[0], "a");
    assert_string_equal(v[1], "b");
    assert_string_equal(v[2], "c");
    assert_string_equal(v[3], "d");
    assert_string_equal(v[4], "e");
    assert_int_equal(rest_args_list(&a, "chargerIds", v, 2), 2);
    assert_int_equal(rest_args_list(&a, "none", v, 8), 0);
    assert_string_equal(rest_args_get(&a, "chargerIds"), "a");  /* first value, either form */
    assert_string_equal(rest_args_unread(&a), "other");
    char *joined = rest_args_joined(&a);
    assert_string_equal(joined, "chargerIds[]=a&chargerIds[]=b&chargerIds=c,d,,e &other=x");
    free(joined);
    rest_args_free(&a);
}

static void test_args_bad_encodings(void **state)
{
    (void)state;
    struct rest_args a = { 0 };
    char bad[65];
    assert_false(add(&a, "search=\xe9t\xe9", bad));     /* %E9 decoded: Latin-1, not UTF-8 */
    assert_string_equal(bad, "search");
    assert_false(add(&a, "search=a\x01", bad));
    assert_string_equal(bad, "search");
    assert_false(add(&a, "ids[]=\xc0\xaf", bad));       /* overlong '/' */
    assert_string_equal(bad, "ids");
    assert_false(add(&a, "x=\xed\xa0\x80", bad));       /* a UTF-16 surrogate */
    assert_false(add(&a, "=value", bad));
    assert_string_equal(bad, "");
    assert_false(add(&a, "\xff=1", bad));
    assert_string_equal(bad, "");
    assert_false(add(&a, "[]=1", bad));
    char big[REST_ARG_VALUE_MAX + 16] = "v=";
    memset(big + 2, 'a', REST_ARG_VALUE_MAX + 1);
    assert_false(add(&a, big, bad));
    assert_string_equal(bad, "v");
    big[2 + REST_ARG_VALUE_MAX] = '\0';
    assert_true(add(&a, big, bad));
    assert_true(add(&a, "name=caf\xc3\xa9 \xf0\x9f\x94\x8c", bad));
    assert_string_equal(rest_args_get(&a, "name"), "caf\xc3\xa9 \xf0\x9f\x94\x8c");
    rest_args_free(&a);

    for (int i = 0; i < REST_ARGS_MAX; i++)
        assert_true(add(&a, "p=1", bad));
    assert_false(add(&a, "p=1", bad));
    assert_string_equal(bad, "p");
    rest_args_free(&a);
}

static void test_text_ok(void **state)
{
    (void)state;
    assert_true(rest_text_ok("", 0));
    assert_true(rest_text_ok("abc", 3));
    assert_false(rest_text_ok("a\0b", 3));
    assert_false(rest_text_ok("\xc3", 1));               /* cut short */
    assert_false(rest_text_ok("\xc2\x85", 2));           /* C1 control (NEL) */
    assert_true(rest_text_ok("\xc2\xa0", 2));
    assert_false(rest_text_ok("\xf4\x90\x80\x80", 4));   /* above U+10FFFF */
    assert_true(rest_text_ok("\xf4\x8f\xbf\xbf", 4));
}

int main(void)
{
    ocpp_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_and_params),
        cmocka_unit_test(test_specific_pattern_wins),
        cmocka_unit_test(test_404_and_405_allow),
        cmocka_unit_test(test_head_uses_get),
        cmocka_unit_test(test_trailing_slash),
        cmocka_unit_test(test_decoded_segments),
        cmocka_unit_test(test_case_sensitive_literals),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_args_first_value_and_repeats),
        cmocka_unit_test(test_args_lists_both_forms),
        cmocka_unit_test(test_args_bad_encodings),
        cmocka_unit_test(test_text_ok),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
