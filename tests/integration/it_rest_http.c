/*
 * Integration: what the REST framework does for every route, seen from an
 * integrator's HTTP client against the real gateway: unknown routes (404)
 * and methods (405 with Allow), Api-Version (echo, the deprecated revision's
 * headers, 400 for an unknown one), X-Request-Id, malformed JSON (400),
 * chunked bodies (411), huge bodies (413), broken percent-encoding (400),
 * Idempotency-Key (replay, reuse with another body, a request still in
 * progress, scoped per API key), the rate limit (429 with Retry-After and
 * X-RateLimit-*), GET /v1/openapi.json, 503 while PostgreSQL is down,
 * 5,000 distinct query shapes (the bounded statement cache) and a query past
 * rest.statement_timeout (503 QUERY_TIMEOUT while chargers are served).
 *
 * Token idTags, charger ids and API key names start with "irh-".
 */
#include "it.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "calls.h"
#include "db.h"
#include "fixture.h"
#include "gw.h"
#include "proc.h"
#include "strbuf.h"
#include "support/rest.h"

#define CURRENT_VERSION    "V2026_11_21"
#define DEPRECATED_VERSION "V2026_01_01"

static char *admin;     /* admin key */
static char *admin2;    /* a second admin key: Idempotency-Key is scoped per API key */

#define PORT gw_port(W.gw)

static int group_setup(void **state)
{
    (void)state;
    gw_migrate_once();
    db_exec("DELETE FROM tokens WHERE id_tag LIKE 'irh-%'");
    db_exec("DELETE FROM api_keys WHERE name LIKE 'irh-%'");
    admin2 = api_key_create("irh-admin2", "admin");
    admin = api_group_start("it_rest_http", "irh-admin");   /* a rate limit no test here meets but its own */
    return 0;
}

static int group_teardown(void **state)
{
    free(admin2);
    return api_group_teardown(state);
}

/* GET with the admin key and extra headers. */
static struct api_resp *get_with(const char *path, const char *const *headers)
{
    struct api_req q = { .method = "GET", .path = path, .key = admin, .headers = headers };
    return api_send(PORT, &q);
}

/* Fails unless the header is present with exactly that value. */
static void expect_header(const struct api_resp *r, const char *name, const char *want)
{
    const char *v = api_header(r, name);
    if (!v || strcmp(v, want) != 0)
        fail_msg("%s: header %s is \"%s\", expected \"%s\"", r->what, name, v ? v : "(absent)", want);
}

static void expect_no_header(const struct api_resp *r, const char *name)
{
    const char *v = api_header(r, name);
    if (v)
        fail_msg("%s: unexpected header %s: %s", r->what, name, v);
}

/* ---------------------------------------------------------------- routes */

static void test_unknown_route_is_404(void **state)
{
    (void)state;
    const char *paths[] = { "/v1/nothing-here", "/v1/chargers/irh-x/nothing", "/v1/sessions/1/meter-values/x",
                            "/v2/chargers", "/v1" };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct api_resp *r = api_get(PORT, admin, paths[i]);
        api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
        api_free(r);
    }
    /* the route is checked before the credentials */
    struct api_resp *r = api_get(PORT, NULL, "/v1/nothing-here");
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
}

/* Whether the comma-separated Allow value lists the method. */
static bool allow_lists(const char *allow, const char *method)
{
    char copy[256];
    snprintf(copy, sizeof copy, "%s", allow);
    char *save = NULL;
    for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
        if (strcmp(t, method) == 0)
            return true;
    return false;
}

static void expect_405(const char *method, const char *path, const char *const *allowed, const char *const *not_allowed)
{
    struct api_req q = { .method = method, .path = path, .key = admin };
    if (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0)
        q.body = "{}";
    struct api_resp *r = api_send(PORT, &q);
    api_expect_error(r, 405, "METHOD_NOT_ALLOWED");
    const char *allow = api_header(r, "Allow");
    if (!allow)
        fail_msg("%s: 405 without an Allow header", r->what);
    for (const char *const *m = allowed; *m; m++)
        if (!allow_lists(allow, *m))
            fail_msg("%s: Allow \"%s\" does not list %s", r->what, allow, *m);
    for (const char *const *m = not_allowed; *m; m++)
        if (allow_lists(allow, *m))
            fail_msg("%s: Allow \"%s\" lists %s, which the route does not take", r->what, allow, *m);
    api_free(r);
}

static void test_other_method_is_405_with_allow(void **state)
{
    (void)state;
    expect_405("PUT", "/v1/chargers", (const char *[]){ "GET", "POST", NULL },
               (const char *[]){ "PUT", "DELETE", "PATCH", NULL });
    expect_405("DELETE", "/v1/sessions", (const char *[]){ "GET", NULL }, (const char *[]){ "POST", "DELETE", NULL });
    expect_405("POST", "/v1/chargers/irh-x", (const char *[]){ "GET", "PATCH", "DELETE", NULL },
               (const char *[]){ "POST", "PUT", NULL });
    expect_405("PATCH", "/v1/api-keys/1", (const char *[]){ "DELETE", NULL }, (const char *[]){ "PATCH", NULL });
    expect_405("DELETE", "/v1/audit-log", (const char *[]){ "GET", NULL }, (const char *[]){ "DELETE", NULL });
}

/* ---------------------------------------------------------------- Api-Version */

static void test_api_version_echoed(void **state)
{
    (void)state;
    /* absent: the newest revision answers and says so */
    struct api_resp *r = api_get(PORT, admin, "/v1/tokens?perPage=1");
    api_expect(r, 200);
    expect_header(r, "Api-Version", CURRENT_VERSION);
    expect_no_header(r, "X-API-Deprecated");
    api_free(r);

    r = get_with("/v1/tokens?perPage=1", (const char *[]){ "Api-Version: " CURRENT_VERSION, NULL });
    api_expect(r, 200);
    expect_header(r, "Api-Version", CURRENT_VERSION);
    expect_no_header(r, "X-API-Deprecated");
    expect_no_header(r, "X-API-Sunset-Date");
    api_free(r);

    /* also on an error answer, and without credentials */
    r = api_get(PORT, NULL, "/v1/tokens");
    api_expect_error(r, 401, "UNAUTHORIZED");
    expect_header(r, "Api-Version", CURRENT_VERSION);
    api_free(r);
    r = api_get(PORT, admin, "/v1/tokens/irh-none");
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    expect_header(r, "Api-Version", CURRENT_VERSION);
    api_free(r);
}

static void test_deprecated_api_version_headers(void **state)
{
    (void)state;
    struct api_resp *r = get_with("/v1/tokens?perPage=1", (const char *[]){ "Api-Version: " DEPRECATED_VERSION, NULL });
    api_expect(r, 200);
    expect_header(r, "Api-Version", DEPRECATED_VERSION);
    expect_header(r, "X-API-Deprecated", "true");
    const char *sunset = api_header(r, "X-API-Sunset-Date");
    if (!sunset || !*sunset)
        fail_msg("%s with Api-Version %s: no X-API-Sunset-Date", r->what, DEPRECATED_VERSION);
    /* a date a client can parse */
    if (db_int("SELECT count(*) FROM (SELECT $1::date) d", sunset) != 1)
        fail_msg("X-API-Sunset-Date \"%s\" is not a date", sunset);
    api_free(r);
}

static void test_unknown_api_version_is_400(void **state)
{
    (void)state;
    const char *bad[] = { "Api-Version: V1999_01_01", "Api-Version: V2026_11_22", "Api-Version: latest",
                          "Api-Version: v2026_11_21" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct api_resp *r = get_with("/v1/tokens", (const char *[]){ bad[i], NULL });
        api_expect_error(r, 400, "BAD_REQUEST");
        /* the error still says which revision answered */
        if (!api_header(r, "Api-Version"))
            fail_msg("%s (%s): 400 without Api-Version", r->what, bad[i]);
        api_free(r);
    }
    /* before the credentials: a bad revision without a key is still 400 */
    struct api_req q = { .method = "GET", .path = "/v1/tokens",
                         .headers = (const char *[]){ "Api-Version: V1999_01_01", NULL } };
    struct api_resp *r = api_send(PORT, &q);
    api_expect_error(r, 400, "BAD_REQUEST");
    api_free(r);
}

/* ---------------------------------------------------------------- X-Request-Id */

static void test_request_id_echoed_or_made(void **state)
{
    (void)state;
    struct api_resp *r = get_with("/v1/tokens?perPage=1", (const char *[]){ "X-Request-Id: irh-trace-42", NULL });
    api_expect(r, 200);
    expect_header(r, "X-Request-Id", "irh-trace-42");
    api_free(r);

    /* echoed on errors too: 401, 404, 400 */
    struct api_req q = { .method = "GET", .path = "/v1/tokens",
                         .headers = (const char *[]){ "X-Request-Id: irh-trace-43", NULL } };
    r = api_send(PORT, &q);
    api_expect_error(r, 401, "UNAUTHORIZED");
    expect_header(r, "X-Request-Id", "irh-trace-43");
    api_free(r);
    r = get_with("/v1/nothing", (const char *[]){ "X-Request-Id: irh-trace-44", NULL });
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    expect_header(r, "X-Request-Id", "irh-trace-44");
    api_free(r);
    r = get_with("/v1/tokens?perPage=zero", (const char *[]){ "X-Request-Id: irh-trace-45", NULL });
    api_expect_error(r, 400, "BAD_REQUEST");
    expect_header(r, "X-Request-Id", "irh-trace-45");
    api_free(r);

    /* none sent: one is made, a different one per request */
    struct api_resp *a = api_get(PORT, admin, "/v1/tokens?perPage=1");
    struct api_resp *b = api_get(PORT, admin, "/v1/tokens?perPage=1");
    const char *ia = api_header(a, "X-Request-Id");
    char first[256];
    snprintf(first, sizeof first, "%s", ia ? ia : "");
    const char *ib = api_header(b, "X-Request-Id");
    if (!*first || !ib || !*ib)
        fail_msg("a request without X-Request-Id got none in the answer");
    if (strcmp(first, ib) == 0)
        fail_msg("two requests got the same X-Request-Id %s", first);
    api_free(a);
    api_free(b);
}

/* ---------------------------------------------------------------- bodies */

static void test_malformed_json_is_400(void **state)
{
    (void)state;
    const char *bodies[] = { "{\"idTag\": \"irh-bad\",", "not json", "{\"idTag\": 'irh-bad'}", "{\"idTag\" \"irh-bad\"}" };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        struct api_resp *r = api_post(PORT, admin, "/v1/tokens", bodies[i]);
        api_expect_error(r, 400, "BAD_REQUEST");
        api_free(r);
    }
    struct api_resp *r = api_patch(PORT, admin, "/v1/tokens/irh-bad", "{\"name\":");
    api_expect_error(r, 400, "BAD_REQUEST");
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM tokens WHERE id_tag = 'irh-bad'"), 0);
}

static void test_body_not_json_media_type_is_415(void **state)
{
    (void)state;
    struct api_req q = { .method = "POST", .path = "/v1/tokens", .key = admin, .body = "idTag=irh-form",
                         .headers = (const char *[]){ "Content-Type: application/x-www-form-urlencoded", NULL } };
    struct api_resp *r = api_send(PORT, &q);
    api_expect_error(r, 415, "UNSUPPORTED_MEDIA_TYPE");
    api_free(r);
    /* a charset parameter is fine */
    struct api_req q2 = { .method = "POST", .path = "/v1/tokens", .key = admin, .body = "{\"idTag\":\"irh-utf8\"}",
                          .headers = (const char *[]){ "Content-Type: application/json; charset=utf-8", NULL } };
    r = api_send(PORT, &q2);
    api_expect(r, 201);
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM tokens WHERE id_tag = 'irh-form'"), 0);
}

static void test_chunked_body_is_411(void **state)
{
    (void)state;
    char *req = it_strf("POST /v1/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "16\r\n{\"idTag\": \"irh-chunk\"}\r\n0\r\n\r\n", admin);
    char *answer = NULL;
    int st = api_raw(PORT, req, strlen(req), &answer);
    if (st != 411 || !strstr(answer, "LENGTH_REQUIRED"))
        fail_msg("chunked POST /v1/tokens: expected 411 LENGTH_REQUIRED, got %d: %.300s", st, answer);
    free(answer);
    free(req);
    assert_int_equal(db_int("SELECT count(*) FROM tokens WHERE id_tag = 'irh-chunk'"), 0);
}

static void test_huge_body_is_413(void **state)
{
    (void)state;
    size_t fill = 1536 * 1024;      /* 1.5 MiB: over the 1 MiB default */
    char *body = malloc(fill + 64);
    assert_non_null(body);
    int n = sprintf(body, "{\"idTag\":\"irh-huge\",\"name\":\"");
    memset(body + n, 'x', fill);
    strcpy(body + n + fill, "\"}");
    size_t blen = strlen(body);
    char *head = it_strf("POST /v1/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                         "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", admin, blen);
    size_t hlen = strlen(head);
    char *req = malloc(hlen + blen);
    assert_non_null(req);
    memcpy(req, head, hlen);
    memcpy(req + hlen, body, blen);
    char *answer = NULL;
    int st = api_raw(PORT, req, hlen + blen, &answer);
    if (st != 413 || !strstr(answer, "PAYLOAD_TOO_LARGE"))
        fail_msg("POST /v1/tokens with a 1.5 MiB body: expected 413 PAYLOAD_TOO_LARGE, got %d: %.300s", st, answer);
    free(answer);
    free(req);
    free(head);
    free(body);
    assert_int_equal(db_int("SELECT count(*) FROM tokens WHERE id_tag = 'irh-huge'"), 0);
    /* the gateway still serves */
    struct api_resp *r = api_get(PORT, admin, "/v1/tokens?perPage=1");
    api_expect(r, 200);
    api_free(r);
}

/* ---------------------------------------------------------------- percent-encoding */

/* Raw GET of path with the admin key; the status, the answer into *answer. */
static int raw_get(const char *path, char **answer)
{
    char *req = it_strf("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n",
                        path, admin);
    int st = api_raw(PORT, req, strlen(req), answer);
    free(req);
    return st;
}

/*
 * Bad percent-encoding. Escapes that decode to text we cannot accept
 * (invalid UTF-8, control characters) reach the API and get 400
 * BAD_REQUEST naming the parameter. Escapes that are not escapes at all
 * (%ZZ, a lone %) are refused by libwebsockets 4.1.6's URI parser with its
 * own 403 before any callback runs (there is no hook to change that; see
 * docs/api.md): the test holds that they are refused, never served, and that
 * the server goes on serving.
 */
static void test_bad_percent_encoding_is_refused(void **state)
{
    (void)state;
    const char *undecodable[] = {
        "/v1/tokens/irh-%E9", "/v1/tokens/irh-%C0%AF", "/v1/chargers/irh-%01",
        "/v1/tokens?search=%E9", "/v1/tokens?search=a%7Fb", "/v1/sessions?chargerId=irh-%01",
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof undecodable / sizeof undecodable[0]; i++) {
        char *answer = NULL;
        int st = raw_get(undecodable[i], &answer);
        if (st != 400 || !strstr(answer, "BAD_REQUEST") || !strstr(answer, "\"context\":{\"")) {
            print_error("GET %s: expected 400 BAD_REQUEST naming the parameter, got %d: %.200s\n",
                        undecodable[i], st, answer);
            bad++;
        }
        free(answer);
    }
    const char *malformed[] = {
        "/v1/tokens/irh-%ZZ", "/v1/tokens/irh-%4", "/v1/chargers/irh-%G1",
        "/v1/tokens?search=%ZZ", "/v1/tokens?search=100%", "/v1/sessions?chargerId=irh-%x1",
    };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        char *answer = NULL;
        int st = raw_get(malformed[i], &answer);
        if (st != 400 && st != 403) {
            print_error("GET %s: expected a refusal (400, or lws's 403), got %d: %.200s\n",
                        malformed[i], st, answer);
            bad++;
        }
        free(answer);
    }
    if (bad)
        fail_msg("%d request(s) with broken percent-encoding not refused as they should be", bad);
    struct api_resp *r = api_get(PORT, admin, "/v1/tokens?perPage=1");
    api_expect(r, 200); /* still serving */
    api_free(r);
}

static void test_percent_encoded_ids_are_decoded(void **state)
{
    (void)state;
    db_add_token("irh a1", "Accepted", NULL, NULL);
    db_add_token("irh-é", "Blocked", NULL, NULL);
    struct api_resp *r = api_get(PORT, admin, "/v1/tokens/irh%20a1");
    api_check_str(api_expect(r, 200), "idTag", "irh a1");
    api_free(r);
    r = api_get(PORT, admin, "/v1/tokens/irh-%C3%A9");
    const cJSON *t = api_expect(r, 200);
    api_check_str(t, "idTag", "irh-é");
    api_check_str(t, "status", "Blocked");
    api_free(r);
    r = api_get(PORT, admin, "/v1/tokens?search=irh%20a");
    const cJSON *data = api_data(api_expect(r, 200));
    assert_int_equal(api_count_with(data, "idTag", "irh a1"), 1);
    api_free(r);
}

/* ---------------------------------------------------------------- Idempotency-Key */

static struct api_resp *post_idem(const char *key, const char *idem, const char *path, const char *body)
{
    char hdr[400];
    snprintf(hdr, sizeof hdr, "Idempotency-Key: %s", idem);
    struct api_req q = { .method = "POST", .path = path, .key = key, .body = body,
                         .headers = (const char *[]){ hdr, NULL } };
    return api_send(PORT, &q);
}

static void test_idempotent_replay_same_answer_no_second_row(void **state)
{
    (void)state;
    const char *body = "{\"name\":\"irh-idem-key\",\"scopes\":[\"tokens:read\"]}";
    struct api_resp *a = post_idem(admin, "irh-idem-1", "/v1/api-keys", body);
    const cJSON *first = api_expect(a, 201);
    if (!js(first, "secret"))
        fail_msg("POST /v1/api-keys answered no secret: %s", a->body);
    char *loc = strdup(api_header(a, "Location") ? api_header(a, "Location") : "");

    /* the same answer, but the one-time secret is not kept for replays */
    cJSON *want = cJSON_Duplicate(first, true);
    cJSON_ReplaceItemInObjectCaseSensitive(want, "secret", cJSON_CreateNull());
    struct api_resp *b = post_idem(admin, "irh-idem-1", "/v1/api-keys", body);
    const cJSON *second = api_expect(b, 201);
    if (!cJSON_Compare(want, second, true))
        fail_msg("replay answered another body:\nfirst:  %s\nreplay: %s", a->body, b->body);
    const char *loc2 = api_header(b, "Location");
    if (!loc2 || strcmp(loc, loc2) != 0)
        fail_msg("replay Location \"%s\", first \"%s\"", loc2 ? loc2 : "(absent)", loc);
    assert_int_equal(db_int("SELECT count(*) FROM api_keys WHERE name = 'irh-idem-key'"), 1);

    /* a third time, much the same */
    struct api_resp *c = post_idem(admin, "irh-idem-1", "/v1/api-keys", body);
    if (!cJSON_Compare(want, api_expect(c, 201), true))
        fail_msg("second replay answered another body: %s", c->body);
    cJSON_Delete(want);
    assert_int_equal(db_int("SELECT count(*) FROM api_keys WHERE name = 'irh-idem-key'"), 1);

    /* an error answer is replayed as well: the same key on a conflicting token */
    db_add_token("irh-idem-dup", "Accepted", NULL, NULL);
    struct api_resp *d1 = post_idem(admin, "irh-idem-2", "/v1/tokens", "{\"idTag\":\"irh-idem-dup\"}");
    api_expect_error(d1, 409, "CONFLICT");
    struct api_resp *d2 = post_idem(admin, "irh-idem-2", "/v1/tokens", "{\"idTag\":\"irh-idem-dup\"}");
    api_expect_error(d2, 409, "CONFLICT");
    free(loc);
    api_free(a);
    api_free(b);
    api_free(c);
    api_free(d1);
    api_free(d2);
}

static void test_idempotency_key_reused_with_other_body_is_409(void **state)
{
    (void)state;
    struct api_resp *a = post_idem(admin, "irh-idem-3", "/v1/tokens", "{\"idTag\":\"irh-idem-a\"}");
    api_expect(a, 201);
    struct api_resp *b = post_idem(admin, "irh-idem-3", "/v1/tokens", "{\"idTag\":\"irh-idem-b\"}");
    api_expect_error(b, 409, "IDEMPOTENCY_KEY_REUSED");
    assert_int_equal(db_int("SELECT count(*) FROM tokens WHERE id_tag = 'irh-idem-b'"), 0);
    /* the same key on another route is another request too */
    struct api_resp *c = post_idem(admin, "irh-idem-3", "/v1/chargers", "{\"id\":\"irh-idem-c\"}");
    api_expect_error(c, 409, "IDEMPOTENCY_KEY_REUSED");
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'irh-idem-c'"), 0);
    api_free(a);
    api_free(b);
    api_free(c);
}

static void test_idempotency_key_scoped_per_api_key(void **state)
{
    (void)state;
    const char *body = "{\"name\":\"irh-idem-scoped\",\"scopes\":[\"tokens:read\"]}";
    struct api_resp *a = post_idem(admin, "irh-idem-4", "/v1/api-keys", body);
    api_expect(a, 201);
    struct api_resp *b = post_idem(admin2, "irh-idem-4", "/v1/api-keys", body);
    api_expect(b, 201);
    if (cJSON_Compare(a->json, b->json, true))
        fail_msg("another API key's request with the same Idempotency-Key got the first one's answer");
    assert_int_equal(db_int("SELECT count(*) FROM api_keys WHERE name = 'irh-idem-scoped'"), 2);
    api_free(a);
    api_free(b);
}

static void test_idempotency_key_length(void **state)
{
    (void)state;
    char longkey[300];
    memset(longkey, 'k', 256);
    longkey[256] = '\0';
    struct api_resp *r = post_idem(admin, longkey, "/v1/tokens", "{\"idTag\":\"irh-idem-long\"}");
    api_expect_error(r, 400, "BAD_REQUEST");
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM tokens WHERE id_tag = 'irh-idem-long'"), 0);
    longkey[255] = '\0';    /* 255 is allowed */
    r = post_idem(admin, longkey, "/v1/tokens", "{\"idTag\":\"irh-idem-255\"}");
    api_expect(r, 201);
    api_free(r);
}

static bool insert_waits_on_lock(void *arg)
{
    (void)arg;
    return db_int("SELECT count(*) FROM pg_locks WHERE relation = 'tokens'::regclass AND NOT granted") > 0;
}

/*
 * The first request is held inside the database: the test holds a lock on
 * table tokens, as a long transaction of another client would, and waits
 * until that gateway's INSERT waits on it (pg_locks). By then the request's
 * Idempotency-Key claim is committed (the claim is a statement of its own,
 * before the handler acts). The same request then goes to another gateway
 * on the same database, whose REST store is not stuck behind that INSERT:
 * it answers while the first request is still in progress, and must answer
 * 409 IDEMPOTENCY_KEY_REUSED, never act nor give the first one's answer as
 * if it were finished. The test reads that answer, checks the first request
 * is still waiting, and only then releases the lock; the first must then
 * finish 201. (Within one gateway the REST store runs statements in order:
 * a second request would wait behind the blocked INSERT, and whether it
 * found the key in progress or finished would depend on when it arrived.)
 * The first gateway has a long rest.statement_timeout, so that its INSERT
 * waits as long as the test needs.
 */
static void test_idempotency_in_progress_is_409(void **state)
{
    (void)state;
    struct gw_opts o = { .name = "it_rest_http-slow",
                         .ini = API_UNLIMITED_INI "statement_timeout = 120\n" };
    W.gw2 = gw_start(&o);
    const char *body = "{\"idTag\":\"irh-idem-slow\"}";
    char *req = it_strf("POST /v1/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                        "Idempotency-Key: irh-idem-5\r\nContent-Type: application/json\r\n"
                        "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", admin, strlen(body), body);
    db_exec("BEGIN");
    db_exec("LOCK TABLE tokens IN EXCLUSIVE MODE");
    int fd1 = api_raw_start(gw_port(W.gw2), req, strlen(req));
    if (!wait_until(NULL, insert_waits_on_lock, NULL, IT_WAIT_MS)) {
        db_exec("ROLLBACK");
        fail_msg("the first request never waited on table tokens: nothing would be in progress");
    }
    char *second = NULL;
    int st2 = api_raw(PORT, req, strlen(req), &second);
    bool first_still_waiting = insert_waits_on_lock(NULL);
    db_exec("ROLLBACK");
    char *first = NULL;
    int st1 = api_raw_finish(fd1, &first);
    free(req);

    if (st2 != 409 || !strstr(second, "IDEMPOTENCY_KEY_REUSED"))
        fail_msg("same Idempotency-Key while the first request is in progress: expected 409 "
                 "IDEMPOTENCY_KEY_REUSED, got %d: %.300s", st2, second);
    if (!first_still_waiting)
        fail_msg("the first request stopped waiting on table tokens before the second was answered");
    if (st1 != 201)
        fail_msg("the first request answered %d, expected 201: %.300s", st1, first);
    free(first);
    free(second);
    assert_int_equal(db_int("SELECT count(*) FROM tokens WHERE id_tag = 'irh-idem-slow'"), 1);
    /* now finished: the same request is a replay, on either gateway */
    struct api_resp *r = post_idem(admin, "irh-idem-5", "/v1/tokens", body);
    api_check_str(api_expect(r, 201), "idTag", "irh-idem-slow");
    expect_header(r, "Idempotent-Replayed", "true");
    api_free(r);
}

/* ---------------------------------------------------------------- rate limit */

static void test_rate_limit_429(void **state)
{
    (void)state;
    /* burst 5, one more request per second */
    char *key = api_key_create("irh-rate", "tokens:read");
    char *other = api_key_create("irh-rate-other", "tokens:read");
    /* started after the keys were made: it loads them at start */
    struct gw_opts o = { .name = "it_rest_http-rate", .ini = "[rest]\nrate_per_second = 1\nrate_burst = 5\n" };
    W.gw2 = gw_start(&o);
    int port = gw_port(W.gw2);

    int passed = 0, last_remaining = 5;
    struct api_resp *r = NULL;
    int64_t start = it_now_ms();
    for (int i = 0; i < 40; i++) {
        r = api_get(port, key, "/v1/tokens?perPage=1");
        if (r->status == 429)
            break;
        api_expect(r, 200);
        const char *limit = api_header(r, "X-RateLimit-Limit");
        const char *remaining = api_header(r, "X-RateLimit-Remaining");
        if (!limit || !remaining)
            fail_msg("%s: 200 without X-RateLimit-Limit / X-RateLimit-Remaining", r->what);
        assert_int_equal(atoi(limit), 5);
        int rem = atoi(remaining);
        if (rem < 0 || rem >= last_remaining + (passed == 0 ? 0 : 1))
            fail_msg("X-RateLimit-Remaining %d after %d: the bucket should drain", rem, last_remaining);
        last_remaining = rem;
        passed++;
        api_free(r);
        r = NULL;
    }
    int64_t elapsed_s = (it_now_ms() - start) / 1000 + 1;
    if (!r)
        fail_msg("40 requests in a row never got 429 with burst 5 and 1 request/s");
    /* the burst, plus at most what refilled meanwhile */
    if (passed < 5 || passed > 5 + elapsed_s)
        fail_msg("%d requests passed before the 429 in about %lld s; burst 5 at 1/s allows 5 to %lld", passed,
                 (long long)elapsed_s, (long long)(5 + elapsed_s));
    api_expect_error(r, 429, "RATE_LIMITED");
    const char *retry = api_header(r, "Retry-After");
    if (!retry || atoi(retry) < 1)
        fail_msg("429 without a Retry-After of at least 1 s (got \"%s\")", retry ? retry : "(absent)");
    const char *limit = api_header(r, "X-RateLimit-Limit");
    const char *remaining = api_header(r, "X-RateLimit-Remaining");
    if (!limit || atoi(limit) != 5 || !remaining || atoi(remaining) != 0)
        fail_msg("429: X-RateLimit-Limit \"%s\" (want 5), X-RateLimit-Remaining \"%s\" (want 0)",
                 limit ? limit : "(absent)", remaining ? remaining : "(absent)");
    int wait_s = atoi(retry);
    api_free(r);

    /* the limit is per key: another key still gets through */
    r = api_get(port, other, "/v1/tokens?perPage=1");
    api_expect(r, 200);
    api_free(r);

    /* after Retry-After, the first key is served again */
    it_pause(NULL, wait_s * 1000 + 200);
    r = api_get(port, key, "/v1/tokens?perPage=1");
    api_expect(r, 200);
    api_free(r);
    free(key);
    free(other);
}

/* ---------------------------------------------------------------- openapi */

static void test_openapi_served_without_key(void **state)
{
    (void)state;
    struct api_resp *r = api_get(PORT, NULL, "/v1/openapi.json");
    const cJSON *served = api_expect(r, 200);
    const char *ct = api_header(r, "Content-Type");
    if (!ct || !strstr(ct, "application/json"))
        fail_msg("GET /v1/openapi.json: Content-Type \"%s\"", ct ? ct : "(absent)");
    if (!cJSON_Compare(api_openapi(), served, true))
        fail_msg("GET /v1/openapi.json differs from docs/openapi.json (rebuild?)");
    api_free(r);
}

/* A value the parameter's documented schema allows (NULL: none to try). */
static const char *sample_value(const cJSON *schema, const char *name)
{
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(schema, "type"));
    const char *fmt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(schema, "format"));
    static char num[32];
    if (strcmp(name, "after") == 0 || strcmp(name, "before") == 0)
        return NULL;                /* opaque cursors: the walks test them */
    if (type && strcmp(type, "integer") == 0) {
        const cJSON *min = cJSON_GetObjectItemCaseSensitive(schema, "minimum");
        snprintf(num, sizeof num, "%d", min ? (int)min->valuedouble : 1);
        return num;
    }
    if (type && strcmp(type, "boolean") == 0)
        return "true";
    if (fmt && strcmp(fmt, "date-time") == 0)
        return strcmp(name, "to") == 0 ? "2025-02-01T00:00:00Z" : "2025-01-01T00:00:00Z";
    /* within maxLength (a country code: "ir") */
    static char text[] = "irh-doc";
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(schema, "maxLength");
    snprintf(text, sizeof text, "%s", "irh-doc");
    if (max && max->valuedouble >= 1 && max->valuedouble < (double)strlen(text))
        text[(size_t)max->valuedouble] = '\0';
    return text;
}

/* A parameter of an operation, its $ref to components/parameters followed. */
static const cJSON *doc_parameter(const cJSON *p)
{
    const char *ref = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "$ref"));
    if (!ref)
        return p;
    return cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(api_openapi(), "components"), "parameters"),
        ref + strlen("#/components/parameters/"));
}

/*
 * Every query parameter docs/openapi.json documents for a GET is accepted
 * by the gateway (each enum value, a value of each other type), beside the
 * operation's required ones: the document promises nothing the API
 * refuses with 400.
 */
static void test_documented_query_parameters_accepted(void **state)
{
    (void)state;
    db_exec("INSERT INTO sites (id) VALUES ('irh-doc') ON CONFLICT DO NOTHING");
    db_add_charger("irh-doc", NULL, 0);
    db_add_token("irh-doc", "Accepted", NULL, NULL);
    db_exec("INSERT INTO tariffs (id) VALUES ('irh-doc') ON CONFLICT DO NOTHING");
    db_exec("INSERT INTO tariff_versions (tariff_id, version, currency, vat_percent, elements)"
            " VALUES ('irh-doc', 1, 'EUR', 19, '[{\"energy\": 30}]') ON CONFLICT DO NOTHING");
    char *sid = db_str("INSERT INTO sessions (transaction_id, charger_id, connector_id, id_tag, auth_status,"
                       " start_time, meter_start) VALUES (74000001, 'irh-doc', 1, 'irh-doc', 'Accepted', now(), 0)"
                       " ON CONFLICT (transaction_id) DO UPDATE SET charger_id = 'irh-doc' RETURNING id");
    /* webhook endpoints are named by UUID */
    char *wid = db_str("INSERT INTO webhook_endpoints (url, types) VALUES ('https://irh-doc.example/hook', '{*}')"
                       " RETURNING id::text");
    int tried = 0, bad = 0;
    const cJSON *path;
    cJSON_ArrayForEach(path, cJSON_GetObjectItemCaseSensitive(api_openapi(), "paths")) {
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(path, "get");
        if (!op)
            continue;
        /* a stream does not end: its parameters are it_event_stream's to try */
        const cJSON *ok = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(op, "responses"), "200");
        if (cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ok, "content"), "text/event-stream"))
            continue;
        /* the path with ids that exist */
        char base[256];
        snprintf(base, sizeof base, "%s", path->string);
        char *brace = strchr(base, '{');
        if (brace) {
            const char *id = strncmp(base, "/v1/sessions/", 13) == 0             ? sid
                             : strncmp(base, "/v1/webhook-endpoints/", 22) == 0 ? wid
                                                                                : "irh-doc";
            char *close = strchr(brace, '}');
            char rest[256];
            snprintf(rest, sizeof rest, "%s", close + 1);
            snprintf(brace, sizeof base - (size_t)(brace - base), "%s%s", id, rest);
        }
        const cJSON *p;
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(op, "parameters")) {
            const cJSON *d = doc_parameter(p);
            const char *in = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "in"));
            const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "name"));
            if (!in || !name || strcmp(in, "query") != 0)
                continue;
            /* the required parameters but this one, with a sample value each (a report's from and to) */
            char required[256] = "";
            const cJSON *q;
            cJSON_ArrayForEach(q, cJSON_GetObjectItemCaseSensitive(op, "parameters")) {
                const cJSON *qd = doc_parameter(q);
                const char *qname = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(qd, "name"));
                const char *qin = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(qd, "in"));
                if (!qname || !qin || strcmp(qin, "query") != 0 || strcmp(qname, name) == 0 ||
                    !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(qd, "required")))
                    continue;
                const char *qv = sample_value(cJSON_GetObjectItemCaseSensitive(qd, "schema"), qname);
                snprintf(required + strlen(required), sizeof required - strlen(required), "%s=%s&", qname,
                         qv ? qv : "");
            }
            const cJSON *schema = cJSON_GetObjectItemCaseSensitive(d, "schema");
            const char *sref = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(schema, "$ref"));
            if (sref)
                schema = cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(api_openapi(), "components"),
                                                     "schemas"), sref + strlen("#/components/schemas/"));
            const cJSON *en = cJSON_GetObjectItemCaseSensitive(schema, "enum");
            if (!en)    /* a list of values from a closed set (GET /v1/events?type=) */
                en = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(schema, "items"), "enum");
            const cJSON *values = en;
            cJSON *one = NULL;
            if (!values) {
                const char *v = sample_value(schema, name);
                if (!v)
                    continue;
                one = cJSON_CreateArray();
                cJSON_AddItemToArray(one, cJSON_CreateString(v));
                values = one;
            }
            const cJSON *v;
            cJSON_ArrayForEach(v, values) {
                char *esc = api_escape(cJSON_GetStringValue(v) ? cJSON_GetStringValue(v) : "");
                char *url = it_strf("%s?%s%s=%s", base, required, name, esc);
                struct api_resp *r = api_get(PORT, admin, url);
                tried++;
                /* a parameter is refused with 400 (or 422); a command route may answer 409
                   for the charger, which is never connected here, after taking the parameter */
                bool refused = r->status == 400 || r->status == 422 ||
                               (r->status != 200 && !strstr(url, "/configuration"));
                if (refused) {
                    print_error("documented GET %s answered %d: %.200s\n", url, r->status, r->body);
                    bad++;
                }
                api_free(r);
                free(url);
                free(esc);
            }
            cJSON_Delete(one);
        }
    }
    free(sid);
    db_exec("DELETE FROM webhook_endpoints WHERE id = $1::uuid", wid);
    free(wid);
    if (tried < 40)
        fail_msg("only %d documented query parameter values tried: is docs/openapi.json complete?", tried);
    if (bad)
        fail_msg("%d of %d documented query parameter values refused by the gateway", bad, tried);
}

/* ---------------------------------------------------------------- database down */

static void pg_ctl(const char *cmd)
{
    const char *argv[] = { "scripts/pg.sh", cmd, it_env("OCPPGW_TEST_PGDIR"), NULL };
    proc_run_ok(argv, cmd);
}

static bool tokens_answer_200(void *arg)
{
    (void)arg;
    struct api_resp *r = api_get(PORT, admin, "/v1/tokens?perPage=1");
    bool ok = r->status == 200;
    api_free(r);
    return ok;
}

/* While PostgreSQL is down, reads and writes answer 503 at once; afterwards the API serves again. */
static void test_database_down_is_503(void **state)
{
    (void)state;
    struct api_resp *r = api_get(PORT, admin, "/v1/tokens?perPage=1");
    api_expect(r, 200);             /* the key is known before the database goes */
    api_free(r);
    db_disconnect();
    pg_ctl("stop");
    for (int i = 0; i < 3; i++) {
        r = api_get(PORT, admin, "/v1/tokens?perPage=1");
        api_expect_error(r, 503, "SERVICE_UNAVAILABLE");
        api_free(r);
    }
    r = api_post(PORT, admin, "/v1/tokens", "{\"idTag\":\"irh-down\"}");
    api_expect_error(r, 503, "SERVICE_UNAVAILABLE");
    api_free(r);
    pg_ctl("start");
    if (!wait_until(NULL, tokens_answer_200, NULL, IT_WAIT_MS))
        fail_msg("GET /v1/tokens does not answer 200 again after PostgreSQL came back");
    assert_int_equal(db_int("SELECT count(*) FROM tokens WHERE id_tag = 'irh-down'"), 0);
}

/* ---------------------------------------------------------------- the database's limits */

/* The chargers' list filters with a valid value each (res_chargers.c): any subset is a new shape. */
static const char *const shape_filters[] = {
    "status=Available", "connected=true", "siteId=irh-site", "chargerIds=irh-shape",
    "registrationStatus=Accepted", "name=irh-name", "vendor=irh-v", "model=irh-m",
    "firmwareVersion=irh-fw", "securityProfile=0", "hasAuthorizationKey=false",
    "autoRegistered=false", "firmwareStatus=Idle", "diagnosticsStatus=Idle", "search=irh",
};
#define NSHAPE_FILTERS (sizeof shape_filters / sizeof shape_filters[0])

/*
 * One key asks 5,000 distinct query shapes (filter subsets; each a prepared
 * statement on the REST connection): every one is answered, and afterwards
 * an ordinary request is too. The statement cache (rest.statement_cache,
 * 256 here by default) keeps the recent ones and deallocates the rest; it
 * never turns into a permanent 503.
 */
static void test_many_query_shapes_keep_working(void **state)
{
    (void)state;
    db_add_charger("irh-shape", NULL, 0);
    struct strbuf path = STRBUF_INIT;
    for (unsigned shape = 1; shape <= 5000; shape++) {
        strbuf_reset(&path);
        strbuf_puts(&path, "/v1/chargers?perPage=1");
        for (unsigned i = 0; i < NSHAPE_FILTERS; i++)
            if (shape & (1u << i))
                strbuf_printf(&path, "&%s", shape_filters[i]);
        struct api_resp *r = api_get(PORT, admin, strbuf_str(&path));
        if (r->status != 200)
            fail_msg("shape %u of 5000: %s answered %d: %s", shape, r->what, r->status, r->body);
        api_free(r);
    }
    strbuf_free(&path);
    struct api_resp *r = api_get(PORT, admin, "/v1/chargers?chargerIds=irh-shape");
    const cJSON *data = api_data(api_expect(r, 200));
    assert_int_equal(cJSON_GetArraySize(data), 1);
    api_check_str(cJSON_GetArrayItem(data, 0), "id", "irh-shape");
    api_free(r);
    r = api_get(PORT, admin, "/v1/tokens?perPage=1");
    api_expect(r, 200);
    api_free(r);
}

static PGconn *held_lock;       /* released by lock_teardown even when the test failed */

/* A connection of the test's own holding a lock in an open transaction. */
static PGconn *lock_table(const char *table)
{
    PGconn *c = held_lock = PQconnectdb(it_env("OCPPGW_TEST_DB"));
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connecting: %s", PQerrorMessage(c));
    char sql[128];
    snprintf(sql, sizeof sql, "LOCK TABLE %s IN ACCESS EXCLUSIVE MODE", table);
    const char *const steps[] = { "BEGIN", sql };
    for (size_t i = 0; i < 2; i++) {
        PGresult *res = PQexec(c, steps[i]);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            fail_msg("%s: %s", steps[i], PQerrorMessage(c));
        PQclear(res);
    }
    return c;
}

static void unlock_table(PGconn *c)
{
    PQclear(PQexec(c, "ROLLBACK"));
    PQfinish(c);
    held_lock = NULL;
}

static int lock_teardown(void **state)
{
    if (held_lock)
        unlock_table(held_lock);
    return it_test_teardown(state);
}

/*
 * A REST query that PostgreSQL cannot answer (its table locked by another
 * session) is cancelled after rest.statement_timeout and answered 503
 * QUERY_TIMEOUT; meanwhile a charger's MeterValues are stored and
 * acknowledged (the chargers' connection has no such limit and other
 * tables). Once the lock goes, the same query answers 200.
 */
static void test_slow_query_is_503_query_timeout(void **state)
{
    (void)state;
    db_add_charger("irh-slowq", NULL, 0);
    struct gw_opts o = { .name = "it_rest_http_timeout",
                         .ini = API_UNLIMITED_INI "statement_timeout = 1\n" };
    W.gw2 = gw_start(&o);
    W.sim2 = it_sim(gw_port(W.gw2));
    struct sim_charger *c = it_connect_booted(W.sim2, "irh-slowq", NULL);

    PGconn *lock = lock_table("tokens");
    struct api_resp *r = api_get(gw_port(W.gw2), admin, "/v1/tokens?perPage=5");
    const cJSON *e = api_expect_error(r, 503, "QUERY_TIMEOUT");
    if (!js(e, "readableMessage"))
        fail_msg("QUERY_TIMEOUT without readableMessage: %s", r->body);
    api_free(r);
    /* the chargers are served meanwhile */
    assert_true(it_heartbeat_ok(c));
    char ts[40], payload[300];
    snprintf(payload, sizeof payload,
             "{\"connectorId\":1,\"meterValue\":[{\"timestamp\":\"%s\",\"sampledValue\":"
             "[{\"value\":\"4242\"}]}]}", it_iso_time(ts, 0));
    cJSON_Delete(it_ok(c, "MeterValues", payload));
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1, "SELECT count(*) FROM meter_values WHERE charger_id = 'irh-slowq'"
                            " AND value = '4242'"), 1);
    /* and the other REST queries too */
    r = api_get(gw_port(W.gw2), admin, "/v1/chargers/irh-slowq");
    api_expect(r, 200);
    api_free(r);
    unlock_table(lock);

    r = api_get(gw_port(W.gw2), admin, "/v1/tokens?perPage=5");
    api_expect(r, 200);
    api_free(r);
}

/* A failed test must not leave the database stopped. */
static int db_teardown(void **state)
{
    const char *dir = getenv("OCPPGW_TEST_PGDIR");
    if (dir) {
        const char *argv[] = { "scripts/pg.sh", "start", dir, NULL };
        struct proc_result res;
        proc_run(argv, NULL, 90000, &res);
        proc_result_free(&res);
    }
    return it_test_teardown(state);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, it_test_setup, it_test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_unknown_route_is_404),
        T(test_other_method_is_405_with_allow),
        T(test_api_version_echoed),
        T(test_deprecated_api_version_headers),
        T(test_unknown_api_version_is_400),
        T(test_request_id_echoed_or_made),
        T(test_malformed_json_is_400),
        T(test_body_not_json_media_type_is_415),
        T(test_chunked_body_is_411),
        T(test_huge_body_is_413),
        T(test_bad_percent_encoding_is_refused),
        T(test_percent_encoded_ids_are_decoded),
        T(test_idempotent_replay_same_answer_no_second_row),
        T(test_idempotency_key_reused_with_other_body_is_409),
        T(test_idempotency_key_scoped_per_api_key),
        T(test_idempotency_key_length),
        T(test_idempotency_in_progress_is_409),
        T(test_rate_limit_429),
        T(test_openapi_served_without_key),
        T(test_documented_query_parameters_accepted),
        T(test_many_query_shapes_keep_working),
        cmocka_unit_test_setup_teardown(test_slow_query_is_503_query_timeout, it_test_setup, lock_teardown),
        cmocka_unit_test_setup_teardown(test_database_down_is_503, it_test_setup, db_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
