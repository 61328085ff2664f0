/*
 * Stored commands' pure parts (src/rest/res_command_list.c): which strings
 * are command ids (checked before any query), and the command resource of a
 * command still in memory, which must have the members, order and value
 * shapes of a row read from table commands (docs/commands-design.md).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cJSON.h>

#include "../../src/rest/res_commands.h"
#include "core.h"
#include "ocpp_msg.h"

static void test_command_id_syntax(void **state)
{
    (void)state;
    assert_true(res_command_id_ok("0193c9a4-7b1e-7c3a-9f00-5e4d3c2b1a09"));
    assert_true(res_command_id_ok("00000000-0000-0000-0000-000000000000"));
    assert_true(res_command_id_ok("ffffffff-ffff-ffff-ffff-ffffffffffff"));

    static const char *const bad[] = {
        "",
        "0193c9a4",
        "0193C9A4-7B1E-7C3A-9F00-5E4D3C2B1A09",     /* the gateway gives out lower case */
        "0193c9a4-7b1e-7c3a-9f00-5e4d3c2b1a0",      /* 35 */
        "0193c9a4-7b1e-7c3a-9f00-5e4d3c2b1a090",    /* 37 */
        "0193c9a47b1e7c3a9f005e4d3c2b1a09",         /* no dashes */
        "{0193c9a4-7b1e-7c3a-9f00-5e4d3c2b1a09}",
        "0193c9a4-7b1e-7c3a-9f005-e4d3c2b1a09",     /* dash one place off */
        "0193c9a4-7b1e-7c3a-9f00-5e4d3c2b1a0g",
        "0193c9a4-7b1e-7c3a-9f00-5e4d3c2b1a0 ",
        "0193c9a4_7b1e-7c3a-9f00-5e4d3c2b1a09",
        "0193c9a4-7b1e-7c3a-9f00-5e4d3c2b1a0\xc3",
        "12345",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (res_command_id_ok(bad[i]))
            fail_msg("'%s' taken for a command id", bad[i]);
    assert_false(res_command_id_ok(NULL));
}

/* The members of the command resource, in order (docs/commands-design.md). */
static const char *const members[] = {
    "id", "chargerId", "action", "payload", "status", "outcome", "response", "responseStatus",
    "error", "sessionId", "transactionId", "apiKeyId", "requestId", "createdAt", "sentAt",
    "answeredAt", "completedAt", "latencyMs", "origin",
};
#define NMEMBERS (sizeof members / sizeof members[0])

/* The resource as a client reads it: printed and parsed again (numbers are raw text inside). */
static cJSON *wire(cJSON *o)
{
    char *text = cJSON_PrintUnformatted(o);
    assert_non_null(text);
    cJSON *back = cJSON_Parse(text);
    if (!back)
        fail_msg("not JSON: %s", text);
    free(text);
    cJSON_Delete(o);
    return back;
}

static void check_members(const cJSON *o)
{
    assert_true(cJSON_IsObject(o));
    size_t i = 0;
    for (const cJSON *m = o->child; m; m = m->next, i++) {
        if (i >= NMEMBERS)
            fail_msg("extra member %s", m->string);
        if (strcmp(m->string, members[i]) != 0)
            fail_msg("member %zu is %s, not %s", i, m->string, members[i]);
    }
    assert_int_equal(i, NMEMBERS);
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v))
        fail_msg("%s is not a string", key);
    return v->valuestring;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v))
        fail_msg("%s is not a number", key);
    return cJSON_GetNumberValue(v);
}

static void is_null(const cJSON *o, const char *key)
{
    if (!cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, key)))
        fail_msg("%s is not null", key);
}

static void same_json(const cJSON *o, const char *key, const char *want)
{
    cJSON *w = cJSON_Parse(want);
    assert_non_null(w);
    if (!cJSON_Compare(cJSON_GetObjectItemCaseSensitive(o, key), w, true)) {
        char *got = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(o, key));
        fail_msg("%s is %s, not %s", key, got ? got : "(missing)", want);
    }
    cJSON_Delete(w);
}

static void test_json_of_an_answered_command(void **state)
{
    (void)state;
    struct core_command_view v = {
        .id = "0193c9a4-7b1e-7c3a-9f00-5e4d3c2b1a09",
        .charger_id = "CP-1",
        .action = OCPP_ACTION_RESET,
        .payload_json = "{\"type\":\"Soft\"}",
        .state = CORE_CMD_COMPLETED,
        .outcome = CORE_CMD_ANSWERED,
        .sent = true,
        .response_json = "{\"status\":\"Accepted\"}",
        .status = "Accepted",
        .api_key_id = 3,
        .request_id = "req-1",
        .created_ms = INT64_C(1795255200000),       /* 2026-11-21T10:00:00Z */
        .sent_ms = INT64_C(1795255200005),
        .answered_ms = INT64_C(1795255200017),
        .completed_ms = INT64_C(1795255200017),
    };
    cJSON *o = wire(res_command_json(&v));
    check_members(o);
    assert_string_equal(str(o, "id"), v.id);
    assert_string_equal(str(o, "chargerId"), "CP-1");
    assert_string_equal(str(o, "action"), "Reset");
    same_json(o, "payload", "{\"type\":\"Soft\"}");
    assert_string_equal(str(o, "status"), "completed");
    assert_string_equal(str(o, "outcome"), "answered");
    same_json(o, "response", "{\"status\":\"Accepted\"}");
    assert_string_equal(str(o, "responseStatus"), "Accepted");
    is_null(o, "error");
    is_null(o, "sessionId");
    is_null(o, "transactionId");
    assert_int_equal((int64_t)num(o, "apiKeyId"), 3);
    assert_string_equal(str(o, "requestId"), "req-1");
    assert_string_equal(str(o, "createdAt"), "2026-11-21T10:00:00Z");
    assert_string_equal(str(o, "sentAt"), "2026-11-21T10:00:00.005Z");
    assert_string_equal(str(o, "answeredAt"), "2026-11-21T10:00:00.017Z");
    assert_string_equal(str(o, "completedAt"), "2026-11-21T10:00:00.017Z");
    assert_int_equal((int64_t)num(o, "latencyMs"), 12);
    assert_string_equal(str(o, "origin"), "api");
    cJSON_Delete(o);

    /* the gateway's own command (CertificateSigned after a SignCertificate) */
    v.action = OCPP_ACTION_CERTIFICATE_SIGNED;
    v.api_key_id = 0;
    v.request_id = NULL;
    v.origin = CORE_CMD_ORIGIN_GATEWAY;
    o = wire(res_command_json(&v));
    check_members(o);
    assert_string_equal(str(o, "action"), "CertificateSigned");
    is_null(o, "apiKeyId");
    assert_string_equal(str(o, "origin"), "gateway");
    cJSON_Delete(o);
}

static void test_json_of_a_queued_command(void **state)
{
    (void)state;
    struct core_command_view v = {
        .id = "0193c9a4-7b1e-7c3a-9f00-5e4d3c2b1a0a",
        .charger_id = "CP-2",
        .action = OCPP_ACTION_REMOTE_STOP_TRANSACTION,
        .payload_json = "{\"transactionId\":42}",
        .state = CORE_CMD_QUEUED,
        .outcome = CORE_CMD_PENDING,
        .session_id = 9,
        .transaction_id = 42,
        .created_ms = INT64_C(1795255200000),
    };
    cJSON *o = wire(res_command_json(&v));
    check_members(o);
    assert_string_equal(str(o, "action"), "RemoteStopTransaction");
    assert_string_equal(str(o, "status"), "queued");
    is_null(o, "outcome");
    is_null(o, "response");
    is_null(o, "responseStatus");
    is_null(o, "error");
    assert_int_equal((int64_t)num(o, "sessionId"), 9);
    assert_int_equal((int64_t)num(o, "transactionId"), 42);
    is_null(o, "apiKeyId");
    is_null(o, "requestId");
    is_null(o, "sentAt");
    is_null(o, "answeredAt");
    is_null(o, "completedAt");
    is_null(o, "latencyMs");
    cJSON_Delete(o);
}

static void test_json_of_failed_commands(void **state)
{
    (void)state;
    struct core_command_view v = {
        .id = "0193c9a4-7b1e-7c3a-9f00-5e4d3c2b1a0b",
        .charger_id = "CP-3",
        .action = OCPP_ACTION_TRIGGER_MESSAGE,
        .payload_json = "{\"requestedMessage\":\"Heartbeat\"}",
        .state = CORE_CMD_FAILED,
        .outcome = CORE_CMD_CALL_ERROR,
        .sent = true,
        .error_code = "NotSupported",
        .error_description = "no \"triggers\" here",
        .created_ms = 1000,
        .sent_ms = 2000,
        .answered_ms = 2500,
        .completed_ms = 2500,
    };
    cJSON *o = wire(res_command_json(&v));
    check_members(o);
    assert_string_equal(str(o, "outcome"), "callError");
    same_json(o, "error", "{\"code\":\"NotSupported\",\"description\":\"no \\\"triggers\\\" here\"}");
    assert_int_equal((int64_t)num(o, "latencyMs"), 500);
    cJSON_Delete(o);

    /* an answer that fails the schema: the reason, no code */
    v.outcome = CORE_CMD_INVALID_ANSWER;
    v.error_code = NULL;
    v.error_description = "status: must be one of Accepted, Rejected";
    v.response_json = "{\"status\":\"Maybe\"}";
    v.status = "Maybe";
    o = wire(res_command_json(&v));
    check_members(o);
    assert_string_equal(str(o, "outcome"), "invalidAnswer");
    same_json(o, "error", "{\"code\":null,\"description\":\"status: must be one of Accepted, Rejected\"}");
    same_json(o, "response", "{\"status\":\"Maybe\"}");
    cJSON_Delete(o);

    /* timed out: sent, never answered */
    v.outcome = CORE_CMD_TIMEOUT;
    v.error_description = NULL;
    v.response_json = NULL;
    v.status = NULL;
    v.answered_ms = 0;
    o = wire(res_command_json(&v));
    assert_string_equal(str(o, "outcome"), "timeout");
    is_null(o, "error");
    is_null(o, "answeredAt");
    is_null(o, "latencyMs");
    assert_string_equal(str(o, "sentAt"), "1970-01-01T00:00:02Z");
    cJSON_Delete(o);
}

/* POST /v1/chargers/{id}/security-profile: the upgrade's prerequisites (res_security_profile.c). */
static enum res_profile_check check(int current, int target, bool key, bool tls, bool ca)
{
    struct res_profile_facts f = { .current = current, .target = target, .has_key = key,
                                   .tls_listener = tls, .tls_client_ca = ca };
    return res_profile_upgrade_check(&f);
}

static void test_security_profile_upgrade_prerequisites(void **state)
{
    (void)state;
    /* everything there: any upward move */
    assert_int_equal(check(0, 2, true, true, true), RES_PROFILE_OK);
    assert_int_equal(check(1, 2, true, true, false), RES_PROFILE_OK);
    assert_int_equal(check(1, 3, false, true, true), RES_PROFILE_OK);   /* 3: certificates, no key needed */
    assert_int_equal(check(2, 3, true, true, true), RES_PROFILE_OK);
    /* never sideways or down, whatever else holds */
    assert_int_equal(check(2, 2, true, true, true), RES_PROFILE_NOT_UPGRADE);
    assert_int_equal(check(3, 2, true, true, true), RES_PROFILE_NOT_UPGRADE);
    assert_int_equal(check(3, 3, true, true, true), RES_PROFILE_NOT_UPGRADE);
    assert_int_equal(check(3, 2, false, false, false), RES_PROFILE_NOT_UPGRADE);
    /* 2 and 3 need the TLS listener */
    assert_int_equal(check(1, 2, true, false, false), RES_PROFILE_NO_TLS);
    assert_int_equal(check(1, 3, true, false, true), RES_PROFILE_NO_TLS);
    /* 3 needs the client CA */
    assert_int_equal(check(1, 3, true, true, false), RES_PROFILE_NO_CLIENT_CA);
    assert_int_equal(check(2, 3, true, true, false), RES_PROFILE_NO_CLIENT_CA);
    /* 2 needs the charger's AuthorizationKey */
    assert_int_equal(check(1, 2, false, true, true), RES_PROFILE_NO_KEY);
    assert_int_equal(check(0, 2, false, true, false), RES_PROFILE_NO_KEY);
    /* reasons for the 409's context */
    assert_string_equal(res_profile_check_reason(RES_PROFILE_NOT_UPGRADE), "notAnUpgrade");
    assert_string_equal(res_profile_check_reason(RES_PROFILE_NO_TLS), "noTlsListener");
    assert_string_equal(res_profile_check_reason(RES_PROFILE_NO_CLIENT_CA), "noClientCa");
    assert_string_equal(res_profile_check_reason(RES_PROFILE_NO_KEY), "noAuthorizationKey");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_id_syntax),
        cmocka_unit_test(test_json_of_an_answered_command),
        cmocka_unit_test(test_json_of_a_queued_command),
        cmocka_unit_test(test_json_of_failed_commands),
        cmocka_unit_test(test_security_profile_upgrade_prerequisites),
    };
    return cmocka_run_group_tests_name("rest_commands", tests, NULL, NULL);
}
