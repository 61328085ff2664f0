/*
 * Integration: the chargers resource end to end. Pre-registering through
 * POST (and the charger then connecting with its AuthorizationKey), the
 * shape of one charger with its connectors as the simulator reported them,
 * `connected` following the simulator's connection, PATCH, DELETE keeping
 * the sessions, 404/409/422 with the fields named, offset pages, sort,
 * filters (status, connected, siteId, chargerIds[] and chargerIds, search),
 * 400 for bad parameters, and the status history in cursor pages.
 *
 * Charger ids start with "irc-". Session transaction ids are 7200xxxx.
 */
#include "it.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls.h"
#include "db.h"
#include "fixture.h"
#include "gw.h"
#include "support/rest.h"

#define PORT gw_port(W.gw)

#define PW_GOOD "00112233445566778899aabbccddeeff00112233"
#define PW_BAD  "ffeeddccbbaa99887766554433221100ffeeddcc"

static char *admin;

static int group_setup(void **state)
{
    (void)state;
    gw_migrate_once();
    db_exec("DELETE FROM sessions WHERE charger_id LIKE 'irc-%'");
    db_exec("DELETE FROM status_history WHERE charger_id LIKE 'irc-%'");
    db_exec("DELETE FROM chargers WHERE id LIKE 'irc-%'");
    db_exec("DELETE FROM sites WHERE id LIKE 'irc-%'");
    db_exec("DELETE FROM api_keys WHERE name LIKE 'irc-%'");
    admin = api_group_start("it_rest_chargers", "irc-admin");
    return 0;
}

static struct api_resp *get(const char *path)
{
    return api_get(PORT, admin, path);
}

/* ---------------------------------------------------------------- create */

static void test_create_charger_then_it_connects_with_its_key(void **state)
{
    (void)state;
    struct api_resp *r = api_post(PORT, admin, "/v1/chargers",
                                  "{\"id\":\"irc-new\",\"name\":\"Depot 1\",\"authorizationKey\":\"" PW_GOOD "\","
                                  "\"securityProfile\":1,\"maxAvailableCurrent\":32,\"timeZone\":\"Europe/Berlin\","
                                  "\"latitude\":52.52,\"longitude\":13.405,\"commissioningDate\":\"2025-03-01\"}");
    const cJSON *c = api_expect(r, 201);
    api_check_schema(c, "Charger");
    const char *loc = api_header(r, "Location");
    if (!loc || strcmp(loc, "/v1/chargers/irc-new") != 0)
        fail_msg("Location \"%s\", expected /v1/chargers/irc-new", loc ? loc : "(absent)");
    api_check_str(c, "id", "irc-new");
    api_check_str(c, "name", "Depot 1");
    api_check_int(c, "maxAvailableCurrent", 32);
    api_check_str(c, "timeZone", "Europe/Berlin");
    api_check_str(c, "commissioningDate", "2025-03-01");
    api_check_str(c, "registrationStatus", "Accepted");
    api_check_bool(c, "connected", false);
    api_check_null(c, "lastSeenAt");
    assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(c, "connectors")));
    if (cJSON_GetObjectItemCaseSensitive(c, "authorizationKey") || strstr(r->body, PW_GOOD))
        fail_msg("the answer shows the AuthorizationKey: %s", r->body);
    api_free(r);

    /* stored as given, the key hashed */
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'irc-new' AND name = 'Depot 1'"
                            " AND security_profile = 1 AND max_available_current = 32"
                            " AND time_zone = 'Europe/Berlin' AND abs(latitude - 52.52) < 1e-9"
                            " AND abs(longitude - 13.405) < 1e-9 AND commissioning_date = '2025-03-01'"
                            " AND auth_hash IS NOT NULL AND strpos(auth_hash, $1) = 0", PW_GOOD), 1);

    /* GET answers the same */
    r = get("/v1/chargers/irc-new");
    c = api_expect(r, 200);
    api_check_str(c, "name", "Depot 1");
    if (strstr(r->body, PW_GOOD))
        fail_msg("GET shows the AuthorizationKey: %s", r->body);
    api_free(r);

    /*
     * The charger connects with that key, and only with it, at once: the
     * gateway that answered the 201 applied the committed row to its
     * registry before answering (it does not wait for the notification).
     */
    struct sim_charger_opts bad = { .id = "irc-new", .password = PW_BAD };
    int status = 0;
    struct sim_charger *ch = it_try_connect(W.sim, &bad, &status, NULL);
    assert_null(ch);
    if (status != 401)
        fail_msg("irc-new with a wrong password: HTTP %d, expected 401", status);
    ch = it_connect(W.sim, "irc-new", PW_GOOD);
    assert_true(it_heartbeat_ok(ch));
    sim_disconnect(ch);
}

static void test_create_existing_id_is_409(void **state)
{
    (void)state;
    db_add_charger("irc-dup", NULL, 0);
    struct api_resp *r = api_post(PORT, admin, "/v1/chargers", "{\"id\":\"irc-dup\",\"name\":\"again\"}");
    api_expect_error(r, 409, "CONFLICT");
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'irc-dup' AND name IS NULL"), 1);
    r = api_post(PORT, admin, "/v1/chargers", "{\"id\":\"irc-dup2\"}");
    api_expect(r, 201);
    api_free(r);
    r = api_post(PORT, admin, "/v1/chargers", "{\"id\":\"irc-dup2\"}");
    api_expect_error(r, 409, "CONFLICT");
    api_free(r);
}

static void test_create_invalid_is_422_naming_the_field(void **state)
{
    (void)state;
    static const struct api_bad cases[] = {
        { "{\"id\":\"irc-v1\",\"colour\":\"red\"}", "colour" },
        { "{\"id\":\"irc-v2\",\"maxAvailableCurrent\":\"lots\"}", "maxAvailableCurrent" },
        { "{\"id\":\"irc-0123456789012345678901234567890123456789abcdef\"}", "id" },     /* 49 characters */
        { "{\"id\":\"irc-v3\",\"commissioningDate\":\"2025-13-45\"}", "commissioningDate" },
        { "{\"id\":\"irc-v4\",\"latitude\":91}", "latitude" },
        { "{\"id\":\"irc-v5\",\"longitude\":\"east\"}", "longitude" },
        { "{\"name\":\"no id\"}", "id" },
        { "{\"id\":42}", "id" },
        { "{\"id\":\"irc v6\"}", "id" },
        { "{\"id\":\"irc-v7\",\"securityProfile\":7}", "securityProfile" },
        { "{\"id\":\"irc-v8\",\"authorizationKey\":\"short\"}", "authorizationKey" },
        { "{\"id\":\"irc-v9\",\"timeZone\":5}", "timeZone" },
        { "{\"id\":\"irc-v10\",\"name\":[\"a\"]}", "name" },
        /* well-formed names the tz database does not have */
        { "{\"id\":\"irc-v12\",\"timeZone\":\"Mars/Olympus_Mons\"}", "timeZone" },
        { "{\"id\":\"irc-v13\",\"timeZone\":\"Europe/Berlin/\"}", "timeZone" },
    };
    api_expect_bad_bodies(PORT, admin, "POST", "/v1/chargers", cases, API_COUNT(cases));
    /* every unknown field is named */
    struct api_resp *r = api_post(PORT, admin, "/v1/chargers", "{\"id\":\"irc-v11\",\"foo\":1,\"bar\":2}");
    api_expect_error_naming(r, 422, "UNPROCESSABLE_ENTITY", "foo");
    api_expect_error_naming(r, 422, "UNPROCESSABLE_ENTITY", "bar");
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id LIKE 'irc-v%' OR id LIKE 'irc-0123%'"), 0);
}

/* ---------------------------------------------------------------- one charger */

struct poll_arg {
    const char *path;
    bool (*ok)(const cJSON *body);
    cJSON *last;            /* last body read (owned) */
};

static bool poll_get(void *arg)
{
    struct poll_arg *a = arg;
    struct api_resp *r = get(a->path);
    bool done = false;
    if (r->status == 200 && r->json) {
        cJSON_Delete(a->last);
        a->last = cJSON_Duplicate(r->json, true);
        done = a->ok(a->last);
    }
    api_free(r);
    return done;
}

/* GETs path until ok(body) (IT_WAIT_MS); returns the last body (caller deletes); fails with it if never ok. */
static cJSON *get_until(const char *path, bool (*ok)(const cJSON *body), const char *what)
{
    struct poll_arg a = { .path = path, .ok = ok };
    if (!wait_until(W.sim, poll_get, &a, IT_WAIT_MS)) {
        char *t = a.last ? cJSON_PrintUnformatted(a.last) : NULL;
        char shown[600];
        snprintf(shown, sizeof shown, "%s", t ? t : "(no 200 answer)");
        free(t);
        cJSON_Delete(a.last);
        fail_msg("GET %s: never %s; last: %s", path, what, shown);
    }
    return a.last;
}

static const cJSON *connector(const cJSON *charger, int id)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(charger, "connectors"))
        if (ji(c, "connectorId") == id)
            return c;
    return NULL;
}

static bool has_two_connectors_and_boot(const cJSON *b)
{
    return connector(b, 1) && connector(b, 2) && js(b, "vendor") && js(b, "firmwareVersion");
}

static void test_get_charger_shape_with_connectors(void **state)
{
    (void)state;
    db_add_charger("irc-shape", NULL, 0);
    struct sim_charger *c = it_connect(W.sim, "irc-shape", NULL);
    cJSON *p = it_ok(c, "BootNotification",
                     "{\"chargePointVendor\":\"IrcVendor\",\"chargePointModel\":\"IrcModel-2\","
                     "\"chargePointSerialNumber\":\"IRC-SN-1\",\"firmwareVersion\":\"4.5.6\"}");
    cJSON_Delete(p);
    p = it_ok(c, "StatusNotification",
              "{\"connectorId\":1,\"errorCode\":\"NoError\",\"status\":\"Charging\",\"info\":\"irc info\","
              "\"timestamp\":\"2025-01-02T03:04:05Z\"}");
    cJSON_Delete(p);
    p = it_ok(c, "StatusNotification",
              "{\"connectorId\":2,\"errorCode\":\"GroundFailure\",\"status\":\"Faulted\","
              "\"vendorId\":\"irc.vendor\",\"vendorErrorCode\":\"E42\"}");
    cJSON_Delete(p);

    cJSON *b = get_until("/v1/chargers/irc-shape", has_two_connectors_and_boot, "showing the boot data and 2 connectors");
    api_check_schema(b, "Charger");
    api_check_str(b, "id", "irc-shape");
    api_check_str(b, "vendor", "IrcVendor");
    api_check_str(b, "model", "IrcModel-2");
    api_check_str(b, "serialNumber", "IRC-SN-1");
    api_check_str(b, "firmwareVersion", "4.5.6");
    api_check_str(b, "registrationStatus", "Accepted");
    api_check_bool(b, "connected", true);
    const char *seen = js(b, "lastSeenAt");
    if (!seen || seen[strlen(seen) - 1] != 'Z')
        fail_msg("lastSeenAt \"%s\" is not an ISO 8601 UTC time with Z", seen ? seen : "(null)");
    /* the documented fields are all there, null when unknown */
    const char *fields[] = { "name", "maxAvailableCurrent", "timeZone", "latitude", "longitude", "commissioningDate" };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (!cJSON_GetObjectItemCaseSensitive(b, fields[i]))
            fail_msg("GET /v1/chargers/irc-shape lacks \"%s\"", fields[i]);
    const cJSON *c1 = connector(b, 1), *c2 = connector(b, 2);
    api_check_str(c1, "status", "Charging");
    api_check_str(c1, "errorCode", "NoError");
    api_check_str(c1, "info", "irc info");
    const char *upd = js(c1, "updatedAt");
    if (!upd || upd[strlen(upd) - 1] != 'Z')
        fail_msg("connector 1 updatedAt \"%s\" is not an ISO 8601 UTC time", upd ? upd : "(null)");
    api_check_str(c2, "status", "Faulted");
    api_check_str(c2, "errorCode", "GroundFailure");
    api_check_str(c2, "vendorErrorCode", "E42");
    assert_non_null(js(c2, "updatedAt"));
    cJSON_Delete(b);
    sim_disconnect(c);
}

static bool is_connected(const cJSON *b)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "connected"));
}

/* connected, and lastSeenAt (written behind) there too */
static bool is_connected_and_seen(const cJSON *b)
{
    return is_connected(b) && js(b, "lastSeenAt");
}

static bool is_disconnected(const cJSON *b)
{
    return cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(b, "connected"));
}

/* Whether GET /v1/chargers?connected=<v>&search=irc-conn lists irc-conn. */
static bool listed_as(const char *v)
{
    char *path = it_strf("/v1/chargers?connected=%s&search=irc-conn&perPage=500", v);
    struct api_resp *r = get(path);
    free(path);
    bool in = api_count_with(api_data(api_expect(r, 200)), "id", "irc-conn") == 1;
    api_free(r);
    return in;
}

static bool in_connected_list(void *arg)
{
    (void)arg;
    return listed_as("true") && !listed_as("false");
}

static bool in_disconnected_list(void *arg)
{
    (void)arg;
    return !listed_as("true") && listed_as("false");
}

/* The connected=true/false filters agree with the state (the filter may follow it a little later). */
static void expect_listed_as(bool connected)
{
    if (!wait_until(W.sim, connected ? in_connected_list : in_disconnected_list, NULL, IT_WAIT_MS))
        fail_msg("GET /v1/chargers?connected=%s never lists irc-conn (and connected=%s still does)",
                 connected ? "true" : "false", connected ? "false" : "true");
}

static void test_connected_follows_the_simulator(void **state)
{
    (void)state;
    db_add_charger("irc-conn", NULL, 0);
    struct api_resp *r = get("/v1/chargers/irc-conn");
    api_check_bool(api_expect(r, 200), "connected", false);
    api_free(r);
    expect_listed_as(false);

    struct sim_charger *c = it_connect_booted(W.sim, "irc-conn", NULL);
    cJSON_Delete(get_until("/v1/chargers/irc-conn", is_connected_and_seen,
                           "connected: true with a lastSeenAt after the charger connected"));
    expect_listed_as(true);

    sim_disconnect(c);
    cJSON_Delete(get_until("/v1/chargers/irc-conn", is_disconnected, "connected: false after the charger closed"));
    expect_listed_as(false);

    /* a charger that loses power (TCP gone, no close frame) */
    c = it_connect_booted(W.sim, "irc-conn", NULL);
    cJSON_Delete(get_until("/v1/chargers/irc-conn", is_connected, "connected: true after reconnecting"));
    sim_drop(c);
    cJSON_Delete(get_until("/v1/chargers/irc-conn", is_disconnected, "connected: false after the TCP drop"));
    sim_disconnect(c);
}

static void test_unknown_charger_is_404(void **state)
{
    (void)state;
    const char *paths[] = { "/v1/chargers/irc-nope", "/v1/chargers/irc-nope/sessions",
                            "/v1/chargers/irc-nope/status-history" };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct api_resp *r = get(paths[i]);
        api_expect_error_naming(r, 404, "RESOURCE_NOT_FOUND", "irc-nope");
        api_free(r);
    }
    struct api_resp *r = api_patch(PORT, admin, "/v1/chargers/irc-nope", "{\"name\":\"x\"}");
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
    r = api_delete(PORT, admin, "/v1/chargers/irc-nope");
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
}

/* ---------------------------------------------------------------- change, delete */

static void test_patch_charger(void **state)
{
    (void)state;
    db_add_charger("irc-patch", NULL, 0);
    db_exec("UPDATE chargers SET time_zone = 'Europe/Paris', latitude = 1.5 WHERE id = 'irc-patch'");
    struct api_resp *r = api_patch(PORT, admin, "/v1/chargers/irc-patch",
                                   "{\"name\":\"Depot 2\",\"maxAvailableCurrent\":16,\"timeZone\":null,"
                                   "\"commissioningDate\":\"2024-12-31\"}");
    const cJSON *c = api_expect(r, 200);
    api_check_schema(c, "Charger");
    api_check_str(c, "id", "irc-patch");
    api_check_str(c, "name", "Depot 2");
    api_check_int(c, "maxAvailableCurrent", 16);
    api_check_null(c, "timeZone");
    api_check_str(c, "commissioningDate", "2024-12-31");
    /* absent fields stay */
    if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(c, "latitude")) ||
        cJSON_GetObjectItemCaseSensitive(c, "latitude")->valuedouble != 1.5)
        fail_msg("PATCH without latitude changed it: %s", r->body);
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'irc-patch' AND name = 'Depot 2'"
                            " AND max_available_current = 16 AND time_zone IS NULL AND latitude = 1.5"
                            " AND commissioning_date = '2024-12-31'"), 1);

    static const struct api_bad cases[] = {
        { "{\"colour\":\"red\"}", "colour" },
        { "{\"maxAvailableCurrent\":\"x\"}", "maxAvailableCurrent" },
        { "{\"commissioningDate\":\"yesterday\"}", "commissioningDate" },
        { "{\"latitude\":-91}", "latitude" },
        { "{\"id\":\"irc-other\"}", "id" },
    };
    api_expect_bad_bodies(PORT, admin, "PATCH", "/v1/chargers/irc-patch", cases, API_COUNT(cases));
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'irc-patch' AND name = 'Depot 2'"
                            " AND max_available_current = 16 AND latitude = 1.5"), 1);
}

static void test_delete_charger_keeps_its_sessions(void **state)
{
    (void)state;
    db_add_charger("irc-del", NULL, 0);
    char *sid = db_str("INSERT INTO sessions (transaction_id, charger_id, connector_id, id_tag, auth_status, status,"
                       " start_time, end_time, meter_start, meter_stop, energy_wh) VALUES (72000001, 'irc-del', 1,"
                       " 'irc-tag', 'Accepted', 'completed', now() - interval '1 hour', now(), 0, 1500, 1500)"
                       " RETURNING id");
    struct api_resp *r = api_delete(PORT, admin, "/v1/chargers/irc-del");
    api_expect(r, 204);
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'irc-del'"), 0);
    r = get("/v1/chargers/irc-del");
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
    /* the session stays, in the table and in the API */
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE id = $1::bigint", sid), 1);
    char *path = it_strf("/v1/sessions/%s", sid);
    r = get(path);
    const cJSON *s = api_expect(r, 200);
    api_check_str(s, "chargerId", "irc-del");
    api_check_int(s, "energy", 1500);
    api_free(r);
    free(path);
    r = api_delete(PORT, admin, "/v1/chargers/irc-del");
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
    free(sid);
}

/* ---------------------------------------------------------------- lists */

static void test_list_offset_pages(void **state)
{
    (void)state;
    const char *ids[] = { "irc-pg1", "irc-pg2", "irc-pg3", "irc-pg4", "irc-pg5" };
    for (size_t i = 0; i < 5; i++)
        db_add_charger(ids[i], NULL, 0);
    int seen[5] = { 0 };
    for (int page = 0; page < 3; page++) {
        char *path = it_strf("/v1/chargers?search=irc-pg&perPage=2&page=%d&sort=id", page);
        struct api_resp *r = get(path);
        free(path);
        const cJSON *b = api_expect(r, 200);
        api_check_schema(b, "ChargerList");
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(b, "meta");
        api_check_int(meta, "perPage", 2);
        api_check_int(meta, "page", page);
        api_check_int(meta, "total", 5);
        api_check_int(meta, "itemCount", page < 2 ? 2 : 1);
        const cJSON *item;
        cJSON_ArrayForEach(item, api_data(b))
            for (int i = 0; i < 5; i++)
                if (js(item, "id") && strcmp(js(item, "id"), ids[i]) == 0)
                    seen[i]++;
        api_free(r);
    }
    for (int i = 0; i < 5; i++)
        if (seen[i] != 1)
            fail_msg("%s seen %d times over the three pages", ids[i], seen[i]);

    /* past the end: empty data, still an array */
    struct api_resp *r = get("/v1/chargers?search=irc-pg&perPage=2&page=3");
    const cJSON *b = api_expect(r, 200);
    assert_int_equal(cJSON_GetArraySize(api_data(b)), 0);
    api_check_int(cJSON_GetObjectItemCaseSensitive(b, "meta"), "itemCount", 0);
    api_check_int(cJSON_GetObjectItemCaseSensitive(b, "meta"), "total", 5);
    api_free(r);

    /* defaults: page 0, 50 per page */
    r = get("/v1/chargers?search=irc-pg");
    b = api_expect(r, 200);
    api_check_int(cJSON_GetObjectItemCaseSensitive(b, "meta"), "perPage", 50);
    api_check_int(cJSON_GetObjectItemCaseSensitive(b, "meta"), "page", 0);
    api_free(r);

    /* sort and order */
    r = get("/v1/chargers?search=irc-pg&sort=id&order=desc");
    const cJSON *data = api_data(api_expect(r, 200));
    api_check_str(cJSON_GetArrayItem(data, 0), "id", "irc-pg5");
    api_check_str(cJSON_GetArrayItem(data, 4), "id", "irc-pg1");
    api_free(r);
    r = get("/v1/chargers?search=irc-pg&sort=id&order=asc&perPage=500");
    data = api_data(api_expect(r, 200));
    api_check_str(cJSON_GetArrayItem(data, 0), "id", "irc-pg1");
    api_free(r);
}

static void test_list_bad_parameters_are_400(void **state)
{
    (void)state;
    static const struct api_bad cases[] = {
        { "sort=colour", "sort" },       { "order=sideways", "order" }, { "perPage=0", "perPage" },
        { "perPage=501", "perPage" },    { "perPage=ten", "perPage" },  { "page=-1", "page" },
        { "page=first", "page" },        { "connected=maybe", "connected" },
        { "status=Sleeping", "status" }, { "colour=red", "colour" },
    };
    api_expect_bad_queries(PORT, admin, "/v1/chargers", cases, API_COUNT(cases));
}

static void expect_listed(const char *path, const char *want)
{
    api_expect_listed(PORT, admin, path, "id", want);
}

static void test_list_filters(void **state)
{
    (void)state;
    db_add_charger("irc-f1", NULL, 0);
    db_add_charger("irc-f2", NULL, 0);
    db_add_charger("irc-f3", NULL, 0);
    db_exec("INSERT INTO sites (id, name) VALUES ('irc-site', 'IRC Site')");
    db_exec("UPDATE chargers SET site_id = 'irc-site', name = 'Harbour North' WHERE id = 'irc-f2'");
    db_exec("UPDATE chargers SET name = 'harbour south' WHERE id = 'irc-f3'");
    db_exec("INSERT INTO connectors (charger_id, connector_id, status) VALUES ('irc-f1', 1, 'Faulted'),"
            " ('irc-f2', 1, 'Available'), ('irc-f3', 1, 'Faulted'), ('irc-f3', 2, 'Faulted')");

    expect_listed("/v1/chargers?chargerIds[]=irc-f1&chargerIds[]=irc-f3&sort=id", "irc-f1,irc-f3");
    expect_listed("/v1/chargers?chargerIds%5B%5D=irc-f1&chargerIds%5B%5D=irc-f3&sort=id", "irc-f1,irc-f3");
    expect_listed("/v1/chargers?chargerIds=irc-f2,irc-f3&sort=id", "irc-f2,irc-f3");
    expect_listed("/v1/chargers?chargerIds=irc-f2&sort=id", "irc-f2");
    expect_listed("/v1/chargers?siteId=irc-site&sort=id", "irc-f2");
    expect_listed("/v1/chargers?search=irc-f&status=Faulted&sort=id", "irc-f1,irc-f3");
    expect_listed("/v1/chargers?search=irc-f&status=Available&sort=id", "irc-f2");
    /* search: id or name, case-insensitive */
    expect_listed("/v1/chargers?search=HARBOUR&sort=id", "irc-f2,irc-f3");
    expect_listed("/v1/chargers?search=irc-f2&sort=id", "irc-f2");
    expect_listed("/v1/chargers?search=irc-f&connected=false&chargerIds=irc-f1,irc-f2&sort=id", "irc-f1,irc-f2");
    expect_listed("/v1/chargers?search=irc-f&connected=true", "");
    expect_listed("/v1/chargers?chargerIds[]=irc-none", "");
}

/* ---------------------------------------------------------------- status history */

static void test_status_history_cursor_pages(void **state)
{
    (void)state;
    db_add_charger("irc-hist", NULL, 0);
    struct sim_charger *c = it_connect_booted(W.sim, "irc-hist", NULL);
    const char *statuses[] = { "Available", "Preparing", "Charging" };
    for (int i = 0; i < 3; i++) {
        char *p = it_strf("{\"connectorId\":1,\"errorCode\":\"NoError\",\"status\":\"%s\","
                          "\"timestamp\":\"2025-02-01T10:0%d:00Z\"}", statuses[i], i);
        cJSON_Delete(it_ok(c, "StatusNotification", p));
        free(p);
    }
    assert_int_equal(db_wait_int(IT_WAIT_MS, 3, "SELECT count(*) FROM status_history WHERE charger_id = 'irc-hist'"), 3);

    for (int per = 1; per <= 2; per++) {
        char *path = it_strf("/v1/chargers/irc-hist/status-history?perPage=%d", per);
        int pages = 0;
        cJSON *all = api_walk(PORT, admin, path, 10, &pages);
        free(path);
        if (cJSON_GetArraySize(all) != 3)
            fail_msg("status history walked with perPage=%d: %d items, expected 3", per, cJSON_GetArraySize(all));
        for (int i = 0; i < 3; i++)
            assert_int_equal(api_count_with(all, "status", statuses[i]), 1);
        const cJSON *item;
        cJSON_ArrayForEach(item, all) {
            api_check_schema(item, "StatusChange");
            api_check_int(item, "connectorId", 1);
            api_check_str(item, "errorCode", "NoError");
        }
        cJSON_Delete(all);
    }
    /* oldest first, and the reverse */
    struct api_resp *r = get("/v1/chargers/irc-hist/status-history?order=asc");
    api_check_schema(api_expect(r, 200), "StatusChangeList");
    const cJSON *data = api_data(api_expect(r, 200));
    api_check_str(cJSON_GetArrayItem(data, 0), "status", "Available");
    api_check_str(cJSON_GetArrayItem(data, 2), "status", "Charging");
    api_free(r);
    r = get("/v1/chargers/irc-hist/status-history?order=desc");
    data = api_data(api_expect(r, 200));
    api_check_str(cJSON_GetArrayItem(data, 0), "status", "Charging");
    api_free(r);
    r = get("/v1/chargers/irc-hist/status-history?after=not-a-cursor");
    api_expect_error_naming(r, 400, "BAD_REQUEST", "after");
    api_free(r);
    sim_disconnect(c);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, it_test_setup, it_test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_create_charger_then_it_connects_with_its_key),
        T(test_create_existing_id_is_409),
        T(test_create_invalid_is_422_naming_the_field),
        T(test_get_charger_shape_with_connectors),
        T(test_connected_follows_the_simulator),
        T(test_unknown_charger_is_404),
        T(test_patch_charger),
        T(test_delete_charger_keeps_its_sessions),
        T(test_list_offset_pages),
        T(test_list_bad_parameters_are_400),
        T(test_list_filters),
        T(test_status_history_cursor_pages),
    };
    return cmocka_run_group_tests(tests, group_setup, api_group_teardown);
}
