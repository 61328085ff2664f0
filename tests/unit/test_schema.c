/*
 * The OCPP 1.6 schema validator (src/ocpp/schema.c): every fixture payload
 * of the 78 schemas passes; each error class comes out with the right
 * CALLERROR mapping and JSON path; the first violation in document order
 * wins; nothing the peer sent is echoed beyond 40 characters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <cJSON.h>

#include "ocpp.h"
#include "ocpp_fixtures.h"

/* Validates json (text) and checks the error class and path of the violation. */
static void expect(enum ocpp_action a, enum ocpp_schema_dir dir, const char *json,
                   enum ocpp_err err, const char *path)
{
    cJSON *p = cJSON_Parse(json);
    assert_non_null(p);
    struct ocpp_violation v;
    enum ocpp_err got = ocpp_schema_validate(a, dir, p, &v);
    if (got != err || (err && strcmp(v.path, path) != 0))
        print_error("%s: got %s at '%s' (%s), want %s at '%s'\n", json, ocpp_error_code(got), v.path,
                    v.message, err ? ocpp_error_code(err) : "OK", path);
    assert_int_equal(got, err);
    assert_int_equal(v.err, err);
    if (err)
        assert_string_equal(v.path, path);
    assert_true(strlen(v.message) < sizeof v.message);
    cJSON_Delete(p);
}

static void expect_ok(enum ocpp_action a, enum ocpp_schema_dir dir, const char *json)
{
    expect(a, dir, json, OCPP_OK, "");
}

static void test_init_is_idempotent(void **state)
{
    (void)state;
    assert_true(ocpp_schema_init());
    assert_true(ocpp_schema_init());
    expect_ok(OCPP_ACTION_HEARTBEAT, OCPP_SCHEMA_REQ, "{}");
}

static void test_every_fixture_validates(void **state)
{
    (void)state;
    int checked = 0;
    for (int a = 0; a < OCPP_ACTION_COUNT; a++) {
        for (int dir = OCPP_SCHEMA_REQ; dir <= OCPP_SCHEMA_CONF; dir++) {
            cJSON *p = ocpp_fixture_payload(a, dir);
            assert_non_null(p);
            struct ocpp_violation v;
            enum ocpp_err err = ocpp_schema_validate(a, dir, p, &v);
            if (err)
                print_error("%s.%s: %s at '%s': %s\n", ocpp_action_name(a), dir ? "conf" : "req",
                            ocpp_error_code(err), v.path, v.message);
            assert_int_equal(err, OCPP_OK);
            cJSON_Delete(p);
            checked++;
        }
    }
    assert_int_equal(checked, 78);
}

/* ---- FormationViolation ---- */

static void test_formation_extra_property(void **state)
{
    (void)state;
    expect(OCPP_ACTION_AUTHORIZE, OCPP_SCHEMA_REQ, "{\"idTag\":\"A\",\"foo\":1}", OCPP_ERR_FORMATION, "foo");
    expect(OCPP_ACTION_AUTHORIZE, OCPP_SCHEMA_CONF,
           "{\"idTagInfo\":{\"status\":\"Accepted\",\"bogus\":true}}", OCPP_ERR_FORMATION, "idTagInfo.bogus");
    expect(OCPP_ACTION_METER_VALUES, OCPP_SCHEMA_REQ,
           "{\"connectorId\":1,\"meterValue\":[{\"timestamp\":\"2024-01-01T00:00:00Z\","
           "\"sampledValue\":[{\"value\":\"1\"},{\"value\":\"2\",\"Unit\":\"Wh\"}]}]}",
           OCPP_ERR_FORMATION, "meterValue[0].sampledValue[1].Unit");
    /* an empty request takes no property at all */
    expect(OCPP_ACTION_HEARTBEAT, OCPP_SCHEMA_REQ, "{\"x\":null}", OCPP_ERR_FORMATION, "x");
}

static void test_formation_duplicate_property(void **state)
{
    (void)state;
    expect(OCPP_ACTION_AUTHORIZE, OCPP_SCHEMA_REQ, "{\"idTag\":\"A\",\"idTag\":\"B\"}", OCPP_ERR_FORMATION, "idTag");
}

static void test_formation_payload_not_object(void **state)
{
    (void)state;
    expect(OCPP_ACTION_HEARTBEAT, OCPP_SCHEMA_REQ, "[]", OCPP_ERR_FORMATION, "");
    expect(OCPP_ACTION_AUTHORIZE, OCPP_SCHEMA_REQ, "\"idTag\"", OCPP_ERR_FORMATION, "");
    expect(OCPP_ACTION_AUTHORIZE, OCPP_SCHEMA_CONF, "null", OCPP_ERR_FORMATION, "");
    struct ocpp_violation v;
    assert_int_equal(ocpp_schema_validate(OCPP_ACTION_HEARTBEAT, OCPP_SCHEMA_REQ, NULL, &v), OCPP_ERR_FORMATION);
    assert_string_equal(v.path, "");
}

/* ---- TypeConstraintViolation ---- */

static void test_type_string_where_integer(void **state)
{
    (void)state;
    expect(OCPP_ACTION_STATUS_NOTIFICATION, OCPP_SCHEMA_REQ,
           "{\"connectorId\":\"1\",\"errorCode\":\"NoError\",\"status\":\"Available\"}",
           OCPP_ERR_TYPE_CONSTRAINT, "connectorId");
    expect(OCPP_ACTION_BOOT_NOTIFICATION, OCPP_SCHEMA_REQ,
           "{\"chargePointVendor\":\"V\",\"chargePointModel\":17}", OCPP_ERR_TYPE_CONSTRAINT, "chargePointModel");
    expect(OCPP_ACTION_AUTHORIZE, OCPP_SCHEMA_REQ, "{\"idTag\":null}", OCPP_ERR_TYPE_CONSTRAINT, "idTag");
    expect(OCPP_ACTION_AUTHORIZE, OCPP_SCHEMA_CONF, "{\"idTagInfo\":\"Accepted\"}", OCPP_ERR_TYPE_CONSTRAINT,
           "idTagInfo");
    expect(OCPP_ACTION_METER_VALUES, OCPP_SCHEMA_REQ, "{\"connectorId\":1,\"meterValue\":{}}",
           OCPP_ERR_TYPE_CONSTRAINT, "meterValue");
    expect(OCPP_ACTION_GET_CONFIGURATION, OCPP_SCHEMA_CONF,
           "{\"configurationKey\":[{\"key\":\"k\",\"readonly\":\"yes\"}]}", OCPP_ERR_TYPE_CONSTRAINT,
           "configurationKey[0].readonly");
    expect(OCPP_ACTION_SET_CHARGING_PROFILE, OCPP_SCHEMA_REQ,
           "{\"connectorId\":1,\"csChargingProfiles\":{\"chargingProfileId\":1,\"stackLevel\":0,"
           "\"chargingProfilePurpose\":\"TxProfile\",\"chargingProfileKind\":\"Relative\","
           "\"chargingSchedule\":{\"chargingRateUnit\":\"A\",\"chargingSchedulePeriod\":"
           "[{\"startPeriod\":0,\"limit\":\"16\"}]}}}",
           OCPP_ERR_TYPE_CONSTRAINT, "csChargingProfiles.chargingSchedule.chargingSchedulePeriod[0].limit");
}

static void test_type_integer_must_be_integral(void **state)
{
    (void)state;
    const char *fmt = "{\"connectorId\":%s,\"errorCode\":\"NoError\",\"status\":\"Available\"}";
    char buf[128];
    snprintf(buf, sizeof buf, fmt, "5.5");
    expect(OCPP_ACTION_STATUS_NOTIFICATION, OCPP_SCHEMA_REQ, buf, OCPP_ERR_TYPE_CONSTRAINT, "connectorId");
    snprintf(buf, sizeof buf, fmt, "5.0");
    expect_ok(OCPP_ACTION_STATUS_NOTIFICATION, OCPP_SCHEMA_REQ, buf);
    snprintf(buf, sizeof buf, fmt, "1e2");
    expect_ok(OCPP_ACTION_STATUS_NOTIFICATION, OCPP_SCHEMA_REQ, buf);
    snprintf(buf, sizeof buf, fmt, "-9007199254740992");
    expect_ok(OCPP_ACTION_STATUS_NOTIFICATION, OCPP_SCHEMA_REQ, buf);
    snprintf(buf, sizeof buf, fmt, "true");
    expect(OCPP_ACTION_STATUS_NOTIFICATION, OCPP_SCHEMA_REQ, buf, OCPP_ERR_TYPE_CONSTRAINT, "connectorId");
}

static void test_type_bad_enum(void **state)
{
    (void)state;
    cJSON *p = cJSON_Parse("{\"connectorId\":1,\"errorCode\":\"NoError\",\"status\":\"charging\"}");
    struct ocpp_violation v;
    assert_int_equal(ocpp_schema_validate(OCPP_ACTION_STATUS_NOTIFICATION, OCPP_SCHEMA_REQ, p, &v),
                     OCPP_ERR_TYPE_CONSTRAINT);
    assert_string_equal(v.path, "status");
    assert_non_null(strstr(v.message, "must be one of Available, Preparing, Charging"));
    cJSON_Delete(p);
    expect(OCPP_ACTION_METER_VALUES, OCPP_SCHEMA_REQ,
           "{\"connectorId\":1,\"meterValue\":[{\"timestamp\":\"2024-01-01T00:00:00Z\",\"sampledValue\":[{\"value\":\"1\"}]},"
           "{\"timestamp\":\"2024-01-01T00:00:00Z\",\"sampledValue\":[{\"value\":\"1\",\"unit\":\"kwh\"}]}]}",
           OCPP_ERR_TYPE_CONSTRAINT, "meterValue[1].sampledValue[0].unit");
    /* a long enum list is cut, never overflows the message */
    p = cJSON_Parse("{\"connectorId\":1,\"meterValue\":[{\"timestamp\":\"2024-01-01T00:00:00Z\","
                    "\"sampledValue\":[{\"value\":\"1\",\"measurand\":\"Energy\"}]}]}");
    assert_int_equal(ocpp_schema_validate(OCPP_ACTION_METER_VALUES, OCPP_SCHEMA_REQ, p, &v), OCPP_ERR_TYPE_CONSTRAINT);
    assert_string_equal(v.path, "meterValue[0].sampledValue[0].measurand");
    assert_non_null(strstr(v.message, "..."));
    cJSON_Delete(p);
    /* $ref'd enums (security white paper messages) */
    expect(OCPP_ACTION_SIGN_CERTIFICATE, OCPP_SCHEMA_CONF, "{\"status\":\"Maybe\"}", OCPP_ERR_TYPE_CONSTRAINT, "status");
    expect(OCPP_ACTION_DELETE_CERTIFICATE, OCPP_SCHEMA_REQ,
           "{\"certificateHashData\":{\"hashAlgorithm\":\"MD5\",\"issuerNameHash\":\"a\",\"issuerKeyHash\":\"b\","
           "\"serialNumber\":\"c\"}}",
           OCPP_ERR_TYPE_CONSTRAINT, "certificateHashData.hashAlgorithm");
}

static void test_type_bad_date_time(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "yesterday", "2024-05-01", "2024-05-01T12:00:00", "2024-02-30T12:00:00Z",
        "2024-05-01 12:00:00Z", "2024-05-01T25:00:00Z", "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char buf[256];
        snprintf(buf, sizeof buf,
                 "{\"connectorId\":1,\"idTag\":\"A\",\"meterStart\":0,\"timestamp\":\"%s\"}", bad[i]);
        expect(OCPP_ACTION_START_TRANSACTION, OCPP_SCHEMA_REQ, buf, OCPP_ERR_TYPE_CONSTRAINT, "timestamp");
    }
    expect_ok(OCPP_ACTION_START_TRANSACTION, OCPP_SCHEMA_REQ,
              "{\"connectorId\":1,\"idTag\":\"A\",\"meterStart\":0,\"timestamp\":\"2024-05-01T12:00:00.123-05:00\"}");
    expect(OCPP_ACTION_HEARTBEAT, OCPP_SCHEMA_CONF, "{\"currentTime\":\"now\"}", OCPP_ERR_TYPE_CONSTRAINT,
           "currentTime");
}

/* ---- PropertyConstraintViolation ---- */

static void test_property_max_length(void **state)
{
    (void)state;
    expect(OCPP_ACTION_AUTHORIZE, OCPP_SCHEMA_REQ, "{\"idTag\":\"123456789012345678901\"}",
           OCPP_ERR_PROPERTY_CONSTRAINT, "idTag");
    expect_ok(OCPP_ACTION_AUTHORIZE, OCPP_SCHEMA_REQ, "{\"idTag\":\"12345678901234567890\"}");
    expect_ok(OCPP_ACTION_AUTHORIZE, OCPP_SCHEMA_REQ, "{\"idTag\":\"\"}");
    /* characters, not bytes: 20 x U+00E9 is 40 bytes */
    expect_ok(OCPP_ACTION_AUTHORIZE, OCPP_SCHEMA_REQ,
              "{\"idTag\":\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
              "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\"}");
    expect(OCPP_ACTION_AUTHORIZE, OCPP_SCHEMA_REQ,
           "{\"idTag\":\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
           "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9x\"}",
           OCPP_ERR_PROPERTY_CONSTRAINT, "idTag");
    expect(OCPP_ACTION_AUTHORIZE, OCPP_SCHEMA_CONF,
           "{\"idTagInfo\":{\"status\":\"Accepted\",\"parentIdTag\":\"123456789012345678901\"}}",
           OCPP_ERR_PROPERTY_CONSTRAINT, "idTagInfo.parentIdTag");
}

static void test_property_multiple_of(void **state)
{
    (void)state;
    const char *fmt =
        "{\"connectorId\":1,\"csChargingProfiles\":{\"chargingProfileId\":1,\"stackLevel\":0,"
        "\"chargingProfilePurpose\":\"TxProfile\",\"chargingProfileKind\":\"Relative\","
        "\"chargingSchedule\":{\"chargingRateUnit\":\"A\",\"chargingSchedulePeriod\":"
        "[{\"startPeriod\":0,\"limit\":16},{\"startPeriod\":60,\"limit\":%s}]}}}";
    static const char *const good[] = { "10.3", "0.3", "0.1", "0", "-7.7", "1000000.1", "22.2", "32", "6e1", "0.7" };
    static const char *const bad[] = { "16.05", "0.01", "10.33", "1e-3", "7.75" };
    char buf[512];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        snprintf(buf, sizeof buf, fmt, good[i]);
        expect_ok(OCPP_ACTION_SET_CHARGING_PROFILE, OCPP_SCHEMA_REQ, buf);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(buf, sizeof buf, fmt, bad[i]);
        expect(OCPP_ACTION_SET_CHARGING_PROFILE, OCPP_SCHEMA_REQ, buf, OCPP_ERR_PROPERTY_CONSTRAINT,
               "csChargingProfiles.chargingSchedule.chargingSchedulePeriod[1].limit");
    }
}

static void test_property_uri_min_items_range(void **state)
{
    (void)state;
    expect(OCPP_ACTION_GET_DIAGNOSTICS, OCPP_SCHEMA_REQ, "{\"location\":\"\"}", OCPP_ERR_PROPERTY_CONSTRAINT, "location");
    expect(OCPP_ACTION_GET_DIAGNOSTICS, OCPP_SCHEMA_REQ, "{\"location\":\"diag.example.com\"}",
           OCPP_ERR_PROPERTY_CONSTRAINT, "location");
    expect_ok(OCPP_ACTION_GET_DIAGNOSTICS, OCPP_SCHEMA_REQ, "{\"location\":\"ftp://diag.example.com/\"}");
    expect(OCPP_ACTION_GET_INSTALLED_CERTIFICATE_IDS, OCPP_SCHEMA_CONF,
           "{\"status\":\"Accepted\",\"certificateHashData\":[]}", OCPP_ERR_PROPERTY_CONSTRAINT, "certificateHashData");
    expect(OCPP_ACTION_HEARTBEAT, OCPP_SCHEMA_CONF, "{\"currentTime\":\"2024-01-01T00:00:00Z\"}", OCPP_OK, "");
    expect(OCPP_ACTION_RESERVE_NOW, OCPP_SCHEMA_REQ,
           "{\"connectorId\":1,\"expiryDate\":\"2024-01-01T00:00:00Z\",\"idTag\":\"A\",\"reservationId\":1e16}",
           OCPP_ERR_PROPERTY_CONSTRAINT, "reservationId");
}

/* ---- OccurenceConstraintViolation ---- */

static void test_occurence_missing_required(void **state)
{
    (void)state;
    expect(OCPP_ACTION_AUTHORIZE, OCPP_SCHEMA_REQ, "{}", OCPP_ERR_OCCURENCE_CONSTRAINT, "idTag");
    expect(OCPP_ACTION_BOOT_NOTIFICATION, OCPP_SCHEMA_REQ, "{\"chargePointVendor\":\"V\"}",
           OCPP_ERR_OCCURENCE_CONSTRAINT, "chargePointModel");
    expect(OCPP_ACTION_AUTHORIZE, OCPP_SCHEMA_CONF, "{\"idTagInfo\":{}}", OCPP_ERR_OCCURENCE_CONSTRAINT,
           "idTagInfo.status");
    expect(OCPP_ACTION_METER_VALUES, OCPP_SCHEMA_REQ,
           "{\"connectorId\":1,\"meterValue\":[{\"timestamp\":\"2024-01-01T00:00:00Z\","
           "\"sampledValue\":[{\"value\":\"1\"},{\"unit\":\"Wh\"}]}]}",
           OCPP_ERR_OCCURENCE_CONSTRAINT, "meterValue[0].sampledValue[1].value");
    expect(OCPP_ACTION_METER_VALUES, OCPP_SCHEMA_REQ,
           "{\"connectorId\":1,\"meterValue\":[{\"sampledValue\":[]}]}",
           OCPP_ERR_OCCURENCE_CONSTRAINT, "meterValue[0].timestamp");
}

/* ---- ordering and hygiene ---- */

static void test_first_violation_in_document_order(void **state)
{
    (void)state;
    /* the unknown member comes before the end of the object, where idTag is missed */
    expect(OCPP_ACTION_AUTHORIZE, OCPP_SCHEMA_REQ, "{\"foo\":1}", OCPP_ERR_FORMATION, "foo");
    /* members in the order sent, whatever the schema order */
    expect(OCPP_ACTION_STATUS_NOTIFICATION, OCPP_SCHEMA_REQ,
           "{\"status\":\"Nope\",\"connectorId\":\"x\",\"errorCode\":\"NoError\"}", OCPP_ERR_TYPE_CONSTRAINT, "status");
    expect(OCPP_ACTION_STATUS_NOTIFICATION, OCPP_SCHEMA_REQ,
           "{\"connectorId\":\"x\",\"status\":\"Nope\"}", OCPP_ERR_TYPE_CONSTRAINT, "connectorId");
    /* a violation inside an earlier array item beats a missing property of the payload */
    expect(OCPP_ACTION_METER_VALUES, OCPP_SCHEMA_REQ,
           "{\"meterValue\":[{\"timestamp\":\"bad\",\"sampledValue\":[]}]}", OCPP_ERR_TYPE_CONSTRAINT,
           "meterValue[0].timestamp");
}

static void test_no_user_data_beyond_40_chars(void **state)
{
    (void)state;
    char key[200], json[300];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    snprintf(json, sizeof json, "{\"idTag\":\"A\",\"%s\":1}", key);
    cJSON *p = cJSON_Parse(json);
    struct ocpp_violation v;
    assert_int_equal(ocpp_schema_validate(OCPP_ACTION_AUTHORIZE, OCPP_SCHEMA_REQ, p, &v), OCPP_ERR_FORMATION);
    assert_int_equal(strlen(v.path), 40);
    assert_null(strstr(v.message, "kkkkkkkkkk"));
    cJSON_Delete(p);
    /* control characters and non-ASCII in a name never reach the path */
    p = cJSON_Parse("{\"a\\n\\u00e9\\\"b\":1}");
    assert_int_equal(ocpp_schema_validate(OCPP_ACTION_HEARTBEAT, OCPP_SCHEMA_REQ, p, &v), OCPP_ERR_FORMATION);
    assert_string_equal(v.path, "a???\"b");
    cJSON_Delete(p);
}

static void test_unknown_action_and_null_violation(void **state)
{
    (void)state;
    cJSON *p = cJSON_Parse("{}");
    struct ocpp_violation v;
    assert_int_equal(ocpp_schema_validate(OCPP_ACTION_NONE, OCPP_SCHEMA_REQ, p, &v), OCPP_ERR_NOT_IMPLEMENTED);
    assert_int_equal(ocpp_schema_validate(OCPP_ACTION_COUNT, OCPP_SCHEMA_REQ, p, &v), OCPP_ERR_NOT_IMPLEMENTED);
    assert_int_equal(ocpp_schema_validate(OCPP_ACTION_HEARTBEAT, OCPP_SCHEMA_REQ, p, NULL), OCPP_OK);
    assert_int_equal(ocpp_schema_validate(OCPP_ACTION_AUTHORIZE, OCPP_SCHEMA_REQ, p, NULL),
                     OCPP_ERR_OCCURENCE_CONSTRAINT);
    cJSON_Delete(p);
}

static void test_not_loaded_is_internal(void **state)
{
    (void)state;
    ocpp_schema_free();
    cJSON *p = cJSON_Parse("{}");
    struct ocpp_violation v;
    assert_int_equal(ocpp_schema_validate(OCPP_ACTION_HEARTBEAT, OCPP_SCHEMA_REQ, p, &v), OCPP_ERR_INTERNAL);
    cJSON_Delete(p);
    assert_true(ocpp_schema_init());
    expect_ok(OCPP_ACTION_HEARTBEAT, OCPP_SCHEMA_REQ, "{}");
}

/* Not a benchmark: prints the rate so that a regression is visible in the log. */
static void test_throughput(void **state)
{
    (void)state;
    cJSON *p = ocpp_fixture_payload(OCPP_ACTION_METER_VALUES, OCPP_SCHEMA_REQ);
    assert_non_null(p);
    enum { N = 20000 };
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < N; i++)
        assert_int_equal(ocpp_schema_validate(OCPP_ACTION_METER_VALUES, OCPP_SCHEMA_REQ, p, NULL), OCPP_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(stderr, "MeterValues.req validation: %.0f/s\n", N / (s > 0 ? s : 1e-9));
    cJSON_Delete(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_is_idempotent),
        cmocka_unit_test(test_every_fixture_validates),
        cmocka_unit_test(test_formation_extra_property),
        cmocka_unit_test(test_formation_duplicate_property),
        cmocka_unit_test(test_formation_payload_not_object),
        cmocka_unit_test(test_type_string_where_integer),
        cmocka_unit_test(test_type_integer_must_be_integral),
        cmocka_unit_test(test_type_bad_enum),
        cmocka_unit_test(test_type_bad_date_time),
        cmocka_unit_test(test_property_max_length),
        cmocka_unit_test(test_property_multiple_of),
        cmocka_unit_test(test_property_uri_min_items_range),
        cmocka_unit_test(test_occurence_missing_required),
        cmocka_unit_test(test_first_violation_in_document_order),
        cmocka_unit_test(test_no_user_data_beyond_40_chars),
        cmocka_unit_test(test_unknown_action_and_null_violation),
        cmocka_unit_test(test_not_loaded_is_internal),
        cmocka_unit_test(test_throughput),
    };
    return cmocka_run_group_tests(tests, ocpp_fixture_schema_setup, ocpp_fixture_schema_teardown);
}
