/*
 * Integration: tariffs through the REST API (../shared/spec/sites-and-tariffs.md,
 * "Tariffs"; src/rest/res_tariffs.c, sql/015_tariffs.sql): create (201,
 * Location, version 1), read, change (each PATCH a new immutable version,
 * ?version=N reads an old one, 404 for a version that does not exist),
 * offset pages, delete; 422 naming each bad field, down to
 * "elements[1].restrictions.startTime"; at most one default tariff (409);
 * assignment to sites, chargers and tokens and the precedence token >
 * charger > site > default seen through GET /v1/chargers/{id}/tariff; 409
 * RESOURCE_IN_USE for deleting an assigned tariff; scopes and keys limited
 * to chargers or sites; the tariff and version frozen on a session at its
 * start (GET /v1/sessions/{id}). Every answer is checked against
 * docs/openapi.json.
 *
 * Tariff, site, charger and token ids and key names start with "irt-".
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

static char *admin;

/* A valid body: day and night elements, a window across midnight, a clamp. */
#define TARIFF_BODY(id, name, extra)                                                                       \
    "{\"id\":\"" id "\",\"name\":\"" name "\",\"currency\":\"EUR\",\"vatPercent\":19,"                    \
    "\"validFrom\":\"2026-01-01T00:00:00Z\",\"validTo\":null,"                                             \
    "\"elements\":[{\"energy\":39.5,\"time\":2,\"idle\":10,\"idleGraceMinutes\":15,\"sessionFee\":50,"     \
    "\"restrictions\":{\"startTime\":\"07:00\",\"endTime\":\"22:00\","                                    \
    "\"daysOfWeek\":[\"MONDAY\",\"TUESDAY\",\"WEDNESDAY\",\"THURSDAY\",\"FRIDAY\"]}},"                   \
    "{\"energy\":29,\"restrictions\":{\"startTime\":\"22:00\",\"endTime\":\"07:00\"}},{\"energy\":35}],"  \
    "\"minPrice\":null,\"maxPrice\":5000" extra "}"

static int group_setup(void **state)
{
    (void)state;
    gw_migrate_once();
    db_exec("UPDATE sites SET tariff_id = NULL WHERE tariff_id LIKE 'irt-%'");
    db_exec("UPDATE chargers SET tariff_id = NULL WHERE tariff_id LIKE 'irt-%'");
    db_exec("UPDATE tokens SET tariff_id = NULL WHERE tariff_id LIKE 'irt-%'");
    db_exec("DELETE FROM sessions WHERE charger_id LIKE 'irt-%'");
    db_exec("DELETE FROM chargers WHERE id LIKE 'irt-%'");
    db_exec("DELETE FROM sites WHERE id LIKE 'irt-%'");
    db_exec("DELETE FROM tokens WHERE id_tag LIKE 'irt-%'");
    db_exec("DELETE FROM tariffs WHERE id LIKE 'irt-%'");
    db_exec("DELETE FROM api_keys WHERE name LIKE 'irt-%'");
    admin = api_group_start("it_rest_tariffs", "irt-admin");
    return 0;
}

static struct api_resp *get(const char *path)
{
    return api_get(PORT, admin, path);
}

static struct api_resp *put(const char *key, const char *path, const char *body)
{
    struct api_req q = { .method = "PUT", .path = path, .key = key, .body = body };
    return api_send(PORT, &q);
}

/* POSTs a tariff as admin; fails unless 201. */
static void make_tariff(const char *body)
{
    struct api_resp *r = api_post(PORT, admin, "/v1/tariffs", body);
    api_check_schema(api_expect(r, 201), "Tariff");
    api_free(r);
}

/* PUTs {"tariffId": tariff_json} on path as admin; fails unless 200. */
static void assign(const char *path, const char *tariff_json)
{
    char *body = it_strf("{\"tariffId\":%s}", tariff_json);
    struct api_resp *r = put(admin, path, body);
    const cJSON *b = api_expect(r, 200);
    if (strcmp(tariff_json, "null") == 0)
        api_check_null(b, "tariffId");
    free(body);
    api_free(r);
}

/* GETs the effective tariff of a charger (path with its query) and checks source and tariff id (NULL: none). */
static void expect_effective(const char *path, const char *source, const char *tariff)
{
    struct api_resp *r = get(path);
    const cJSON *b = api_expect(r, 200);
    api_check_schema(b, "EffectiveTariff");
    if (!source) {
        api_check_null(b, "source");
        api_check_null(b, "tariff");
    } else {
        api_check_str(b, "source", source);
        api_check_str(cJSON_GetObjectItemCaseSensitive(b, "tariff"), "id", tariff);
    }
    api_free(r);
}

static void expect_forbidden(const char *key, const char *method, const char *path, const char *body)
{
    struct api_req q = { .method = method, .path = path, .key = key, .body = body };
    struct api_resp *r = api_send(PORT, &q);
    api_expect_error(r, 403, "ACCESS_FORBIDDEN");
    api_free(r);
}

/* ---------------------------------------------------------------- create, read, versions */

static void test_create_read_and_versions(void **state)
{
    (void)state;
    struct api_resp *r = api_post(PORT, admin, "/v1/tariffs", TARIFF_BODY("irt-1", "Standard", ""));
    const cJSON *t = api_expect(r, 201);
    api_check_schema(t, "Tariff");
    const char *loc = api_header(r, "Location");
    if (!loc || strcmp(loc, "/v1/tariffs/irt-1") != 0)
        fail_msg("Location \"%s\", expected /v1/tariffs/irt-1", loc ? loc : "(absent)");
    api_check_str(t, "id", "irt-1");
    api_check_int(t, "version", 1);
    api_check_int(t, "currentVersion", 1);
    api_check_str(t, "currency", "EUR");
    api_check_bool(t, "default", false);
    api_check_null(t, "minPrice");
    assert_true(cJSON_GetObjectItemCaseSensitive(t, "vatPercent")->valuedouble == 19);
    assert_true(cJSON_GetObjectItemCaseSensitive(t, "maxPrice")->valuedouble == 5000);
    const cJSON *els = cJSON_GetObjectItemCaseSensitive(t, "elements");
    assert_int_equal(cJSON_GetArraySize(els), 3);
    assert_true(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(els, 0), "energy")->valuedouble == 39.5);
    api_check_str(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(els, 1), "restrictions"), "startTime",
                  "22:00");
    api_free(r);

    r = api_post(PORT, admin, "/v1/tariffs", TARIFF_BODY("irt-1", "again", ""));
    api_expect_error(r, 409, "CONFLICT");
    api_free(r);

    /* a PATCH is version 2; the elements carried over, version 1 as it was */
    r = api_patch(PORT, admin, "/v1/tariffs/irt-1", "{\"name\":\"Standard 2027\",\"vatPercent\":7.5}");
    t = api_expect(r, 200);
    api_check_schema(t, "Tariff");
    api_check_int(t, "version", 2);
    api_check_int(t, "currentVersion", 2);
    api_check_str(t, "name", "Standard 2027");
    assert_true(cJSON_GetObjectItemCaseSensitive(t, "vatPercent")->valuedouble == 7.5);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(t, "elements")), 3);
    api_free(r);
    r = api_patch(PORT, admin, "/v1/tariffs/irt-1", "{\"elements\":[{\"energy\":41}],\"maxPrice\":null}");
    t = api_expect(r, 200);
    api_check_int(t, "version", 3);
    api_check_null(t, "maxPrice");
    api_check_str(t, "name", "Standard 2027");
    api_free(r);

    r = get("/v1/tariffs/irt-1");
    t = api_expect(r, 200);
    api_check_schema(t, "Tariff");
    api_check_int(t, "version", 3);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(t, "elements")), 1);
    api_free(r);
    r = get("/v1/tariffs/irt-1?version=1");
    t = api_expect(r, 200);
    api_check_schema(t, "Tariff");
    api_check_int(t, "version", 1);
    api_check_int(t, "currentVersion", 3);
    api_check_str(t, "name", "Standard");
    assert_true(cJSON_GetObjectItemCaseSensitive(t, "vatPercent")->valuedouble == 19);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(t, "elements")), 3);
    api_free(r);
    r = get("/v1/tariffs/irt-1?version=2");
    api_check_str(api_expect(r, 200), "name", "Standard 2027");
    api_free(r);
    r = get("/v1/tariffs/irt-1?version=4");
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
    static const struct api_bad bad_queries[] = { { "version=0", "version" }, { "version=x", "version" },
                                                  { "vers=1", "vers" } };
    api_expect_bad_queries(PORT, admin, "/v1/tariffs/irt-1", bad_queries, API_COUNT(bad_queries));

    /* versions are immutable rows */
    assert_int_equal(db_int("SELECT count(*) FROM tariff_versions WHERE tariff_id = 'irt-1'"), 3);
    assert_int_equal(db_int("SELECT count(*) FROM tariff_versions WHERE tariff_id = 'irt-1' AND version = 1"
                            " AND name = 'Standard' AND vat_percent = 19 AND max_price = 5000"),
                     1);
    api_expect_missing(PORT, admin, "/v1/tariffs/irt-nothing", "{\"name\":\"x\"}", "irt-nothing");
}

static void test_list_pages(void **state)
{
    (void)state;
    for (int i = 1; i <= 5; i++) {
        char *body = it_strf("{\"id\":\"irt-p%d\",\"currency\":\"%s\",\"vatPercent\":0,\"elements\":[{\"time\":1}]}",
                             i, i % 2 ? "CHF" : "EUR");
        make_tariff(body);
        free(body);
    }
    int64_t total = 0;
    cJSON *all = api_offset_walk(PORT, admin, "/v1/tariffs?search=irt-p", 2, "TariffList", &total);
    assert_int_equal(total, 5);
    api_expect_each_once(all, "id", "irt-p", 5);
    cJSON_Delete(all);
    api_expect_listed(PORT, admin, "/v1/tariffs?search=irt-p&currency=chf&sort=id&order=desc", "id",
                      "irt-p5,irt-p3,irt-p1");
}

/* ---------------------------------------------------------------- validation */

static void test_invalid_tariff_is_422_naming_the_field(void **state)
{
    (void)state;
#define EL "\"elements\":[{\"energy\":30}]"
    static const struct api_bad cases[] = {
        { "{\"currency\":\"EUR\",\"vatPercent\":19," EL "}", "id" },
        { "{\"id\":\"irt-v1\",\"vatPercent\":19," EL "}", "currency" },
        { "{\"id\":\"irt-v2\",\"currency\":\"eur\",\"vatPercent\":19," EL "}", "currency" },
        { "{\"id\":\"irt-v3\",\"currency\":\"EURO\",\"vatPercent\":19," EL "}", "currency" },
        { "{\"id\":\"irt-v4\",\"currency\":\"EUR\",\"vatPercent\":101," EL "}", "vatPercent" },
        { "{\"id\":\"irt-v5\",\"currency\":\"EUR\",\"vatPercent\":-1," EL "}", "vatPercent" },
        { "{\"id\":\"irt-v6\",\"currency\":\"EUR\",\"vatPercent\":19.123," EL "}", "vatPercent" },
        { "{\"id\":\"irt-v7\",\"currency\":\"EUR\",\"vatPercent\":19}", "elements" },
        { "{\"id\":\"irt-v8\",\"currency\":\"EUR\",\"vatPercent\":19,\"elements\":[]}", "elements" },
        { "{\"id\":\"irt-v9\",\"currency\":\"EUR\",\"vatPercent\":19,\"elements\":{}}", "elements" },
        { "{\"id\":\"irt-v10\",\"currency\":\"EUR\",\"vatPercent\":19,\"elements\":[{\"energy\":30},"
          "{\"energy\":20,\"restrictions\":{\"startTime\":\"25:00\"}}]}",
          "elements[1].restrictions.startTime" },
        { "{\"id\":\"irt-v11\",\"currency\":\"EUR\",\"vatPercent\":19,\"elements\":[{\"energy\":30,"
          "\"restrictions\":{\"endTime\":\"7:00\"}}]}",
          "elements[0].restrictions.endTime" },
        { "{\"id\":\"irt-v12\",\"currency\":\"EUR\",\"vatPercent\":19,\"elements\":[{\"energy\":30,"
          "\"restrictions\":{\"daysOfWeek\":[\"FUNDAY\"]}}]}",
          "elements[0].restrictions.daysOfWeek" },
        { "{\"id\":\"irt-v13\",\"currency\":\"EUR\",\"vatPercent\":19,\"elements\":[{\"energy\":-1}]}",
          "elements[0].energy" },
        { "{\"id\":\"irt-v14\",\"currency\":\"EUR\",\"vatPercent\":19,\"elements\":[{\"time\":0.00001}]}",
          "elements[0].time" },
        { "{\"id\":\"irt-v15\",\"currency\":\"EUR\",\"vatPercent\":19,\"elements\":[{\"sessionFee\":\"5\"}]}",
          "elements[0].sessionFee" },
        { "{\"id\":\"irt-v16\",\"currency\":\"EUR\",\"vatPercent\":19,\"elements\":[{\"idleGraceMinutes\":1.5}]}",
          "elements[0].idleGraceMinutes" },
        { "{\"id\":\"irt-v17\",\"currency\":\"EUR\",\"vatPercent\":19,\"elements\":[{\"energy\":1,\"parking\":2}]}",
          "elements[0].parking" },
        { "{\"id\":\"irt-v18\",\"currency\":\"EUR\",\"vatPercent\":19,\"elements\":[5]}", "elements[0]" },
        { "{\"id\":\"irt-v19\",\"currency\":\"EUR\",\"vatPercent\":19," EL ",\"minPrice\":10,\"maxPrice\":5}",
          "maxPrice" },
        { "{\"id\":\"irt-v20\",\"currency\":\"EUR\",\"vatPercent\":19," EL ",\"minPrice\":-5}", "minPrice" },
        { "{\"id\":\"irt-v21\",\"currency\":\"EUR\",\"vatPercent\":19," EL ",\"default\":\"yes\"}", "default" },
        { "{\"id\":\"irt-v22\",\"currency\":\"EUR\",\"vatPercent\":19," EL ",\"validFrom\":\"soon\"}", "validFrom" },
        { "{\"id\":\"irt v23\",\"currency\":\"EUR\",\"vatPercent\":19," EL "}", "id" },
        { "{\"id\":\"irt-v24\",\"currency\":\"EUR\",\"vatPercent\":19," EL ",\"color\":\"red\"}", "color" },
    };
    api_expect_bad_bodies(PORT, admin, "POST", "/v1/tariffs", cases, API_COUNT(cases));
    assert_int_equal(db_int("SELECT count(*) FROM tariffs WHERE id LIKE 'irt-v%' OR id LIKE 'irt v%'"), 0);

    make_tariff("{\"id\":\"irt-v\",\"currency\":\"EUR\",\"vatPercent\":19," EL "}");
    static const struct api_bad patches[] = {
        { "{\"id\":\"irt-other\"}", "id" },
        { "{\"elements\":null}", "elements" },
        { "{\"elements\":[{\"energy\":1},{\"restrictions\":{\"startTime\":\"12:60\"}}]}",
          "elements[1].restrictions.startTime" },
        { "{\"currency\":\"E1R\"}", "currency" },
        { "{\"minPrice\":100,\"maxPrice\":50}", "maxPrice" },
    };
    api_expect_bad_bodies(PORT, admin, "PATCH", "/v1/tariffs/irt-v", patches, API_COUNT(patches));
    assert_int_equal(db_int("SELECT current_version FROM tariffs WHERE id = 'irt-v'"), 1);
#undef EL
}

/* ---------------------------------------------------------------- default */

static void test_one_default(void **state)
{
    (void)state;
    db_exec("UPDATE tariffs SET is_default = false WHERE is_default");
    make_tariff(TARIFF_BODY("irt-d1", "Default", ",\"default\":true"));
    struct api_resp *r = api_post(PORT, admin, "/v1/tariffs", TARIFF_BODY("irt-d2", "Second", ",\"default\":true"));
    api_expect_error(r, 409, "CONFLICT");
    api_free(r);
    make_tariff(TARIFF_BODY("irt-d2", "Second", ""));
    r = api_patch(PORT, admin, "/v1/tariffs/irt-d2", "{\"default\":true}");
    api_expect_error(r, 409, "CONFLICT");
    api_free(r);
    /* the default moves: off the first, then on the second */
    r = api_patch(PORT, admin, "/v1/tariffs/irt-d1", "{\"default\":false}");
    api_check_bool(api_expect(r, 200), "default", false);
    api_free(r);
    r = api_patch(PORT, admin, "/v1/tariffs/irt-d2", "{\"default\":true}");
    api_check_bool(api_expect(r, 200), "default", true);
    api_free(r);
    api_expect_listed(PORT, admin, "/v1/tariffs?default=true", "id", "irt-d2");
    db_exec("UPDATE tariffs SET is_default = false WHERE is_default");
}

/* ---------------------------------------------------------------- assignment and precedence */

static void test_assignment_and_precedence(void **state)
{
    (void)state;
    db_exec("UPDATE tariffs SET is_default = false WHERE is_default");
    make_tariff(TARIFF_BODY("irt-site", "Site", ""));
    make_tariff(TARIFF_BODY("irt-charger", "Charger", ""));
    make_tariff(TARIFF_BODY("irt-token", "Token", ""));
    make_tariff(TARIFF_BODY("irt-default", "Default", ""));
    struct api_resp *r = api_post(PORT, admin, "/v1/sites", "{\"id\":\"irt-s1\"}");
    api_expect(r, 201);
    api_free(r);
    db_add_charger("irt-c1", NULL, 0);
    r = api_patch(PORT, admin, "/v1/chargers/irt-c1", "{\"siteId\":\"irt-s1\"}");
    api_expect(r, 200);
    api_free(r);
    r = api_post(PORT, admin, "/v1/tokens", "{\"idTag\":\"irt-TAG\"}");
    api_expect(r, 201);
    api_free(r);

    const char *eff = "/v1/chargers/irt-c1/tariff?idTag=irt-TAG";
    expect_effective(eff, NULL, NULL);                  /* nothing applies: no cost */
    expect_effective("/v1/chargers/irt-c1/tariff", NULL, NULL);
    r = api_patch(PORT, admin, "/v1/tariffs/irt-default", "{\"default\":true}");
    api_expect(r, 200);
    api_free(r);
    expect_effective(eff, "default", "irt-default");
    assign("/v1/sites/irt-s1/tariff", "\"irt-site\"");
    expect_effective(eff, "site", "irt-site");
    assign("/v1/chargers/irt-c1/tariff", "\"irt-charger\"");
    expect_effective(eff, "charger", "irt-charger");
    r = put(admin, "/v1/tokens/irt-tag/tariff", "{\"tariffId\":\"irt-token\"}");  /* idTags in any case */
    api_check_str(api_expect(r, 200), "idTag", "irt-TAG");
    api_check_schema(api_expect(r, 200), "TokenTariff");
    api_free(r);
    expect_effective(eff, "token", "irt-token");
    expect_effective("/v1/chargers/irt-c1/tariff", "charger", "irt-charger");  /* no token given */
    expect_effective("/v1/chargers/irt-c1/tariff?idTag=irt-other", "charger", "irt-charger");
    /* the effective tariff is the current version */
    r = api_patch(PORT, admin, "/v1/tariffs/irt-token", "{\"name\":\"Token v2\"}");
    api_expect(r, 200);
    api_free(r);
    r = get(eff);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(api_expect(r, 200), "tariff");
    api_check_int(t, "version", 2);
    api_check_str(t, "name", "Token v2");
    api_free(r);
    /* cleared one by one, the next one down applies */
    assign("/v1/tokens/irt-TAG/tariff", "null");
    expect_effective(eff, "charger", "irt-charger");
    assign("/v1/chargers/irt-c1/tariff", "null");
    expect_effective(eff, "site", "irt-site");
    assign("/v1/sites/irt-s1/tariff", "null");
    expect_effective(eff, "default", "irt-default");
    db_exec("UPDATE tariffs SET is_default = false WHERE is_default");
    expect_effective(eff, NULL, NULL);

    /* an unknown tariff, an unknown target, a bad body */
    r = put(admin, "/v1/chargers/irt-c1/tariff", "{\"tariffId\":\"irt-nothing\"}");
    api_expect_error_naming(r, 422, "UNPROCESSABLE_ENTITY", "tariffId");
    api_free(r);
    static const struct api_bad bad[] = { { "{}", "tariffId" }, { "{\"tariffId\":5}", "tariffId" },
                                          { "{\"tariffId\":\"irt-site\",\"x\":1}", "x" } };
    api_expect_bad_bodies(PORT, admin, "PUT", "/v1/sites/irt-s1/tariff", bad, API_COUNT(bad));
    r = put(admin, "/v1/sites/irt-nowhere/tariff", "{\"tariffId\":\"irt-site\"}");
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
    r = put(admin, "/v1/chargers/irt-nowhere/tariff", "{\"tariffId\":\"irt-site\"}");
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
    r = put(admin, "/v1/tokens/irt-nowhere/tariff", "{\"tariffId\":\"irt-site\"}");
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
    r = get("/v1/chargers/irt-nowhere/tariff");
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
}

/* ---------------------------------------------------------------- delete */

static void test_delete_in_use(void **state)
{
    (void)state;
    make_tariff(TARIFF_BODY("irt-del", "Delete me", ""));
    struct api_resp *r = api_post(PORT, admin, "/v1/sites", "{\"id\":\"irt-s2\"}");
    api_expect(r, 201);
    api_free(r);
    db_add_charger("irt-c2", NULL, 0);
    r = api_post(PORT, admin, "/v1/tokens", "{\"idTag\":\"irt-T2\"}");
    api_expect(r, 201);
    api_free(r);
    static const char *const owners[] = { "/v1/sites/irt-s2/tariff", "/v1/chargers/irt-c2/tariff",
                                          "/v1/tokens/irt-T2/tariff" };
    for (size_t i = 0; i < 3; i++) {
        assign(owners[i], "\"irt-del\"");
        r = api_delete(PORT, admin, "/v1/tariffs/irt-del");
        api_expect_error(r, 409, "RESOURCE_IN_USE");
        api_free(r);
        assign(owners[i], "null");
    }
    assert_int_equal(db_int("SELECT count(*) FROM tariffs WHERE id = 'irt-del'"), 1);
    r = api_delete(PORT, admin, "/v1/tariffs/irt-del");
    api_expect(r, 204);
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM tariff_versions WHERE tariff_id = 'irt-del'"), 0);
    api_expect_missing(PORT, admin, "/v1/tariffs/irt-del", "{\"name\":\"x\"}", "irt-del");
}

/* ---------------------------------------------------------------- scopes and limited keys */

static char *key_with(const char *name, const char *scopes_json, const char *limit)
{
    char *body = it_strf("{\"name\":\"%s\",\"scopes\":%s%s}", name, scopes_json, limit);
    struct api_resp *r = api_post(PORT, admin, "/v1/api-keys", body);
    free(body);
    char *key = strdup(js(api_expect(r, 201), "secret") ?: "");
    api_free(r);
    return key;
}

static void test_scopes_and_limited_keys(void **state)
{
    (void)state;
    make_tariff(TARIFF_BODY("irt-k", "Keys", ""));
    struct api_resp *r = api_post(PORT, admin, "/v1/sites", "{\"id\":\"irt-ks1\"}");
    api_expect(r, 201);
    api_free(r);
    r = api_post(PORT, admin, "/v1/sites", "{\"id\":\"irt-ks2\"}");
    api_expect(r, 201);
    api_free(r);
    db_add_charger("irt-kc1", NULL, 0);
    db_add_charger("irt-kc2", NULL, 0);

    char *reader = key_with("irt-reader", "[\"tariffs:read\"]", "");
    r = api_get(PORT, reader, "/v1/tariffs/irt-k");
    api_expect(r, 200);
    api_free(r);
    expect_forbidden(reader, "POST", "/v1/tariffs", TARIFF_BODY("irt-k2", "No", ""));
    expect_forbidden(reader, "PATCH", "/v1/tariffs/irt-k", "{\"name\":\"No\"}");
    expect_forbidden(reader, "DELETE", "/v1/tariffs/irt-k", NULL);
    expect_forbidden(reader, "PUT", "/v1/chargers/irt-kc1/tariff", "{\"tariffId\":\"irt-k\"}");
    char *other = key_with("irt-other", "[\"chargers:read\",\"chargers:write\"]", "");
    expect_forbidden(other, "GET", "/v1/tariffs", NULL);
    expect_forbidden(other, "GET", "/v1/chargers/irt-kc1/tariff", NULL);
    expect_forbidden(other, "PUT", "/v1/sites/irt-ks1/tariff", "{\"tariffId\":\"irt-k\"}");

    /* limited to a charger: tariffs are global, chargers are not */
    char *one = key_with("irt-one", "[\"tariffs:read\",\"tariffs:write\"]", ",\"chargerIds\":[\"irt-kc1\"]");
    r = api_get(PORT, one, "/v1/tariffs/irt-k");
    api_expect(r, 200);
    api_free(r);
    api_expect_listed(PORT, one, "/v1/tariffs?search=irt-k&sort=id", "id", "irt-k");
    r = api_get(PORT, one, "/v1/chargers/irt-kc1/tariff");
    api_expect(r, 200);
    api_free(r);
    r = put(one, "/v1/chargers/irt-kc1/tariff", "{\"tariffId\":\"irt-k\"}");
    api_expect(r, 200);
    api_free(r);
    expect_forbidden(one, "GET", "/v1/chargers/irt-kc2/tariff", NULL);
    expect_forbidden(one, "PUT", "/v1/chargers/irt-kc2/tariff", "{\"tariffId\":\"irt-k\"}");
    expect_forbidden(one, "PUT", "/v1/sites/irt-ks1/tariff", "{\"tariffId\":\"irt-k\"}");
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'irt-kc2' AND tariff_id IS NOT NULL"), 0);

    /* limited to a site */
    char *site = key_with("irt-site", "[\"tariffs:write\"]", ",\"siteIds\":[\"irt-ks1\"]");
    r = put(site, "/v1/sites/irt-ks1/tariff", "{\"tariffId\":\"irt-k\"}");
    api_expect(r, 200);
    api_free(r);
    expect_forbidden(site, "PUT", "/v1/sites/irt-ks2/tariff", "{\"tariffId\":\"irt-k\"}");
    assert_int_equal(db_int("SELECT count(*) FROM sites WHERE id = 'irt-ks2' AND tariff_id IS NOT NULL"), 0);
    db_exec("UPDATE chargers SET tariff_id = NULL WHERE id = 'irt-kc1'");
    db_exec("UPDATE sites SET tariff_id = NULL WHERE id = 'irt-ks1'");
    free(reader);
    free(other);
    free(one);
    free(site);
}

/* ---------------------------------------------------------------- frozen on sessions */

/* A StartTransaction of irt-stag on irt-sc1 at now + offset_s: the session's (tariffId, tariffVersion) as "id/v". */
static char *start_session(struct sim_charger *c, int connector, int offset_s)
{
    char ts[32];
    it_iso_time(ts, offset_s);
    int32_t tx = it_start_accepted(c, connector, "irt-stag", 0, ts);
    char *sid = it_session_id_of(tx);
    char *path = it_strf("/v1/sessions/%s", sid);
    struct api_resp *r = get(path);
    const cJSON *s = api_expect(r, 200);
    api_check_schema(s, "Session");
    const char *tariff = js(s, "tariffId");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(s, "tariffVersion");
    char *out = it_strf("%s/%d", tariff ? tariff : "-", cJSON_IsNumber(version) ? version->valueint : 0);
    api_free(r);
    free(path);
    free(sid);
    return out;
}

static void expect_frozen(struct sim_charger *c, int connector, int offset_s, const char *want)
{
    char *got = start_session(c, connector, offset_s);
    if (strcmp(got, want) != 0)
        fail_msg("session on connector %d frozen on %s, expected %s", connector, got, want);
    free(got);
}

static void test_session_freezes_tariff_version(void **state)
{
    (void)state;
    db_exec("UPDATE tariffs SET is_default = false WHERE is_default");
    db_add_charger("irt-sc1", NULL, 0);
    db_add_token("irt-stag", "Accepted", NULL, NULL);
    struct sim_charger *c = it_connect_booted(W.sim, "irt-sc1", NULL);

    expect_frozen(c, 1, 2, "-/0");                      /* no tariff applies: none frozen */
    make_tariff(TARIFF_BODY("irt-frz", "Frozen", ""));
    assign("/v1/chargers/irt-sc1/tariff", "\"irt-frz\"");
    /* version 2 is valid only from 2099: a session now keeps version 1 */
    struct api_resp *r = api_patch(PORT, admin, "/v1/tariffs/irt-frz", "{\"validFrom\":\"2099-01-01T00:00:00Z\"}");
    api_check_int(api_expect(r, 200), "version", 2);
    api_free(r);
    expect_frozen(c, 2, 2, "irt-frz/1");
    r = api_patch(PORT, admin, "/v1/tariffs/irt-frz", "{\"validFrom\":null,\"name\":\"Frozen 3\"}");
    api_check_int(api_expect(r, 200), "version", 3);
    api_free(r);
    expect_frozen(c, 3, 2, "irt-frz/3");
    /* started an hour ago, uploaded now (before any version was written): the oldest that holds */
    expect_frozen(c, 4, -3600, "irt-frz/1");
    /* uploaded late, started between versions 1 and 3 were written: version 1 */
    assert_int_equal(db_int("WITH w AS (SELECT min(created_at) AS v1, max(created_at) AS v3 FROM tariff_versions"
                            "           WHERE tariff_id = 'irt-frz' AND version IN (1, 3))"
                            " INSERT INTO sessions (transaction_id, charger_id, connector_id, id_tag, auth_status,"
                            "                       start_time, meter_start)"
                            " SELECT (SELECT max(transaction_id) + 1 FROM sessions), 'irt-sc1', 9, 'irt-stag',"
                            "        'Accepted', w.v1 + (w.v3 - w.v1) / 2, 0 FROM w"
                            " RETURNING tariff_version"),
                     1);
    /* a later version does not change a session already started */
    r = api_patch(PORT, admin, "/v1/tariffs/irt-frz", "{\"name\":\"Frozen 4\"}");
    api_expect(r, 200);
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE charger_id = 'irt-sc1' AND tariff_id = 'irt-frz'"
                            " AND tariff_version = 3"), 1);
    /* the token's tariff comes first */
    make_tariff(TARIFF_BODY("irt-frz-tok", "Token", ""));
    assign("/v1/tokens/irt-stag/tariff", "\"irt-frz-tok\"");
    expect_frozen(c, 5, 2, "irt-frz-tok/1");
    sim_disconnect(c);

    /* unassigned, a tariff a session was priced with is still in use */
    assign("/v1/chargers/irt-sc1/tariff", "null");
    r = api_delete(PORT, admin, "/v1/tariffs/irt-frz");
    api_expect_error(r, 409, "RESOURCE_IN_USE");
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM tariff_versions WHERE tariff_id = 'irt-frz'"), 4);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, it_test_setup, it_test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_create_read_and_versions),
        T(test_list_pages),
        T(test_invalid_tariff_is_422_naming_the_field),
        T(test_one_default),
        T(test_assignment_and_precedence),
        T(test_delete_in_use),
        T(test_scopes_and_limited_keys),
        T(test_session_freezes_tariff_version),
    };
    return cmocka_run_group_tests(tests, group_setup, api_group_teardown);
}
