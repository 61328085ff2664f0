/*
 * Unit tests for the REST framework without a socket or a database: the
 * request object, rest_dispatch()'s checks in order, the key cache, the
 * idempotency flow and the error mapping, driven through struct rest_io
 * with a fake transport (records the replies), a fake REST store (a queue
 * of submitted jobs the test completes by hand) and a fake clock. Also the
 * pure parts: Api-Version revisions, enum rest_err -> HTTP, the error body,
 * idempotency fingerprints and keys; and what handlers reach through the
 * request (settings, the core: a real one driven by the core fakes, and
 * none).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <cJSON.h>

#include "../../src/rest/framework.h"
#include "core_fakes.h"
#include "rest_live.h"
#include "secret.h"
#include "store_job.h"
#include "ocpp.h"
#include "util.h"

/* ------------------------------------------------------------------ fakes */

#define MAX_JOBS 16

static struct {
    /* the last reply the transport saw */
    int sent;
    int status;
    char body[4096];
    char headers[2048];             /* "Name: value\n"... */
    /* submitted jobs, in order */
    struct store_job *jobs[MAX_JOBS];
    int njobs;
    int64_t now_ms, mono_us;
    bool frozen;                    /* no time passes between requests (rate-limit test) */
    /* handler bookkeeping */
    int handler_calls;
    uint64_t parked;                /* handle of a request the handler parked on "core" */
} F;

/* The transport's side: what it writes out (rest_transport.h), then the free. */
static void fake_send(void *ctx, struct rest_request *r)
{
    (void)ctx;
    assert_int_equal(rest_request_state(r), REST_REQ_READY);
    assert_ptr_equal(rest_request_conn(r), (void *)1);
    const struct rest_reply *rp = rest_request_reply(r);
    F.sent++;
    F.status = rp->status;
    snprintf(F.body, sizeof F.body, "%s", rp->body ? rp->body : "");
    F.headers[0] = '\0';
    for (size_t i = 0; i < rp->nheaders; i++) {
        size_t at = strlen(F.headers);
        snprintf(F.headers + at, sizeof F.headers - at, "%s: %s\n", rp->headers[i].name,
                 rp->headers[i].value);
    }
    rest_request_free(r);           /* as the transport does once written */
}

static void fake_submit(void *ctx, struct store_job *job)
{
    (void)ctx;
    assert_true(F.njobs < MAX_JOBS);
    F.jobs[F.njobs++] = job;
}

static bool fake_ready(void *ctx)
{
    (void)ctx;
    return true;
}

static int64_t fake_now(void *ctx)
{
    (void)ctx;
    return F.now_ms;
}

static int64_t fake_mono(void *ctx)
{
    (void)ctx;
    return F.mono_us;
}

/* The oldest submitted job (the test completes or frees it). */
static struct store_job *take_job(void)
{
    assert_true(F.njobs > 0);
    struct store_job *j = F.jobs[0];
    memmove(F.jobs, F.jobs + 1, (size_t)(F.njobs - 1) * sizeof F.jobs[0]);
    F.njobs--;
    return j;
}

/* The oldest submitted job running statement sql (the test completes or frees it). */
static struct store_job *take_job_of(const char *sql)
{
    for (int i = 0; i < F.njobs; i++) {
        struct store_job *j = F.jobs[i];
        if (j->in.sql.sql != sql)
            continue;
        memmove(F.jobs + i, F.jobs + i + 1, (size_t)(F.njobs - i - 1) * sizeof F.jobs[0]);
        F.njobs--;
        return j;
    }
    fail_msg("no job runs that statement");
    return NULL;
}

/* Completes job with one row of values (NULL = SQL NULL) and hands it back. */
static void complete(struct store_job *job, enum store_status st, int ncols, const char *const *row)
{
    job->status = st;
    if (st == STORE_OK && ncols > 0) {
        job->out.sql.ntuples = 1;
        job->out.sql.nfields = ncols;
        job->out.sql.values = xcalloc((size_t)ncols, sizeof(char *));
        for (int i = 0; i < ncols; i++)
            job->out.sql.values[i] = row[i] ? xstrdup(row[i]) : NULL;
    }
    rest_on_store_result(job);
}

/* The database's answer to a key lookup: no live key with that hash. */
static void lookup_finds_nothing(void)
{
    assert_int_equal(F.njobs, 1);
    struct store_job *j = take_job();
    assert_ptr_equal(j->in.sql.sql, rest_auth_lookup_sql);
    assert_int_equal(strlen(j->in.sql.params[0]), 64);
    j->status = STORE_OK;
    j->out.sql.nfields = 8;
    rest_on_store_result(j);
}

static bool has_header(const char *name_value)
{
    return strstr(F.headers, name_value) != NULL;
}

static const char *error_code(void)
{
    static char code[64];
    cJSON *b = cJSON_Parse(F.body);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(b, "errorCode");
    snprintf(code, sizeof code, "%s", cJSON_IsString(c) ? c->valuestring : "");
    /* every error body has the full shape */
    if (F.status >= 400) {
        assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(b, "status")));
        assert_int_equal(cJSON_GetObjectItemCaseSensitive(b, "status")->valueint, F.status);
        assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(b, "message")));
        assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(b, "readableMessage")));
        assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(b, "context")));
    }
    cJSON_Delete(b);
    return code;
}

/* ------------------------------------------------------------------ routes */

static void h_ok(struct rest_request *r)
{
    F.handler_calls++;
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "id", rest_param(r, "id") ? rest_param(r, "id") : "");
    rest_reply_json(r, 200, b);
}

static void h_create(struct rest_request *r)
{
    F.handler_calls++;
    rest_add_header(r, "Location", "/v1/things/7");
    cJSON *b = cJSON_CreateObject();
    cJSON_AddNumberToObject(b, "id", 7);
    rest_reply_json(r, 201, b);
}

static void h_reject(struct rest_request *r)
{
    F.handler_calls++;
    rest_reply_error(r, REST_ERR_UNPROCESSABLE, "name is required", NULL);
}

/* Parks on "the charger": the test answers through the handle later. */
static void h_park(struct rest_request *r)
{
    F.handler_calls++;
    F.parked = rest_request_handle(r);
}

static int sql_done_calls;

static void sql_done(struct rest_request *r, struct store_job *job)
{
    sql_done_calls++;
    if (job->status != STORE_OK) {
        rest_reply_store_error(r, job);
        return;
    }
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "v", rest_value(job, 0, 0));
    rest_reply_json(r, 200, b);
}

static const char thing_sql[] = "SELECT $1::text";

static void h_sql(struct rest_request *r)
{
    F.handler_calls++;
    const char *p[] = { "x" };
    rest_sql(r, thing_sql, 1, p, sql_done);
}

/*
 * Everything a handler can ask of the process through its request, for
 * charger {id}: {connected, lastSeen, startable, submit (enum core_call_err),
 * found (the submitted command in memory), iterations, timeout, queue}.
 */
static void find_cb(void *user, const struct core_command_view *v)
{
    *(bool *)user = v->action == OCPP_ACTION_CLEAR_CACHE;
}

static void h_live(struct rest_request *r)
{
    F.handler_calls++;
    const char *id = rest_param(r, "id");
    char status[16] = "x";
    char cmd[CORE_CMD_ID_LEN + 1] = "";
    struct core_command_req creq = { .charger_id = id, .action = OCPP_ACTION_CLEAR_CACHE,
                                     .payload_json = "{}" };
    bool found = false;
    cJSON *b = cJSON_CreateObject();
    cJSON_AddBoolToObject(b, "connected", rest_charger_connected(r, id));
    cJSON_AddNumberToObject(b, "lastSeen", (double)rest_charger_last_seen(r, id));
    cJSON_AddBoolToObject(b, "startable", rest_connector_startable(r, id, 1, status));
    cJSON_AddStringToObject(b, "status", status);
    cJSON_AddNumberToObject(b, "submit", rest_command_submit(r, &creq, NULL, NULL, cmd));
    cJSON_AddBoolToObject(b, "found", rest_command_find(r, cmd, find_cb, &found) && found);
    cJSON_AddNumberToObject(b, "iterations", rest_settings(r)->password_iterations);
    cJSON_AddNumberToObject(b, "timeout", rest_settings(r)->call_timeout_s);
    cJSON_AddNumberToObject(b, "queue", rest_settings(r)->call_queue);
    rest_reply_json(r, 200, b);
}

static const struct rest_route routes[] = {
    { REST_GET, "/v1/live/{id}", h_live, NULL, 0 },
    { REST_GET, "/v1/things", h_ok, "things:read", 0 },
    { REST_POST, "/v1/things", h_create, "things:write", REST_JSON_BODY },
    { REST_GET, "/v1/chargers/{id}", h_ok, "chargers:read", REST_CHARGER_ID },
    { REST_GET, "/v1/sites/{id}", h_ok, "chargers:read", REST_SITE_ID },
    { REST_POST, "/v1/reject", h_reject, NULL, 0 },
    { REST_POST, "/v1/park", h_park, NULL, 0 },
    { REST_GET, "/v1/sql", h_sql, NULL, 0 },
    { REST_GET, "/v1/open", h_ok, NULL, REST_NO_AUTH },
};

/* ------------------------------------------------------------------ keys */

#define SECRET_ADMIN "ogw_admin_secret_for_tests_0000000000000000000"
#define SECRET_READ "ogw_read_secret_for_tests_00000000000000000000"
#define SECRET_CP "ogw_cp_secret_for_tests_0000000000000000000000"
#define SECRET_SITE "ogw_site_secret_for_tests_000000000000000000000"

static void add_key_sites(int64_t id, const char *secret, const char *scopes, const char *chargers,
                          const char *sites, int64_t expires_ms)
{
    struct store_apikey k;
    memset(&k, 0, sizeof k);
    k.id = id;
    snprintf(k.name, sizeof k.name, "key%lld", (long long)id);
    secret_sha256_hex(secret, strlen(secret), k.key_hash);
    k.scopes_json = (char *)scopes;
    k.charger_ids_json = (char *)chargers;
    k.site_ids_json = (char *)sites;
    k.expires_ms = expires_ms;
    rest_keys_add(NULL, &k);
}

static void add_key(int64_t id, const char *secret, const char *scopes, const char *chargers,
                    int64_t expires_ms)
{
    add_key_sites(id, secret, scopes, chargers, NULL, expires_ms);
}

/* The framework over the fakes, with that core (NULL: none) and those settings, and its keys. */
static void start(struct core *core, struct rest_settings settings)
{
    struct rest_config cfg = { .max_body = 1024, .rate_per_s = 1, .rate_burst = 3,
                               .cors_origins = "https://app.example",
                               .routes = routes, .nroutes = sizeof routes / sizeof routes[0],
                               .settings = settings };
    struct rest_io io = { .core = core, .send = fake_send, .submit = fake_submit,
                          .store_ready = fake_ready, .now_ms = fake_now, .mono_us = fake_mono };
    rest_init(&cfg, &io);
    add_key(1, SECRET_ADMIN, "[\"admin\"]", NULL, 0);
    add_key(2, SECRET_READ, "[\"things:read\", \"chargers:read\"]", NULL, 0);
    add_key(3, SECRET_CP, "[\"chargers:read\"]", "[\"CP-1\", \"CP 2\"]", 0);
}

static int setup(void **state)
{
    (void)state;
    memset(&F, 0, sizeof F);
    sql_done_calls = 0;
    F.now_ms = 1700000000000LL;
    F.mono_us = 1000000;
    start(NULL, (struct rest_settings){ 0 });
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    while (F.njobs)
        store_job_free(take_job());
    assert_int_equal(rest_request_count(), 0);
    rest_shutdown();
    return 0;
}

/* Builds and dispatches a request; headers "name: value" strings, NULL-terminated. */
static struct rest_request *req(enum rest_method m, const char *path, const char *body,
                                const char *const *headers)
{
    F.sent = 0;
    if (!F.frozen)
        F.mono_us += 1000000;       /* a second between requests: one token back */
    struct rest_request *r = rest_request_new((void *)1, m, path, strlen(path));
    for (const char *const *h = headers; h && *h; h++) {
        const char *colon = strchr(*h, ':');
        for (int i = 0; i < REST_H_COUNT; i++) {
            if (strlen(rest_hdr_name(i)) == (size_t)(colon - *h) &&
                strncasecmp(*h, rest_hdr_name(i), (size_t)(colon - *h)) == 0) {
                const char *v = colon + 1;
                while (*v == ' ')
                    v++;
                rest_request_set_header(r, i, v, strlen(v));
            }
        }
    }
    if (body)
        assert_true(rest_request_body_append(r, body, strlen(body)));
    rest_dispatch(r);
    return F.sent ? NULL : r;       /* the request if it is still waiting */
}

#define H(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* ------------------------------------------------------------------ tests */

static void test_route_errors(void **state)
{
    (void)state;
    req(REST_GET, "/v1/nothing", NULL, NULL);
    assert_int_equal(F.status, 404);
    assert_string_equal(error_code(), "RESOURCE_NOT_FOUND");
    assert_true(has_header("X-Request-Id: "));
    assert_true(has_header("Api-Version: V2026_11_21"));

    req(REST_DELETE, "/v1/things", NULL, H("x-api-key: " SECRET_ADMIN));
    assert_int_equal(F.status, 405);
    assert_string_equal(error_code(), "METHOD_NOT_ALLOWED");
    assert_true(has_header("Allow: GET, POST\n"));

    req(REST_GET, "/v1/chargers/a\x01", NULL, H("x-api-key: " SECRET_ADMIN));
    assert_int_equal(F.status, 400);
    assert_non_null(strstr(F.body, "\"id\""));

    /* 404 comes before authentication */
    req(REST_GET, "/v1/nothing", NULL, H("x-api-key: wrong"));
    assert_int_equal(F.status, 404);
}

static void test_api_version(void **state)
{
    (void)state;
    req(REST_GET, "/v1/open", NULL, H("api-version: V1999_01_01"));
    assert_int_equal(F.status, 400);
    assert_string_equal(error_code(), "BAD_REQUEST");
    assert_non_null(strstr(F.body, "Api-Version"));
    assert_true(has_header("Api-Version: V2026_11_21"));

    req(REST_GET, "/v1/open", NULL, H("api-version: V2026_01_01"));
    assert_int_equal(F.status, 200);
    assert_true(has_header("Api-Version: V2026_01_01\n"));
    assert_true(has_header("X-API-Deprecated: true\n"));
    assert_true(has_header("X-API-Sunset-Date: "));

    req(REST_GET, "/v1/open", NULL, H("api-version: V2026_11_21"));
    assert_int_equal(F.status, 200);
    assert_false(has_header("X-API-Deprecated"));

    /* the table itself */
    assert_string_equal(rest_revision_find(NULL)->name, "V2026_11_21");
    assert_ptr_equal(rest_revision_find(""), rest_revision_current());
    assert_null(rest_revision_find("v2026_11_21"));
    assert_true(rest_revision_find("V2026_01_01")->deprecated);
    assert_false(rest_revision_current()->deprecated);
}

static void test_credentials(void **state)
{
    (void)state;
    req(REST_GET, "/v1/things", NULL, NULL);
    assert_int_equal(F.status, 401);
    assert_string_equal(error_code(), "UNAUTHORIZED");
    assert_true(has_header("WWW-Authenticate: Bearer"));

    req(REST_GET, "/v1/things", NULL, H("authorization: Basic dXNlcjpwdw=="));
    assert_int_equal(F.status, 401);
    assert_string_equal(error_code(), "UNAUTHORIZED");

    /* not in the cache: the database is asked once, then memory refuses it */
    assert_non_null(req(REST_GET, "/v1/things", NULL, H("authorization: Bearer nope")));
    lookup_finds_nothing();
    assert_int_equal(F.status, 401);
    assert_string_equal(error_code(), "INVALID_ACCESS_TOKEN");
    req(REST_GET, "/v1/things", NULL, H("authorization: Bearer nope"));
    assert_int_equal(F.njobs, 0);
    assert_int_equal(F.status, 401);
    assert_string_equal(error_code(), "INVALID_ACCESS_TOKEN");

    req(REST_GET, "/v1/things", NULL, H("authorization: Bearer " SECRET_READ));
    assert_int_equal(F.status, 200);
    assert_true(has_header("X-RateLimit-Limit: 3\n"));
    assert_true(has_header("X-RateLimit-Remaining: 2\n"));

    req(REST_GET, "/v1/things", NULL, H("authorization: bearer  " SECRET_READ " "));
    assert_int_equal(F.status, 200);
    req(REST_GET, "/v1/things", NULL, H("x-api-key: " SECRET_ADMIN));
    assert_int_equal(F.status, 200);

    /* unauthenticated answers carry no rate-limit headers */
    req(REST_GET, "/v1/open", NULL, NULL);
    assert_int_equal(F.status, 200);
    assert_false(has_header("X-RateLimit"));
}

static void test_expired_and_revoked(void **state)
{
    (void)state;
    add_key(9, "ogw_expiring", "[\"admin\"]", NULL, F.now_ms + 1000);
    req(REST_GET, "/v1/things", NULL, H("x-api-key: ogw_expiring"));
    assert_int_equal(F.status, 200);
    F.now_ms += 1000;
    req(REST_GET, "/v1/things", NULL, H("x-api-key: ogw_expiring"));
    assert_int_equal(F.status, 401);
    assert_string_equal(error_code(), "INVALID_ACCESS_TOKEN");

    rest_auth_key_revoked(2);
    req(REST_GET, "/v1/things", NULL, H("x-api-key: " SECRET_READ));
    lookup_finds_nothing();                     /* revoked rows are not live */
    assert_int_equal(F.status, 401);
    assert_string_equal(error_code(), "INVALID_ACCESS_TOKEN");

    /* a NOTIFY'd "gone" row does the same */
    struct store_job *j = store_job_new(STORE_OP_APIKEY_CHANGED);
    j->out.apikey.id = 1;
    j->out.apikey.deleted = true;
    rest_on_store_result(j);
    req(REST_GET, "/v1/things", NULL, H("x-api-key: " SECRET_ADMIN));
    lookup_finds_nothing();
    assert_int_equal(F.status, 401);
    assert_int_equal(rest_auth_count(), 2);   /* 3 and 9 */
}

static void test_key_created_and_reload(void **state)
{
    (void)state;
    char hash[65];
    secret_sha256_hex("ogw_new", 7, hash);
    cJSON *scopes = cJSON_Parse("[\"things:read\"]");
    rest_auth_key_created(20, "new", hash, scopes, NULL, NULL, 0);
    cJSON_Delete(scopes);
    req(REST_GET, "/v1/things", NULL, H("x-api-key: ogw_new"));
    assert_int_equal(F.status, 200);

    /* a full reload that does not have key 20 and 2 drops them */
    rest_auth_reload_begin();
    add_key(1, SECRET_ADMIN, "[\"admin\"]", NULL, 0);
    add_key(3, SECRET_CP, "[\"chargers:read\"]", "[\"CP-1\"]", 0);
    rest_auth_reload_end();
    assert_int_equal(rest_auth_count(), 2);
    req(REST_GET, "/v1/things", NULL, H("x-api-key: ogw_new"));
    lookup_finds_nothing();
    assert_int_equal(F.status, 401);
    req(REST_GET, "/v1/things", NULL, H("x-api-key: " SECRET_READ));
    lookup_finds_nothing();
    assert_int_equal(F.status, 401);
    req(REST_GET, "/v1/things", NULL, H("x-api-key: " SECRET_ADMIN));
    assert_int_equal(F.status, 200);
}

static void test_unknown_key_found_in_database(void **state)
{
    (void)state;
    /* made by another process a moment ago: its NOTIFY has not arrived */
    char hash[65];
    secret_sha256_hex("ogw_fresh", 9, hash);
    assert_non_null(req(REST_GET, "/v1/things", NULL, H("x-api-key: ogw_fresh")));
    assert_int_equal(F.njobs, 1);
    struct store_job *j = take_job();
    assert_string_equal(j->in.sql.params[0], hash);
    complete(j, STORE_OK, 8,
             (const char *const[]){ "30", "fresh", hash, "[\"things:read\"]", NULL, NULL, NULL, "f" });
    assert_int_equal(F.status, 200);
    assert_int_equal(rest_auth_count(), 4);
    req(REST_GET, "/v1/things", NULL, H("x-api-key: ogw_fresh"));   /* now from memory */
    assert_int_equal(F.njobs, 0);
    assert_int_equal(F.status, 200);

    /* the database down while asking: 503, not a verdict on the key */
    assert_non_null(req(REST_GET, "/v1/things", NULL, H("x-api-key: ogw_other")));
    complete(take_job(), STORE_ERR_UNAVAILABLE, 0, NULL);
    assert_int_equal(F.status, 503);

    /* a known hash made later is no longer refused from memory */
    req(REST_GET, "/v1/things", NULL, H("x-api-key: ogw_later"));
    lookup_finds_nothing();
    assert_int_equal(F.status, 401);
    add_key(31, "ogw_later", "[\"things:read\"]", NULL, 0);
    req(REST_GET, "/v1/things", NULL, H("x-api-key: ogw_later"));
    assert_int_equal(F.status, 200);

    /* lookups are bounded: a flood of unknown keys stops asking the database */
    F.frozen = true;
    int asked = 0;
    for (int i = 0; i < 300; i++) {
        char hdr[64];
        snprintf(hdr, sizeof hdr, "x-api-key: ogw_flood_%d", i);
        struct rest_request *r = req(REST_GET, "/v1/things", NULL, H(hdr));
        if (r) {
            asked++;
            lookup_finds_nothing();
        }
        assert_int_equal(F.status, 401);
    }
    assert_in_range(asked, 90, 110);
}

static void test_rate_limit(void **state)
{
    (void)state;
    F.frozen = true;
    for (int i = 0; i < 3; i++) {
        req(REST_GET, "/v1/things", NULL, H("x-api-key: " SECRET_READ));
        assert_int_equal(F.status, 200);
    }
    req(REST_GET, "/v1/things", NULL, H("x-api-key: " SECRET_READ));
    assert_int_equal(F.status, 429);
    assert_string_equal(error_code(), "RATE_LIMITED");
    assert_true(has_header("Retry-After: 1\n"));
    assert_true(has_header("X-RateLimit-Remaining: 0\n"));
    /* another key has its own bucket */
    req(REST_GET, "/v1/things", NULL, H("x-api-key: " SECRET_ADMIN));
    assert_int_equal(F.status, 200);
    F.mono_us += 1000000;
    req(REST_GET, "/v1/things", NULL, H("x-api-key: " SECRET_READ));
    assert_int_equal(F.status, 200);
}

static void test_scope_and_charger(void **state)
{
    (void)state;
    req(REST_POST, "/v1/things", "{}", H("x-api-key: " SECRET_READ));
    assert_int_equal(F.status, 403);
    assert_string_equal(error_code(), "ACCESS_FORBIDDEN");
    assert_non_null(strstr(F.body, "things:write"));

    req(REST_GET, "/v1/chargers/CP-1", NULL, H("x-api-key: " SECRET_CP));
    assert_int_equal(F.status, 200);
    req(REST_GET, "/v1/chargers/CP 2", NULL, H("x-api-key: " SECRET_CP));
    assert_int_equal(F.status, 200);
    req(REST_GET, "/v1/chargers/CP-3", NULL, H("x-api-key: " SECRET_CP));
    assert_int_equal(F.status, 403);
    assert_non_null(strstr(F.body, "CP-3"));
    /* admin passes every scope, an unrestricted key every charger */
    req(REST_GET, "/v1/chargers/CP-3", NULL, H("x-api-key: " SECRET_ADMIN));
    assert_int_equal(F.status, 200);

    /* a site route: the sites a key lists, none for a key limited to chargers, all for an unrestricted one */
    add_key_sites(9, SECRET_SITE, "[\"chargers:read\"]", NULL, "[\"S-1\"]", 0);
    static const struct { const char *path, *key_header; int status; } sites[] = {
        { "/v1/sites/S-1", "x-api-key: " SECRET_SITE, 200 },
        { "/v1/sites/S-2", "x-api-key: " SECRET_SITE, 403 },
        { "/v1/sites/S-1", "x-api-key: " SECRET_CP, 403 },
        { "/v1/sites/S-2", "x-api-key: " SECRET_READ, 200 },
    };
    for (size_t i = 0; i < sizeof sites / sizeof sites[0]; i++) {
        req(REST_GET, sites[i].path, NULL, H(sites[i].key_header));
        if (F.status != sites[i].status)
            fail_msg("GET %s with %s: %d, want %d", sites[i].path, sites[i].key_header, F.status, sites[i].status);
        if (F.status == 403 && (strcmp(error_code(), "ACCESS_FORBIDDEN") != 0 || !strstr(F.body, "\"siteId\":")))
            fail_msg("GET %s: %s", sites[i].path, F.body);
    }
}

static void test_body_checks(void **state)
{
    (void)state;
    req(REST_POST, "/v1/things", "{\"a\":", H("x-api-key: " SECRET_ADMIN));
    assert_int_equal(F.status, 400);
    assert_string_equal(error_code(), "BAD_REQUEST");
    req(REST_POST, "/v1/things", NULL, H("x-api-key: " SECRET_ADMIN));
    assert_int_equal(F.status, 400);
    req(REST_POST, "/v1/things", "[1,2]", H("x-api-key: " SECRET_ADMIN));
    assert_int_equal(F.status, 422);
    assert_string_equal(error_code(), "UNPROCESSABLE_ENTITY");
    req(REST_POST, "/v1/things", "a=b", H("x-api-key: " SECRET_ADMIN,
                                          "content-type: application/x-www-form-urlencoded"));
    assert_int_equal(F.status, 415);
    assert_string_equal(error_code(), "UNSUPPORTED_MEDIA_TYPE");
    req(REST_POST, "/v1/things", "{}", H("x-api-key: " SECRET_ADMIN,
                                         "content-type: Application/JSON; charset=utf-8"));
    assert_int_equal(F.status, 201);
    assert_true(has_header("Location: /v1/things/7"));
    req(REST_POST, "/v1/things", "{}", H("x-api-key: " SECRET_ADMIN,
                                         "content-type: application/merge-patch+json"));
    assert_int_equal(F.status, 201);

    /* the limit */
    struct rest_request *r = rest_request_new((void *)1, REST_POST, "/v1/things", 10);
    char chunk[600];
    memset(chunk, ' ', sizeof chunk);
    assert_true(rest_request_body_append(r, chunk, sizeof chunk));
    assert_false(rest_request_body_append(r, chunk, sizeof chunk));
    rest_request_free(r);
}

static void test_sql_park_and_complete(void **state)
{
    (void)state;
    struct rest_request *r = req(REST_GET, "/v1/sql", NULL, H("x-api-key: " SECRET_ADMIN));
    assert_non_null(r);
    assert_int_equal(F.njobs, 1);
    assert_int_equal(F.jobs[0]->op, STORE_OP_SQL);
    assert_ptr_equal(F.jobs[0]->in.sql.sql, thing_sql);
    assert_string_equal(F.jobs[0]->in.sql.params[0], "x");
    complete(take_job(), STORE_OK, 1, (const char *const[]){ "hello" });
    assert_int_equal(F.sent, 1);
    assert_int_equal(F.status, 200);
    assert_string_equal(F.body, "{\"v\":\"hello\"}");

    /* database down: 503 */
    req(REST_GET, "/v1/sql", NULL, H("x-api-key: " SECRET_ADMIN));
    complete(take_job(), STORE_ERR_UNAVAILABLE, 0, NULL);
    assert_int_equal(F.status, 503);
    assert_string_equal(error_code(), "SERVICE_UNAVAILABLE");
}

static void test_client_gone_drops_completion(void **state)
{
    (void)state;
    struct rest_request *r = req(REST_GET, "/v1/sql", NULL, H("x-api-key: " SECRET_ADMIN));
    assert_non_null(r);
    uint64_t handle = rest_request_handle(r);
    rest_request_gone(r);           /* CLOSED_HTTP */
    assert_int_equal(rest_request_count(), 0);
    assert_null(rest_request_lookup(handle));
    complete(take_job(), STORE_OK, 1, (const char *const[]){ "late" });
    assert_int_equal(sql_done_calls, 0);
    assert_int_equal(F.sent, 0);

    /* a handler parked on something else finds nothing either */
    r = req(REST_POST, "/v1/park", NULL, H("x-api-key: " SECRET_ADMIN));
    assert_non_null(r);
    assert_ptr_equal(rest_request_lookup(F.parked), r);
    rest_request_gone(r);
    assert_null(rest_request_lookup(F.parked));
}

static void test_reply_twice_and_lookup_after_reply(void **state)
{
    (void)state;
    struct rest_request *r = req(REST_POST, "/v1/park", NULL, H("x-api-key: " SECRET_ADMIN));
    assert_non_null(r);
    struct rest_request *found = rest_request_lookup(F.parked);
    assert_ptr_equal(found, r);
    rest_reply_json(found, 204, cJSON_CreateObject());     /* 204 never carries a body */
    assert_int_equal(F.sent, 1);
    assert_int_equal(F.status, 204);
    assert_string_equal(F.body, "");
    assert_null(rest_request_lookup(F.parked));
}

/* ---- idempotency ---- */

#define IDEM(k) "x-api-key: " SECRET_ADMIN, "idempotency-key: " k

static void test_idem_claim_record_replay(void **state)
{
    (void)state;
    struct rest_request *r = req(REST_POST, "/v1/things", "{\"n\":1}", H(IDEM("k1")));
    assert_non_null(r);
    assert_int_equal(F.handler_calls, 0);       /* nothing acts before the claim */
    assert_int_equal(F.njobs, 1);
    struct store_job *claim = take_job();
    assert_int_equal(claim->op, STORE_OP_SQL);
    assert_int_equal(claim->in.sql.nparams, 4);
    assert_string_equal(claim->in.sql.params[0], "1");
    assert_string_equal(claim->in.sql.params[1], "k1");
    assert_int_equal(strlen(claim->in.sql.params[2]), 64);
    complete(claim, STORE_OK, 4, (const char *const[]){ "claimed", NULL, NULL, NULL });
    assert_int_equal(F.handler_calls, 1);
    /* replied, but not sent before the reply is stored */
    assert_int_equal(F.sent, 0);
    assert_int_equal(F.njobs, 1);
    struct store_job *rec = take_job();
    assert_int_equal(rec->op, STORE_OP_SQL);
    assert_int_equal(rec->in.sql.nparams, 5);
    assert_string_equal(rec->in.sql.params[2], "201");
    assert_string_equal(rec->in.sql.params[3], "{\"id\":7}");
    assert_string_equal(rec->in.sql.params[4], "{\"Location\":\"/v1/things/7\"}");
    complete(rec, STORE_OK, 0, NULL);
    assert_int_equal(F.sent, 1);
    assert_int_equal(F.status, 201);

    /* the same key again: the stored answer, without acting */
    req(REST_POST, "/v1/things", "{\"n\":1}", H(IDEM("k1")));
    complete(take_job(), STORE_OK, 4,
             (const char *const[]){ "done", "201", "{\"id\":7}", "{\"Location\": \"/v1/things/7\"}" });
    assert_int_equal(F.handler_calls, 1);
    assert_int_equal(F.status, 201);
    assert_string_equal(F.body, "{\"id\":7}");
    assert_true(has_header("Location: /v1/things/7\n"));
    assert_true(has_header("Idempotent-Replayed: true\n"));
    assert_int_equal(F.njobs, 0);
}

static void test_idem_conflicts(void **state)
{
    (void)state;
    req(REST_POST, "/v1/things", "{\"n\":1}", H(IDEM("k2")));
    complete(take_job(), STORE_OK, 4, (const char *const[]){ "in_progress", NULL, NULL, NULL });
    assert_int_equal(F.status, 409);
    assert_string_equal(error_code(), "IDEMPOTENCY_KEY_REUSED");
    assert_non_null(strstr(F.body, "in progress"));

    req(REST_POST, "/v1/things", "{\"n\":2}", H(IDEM("k2")));
    complete(take_job(), STORE_OK, 4, (const char *const[]){ "mismatch", NULL, NULL, NULL });
    assert_int_equal(F.status, 409);
    assert_string_equal(error_code(), "IDEMPOTENCY_KEY_REUSED");
    assert_non_null(strstr(F.body, "different request"));

    /* a claim lost to a concurrent insert reads no row: still never a second action */
    req(REST_POST, "/v1/things", "{\"n\":1}", H(IDEM("k2")));
    complete(take_job(), STORE_OK, 0, NULL);
    assert_int_equal(F.status, 409);
    assert_int_equal(F.handler_calls, 0);

    /* the database down: 503, nothing done */
    req(REST_POST, "/v1/things", "{\"n\":1}", H(IDEM("k2")));
    complete(take_job(), STORE_ERR_UNAVAILABLE, 0, NULL);
    assert_int_equal(F.status, 503);
    assert_int_equal(F.handler_calls, 0);

    /* bad keys */
    req(REST_POST, "/v1/things", "{}", H(IDEM("has space")));
    assert_int_equal(F.status, 400);
    char long_key[300] = "idempotency-key: ";
    memset(long_key + 17, 'k', 256);
    req(REST_POST, "/v1/things", "{}", H("x-api-key: " SECRET_ADMIN, long_key));
    assert_int_equal(F.status, 400);
    assert_int_equal(F.njobs, 0);
}

static void test_idem_failure_releases(void **state)
{
    (void)state;
    req(REST_POST, "/v1/reject", NULL, H(IDEM("k3")));
    complete(take_job(), STORE_OK, 4, (const char *const[]){ "claimed", NULL, NULL, NULL });
    /* a 422 about the request: sent at once, the claim released behind */
    assert_int_equal(F.sent, 1);
    assert_int_equal(F.status, 422);
    assert_int_equal(F.njobs, 1);
    struct store_job *rel = take_job();
    assert_int_equal(rel->op, STORE_OP_SQL_BEHIND);
    assert_non_null(strstr(rel->in.sql.sql, "DELETE"));
    assert_string_equal(rel->in.sql.params[1], "k3");
    store_job_free(rel);
}

static void test_idem_client_gone(void **state)
{
    (void)state;
    /* gone while the claim is out: claimed -> released, handler never runs */
    struct rest_request *r = req(REST_POST, "/v1/things", "{}", H(IDEM("k4")));
    rest_request_gone(r);
    assert_int_equal(rest_request_count(), 1);      /* kept for its claim */
    complete(take_job(), STORE_OK, 4, (const char *const[]){ "claimed", NULL, NULL, NULL });
    assert_int_equal(F.handler_calls, 0);
    assert_int_equal(rest_request_count(), 0);
    struct store_job *rel = take_job();
    assert_non_null(strstr(rel->in.sql.sql, "DELETE"));
    store_job_free(rel);

    /* gone while the handler acts: its answer is still recorded */
    r = req(REST_POST, "/v1/park", NULL, H(IDEM("k5")));
    complete(take_job(), STORE_OK, 4, (const char *const[]){ "claimed", NULL, NULL, NULL });
    assert_int_equal(F.handler_calls, 1);
    rest_request_gone(r);
    struct rest_request *again = rest_request_lookup(F.parked);
    assert_ptr_equal(again, r);
    rest_reply_json(again, 200, cJSON_CreateObject());
    struct store_job *rec = take_job();
    assert_string_equal(rec->in.sql.params[2], "200");
    complete(rec, STORE_OK, 0, NULL);
    assert_int_equal(F.sent, 0);                    /* nobody to send it to */
    assert_int_equal(rest_request_count(), 0);
}

static void test_idem_not_for_get_or_without_key(void **state)
{
    (void)state;
    req(REST_GET, "/v1/things", NULL, H(IDEM("k6")));
    assert_int_equal(F.status, 200);
    assert_int_equal(F.njobs, 0);
}

static void test_options_and_cors(void **state)
{
    (void)state;
    req(REST_OPTIONS, "/v1/things", NULL, NULL);
    assert_int_equal(F.status, 204);
    assert_true(has_header("Allow: GET, POST, OPTIONS\n"));
    assert_false(has_header("Access-Control-Allow-Origin"));

    req(REST_OPTIONS, "/v1/things", NULL,
        H("origin: https://app.example", "access-control-request-method: POST"));
    assert_int_equal(F.status, 204);
    assert_true(has_header("Access-Control-Allow-Origin: https://app.example\n"));
    assert_true(has_header("Access-Control-Allow-Methods: GET, POST, OPTIONS\n"));
    assert_true(has_header("Access-Control-Allow-Headers: "));

    req(REST_OPTIONS, "/v1/things", NULL,
        H("origin: https://evil.example", "access-control-request-method: POST"));
    assert_int_equal(F.status, 403);

    req(REST_OPTIONS, "/v1/none", NULL, NULL);
    assert_int_equal(F.status, 404);

    req(REST_GET, "/v1/things", NULL, H("x-api-key: " SECRET_ADMIN, "origin: https://app.example"));
    assert_int_equal(F.status, 200);
    assert_true(has_header("Access-Control-Allow-Origin: https://app.example\n"));
    assert_true(has_header("Access-Control-Expose-Headers: "));
    req(REST_GET, "/v1/things", NULL, H("x-api-key: " SECRET_ADMIN, "origin: https://evil.example"));
    assert_false(has_header("Access-Control-Allow-Origin"));
}

static void test_request_id(void **state)
{
    (void)state;
    req(REST_GET, "/v1/open", NULL, H("x-request-id: abc-123"));
    assert_true(has_header("X-Request-Id: abc-123\n"));
    req(REST_GET, "/v1/open", NULL, H("x-request-id: bad value with spaces"));
    assert_false(has_header("X-Request-Id: bad"));
    assert_true(has_header("X-Request-Id: "));
}

static void test_write_behind_last_used(void **state)
{
    (void)state;
    req(REST_GET, "/v1/things", NULL, H("x-api-key: " SECRET_READ));
    rest_tick();
    assert_int_equal(F.njobs, 3);   /* the first tick also reloads the keys and cleans up */
    struct store_job *j = take_job_of(rest_auth_used_sql);
    assert_int_equal(j->op, STORE_OP_SQL_BEHIND);
    assert_string_equal(j->in.sql.params[0], "{2}");
    assert_string_equal(j->in.sql.params[1], "{1700000000000}");
    store_job_free(j);
    while (F.njobs)
        store_job_free(take_job());
    F.now_ms += 1000;
    rest_tick();                                /* nothing new */
    assert_int_equal(F.njobs, 0);
}

static void test_audit(void **state)
{
    (void)state;
    struct rest_request *r = req(REST_POST, "/v1/park", NULL, H("x-api-key: " SECRET_ADMIN,
                                                                "x-request-id: rq-9"));
    rest_audit(r, "thing.park", "7", "{\"a\":1}", "ok");
    rest_audit(r, "thing.park", "7", "not json", "ok");
    struct store_job *j = take_job();
    assert_int_equal(j->op, STORE_OP_SQL_BEHIND);
    assert_string_equal(j->in.sql.params[0], "apikey:1");
    assert_string_equal(j->in.sql.params[3], "{\"a\":1}");
    assert_string_equal(j->in.sql.params[5], "rq-9");
    store_job_free(j);
    j = take_job();
    assert_string_equal(j->in.sql.params[3], "\"not json\"");
    store_job_free(j);
    rest_reply_json(r, 204, NULL);
}

/* ---- pure parts ---- */

/* Accept: the most specific matching range's q (a receipt picks HTML or JSON by it). */
static void test_accept_quality(void **state)
{
    (void)state;
    assert_true(rest_accept_q(NULL, "text/html") == 1);
    assert_true(rest_accept_q("  ", "application/json") == 1);
    assert_true(rest_accept_q("application/json", "text/html") == 0);
    assert_true(rest_accept_q("application/json", "application/json") == 1);
    const char *browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    assert_true(rest_accept_q(browser, "text/html") == 1);
    assert_true(rest_accept_q(browser, "application/json") == 0.8);
    assert_true(rest_accept_q("text/*;q=0.5, TEXT/HTML ; q=0.2", "text/html") == 0.2);
    assert_true(rest_accept_q("text/*;q=0.5", "text/html") == 0.5);
    assert_true(rest_accept_q("*/*", "text/html") == 1);
    assert_true(rest_accept_q("text/html;level=1;q=0", "text/html") == 0);
    assert_true(rest_accept_q("text/htmlx, image/png", "text/html") == 0);
    assert_true(rest_accept_q("text/html;q=7", "text/html") == 1);
}

static void test_error_mapping(void **state)
{
    (void)state;
    static const struct { enum rest_err e; int status; const char *code; } want[] = {
        { REST_ERR_BAD_REQUEST, 400, "BAD_REQUEST" },
        { REST_ERR_UNAUTHORIZED, 401, "UNAUTHORIZED" },
        { REST_ERR_INVALID_ACCESS_TOKEN, 401, "INVALID_ACCESS_TOKEN" },
        { REST_ERR_FORBIDDEN, 403, "ACCESS_FORBIDDEN" },
        { REST_ERR_NOT_FOUND, 404, "RESOURCE_NOT_FOUND" },
        { REST_ERR_METHOD_NOT_ALLOWED, 405, "METHOD_NOT_ALLOWED" },
        { REST_ERR_CHARGER_OFFLINE, 409, "CHARGING_CHARGEPOINT_OFFLINE" },
        { REST_ERR_CHARGER_NOT_AVAILABLE, 409, "CHARGING_CHARGEPOINT_NOT_AVAILABLE" },
        { REST_ERR_IDEMPOTENCY_KEY_REUSED, 409, "IDEMPOTENCY_KEY_REUSED" },
        { REST_ERR_CONFLICT, 409, "CONFLICT" },
        { REST_ERR_RESOURCE_IN_USE, 409, "RESOURCE_IN_USE" },
        { REST_ERR_RECEIPT_NOT_AVAILABLE, 409, "RECEIPT_NOT_AVAILABLE" },
        { REST_ERR_LENGTH_REQUIRED, 411, "LENGTH_REQUIRED" },
        { REST_ERR_PAYLOAD_TOO_LARGE, 413, "PAYLOAD_TOO_LARGE" },
        { REST_ERR_UNSUPPORTED_MEDIA_TYPE, 415, "UNSUPPORTED_MEDIA_TYPE" },
        { REST_ERR_UNPROCESSABLE, 422, "UNPROCESSABLE_ENTITY" },
        { REST_ERR_FAILED_TO_START, 422, "CHARGING_FAILED_TO_START" },
        { REST_ERR_FAILED_TO_STOP, 422, "CHARGING_FAILED_TO_STOP" },
        { REST_ERR_PROFILE_NOT_UPGRADE, 409, "SECURITY_PROFILE_NOT_UPGRADE" },
        { REST_ERR_PROFILE_PREREQUISITE, 409, "SECURITY_PROFILE_PREREQUISITE" },
        { REST_ERR_PROFILE_REJECTED, 422, "SECURITY_PROFILE_REJECTED" },
        { REST_ERR_RATE_LIMITED, 429, "RATE_LIMITED" },
        { REST_ERR_INTERNAL, 500, "INTERNAL_SERVER_ERROR" },
        { REST_ERR_BAD_GATEWAY, 502, "BAD_GATEWAY" },
        { REST_ERR_UNAVAILABLE, 503, "SERVICE_UNAVAILABLE" },
        { REST_ERR_CHARGER_TIMEOUT, 504, "CHARGER_TIMEOUT" },
        { REST_ERR_QUERY_TIMEOUT, 503, "QUERY_TIMEOUT" },
        { REST_ERR_SHUTTING_DOWN, 503, "SERVICE_UNAVAILABLE" },
        { REST_ERR_CUT_BY_SHUTDOWN, 502, "BAD_GATEWAY" },
        { REST_ERR_CUT_BY_DISCONNECT, 502, "BAD_GATEWAY" },
    };
    assert_int_equal(sizeof want / sizeof want[0], REST_ERR_COUNT);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal(rest_err_status(want[i].e), want[i].status);
        assert_string_equal(rest_err_code(want[i].e), want[i].code);
        assert_true(strlen(rest_err_readable(want[i].e)) > 5);
    }
    assert_int_equal(rest_err_status(REST_ERR_COUNT), 500);
    assert_int_equal(rest_err_status((enum rest_err)-1), 500);

    cJSON *ctx = cJSON_CreateObject();
    cJSON_AddStringToObject(ctx, "chargerId", "CP-9");
    cJSON *b = rest_error_body(REST_ERR_NOT_FOUND, "charger 'CP-9' not found", ctx);
    char *text = cJSON_PrintUnformatted(b);
    assert_string_equal(text, "{\"status\":404,\"message\":\"charger 'CP-9' not found\","
                              "\"readableMessage\":\"The resource was not found.\","
                              "\"errorCode\":\"RESOURCE_NOT_FOUND\",\"context\":{\"chargerId\":\"CP-9\"}}");
    cJSON_free(text);
    cJSON_Delete(b);
    b = rest_error_body(REST_ERR_INTERNAL, NULL, cJSON_CreateArray());
    assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(b, "context")));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(b, "message")->valuestring,
                        rest_err_readable(REST_ERR_INTERNAL));
    cJSON_Delete(b);
}

static void test_fingerprint(void **state)
{
    (void)state;
    char a[65], b[65];
    rest_idem_fingerprint("POST", "/v1/tokens", "", "{\"idTag\":\"A\"}", 13, a);
    assert_int_equal(strlen(a), 64);
    assert_int_equal(strspn(a, "0123456789abcdef"), 64);
    rest_idem_fingerprint("POST", "/v1/tokens", NULL, "{\"idTag\":\"A\"}", 13, b);
    assert_string_equal(a, b);
    rest_idem_fingerprint("POST", "/v1/tokens", "", "{\"idTag\":\"B\"}", 13, b);
    assert_string_not_equal(a, b);
    rest_idem_fingerprint("POST", "/v1/tokens2", "", "{\"idTag\":\"A\"}", 13, b);
    assert_string_not_equal(a, b);
    rest_idem_fingerprint("PATCH", "/v1/tokens", "", "{\"idTag\":\"A\"}", 13, b);
    assert_string_not_equal(a, b);
    rest_idem_fingerprint("POST", "/v1/tokens", "x=1", "{\"idTag\":\"A\"}", 13, b);
    assert_string_not_equal(a, b);
    /* fields do not run into each other */
    rest_idem_fingerprint("POST", "/v1/a", "b", NULL, 0, a);
    rest_idem_fingerprint("POST", "/v1/ab", "", NULL, 0, b);
    assert_string_not_equal(a, b);
    /* known value: SHA-256 of "POST\0/\0\0" */
    rest_idem_fingerprint("POST", "/", "", NULL, 0, a);
    char want[65];
    secret_sha256_hex("POST\0/\0", 8, want);
    assert_string_equal(a, want);
}

static void test_idem_key_valid(void **state)
{
    (void)state;
    assert_true(rest_idem_key_valid("a"));
    assert_true(rest_idem_key_valid("7f0c9a3e-5e1b-4d2c-9f6a-0b1c2d3e4f50"));
    assert_false(rest_idem_key_valid(""));
    assert_false(rest_idem_key_valid("with space"));
    assert_false(rest_idem_key_valid("caf\xc3\xa9"));
    char k[300];
    memset(k, 'x', 255);
    k[255] = '\0';
    assert_true(rest_idem_key_valid(k));
    k[255] = 'x';
    k[256] = '\0';
    assert_false(rest_idem_key_valid(k));
}

/* The body of the last reply, parsed (caller frees). */
static cJSON *reply_body(void)
{
    cJSON *b = cJSON_Parse(F.body);
    assert_non_null(b);
    return b;
}

static double field_num(const cJSON *b, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, name);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static bool field_bool(const cJSON *b, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, name);
    assert_true(cJSON_IsBool(v));
    return cJSON_IsTrue(v);
}

/* Without a core (setup's framework), handlers get rest_live.h's documented answers. */
static void test_live_without_core(void **state)
{
    (void)state;
    req(REST_GET, "/v1/live/CP-1", NULL, H("x-api-key: " SECRET_ADMIN));
    assert_int_equal(F.status, 200);
    cJSON *b = reply_body();
    assert_false(field_bool(b, "connected"));
    assert_true(field_num(b, "lastSeen") == 0);
    assert_true(field_bool(b, "startable"));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(b, "status")->valuestring, "");
    assert_true(field_num(b, "submit") == CORE_CALL_ERR_OFFLINE);
    assert_false(field_bool(b, "found"));
    /* settings: the defaults rest_init applies */
    assert_true(field_num(b, "iterations") == SECRET_DEFAULT_ITERATIONS);
    assert_true(field_num(b, "timeout") == 0);
    assert_true(field_num(b, "queue") == 0);
    cJSON_Delete(b);
}

/* With a core, handlers reach it (and the settings) through the request. */
static void test_live_with_core(void **state)
{
    (void)state;
    struct core_fake fake;
    core_fake_init(&fake, 1700000123000LL);
    struct core_io cio = core_fake_io(&fake);
    struct core_config ccfg;
    core_config_defaults(&ccfg);
    struct core *core = core_new(&cio, &ccfg);
    struct store_charger row = { 0 };
    str_copy(row.id, sizeof row.id, "CP-1");
    str_copy(row.registration, sizeof row.registration, "Accepted");
    core_charger_upsert(core, &row);
    const struct core_peer tcp = { false, NULL };
    assert_int_equal(core_admit(core, "CP-1", "10.0.0.1", NULL, NULL, &tcp), CORE_ADMIT_OK);
    assert_true(core_conn_open(core, "CP-1", "10.0.0.1") != 0);

    rest_shutdown();
    start(core, (struct rest_settings){ .password_iterations = 1234, .call_timeout_s = 30,
                                        .call_queue = 5 });
    req(REST_GET, "/v1/live/CP-1", NULL, H("x-api-key: " SECRET_ADMIN));
    assert_int_equal(F.status, 200);
    cJSON *b = reply_body();
    assert_true(field_bool(b, "connected"));
    assert_true(field_num(b, "lastSeen") == 1700000123000.0);
    assert_true(field_bool(b, "startable"));
    assert_true(field_num(b, "submit") == CORE_CALL_OK);
    assert_true(field_bool(b, "found"));
    assert_true(field_num(b, "iterations") == 1234);
    assert_true(field_num(b, "timeout") == 30);
    assert_true(field_num(b, "queue") == 5);
    cJSON_Delete(b);
    assert_int_equal(fake.n_calls, 1);              /* the command went to the charger */
    assert_int_equal(fake.calls[0].action, OCPP_ACTION_CLEAR_CACHE);

    /* a charger the core does not know: its answer, not the absent core's */
    req(REST_GET, "/v1/live/CP-9", NULL, H("x-api-key: " SECRET_ADMIN));
    b = reply_body();
    assert_false(field_bool(b, "connected"));
    assert_true(field_num(b, "submit") == CORE_CALL_ERR_UNKNOWN_CHARGER);
    cJSON_Delete(b);

    rest_shutdown();
    core_free(core);
    core_fake_fini(&fake);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    ocpp_json_init();
    const struct CMUnitTest tests[] = {
        T(test_route_errors),
        T(test_api_version),
        T(test_credentials),
        T(test_expired_and_revoked),
        T(test_key_created_and_reload),
        T(test_unknown_key_found_in_database),
        T(test_rate_limit),
        T(test_scope_and_charger),
        T(test_body_checks),
        T(test_sql_park_and_complete),
        T(test_client_gone_drops_completion),
        T(test_reply_twice_and_lookup_after_reply),
        T(test_idem_claim_record_replay),
        T(test_idem_conflicts),
        T(test_idem_failure_releases),
        T(test_idem_client_gone),
        T(test_idem_not_for_get_or_without_key),
        T(test_options_and_cors),
        T(test_request_id),
        T(test_write_behind_last_used),
        T(test_audit),
        T(test_live_without_core),
        T(test_live_with_core),
        cmocka_unit_test(test_accept_quality),
        cmocka_unit_test(test_error_mapping),
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_idem_key_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
