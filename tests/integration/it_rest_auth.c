/*
 * Integration: who may call what. Credentials (none: 401 UNAUTHORIZED;
 * unknown, revoked or expired: 401 INVALID_ACCESS_TOKEN; Bearer and
 * x-api-key alike), every route's scope (a key without it gets 403, a key
 * with just it gets through), a key limited to one charger seeing nothing
 * of another (by id, list, filter, chargerIds[], session by id, meter
 * values, status history, writes), revocation effective at the next request
 * (via REST and via the CLI from another process), the api-keys resource
 * (secret shown once, stored hashed, never listed) and the audit log.
 *
 * Charger ids, idTags and key names start with "ira-". Session transaction
 * ids are 7100xxxx.
 */
#include "it.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calls.h"
#include "db.h"
#include "fixture.h"
#include "gw.h"
#include "support/rest.h"

#define PORT gw_port(W.gw)

static char *admin;
static char session_a[32], session_b[32];      /* session ids of chargers ira-A and ira-B */

/* A session row as the gateway stores it; returns its id into out (>= 32 bytes). */
static void add_session(const char *charger, const char *tag, const char *tx, bool completed, char *out)
{
    char *id = db_str(completed
                      ? "INSERT INTO sessions (transaction_id, charger_id, connector_id, id_tag, auth_status, status,"
                        " start_time, end_time, meter_start, meter_stop, energy_wh)"
                        " VALUES ($1::int, $2, 1, $3, 'Accepted', 'completed', now() - interval '2 hours',"
                        " now() - interval '1 hour', 1000, 5000, 4000) RETURNING id"
                      : "INSERT INTO sessions (transaction_id, charger_id, connector_id, id_tag, auth_status,"
                        " start_time, meter_start) VALUES ($1::int, $2, 1, $3, 'Accepted', now(), 1000) RETURNING id",
                      tx, charger, tag);
    snprintf(out, 32, "%s", id);
    free(id);
}

static void add_meter_value(const char *charger, const char *session, const char *tx)
{
    db_exec("INSERT INTO meter_values (message_id, charger_id, connector_id, transaction_id, session_id, ts,"
            " value, measurand, unit, context, format, location)"
            " VALUES (0, $1, 1, $3::int, $2::bigint, now(), '1234', 'Energy.Active.Import.Register', 'Wh',"
            " 'Sample.Periodic', 'Raw', 'Outlet')", charger, session, tx);
}

static void add_status(const char *charger, const char *status)
{
    db_exec("INSERT INTO status_history (charger_id, connector_id, status, error_code) VALUES ($1, 1, $2, 'NoError')",
            charger, status);
}

static int group_setup(void **state)
{
    (void)state;
    gw_migrate_once();
    db_exec("DELETE FROM sessions WHERE charger_id LIKE 'ira-%'");
    db_exec("DELETE FROM meter_values WHERE charger_id LIKE 'ira-%'");
    db_exec("DELETE FROM status_history WHERE charger_id LIKE 'ira-%'");
    db_exec("DELETE FROM tokens WHERE id_tag LIKE 'ira-%'");
    db_exec("DELETE FROM api_keys WHERE name LIKE 'ira-%'");
    db_exec("DELETE FROM audit_log WHERE request_id LIKE 'ira-%'");
    db_exec("DELETE FROM idempotency_keys WHERE idempotency_key LIKE 'ira-%'");
    db_exec("DELETE FROM chargers WHERE id LIKE 'ira-%'");
    db_add_charger("ira-A", NULL, 0);
    db_add_charger("ira-B", NULL, 0);
    db_add_charger("ira-scope-del", NULL, 0);
    db_exec("UPDATE chargers SET name = 'Charger B' WHERE id = 'ira-B'");
    add_session("ira-A", "ira-tag-a", "71000001", true, session_a);
    add_session("ira-B", "ira-tag-b", "71000002", true, session_b);
    add_meter_value("ira-A", session_a, "71000001");
    add_meter_value("ira-B", session_b, "71000002");
    add_status("ira-A", "Available");
    add_status("ira-B", "Faulted");
    db_exec("INSERT INTO connectors (charger_id, connector_id, status) VALUES ('ira-A', 1, 'Available'),"
            " ('ira-B', 1, 'Faulted')");
    db_add_token("ira-tok", "Accepted", NULL, NULL);
    db_add_token("ira-scope-deltok", "Accepted", NULL, NULL);
    admin = api_group_start("it_rest_auth", "ira-admin");
    return 0;
}

static struct api_resp *send_with(const char *method, const char *path, const char *key, const char *body,
                                  bool x_api_key)
{
    struct api_req q = { .method = method, .path = path, .key = key, .body = body, .x_api_key = x_api_key };
    return api_send(PORT, &q);
}

/* ---------------------------------------------------------------- credentials */

static void test_no_credentials_is_401_unauthorized(void **state)
{
    (void)state;
    const char *paths[] = { "/v1/chargers", "/v1/chargers/ira-A", "/v1/sessions", "/v1/tokens", "/v1/api-keys",
                            "/v1/audit-log" };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct api_resp *r = api_get(PORT, NULL, paths[i]);
        api_expect_error(r, 401, "UNAUTHORIZED");
        api_free(r);
    }
    /* a write without credentials changes nothing */
    struct api_resp *r = api_post(PORT, NULL, "/v1/tokens", "{\"idTag\":\"ira-anon\"}");
    api_expect_error(r, 401, "UNAUTHORIZED");
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM tokens WHERE id_tag = 'ira-anon'"), 0);
}

static void test_unknown_key_is_401_invalid_access_token(void **state)
{
    (void)state;
    const char *fake = "ocppgw_ThisKeyWasNeverIssuedByTheGateway0000000";
    struct api_resp *r = send_with("GET", "/v1/tokens", fake, NULL, false);
    api_expect_error(r, 401, "INVALID_ACCESS_TOKEN");
    api_free(r);
    r = send_with("GET", "/v1/tokens", fake, NULL, true);
    api_expect_error(r, 401, "INVALID_ACCESS_TOKEN");
    api_free(r);
    /* a real key with one character changed */
    char *bent = strdup(admin);
    bent[strlen(bent) - 1] = bent[strlen(bent) - 1] == 'A' ? 'B' : 'A';
    r = send_with("GET", "/v1/tokens", bent, NULL, false);
    api_expect_error(r, 401, "INVALID_ACCESS_TOKEN");
    api_free(r);
    free(bent);
}

static void test_bearer_and_x_api_key_both_work(void **state)
{
    (void)state;
    struct api_resp *r = send_with("GET", "/v1/chargers/ira-A", admin, NULL, false);
    api_check_str(api_expect(r, 200), "id", "ira-A");
    api_free(r);
    r = send_with("GET", "/v1/chargers/ira-A", admin, NULL, true);
    api_check_str(api_expect(r, 200), "id", "ira-A");
    api_free(r);
    /* the scheme name is case-insensitive (RFC 9110) */
    char hdr[300];
    snprintf(hdr, sizeof hdr, "authorization: bearer %s", admin);
    struct api_req q = { .method = "GET", .path = "/v1/chargers/ira-A", .headers = (const char *[]){ hdr, NULL } };
    r = api_send(PORT, &q);
    api_expect(r, 200);
    api_free(r);
}

/* Wall-clock milliseconds (what the gateway compares expiresAt with). */
static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_expired_key_is_401(void **state)
{
    (void)state;
    /*
     * A key whose expiry has passed, stored so from the start, beside a valid
     * one inserted after it: once the valid one works, the gateway knows both.
     */
    const char *k1 = "ogw_IraExpiredKeyMadeBySql0000000000000000000";
    const char *k0 = "ogw_IraValidKeyMadeBySql000000000000000000000";
    db_exec("INSERT INTO api_keys (name, key_prefix, key_hash, scopes, expires_at)"
            " VALUES ('ira-expired', left($1, 12), encode(sha256(convert_to($1, 'UTF8')), 'hex'),"
            " '{tokens:read}', now() - interval '1 minute'),"
            " ('ira-valid', left($2, 12), encode(sha256(convert_to($2, 'UTF8')), 'hex'), '{tokens:read}', NULL)",
            k1, k0);
    struct api_resp *r = NULL;
    for (int64_t end = it_now_ms() + IT_WAIT_MS; it_now_ms() < end; it_pause(NULL, 100)) {
        api_free(r);
        r = api_get(PORT, k0, "/v1/tokens?perPage=1");
        if (r->status == 200)
            break;
    }
    api_expect(r, 200);
    api_free(r);
    r = api_get(PORT, k1, "/v1/tokens");
    api_expect_error(r, 401, "INVALID_ACCESS_TOKEN");
    api_free(r);

    /*
     * made through the API with expiresAt ahead: it works until then and is
     * refused from then on. Asserted by order against the wall clock that
     * the gateway compares with (the same machine's): a request answered
     * before expiresAt must have worked, one sent after it must be refused.
     * A machine so slow that the first request came back after expiresAt
     * proves nothing, and the test tries again with a later expiry.
     */
    char *k2 = NULL;
    int64_t expires_ms = 0;
    for (int horizon_s = 3; !k2; horizon_s *= 2) {
        if (horizon_s > 100)
            fail_msg("a key never answered before its expiry, even %d s ahead", horizon_s / 2);
        time_t at = time(NULL) + horizon_s;
        char when[32];
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&at));
        expires_ms = (int64_t)at * 1000;
        char *body = it_strf("{\"name\":\"ira-expiring\",\"scopes\":[\"tokens:read\"],\"expiresAt\":\"%s\"}", when);
        r = api_post(PORT, admin, "/v1/api-keys", body);
        free(body);
        const cJSON *made = api_expect(r, 201);
        char *k = strdup(js(made, "secret") ? js(made, "secret") : "");
        api_free(r);
        r = api_get(PORT, k, "/v1/tokens");
        if (wall_ms() < expires_ms) {
            api_expect(r, 200);
            k2 = k;
        } else {
            free(k);
        }
        api_free(r);
    }
    for (;;) {                      /* ends at the first request sent after expiresAt */
        int64_t sent = wall_ms();
        r = api_get(PORT, k2, "/v1/tokens");
        int64_t answered = wall_ms();
        if (r->status == 200 && sent >= expires_ms)
            fail_msg("the key still worked for a request sent %lld ms after its expiresAt",
                     (long long)(sent - expires_ms));
        if (r->status != 200) {
            if (answered < expires_ms)
                fail_msg("the key was refused (HTTP %d) %lld ms before its expiresAt", r->status,
                         (long long)(expires_ms - answered));
            api_expect_error(r, 401, "INVALID_ACCESS_TOKEN");
            api_free(r);
            break;
        }
        api_free(r);
        it_pause(NULL, 100);
    }
    /* and stays refused */
    r = api_get(PORT, k2, "/v1/tokens");
    api_expect_error(r, 401, "INVALID_ACCESS_TOKEN");
    api_free(r);
    free(k2);
}

static void test_revoke_via_rest_effective_at_once(void **state)
{
    (void)state;
    char *k = api_key_create("ira-revoke-rest", "tokens:read");
    api_key_wait_known(PORT, k);
    int64_t id = api_key_id(k);
    struct api_resp *r = api_get(PORT, k, "/v1/tokens");
    api_expect(r, 200);
    api_free(r);
    char *path = it_strf("/v1/api-keys/%lld", (long long)id);
    r = api_delete(PORT, admin, path);
    api_expect(r, 204);
    api_free(r);
    r = api_get(PORT, k, "/v1/tokens");
    api_expect_error(r, 401, "INVALID_ACCESS_TOKEN");
    api_free(r);
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    assert_int_equal(db_int("SELECT count(*) FROM api_keys WHERE id = $1::bigint AND revoked_at IS NOT NULL", ids), 1);
    /* revoking it again: it is gone */
    r = api_delete(PORT, admin, path);
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
    free(path);
    free(k);
}

/* The key's first request answered 401 (used by the CLI revocation test). */
static bool key_refused(void *arg)
{
    struct api_resp *r = api_get(PORT, arg, "/v1/tokens");
    bool refused = r->status == 401;
    api_free(r);
    return refused;
}

/*
 * A key revoked by another process (the CLI) is refused as soon as
 * PostgreSQL's notification reaches the gateway: within milliseconds, but
 * not necessarily before a request already on its way (in-process
 * revocation through the API is synchronous: test_revoke_via_rest_effective_at_once).
 * Bounded wait, then a strict check that it stays refused.
 */
static void test_revoke_via_cli_effective_at_once(void **state)
{
    (void)state;
    char *k = api_key_create("ira-revoke-cli", "tokens:read");
    api_key_wait_known(PORT, k);
    struct api_resp *r = api_get(PORT, k, "/v1/tokens");
    api_expect(r, 200);             /* the gateway has seen (and may remember) the key */
    api_free(r);
    r = api_get(PORT, k, "/v1/tokens/ira-tok");
    api_expect(r, 200);
    api_free(r);
    api_key_revoke_cli(api_key_id(k));
    if (!wait_until(NULL, key_refused, k, IT_WAIT_MS))
        fail_msg("the key revoked by the CLI still works %d ms later", IT_WAIT_MS);
    r = api_get(PORT, k, "/v1/tokens");
    api_expect_error(r, 401, "INVALID_ACCESS_TOKEN");
    api_free(r);
    free(k);
}

/* ---------------------------------------------------------------- scopes */

struct route_case {
    const char *method;
    const char *path;       /* %s: session_a, where present */
    const char *body;
    const char *scope;
    int ok_status;          /* with just the scope */
};

static const struct route_case routes[] = {
    { "GET", "/v1/chargers", NULL, "chargers:read", 200 },
    { "POST", "/v1/chargers", "{\"id\":\"ira-scope-new\"}", "chargers:write", 201 },
    { "GET", "/v1/chargers/ira-A", NULL, "chargers:read", 200 },
    { "PATCH", "/v1/chargers/ira-A", "{\"name\":\"Charger A\"}", "chargers:write", 200 },
    { "DELETE", "/v1/chargers/ira-scope-del", NULL, "chargers:write", 204 },
    { "GET", "/v1/chargers/ira-A/sessions", NULL, "sessions:read", 200 },
    { "GET", "/v1/chargers/ira-A/status-history", NULL, "chargers:read", 200 },
    { "GET", "/v1/sessions", NULL, "sessions:read", 200 },
    { "GET", "/v1/sessions/%s", NULL, "sessions:read", 200 },
    { "GET", "/v1/sessions/%s/meter-values", NULL, "sessions:read", 200 },
    { "GET", "/v1/tokens", NULL, "tokens:read", 200 },
    { "POST", "/v1/tokens", "{\"idTag\":\"ira-scope-t\"}", "tokens:write", 201 },
    { "GET", "/v1/tokens/ira-tok", NULL, "tokens:read", 200 },
    { "PATCH", "/v1/tokens/ira-tok", "{\"name\":\"scoped\"}", "tokens:write", 200 },
    { "DELETE", "/v1/tokens/ira-scope-deltok", NULL, "tokens:write", 204 },
    { "GET", "/v1/api-keys", NULL, "admin", 200 },
    { "POST", "/v1/api-keys", "{\"name\":\"ira-scope-k\",\"scopes\":[\"tokens:read\"]}", "admin", 201 },
    { "DELETE", "/v1/api-keys/%s", NULL, "admin", 204 },
    { "GET", "/v1/audit-log", NULL, "admin", 200 },
    { "GET", "/v1/events", NULL, "events:read", 200 },
};

static const char *const all_scopes[] = { "chargers:read", "chargers:write", "sessions:read", "commands:write",
                                          "tokens:read", "tokens:write", "tariffs:read", "tariffs:write",
                                          "reports:read", "webhooks:write", "events:read", "admin" };

/* Every scope but `but` (and never admin, which has them all), comma-separated. */
static char *scopes_except(const char *but)
{
    char buf[512] = "";
    for (size_t i = 0; i < sizeof all_scopes / sizeof all_scopes[0]; i++) {
        if (strcmp(all_scopes[i], but) == 0 || strcmp(all_scopes[i], "admin") == 0)
            continue;
        if (*buf)
            strcat(buf, ",");
        strcat(buf, all_scopes[i]);
    }
    return strdup(buf);
}

/* The route's path with its id filled in (the api-keys case revokes a throwaway key). */
static char *route_path(const struct route_case *c)
{
    if (!strstr(c->path, "%s"))
        return strdup(c->path);
    if (strncmp(c->path, "/v1/api-keys/", 13) == 0) {
        char *k = api_key_create("ira-scope-throwaway", "tokens:read");
        char *p = it_strf("/v1/api-keys/%lld", (long long)api_key_id(k));
        free(k);
        return p;
    }
    char *p = NULL;
    if (asprintf(&p, c->path, session_a) < 0)
        abort();
    return p;
}

static void test_every_route_refuses_a_key_without_its_scope(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const struct route_case *c = &routes[i];
        char *scopes = scopes_except(c->scope);
        char name[64];
        snprintf(name, sizeof name, "ira-without-%zu", i);
        char *key = api_key_create(name, scopes);
        api_key_wait_known(PORT, key);
        char *path = route_path(c);
        struct api_resp *r = send_with(c->method, path, key, c->body, false);
        if (r->status != 403 || !r->json || !js(r->json, "errorCode") ||
            strcmp(js(r->json, "errorCode"), "ACCESS_FORBIDDEN") != 0) {
            print_error("%s %s with scopes [%s]: expected 403 ACCESS_FORBIDDEN, got %d: %.200s\n", c->method, path,
                        scopes, r->status, r->body);
            bad++;
        } else {
            api_expect_error(r, 403, "ACCESS_FORBIDDEN");
        }
        api_free(r);
        free(path);
        free(key);
        free(scopes);
    }
    if (bad)
        fail_msg("%d route(s) let a key without the scope through", bad);
    /* nothing was written */
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id IN ('ira-scope-new', 'ira-scope-del')"), 1);
    assert_int_equal(db_int("SELECT count(*) FROM tokens WHERE id_tag IN ('ira-scope-t', 'ira-scope-deltok')"), 1);
    assert_int_equal(db_int("SELECT count(*) FROM api_keys WHERE name = 'ira-scope-k'"), 0);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'ira-A' AND name IS NULL"), 1);
}

static void test_every_route_admits_a_key_with_just_its_scope(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const struct route_case *c = &routes[i];
        char name[64];
        snprintf(name, sizeof name, "ira-with-%zu", i);
        char *key = api_key_create(name, c->scope);
        api_key_wait_known(PORT, key);
        char *path = route_path(c);
        struct api_resp *r = send_with(c->method, path, key, c->body, false);
        if (r->status != c->ok_status) {
            print_error("%s %s with scope %s: expected %d, got %d: %.200s\n", c->method, path, c->scope,
                        c->ok_status, r->status, r->body);
            bad++;
        }
        /* and with x-api-key */
        if (strcmp(c->method, "GET") == 0) {
            api_free(r);
            r = send_with(c->method, path, key, NULL, true);
            if (r->status != 200) {
                print_error("%s %s with scope %s as x-api-key: expected 200, got %d\n", c->method, path, c->scope,
                            r->status);
                bad++;
            }
        }
        api_free(r);
        free(path);
        free(key);
    }
    if (bad)
        fail_msg("%d route(s) refused a key holding the route's scope", bad);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'ira-A' AND name = 'Charger A'"), 1);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'ira-scope-del'"), 0);
    assert_int_equal(db_int("SELECT count(*) FROM tokens WHERE id_tag = 'ira-scope-deltok'"), 0);
    assert_int_equal(db_int("SELECT count(*) FROM tokens WHERE id_tag = 'ira-scope-t'"), 1);
}

/* ---------------------------------------------------------------- charger restriction */

/* GET that must answer 403 ACCESS_FORBIDDEN. */
static void expect_forbidden(const char *key, const char *method, const char *path, const char *body)
{
    struct api_resp *r = send_with(method, path, key, body, false);
    api_expect_error(r, 403, "ACCESS_FORBIDDEN");
    api_free(r);
}

/* A filtered list that must not show charger B's items: 200 without them, or 403. */
static void expect_hidden(const char *key, const char *path, const char *field, const char *value)
{
    struct api_resp *r = api_get(PORT, key, path);
    if (r->status == 403) {
        api_expect_error(r, 403, "ACCESS_FORBIDDEN");
    } else {
        const cJSON *data = api_data(api_expect(r, 200));
        if (api_count_with(data, field, value) != 0)
            fail_msg("GET %s with a key limited to ira-A shows %s %s: %s", path, field, value, r->body);
    }
    api_free(r);
}

static void check_limited_key(const char *key)
{
    /* by id */
    struct api_resp *r = api_get(PORT, key, "/v1/chargers/ira-A");
    api_check_str(api_expect(r, 200), "id", "ira-A");
    api_free(r);
    expect_forbidden(key, "GET", "/v1/chargers/ira-B", NULL);
    expect_forbidden(key, "GET", "/v1/chargers/ira-B/sessions", NULL);
    expect_forbidden(key, "GET", "/v1/chargers/ira-B/status-history", NULL);

    /* sessions by id and their meter values */
    char *p = it_strf("/v1/sessions/%s", session_a);
    r = api_get(PORT, key, p);
    api_check_str(api_expect(r, 200), "chargerId", "ira-A");
    api_free(r);
    free(p);
    p = it_strf("/v1/sessions/%s", session_b);
    expect_forbidden(key, "GET", p, NULL);
    free(p);
    p = it_strf("/v1/sessions/%s/meter-values", session_b);
    expect_forbidden(key, "GET", p, NULL);
    free(p);

    /* lists: A's items, never B's, whatever the filter */
    r = api_get(PORT, key, "/v1/chargers?search=ira-&perPage=500");
    const cJSON *b = api_expect(r, 200);
    const cJSON *data = api_data(b);
    assert_int_equal(api_count_with(data, "id", "ira-A"), 1);
    assert_int_equal(api_count_with(data, "id", "ira-B"), 0);
    /* the total does not count what the key cannot see */
    if (ji(cJSON_GetObjectItemCaseSensitive(b, "meta"), "total") != cJSON_GetArraySize(data))
        fail_msg("a limited key's list total counts chargers it cannot see: %s", r->body);
    api_free(r);
    expect_hidden(key, "/v1/chargers?chargerIds[]=ira-B", "id", "ira-B");
    expect_hidden(key, "/v1/chargers?chargerIds%5B%5D=ira-B", "id", "ira-B");
    expect_hidden(key, "/v1/chargers?chargerIds=ira-A,ira-B", "id", "ira-B");
    expect_hidden(key, "/v1/chargers?search=Charger%20B", "id", "ira-B");
    expect_hidden(key, "/v1/chargers?status=Faulted", "id", "ira-B");

    r = api_get(PORT, key, "/v1/sessions?perPage=500");
    data = api_data(api_expect(r, 200));
    assert_int_equal(api_count_with(data, "chargerId", "ira-B"), 0);
    assert_true(api_count_with(data, "chargerId", "ira-A") >= 1);
    api_free(r);
    expect_hidden(key, "/v1/sessions?chargerId=ira-B", "chargerId", "ira-B");
    expect_hidden(key, "/v1/sessions?chargerIds[]=ira-B", "chargerId", "ira-B");
    expect_hidden(key, "/v1/sessions?chargerIds[]=ira-A&chargerIds[]=ira-B", "chargerId", "ira-B");
    expect_hidden(key, "/v1/sessions?chargerIds=ira-B", "chargerId", "ira-B");
    expect_hidden(key, "/v1/sessions?idTag=ira-tag-b", "chargerId", "ira-B");
}

static void test_limited_key_cannot_see_another_charger(void **state)
{
    (void)state;
    char *key = api_key_create_limited("ira-limited", "chargers:read,chargers:write,sessions:read", "ira-A");
    api_key_wait_known(PORT, key);
    check_limited_key(key);

    /* nor change it */
    expect_forbidden(key, "PATCH", "/v1/chargers/ira-B", "{\"name\":\"taken\"}");
    expect_forbidden(key, "DELETE", "/v1/chargers/ira-B", NULL);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'ira-B' AND name = 'Charger B'"), 1);
    free(key);
}

static void test_limited_key_made_through_the_api(void **state)
{
    (void)state;
    struct api_resp *r = api_post(PORT, admin, "/v1/api-keys",
                                  "{\"name\":\"ira-limited-rest\",\"scopes\":[\"chargers:read\",\"sessions:read\"],"
                                  "\"chargerIds\":[\"ira-A\"]}");
    const cJSON *made = api_expect(r, 201);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(made, "chargerIds");
    if (!cJSON_IsArray(ids) || cJSON_GetArraySize(ids) != 1 ||
        strcmp(cJSON_GetStringValue(cJSON_GetArrayItem(ids, 0)) ?: "", "ira-A") != 0)
        fail_msg("POST /v1/api-keys answered chargerIds other than [\"ira-A\"]: %s", r->body);
    char *key = strdup(js(made, "secret") ? js(made, "secret") : "");
    api_free(r);
    check_limited_key(key);
    free(key);
}

/*
 * A key limited to a site sees its chargers, by id too (the dispatcher looks
 * the charger's site up); a key limited to chargers and sites sees both
 * (either list admits a charger).
 */
static void test_site_limited_key(void **state)
{
    (void)state;
    db_exec("INSERT INTO sites (id) VALUES ('ira-site-a') ON CONFLICT DO NOTHING");
    db_exec("UPDATE chargers SET site_id = 'ira-site-a' WHERE id = 'ira-A'");
    struct api_resp *r = api_post(PORT, admin, "/v1/api-keys",
                                  "{\"name\":\"ira-site\",\"scopes\":[\"chargers:read\",\"sessions:read\"],"
                                  "\"siteIds\":[\"ira-site-a\"]}");
    char *key = strdup(js(api_expect(r, 201), "secret") ?: "");
    api_free(r);
    check_limited_key(key);
    r = api_get(PORT, key, "/v1/chargers/ira-nowhere");
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
    free(key);

    db_exec("INSERT INTO chargers (id) VALUES ('ira-Z') ON CONFLICT DO NOTHING"); /* ids must exist */
    r = api_post(PORT, admin, "/v1/api-keys",
                 "{\"name\":\"ira-both\",\"scopes\":[\"chargers:read\",\"sessions:read\"],"
                 "\"chargerIds\":[\"ira-Z\"],\"siteIds\":[\"ira-site-a\"]}");
    key = strdup(js(api_expect(r, 201), "secret") ?: "");
    api_free(r);
    check_limited_key(key);
    free(key);
    db_exec("UPDATE chargers SET site_id = NULL WHERE id = 'ira-A'");
    db_exec("DELETE FROM sites WHERE id = 'ira-site-a'");
    db_exec("DELETE FROM chargers WHERE id = 'ira-Z'");
}

/* A key cannot be limited to chargers or sites that do not exist: 422 naming the field and the ids. */
static void test_key_for_unknown_chargers_or_sites_is_422(void **state)
{
    (void)state;
    int64_t keys = db_int("SELECT count(*) FROM api_keys");
    struct api_resp *r = api_post(PORT, admin, "/v1/api-keys",
                                  "{\"name\":\"ira-ghost\",\"scopes\":[\"chargers:read\"],"
                                  "\"chargerIds\":[\"ira-A\",\"ira-ghost-1\",\"ira-ghost-2\"]}");
    api_expect_error(r, 422, "UNPROCESSABLE_ENTITY");
    const char *why = js(cJSON_GetObjectItem(r->json, "context"), "chargerIds");
    if (!why || !strstr(why, "'ira-ghost-1', 'ira-ghost-2'") || strstr(why, "'ira-A'"))
        fail_msg("the 422 does not name the unknown charger ids: %s", r->body);
    api_free(r);
    r = api_post(PORT, admin, "/v1/api-keys",
                 "{\"name\":\"ira-ghost\",\"scopes\":[\"chargers:read\"],\"siteIds\":[\"ira-no-site\"]}");
    api_expect_error(r, 422, "UNPROCESSABLE_ENTITY");
    why = js(cJSON_GetObjectItem(r->json, "context"), "siteIds");
    if (!why || !strstr(why, "'ira-no-site'"))
        fail_msg("the 422 does not name the unknown site id: %s", r->body);
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM api_keys"), keys);
}

/* ---------------------------------------------------------------- api-keys */

static void test_api_key_created_once_stored_hashed_never_listed(void **state)
{
    (void)state;
    struct api_resp *r = api_post(PORT, admin, "/v1/api-keys",
                                  "{\"name\":\"ira-made\",\"scopes\":[\"tokens:read\",\"sessions:read\"],"
                                  "\"expiresAt\":\"2099-01-01T00:00:00Z\"}");
    const cJSON *k = api_expect(r, 201);
    api_check_schema(k, "ApiKeyCreated");
    const char *secret = js(k, "secret");
    if (!secret || strlen(secret) < 40)
        fail_msg("POST /v1/api-keys: no secret of at least 40 characters (32 bytes of entropy): %s", r->body);
    char *sec = strdup(secret);
    int64_t id = ji(k, "id");
    api_check_str(k, "name", "ira-made");
    const cJSON *scopes = cJSON_GetObjectItemCaseSensitive(k, "scopes");
    assert_int_equal(cJSON_GetArraySize(scopes), 2);
    api_check_str(k, "expiresAt", "2099-01-01T00:00:00Z");
    assert_true(js(k, "createdAt") != NULL);
    api_check_null(k, "lastUsedAt");
    assert_non_null(cJSON_GetObjectItemCaseSensitive(k, "chargerIds"));
    assert_non_null(cJSON_GetObjectItemCaseSensitive(k, "siteIds"));
    char *loc = it_strf("/v1/api-keys/%lld", (long long)id);
    const char *got_loc = api_header(r, "Location");
    if (!got_loc || strcmp(got_loc, loc) != 0)
        fail_msg("Location \"%s\", expected \"%s\"", got_loc ? got_loc : "(absent)", loc);
    api_free(r);

    /* stored hashed: the row's hash is the secret's SHA-256, no column holds the secret */
    assert_int_equal(api_key_id(sec), id);
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    assert_int_equal(db_int("SELECT count(*) FROM api_keys k WHERE id = $1::bigint AND strpos(k::text, $2) > 0", ids,
                            sec), 0);

    /* it works, with its scopes only */
    r = api_get(PORT, sec, "/v1/tokens");
    api_expect(r, 200);
    api_free(r);
    r = api_get(PORT, sec, "/v1/chargers");
    api_expect_error(r, 403, "ACCESS_FORBIDDEN");
    api_free(r);

    /* listed without the secret or its hash; lastUsedAt follows the use */
    char *hash = db_str("SELECT key_hash FROM api_keys WHERE id = $1::bigint", ids);
    bool used = false;
    for (int64_t end = it_now_ms() + IT_WAIT_MS; !used && it_now_ms() < end;) {
        r = api_get(PORT, admin, "/v1/api-keys?perPage=500");
        api_check_schema(api_expect(r, 200), "ApiKeyList");
        const cJSON *data = api_data(api_expect(r, 200));
        if (strstr(r->body, sec) || (hash && strstr(r->body, hash)))
            fail_msg("GET /v1/api-keys shows a secret or a key hash");
        const cJSON *item, *mine = NULL;
        cJSON_ArrayForEach(item, data) {
            if (cJSON_GetObjectItemCaseSensitive(item, "secret"))
                fail_msg("GET /v1/api-keys: an item has \"secret\": %s", r->body);
            if (ji(item, "id") == id)
                mine = item;
        }
        if (!mine)
            fail_msg("GET /v1/api-keys does not list key %lld", (long long)id);
        api_check_str(mine, "name", "ira-made");
        used = js(mine, "lastUsedAt") != NULL;
        api_free(r);
        if (!used)
            it_pause(NULL, 200);
    }
    if (!used)
        fail_msg("lastUsedAt of key %lld stayed null after it was used", (long long)id);
    free(hash);
    free(loc);
    free(sec);
}

/*
 * Whether the PostgreSQL server log holds s (read by the server: the file is
 * its user's). s travels reversed, so that this query's own logged
 * parameters do not hold it.
 */
static bool pg_log_contains(const char *s)
{
    char *path = it_strf("%s/postgres.log", it_env("OCPPGW_TEST_PGDIR"));
    size_t n = strlen(s);
    char *rev = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        rev[i] = s[n - 1 - i];
    rev[n] = '\0';
    int64_t at = db_int("SELECT strpos(pg_read_file($1), reverse($2))", path, rev);
    free(rev);
    free(path);
    return at > 0;
}

/*
 * A one-time secret is one-time: the Idempotency-Key record of the create
 * keeps no secret, a replay answers the same key with "secret": null, and
 * no statement the gateway sent (PostgreSQL logging every statement with
 * its parameters meanwhile) nor any text of idempotency_keys or audit_log
 * holds it.
 */
/* PostgreSQL logs every statement with its parameters, the gateway's REST connection included. */
static void pg_log_statements_on(void)
{
    db_exec("ALTER SYSTEM SET log_statement = 'all'");
    db_int("SELECT pg_reload_conf()");
    /* every backend has the new setting once a statement of the gateway's shows in the log */
    char marker[64];
    snprintf(marker, sizeof marker, "ira-logmark-%lld", (long long)it_now_ms());
    char *mpath = it_strf("/v1/api-keys?name=%s", marker);
    bool logging = false;
    for (int64_t end = it_now_ms() + IT_WAIT_MS; !logging && it_now_ms() < end;) {
        struct api_resp *m = api_get(PORT, admin, mpath);
        api_expect(m, 200);
        api_free(m);
        logging = pg_log_contains(marker);
        if (!logging)
            it_pause(NULL, 100);
    }
    free(mpath);
    if (!logging)
        fail_msg("PostgreSQL did not start logging statements");
}

static void pg_log_statements_off(void)
{
    db_exec("ALTER SYSTEM RESET log_statement");
    db_int("SELECT pg_reload_conf()");
}

static void test_api_key_secret_not_kept_for_idempotent_replay(void **state)
{
    (void)state;
    pg_log_statements_on();

    const char *body = "{\"name\":\"ira-once\",\"scopes\":[\"tokens:read\"]}";
    struct api_req q = { .method = "POST", .path = "/v1/api-keys", .key = admin, .body = body,
                         .headers = (const char *[]){ "Idempotency-Key: ira-once-1", "X-Request-Id: ira-once-req",
                                                      NULL } };
    struct api_resp *a = api_send(PORT, &q);
    const cJSON *first = api_expect(a, 201);
    const char *secret = js(first, "secret");
    if (!secret || strlen(secret) < 40)
        fail_msg("POST /v1/api-keys answered no secret: %s", a->body);
    char *sec = strdup(secret);
    int64_t id = ji(first, "id");
    if (api_header(a, "Idempotent-Replayed"))
        fail_msg("the first answer says Idempotent-Replayed");

    struct api_resp *b = api_send(PORT, &q);
    const cJSON *again = api_expect(b, 201);
    assert_int_equal(ji(again, "id"), id);
    api_check_str(again, "name", "ira-once");
    api_check_null(again, "secret");
    api_check_schema(again, "ApiKeyCreated");
    const char *replayed = api_header(b, "Idempotent-Replayed");
    if (!replayed || strcmp(replayed, "true") != 0)
        fail_msg("replay without Idempotent-Replayed: true");
    if (strstr(b->body, sec))
        fail_msg("the replay shows the secret: %s", b->body);
    assert_int_equal(db_int("SELECT count(*) FROM api_keys WHERE name = 'ira-once'"), 1);
    /* the key itself works */
    struct api_resp *c = api_get(PORT, sec, "/v1/tokens");
    api_expect(c, 200);
    api_free(c);

    /* wait for the write-behind rows (audit) before looking */
    db_wait_int(IT_WAIT_MS, 1, "SELECT count(*) FROM audit_log WHERE request_id = 'ira-once-req'"
                " AND action = 'apikey.create'");
    assert_int_equal(db_int("SELECT count(*) FROM idempotency_keys WHERE idempotency_key = 'ira-once-1'"
                            " AND state = 'done'"), 1);
    /* a key made with the CLI (`ocppgw apikey create`) the same way */
    char *cli_sec = api_key_create("ira-once-cli", "tokens:read");
    /* looked for before this test's own queries put the secret in the log */
    bool in_log = pg_log_contains(sec);
    bool cli_in_log = pg_log_contains(cli_sec);
    pg_log_statements_off();
    if (in_log)
        fail_msg("the secret appears in PostgreSQL's statement log (a SQL parameter)");
    if (cli_in_log)
        fail_msg("the secret of a key made with the CLI appears in PostgreSQL's statement log");
    free(cli_sec);
    /* every column, as text */
    assert_int_equal(db_int("SELECT count(*) FROM idempotency_keys k WHERE strpos(k::text, $1) > 0", sec), 0);
    assert_int_equal(db_int("SELECT count(*) FROM audit_log l WHERE strpos(l::text, $1) > 0", sec), 0);
    assert_int_equal(db_int("SELECT count(*) FROM api_keys k WHERE strpos(k::text, $1) > 0", sec), 0);
    /* the record's body is the resource with the secret null */
    char *rec = db_str("SELECT response_body FROM idempotency_keys WHERE idempotency_key = 'ira-once-1'");
    cJSON *stored = rec ? cJSON_Parse(rec) : NULL;
    if (!stored || !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(stored, "secret")))
        fail_msg("the recorded body has no \"secret\": null: %s", rec ? rec : "(null)");
    cJSON_Delete(stored);
    free(rec);

    api_free(a);
    api_free(b);
    free(sec);
}

/*
 * A charger's AuthorizationKey, set by POST and changed by PATCH, is stored
 * as its PBKDF2 hash, which the gateway computes (off its event loop, in the
 * REST store thread): no statement it sends holds the plain key. The
 * charger connects with the new key, not the old.
 */
#define CHARGER_KEY_1 "ira-key-one-0123456789abcdef"
#define CHARGER_KEY_2 "ira-key-two-fedcba9876543210"
static void test_charger_key_never_sent_plain(void **state)
{
    (void)state;
    db_exec("DELETE FROM chargers WHERE id = 'ira-keyed'");
    pg_log_statements_on();
    struct api_resp *r = api_post(PORT, admin, "/v1/chargers",
                                  "{\"id\":\"ira-keyed\",\"securityProfile\":1,"
                                  "\"authorizationKey\":\"" CHARGER_KEY_1 "\"}");
    api_expect(r, 201);
    api_free(r);
    r = api_patch(PORT, admin, "/v1/chargers/ira-keyed", "{\"authorizationKey\":\"" CHARGER_KEY_2 "\"}");
    api_expect(r, 200);
    api_free(r);
    bool in_log = pg_log_contains(CHARGER_KEY_1) || pg_log_contains(CHARGER_KEY_2);
    pg_log_statements_off();
    if (in_log)
        fail_msg("a charger's AuthorizationKey appears in PostgreSQL's statement log");
    char *hash = db_str("SELECT auth_hash FROM chargers WHERE id = 'ira-keyed'");
    if (!hash || strncmp(hash, "pbkdf2-sha256$", 14) != 0)
        fail_msg("auth_hash is not a PBKDF2 hash: %s", hash ? hash : "(null)");
    free(hash);

    /* the gateway learns of the change by notification: wait until the new key is taken */
    struct sim_charger *ch = NULL;
    for (int64_t end = it_now_ms() + IT_WAIT_MS; !ch && it_now_ms() < end;) {
        struct sim_charger_opts o = { .id = "ira-keyed", .password = CHARGER_KEY_2 };
        int status = 0;
        ch = it_try_connect(W.sim, &o, &status, NULL);
        if (!ch)
            it_pause(W.sim, 50);
    }
    if (!ch)
        fail_msg("ira-keyed does not connect with the key set by PATCH");
    assert_true(it_heartbeat_ok(ch));
    sim_disconnect(ch);
    struct sim_charger_opts old = { .id = "ira-keyed", .password = CHARGER_KEY_1 };
    int status = 0;
    assert_null(it_try_connect(W.sim, &old, &status, NULL));
    assert_int_equal(status, 401);
}

static void test_api_key_validation_422(void **state)
{
    (void)state;
    char longname[300];
    memset(longname, 'n', 200);
    longname[200] = '\0';
    char *toolong = it_strf("{\"name\":\"ira-%s\",\"scopes\":[\"admin\"]}", longname);
    const struct api_bad cases[] = {
        { "{\"name\":\"ira-bad\",\"scopes\":[\"bogus:scope\"]}", "scopes" },
        { "{\"name\":\"ira-bad\",\"scopes\":\"admin\"}", "scopes" },
        { "{\"name\":\"ira-bad\",\"scopes\":[]}", "scopes" },
        { "{\"scopes\":[\"admin\"]}", "name" },
        { "{\"name\":42,\"scopes\":[\"admin\"]}", "name" },
        { toolong, "name" },
        { "{\"name\":\"ira-bad\",\"scopes\":[\"admin\"],\"expiresAt\":\"someday\"}", "expiresAt" },
        { "{\"name\":\"ira-bad\",\"scopes\":[\"admin\"],\"expiresAt\":\"2030-02-30T00:00:00Z\"}", "expiresAt" },
        { "{\"name\":\"ira-bad\",\"scopes\":[\"admin\"],\"chargerIds\":\"ira-A\"}", "chargerIds" },
        { "{\"name\":\"ira-bad\",\"scopes\":[\"admin\"],\"colour\":\"red\"}", "colour" },
    };
    api_expect_bad_bodies(PORT, admin, "POST", "/v1/api-keys", cases, API_COUNT(cases));
    free(toolong);
    assert_int_equal(db_int("SELECT count(*) FROM api_keys WHERE name LIKE 'ira-bad%' OR name LIKE 'ira-nnn%'"), 0);
    struct api_resp *r = api_delete(PORT, admin, "/v1/api-keys/999999999");
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
}

/* ---------------------------------------------------------------- audit log */

static void test_audit_log_records_writes(void **state)
{
    (void)state;
    struct api_req q = { .method = "POST", .path = "/v1/tokens", .key = admin, .body = "{\"idTag\":\"ira-audited\"}",
                         .headers = (const char *[]){ "X-Request-Id: ira-audit-1", NULL } };
    struct api_resp *r = api_send(PORT, &q);
    api_expect(r, 201);
    api_free(r);
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1, "SELECT count(*) FROM audit_log WHERE request_id = 'ira-audit-1'"), 1);

    /* readable through the API, newest first or not: walk until found */
    char *actor = it_strf("apikey:%lld", (long long)api_key_id(admin));
    bool found = false;
    char *after = NULL;
    for (int page = 0; page < 200 && !found; page++) {
        char *path = after ? it_strf("/v1/audit-log?perPage=100&after=%s", after) : strdup("/v1/audit-log?perPage=100");
        r = api_get(PORT, admin, path);
        free(path);
        const cJSON *b = api_expect(r, 200);
        api_check_schema(b, "AuditList");
        const cJSON *item;
        cJSON_ArrayForEach(item, api_data(b)) {
            if (!js(item, "requestId") || strcmp(js(item, "requestId"), "ira-audit-1") != 0)
                continue;
            found = true;
            api_check_str(item, "actor", actor);
            if (!js(item, "action") || !strstr(js(item, "action"), "token"))
                fail_msg("audit entry of POST /v1/tokens: action is not about a token: %s", r->body);
            if (!js(item, "result") || !js(item, "at"))
                fail_msg("audit entry without result or at: %s", r->body);
        }
        const char *next = js(cJSON_GetObjectItemCaseSensitive(b, "meta"), "after");
        free(after);
        after = next ? api_escape(next) : NULL;
        api_free(r);
        if (!after)
            break;
    }
    free(after);
    free(actor);
    if (!found)
        fail_msg("GET /v1/audit-log does not show the write with X-Request-Id ira-audit-1");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, it_test_setup, it_test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_no_credentials_is_401_unauthorized),
        T(test_unknown_key_is_401_invalid_access_token),
        T(test_bearer_and_x_api_key_both_work),
        T(test_expired_key_is_401),
        T(test_revoke_via_rest_effective_at_once),
        T(test_revoke_via_cli_effective_at_once),
        T(test_every_route_refuses_a_key_without_its_scope),
        T(test_every_route_admits_a_key_with_just_its_scope),
        T(test_limited_key_cannot_see_another_charger),
        T(test_limited_key_made_through_the_api),
        T(test_site_limited_key),
        T(test_key_for_unknown_chargers_or_sites_is_422),
        T(test_api_key_created_once_stored_hashed_never_listed),
        T(test_api_key_secret_not_kept_for_idempotent_replay),
        T(test_charger_key_never_sent_plain),
        T(test_api_key_validation_422),
        T(test_audit_log_records_writes),
    };
    return cmocka_run_group_tests(tests, group_setup, api_group_teardown);
}
