/*
 * The codec of the ten charger-initiated actions (src/ocpp/codec.c and
 * codec_*.c): defaults of the spec filled, dates converted, ranges the
 * schema cannot express enforced, digests stable and sensitive, and every
 * conf builder's output valid against the official .conf schema.
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

#define T_2024_05_01_10_00Z INT64_C(1714557600000)

/* Parses json as action a; checks the result class and, on error, the path. */
static enum ocpp_err parse_text(enum ocpp_action a, const char *json, union ocpp_req *req,
                                enum ocpp_err want, const char *want_path)
{
    cJSON *p = cJSON_Parse(json);
    assert_non_null(p);
    struct ocpp_violation v;
    enum ocpp_err err = ocpp_parse_request(a, p, req, &v);
    if (err != want || (err && strcmp(v.path, want_path) != 0))
        print_error("%s: got %d at '%s' (%s), want %d at '%s'\n", json, err, v.path, v.message, want, want_path);
    assert_int_equal(err, want);
    if (err)
        assert_string_equal(v.path, want_path);
    cJSON_Delete(p);
    return err;
}

static void parse_fixture(enum ocpp_action a, union ocpp_req *req)
{
    cJSON *p = ocpp_fixture_payload(a, OCPP_SCHEMA_REQ);
    assert_non_null(p);
    struct ocpp_violation v;
    assert_int_equal(ocpp_schema_validate(a, OCPP_SCHEMA_REQ, p, &v), OCPP_OK);
    enum ocpp_err err = ocpp_parse_request(a, p, req, &v);
    if (err)
        print_error("%s: %s at '%s'\n", ocpp_action_name(a), v.message, v.path);
    assert_int_equal(err, OCPP_OK);
    cJSON_Delete(p);
}

static void test_every_charger_fixture_parses(void **state)
{
    (void)state;
    for (int a = 0; a < OCPP_ACTION_COUNT; a++) {
        if (!ocpp_action_is_charger_initiated(a))
            continue;
        union ocpp_req req;
        parse_fixture(a, &req);
        ocpp_req_free(a, &req);
    }
}

static void test_not_charger_initiated_or_not_object(void **state)
{
    (void)state;
    union ocpp_req req;
    parse_text(OCPP_ACTION_RESET, "{\"type\":\"Soft\"}", &req, OCPP_ERR_NOT_SUPPORTED, "");
    parse_text(OCPP_ACTION_NONE, "{}", &req, OCPP_ERR_NOT_SUPPORTED, "");
    parse_text(OCPP_ACTION_HEARTBEAT, "[]", &req, OCPP_ERR_FORMATION, "");
    parse_text(OCPP_ACTION_HEARTBEAT, "{}", &req, OCPP_OK, "");
    assert_int_equal(ocpp_parse_request(OCPP_ACTION_HEARTBEAT, NULL, &req, NULL), OCPP_ERR_FORMATION);
}

static void test_authorize_and_boot(void **state)
{
    (void)state;
    union ocpp_req req;
    parse_fixture(OCPP_ACTION_AUTHORIZE, &req);
    assert_string_equal(req.authorize.id_tag, "RFID-04A2B3C4");

    parse_fixture(OCPP_ACTION_BOOT_NOTIFICATION, &req);
    assert_string_equal(req.boot.vendor, "ACME");
    assert_string_equal(req.boot.model, "Wallbox-22");
    assert_string_equal(req.boot.cp_serial, "CP-2024-000123");
    assert_string_equal(req.boot.cb_serial, "CB-000123");
    assert_string_equal(req.boot.firmware, "1.8.3");
    assert_string_equal(req.boot.iccid, "89490200001234567890");
    assert_string_equal(req.boot.imsi, "262011234567890");
    assert_string_equal(req.boot.meter_type, "EM340");
    assert_string_equal(req.boot.meter_serial, "MTR-77812");

    parse_text(OCPP_ACTION_BOOT_NOTIFICATION, "{\"chargePointVendor\":\"V\",\"chargePointModel\":\"M\"}", &req,
               OCPP_OK, "");
    assert_string_equal(req.boot.vendor, "V");
    assert_string_equal(req.boot.firmware, "");
    assert_string_equal(req.boot.meter_serial, "");
    /* 20 characters but 40 bytes: does not fit the fixed buffer, refused rather than cut */
    parse_text(OCPP_ACTION_BOOT_NOTIFICATION,
               "{\"chargePointVendor\":\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
               "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\",\"chargePointModel\":\"M\"}",
               &req, OCPP_ERR_PROPERTY_CONSTRAINT, "chargePointVendor");
    parse_text(OCPP_ACTION_BOOT_NOTIFICATION, "{\"chargePointVendor\":\"V\"}", &req,
               OCPP_ERR_OCCURENCE_CONSTRAINT, "chargePointModel");
}

static void test_meter_values_defaults_and_dates(void **state)
{
    (void)state;
    union ocpp_req req;
    parse_fixture(OCPP_ACTION_METER_VALUES, &req);
    struct ocpp_meter_values_req *m = &req.meter_values;
    assert_int_equal(m->connector_id, 1);
    assert_true(m->has_transaction_id);
    assert_int_equal(m->transaction_id, 1001);
    assert_int_equal(m->n_values, 2);
    /* "2024-05-01T12:00:00+02:00" */
    assert_int_equal(m->values[0].timestamp_ms, T_2024_05_01_10_00Z);
    /* "2024-05-01T10:15:00.250Z" */
    assert_int_equal(m->values[1].timestamp_ms, T_2024_05_01_10_00Z + 15 * 60000 + 250);
    assert_int_equal(m->values[0].n_sampled, 3);

    const struct ocpp_sampled_value *s = &m->values[0].sampled[0];
    assert_string_equal(s->value, "12345.6");
    assert_string_equal(s->context, "Sample.Periodic");
    assert_string_equal(s->format, "Raw");
    assert_string_equal(s->measurand, "Energy.Active.Import.Register");
    assert_string_equal(s->phase, "");
    assert_string_equal(s->location, "Outlet");
    assert_string_equal(s->unit, "Wh");

    s = &m->values[0].sampled[1];
    assert_string_equal(s->value, "7.2");
    assert_string_equal(s->context, "Sample.Clock");
    assert_string_equal(s->measurand, "Power.Active.Import");
    assert_string_equal(s->phase, "L1-N");
    assert_string_equal(s->unit, "kW");

    s = &m->values[0].sampled[2];
    assert_string_equal(s->measurand, "SoC");
    assert_string_equal(s->location, "EV");
    assert_string_equal(s->unit, "Percent");
    assert_string_equal(s->context, "Sample.Periodic");
    assert_string_equal(s->format, "Raw");
    assert_int_not_equal(m->digest, 0);
    ocpp_req_free(OCPP_ACTION_METER_VALUES, &req);
    assert_null(req.meter_values.values);

    parse_text(OCPP_ACTION_METER_VALUES, "{\"connectorId\":0,\"meterValue\":[]}", &req, OCPP_OK, "");
    assert_false(req.meter_values.has_transaction_id);
    assert_int_equal(req.meter_values.n_values, 0);
    ocpp_req_free(OCPP_ACTION_METER_VALUES, &req);
}

static void test_meter_values_error_frees_everything(void **state)
{
    (void)state;
    union ocpp_req req;
    /* what the schema would refuse first, to reach the parser's own checks (and leak checks) */
    parse_text(OCPP_ACTION_METER_VALUES,
               "{\"connectorId\":1,\"meterValue\":[{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sampledValue\":"
               "[{\"value\":\"1\"},{\"value\":\"2\"}]},{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sampledValue\":"
               "[{\"value\":\"3\"},{\"value\":\"4\",\"unit\":\"a-unit-that-does-not-fit\"}]}]}",
               &req, OCPP_ERR_PROPERTY_CONSTRAINT, "meterValue[1].sampledValue[1].unit");
    assert_null(req.meter_values.values);
    assert_int_equal(req.meter_values.n_values, 0);
    parse_text(OCPP_ACTION_METER_VALUES,
               "{\"connectorId\":1,\"meterValue\":[{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sampledValue\":"
               "[{\"value\":\"1\"}]},{\"timestamp\":\"2024-13-01T10:00:00Z\",\"sampledValue\":[]}]}",
               &req, OCPP_ERR_TYPE_CONSTRAINT, "meterValue[1].timestamp");
    parse_text(OCPP_ACTION_METER_VALUES,
               "{\"connectorId\":1,\"meterValue\":[{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sampledValue\":"
               "[{\"unit\":\"Wh\"}]}]}",
               &req, OCPP_ERR_OCCURENCE_CONSTRAINT, "meterValue[0].sampledValue[0].value");
    parse_text(OCPP_ACTION_METER_VALUES, "{\"connectorId\":1}", &req, OCPP_ERR_OCCURENCE_CONSTRAINT, "meterValue");
}

static void test_integer_ranges(void **state)
{
    (void)state;
    union ocpp_req req;
    const char *status = "{\"connectorId\":%s,\"errorCode\":\"NoError\",\"status\":\"Available\"}";
    char buf[256];
    snprintf(buf, sizeof buf, status, "-1");
    parse_text(OCPP_ACTION_STATUS_NOTIFICATION, buf, &req, OCPP_ERR_PROPERTY_CONSTRAINT, "connectorId");
    snprintf(buf, sizeof buf, status, "2147483648");
    parse_text(OCPP_ACTION_STATUS_NOTIFICATION, buf, &req, OCPP_ERR_PROPERTY_CONSTRAINT, "connectorId");
    snprintf(buf, sizeof buf, status, "2147483647");
    parse_text(OCPP_ACTION_STATUS_NOTIFICATION, buf, &req, OCPP_OK, "");
    assert_int_equal(req.status.connector_id, 2147483647);
    snprintf(buf, sizeof buf, status, "0");
    parse_text(OCPP_ACTION_STATUS_NOTIFICATION, buf, &req, OCPP_OK, "");
    assert_int_equal(req.status.connector_id, 0);

    const char *mv = "{\"connectorId\":1,\"transactionId\":%s,\"meterValue\":[]}";
    snprintf(buf, sizeof buf, mv, "2147483648");
    parse_text(OCPP_ACTION_METER_VALUES, buf, &req, OCPP_ERR_PROPERTY_CONSTRAINT, "transactionId");
    snprintf(buf, sizeof buf, mv, "-2147483649");
    parse_text(OCPP_ACTION_METER_VALUES, buf, &req, OCPP_ERR_PROPERTY_CONSTRAINT, "transactionId");
    snprintf(buf, sizeof buf, mv, "-2147483648");
    parse_text(OCPP_ACTION_METER_VALUES, buf, &req, OCPP_OK, "");
    assert_int_equal(req.meter_values.transaction_id, INT32_MIN);
    ocpp_req_free(OCPP_ACTION_METER_VALUES, &req);

    const char *start = "{\"connectorId\":1,\"idTag\":\"T\",\"meterStart\":%s,\"reservationId\":%s,"
                        "\"timestamp\":\"2024-05-01T10:00:00Z\"}";
    snprintf(buf, sizeof buf, start, "9007199254740992", "7");
    parse_text(OCPP_ACTION_START_TRANSACTION, buf, &req, OCPP_OK, "");
    assert_int_equal(req.start_tx.meter_start, INT64_C(9007199254740992));
    assert_true(req.start_tx.has_reservation_id);
    assert_int_equal(req.start_tx.reservation_id, 7);
    snprintf(buf, sizeof buf, start, "1e300", "7");
    parse_text(OCPP_ACTION_START_TRANSACTION, buf, &req, OCPP_ERR_PROPERTY_CONSTRAINT, "meterStart");
    snprintf(buf, sizeof buf, start, "0", "4294967296");
    parse_text(OCPP_ACTION_START_TRANSACTION, buf, &req, OCPP_ERR_PROPERTY_CONSTRAINT, "reservationId");
    snprintf(buf, sizeof buf, start, "1.5", "1");
    parse_text(OCPP_ACTION_START_TRANSACTION, buf, &req, OCPP_ERR_TYPE_CONSTRAINT, "meterStart");

    const char *stop = "{\"meterStop\":%s,\"timestamp\":\"2024-05-01T10:00:00Z\",\"transactionId\":%s}";
    snprintf(buf, sizeof buf, stop, "-5", "2147483647");
    parse_text(OCPP_ACTION_STOP_TRANSACTION, buf, &req, OCPP_OK, "");
    assert_int_equal(req.stop_tx.meter_stop, -5);
    assert_int_equal(req.stop_tx.transaction_id, INT32_MAX);
    snprintf(buf, sizeof buf, stop, "5", "2147483648");
    parse_text(OCPP_ACTION_STOP_TRANSACTION, buf, &req, OCPP_ERR_PROPERTY_CONSTRAINT, "transactionId");
}

static void test_start_status_firmware_diagnostics(void **state)
{
    (void)state;
    union ocpp_req req;
    parse_fixture(OCPP_ACTION_START_TRANSACTION, &req);
    assert_int_equal(req.start_tx.connector_id, 1);
    assert_string_equal(req.start_tx.id_tag, "RFID-04A2B3C4");
    assert_int_equal(req.start_tx.meter_start, 1000);
    assert_true(req.start_tx.has_reservation_id);
    assert_int_equal(req.start_tx.timestamp_ms, T_2024_05_01_10_00Z);
    parse_text(OCPP_ACTION_START_TRANSACTION,
               "{\"connectorId\":2,\"idTag\":\"T\",\"meterStart\":0,\"timestamp\":\"2024-05-01T10:00:00.5z\"}",
               &req, OCPP_OK, "");
    assert_false(req.start_tx.has_reservation_id);
    assert_int_equal(req.start_tx.timestamp_ms, T_2024_05_01_10_00Z + 500);
    parse_text(OCPP_ACTION_START_TRANSACTION,
               "{\"connectorId\":2,\"idTag\":\"T\",\"meterStart\":0,\"timestamp\":\"2024-05-01T10:00:00\"}",
               &req, OCPP_ERR_TYPE_CONSTRAINT, "timestamp");

    parse_fixture(OCPP_ACTION_STATUS_NOTIFICATION, &req);
    assert_int_equal(req.status.connector_id, 1);
    assert_string_equal(req.status.error_code, "NoError");
    assert_string_equal(req.status.info, "door closed");
    assert_string_equal(req.status.status, "Charging");
    assert_true(req.status.has_timestamp);
    assert_int_equal(req.status.timestamp_ms, T_2024_05_01_10_00Z);
    assert_string_equal(req.status.vendor_id, "com.acme");
    assert_string_equal(req.status.vendor_error_code, "E-17");
    parse_text(OCPP_ACTION_STATUS_NOTIFICATION, "{\"connectorId\":0,\"errorCode\":\"NoError\",\"status\":\"Faulted\"}",
               &req, OCPP_OK, "");
    assert_false(req.status.has_timestamp);
    assert_string_equal(req.status.info, "");
    assert_string_equal(req.status.vendor_id, "");

    parse_fixture(OCPP_ACTION_FIRMWARE_STATUS_NOTIFICATION, &req);
    assert_string_equal(req.fw_diag_status.status, "Downloaded");
    parse_text(OCPP_ACTION_DIAGNOSTICS_STATUS_NOTIFICATION, "{\"status\":\"UploadFailed\"}", &req, OCPP_OK, "");
    assert_string_equal(req.fw_diag_status.status, "UploadFailed");
    parse_text(OCPP_ACTION_DIAGNOSTICS_STATUS_NOTIFICATION, "{}", &req, OCPP_ERR_OCCURENCE_CONSTRAINT, "status");
}

static void test_stop_transaction(void **state)
{
    (void)state;
    union ocpp_req req;
    parse_fixture(OCPP_ACTION_STOP_TRANSACTION, &req);
    struct ocpp_stop_tx_req *s = &req.stop_tx;
    assert_string_equal(s->id_tag, "RFID-04A2B3C4");
    assert_int_equal(s->meter_stop, 5000);
    assert_int_equal(s->transaction_id, 1001);
    assert_string_equal(s->reason, "EVDisconnected");
    assert_int_equal(s->timestamp_ms, T_2024_05_01_10_00Z + 3 * 3600000 + 30 * 60000);
    assert_int_equal(s->n_values, 2);
    assert_string_equal(s->values[0].sampled[0].context, "Transaction.Begin");
    assert_string_equal(s->values[1].sampled[0].value, "5000");
    assert_string_equal(s->values[1].sampled[0].measurand, "Energy.Active.Import.Register");
    assert_string_equal(s->values[1].sampled[0].unit, "Wh");
    assert_int_not_equal(s->digest, 0);
    ocpp_req_free(OCPP_ACTION_STOP_TRANSACTION, &req);

    parse_text(OCPP_ACTION_STOP_TRANSACTION,
               "{\"meterStop\":10,\"timestamp\":\"2024-05-01T10:00:00Z\",\"transactionId\":3}", &req, OCPP_OK, "");
    assert_string_equal(req.stop_tx.reason, "Local");
    assert_string_equal(req.stop_tx.id_tag, "");
    assert_int_equal(req.stop_tx.n_values, 0);
    assert_null(req.stop_tx.values);
    assert_int_equal(req.stop_tx.digest, 0);

    parse_text(OCPP_ACTION_STOP_TRANSACTION,
               "{\"meterStop\":10,\"timestamp\":\"2024-05-01T10:00:00Z\",\"transactionId\":3,\"transactionData\":"
               "[{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sampledValue\":[{\"value\":\"1\"}]},"
               "{\"timestamp\":\"never\",\"sampledValue\":[]}]}",
               &req, OCPP_ERR_TYPE_CONSTRAINT, "transactionData[1].timestamp");
    assert_null(req.stop_tx.values);
}

static void test_data_transfer(void **state)
{
    (void)state;
    union ocpp_req req;
    parse_fixture(OCPP_ACTION_DATA_TRANSFER, &req);
    assert_string_equal(req.data_transfer.vendor_id, "com.acme");
    assert_string_equal(req.data_transfer.message_id, "SessionInfo");
    assert_string_equal(req.data_transfer.data, "{\"soc\":42}"); /* the raw string */
    ocpp_req_free(OCPP_ACTION_DATA_TRANSFER, &req);
    assert_null(req.data_transfer.data);

    parse_text(OCPP_ACTION_DATA_TRANSFER, "{\"vendorId\":\"v\"}", &req, OCPP_OK, "");
    assert_null(req.data_transfer.data);
    assert_string_equal(req.data_transfer.message_id, "");
    /* not 1.6-schema-valid, but what some chargers send: kept as JSON text */
    parse_text(OCPP_ACTION_DATA_TRANSFER, "{\"vendorId\":\"v\",\"data\":{ \"a\" : [1, true, null] }}", &req, OCPP_OK, "");
    assert_string_equal(req.data_transfer.data, "{\"a\":[1,true,null]}");
    ocpp_req_free(OCPP_ACTION_DATA_TRANSFER, &req);
    parse_text(OCPP_ACTION_DATA_TRANSFER, "{\"vendorId\":\"v\",\"data\":\"\"}", &req, OCPP_OK, "");
    assert_string_equal(req.data_transfer.data, "");
    ocpp_req_free(OCPP_ACTION_DATA_TRANSFER, &req);
    parse_text(OCPP_ACTION_DATA_TRANSFER, "{\"vendorId\":7}", &req, OCPP_ERR_TYPE_CONSTRAINT, "vendorId");
}

/* ---- digest ---- */

static uint64_t digest_of(const char *json)
{
    cJSON *p = cJSON_Parse(json);
    assert_non_null(p);
    uint64_t d = ocpp_payload_digest(p);
    cJSON_Delete(p);
    return d;
}

static void test_digest_stable_and_sensitive(void **state)
{
    (void)state;
    /* FNV-1a 64 of "{}" */
    assert_int_equal(digest_of("{}"), UINT64_C(0x08f44b07b5901a25));
    const char *a = "{\"connectorId\":1,\"meterValue\":[{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sampledValue\":[{\"value\":\"10\"}]}]}";
    const char *a_spaced = "{ \"connectorId\" : 1,\n \"meterValue\" : [ { \"timestamp\" : \"2024-05-01T10:00:00Z\","
                           " \"sampledValue\" : [ { \"value\" : \"10\" } ] } ] }";
    const char *b = "{\"connectorId\":1,\"meterValue\":[{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sampledValue\":[{\"value\":\"11\"}]}]}";
    const char *c = "{\"connectorId\":2,\"meterValue\":[{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sampledValue\":[{\"value\":\"10\"}]}]}";
    assert_int_equal(digest_of(a), digest_of(a));
    assert_int_equal(digest_of(a), digest_of(a_spaced));
    assert_int_not_equal(digest_of(a), digest_of(b));
    assert_int_not_equal(digest_of(a), digest_of(c));

    /* the parsed request carries the same digest for the same message, resent */
    union ocpp_req r1, r2, r3;
    parse_text(OCPP_ACTION_METER_VALUES, a, &r1, OCPP_OK, "");
    parse_text(OCPP_ACTION_METER_VALUES, a_spaced, &r2, OCPP_OK, "");
    parse_text(OCPP_ACTION_METER_VALUES, b, &r3, OCPP_OK, "");
    assert_int_equal(r1.meter_values.digest, digest_of(a));
    assert_int_equal(r1.meter_values.digest, r2.meter_values.digest);
    assert_int_not_equal(r1.meter_values.digest, r3.meter_values.digest);
    ocpp_req_free(OCPP_ACTION_METER_VALUES, &r1);
    ocpp_req_free(OCPP_ACTION_METER_VALUES, &r2);
    ocpp_req_free(OCPP_ACTION_METER_VALUES, &r3);

    /* StopTransaction: of transactionData only */
    const char *s1 = "{\"meterStop\":10,\"timestamp\":\"2024-05-01T10:00:00Z\",\"transactionId\":3,\"transactionData\":"
                     "[{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sampledValue\":[{\"value\":\"1\"}]}]}";
    const char *s2 = "{\"meterStop\":99,\"timestamp\":\"2024-05-01T11:00:00Z\",\"transactionId\":3,\"transactionData\":"
                     "[{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sampledValue\":[{\"value\":\"1\"}]}]}";
    parse_text(OCPP_ACTION_STOP_TRANSACTION, s1, &r1, OCPP_OK, "");
    parse_text(OCPP_ACTION_STOP_TRANSACTION, s2, &r2, OCPP_OK, "");
    assert_int_equal(r1.stop_tx.digest, r2.stop_tx.digest);
    assert_int_equal(r1.stop_tx.digest,
                     digest_of("[{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sampledValue\":[{\"value\":\"1\"}]}]"));
    ocpp_req_free(OCPP_ACTION_STOP_TRANSACTION, &r1);
    ocpp_req_free(OCPP_ACTION_STOP_TRANSACTION, &r2);
}

/* ---- conf builders ---- */

/* Builds conf, checks it against the .conf schema, returns the compact JSON text (caller frees). */
static char *build_valid(const struct ocpp_conf *conf)
{
    cJSON *js = ocpp_conf_to_json(conf);
    assert_non_null(js);
    struct ocpp_violation v;
    enum ocpp_err err = ocpp_schema_validate(conf->action, OCPP_SCHEMA_CONF, js, &v);
    char *text = cJSON_PrintUnformatted(js);
    if (err)
        print_error("%s.conf %s: %s at '%s'\n", ocpp_action_name(conf->action), text, v.message, v.path);
    assert_int_equal(err, OCPP_OK);
    cJSON_Delete(js);
    return text;
}

static void expect_conf(const struct ocpp_conf *conf, const char *want)
{
    char *text = build_valid(conf);
    assert_string_equal(text, want);
    free(text);
}

static void test_conf_id_tag_info(void **state)
{
    (void)state;
    struct ocpp_conf c = { .action = OCPP_ACTION_AUTHORIZE };
    for (int s = OCPP_AUTH_ACCEPTED; s <= OCPP_AUTH_CONCURRENT_TX; s++) {
        c.body.authorize.status = s;
        free(build_valid(&c));
    }
    c.body.authorize.status = OCPP_AUTH_ACCEPTED;
    expect_conf(&c, "{\"idTagInfo\":{\"status\":\"Accepted\"}}");
    c.body.authorize.expiry_ms = T_2024_05_01_10_00Z + 1;
    strcpy(c.body.authorize.parent_id_tag, "12345678901234567890");
    expect_conf(&c, "{\"idTagInfo\":{\"status\":\"Accepted\",\"expiryDate\":\"2024-05-01T10:00:00.001Z\","
                    "\"parentIdTag\":\"12345678901234567890\"}}");

    c = (struct ocpp_conf){ .action = OCPP_ACTION_START_TRANSACTION };
    c.body.start_tx.transaction_id = 2147483647;
    c.body.start_tx.info.status = OCPP_AUTH_BLOCKED;
    expect_conf(&c, "{\"idTagInfo\":{\"status\":\"Blocked\"},\"transactionId\":2147483647}");

    c = (struct ocpp_conf){ .action = OCPP_ACTION_STOP_TRANSACTION };
    expect_conf(&c, "{}");
    c.body.stop_tx.has_info = true;
    c.body.stop_tx.info.status = OCPP_AUTH_EXPIRED;
    c.body.stop_tx.info.expiry_ms = T_2024_05_01_10_00Z;
    expect_conf(&c, "{\"idTagInfo\":{\"status\":\"Expired\",\"expiryDate\":\"2024-05-01T10:00:00.000Z\"}}");
}

static void test_conf_boot_heartbeat_data_transfer(void **state)
{
    (void)state;
    struct ocpp_conf c = { .action = OCPP_ACTION_BOOT_NOTIFICATION };
    c.body.boot.current_time_ms = T_2024_05_01_10_00Z;
    c.body.boot.interval_s = 300;
    expect_conf(&c, "{\"status\":\"Accepted\",\"currentTime\":\"2024-05-01T10:00:00.000Z\",\"interval\":300}");
    c.body.boot.status = OCPP_REG_PENDING;
    free(build_valid(&c));
    c.body.boot.status = OCPP_REG_REJECTED;
    c.body.boot.interval_s = 0;
    expect_conf(&c, "{\"status\":\"Rejected\",\"currentTime\":\"2024-05-01T10:00:00.000Z\",\"interval\":0}");

    c = (struct ocpp_conf){ .action = OCPP_ACTION_HEARTBEAT, .body.heartbeat_time_ms = T_2024_05_01_10_00Z + 999 };
    expect_conf(&c, "{\"currentTime\":\"2024-05-01T10:00:00.999Z\"}");

    static const char *const statuses[] = { "Accepted", "Rejected", "UnknownMessageId", "UnknownVendorId" };
    c = (struct ocpp_conf){ .action = OCPP_ACTION_DATA_TRANSFER };
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        strcpy(c.body.data_transfer.status, statuses[i]);
        char want[64];
        snprintf(want, sizeof want, "{\"status\":\"%s\"}", statuses[i]);
        expect_conf(&c, want);
    }
}

static void test_conf_empty_and_unknown(void **state)
{
    (void)state;
    static const enum ocpp_action empty[] = {
        OCPP_ACTION_STATUS_NOTIFICATION, OCPP_ACTION_METER_VALUES,
        OCPP_ACTION_FIRMWARE_STATUS_NOTIFICATION, OCPP_ACTION_DIAGNOSTICS_STATUS_NOTIFICATION,
        OCPP_ACTION_SECURITY_EVENT_NOTIFICATION, OCPP_ACTION_SIGNED_FIRMWARE_STATUS_NOTIFICATION,
        OCPP_ACTION_LOG_STATUS_NOTIFICATION,
    };
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
        struct ocpp_conf c = { .action = empty[i] };
        expect_conf(&c, "{}");
    }
    struct ocpp_conf c = { .action = OCPP_ACTION_RESET };
    assert_null(ocpp_conf_to_json(&c));
    c.action = OCPP_ACTION_NONE;
    assert_null(ocpp_conf_to_json(&c));
    assert_null(ocpp_conf_to_json(NULL));
}

/* ---- the Security Extension (white paper edition 3) ---- */

static void test_security_extension_requests(void **state)
{
    (void)state;
    union ocpp_req req;
    parse_fixture(OCPP_ACTION_SECURITY_EVENT_NOTIFICATION, &req);
    assert_string_equal(req.security_event.type, "FirmwareUpdated");
    assert_int_equal(req.security_event.timestamp_ms, T_2024_05_01_10_00Z); /* 12:00+02:00 */
    assert_string_equal(req.security_event.tech_info, "details");
    parse_text(OCPP_ACTION_SECURITY_EVENT_NOTIFICATION, "{\"type\":\"X\",\"timestamp\":\"2024-05-01T10:00:00Z\"}",
               &req, OCPP_OK, "");
    assert_string_equal(req.security_event.tech_info, "");
    parse_text(OCPP_ACTION_SECURITY_EVENT_NOTIFICATION, "{\"type\":\"X\",\"timestamp\":\"noon\"}", &req,
               OCPP_ERR_TYPE_CONSTRAINT, "timestamp");
    parse_text(OCPP_ACTION_SECURITY_EVENT_NOTIFICATION, "{\"timestamp\":\"2024-05-01T10:00:00Z\"}", &req,
               OCPP_ERR_OCCURENCE_CONSTRAINT, "type");

    parse_fixture(OCPP_ACTION_SIGNED_FIRMWARE_STATUS_NOTIFICATION, &req);
    assert_string_equal(req.request_status.status, "Downloaded");
    assert_true(req.request_status.has_request_id);
    assert_int_equal(req.request_status.request_id, 1);
    parse_fixture(OCPP_ACTION_LOG_STATUS_NOTIFICATION, &req);
    assert_string_equal(req.request_status.status, "BadMessage");
    parse_text(OCPP_ACTION_LOG_STATUS_NOTIFICATION, "{\"status\":\"Idle\"}", &req, OCPP_OK, "");
    assert_false(req.request_status.has_request_id);
    parse_text(OCPP_ACTION_LOG_STATUS_NOTIFICATION, "{\"status\":\"Idle\",\"requestId\":4294967296}", &req,
               OCPP_ERR_PROPERTY_CONSTRAINT, "requestId");

    parse_fixture(OCPP_ACTION_SIGN_CERTIFICATE, &req);
    assert_non_null(req.sign_certificate.csr);
    assert_non_null(strstr(req.sign_certificate.csr, "BEGIN CERTIFICATE REQUEST"));
    ocpp_req_free(OCPP_ACTION_SIGN_CERTIFICATE, &req);
    assert_null(req.sign_certificate.csr);
    parse_text(OCPP_ACTION_SIGN_CERTIFICATE, "{\"csr\":\"\"}", &req, OCPP_ERR_PROPERTY_CONSTRAINT, "csr");
    parse_text(OCPP_ACTION_SIGN_CERTIFICATE, "{}", &req, OCPP_ERR_OCCURENCE_CONSTRAINT, "csr");
}

static void test_security_extension_conf_and_certificate_signed(void **state)
{
    (void)state;
    struct ocpp_conf c = { .action = OCPP_ACTION_SIGN_CERTIFICATE };
    c.body.sign_certificate_accepted = true;
    expect_conf(&c, "{\"status\":\"Accepted\"}");
    c.body.sign_certificate_accepted = false;
    expect_conf(&c, "{\"status\":\"Rejected\"}");

    char *p = ocpp_certificate_signed_payload("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n");
    assert_non_null(p);
    cJSON *js = cJSON_Parse(p);
    struct ocpp_violation v;
    assert_int_equal(ocpp_schema_validate(OCPP_ACTION_CERTIFICATE_SIGNED, OCPP_SCHEMA_REQ, js, &v), OCPP_OK);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(js, "certificateChain")),
                        "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n");
    cJSON_Delete(js);
    free(p);
    /* the schema's 10000 bytes at most */
    char *big = malloc(10002);
    memset(big, 'A', 10001);
    big[10001] = '\0';
    assert_null(ocpp_certificate_signed_payload(big));
    big[10000] = '\0';
    p = ocpp_certificate_signed_payload(big);
    assert_non_null(p);
    free(p);
    free(big);
    assert_null(ocpp_certificate_signed_payload(""));
    assert_null(ocpp_certificate_signed_payload(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_charger_fixture_parses),
        cmocka_unit_test(test_not_charger_initiated_or_not_object),
        cmocka_unit_test(test_authorize_and_boot),
        cmocka_unit_test(test_meter_values_defaults_and_dates),
        cmocka_unit_test(test_meter_values_error_frees_everything),
        cmocka_unit_test(test_integer_ranges),
        cmocka_unit_test(test_start_status_firmware_diagnostics),
        cmocka_unit_test(test_stop_transaction),
        cmocka_unit_test(test_data_transfer),
        cmocka_unit_test(test_digest_stable_and_sensitive),
        cmocka_unit_test(test_conf_id_tag_info),
        cmocka_unit_test(test_conf_boot_heartbeat_data_transfer),
        cmocka_unit_test(test_conf_empty_and_unknown),
        cmocka_unit_test(test_security_extension_requests),
        cmocka_unit_test(test_security_extension_conf_and_certificate_signed),
    };
    return cmocka_run_group_tests(tests, ocpp_fixture_schema_setup, ocpp_fixture_schema_teardown);
}
