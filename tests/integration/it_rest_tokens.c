/*
 * Integration: RFID/app tokens through the REST API, and OCPP seeing every
 * change at the next Authorize: create (201, Location, stored row, the
 * defaults), read, change (status, expiry, parent), delete; 409 for an
 * existing idTag, 422 naming each bad field, 404 for an unknown one; offset
 * pages, status filter, search and sort.
 *
 * idTags, charger ids and key names start with "irt-".
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
    db_exec("DELETE FROM tokens WHERE id_tag LIKE 'irt-%'");
    db_exec("DELETE FROM api_keys WHERE name LIKE 'irt-%'");
    db_add_charger("irt-cp", NULL, 0);
    admin = api_group_start("it_rest_tokens", "irt-admin");
    return 0;
}

static struct api_resp *get(const char *path)
{
    return api_get(PORT, admin, path);
}

/* ---------------------------------------------------------------- create, read */

static void test_create_token(void **state)
{
    (void)state;
    struct api_resp *r = api_post(PORT, admin, "/v1/tokens",
                                  "{\"idTag\":\"irt-1\",\"status\":\"Accepted\",\"expiryDate\":\"2099-01-01T00:00:00Z\","
                                  "\"parentIdTag\":\"irt-parent\",\"name\":\"Fleet card 1\"}");
    const cJSON *t = api_expect(r, 201);
    api_check_schema(t, "Token");
    const char *loc = api_header(r, "Location");
    if (!loc || strcmp(loc, "/v1/tokens/irt-1") != 0)
        fail_msg("Location \"%s\", expected /v1/tokens/irt-1", loc ? loc : "(absent)");
    api_check_str(t, "idTag", "irt-1");
    api_check_str(t, "status", "Accepted");
    api_check_str(t, "expiryDate", "2099-01-01T00:00:00Z");
    api_check_str(t, "parentIdTag", "irt-parent");
    api_check_str(t, "name", "Fleet card 1");
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM tokens WHERE id_tag = 'irt-1' AND status = 'Accepted'"
                            " AND expiry_date = '2099-01-01T00:00:00Z' AND parent_id_tag = 'irt-parent'"
                            " AND name = 'Fleet card 1'"), 1);

    r = get("/v1/tokens/irt-1");
    t = api_expect(r, 200);
    api_check_schema(t, "Token");
    api_check_str(t, "idTag", "irt-1");
    api_check_str(t, "expiryDate", "2099-01-01T00:00:00Z");
    api_check_str(t, "name", "Fleet card 1");
    api_free(r);

    /* only idTag given: Accepted, no expiry, no parent, no name */
    r = api_post(PORT, admin, "/v1/tokens", "{\"idTag\":\"irt-2\"}");
    t = api_expect(r, 201);
    api_check_str(t, "status", "Accepted");
    api_check_null(t, "expiryDate");
    api_check_null(t, "parentIdTag");
    api_check_null(t, "name");
    api_free(r);

    /* an expiry given with an offset is stored as that instant and answered in UTC */
    r = api_post(PORT, admin, "/v1/tokens", "{\"idTag\":\"irt-3\",\"expiryDate\":\"2030-06-01T14:00:00+02:00\"}");
    api_check_str(api_expect(r, 201), "expiryDate", "2030-06-01T12:00:00Z");
    api_free(r);
}

static void test_create_existing_is_409(void **state)
{
    (void)state;
    db_add_token("irt-dup", "Blocked", NULL, NULL);
    struct api_resp *r = api_post(PORT, admin, "/v1/tokens", "{\"idTag\":\"irt-dup\",\"status\":\"Accepted\"}");
    api_expect_error(r, 409, "CONFLICT");
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM tokens WHERE id_tag = 'irt-dup' AND status = 'Blocked'"), 1);
}

static void test_invalid_token_is_422_naming_the_field(void **state)
{
    (void)state;
    static const struct api_bad cases[] = {
        { "{\"idTag\":\"irt-123456789012345678\"}", "idTag" },                  /* 21 characters */
        { "{\"idTag\":\"\"}", "idTag" },
        { "{\"status\":\"Accepted\"}", "idTag" },
        { "{\"idTag\":7}", "idTag" },
        { "{\"idTag\":\"irt-v1\",\"status\":\"Bogus\"}", "status" },
        { "{\"idTag\":\"irt-v2\",\"expiryDate\":\"tomorrow\"}", "expiryDate" },
        { "{\"idTag\":\"irt-v3\",\"expiryDate\":\"2025-02-30T00:00:00Z\"}", "expiryDate" },
        { "{\"idTag\":\"irt-v4\",\"parentIdTag\":\"irt-123456789012345678\"}", "parentIdTag" },
        { "{\"idTag\":\"irt-v5\",\"name\":5}", "name" },
        { "{\"idTag\":\"irt-v6\",\"colour\":\"red\"}", "colour" },
    };
    api_expect_bad_bodies(PORT, admin, "POST", "/v1/tokens", cases, API_COUNT(cases));
    /* several bad fields: each named */
    struct api_resp *r = api_post(PORT, admin, "/v1/tokens",
                                  "{\"idTag\":\"irt-v7\",\"status\":\"Bogus\",\"expiryDate\":\"never\"}");
    api_expect_error_naming(r, 422, "UNPROCESSABLE_ENTITY", "status");
    api_expect_error_naming(r, 422, "UNPROCESSABLE_ENTITY", "expiryDate");
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM tokens WHERE id_tag LIKE 'irt-v%' OR id_tag LIKE 'irt-1234%'"), 0);

    /* PATCH: the same rules, and idTag cannot change */
    db_add_token("irt-fixed", "Accepted", NULL, NULL);
    static const struct api_bad patches[] = {
        { "{\"idTag\":\"irt-other\"}", "idTag" },
        { "{\"status\":\"Maybe\"}", "status" },
        { "{\"expiryDate\":\"2025-13-01T00:00:00Z\"}", "expiryDate" },
        { "{\"colour\":\"red\"}", "colour" },
    };
    api_expect_bad_bodies(PORT, admin, "PATCH", "/v1/tokens/irt-fixed", patches, API_COUNT(patches));
    assert_int_equal(db_int("SELECT count(*) FROM tokens WHERE id_tag = 'irt-fixed' AND status = 'Accepted'"
                            " AND expiry_date IS NULL"), 1);
}

static void test_unknown_token_is_404(void **state)
{
    (void)state;
    api_expect_missing(PORT, admin, "/v1/tokens/irt-none", "{\"status\":\"Blocked\"}", "irt-none");
    assert_int_equal(db_int("SELECT count(*) FROM tokens WHERE id_tag = 'irt-none'"), 0);
}

/* ---------------------------------------------------------------- OCPP sees changes */

/* Authorize the tag on the charger; returns idTagInfo (caller deletes the whole payload via *payload). */
static const char *authorize(struct sim_charger *c, const char *tag, cJSON **payload)
{
    char *p = it_strf("{\"idTag\":\"%s\"}", tag);
    cJSON *res = it_ok(c, "Authorize", p);
    free(p);
    cJSON_Delete(*payload);
    *payload = res;
    const char *st = cJSON_GetStringValue(jpath(res, "idTagInfo.status"));
    if (!st)
        fail_msg("Authorize %s: no idTagInfo.status", tag);
    return st;
}

static void test_token_changes_seen_by_authorize_at_once(void **state)
{
    (void)state;
    struct sim_charger *c = it_connect_booted(W.sim, "irt-cp", NULL);
    cJSON *res = NULL;
    assert_string_equal(authorize(c, "irt-live", &res), "Invalid");

    struct api_resp *r = api_post(PORT, admin, "/v1/tokens", "{\"idTag\":\"irt-live\",\"name\":\"Live\"}");
    api_expect(r, 201);
    api_free(r);
    assert_string_equal(authorize(c, "irt-live", &res), "Accepted");

    r = api_patch(PORT, admin, "/v1/tokens/irt-live", "{\"status\":\"Blocked\"}");
    api_check_str(api_expect(r, 200), "status", "Blocked");
    api_free(r);
    assert_string_equal(authorize(c, "irt-live", &res), "Blocked");

    r = api_patch(PORT, admin, "/v1/tokens/irt-live", "{\"status\":\"Accepted\",\"expiryDate\":\"2020-01-01T00:00:00Z\"}");
    const cJSON *t = api_expect(r, 200);
    api_check_schema(t, "Token");
    api_check_str(t, "status", "Accepted");
    api_check_str(t, "expiryDate", "2020-01-01T00:00:00Z");
    api_check_str(t, "name", "Live");       /* untouched */
    api_free(r);
    assert_string_equal(authorize(c, "irt-live", &res), "Expired");

    r = api_patch(PORT, admin, "/v1/tokens/irt-live",
                  "{\"expiryDate\":\"2099-12-31T23:00:00Z\",\"parentIdTag\":\"irt-group\"}");
    api_expect(r, 200);
    api_free(r);
    assert_string_equal(authorize(c, "irt-live", &res), "Accepted");
    const char *parent = cJSON_GetStringValue(jpath(res, "idTagInfo.parentIdTag"));
    if (!parent || strcmp(parent, "irt-group") != 0)
        fail_msg("Authorize after PATCH parentIdTag: parentIdTag \"%s\"", parent ? parent : "(none)");
    const char *expiry = cJSON_GetStringValue(jpath(res, "idTagInfo.expiryDate"));
    if (!expiry || strncmp(expiry, "2099-12-31T23:00:00", 19) != 0)
        fail_msg("Authorize after PATCH expiryDate: expiryDate \"%s\"", expiry ? expiry : "(none)");

    r = api_patch(PORT, admin, "/v1/tokens/irt-live", "{\"expiryDate\":null,\"parentIdTag\":null}");
    t = api_expect(r, 200);
    api_check_null(t, "expiryDate");
    api_check_null(t, "parentIdTag");
    api_free(r);

    r = api_delete(PORT, admin, "/v1/tokens/irt-live");
    api_expect(r, 204);
    api_free(r);
    assert_string_equal(authorize(c, "irt-live", &res), "Invalid");
    assert_int_equal(db_int("SELECT count(*) FROM tokens WHERE id_tag = 'irt-live'"), 0);
    r = get("/v1/tokens/irt-live");
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
    cJSON_Delete(res);
    sim_disconnect(c);
}

/* ---------------------------------------------------------------- lists */

static void test_token_list_pages_filters_sort(void **state)
{
    (void)state;
    db_add_token("irt-l1", "Accepted", NULL, NULL);
    db_add_token("irt-l2", "Blocked", NULL, NULL);
    db_add_token("irt-l3", "Accepted", NULL, NULL);
    db_add_token("irt-l4", "Blocked", NULL, NULL);
    db_add_token("irt-l5", "Expired", NULL, NULL);
    db_exec("UPDATE tokens SET name = 'Night Shift Card' WHERE id_tag = 'irt-l3'");

    /* three pages of 2, 2 and 1: each token once */
    int64_t total;
    cJSON *all = api_offset_walk(PORT, admin, "/v1/tokens?search=irt-l&sort=idTag", 2, "TokenList", &total);
    assert_int_equal(total, 5);
    api_expect_each_once(all, "idTag", "irt-l", 5);
    cJSON_Delete(all);

    struct api_resp *r = get("/v1/tokens?search=irt-l&status=Blocked&sort=idTag");
    const cJSON *data = api_data(api_expect(r, 200));
    assert_int_equal(cJSON_GetArraySize(data), 2);
    api_check_str(cJSON_GetArrayItem(data, 0), "idTag", "irt-l2");
    api_check_str(cJSON_GetArrayItem(data, 1), "idTag", "irt-l4");
    api_free(r);

    r = get("/v1/tokens?search=night%20shift");
    data = api_data(api_expect(r, 200));
    assert_int_equal(cJSON_GetArraySize(data), 1);
    api_check_str(cJSON_GetArrayItem(data, 0), "idTag", "irt-l3");
    api_free(r);

    r = get("/v1/tokens?search=irt-l&sort=idTag&order=desc");
    data = api_data(api_expect(r, 200));
    api_check_str(cJSON_GetArrayItem(data, 0), "idTag", "irt-l5");
    api_check_str(cJSON_GetArrayItem(data, 4), "idTag", "irt-l1");
    api_free(r);

    static const struct api_bad bad[] = { { "status=Lost", "status" }, { "sort=colour", "sort" },
                                          { "page=x", "page" }, { "perPage=-5", "perPage" },
                                          { "colour=red", "colour" } };
    api_expect_bad_queries(PORT, admin, "/v1/tokens", bad, API_COUNT(bad));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, it_test_setup, it_test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_create_token),
        T(test_create_existing_is_409),
        T(test_invalid_token_is_422_naming_the_field),
        T(test_unknown_token_is_404),
        T(test_token_changes_seen_by_authorize_at_once),
        T(test_token_list_pages_filters_sort),
    };
    return cmocka_run_group_tests(tests, group_setup, api_group_teardown);
}
