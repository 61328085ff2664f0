/*
 * OCPP-J framing (src/ocpp/rpc.c) and the name tables (src/model/actions.c):
 * every line of tests/fixtures/ocpp/frames.txt parses to what it says,
 * builders escape whatever they are given and produce valid JSON, and
 * build -> parse round trips keep ids and payloads.
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

#include "ocpp.h"
#include "ocpp_fixtures.h"

/* ---- frames.txt ---- */

static const char *type_name(int type)
{
    return type == OCPP_CALL ? "CALL" : type == OCPP_CALLRESULT ? "CALLRESULT" : type == OCPP_CALLERROR ? "CALLERROR" : "?";
}

/* Runs one "RESULT CODE ID FRAME" line; false (after printing why) if it does not hold. */
static bool run_frame_case(char *line, int lineno)
{
    char *result = line, *code = strchr(result, ' ');
    char *id = code ? strchr(code + 1, ' ') : NULL;
    char *frame = id ? strchr(id + 1, ' ') : NULL;
    if (!frame) {
        print_error("frames.txt:%d: malformed case\n", lineno);
        return false;
    }
    *code++ = *id++ = *frame++ = '\0';
    const char *want_id = strcmp(id, "-") == 0 ? "" : id;
    /* a copy without a terminating NUL, so that reading past len would show under ASan */
    size_t len = strlen(frame);
    char *text = malloc(len ? len : 1);
    memcpy(text, frame, len);

    struct ocpp_frame f;
    enum ocpp_err err = OCPP_OK;
    const char *why = NULL;
    enum ocpp_parse_result r = ocpp_frame_parse(text, len, &f, &err, &why);
    bool ok;
    if (strcmp(result, "OK") == 0)
        ok = r == OCPP_PARSE_OK && strcmp(type_name(f.type), code) == 0;
    else if (strcmp(result, "IGNORE") == 0)
        ok = r == OCPP_PARSE_IGNORE;
    else
        ok = r == OCPP_PARSE_ERROR && strcmp(ocpp_error_code(err), code) == 0 && why && *why;
    ok = ok && strcmp(f.id, want_id) == 0;
    if (!ok)
        print_error("frames.txt:%d: %s: got result %d type %d err %s (%s) id '%s'; want %s %s '%s'\n", lineno,
                    frame, r, f.type, r == OCPP_PARSE_ERROR ? ocpp_error_code(err) : "-", why ? why : "",
                    f.id, result, code, want_id);
    ocpp_frame_free(&f);
    free(text);
    return ok;
}

static void test_frames_fixture(void **state)
{
    (void)state;
    char *text = ocpp_fixture_read("frames.txt", NULL);
    assert_non_null(text);
    int cases = 0, failed = 0, lineno = 0;
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        if (!*line || *line == '#')
            continue;
        cases++;
        failed += !run_frame_case(line, lineno);
    }
    free(text);
    assert_true(cases >= 50);
    assert_int_equal(failed, 0);
}

/* ---- parse details ---- */

static enum ocpp_parse_result parse(const char *text, struct ocpp_frame *f, enum ocpp_err *err)
{
    const char *why;
    return ocpp_frame_parse(text, strlen(text), f, err, &why);
}

static void test_call_fields(void **state)
{
    (void)state;
    struct ocpp_frame f;
    enum ocpp_err err;
    assert_int_equal(parse("[2,\"m-1\",\"StatusNotification\",{\"connectorId\":0}]", &f, &err), OCPP_PARSE_OK);
    assert_int_equal(f.type, OCPP_CALL);
    assert_string_equal(f.id, "m-1");
    assert_string_equal(f.action, "StatusNotification");
    assert_true(cJSON_IsObject(f.payload));
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(f.payload, "connectorId")->valueint, 0);
    assert_null(f.error_code);
    ocpp_frame_free(&f);
    ocpp_frame_free(&f); /* twice is harmless */
    assert_null(f.root);
}

static void test_callresult_and_callerror_fields(void **state)
{
    (void)state;
    struct ocpp_frame f;
    enum ocpp_err err;
    assert_int_equal(parse("[3,\"r\",{\"status\":\"Accepted\"}]", &f, &err), OCPP_PARSE_OK);
    assert_int_equal(f.type, OCPP_CALLRESULT);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(f.payload, "status")->valuestring, "Accepted");
    assert_string_equal(f.action, "");
    ocpp_frame_free(&f);

    assert_int_equal(parse("[4,\"e\",\"NotSupported\",\"no \\\"thanks\\\"\",{\"x\":1}]", &f, &err), OCPP_PARSE_OK);
    assert_int_equal(f.type, OCPP_CALLERROR);
    assert_string_equal(f.error_code, "NotSupported");
    assert_string_equal(f.error_description, "no \"thanks\"");
    assert_null(f.payload);
    ocpp_frame_free(&f);

    /* lenient: description and details may be left out */
    assert_int_equal(parse("[4,\"e\",\"InternalError\"]", &f, &err), OCPP_PARSE_OK);
    assert_string_equal(f.error_code, "InternalError");
    assert_string_equal(f.error_description, "");
    ocpp_frame_free(&f);
}

static void test_length_is_respected(void **state)
{
    (void)state;
    static const char buf[] = "[2,\"a\",\"Heartbeat\",{}]garbage";
    struct ocpp_frame f;
    enum ocpp_err err;
    const char *why;
    assert_int_equal(ocpp_frame_parse(buf, 22, &f, &err, &why), OCPP_PARSE_OK);
    ocpp_frame_free(&f);
    assert_int_equal(ocpp_frame_parse(buf, sizeof buf - 1, &f, &err, &why), OCPP_PARSE_ERROR);
    assert_int_equal(err, OCPP_ERR_FORMATION);
    ocpp_frame_free(&f);
    /* a NUL byte inside the message */
    static const char nul[] = "[2,\"a\",\"Heartbeat\",{}]\0 ";
    assert_int_equal(ocpp_frame_parse(nul, sizeof nul - 1, &f, &err, &why), OCPP_PARSE_ERROR);
    assert_int_equal(err, OCPP_ERR_FORMATION);
    ocpp_frame_free(&f);
    assert_int_equal(ocpp_frame_parse("", 0, &f, &err, &why), OCPP_PARSE_ERROR);
    assert_int_equal(err, OCPP_ERR_FORMATION);
    ocpp_frame_free(&f);
}

/* An id of n 'x': parse result, error if any, and whether frame->id keeps it. */
static void check_id_length(size_t n, enum ocpp_parse_result want, enum ocpp_err want_err, bool kept)
{
    char id[400], text[512];
    memset(id, 'x', n);
    id[n] = '\0';
    snprintf(text, sizeof text, "[2,\"%s\",\"Heartbeat\",{}]", id);
    struct ocpp_frame f;
    enum ocpp_err err = OCPP_OK;
    assert_int_equal(parse(text, &f, &err), want);
    if (want == OCPP_PARSE_ERROR)
        assert_int_equal(err, want_err);
    assert_string_equal(f.id, kept ? id : "");
    ocpp_frame_free(&f);
}

static void test_unique_id_limits(void **state)
{
    (void)state;
    check_id_length(1, OCPP_PARSE_OK, OCPP_OK, true);
    check_id_length(36, OCPP_PARSE_OK, OCPP_OK, true);
    /* over 36 bytes: FormationViolation, answered with the id as sent while it fits frame->id (255 bytes) */
    check_id_length(37, OCPP_PARSE_ERROR, OCPP_ERR_FORMATION, true);
    check_id_length(255, OCPP_PARSE_ERROR, OCPP_ERR_FORMATION, true);
    check_id_length(256, OCPP_PARSE_ERROR, OCPP_ERR_FORMATION, false);
    check_id_length(0, OCPP_PARSE_ERROR, OCPP_ERR_PROTOCOL, false);

    struct ocpp_frame f;
    enum ocpp_err err;
    char text[512];
    /* bytes, not characters: 36 x U+00E9 (72 bytes) is refused, and kept whole for the answer */
    char *p = text + sprintf(text, "[2,\"");
    for (int i = 0; i < 36; i++)
        p += sprintf(p, "\\u00e9");
    sprintf(p, "\",\"Heartbeat\",{}]");
    assert_int_equal(parse(text, &f, &err), OCPP_PARSE_ERROR);
    assert_int_equal(err, OCPP_ERR_FORMATION);
    assert_int_equal(strlen(f.id), 72);
    ocpp_frame_free(&f);
    /* 18 x U+00E9 is 36 bytes: fine, and whole */
    p = text + sprintf(text, "[2,\"");
    for (int i = 0; i < 18; i++)
        p += sprintf(p, "\\u00e9");
    sprintf(p, "\",\"Heartbeat\",{}]");
    assert_int_equal(parse(text, &f, &err), OCPP_PARSE_OK);
    assert_int_equal(strlen(f.id), 36);
    ocpp_frame_free(&f);
}

static void test_long_action_matches_nothing(void **state)
{
    (void)state;
    char text[512], action[200];
    memset(action, 'A', sizeof action - 1);
    action[sizeof action - 1] = '\0';
    memcpy(action, "Heartbeat", 9);
    snprintf(text, sizeof text, "[2,\"a\",\"%s\",{}]", action);
    struct ocpp_frame f;
    enum ocpp_err err;
    assert_int_equal(parse(text, &f, &err), OCPP_PARSE_OK);
    assert_int_equal(strlen(f.action), sizeof f.action - 1);
    assert_int_equal(ocpp_action_lookup(f.action), OCPP_ACTION_NONE);
    ocpp_frame_free(&f);
}

static void test_ignored_type_is_reported(void **state)
{
    (void)state;
    struct ocpp_frame f;
    enum ocpp_err err;
    assert_int_equal(parse("[7,\"a\",{}]", &f, &err), OCPP_PARSE_IGNORE);
    assert_int_equal(f.type, 7);
    ocpp_frame_free(&f);
    assert_int_equal(parse("[2.5,\"a\",\"Heartbeat\",{}]", &f, &err), OCPP_PARSE_IGNORE);
    assert_int_equal(f.type, -1);
    ocpp_frame_free(&f);
}

/* ---- builders ---- */

/* Parses built text as JSON and returns it; fails the test if it is not. */
static cJSON *as_json(const char *text)
{
    assert_non_null(text);
    cJSON *js = cJSON_Parse(text);
    if (!js)
        print_error("not JSON: %s\n", text);
    assert_non_null(js);
    return js;
}

static void test_build_callerror(void **state)
{
    (void)state;
    char *t = ocpp_build_callerror(NULL, OCPP_ERR_FORMATION, "not valid JSON");
    assert_string_equal(t, "[4,\"-1\",\"FormationViolation\",\"not valid JSON\",{}]");
    free(t);
    t = ocpp_build_callerror("", OCPP_ERR_PROTOCOL, NULL);
    assert_string_equal(t, "[4,\"-1\",\"ProtocolError\",\"\",{}]");
    free(t);
    t = ocpp_build_callerror("abc", OCPP_ERR_OCCURENCE_CONSTRAINT, "idTag: required property missing");
    assert_string_equal(t, "[4,\"abc\",\"OccurenceConstraintViolation\",\"idTag: required property missing\",{}]");
    free(t);
}

static void test_builders_escape(void **state)
{
    (void)state;
    static const char nasty[] = "q\"uote\\back\nline\ttab\x01 ctl \xc3\xa9 </script>";
    char *t = ocpp_build_callerror(nasty, OCPP_ERR_INTERNAL, nasty);
    cJSON *js = as_json(t);
    assert_string_equal(cJSON_GetArrayItem(js, 1)->valuestring, nasty);
    assert_string_equal(cJSON_GetArrayItem(js, 2)->valuestring, "InternalError");
    assert_string_equal(cJSON_GetArrayItem(js, 3)->valuestring, nasty);
    assert_true(cJSON_IsObject(cJSON_GetArrayItem(js, 4)));
    assert_null(strchr(t, '\n'));
    cJSON_Delete(js);
    free(t);

    cJSON *payload = cJSON_CreateObject();
    cJSON_AddStringToObject(payload, "data", nasty);
    t = ocpp_build_callresult(nasty, payload);
    js = as_json(t);
    assert_string_equal(cJSON_GetArrayItem(js, 1)->valuestring, nasty);
    assert_true(cJSON_Compare(cJSON_GetArrayItem(js, 2), payload, true));
    cJSON_Delete(js);
    free(t);
    cJSON_Delete(payload);

    t = ocpp_build_call(nasty, OCPP_ACTION_DATA_TRANSFER, "{\"vendorId\":\"x\",\"data\":\"a\\\"b\"}");
    js = as_json(t);
    assert_string_equal(cJSON_GetArrayItem(js, 1)->valuestring, nasty);
    assert_string_equal(cJSON_GetArrayItem(js, 2)->valuestring, "DataTransfer");
    cJSON_Delete(js);
    free(t);
}

static void test_build_callresult_borrows_payload(void **state)
{
    (void)state;
    cJSON *payload = cJSON_Parse("{\"status\":\"Accepted\",\"interval\":300}");
    char *t = ocpp_build_callresult("id-1", payload);
    assert_string_equal(t, "[3,\"id-1\",{\"status\":\"Accepted\",\"interval\":300}]");
    free(t);
    /* still ours, unchanged */
    assert_int_equal(cJSON_GetArraySize(payload), 2);
    cJSON_Delete(payload);

    t = ocpp_build_callresult("id-2", NULL);
    assert_string_equal(t, "[3,\"id-2\",{}]");
    free(t);
    cJSON *empty = cJSON_CreateObject();
    t = ocpp_build_callresult("id-3", empty);
    assert_string_equal(t, "[3,\"id-3\",{}]");
    free(t);
    cJSON_Delete(empty);
}

static void test_build_call(void **state)
{
    (void)state;
    char *t = ocpp_build_call("c1", OCPP_ACTION_RESET, "{ \"type\" : \"Soft\" }");
    assert_string_equal(t, "[2,\"c1\",\"Reset\",{\"type\":\"Soft\"}]");
    free(t);
    t = ocpp_build_call("c2", OCPP_ACTION_CLEAR_CACHE, NULL);
    assert_string_equal(t, "[2,\"c2\",\"ClearCache\",{}]");
    free(t);
    /* refused: payload not a JSON object, unknown action */
    assert_null(ocpp_build_call("c3", OCPP_ACTION_RESET, "{\"type\":"));
    assert_null(ocpp_build_call("c3", OCPP_ACTION_RESET, "[]"));
    assert_null(ocpp_build_call("c3", OCPP_ACTION_RESET, "{} {}"));
    assert_null(ocpp_build_call("c3", OCPP_ACTION_NONE, "{}"));
    assert_null(ocpp_build_call("c3", OCPP_ACTION_COUNT, "{}"));
}

static void test_round_trips(void **state)
{
    (void)state;
    for (int a = 0; a < OCPP_ACTION_COUNT; a++) {
        for (int dir = OCPP_SCHEMA_REQ; dir <= OCPP_SCHEMA_CONF; dir++) {
            cJSON *payload = ocpp_fixture_payload(a, dir);
            assert_non_null(payload);
            char id[40];
            snprintf(id, sizeof id, "%08x-rt-%d", (unsigned)a * 7919u, dir);
            char *t;
            if (dir == OCPP_SCHEMA_REQ) {
                char *pj = cJSON_PrintUnformatted(payload);
                t = ocpp_build_call(id, a, pj);
                free(pj);
            } else {
                t = ocpp_build_callresult(id, payload);
            }
            struct ocpp_frame f;
            enum ocpp_err err;
            assert_int_equal(parse(t, &f, &err), OCPP_PARSE_OK);
            assert_int_equal(f.type, dir == OCPP_SCHEMA_REQ ? OCPP_CALL : OCPP_CALLRESULT);
            assert_string_equal(f.id, id);
            if (dir == OCPP_SCHEMA_REQ)
                assert_int_equal(ocpp_action_lookup(f.action), a);
            assert_true(cJSON_Compare(f.payload, payload, true));
            ocpp_frame_free(&f);
            free(t);
            cJSON_Delete(payload);
        }
    }
    char *t = ocpp_build_callerror("err-1", OCPP_ERR_TYPE_CONSTRAINT, "status: must be one of ...");
    struct ocpp_frame f;
    enum ocpp_err err;
    assert_int_equal(parse(t, &f, &err), OCPP_PARSE_OK);
    assert_string_equal(f.id, "err-1");
    assert_string_equal(f.error_code, "TypeConstraintViolation");
    assert_string_equal(f.error_description, "status: must be one of ...");
    ocpp_frame_free(&f);
    free(t);
}

/* ---- names ---- */

static void test_action_table(void **state)
{
    (void)state;
    for (int a = 0; a < OCPP_ACTION_COUNT; a++) {
        const char *name = ocpp_action_name(a);
        assert_true(*name);
        if (a > 0)
            assert_true(strcmp(ocpp_action_name(a - 1), name) < 0); /* bsearch needs this */
        assert_int_equal(ocpp_action_lookup(name), a);
    }
    assert_string_equal(ocpp_action_name(OCPP_ACTION_AUTHORIZE), "Authorize");
    assert_string_equal(ocpp_action_name(OCPP_ACTION_SIGNED_FIRMWARE_STATUS_NOTIFICATION),
                        "SignedFirmwareStatusNotification");
    assert_string_equal(ocpp_action_name(OCPP_ACTION_UPDATE_FIRMWARE), "UpdateFirmware");
    assert_string_equal(ocpp_action_name(OCPP_ACTION_NONE), "");
    assert_string_equal(ocpp_action_name(OCPP_ACTION_COUNT), "");
    assert_int_equal(ocpp_action_lookup("heartbeat"), OCPP_ACTION_NONE);
    assert_int_equal(ocpp_action_lookup("Heartbeat "), OCPP_ACTION_NONE);
    assert_int_equal(ocpp_action_lookup(""), OCPP_ACTION_NONE);
    assert_int_equal(ocpp_action_lookup("ZZZ"), OCPP_ACTION_NONE);
}

static void test_charger_initiated(void **state)
{
    (void)state;
    /* the ten of 1.6 and the four of the security white paper */
    static const enum ocpp_action ten[] = {
        OCPP_ACTION_AUTHORIZE, OCPP_ACTION_BOOT_NOTIFICATION, OCPP_ACTION_DATA_TRANSFER,
        OCPP_ACTION_DIAGNOSTICS_STATUS_NOTIFICATION, OCPP_ACTION_FIRMWARE_STATUS_NOTIFICATION,
        OCPP_ACTION_HEARTBEAT, OCPP_ACTION_METER_VALUES, OCPP_ACTION_START_TRANSACTION,
        OCPP_ACTION_STATUS_NOTIFICATION, OCPP_ACTION_STOP_TRANSACTION,
        OCPP_ACTION_LOG_STATUS_NOTIFICATION, OCPP_ACTION_SECURITY_EVENT_NOTIFICATION,
        OCPP_ACTION_SIGN_CERTIFICATE, OCPP_ACTION_SIGNED_FIRMWARE_STATUS_NOTIFICATION,
    };
    int n = 0;
    for (int a = 0; a < OCPP_ACTION_COUNT; a++)
        n += ocpp_action_is_charger_initiated(a);
    assert_int_equal(n, 14);
    for (size_t i = 0; i < sizeof ten / sizeof ten[0]; i++)
        assert_true(ocpp_action_is_charger_initiated(ten[i]));
    assert_false(ocpp_action_is_charger_initiated(OCPP_ACTION_NONE));
    assert_false(ocpp_action_is_charger_initiated(OCPP_ACTION_REMOTE_START_TRANSACTION));
}

/* The 19 Central System -> Charge Point actions of 1.6 and the 7 of the Security Extension. */
static void test_gateway_initiated(void **state)
{
    (void)state;
    static const enum ocpp_action security[] = {
        OCPP_ACTION_CERTIFICATE_SIGNED, OCPP_ACTION_DELETE_CERTIFICATE,
        OCPP_ACTION_EXTENDED_TRIGGER_MESSAGE, OCPP_ACTION_GET_INSTALLED_CERTIFICATE_IDS,
        OCPP_ACTION_GET_LOG, OCPP_ACTION_INSTALL_CERTIFICATE, OCPP_ACTION_SIGNED_UPDATE_FIRMWARE,
    };
    int n = 0;
    for (int a = 0; a < OCPP_ACTION_COUNT; a++)
        n += ocpp_action_is_gateway_initiated(a);
    assert_int_equal(n, 26);
    for (size_t i = 0; i < sizeof security / sizeof security[0]; i++)
        assert_true(ocpp_action_is_gateway_initiated(security[i]));
    assert_true(ocpp_action_is_gateway_initiated(OCPP_ACTION_RESET));
    assert_false(ocpp_action_is_gateway_initiated(OCPP_ACTION_SECURITY_EVENT_NOTIFICATION));
    assert_false(ocpp_action_is_gateway_initiated(OCPP_ACTION_SIGN_CERTIFICATE));
    assert_false(ocpp_action_is_gateway_initiated(OCPP_ACTION_HEARTBEAT));
    assert_false(ocpp_action_is_gateway_initiated(OCPP_ACTION_NONE));
}

static void test_error_codes(void **state)
{
    (void)state;
    assert_string_equal(ocpp_error_code(OCPP_ERR_NOT_IMPLEMENTED), "NotImplemented");
    assert_string_equal(ocpp_error_code(OCPP_ERR_NOT_SUPPORTED), "NotSupported");
    assert_string_equal(ocpp_error_code(OCPP_ERR_INTERNAL), "InternalError");
    assert_string_equal(ocpp_error_code(OCPP_ERR_PROTOCOL), "ProtocolError");
    assert_string_equal(ocpp_error_code(OCPP_ERR_SECURITY), "SecurityError");
    assert_string_equal(ocpp_error_code(OCPP_ERR_FORMATION), "FormationViolation");
    assert_string_equal(ocpp_error_code(OCPP_ERR_PROPERTY_CONSTRAINT), "PropertyConstraintViolation");
    assert_string_equal(ocpp_error_code(OCPP_ERR_OCCURENCE_CONSTRAINT), "OccurenceConstraintViolation");
    assert_string_equal(ocpp_error_code(OCPP_ERR_TYPE_CONSTRAINT), "TypeConstraintViolation");
    assert_string_equal(ocpp_error_code(OCPP_ERR_GENERIC), "GenericError");
    assert_string_equal(ocpp_error_code(OCPP_OK), "GenericError");
    assert_string_equal(ocpp_error_code((enum ocpp_err)99), "GenericError");
}

static void test_auth_status(void **state)
{
    (void)state;
    static const char *const names[] = { "Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx" };
    for (int s = OCPP_AUTH_ACCEPTED; s <= OCPP_AUTH_CONCURRENT_TX; s++) {
        enum ocpp_auth_status got;
        assert_string_equal(ocpp_auth_status_name(s), names[s]);
        assert_true(ocpp_auth_status_parse(names[s], &got));
        assert_int_equal(got, s);
    }
    enum ocpp_auth_status got = OCPP_AUTH_BLOCKED;
    assert_false(ocpp_auth_status_parse("accepted", &got));
    assert_false(ocpp_auth_status_parse("", &got));
    assert_int_equal(got, OCPP_AUTH_BLOCKED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames_fixture),
        cmocka_unit_test(test_call_fields),
        cmocka_unit_test(test_callresult_and_callerror_fields),
        cmocka_unit_test(test_length_is_respected),
        cmocka_unit_test(test_unique_id_limits),
        cmocka_unit_test(test_long_action_matches_nothing),
        cmocka_unit_test(test_ignored_type_is_reported),
        cmocka_unit_test(test_build_callerror),
        cmocka_unit_test(test_builders_escape),
        cmocka_unit_test(test_build_callresult_borrows_payload),
        cmocka_unit_test(test_build_call),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_action_table),
        cmocka_unit_test(test_charger_initiated),
        cmocka_unit_test(test_gateway_initiated),
        cmocka_unit_test(test_error_codes),
        cmocka_unit_test(test_auth_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
