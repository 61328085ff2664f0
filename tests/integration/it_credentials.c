/*
 * Integration: a charger's credentials as REST and the command line set
 * them, and what a change does to its live connection (security.md items 3
 * and 5).
 *
 * - No unauthenticated charger by accident: POST /v1/chargers without an
 *   authorizationKey makes a profile-1 charger with a generated key shown
 *   once; profile 0 only when asked for, counted in /metrics
 *   (ocppgw_chargers_unauthenticated) and warned about at start; the same
 *   for `ocppgw charger add`.
 * - A committed create is known to this gateway's admission when the 201
 *   leaves (with auto-registration on, a connection right after it is
 *   checked against the new charger's key, never auto-registered).
 * - Changing the key, the security profile, disabling (registrationStatus
 *   Rejected) or deleting closes the live connection with 1008 on the
 *   gateway that committed it and, through the chargers NOTIFY, on another
 *   gateway holding the connection; the next connection meets the new row.
 *
 * Charger ids start with "icr-". Each gateway allows many failed
 * authentications per address, so the 401s these tests expect are never
 * turned into 429s.
 */
#include "it.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls.h"
#include "db.h"
#include "fixture.h"
#include "gw.h"
#include "http.h"
#include "proc.h"
#include "support/rest.h"

#define KEY_A "icr-key-A-0123456789abcdef"
#define KEY_B "icr-key-B-0123456789abcdef"
#define PORT gw_port(W.gw)
#define LENIENT_INI API_UNLIMITED_INI "[ocpp]\nauth_fail_max = 100000\n"

static char *admin;

static int group_setup(void **state)
{
    (void)state;
    gw_migrate_once();
    db_exec("DELETE FROM chargers WHERE id LIKE 'icr-%'");
    db_exec("INSERT INTO chargers (id, security_profile) VALUES ('icr-open-at-start', 0)");
    admin = api_key_create("icr-admin", "admin");
    struct gw_opts o = { .name = "it_credentials", .ini = LENIENT_INI };
    W.gw = gw_start(&o);
    return 0;
}

static int group_teardown(void **state)
{
    free(admin);
    return api_group_teardown(state);
}

/* The upgrade's HTTP status for that id and password (101: connected, then closed again). */
static int upgrade_status(struct sim *s, const char *id, const char *password)
{
    struct sim_charger_opts o = { .id = id, .password = password };
    int status = 0;
    struct sim_charger *c = it_try_connect(s, &o, &status, NULL);
    if (c) {
        sim_disconnect(c);
        return 101;
    }
    return status;
}

/* POST /v1/chargers with that body: 201, the created charger (caller deletes). */
static cJSON *create(int port, const char *body)
{
    struct api_resp *r = api_post(port, admin, "/v1/chargers", body);
    cJSON *c = cJSON_Duplicate(api_expect(r, 201), true);
    api_free(r);
    return c;
}

static void patch(int port, const char *id, const char *body)
{
    char *path = it_strf("/v1/chargers/%s", id);
    struct api_resp *r = api_patch(port, admin, path, body);
    api_expect(r, 200);
    api_free(r);
    free(path);
}

/* The live connection c is closed by the gateway with 1008 (waits for it). */
static void expect_closed_1008(struct sim_charger *c, const char *what)
{
    if (!sim_wait_closed(c, IT_WAIT_MS))
        fail_msg("%s: the live connection of %s stayed open", what, sim_charger_id(c));
    if (sim_close_code(c) != 1008)
        fail_msg("%s: %s closed with %d (%s), expected 1008", what, sim_charger_id(c),
                 sim_close_code(c), sim_close_reason(c));
    sim_disconnect(c);
}

/* ---------------------------------------------------------------- no profile 0 by accident */

static void test_create_without_key_gets_profile_1_and_a_key_shown_once(void **state)
{
    (void)state;
    cJSON *c = create(PORT, "{\"id\":\"icr-gen\"}");
    api_check_schema(c, "ChargerCreated");
    api_check_int(c, "securityProfile", 1);
    api_check_bool(c, "hasAuthorizationKey", true);
    if (!js(c, "authorizationKey"))
        fail_msg("no authorizationKey in the 201: %s", cJSON_PrintUnformatted(c));
    char *key = strdup(js(c, "authorizationKey"));
    if (!it_is_hex40(key))
        fail_msg("authorizationKey \"%s\" is not 40 hex digits", key);
    cJSON_Delete(c);

    /* never shown again, never stored as given */
    struct api_resp *r = api_get(PORT, admin, "/v1/chargers/icr-gen");
    api_expect(r, 200);
    if (strstr(r->body, key) || strstr(r->body, "\"authorizationKey\""))
        fail_msg("GET shows the key: %s", r->body);
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'icr-gen' AND security_profile = 1"
                            " AND auth_hash LIKE 'pbkdf2-sha256$%' AND strpos(auth_hash, $1) = 0", key), 1);
    assert_int_equal(db_int("SELECT count(*) FROM audit_log WHERE strpos(coalesce(detail::text, ''), $1) > 0",
                            key), 0);

    /* the charger needs it at once: this gateway committed the row */
    assert_int_equal(upgrade_status(W.sim, "icr-gen", NULL), 401);
    assert_int_equal(upgrade_status(W.sim, "icr-gen", KEY_A), 401);
    struct sim_charger *ch = it_connect(W.sim, "icr-gen", key);
    assert_true(it_heartbeat_ok(ch));
    sim_disconnect(ch);
    free(key);

    /* a key given without a profile means profile 1 too, and is not echoed */
    c = create(PORT, "{\"id\":\"icr-given\",\"authorizationKey\":\"" KEY_A "\"}");
    api_check_int(c, "securityProfile", 1);
    if (cJSON_GetObjectItemCaseSensitive(c, "authorizationKey"))
        fail_msg("a key the client gave is echoed: %s", cJSON_PrintUnformatted(c));
    cJSON_Delete(c);
    assert_int_equal(upgrade_status(W.sim, "icr-given", NULL), 401);
    assert_int_equal(upgrade_status(W.sim, "icr-given", KEY_A), 101);
}

static void test_profile_0_only_when_asked_and_counted(void **state)
{
    (void)state;
    double before = metrics_get(PORT, "ocppgw_chargers_unauthenticated", NULL);
    if (before < 1)
        fail_msg("ocppgw_chargers_unauthenticated = %g with icr-open-at-start known", before);

    cJSON *c = create(PORT, "{\"id\":\"icr-open\",\"securityProfile\":0}");
    api_check_int(c, "securityProfile", 0);
    api_check_bool(c, "hasAuthorizationKey", false);
    if (cJSON_GetObjectItemCaseSensitive(c, "authorizationKey"))
        fail_msg("a profile 0 charger got a key: %s", cJSON_PrintUnformatted(c));
    cJSON_Delete(c);
    assert_true(metrics_get(PORT, "ocppgw_chargers_unauthenticated", NULL) == before + 1);
    assert_int_equal(upgrade_status(W.sim, "icr-open", NULL), 101);

    /* profile 0 takes no key */
    struct api_resp *r = api_post(PORT, admin, "/v1/chargers",
                                  "{\"id\":\"icr-open-key\",\"securityProfile\":0,\"authorizationKey\":\"" KEY_A "\"}");
    api_expect_error_naming(r, 422, "UNPROCESSABLE_ENTITY", "authorizationKey");
    api_free(r);

    /* given a key: no longer counted; deleted: gone from the count */
    patch(PORT, "icr-open", "{\"securityProfile\":1,\"authorizationKey\":\"" KEY_A "\"}");
    assert_true(metrics_get(PORT, "ocppgw_chargers_unauthenticated", NULL) == before);
    patch(PORT, "icr-open", "{\"securityProfile\":0,\"authorizationKey\":null}");
    assert_true(metrics_get(PORT, "ocppgw_chargers_unauthenticated", NULL) == before + 1);
    r = api_delete(PORT, admin, "/v1/chargers/icr-open");
    api_expect(r, 204);
    api_free(r);
    assert_true(metrics_get(PORT, "ocppgw_chargers_unauthenticated", NULL) == before);

    /* the start said so */
    if (!gw_log_contains(W.gw, "accepts connections without credentials (security profile 0)") &&
        !gw_log_contains(W.gw, "accept connections without credentials (security profile 0)"))
        fail_msg("no start-up warning about profile 0 chargers in %s", gw_log_path(W.gw));
}

/* `ocppgw charger add` makes the same choice: a key printed once, or profile 0 when asked for. */
static void test_cli_charger_add(void **state)
{
    (void)state;
    const char *argv[] = { it_env("OCPPGW_BIN"), "charger", "add", "icr-cli", "--db",
                           it_env("OCPPGW_TEST_DB"), NULL };
    struct proc_result pr;
    proc_run(argv, NULL, 60000, &pr);
    assert_int_equal(pr.status, 0);
    char key[64] = "";
    sscanf(pr.out ? pr.out : "", "%63s", key);
    proc_result_free(&pr);
    if (!it_is_hex40(key))
        fail_msg("charger add printed \"%s\", expected a 40 hex digit key", key);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'icr-cli' AND security_profile = 1"
                            " AND strpos(auth_hash, $1) = 0", key), 1);

    const char *open[] = { it_env("OCPPGW_BIN"), "charger", "add", "icr-cli-open", "--security-profile", "0",
                           "--db", it_env("OCPPGW_TEST_DB"), NULL };
    proc_run(open, NULL, 60000, &pr);
    assert_int_equal(pr.status, 0);
    if (pr.out && pr.out[0])
        fail_msg("charger add --security-profile 0 printed a key: %s", pr.out);
    proc_result_free(&pr);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'icr-cli-open' AND security_profile = 0"
                            " AND auth_hash IS NULL"), 1);

    const char *both[] = { it_env("OCPPGW_BIN"), "charger", "add", "icr-cli-bad", "--security-profile", "0",
                           "--auth-key", KEY_A, "--db", it_env("OCPPGW_TEST_DB"), NULL };
    proc_run(both, NULL, 60000, &pr);
    assert_int_equal(pr.status, 2);
    proc_result_free(&pr);

    /* the gateway learns of them through the notification */
    sim_disconnect(it_connect_when_known(W.sim, "icr-cli", key));
    assert_int_equal(upgrade_status(W.sim, "icr-cli", NULL), 401);
}

/* ---------------------------------------------------------------- the create race */

/*
 * With auto-registration on, an unknown id is admitted without
 * credentials. A charger created through REST must be known to this
 * gateway's admission when the 201 leaves, so a connection made right
 * after it is checked against the key: 401, never admitted.
 */
static void test_connect_right_after_create_meets_the_key(void **state)
{
    (void)state;
    const char *args[] = { "--auto-register", NULL };
    struct gw_opts go = { .name = "it_credentials-auto", .ini = LENIENT_INI, .args = args };
    W.gw2 = gw_start(&go);
    if (!gw_log_contains(W.gw2, "auto_register is on"))
        fail_msg("no start-up warning about auto-registration in %s", gw_log_path(W.gw2));
    W.sim2 = it_sim(gw_port(W.gw2));
    for (int i = 0; i < 20; i++) {
        char id[32], body[160];
        snprintf(id, sizeof id, "icr-race-%d", i);
        snprintf(body, sizeof body, "{\"id\":\"%s\",\"authorizationKey\":\"%s\"}", id, KEY_A);
        cJSON_Delete(create(gw_port(W.gw2), body));
        int status = upgrade_status(W.sim2, id, NULL);
        if (status != 401)
            fail_msg("%s connected right after its 201 without credentials: HTTP %d, expected 401", id,
                     status);
    }
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id LIKE 'icr-race-%' AND auto_registered"), 0);
}

/* ---------------------------------------------------------------- changes end sessions */

static void test_key_change_closes_the_session(void **state)
{
    (void)state;
    cJSON_Delete(create(PORT, "{\"id\":\"icr-rekey\",\"authorizationKey\":\"" KEY_A "\"}"));
    struct sim_charger *ch = it_connect_booted(W.sim, "icr-rekey", KEY_A);
    assert_true(it_heartbeat_ok(ch));

    /* a change that does not touch the credentials leaves it alone */
    patch(PORT, "icr-rekey", "{\"name\":\"renamed\"}");
    assert_true(it_heartbeat_ok(ch));

    patch(PORT, "icr-rekey", "{\"authorizationKey\":\"" KEY_B "\"}");
    expect_closed_1008(ch, "key changed");
    assert_int_equal(upgrade_status(W.sim, "icr-rekey", KEY_A), 401);
    ch = it_connect(W.sim, "icr-rekey", KEY_B);
    assert_true(it_heartbeat_ok(ch));
    sim_disconnect(ch);
}

static void test_profile_change_closes_the_session(void **state)
{
    (void)state;
    cJSON_Delete(create(PORT, "{\"id\":\"icr-prof\",\"authorizationKey\":\"" KEY_A "\"}"));
    struct sim_charger *ch = it_connect(W.sim, "icr-prof", KEY_A);
    assert_true(it_heartbeat_ok(ch));
    /* profile 2 wants the TLS listener: the plain connection no longer qualifies */
    patch(PORT, "icr-prof", "{\"securityProfile\":2}");
    expect_closed_1008(ch, "profile changed");
    assert_int_equal(upgrade_status(W.sim, "icr-prof", KEY_A), 401);
    patch(PORT, "icr-prof", "{\"securityProfile\":1}");
    assert_int_equal(upgrade_status(W.sim, "icr-prof", KEY_A), 101);
}

static void test_disable_closes_the_session(void **state)
{
    (void)state;
    cJSON_Delete(create(PORT, "{\"id\":\"icr-off\",\"authorizationKey\":\"" KEY_A "\"}"));
    struct sim_charger *ch = it_connect_booted(W.sim, "icr-off", KEY_A);
    patch(PORT, "icr-off", "{\"registrationStatus\":\"Pending\"}");
    assert_true(it_heartbeat_ok(ch));
    patch(PORT, "icr-off", "{\"registrationStatus\":\"Rejected\"}");
    expect_closed_1008(ch, "disabled");
    /* it may come back, and its BootNotification is Rejected */
    ch = it_connect(W.sim, "icr-off", KEY_A);
    cJSON *boot = it_ok(ch, "BootNotification", "{\"chargePointVendor\":\"Acme\",\"chargePointModel\":\"X\"}");
    api_check_str(boot, "status", "Rejected");
    cJSON_Delete(boot);
    sim_disconnect(ch);
}

static void test_delete_closes_the_session(void **state)
{
    (void)state;
    cJSON_Delete(create(PORT, "{\"id\":\"icr-del\",\"authorizationKey\":\"" KEY_A "\"}"));
    struct sim_charger *ch = it_connect(W.sim, "icr-del", KEY_A);
    struct api_resp *r = api_delete(PORT, admin, "/v1/chargers/icr-del");
    api_expect(r, 204);
    api_free(r);
    expect_closed_1008(ch, "deleted");
    assert_int_equal(upgrade_status(W.sim, "icr-del", KEY_A), 404);
}

/*
 * Two gateways on one database: the change is committed through the first,
 * the connection lives on the second, which learns of it from the chargers
 * NOTIFY and closes it.
 */
static void test_change_through_another_gateway_closes_the_session(void **state)
{
    (void)state;
    struct gw_opts go = { .name = "it_credentials-2", .ini = LENIENT_INI };
    W.gw2 = gw_start(&go);
    W.sim2 = it_sim(gw_port(W.gw2));
    cJSON_Delete(create(PORT, "{\"id\":\"icr-two\",\"authorizationKey\":\"" KEY_A "\"}"));

    struct sim_charger_opts o = { .id = "icr-two", .password = KEY_A };
    struct sim_charger *ch = NULL;
    int status = 0;
    for (int64_t end = it_now_ms() + IT_WAIT_MS; !ch && it_now_ms() < end;) {
        ch = it_try_connect(W.sim2, &o, &status, NULL);
        if (!ch)
            it_pause(W.sim2, 50);
    }
    if (!ch)
        fail_msg("icr-two on the second gateway: HTTP %d", status);
    assert_true(it_heartbeat_ok(ch));
    double open = metrics_get(gw_port(W.gw2), "ocppgw_chargers_unauthenticated", NULL);

    patch(PORT, "icr-two", "{\"authorizationKey\":\"" KEY_B "\"}");
    expect_closed_1008(ch, "key changed on the other gateway");
    assert_int_equal(upgrade_status(W.sim2, "icr-two", KEY_A), 401);
    ch = it_connect(W.sim2, "icr-two", KEY_B);

    /* profile 0 through the first: the second counts it once the notification came */
    patch(PORT, "icr-two", "{\"securityProfile\":0,\"authorizationKey\":null}");
    expect_closed_1008(ch, "profile changed on the other gateway");
    int64_t end = it_now_ms() + IT_WAIT_MS;
    while (metrics_get(gw_port(W.gw2), "ocppgw_chargers_unauthenticated", NULL) != open + 1 &&
           it_now_ms() < end)
        it_pause(W.sim2, 50);
    assert_true(metrics_get(gw_port(W.gw2), "ocppgw_chargers_unauthenticated", NULL) == open + 1);

    ch = it_connect(W.sim2, "icr-two", NULL);
    struct api_resp *r = api_delete(PORT, admin, "/v1/chargers/icr-two");
    api_expect(r, 204);
    api_free(r);
    expect_closed_1008(ch, "deleted on the other gateway");
}

/* A made key is a one-time secret: an Idempotency-Key replay answers the same charger with it null. */
static void test_made_key_not_kept_for_idempotent_replay(void **state)
{
    (void)state;
    struct api_req q = { .method = "POST", .path = "/v1/chargers", .key = admin,
                         .body = "{\"id\":\"icr-replay\"}",
                         .headers = (const char *[]){ "Idempotency-Key: icr-replay-1", NULL } };
    struct api_resp *a = api_send(PORT, &q);
    const char *made = js(api_expect(a, 201), "authorizationKey");
    if (!it_is_hex40(made))
        fail_msg("no made key in the 201: %s", a->body);
    char *key = strdup(made);
    api_free(a);

    struct api_resp *b = api_send(PORT, &q);
    const cJSON *again = api_expect(b, 201);
    api_check_str(again, "id", "icr-replay");
    api_check_null(again, "authorizationKey");
    const char *replayed = api_header(b, "Idempotent-Replayed");
    if (!replayed || strcmp(replayed, "true") != 0)
        fail_msg("replay without Idempotent-Replayed: true");
    if (strstr(b->body, key))
        fail_msg("the replay shows the made key: %s", b->body);
    api_free(b);
    assert_int_equal(db_int("SELECT count(*) FROM idempotency_keys k WHERE strpos(k::text, $1) > 0", key), 0);
    assert_int_equal(db_int("SELECT count(*) FROM audit_log l WHERE strpos(l::text, $1) > 0", key), 0);
    assert_int_equal(db_int("SELECT count(*) FROM chargers c WHERE strpos(c::text, $1) > 0", key), 0);
    /* and it is the key: the charger connects with it */
    struct sim_charger *ch = it_connect(W.sim, "icr-replay", key);
    sim_disconnect(ch);
    free(key);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, it_test_setup, it_test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_create_without_key_gets_profile_1_and_a_key_shown_once),
        T(test_made_key_not_kept_for_idempotent_replay),
        T(test_profile_0_only_when_asked_and_counted),
        T(test_cli_charger_add),
        T(test_connect_right_after_create_meets_the_key),
        T(test_key_change_closes_the_session),
        T(test_profile_change_closes_the_session),
        T(test_disable_closes_the_session),
        T(test_delete_closes_the_session),
        T(test_change_through_another_gateway_closes_the_session),
    };
#undef T
    return cmocka_run_group_tests_name("it_credentials", tests, group_setup, group_teardown);
}
