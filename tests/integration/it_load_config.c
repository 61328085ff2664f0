/*
 * Integration: the configuration of load management through the REST API
 * (../shared/spec/load-management.md, "Configuration"; sql/020_load.sql,
 * src/rest/res_sites.c, res_tokens.c): a site's maxCurrent, maxPower and
 * loadBalancing (defaults, 422 naming each bad field, the rules that join
 * two fields checked on the merged row, a PATCH merging loadBalancing member
 * by member, effectiveMaxCurrent the lower of the two limits); a token's
 * priority; the site registry (src/core/core_sites.c) of a second gateway
 * on the same database loading the sites at start and following each change
 * (NOTIFY ocppgw_site).
 *
 * Site ids and tags start with "ilc-".
 */
#include "it.h"

#include <math.h>
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
    db_exec("DELETE FROM chargers WHERE id LIKE 'ilc-%'");
    db_exec("DELETE FROM sites WHERE id LIKE 'ilc-%'");
    db_exec("DELETE FROM tokens WHERE id_tag LIKE 'ilc-%'");
    admin = api_group_start("it_load_config", "ilc-admin");
    return 0;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v))
        fail_msg("%s is not a number", key);
    return v->valuedouble;
}

static void check_num(const cJSON *o, const char *key, double want)
{
    double got = num(o, key);
    if (fabs(got - want) > 1e-9)
        fail_msg("%s: got %g, want %g", key, got, want);
}

static const cJSON *lb_of(const cJSON *site)
{
    const cJSON *lb = cJSON_GetObjectItemCaseSensitive(site, "loadBalancing");
    assert_true(cJSON_IsObject(lb));
    return lb;
}

static void test_site_defaults_and_limits(void **state)
{
    (void)state;
    struct api_resp *r = api_post(PORT, admin, "/v1/sites", "{\"id\":\"ilc-plain\"}");
    const cJSON *s = api_expect(r, 201);
    api_check_schema(s, "Site");
    api_check_null(s, "maxCurrent");
    api_check_null(s, "maxPower");
    api_check_null(s, "effectiveMaxCurrent");
    const cJSON *lb = lb_of(s);
    api_check_bool(lb, "enabled", false);
    api_check_str(lb, "strategy", "equal");
    check_num(lb, "minCurrent", 6);
    api_check_int(lb, "phases", 3);
    api_check_int(lb, "voltage", 230);
    api_check_bool(lb, "redistribute", true);
    api_free(r);

    r = api_post(PORT, admin, "/v1/sites",
                 "{\"id\":\"ilc-both\",\"maxCurrent\":32.5,\"maxPower\":22000,"
                 "\"loadBalancing\":{\"enabled\":true,\"strategy\":\"priority\",\"minCurrent\":8.5}}");
    s = api_expect(r, 201);
    api_check_schema(s, "Site");
    check_num(s, "maxCurrent", 32.5);
    api_check_int(s, "maxPower", 22000);
    /* 22000 W / (230 V x 3) = 31.88 A, rounded down: the lower limit */
    check_num(s, "effectiveMaxCurrent", 31.8);
    lb = lb_of(s);
    api_check_bool(lb, "enabled", true);
    api_check_str(lb, "strategy", "priority");
    check_num(lb, "minCurrent", 8.5);
    api_check_int(lb, "phases", 3);
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM sites WHERE id = 'ilc-both' AND max_current = 32.5"
                            " AND max_power = 22000 AND lb_enabled AND lb_strategy = 'priority'"
                            " AND lb_min_current = 8.5"), 1);

    r = api_get(PORT, admin, "/v1/sites/ilc-both");
    s = api_expect(r, 200);
    api_check_schema(s, "Site");
    check_num(s, "effectiveMaxCurrent", 31.8);
    api_free(r);

    /* power alone, one phase: 7400 W / 230 V = 32.17 A -> 32.1 A */
    r = api_post(PORT, admin, "/v1/sites",
                 "{\"id\":\"ilc-power\",\"maxPower\":7400,\"loadBalancing\":{\"enabled\":true,\"phases\":1}}");
    s = api_expect(r, 201);
    api_check_null(s, "maxCurrent");
    check_num(s, "effectiveMaxCurrent", 32.1);
    api_free(r);
}

static void test_site_load_fields_422(void **state)
{
    (void)state;
    static const struct api_bad cases[] = {
        { "{\"id\":\"ilc-v1\",\"maxCurrent\":0}", "maxCurrent" },
        { "{\"id\":\"ilc-v2\",\"maxCurrent\":-16}", "maxCurrent" },
        { "{\"id\":\"ilc-v3\",\"maxCurrent\":32.15}", "maxCurrent" },
        { "{\"id\":\"ilc-v4\",\"maxCurrent\":\"32\"}", "maxCurrent" },
        { "{\"id\":\"ilc-v5\",\"maxPower\":0}", "maxPower" },
        { "{\"id\":\"ilc-v6\",\"maxPower\":1.5}", "maxPower" },
        { "{\"id\":\"ilc-v7\",\"loadBalancing\":{\"strategy\":\"fair\"}}", "loadBalancing.strategy" },
        { "{\"id\":\"ilc-v8\",\"loadBalancing\":{\"minCurrent\":-1}}", "loadBalancing.minCurrent" },
        { "{\"id\":\"ilc-v9\",\"loadBalancing\":{\"minCurrent\":6.25}}", "loadBalancing.minCurrent" },
        { "{\"id\":\"ilc-v10\",\"loadBalancing\":{\"phases\":2}}", "loadBalancing.phases" },
        { "{\"id\":\"ilc-v11\",\"loadBalancing\":{\"phases\":0}}", "loadBalancing.phases" },
        { "{\"id\":\"ilc-v12\",\"loadBalancing\":{\"voltage\":99}}", "loadBalancing.voltage" },
        { "{\"id\":\"ilc-v13\",\"loadBalancing\":{\"voltage\":501}}", "loadBalancing.voltage" },
        { "{\"id\":\"ilc-v14\",\"loadBalancing\":{\"enabled\":\"yes\"}}", "loadBalancing.enabled" },
        { "{\"id\":\"ilc-v15\",\"loadBalancing\":{\"redistribute\":null}}", "loadBalancing.redistribute" },
        { "{\"id\":\"ilc-v16\",\"loadBalancing\":{\"turbo\":true}}", "loadBalancing.turbo" },
        { "{\"id\":\"ilc-v17\",\"loadBalancing\":null}", "loadBalancing" },
        { "{\"id\":\"ilc-v18\",\"loadBalancing\":true}", "loadBalancing" },
        /* the rules of two fields */
        { "{\"id\":\"ilc-v19\",\"maxCurrent\":16,\"loadBalancing\":{\"minCurrent\":16.1}}",
          "loadBalancing.minCurrent" },
        { "{\"id\":\"ilc-v20\",\"maxCurrent\":4}", "maxCurrent" },  /* under the default minCurrent 6 */
        { "{\"id\":\"ilc-v21\",\"loadBalancing\":{\"enabled\":true}}", "loadBalancing.enabled" },
        { "{\"id\":\"ilc-v22\",\"effectiveMaxCurrent\":5}", "effectiveMaxCurrent" },
    };
    api_expect_bad_bodies(PORT, admin, "POST", "/v1/sites", cases, API_COUNT(cases));
    assert_int_equal(db_int("SELECT count(*) FROM sites WHERE id LIKE 'ilc-v%'"), 0);

    /* the same rules on a PATCH, against the stored row */
    struct api_resp *r = api_post(PORT, admin, "/v1/sites", "{\"id\":\"ilc-rules\",\"maxCurrent\":16}");
    api_expect(r, 201);
    api_free(r);
    static const struct api_bad patches[] = {
        { "{\"loadBalancing\":{\"minCurrent\":20}}", "loadBalancing.minCurrent" },
        { "{\"maxCurrent\":5.9}", "maxCurrent" },
        { "{\"id\":\"ilc-other\"}", "id" },
        { "{\"maxCurrent\":16.05}", "maxCurrent" },
    };
    api_expect_bad_bodies(PORT, admin, "PATCH", "/v1/sites/ilc-rules", patches, API_COUNT(patches));
    r = api_patch(PORT, admin, "/v1/sites/ilc-rules", "{\"loadBalancing\":{\"enabled\":true}}");
    api_expect(r, 200);
    api_free(r);
    /* the limit cannot go while balancing is on: named the limit that the body clears */
    r = api_patch(PORT, admin, "/v1/sites/ilc-rules", "{\"maxCurrent\":null}");
    api_expect_error_naming(r, 422, "UNPROCESSABLE_ENTITY", "maxCurrent");
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM sites WHERE id = 'ilc-rules' AND max_current = 16"
                            " AND lb_enabled AND lb_min_current = 6"), 1);
    /* with maxPower instead it may */
    r = api_patch(PORT, admin, "/v1/sites/ilc-rules", "{\"maxCurrent\":null,\"maxPower\":11000}");
    const cJSON *s = api_expect(r, 200);
    api_check_null(s, "maxCurrent");
    check_num(s, "effectiveMaxCurrent", 15.9);      /* 11000 / 690 = 15.94 */
    api_free(r);
}

static void test_site_patch_merges_load_balancing(void **state)
{
    (void)state;
    struct api_resp *r = api_post(PORT, admin, "/v1/sites",
                                  "{\"id\":\"ilc-merge\",\"maxCurrent\":63,\"loadBalancing\":{\"enabled\":true,"
                                  "\"strategy\":\"priority\",\"phases\":1,\"voltage\":240,\"redistribute\":false}}");
    api_expect(r, 201);
    api_free(r);
    r = api_patch(PORT, admin, "/v1/sites/ilc-merge", "{\"loadBalancing\":{\"minCurrent\":8}}");
    const cJSON *s = api_expect(r, 200);
    api_check_schema(s, "Site");
    check_num(s, "maxCurrent", 63);
    const cJSON *lb = lb_of(s);
    check_num(lb, "minCurrent", 8);
    api_check_bool(lb, "enabled", true);
    api_check_str(lb, "strategy", "priority");
    api_check_int(lb, "phases", 1);
    api_check_int(lb, "voltage", 240);
    api_check_bool(lb, "redistribute", false);
    api_free(r);
    /* a site field alone leaves loadBalancing be */
    r = api_patch(PORT, admin, "/v1/sites/ilc-merge", "{\"name\":\"Garage\",\"maxCurrent\":50.5}");
    s = api_expect(r, 200);
    check_num(s, "maxCurrent", 50.5);
    lb = lb_of(s);
    check_num(lb, "minCurrent", 8);
    api_check_str(lb, "strategy", "priority");
    api_free(r);
    r = api_patch(PORT, admin, "/v1/sites/ilc-merge", "{\"loadBalancing\":{\"enabled\":false,\"strategy\":\"equal\"}}");
    lb = lb_of(api_expect(r, 200));
    api_check_bool(lb, "enabled", false);
    api_check_str(lb, "strategy", "equal");
    check_num(lb, "minCurrent", 8);
    api_check_int(lb, "voltage", 240);
    api_free(r);
}

static void test_token_priority(void **state)
{
    (void)state;
    struct api_resp *r = api_post(PORT, admin, "/v1/tokens", "{\"idTag\":\"ilc-tag1\"}");
    const cJSON *t = api_expect(r, 201);
    api_check_schema(t, "Token");
    api_check_int(t, "priority", 0);
    api_free(r);
    r = api_post(PORT, admin, "/v1/tokens", "{\"idTag\":\"ilc-tag2\",\"priority\":-5}");
    api_check_int(api_expect(r, 201), "priority", -5);
    api_free(r);
    r = api_patch(PORT, admin, "/v1/tokens/ilc-tag1", "{\"priority\":5}");
    t = api_expect(r, 200);
    api_check_schema(t, "Token");
    api_check_int(t, "priority", 5);
    api_free(r);
    r = api_get(PORT, admin, "/v1/tokens/ilc-tag1");
    api_check_int(api_expect(r, 200), "priority", 5);
    api_free(r);
    assert_int_equal(db_int("SELECT priority FROM tokens WHERE id_tag = 'ilc-tag1'"), 5);
    static const struct api_bad cases[] = {
        { "{\"priority\":1001}", "priority" },
        { "{\"priority\":-1001}", "priority" },
        { "{\"priority\":1.5}", "priority" },
        { "{\"priority\":null}", "priority" },
        { "{\"priority\":\"high\"}", "priority" },
    };
    api_expect_bad_bodies(PORT, admin, "PATCH", "/v1/tokens/ilc-tag1", cases, API_COUNT(cases));
    /* the token.updated event carries it */
    assert_true(db_int("SELECT count(*) FROM events WHERE type = 'token.updated'"
                       " AND (data->>'idTag') = 'ilc-tag1' AND (data->>'priority')::int = 5") >= 1);
}

static bool log_has(struct gw *g, const char *s, int timeout_ms)
{
    for (int64_t end = it_now_ms() + timeout_ms;;) {
        if (gw_log_contains(g, s))
            return true;
        if (it_now_ms() >= end)
            return false;
        it_pause(NULL, 50);
    }
}

/*
 * Another gateway on the same database: its site registry loads the sites
 * at start and follows each change made through the first one (NOTIFY
 * ocppgw_site), the effective limit computed as the REST answer shows it.
 */
static void test_second_gateway_follows_site_changes(void **state)
{
    (void)state;
    struct api_resp *r = api_post(PORT, admin, "/v1/sites", "{\"id\":\"ilc-two\",\"maxCurrent\":40}");
    api_expect(r, 201);
    api_free(r);
    struct gw_opts go = { .name = "it_load_config-2" };
    W.gw2 = gw_start(&go);
    if (!log_has(W.gw2, "site registry: site 'ilc-two' added: limit 40.0 A, load balancing off", IT_WAIT_MS))
        fail_msg("the second gateway did not load site ilc-two at start (log %s)", gw_log_path(W.gw2));

    r = api_patch(PORT, admin, "/v1/sites/ilc-two",
                  "{\"maxPower\":11000,\"loadBalancing\":{\"enabled\":true,\"strategy\":\"priority\"}}");
    api_expect(r, 200);
    api_free(r);
    /* 11000 W / (230 V x 3) = 15.94 A -> 15.9 A, below maxCurrent 40 */
    if (!log_has(W.gw2, "site registry: site 'ilc-two' changed: limit 15.9 A, load balancing on (priority)",
                 IT_WAIT_MS))
        fail_msg("the second gateway did not follow the change of site ilc-two (log %s)", gw_log_path(W.gw2));
    /* a new site and a deleted one too */
    r = api_post(PORT, admin, "/v1/sites", "{\"id\":\"ilc-three\"}");
    api_expect(r, 201);
    api_free(r);
    if (!log_has(W.gw2, "site registry: site 'ilc-three' added: no limit, load balancing off", IT_WAIT_MS))
        fail_msg("the second gateway did not learn of site ilc-three");
    r = api_delete(PORT, admin, "/v1/sites/ilc-three");
    api_expect(r, 204);
    api_free(r);
    if (!log_has(W.gw2, "site registry: site 'ilc-three' deleted", IT_WAIT_MS))
        fail_msg("the second gateway did not forget site ilc-three");
    /* the first gateway follows its own writes the same way */
    assert_true(log_has(W.gw, "site registry: site 'ilc-two' changed: limit 15.9 A", IT_WAIT_MS));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, it_test_setup, it_test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_site_defaults_and_limits),
        T(test_site_load_fields_422),
        T(test_site_patch_merges_load_balancing),
        T(test_token_priority),
        T(test_second_gateway_follows_site_changes),
    };
    return cmocka_run_group_tests(tests, group_setup, api_group_teardown);
}
