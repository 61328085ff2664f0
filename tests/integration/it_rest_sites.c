/*
 * Integration: sites through the REST API (../shared/spec/sites-and-tariffs.md,
 * "Sites"; src/rest/res_sites.c): create (201, Location, the stored row, the
 * defaults), read, change (a merge, the address member by member), delete;
 * 409 for an existing id, 422 naming each bad field (an unknown time zone, a
 * country code that is no assigned ISO 3166-1 alpha-2 code), 404 for an
 * unknown one; offset pages, search, country filter and sort; chargerCount;
 * chargers joining and leaving through PATCH /v1/chargers/{id} (an unknown
 * site is 422, each move a charger.updated event) and the site's charger
 * list; DELETE of a site in use (409 RESOURCE_IN_USE, ?force=true, and a
 * charger placed on the site while it is being deleted); keys limited to
 * sites or chargers; Idempotency-Key and the audit log.
 *
 * Site ids, charger ids and key names start with "irs-".
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

static int group_setup(void **state)
{
    (void)state;
    gw_migrate_once();
    db_exec("DELETE FROM chargers WHERE id LIKE 'irs-%'");
    db_exec("DELETE FROM sites WHERE id LIKE 'irs-%'");
    db_exec("DELETE FROM api_keys WHERE name LIKE 'irs-%'");
    admin = api_group_start("it_rest_sites", "irs-admin");
    return 0;
}

static struct api_resp *get(const char *path)
{
    return api_get(PORT, admin, path);
}

/* POSTs a site as admin; fails unless 201. */
static void make_site(const char *body)
{
    struct api_resp *r = api_post(PORT, admin, "/v1/sites", body);
    api_expect(r, 201);
    api_free(r);
}

/* PATCHes the charger's siteId (a JSON value: "\"S\"" or "null") as admin; the answer (caller frees). */
static struct api_resp *place(const char *charger, const char *site_json)
{
    char *path = it_strf("/v1/chargers/%s", charger);
    char *body = it_strf("{\"siteId\":%s}", site_json);
    struct api_resp *r = api_patch(PORT, admin, path, body);
    free(path);
    free(body);
    return r;
}

/* A charger registered (security profile 0) and placed on the site through the API. */
static void charger_on(const char *charger, const char *site)
{
    db_add_charger(charger, NULL, 0);
    char *json = it_strf("\"%s\"", site);
    struct api_resp *r = place(charger, json);
    free(json);
    api_check_str(api_expect(r, 200), "siteId", site);
    api_free(r);
}

static void expect_listed(const char *path, const char *want)
{
    api_expect_listed(PORT, admin, path, "id", want);
}

static int64_t charger_count(const char *site)
{
    char *path = it_strf("/v1/sites/%s", site);
    struct api_resp *r = get(path);
    free(path);
    const cJSON *s = api_expect(r, 200);
    api_check_schema(s, "Site");
    int64_t n = ji(s, "chargerCount");
    api_free(r);
    return n;
}

/* Waits (audit rows are written behind) until n rows say action on resource ended with result. */
static void expect_audited(const char *action, const char *resource, const char *result, int64_t n)
{
    int64_t got = db_wait_int(IT_WAIT_MS, n, "SELECT count(*) FROM audit_log WHERE action = $1 AND resource = $2"
                              " AND result = $3", action, resource, result);
    if (got != n)
        fail_msg("%lld audit rows %s %s %s, want %lld", (long long)got, action, resource, result, (long long)n);
}

static int64_t last_seq(void)
{
    return db_int("SELECT coalesce(max(seq), 0) FROM events");
}

/* ---------------------------------------------------------------- create, read */

static void test_create_and_read_site(void **state)
{
    (void)state;
    struct api_resp *r = api_post(PORT, admin, "/v1/sites",
                                  "{\"id\":\"irs-1\",\"name\":\"Depot North\",\"timeZone\":\"Europe/Berlin\","
                                  "\"address\":{\"street\":\"Hafenstrasse 1\",\"city\":\"Hamburg\","
                                  "\"postalCode\":\"20457\",\"country\":\"DE\"},"
                                  "\"latitude\":53.54,\"longitude\":9.98}");
    const cJSON *s = api_expect(r, 201);
    api_check_schema(s, "Site");
    const char *loc = api_header(r, "Location");
    if (!loc || strcmp(loc, "/v1/sites/irs-1") != 0)
        fail_msg("Location \"%s\", expected /v1/sites/irs-1", loc ? loc : "(absent)");
    api_check_str(s, "id", "irs-1");
    api_check_str(s, "name", "Depot North");
    api_check_str(s, "timeZone", "Europe/Berlin");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(s, "address");
    api_check_str(a, "street", "Hafenstrasse 1");
    api_check_str(a, "city", "Hamburg");
    api_check_str(a, "postalCode", "20457");
    api_check_str(a, "country", "DE");
    api_check_int(s, "chargerCount", 0);
    assert_true(cJSON_GetObjectItemCaseSensitive(s, "latitude")->valuedouble > 53.5);
    assert_non_null(js(s, "createdAt"));
    assert_non_null(js(s, "updatedAt"));
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM sites WHERE id = 'irs-1' AND name = 'Depot North'"
                            " AND time_zone = 'Europe/Berlin' AND street = 'Hafenstrasse 1' AND city = 'Hamburg'"
                            " AND postal_code = '20457' AND country = 'DE' AND latitude = 53.54 AND longitude = 9.98"),
                     1);

    r = get("/v1/sites/irs-1");
    s = api_expect(r, 200);
    api_check_schema(s, "Site");
    api_check_str(s, "name", "Depot North");
    api_check_str(cJSON_GetObjectItemCaseSensitive(s, "address"), "country", "DE");
    api_free(r);

    /* only an id: UTC, no name, an address of nulls, no position */
    r = api_post(PORT, admin, "/v1/sites", "{\"id\":\"irs-2\"}");
    s = api_expect(r, 201);
    api_check_schema(s, "Site");
    api_check_str(s, "timeZone", "UTC");
    api_check_null(s, "name");
    api_check_null(s, "latitude");
    a = cJSON_GetObjectItemCaseSensitive(s, "address");
    api_check_null(a, "street");
    api_check_null(a, "city");
    api_check_null(a, "postalCode");
    api_check_null(a, "country");
    api_free(r);

    /* an id the charger rule allows, percent-encoded in Location and path */
    r = api_post(PORT, admin, "/v1/sites", "{\"id\":\"irs-#3\"}");
    api_expect(r, 201);
    loc = api_header(r, "Location");
    if (!loc || strcmp(loc, "/v1/sites/irs-%233") != 0)
        fail_msg("Location \"%s\", expected /v1/sites/irs-%%233", loc ? loc : "(absent)");
    api_free(r);
    r = get("/v1/sites/irs-%233");
    api_check_str(api_expect(r, 200), "id", "irs-#3");
    api_free(r);
}

static void test_create_existing_is_409(void **state)
{
    (void)state;
    make_site("{\"id\":\"irs-dup\",\"name\":\"first\"}");
    struct api_resp *r = api_post(PORT, admin, "/v1/sites", "{\"id\":\"irs-dup\",\"name\":\"second\"}");
    api_expect_error(r, 409, "CONFLICT");
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM sites WHERE id = 'irs-dup' AND name = 'first'"), 1);
}

static void test_invalid_site_is_422_naming_the_field(void **state)
{
    (void)state;
    static const struct api_bad cases[] = {
        { "{\"name\":\"no id\"}", "id" },
        { "{\"id\":7}", "id" },
        { "{\"id\":\"\"}", "id" },
        { "{\"id\":\"irs v1\"}", "id" },
        { "{\"id\":\"irs/v2\"}", "id" },
        { "{\"id\":\"irs,v3\"}", "id" },
        { "{\"id\":\"irs%v4\"}", "id" },
        { "{\"id\":\"..\"}", "id" },
        { "{\"id\":\"irs-0123456789012345678901234567890123456789012345678901234567890\"}", "id" }, /* 65 */
        { "{\"id\":\"irs-v5\",\"name\":5}", "name" },
        { "{\"id\":\"irs-v6\",\"name\":\"\"}", "name" },
        /* an unknown zone, a malformed one, null (a site always has a zone) */
        { "{\"id\":\"irs-v7\",\"timeZone\":\"Mars/Olympus_Mons\"}", "timeZone" },
        { "{\"id\":\"irs-v8\",\"timeZone\":\"Europe/Berlin/\"}", "timeZone" },
        { "{\"id\":\"irs-v9\",\"timeZone\":\"../etc/passwd\"}", "timeZone" },
        { "{\"id\":\"irs-v10\",\"timeZone\":null}", "timeZone" },
        { "{\"id\":\"irs-v11\",\"timeZone\":1}", "timeZone" },
        /* country codes: assigned ISO 3166-1 alpha-2, in capitals */
        { "{\"id\":\"irs-v12\",\"address\":{\"country\":\"de\"}}", "address.country" },
        { "{\"id\":\"irs-v13\",\"address\":{\"country\":\"DEU\"}}", "address.country" },
        { "{\"id\":\"irs-v14\",\"address\":{\"country\":\"EU\"}}", "address.country" },
        { "{\"id\":\"irs-v15\",\"address\":{\"country\":\"XK\"}}", "address.country" },
        { "{\"id\":\"irs-v16\",\"address\":{\"country\":276}}", "address.country" },
        { "{\"id\":\"irs-v17\",\"address\":{\"country\":\"\"}}", "address.country" },
        /* the address and its members */
        { "{\"id\":\"irs-v18\",\"address\":\"Hafenstrasse 1, Hamburg\"}", "address" },
        { "{\"id\":\"irs-v19\",\"address\":{\"planet\":\"Mars\"}}", "address.planet" },
        { "{\"id\":\"irs-v20\",\"address\":{\"postalCode\":\"123456789012345678901\"}}", "address.postalCode" },
        { "{\"id\":\"irs-v21\",\"address\":{\"city\":[\"Hamburg\"]}}", "address.city" },
        { "{\"id\":\"irs-v22\",\"city\":\"Hamburg\"}", "city" },
        { "{\"id\":\"irs-v23\",\"latitude\":91}", "latitude" },
        { "{\"id\":\"irs-v24\",\"longitude\":\"east\"}", "longitude" },
        { "{\"id\":\"irs-v25\",\"colour\":\"red\"}", "colour" },
        { "{\"id\":\"irs-v26\",\"chargerCount\":3}", "chargerCount" },
        { "{\"id\":\"irs-v27\",\"maxPower\":0}", "maxPower" },
    };
    api_expect_bad_bodies(PORT, admin, "POST", "/v1/sites", cases, API_COUNT(cases));
    /* every bad field at once */
    struct api_resp *r = api_post(PORT, admin, "/v1/sites",
                                  "{\"id\":\"irs-v28\",\"timeZone\":\"Europe/Hamburg\","
                                  "\"address\":{\"country\":\"de\"}}");
    api_expect_error_naming(r, 422, "UNPROCESSABLE_ENTITY", "timeZone");
    api_expect_error_naming(r, 422, "UNPROCESSABLE_ENTITY", "address.country");
    api_free(r);
    /* the body must be an object */
    r = api_post(PORT, admin, "/v1/sites", "[]");
    if (r->status != 400 && r->status != 422)
        fail_msg("POST /v1/sites with an array: %d %s", r->status, r->body);
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM sites WHERE id LIKE 'irs-v%' OR id LIKE 'irs-0123%'"
                            " OR id IN ('irs v1', 'irs/v2', 'irs,v3', 'irs%v4', '..', '')"), 0);

    /* PATCH: the same rules, and the id cannot change */
    make_site("{\"id\":\"irs-fixed\",\"timeZone\":\"Europe/Paris\",\"address\":{\"country\":\"FR\"}}");
    static const struct api_bad patches[] = {
        { "{\"id\":\"irs-other\"}", "id" },
        { "{\"timeZone\":\"Europe/Hamburg\"}", "timeZone" },
        { "{\"timeZone\":null}", "timeZone" },
        { "{\"address\":{\"country\":\"fr\"}}", "address.country" },
        { "{\"address\":{\"country\":\"FRA\"}}", "address.country" },
        { "{\"address\":5}", "address" },
        { "{\"latitude\":-90.5}", "latitude" },
        { "{\"colour\":\"red\"}", "colour" },
    };
    api_expect_bad_bodies(PORT, admin, "PATCH", "/v1/sites/irs-fixed", patches, API_COUNT(patches));
    assert_int_equal(db_int("SELECT count(*) FROM sites WHERE id = 'irs-fixed' AND time_zone = 'Europe/Paris'"
                            " AND country = 'FR' AND latitude IS NULL"), 1);
    assert_int_equal(db_int("SELECT count(*) FROM sites WHERE id = 'irs-other'"), 0);

    /* a charger's timeZone: an IANA zone of the tz database too */
    db_add_charger("irs-tz", NULL, 0);
    r = api_patch(PORT, admin, "/v1/chargers/irs-tz", "{\"timeZone\":\"Mars/Olympus_Mons\"}");
    api_expect_error_naming(r, 422, "UNPROCESSABLE_ENTITY", "timeZone");
    api_free(r);
    r = api_patch(PORT, admin, "/v1/chargers/irs-tz", "{\"timeZone\":\"America/Argentina/Buenos_Aires\"}");
    api_check_str(api_expect(r, 200), "timeZone", "America/Argentina/Buenos_Aires");
    api_free(r);
}

static void test_unknown_site_is_404(void **state)
{
    (void)state;
    api_expect_missing(PORT, admin, "/v1/sites/irs-none", "{\"name\":\"x\"}", "irs-none");
    struct api_resp *r = api_delete(PORT, admin, "/v1/sites/irs-none?force=true");
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
    r = get("/v1/sites/irs-none/chargers");
    api_expect_error_naming(r, 404, "RESOURCE_NOT_FOUND", "irs-none");
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM sites WHERE id = 'irs-none'"), 0);
    /* unknown query parameters */
    static const struct api_bad bad[] = { { "colour=red", "colour" } };
    api_expect_bad_queries(PORT, admin, "/v1/sites/irs-1", bad, API_COUNT(bad));
}

/* ---------------------------------------------------------------- change */

static void test_update_site(void **state)
{
    (void)state;
    make_site("{\"id\":\"irs-up\",\"name\":\"Yard\",\"timeZone\":\"Europe/Berlin\",\"latitude\":1,\"longitude\":2,"
              "\"address\":{\"street\":\"Old Road 1\",\"city\":\"Bonn\",\"postalCode\":\"53111\",\"country\":\"DE\"}}");
    db_exec("UPDATE sites SET created_at = now() - interval '2 hours', updated_at = now() - interval '1 hour'"
            " WHERE id = 'irs-up'");
    int64_t before = db_int("SELECT ocppgw_us(updated_at) FROM sites WHERE id = 'irs-up'");

    /* fields given are set; the address merges member by member */
    struct api_resp *r = api_patch(PORT, admin, "/v1/sites/irs-up",
                                   "{\"name\":\"Yard 2\",\"timeZone\":\"America/New_York\","
                                   "\"address\":{\"street\":\"New Road 2\",\"country\":\"US\"},\"latitude\":null}");
    const cJSON *s = api_expect(r, 200);
    api_check_schema(s, "Site");
    api_check_str(s, "name", "Yard 2");
    api_check_str(s, "timeZone", "America/New_York");
    api_check_null(s, "latitude");
    assert_true(cJSON_GetObjectItemCaseSensitive(s, "longitude")->valuedouble == 2);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(s, "address");
    api_check_str(a, "street", "New Road 2");
    api_check_str(a, "city", "Bonn");
    api_check_str(a, "postalCode", "53111");
    api_check_str(a, "country", "US");
    api_free(r);
    assert_true(db_int("SELECT ocppgw_us(updated_at) FROM sites WHERE id = 'irs-up'") > before);

    /* one member to null, then the whole address */
    r = api_patch(PORT, admin, "/v1/sites/irs-up", "{\"address\":{\"postalCode\":null}}");
    a = cJSON_GetObjectItemCaseSensitive(api_expect(r, 200), "address");
    api_check_null(a, "postalCode");
    api_check_str(a, "city", "Bonn");
    api_free(r);
    r = api_patch(PORT, admin, "/v1/sites/irs-up", "{\"address\":null}");
    s = api_expect(r, 200);
    a = cJSON_GetObjectItemCaseSensitive(s, "address");
    api_check_null(a, "street");
    api_check_null(a, "city");
    api_check_null(a, "country");
    api_check_str(s, "name", "Yard 2");
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM sites WHERE id = 'irs-up' AND street IS NULL AND city IS NULL"
                            " AND postal_code IS NULL AND country IS NULL AND name = 'Yard 2'"), 1);

    /* an empty patch changes nothing but updatedAt */
    r = api_patch(PORT, admin, "/v1/sites/irs-up", "{}");
    api_check_str(api_expect(r, 200), "timeZone", "America/New_York");
    api_free(r);
}

/* ---------------------------------------------------------------- lists */

static void test_site_list_pages_filters_sort(void **state)
{
    (void)state;
    make_site("{\"id\":\"irs-l1\",\"name\":\"Lima\",\"address\":{\"city\":\"Lyon\",\"country\":\"FR\"}}");
    make_site("{\"id\":\"irs-l2\",\"name\":\"Kilo\",\"address\":{\"city\":\"Köln\",\"country\":\"DE\"}}");
    make_site("{\"id\":\"irs-l3\",\"name\":\"Juliett\",\"address\":{\"street\":\"Quai Ouest\",\"city\":\"Nantes\","
              "\"country\":\"FR\"}}");
    make_site("{\"id\":\"irs-l4\",\"name\":\"India\",\"address\":{\"postalCode\":\"irs-PC-9\",\"country\":\"IT\"}}");
    make_site("{\"id\":\"irs-l5\",\"name\":\"Hotel\"}");

    /* three pages of 2, 2 and 1: each site once */
    int64_t total;
    cJSON *all = api_offset_walk(PORT, admin, "/v1/sites?search=irs-l&sort=id", 2, "SiteList", &total);
    assert_int_equal(total, 5);
    api_expect_each_once(all, "id", "irs-l", 5);
    cJSON_Delete(all);

    /* country, in any case; search: the name, city, street and postal code, any case; sorts */
    expect_listed("/v1/sites?search=irs-l&country=fr&sort=id", "irs-l1,irs-l3");
    expect_listed("/v1/sites?search=irs-l&country=IT", "irs-l4");
    expect_listed("/v1/sites?search=irs-l&country=ES", "");
    expect_listed("/v1/sites?search=julie", "irs-l3");
    expect_listed("/v1/sites?search=k%C3%B6ln", "irs-l2");
    expect_listed("/v1/sites?search=quai%20ouest", "irs-l3");
    expect_listed("/v1/sites?search=irs-pc-9", "irs-l4");
    expect_listed("/v1/sites?search=HOTEL", "irs-l5");
    expect_listed("/v1/sites?search=irs-l&sort=name&order=desc", "irs-l1,irs-l2,irs-l3,irs-l4,irs-l5");
    expect_listed("/v1/sites?search=irs-l&sort=name", "irs-l5,irs-l4,irs-l3,irs-l2,irs-l1");

    static const struct api_bad bad[] = {
        { "country=DEU", "country" }, { "country=", "country" }, { "sort=colour", "sort" },
        { "sort=chargerCount", "sort" }, { "order=up", "order" }, { "page=x", "page" },
        { "perPage=0", "perPage" }, { "perPage=501", "perPage" }, { "colour=red", "colour" },
        { "siteId=irs-l1", "siteId" }, { "after=abc", "after" },
    };
    api_expect_bad_queries(PORT, admin, "/v1/sites", bad, API_COUNT(bad));
}

/* ---------------------------------------------------------------- chargers join and leave */

static void test_chargers_join_and_leave(void **state)
{
    (void)state;
    make_site("{\"id\":\"irs-j\",\"name\":\"Join\"}");
    make_site("{\"id\":\"irs-j2\"}");
    db_add_charger("irs-cj3", NULL, 0);
    assert_int_equal(charger_count("irs-j"), 0);

    /* joining: the charger answers its site, the site counts it, a charger.updated event says so */
    int64_t seq = last_seq();
    char seqs[24];
    snprintf(seqs, sizeof seqs, "%lld", (long long)seq);
    charger_on("irs-cj1", "irs-j");
    charger_on("irs-cj2", "irs-j");
    assert_int_equal(charger_count("irs-j"), 2);
    assert_int_equal(db_int("SELECT count(*) FROM events WHERE seq > $1 AND type = 'charger.updated'"
                            " AND charger_id = 'irs-cj1' AND site_id = 'irs-j' AND data->>'siteId' = 'irs-j'",
                            seqs), 1);

    /* the site's charger list: the charger list's items, filters and pages */
    struct api_resp *r = get("/v1/sites/irs-j/chargers?sort=id");
    const cJSON *b = api_expect(r, 200);
    api_check_schema(b, "ChargerList");
    const cJSON *data = api_data(b);
    assert_int_equal(cJSON_GetArraySize(data), 2);
    api_check_str(cJSON_GetArrayItem(data, 0), "id", "irs-cj1");
    api_check_str(cJSON_GetArrayItem(data, 1), "id", "irs-cj2");
    api_check_str(cJSON_GetArrayItem(data, 0), "siteId", "irs-j");
    api_check_int(cJSON_GetObjectItemCaseSensitive(b, "meta"), "total", 2);
    api_free(r);
    expect_listed("/v1/sites/irs-j/chargers?perPage=1&page=1&sort=id&order=desc&connected=false&search=irs-cj",
                  "irs-cj1");
    expect_listed("/v1/sites/irs-j/chargers?connected=true", "");
    expect_listed("/v1/sites/irs-j2/chargers", "");
    static const struct api_bad bad[] = {
        { "siteId=irs-j2", "siteId" }, { "connected=maybe", "connected" }, { "sort=colour", "sort" },
    };
    api_expect_bad_queries(PORT, admin, "/v1/sites/irs-j/chargers", bad, API_COUNT(bad));
    /* GET /v1/chargers?siteId= agrees */
    expect_listed("/v1/chargers?siteId=irs-j&sort=id", "irs-cj1,irs-cj2");

    /* an unknown site: 422 naming siteId, the charger stays where it was (nothing made on the fly) */
    seq = last_seq();
    snprintf(seqs, sizeof seqs, "%lld", (long long)seq);
    r = place("irs-cj1", "\"irs-nowhere\"");
    api_expect_error_naming(r, 422, "UNPROCESSABLE_ENTITY", "siteId");
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'irs-cj1' AND site_id = 'irs-j'"), 1);
    assert_int_equal(db_int("SELECT count(*) FROM sites WHERE id = 'irs-nowhere'"), 0);
    assert_int_equal(db_int("SELECT count(*) FROM events WHERE seq > $1 AND charger_id = 'irs-cj1'", seqs), 0);
    r = api_post(PORT, admin, "/v1/chargers", "{\"id\":\"irs-cj4\",\"siteId\":\"irs-nowhere\",\"securityProfile\":0}");
    api_expect_error_naming(r, 422, "UNPROCESSABLE_ENTITY", "siteId");
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'irs-cj4'"), 0);
    expect_audited("charger.update", "irs-cj1", "invalid", 1);
    /* a charger created on a site */
    r = api_post(PORT, admin, "/v1/chargers", "{\"id\":\"irs-cj4\",\"siteId\":\"irs-j2\",\"securityProfile\":0}");
    api_check_str(api_expect(r, 201), "siteId", "irs-j2");
    api_free(r);
    assert_int_equal(charger_count("irs-j2"), 1);

    /* moving and leaving */
    r = place("irs-cj2", "\"irs-j2\"");
    api_check_str(api_expect(r, 200), "siteId", "irs-j2");
    api_free(r);
    seq = last_seq();
    snprintf(seqs, sizeof seqs, "%lld", (long long)seq);
    r = place("irs-cj1", "null");
    api_check_null(api_expect(r, 200), "siteId");
    api_free(r);
    assert_int_equal(charger_count("irs-j"), 0);
    assert_int_equal(charger_count("irs-j2"), 2);
    assert_int_equal(db_int("SELECT count(*) FROM events WHERE seq > $1 AND type = 'charger.updated'"
                            " AND charger_id = 'irs-cj1' AND data->>'siteId' IS NULL", seqs), 1);
    expect_listed("/v1/sites/irs-j/chargers", "");
    expect_listed("/v1/sites/irs-j2/chargers?sort=id", "irs-cj2,irs-cj4");
}

/* ---------------------------------------------------------------- delete */

static void test_delete_in_use_and_force(void **state)
{
    (void)state;
    make_site("{\"id\":\"irs-d\"}");
    make_site("{\"id\":\"irs-empty\"}");
    charger_on("irs-cd1", "irs-d");
    charger_on("irs-cd2", "irs-d");

    /* in use: 409 with the count, nothing changed; force=false is the same */
    struct api_resp *r;
    static const char *const refused[] = { "/v1/sites/irs-d", "/v1/sites/irs-d?force=false" };
    for (size_t i = 0; i < API_COUNT(refused); i++) {
        r = api_delete(PORT, admin, refused[i]);
        const cJSON *e = api_expect_error(r, 409, "RESOURCE_IN_USE");
        const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(e, "context");
        api_check_str(ctx, "siteId", "irs-d");
        api_check_int(ctx, "chargerCount", 2);
        api_free(r);
    }
    assert_int_equal(db_int("SELECT count(*) FROM sites WHERE id = 'irs-d'"), 1);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE site_id = 'irs-d'"), 2);
    expect_audited("site.delete", "irs-d", "conflict", 2);

    /* a malformed force */
    static const struct api_bad bad[] = { { "force=yes", "force" }, { "force=", "force" }, { "force=TRUE", "force" } };
    for (size_t i = 0; i < API_COUNT(bad); i++) {
        char *path = it_strf("/v1/sites/irs-d?%s", bad[i].input);
        r = api_delete(PORT, admin, path);
        free(path);
        api_expect_error_naming(r, 400, "BAD_REQUEST", bad[i].name);
        api_free(r);
    }
    r = api_delete(PORT, admin, "/v1/sites/irs-d?colour=red");
    api_expect_error_naming(r, 400, "BAD_REQUEST", "colour");
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM sites WHERE id = 'irs-d'"), 1);

    /* force: the chargers leave it in the same transaction, each with its charger.updated */
    int64_t seq = last_seq();
    char seqs[24];
    snprintf(seqs, sizeof seqs, "%lld", (long long)seq);
    r = api_delete(PORT, admin, "/v1/sites/irs-d?force=true");
    api_expect(r, 204);
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM sites WHERE id = 'irs-d'"), 0);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id IN ('irs-cd1', 'irs-cd2') AND site_id IS NULL"), 2);
    assert_int_equal(db_int("SELECT count(DISTINCT charger_id) FROM events WHERE seq > $1 AND type = 'charger.updated'"
                            " AND charger_id IN ('irs-cd1', 'irs-cd2') AND data->>'siteId' IS NULL", seqs), 2);
    r = get("/v1/chargers/irs-cd1");
    api_check_null(api_expect(r, 200), "siteId");
    api_free(r);
    r = get("/v1/sites/irs-d");
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
    expect_audited("site.delete", "irs-d", "ok", 1);

    /* an empty site goes without force */
    r = api_delete(PORT, admin, "/v1/sites/irs-empty");
    api_expect(r, 204);
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM sites WHERE id = 'irs-empty'"), 0);
}

static bool delete_waits_on_lock(void *arg)
{
    (void)arg;
    return db_int("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                  " AND query LIKE '%DELETE FROM sites%'") > 0;
}

/*
 * A charger placed on a site while a DELETE without force runs: the delete
 * counted no charger (its snapshot came first) yet must not take the site
 * from under it. The test places the charger in a transaction of its own,
 * so the gateway's DELETE waits on the site row's lock, then commits: the
 * foreign key refuses the delete (with ON DELETE SET NULL it would go
 * through and clear the charger's site), the store runs the statement
 * again, which now counts the charger: 409 RESOURCE_IN_USE; the site and
 * the charger's place stay. (A second gateway with a long
 * rest.statement_timeout, so that the wait is never cut short.)
 */
static void test_delete_meets_a_charger_placed_meanwhile(void **state)
{
    (void)state;
    struct gw_opts o = { .name = "it_rest_sites-slow", .ini = API_UNLIMITED_INI "statement_timeout = 120\n" };
    W.gw2 = gw_start(&o);
    make_site("{\"id\":\"irs-race\"}");
    db_add_charger("irs-race-cp", NULL, 0);
    char *req = it_strf("DELETE /v1/sites/irs-race HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                        "Connection: close\r\n\r\n", admin);
    db_exec("BEGIN");
    db_exec("UPDATE chargers SET site_id = 'irs-race' WHERE id = 'irs-race-cp'");
    int fd = api_raw_start(gw_port(W.gw2), req, strlen(req));
    bool waited = wait_until(NULL, delete_waits_on_lock, NULL, IT_WAIT_MS);
    db_exec("COMMIT");
    char *answer = NULL;
    int st = api_raw_finish(fd, &answer);
    free(req);
    if (!waited)
        fail_msg("the DELETE never waited on the charger's transaction (answered %d: %.300s)", st, answer);
    if (st != 409 || !strstr(answer, "RESOURCE_IN_USE"))
        fail_msg("DELETE of a site a charger was placed on meanwhile: expected 409 RESOURCE_IN_USE, got %d: %.400s",
                 st, answer);
    free(answer);
    assert_int_equal(db_int("SELECT count(*) FROM sites WHERE id = 'irs-race'"), 1);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'irs-race-cp' AND site_id = 'irs-race'"), 1);
    assert_int_equal(charger_count("irs-race"), 1);
}

/* ---------------------------------------------------------------- keys limited to sites or chargers */

static char *key_for_sites(const char *name, const char *sites_json)
{
    char *body = it_strf("{\"name\":\"%s\",\"scopes\":[\"chargers:read\",\"chargers:write\"],\"siteIds\":%s}", name,
                         sites_json);
    struct api_resp *r = api_post(PORT, admin, "/v1/api-keys", body);
    free(body);
    char *key = strdup(js(api_expect(r, 201), "secret") ?: "");
    api_free(r);
    return key;
}

static void expect_forbidden(const char *key, const char *method, const char *path, const char *body)
{
    struct api_req q = { .method = method, .path = path, .key = key, .body = body };
    struct api_resp *r = api_send(PORT, &q);
    api_expect_error(r, 403, "ACCESS_FORBIDDEN");
    api_free(r);
}

static void test_restricted_keys(void **state)
{
    (void)state;
    make_site("{\"id\":\"irs-k1\",\"name\":\"Mine\"}");
    make_site("{\"id\":\"irs-k2\",\"name\":\"Theirs\"}");
    charger_on("irs-ck1", "irs-k1");
    charger_on("irs-ck2", "irs-k2");

    /* a key limited to irs-k1 */
    char *key = key_for_sites("irs-site-key", "[\"irs-k1\"]");
    struct api_resp *r = api_get(PORT, key, "/v1/sites?search=irs-k&perPage=500");
    const cJSON *b = api_expect(r, 200);
    const cJSON *data = api_data(b);
    assert_int_equal(api_count_with(data, "id", "irs-k1"), 1);
    assert_int_equal(api_count_with(data, "id", "irs-k2"), 0);
    api_check_int(cJSON_GetObjectItemCaseSensitive(b, "meta"), "total", 1);     /* counts what it sees */
    api_free(r);
    r = api_get(PORT, key, "/v1/sites/irs-k1");
    api_check_int(api_expect(r, 200), "chargerCount", 1);
    api_free(r);
    api_expect_listed(PORT, key, "/v1/sites/irs-k1/chargers", "id", "irs-ck1");
    expect_forbidden(key, "GET", "/v1/sites/irs-k2", NULL);
    expect_forbidden(key, "GET", "/v1/sites/irs-k2/chargers", NULL);
    expect_forbidden(key, "GET", "/v1/sites/irs-nowhere", NULL);
    expect_forbidden(key, "PATCH", "/v1/sites/irs-k2", "{\"name\":\"taken\"}");
    expect_forbidden(key, "DELETE", "/v1/sites/irs-k2?force=true", NULL);
    expect_forbidden(key, "POST", "/v1/sites", "{\"id\":\"irs-k3\"}");
    /* nor move its charger to a site it cannot see */
    expect_forbidden(key, "PATCH", "/v1/chargers/irs-ck1", "{\"siteId\":\"irs-k2\"}");
    assert_int_equal(db_int("SELECT count(*) FROM sites WHERE id = 'irs-k2' AND name = 'Theirs'"), 1);
    assert_int_equal(db_int("SELECT count(*) FROM sites WHERE id = 'irs-k3'"), 0);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'irs-ck1' AND site_id = 'irs-k1'"), 1);
    /* its own site it may change */
    struct api_req q = { .method = "PATCH", .path = "/v1/sites/irs-k1", .key = key, .body = "{\"name\":\"Mine 2\"}" };
    r = api_send(PORT, &q);
    api_check_str(api_expect(r, 200), "name", "Mine 2");
    api_free(r);
    free(key);

    /* a key limited to chargers alone sees no site, not even its charger's */
    char *ckey = api_key_create_limited("irs-charger-key", "chargers:read", "irs-ck1");
    api_key_wait_known(PORT, ckey);
    r = api_get(PORT, ckey, "/v1/sites?perPage=500");
    b = api_expect(r, 200);
    assert_int_equal(cJSON_GetArraySize(api_data(b)), 0);
    api_check_int(cJSON_GetObjectItemCaseSensitive(b, "meta"), "total", 0);
    api_free(r);
    expect_forbidden(ckey, "GET", "/v1/sites/irs-k1", NULL);
    expect_forbidden(ckey, "GET", "/v1/sites/irs-k1/chargers", NULL);
    r = api_get(PORT, ckey, "/v1/chargers/irs-ck1");
    api_check_str(api_expect(r, 200), "siteId", "irs-k1");
    api_free(r);
    free(ckey);

    /* scopes: reading takes chargers:read, writing chargers:write */
    char *rkey = api_key_create("irs-read-key", "chargers:read");
    api_key_wait_known(PORT, rkey);
    r = api_get(PORT, rkey, "/v1/sites/irs-k1");
    api_expect(r, 200);
    api_free(r);
    expect_forbidden(rkey, "POST", "/v1/sites", "{\"id\":\"irs-k5\"}");
    expect_forbidden(rkey, "PATCH", "/v1/sites/irs-k1", "{\"name\":\"x\"}");
    expect_forbidden(rkey, "DELETE", "/v1/sites/irs-k1", NULL);
    free(rkey);
    char *tkey = api_key_create("irs-tokens-key", "tokens:read");
    api_key_wait_known(PORT, tkey);
    expect_forbidden(tkey, "GET", "/v1/sites", NULL);
    expect_forbidden(tkey, "GET", "/v1/sites/irs-k1/chargers", NULL);
    free(tkey);
}

/* ---------------------------------------------------------------- Idempotency-Key, audit */

static struct api_resp *post_idem(const char *idem, const char *body)
{
    char hdr[300];
    snprintf(hdr, sizeof hdr, "Idempotency-Key: %s", idem);
    const char *headers[] = { hdr, NULL };
    struct api_req q = { .method = "POST", .path = "/v1/sites", .key = admin, .body = body, .headers = headers };
    return api_send(PORT, &q);
}

static void test_idempotency_and_audit(void **state)
{
    (void)state;
    const char *body = "{\"id\":\"irs-idem\",\"name\":\"Once\",\"timeZone\":\"Asia/Tokyo\"}";
    struct api_resp *a = post_idem("irs-idem-1", body);
    api_expect(a, 201);
    struct api_resp *b = post_idem("irs-idem-1", body);
    api_expect(b, 201);
    const char *replayed = api_header(b, "Idempotent-Replayed");
    if (!replayed || strcmp(replayed, "true") != 0)
        fail_msg("the retry was not a replay: %s", b->body);
    if (!cJSON_Compare(a->json, b->json, true))
        fail_msg("the replay differs: %s vs %s", a->body, b->body);
    api_free(a);
    api_free(b);
    b = post_idem("irs-idem-1", "{\"id\":\"irs-idem-2\"}");
    api_expect_error(b, 409, "IDEMPOTENCY_KEY_REUSED");
    api_free(b);
    assert_int_equal(db_int("SELECT count(*) FROM sites WHERE id IN ('irs-idem', 'irs-idem-2')"), 1);

    /* every write audited with the fields named, never their values (rows written behind) */
    struct api_resp *r = api_patch(PORT, admin, "/v1/sites/irs-idem", "{\"address\":{\"city\":\"Tokyo\"}}");
    api_expect(r, 200);
    api_free(r);
    r = api_delete(PORT, admin, "/v1/sites/irs-idem");
    api_expect(r, 204);
    api_free(r);
    expect_audited("site.create", "irs-idem", "ok", 1);
    assert_int_equal(db_int("SELECT count(*) FROM audit_log WHERE action = 'site.create' AND resource = 'irs-idem'"
                            " AND detail->'fields' ? 'timeZone'"), 1);
    expect_audited("site.update", "irs-idem", "ok", 1);
    assert_int_equal(db_int("SELECT count(*) FROM audit_log WHERE action = 'site.update' AND resource = 'irs-idem'"
                            " AND detail->'fields' ? 'address'"), 1);
    expect_audited("site.delete", "irs-idem", "ok", 1);
    assert_int_equal(db_int("SELECT count(*) FROM audit_log WHERE resource = 'irs-idem'"
                            " AND detail::text LIKE '%Tokyo%'"), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, it_test_setup, it_test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_create_and_read_site),
        T(test_create_existing_is_409),
        T(test_invalid_site_is_422_naming_the_field),
        T(test_unknown_site_is_404),
        T(test_update_site),
        T(test_site_list_pages_filters_sort),
        T(test_chargers_join_and_leave),
        T(test_delete_in_use_and_force),
        T(test_delete_meets_a_charger_placed_meanwhile),
        T(test_restricted_keys),
        T(test_idempotency_and_audit),
    };
    return cmocka_run_group_tests(tests, group_setup, api_group_teardown);
}
