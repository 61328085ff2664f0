/*
 * docs/openapi.json against the route table (include/rest.h rest_routes[]):
 * the document must be valid JSON, OpenAPI 3.1, and describe exactly the
 * routes the gateway serves, no more and no fewer, each with the scope the
 * router checks, every path parameter declared and every error answer on
 * the Error schema. Every "$ref" must resolve. If the build embeds the
 * document (GET /v1/openapi.json), the embedded bytes must be the file's.
 *
 * The file is found from the working directory (make runs the unit tests
 * from the top of the tree) or from OCPPGW_OPENAPI.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cJSON.h>

#include "embedded.h"
#include "rest.h"
#include "strbuf.h"

static char *doc_text;
static size_t doc_len;
static cJSON *doc;

static char *read_file(const char *path, size_t *len)
{
    struct strbuf b = STRBUF_INIT;
    if (!strbuf_read_file(&b, path)) {
        strbuf_free(&b);
        return NULL;
    }
    *len = b.len;
    return strbuf_take(&b);
}

static int group_setup(void **state)
{
    (void)state;
    const char *env = getenv("OCPPGW_OPENAPI");
    const char *candidates[] = { env, "docs/openapi.json", "../docs/openapi.json", "../../docs/openapi.json" };
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0] && !doc_text; i++)
        if (candidates[i])
            doc_text = read_file(candidates[i], &doc_len);
    if (!doc_text) {
        print_error("docs/openapi.json not found (run from the top of the tree or set OCPPGW_OPENAPI)\n");
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    cJSON_Delete(doc);
    free(doc_text);
    return 0;
}

/* Line and column of byte offset `at` in the document, for syntax errors. */
static void line_col(size_t at, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < at && i < doc_len; i++) {
        if (doc_text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

/* The parsed document; fails the test (with the position) unless it is JSON. */
static const cJSON *the_doc(void)
{
    if (doc)
        return doc;
    const char *end = NULL;
    doc = cJSON_ParseWithOpts(doc_text, &end, true);
    if (!doc) {
        int line, col;
        const char *at = cJSON_GetErrorPtr();
        line_col(at ? (size_t)(at - doc_text) : 0, &line, &col);
        fail_msg("docs/openapi.json is not valid JSON: error near line %d column %d", line, col);
    }
    return doc;
}

static const cJSON *member(const cJSON *o, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(o, name);
}

static void lower(char *dst, size_t cap, const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++)
        dst[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
    dst[i] = '\0';
}

static const char *const http_methods[] = { "get", "put", "post", "delete", "options", "head", "patch", "trace" };

static bool is_method_key(const char *k)
{
    for (size_t i = 0; i < sizeof http_methods / sizeof http_methods[0]; i++)
        if (strcmp(k, http_methods[i]) == 0)
            return true;
    return false;
}

/* The route of rest_routes[] with that pattern and (lower-case) method, or NULL. */
static const struct rest_route *find_route(const char *pattern, const char *method)
{
    for (size_t i = 0; i < rest_routes_count; i++) {
        char m[16];
        lower(m, sizeof m, rest_method_name(rest_routes[i].method));
        if (strcmp(rest_routes[i].pattern, pattern) == 0 && strcmp(m, method) == 0)
            return &rest_routes[i];
    }
    return NULL;
}

/* The operation object of the document for a route, or NULL. */
static const cJSON *find_operation(const struct rest_route *r)
{
    char m[16];
    lower(m, sizeof m, rest_method_name(r->method));
    return member(member(member(the_doc(), "paths"), r->pattern), m);
}

/* Resolves a local "#/a/b/c" reference (no escapes needed in our names); NULL if dangling. */
static const cJSON *resolve(const char *ref)
{
    if (strncmp(ref, "#/", 2) != 0)
        return NULL;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", ref + 2);
    const cJSON *at = the_doc();
    char *save = NULL;
    for (char *part = strtok_r(buf, "/", &save); part && at; part = strtok_r(NULL, "/", &save))
        at = member(at, part);
    return at;
}

/* o itself, or what its "$ref" points to. */
static const cJSON *deref(const cJSON *o)
{
    const char *ref = cJSON_GetStringValue(member(o, "$ref"));
    return ref ? resolve(ref) : o;
}

static void test_valid_json_and_openapi_31(void **state)
{
    (void)state;
    const cJSON *d = the_doc();
    assert_true(cJSON_IsObject(d));
    const char *v = cJSON_GetStringValue(member(d, "openapi"));
    if (!v || strncmp(v, "3.1.", 4) != 0)
        fail_msg("\"openapi\" is \"%s\", expected 3.1.x", v ? v : "(missing)");
    const cJSON *info = member(d, "info");
    assert_non_null(cJSON_GetStringValue(member(info, "title")));
    assert_non_null(cJSON_GetStringValue(member(info, "version")));
    assert_true(cJSON_IsObject(member(d, "paths")));
    const cJSON *schemes = member(member(d, "components"), "securitySchemes");
    const cJSON *bearer = member(schemes, "bearerAuth");
    const cJSON *header = member(schemes, "apiKeyHeader");
    assert_string_equal(cJSON_GetStringValue(member(bearer, "scheme")), "bearer");
    assert_string_equal(cJSON_GetStringValue(member(header, "in")), "header");
    assert_string_equal(cJSON_GetStringValue(member(header, "name")), "x-api-key");
}

/* Every route of the table is in the document, with the scope the router checks. */
static void test_every_route_documented(void **state)
{
    (void)state;
    assert_true(rest_routes_count > 0);
    int missing = 0;
    for (size_t i = 0; i < rest_routes_count; i++) {
        const struct rest_route *r = &rest_routes[i];
        const cJSON *op = find_operation(r);
        if (!op) {
            print_error("route %s %s is served but not in docs/openapi.json\n", rest_method_name(r->method),
                        r->pattern);
            missing++;
            continue;
        }
        const cJSON *sec = member(op, "security");
        if (r->flags & REST_NO_AUTH) {
            if (!cJSON_IsArray(sec) || cJSON_GetArraySize(sec) != 0) {
                print_error("%s %s needs no key: its operation must say \"security\": []\n",
                            rest_method_name(r->method), r->pattern);
                missing++;
            }
            continue;
        }
        if (!cJSON_IsArray(sec) || cJSON_GetArraySize(sec) == 0) {
            print_error("%s %s: no security requirement\n", rest_method_name(r->method), r->pattern);
            missing++;
            continue;
        }
        /* each alternative (bearer, x-api-key) names exactly the route's scope */
        const cJSON *alt;
        cJSON_ArrayForEach(alt, sec) {
            const cJSON *scheme;
            cJSON_ArrayForEach(scheme, alt) {
                const cJSON *scopes = scheme;
                bool ok = cJSON_IsArray(scopes) && cJSON_GetArraySize(scopes) == 1 && r->scope &&
                          strcmp(cJSON_GetStringValue(cJSON_GetArrayItem(scopes, 0)) ?: "", r->scope) == 0;
                if (!ok) {
                    print_error("%s %s: security scheme %s must require [\"%s\"]\n",
                                rest_method_name(r->method), r->pattern, scheme->string,
                                r->scope ? r->scope : "?");
                    missing++;
                }
            }
        }
    }
    if (missing)
        fail_msg("%d route(s) missing or wrong in docs/openapi.json", missing);
}

/* Every operation of the document is a route of the table. */
static void test_no_undocumented_extra(void **state)
{
    (void)state;
    int extra = 0;
    const cJSON *path;
    cJSON_ArrayForEach(path, member(the_doc(), "paths")) {
        const cJSON *item;
        int ops = 0;
        cJSON_ArrayForEach(item, path) {
            if (!is_method_key(item->string))
                continue;
            ops++;
            if (!find_route(path->string, item->string)) {
                print_error("docs/openapi.json has %s %s, which no route serves\n", item->string, path->string);
                extra++;
            }
        }
        if (ops == 0) {
            print_error("docs/openapi.json: path %s has no operation\n", path->string);
            extra++;
        }
    }
    if (extra)
        fail_msg("%d operation(s) in docs/openapi.json that the gateway does not serve", extra);
}

/* Whether the parameter list holds a path parameter of that name. */
static bool has_path_param(const cJSON *params, const char *name)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, params) {
        const cJSON *d = deref(p);
        if (d && strcmp(cJSON_GetStringValue(member(d, "in")) ?: "", "path") == 0 &&
            strcmp(cJSON_GetStringValue(member(d, "name")) ?: "", name) == 0 &&
            cJSON_IsTrue(member(d, "required")))
            return true;
    }
    return false;
}

/* Every {name} of a route's pattern is a required path parameter of its operation. */
static void test_path_parameters_declared(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < rest_routes_count; i++) {
        const struct rest_route *r = &rest_routes[i];
        const cJSON *op = find_operation(r);
        if (!op)
            continue;   /* reported by test_every_route_documented */
        const cJSON *path_item = member(member(the_doc(), "paths"), r->pattern);
        for (const char *p = strchr(r->pattern, '{'); p; p = strchr(p + 1, '{')) {
            const char *close = strchr(p, '}');
            assert_non_null(close);
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(close - p - 1), p + 1);
            if (!has_path_param(member(op, "parameters"), name) &&
                !has_path_param(member(path_item, "parameters"), name)) {
                print_error("%s %s: path parameter {%s} not declared\n", rest_method_name(r->method),
                            r->pattern, name);
                bad++;
            }
        }
    }
    if (bad)
        fail_msg("%d path parameter(s) undeclared", bad);
}

/* Counts "$ref"s anywhere under o that do not resolve; prints each. */
static int dangling_refs(const cJSON *o, int depth)
{
    if (depth > 64)
        fail_msg("docs/openapi.json nests deeper than 64 levels");
    int bad = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, o) {
        if (c->string && strcmp(c->string, "$ref") == 0 && cJSON_IsString(c) && !resolve(c->valuestring)) {
            print_error("dangling $ref: %s\n", c->valuestring);
            bad++;
        }
        if (cJSON_IsObject(c) || cJSON_IsArray(c))
            bad += dangling_refs(c, depth + 1);
    }
    return bad;
}

static void test_refs_resolve(void **state)
{
    (void)state;
    int bad = dangling_refs(the_doc(), 0);
    if (bad)
        fail_msg("%d $ref(s) in docs/openapi.json point nowhere", bad);
}

/* Whether a response (or its $ref) carries application/json with the Error schema. */
static bool is_error_response(const cJSON *resp)
{
    const cJSON *d = deref(resp);
    const cJSON *schema = member(member(member(d, "content"), "application/json"), "schema");
    const char *ref = cJSON_GetStringValue(member(schema, "$ref"));
    return ref && strcmp(ref, "#/components/schemas/Error") == 0;
}

/* Every 4xx/5xx answer of every operation uses the Error schema; each has a 2xx. */
static void test_error_responses_use_error_schema(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < rest_routes_count; i++) {
        const struct rest_route *r = &rest_routes[i];
        const cJSON *op = find_operation(r);
        if (!op)
            continue;
        const cJSON *resp;
        bool has_2xx = false, has_4xx = false;
        cJSON_ArrayForEach(resp, member(op, "responses")) {
            char c = resp->string[0];
            has_2xx |= c == '2';
            if (c == '4' || c == '5') {
                has_4xx = true;
                if (!is_error_response(resp)) {
                    print_error("%s %s: response %s is not the Error schema\n", rest_method_name(r->method),
                                r->pattern, resp->string);
                    bad++;
                }
            }
        }
        if (!has_2xx || !has_4xx) {
            print_error("%s %s: needs a 2xx and its error responses\n", rest_method_name(r->method), r->pattern);
            bad++;
        }
        /* an authenticated route answers 401, 403 and 429 */
        if (!(r->flags & REST_NO_AUTH)) {
            const char *need[] = { "400", "401", "403", "404", "429" };
            for (size_t k = 0; k < sizeof need / sizeof need[0]; k++)
                if (!member(member(op, "responses"), need[k])) {
                    print_error("%s %s: no %s response\n", rest_method_name(r->method), r->pattern, need[k]);
                    bad++;
                }
        }
        /* a JSON body is documented, and its refusals (413, 422) */
        if (r->flags & REST_JSON_BODY) {
            if (!member(member(op, "requestBody"), "content")) {
                print_error("%s %s: takes a JSON body but documents none\n", rest_method_name(r->method),
                            r->pattern);
                bad++;
            }
            if (!member(member(op, "responses"), "413") || !member(member(op, "responses"), "422")) {
                print_error("%s %s: a body route answers 413 and 422\n", rest_method_name(r->method), r->pattern);
                bad++;
            }
        }
    }
    if (bad)
        fail_msg("%d problem(s) with error responses", bad);
}

/* The document the binary serves is this file (when the build embeds it). */
static void test_embedded_copy_is_current(void **state)
{
    (void)state;
    const struct embedded_file *e = embedded_find("openapi.json");
    if (!e)
        fail_msg("openapi.json is not embedded in the binary (GET /v1/openapi.json serves it)");
    if (e->len != doc_len || memcmp(e->data, doc_text, doc_len) != 0)
        fail_msg("the embedded openapi.json (%zu bytes) differs from docs/openapi.json (%zu bytes): rebuild",
                 e->len, doc_len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_json_and_openapi_31),
        cmocka_unit_test(test_every_route_documented),
        cmocka_unit_test(test_no_undocumented_extra),
        cmocka_unit_test(test_path_parameters_declared),
        cmocka_unit_test(test_refs_resolve),
        cmocka_unit_test(test_error_responses_use_error_schema),
        cmocka_unit_test(test_embedded_copy_is_current),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
