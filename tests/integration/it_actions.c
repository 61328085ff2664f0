/*
 * Integration: the ten charger-initiated OCPP 1.6 actions end to end. Each
 * test sends what a charger sends, checks the answer's shape and checks the
 * stored rows with SQL. StartTransaction, StopTransaction and MeterValues
 * are answered only after commit, so their rows are checked right after the
 * answer; boot, status, heartbeat, data transfer and firmware/diagnostics
 * are written behind, so those tests wait for the row.
 *
 * Charger ids and idTags start with "ia-".
 */
#include "it.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls.h"
#include "db.h"
#include "fixture.h"
#include "gw.h"

#define HEARTBEAT_INTERVAL 123

static int group_setup(void **state)
{
    (void)state;
    const char *chargers[] = { "ia-boot", "ia-hb", "ia-st", "ia-auth", "ia-tx", "ia-tx2",
                               "ia-mv", "ia-dt", "ia-fw", "ia-rej", "ia-pend" };
    for (size_t i = 0; i < sizeof chargers / sizeof chargers[0]; i++)
        db_add_charger(chargers[i], NULL, 0);
    db_exec("UPDATE chargers SET registration_status = 'Rejected' WHERE id = 'ia-rej'");
    db_exec("UPDATE chargers SET registration_status = 'Pending' WHERE id = 'ia-pend'");
    db_exec("DELETE FROM status_history WHERE charger_id LIKE 'ia-%'");
    db_exec("DELETE FROM sessions WHERE charger_id LIKE 'ia-%'");
    db_exec("DELETE FROM meter_values WHERE charger_id LIKE 'ia-%'");
    db_exec("DELETE FROM orphan_stops WHERE charger_id LIKE 'ia-%'");
    db_exec("DELETE FROM data_transfers WHERE charger_id LIKE 'ia-%'");

    db_add_token("ia-acc", "Accepted", "2099-06-30T12:00:00Z", "ia-parent");
    db_add_token("ia-plain", "Accepted", NULL, NULL);
    db_add_token("ia-blk", "Blocked", NULL, NULL);
    db_add_token("ia-exp", "Accepted", "2020-01-01T00:00:00Z", NULL);
    db_add_token("ia-expst", "Expired", NULL, NULL);
    db_add_token("ia-conc", "Accepted", NULL, NULL);
    db_exec("DELETE FROM tokens WHERE id_tag = 'ia-unknown'");

    struct gw_opts o = {
        .name = "it_actions",
        .ini = "[ocpp]\n"
               "heartbeat_interval = 123\n"
               "data_transfer_vendors = ia.accepted,ia.other\n",
    };
    W.gw = gw_start(&o);
    return 0;
}

static struct sim_charger *connect_booted(const char *id)
{
    return it_connect_booted(W.sim, id, NULL);
}

/* Epoch ms of an ISO 8601 time as PostgreSQL reads it; fails unless it parses. */
static int64_t pg_epoch_ms(const char *iso)
{
    int64_t v = db_int("SELECT (extract(epoch FROM $1::timestamptz) * 1000)::bigint", iso);
    if (v == DB_NONE)
        fail_msg("not a time: %s", iso);
    return v;
}

/* A currentTime as the spec wants it: ISO 8601 UTC ending in Z, near now. */
static void assert_current_time(const char *t)
{
    if (!t)
        fail_msg("currentTime missing");
    size_t n = strlen(t);
    if (n < 20 || t[n - 1] != 'Z')
        fail_msg("currentTime \"%s\" is not UTC with a Z", t);
    int64_t diff = db_int("SELECT abs(extract(epoch FROM now() - $1::timestamptz))::bigint", t);
    if (diff > 300)
        fail_msg("currentTime \"%s\" is %lld s away from the database's clock", t, (long long)diff);
}

/* StartTransaction answered with a CALLRESULT; returns the transactionId, status into st (>= 24). */
static int32_t start_tx(struct sim_charger *c, int connector, const char *tag, int64_t meter,
                        const char *ts, char *st)
{
    char *payload = it_start_payload(connector, tag, meter, ts);
    cJSON *p = it_ok(c, "StartTransaction", payload);
    free(payload);
    int64_t id = ji(p, "transactionId");
    const char *status = cJSON_GetStringValue(jpath(p, "idTagInfo.status"));
    if (st)
        snprintf(st, 24, "%s", status ? status : "");
    cJSON_Delete(p);
    if (id <= 0 || id > INT32_MAX)
        fail_msg("StartTransaction: transactionId %lld is not a positive 32-bit integer", (long long)id);
    if (!status)
        fail_msg("StartTransaction: no idTagInfo.status");
    return (int32_t)id;
}

/* Whether the session of transaction tx matches the SQL condition (on table sessions). */
static bool session_is(int32_t tx, const char *cond)
{
    char txs[16];
    snprintf(txs, sizeof txs, "%d", tx);
    char *sql = it_strf("SELECT count(*) FROM sessions WHERE transaction_id = $1::int AND %s", cond);
    int64_t n = db_int(sql, txs);
    free(sql);
    return n == 1;
}

static void assert_empty_object(const cJSON *p, const char *what)
{
    if (!cJSON_IsObject(p) || cJSON_GetArraySize(p) != 0)
        fail_msg("%s: expected an empty object {}", what);
}

/* ---------------------------------------------------------------- BootNotification */

static void test_boot_notification_stored(void **state)
{
    (void)state;
    struct sim_charger *c = it_connect(W.sim, "ia-boot", NULL);
    cJSON *p = it_ok(c, "BootNotification",
                     "{\"chargePointVendor\":\"ItVendor\",\"chargePointModel\":\"ItModel-1\","
                     "\"chargePointSerialNumber\":\"CPS-0001\",\"chargeBoxSerialNumber\":\"CBS-0001\","
                     "\"firmwareVersion\":\"1.2.3-it\",\"iccid\":\"89310410106543789301\","
                     "\"imsi\":\"262011234567890\",\"meterType\":\"ItMeter\",\"meterSerialNumber\":\"MS-0001\"}");
    assert_string_equal(js(p, "status"), "Accepted");
    assert_current_time(js(p, "currentTime"));
    assert_int_equal(ji(p, "interval"), HEARTBEAT_INTERVAL);
    assert_int_equal(cJSON_GetArraySize(p), 3);
    cJSON_Delete(p);

    assert_int_equal(db_wait_int(IT_WAIT_MS, 1,
                                 "SELECT count(*) FROM chargers WHERE id = 'ia-boot'"
                                 " AND vendor = 'ItVendor' AND model = 'ItModel-1'"
                                 " AND serial_number = 'CPS-0001' AND charge_box_serial = 'CBS-0001'"
                                 " AND firmware_version = '1.2.3-it' AND iccid = '89310410106543789301'"
                                 " AND imsi = '262011234567890' AND meter_type = 'ItMeter'"
                                 " AND meter_serial = 'MS-0001' AND last_boot_at IS NOT NULL"),
                     1);
    sim_disconnect(c);
}

static void test_boot_rejected_or_pending_as_registered(void **state)
{
    (void)state;
    const char *ids[] = { "ia-rej", "ia-pend" };
    const char *want[] = { "Rejected", "Pending" };
    for (int i = 0; i < 2; i++) {
        struct sim_charger *c = it_connect(W.sim, ids[i], NULL);
        cJSON *p = it_ok(c, "BootNotification", "{\"chargePointVendor\":\"V\",\"chargePointModel\":\"M\"}");
        if (!js(p, "status") || strcmp(js(p, "status"), want[i]) != 0)
            fail_msg("%s (registration_status %s): BootNotification answered %s", ids[i], want[i],
                     js(p, "status") ? js(p, "status") : "(none)");
        assert_current_time(js(p, "currentTime"));
        assert_true(ji(p, "interval") >= 0);
        cJSON_Delete(p);
        sim_disconnect(c);
    }
}

/* ---------------------------------------------------------------- Heartbeat */

static void test_heartbeat_answers_time_and_updates_last_seen(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ia-hb");
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1, "SELECT connected::int FROM chargers WHERE id = 'ia-hb'"), 1);
    db_exec("UPDATE chargers SET last_seen_at = NULL WHERE id = 'ia-hb'");
    char *t0 = db_str("SELECT now()::text");
    cJSON *p = it_ok(c, "Heartbeat", "{}");
    assert_current_time(js(p, "currentTime"));
    assert_int_equal(cJSON_GetArraySize(p), 1);
    cJSON_Delete(p);
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1,
                                 "SELECT (last_seen_at >= $1::timestamptz - interval '1 second')::int"
                                 " FROM chargers WHERE id = 'ia-hb'",
                                 t0),
                     1);
    free(t0);
    sim_disconnect(c);
}

/* ---------------------------------------------------------------- StatusNotification */

static void test_status_notification_connectors_and_history(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ia-st");
    cJSON *p = it_ok(c, "StatusNotification",
                     "{\"connectorId\":0,\"errorCode\":\"NoError\",\"status\":\"Available\"}");
    assert_empty_object(p, "StatusNotification.conf");
    cJSON_Delete(p);
    p = it_ok(c, "StatusNotification",
              "{\"connectorId\":1,\"errorCode\":\"NoError\",\"status\":\"Preparing\",\"info\":\"it info\","
              "\"timestamp\":\"2024-05-06T07:08:09Z\",\"vendorId\":\"ia.vendor\",\"vendorErrorCode\":\"E42\"}");
    assert_empty_object(p, "StatusNotification.conf");
    cJSON_Delete(p);

    assert_int_equal(db_wait_int(IT_WAIT_MS, 1,
                                 "SELECT count(*) FROM connectors WHERE charger_id = 'ia-st' AND connector_id = 1"
                                 " AND status = 'Preparing' AND error_code = 'NoError' AND info = 'it info'"
                                 " AND vendor_id = 'ia.vendor' AND vendor_error_code = 'E42'"
                                 " AND status_at = '2024-05-06T07:08:09Z'::timestamptz"),
                     1);
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1,
                                 "SELECT count(*) FROM connectors WHERE charger_id = 'ia-st' AND connector_id = 0"
                                 " AND status = 'Available' AND error_code = 'NoError'"),
                     1);
    assert_int_equal(db_wait_int(IT_WAIT_MS, 2, "SELECT count(*) FROM status_history WHERE charger_id = 'ia-st'"),
                     2);

    /* a change updates the connector and adds to the history */
    p = it_ok(c, "StatusNotification",
              "{\"connectorId\":1,\"errorCode\":\"GroundFailure\",\"status\":\"Faulted\"}");
    cJSON_Delete(p);
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1,
                                 "SELECT count(*) FROM connectors WHERE charger_id = 'ia-st' AND connector_id = 1"
                                 " AND status = 'Faulted' AND error_code = 'GroundFailure'"),
                     1);
    assert_int_equal(db_wait_int(IT_WAIT_MS, 3, "SELECT count(*) FROM status_history WHERE charger_id = 'ia-st'"),
                     3);
    assert_int_equal(db_int("SELECT count(*) FROM status_history WHERE charger_id = 'ia-st' AND connector_id = 1"
                            " AND status = 'Preparing' AND status_at = '2024-05-06T07:08:09Z'::timestamptz"),
                     1);
    assert_int_equal(db_int("SELECT count(*) FROM connectors WHERE charger_id = 'ia-st'"), 2);
    sim_disconnect(c);
}

/* ---------------------------------------------------------------- Authorize */

static cJSON *authorize(struct sim_charger *c, const char *tag)
{
    char *payload = it_strf("{\"idTag\":\"%s\"}", tag);
    cJSON *p = it_ok(c, "Authorize", payload);
    free(payload);
    if (!cJSON_IsObject(jpath(p, "idTagInfo")))
        fail_msg("Authorize %s: no idTagInfo", tag);
    return p;
}

static void assert_auth_status(struct sim_charger *c, const char *tag, const char *want)
{
    cJSON *p = authorize(c, tag);
    const char *got = cJSON_GetStringValue(jpath(p, "idTagInfo.status"));
    if (!got || strcmp(got, want) != 0)
        fail_msg("Authorize %s: expected %s, got %s", tag, want, got ? got : "(none)");
    cJSON_Delete(p);
}

static void test_authorize_statuses(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ia-auth");

    cJSON *p = authorize(c, "ia-acc");
    assert_string_equal(cJSON_GetStringValue(jpath(p, "idTagInfo.status")), "Accepted");
    const char *expiry = cJSON_GetStringValue(jpath(p, "idTagInfo.expiryDate"));
    if (!expiry)
        fail_msg("Authorize ia-acc: expiryDate is set on the token but not in idTagInfo");
    assert_int_equal(pg_epoch_ms(expiry), pg_epoch_ms("2099-06-30T12:00:00Z"));
    assert_string_equal(cJSON_GetStringValue(jpath(p, "idTagInfo.parentIdTag")), "ia-parent");
    cJSON_Delete(p);

    p = authorize(c, "ia-plain");
    assert_string_equal(cJSON_GetStringValue(jpath(p, "idTagInfo.status")), "Accepted");
    assert_null(jpath(p, "idTagInfo.expiryDate"));
    assert_null(jpath(p, "idTagInfo.parentIdTag"));
    cJSON_Delete(p);

    assert_auth_status(c, "ia-blk", "Blocked");
    assert_auth_status(c, "ia-exp", "Expired");      /* Accepted, but expiryDate passed */
    assert_auth_status(c, "ia-expst", "Expired");
    assert_auth_status(c, "ia-unknown", "Invalid");
    sim_disconnect(c);
}

static void test_authorize_concurrent_tx_when_configured(void **state)
{
    (void)state;
    char ts[32];
    it_iso_time(ts, -120);
    /* default (authorize_concurrent_tx = false): a tag in an active session is still Accepted */
    struct sim_charger *c = connect_booted("ia-auth");
    char *start = it_start_payload(1, "ia-conc", 0, ts);
    cJSON_Delete(it_ok(c, "StartTransaction", start));
    assert_auth_status(c, "ia-conc", "Accepted");
    sim_disconnect(c);

    struct gw_opts go = { .name = "it_actions-conc", .ini = "[ocpp]\nauthorize_concurrent_tx = true\n" };
    W.gw2 = gw_start(&go);
    W.sim2 = it_sim(gw_port(W.gw2));
    c = it_connect_booted(W.sim2, "ia-auth", NULL);
    assert_auth_status(c, "ia-conc", "ConcurrentTx");
    assert_auth_status(c, "ia-acc", "Accepted");        /* not in a session */
    sim_disconnect(c);
    free(start);
}

/* ---------------------------------------------------------------- StartTransaction */

static void test_start_transaction_stored_with_charger_timestamp(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ia-tx");
    const char *ts = "2024-01-02T03:04:05Z";       /* old: the charger was offline */
    char st[24];
    int32_t id = start_tx(c, 1, "ia-plain", 1000, ts, st);
    assert_string_equal(st, "Accepted");
    char ids[16];
    snprintf(ids, sizeof ids, "%d", id);
    /* durable: the row is there when the answer is */
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE transaction_id = $1::int"
                            " AND charger_id = 'ia-tx' AND connector_id = 1 AND id_tag = 'ia-plain'"
                            " AND status = 'active' AND meter_start = 1000 AND end_time IS NULL"
                            " AND start_time = '2024-01-02T03:04:05Z'::timestamptz",
                            ids),
                     1);

    /* the same StartTransaction retried: same id, still one row */
    int32_t again = start_tx(c, 1, "ia-plain", 1000, ts, NULL);
    assert_int_equal(again, id);
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE charger_id = 'ia-tx' AND connector_id = 1"
                            " AND start_time = '2024-01-02T03:04:05Z'::timestamptz"),
                     1);
    sim_disconnect(c);
}

static void test_start_transaction_unknown_or_blocked_tag_answered(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ia-tx");
    char ts[32], st[24];
    it_iso_time(ts, -60);
    int32_t id = start_tx(c, 6, "ia-unknown", 10, ts, st);
    assert_string_equal(st, "Invalid");
    char ids[16];
    snprintf(ids, sizeof ids, "%d", id);
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE transaction_id = $1::int"
                            " AND id_tag = 'ia-unknown' AND auth_status = 'Invalid'",
                            ids),
                     1);
    int32_t id2 = start_tx(c, 7, "ia-blk", 10, ts, st);
    assert_string_equal(st, "Blocked");
    assert_int_not_equal(id2, id);
    sim_disconnect(c);
}

static void test_start_transaction_with_reservation(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ia-tx");
    char ts[32];
    it_iso_time(ts, -45);
    char *payload = it_strf("{\"connectorId\":8,\"idTag\":\"ia-plain\",\"meterStart\":5,\"timestamp\":\"%s\","
                            "\"reservationId\":4242}",
                            ts);
    cJSON *p = it_ok(c, "StartTransaction", payload);
    int64_t tx = ji(p, "transactionId");
    cJSON_Delete(p);
    free(payload);
    assert_true(tx > 0);
    assert_true(session_is((int32_t)tx, "reservation_id = 4242 AND connector_id = 8"));
    sim_disconnect(c);
}

static void test_transaction_ids_not_consecutive(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ia-tx");
    char ts[32];
    it_iso_time(ts, -30);
    int32_t ids[4];
    for (int i = 0; i < 4; i++)
        ids[i] = start_tx(c, 11 + i, "ia-plain", 100 * i, ts, NULL);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            if (i == j)
                continue;
            assert_int_not_equal(ids[i], ids[j]);
            if (ids[i] - ids[j] == 1)
                fail_msg("transaction ids %d and %d are consecutive: the next one can be guessed", ids[j],
                         ids[i]);
        }
    sim_disconnect(c);
}

/* ---------------------------------------------------------------- MeterValues */

static void test_meter_values_stored_with_defaults_and_linked(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ia-mv");
    char ts[32];
    it_iso_time(ts, -600);
    int32_t tx = start_tx(c, 1, "ia-plain", 50000, ts, NULL);
    char txs[16];
    snprintf(txs, sizeof txs, "%d", tx);
    char *payload = it_strf(
        "{\"connectorId\":1,\"transactionId\":%d,\"meterValue\":["
        "{\"timestamp\":\"2024-03-01T10:00:00Z\",\"sampledValue\":["
        "{\"value\":\"50100\"},"
        "{\"value\":\"16.5\",\"context\":\"Sample.Clock\",\"format\":\"Raw\",\"measurand\":\"Current.Import\","
        "\"phase\":\"L1\",\"location\":\"Inlet\",\"unit\":\"A\"}]},"
        "{\"timestamp\":\"2024-03-01T10:01:00Z\",\"sampledValue\":[{\"value\":\"50200\"}]}]}",
        tx);
    cJSON *p = it_ok(c, "MeterValues", payload);
    assert_empty_object(p, "MeterValues.conf");
    cJSON_Delete(p);

    /* durable: all three samples there at once, linked to the session */
    assert_int_equal(db_int("SELECT count(*) FROM meter_values WHERE charger_id = 'ia-mv'"), 3);
    assert_int_equal(db_int("SELECT count(*) FROM meter_values m JOIN sessions s ON s.id = m.session_id"
                            " WHERE m.charger_id = 'ia-mv' AND m.transaction_id = $1::int"
                            " AND s.transaction_id = $1::int AND m.connector_id = 1",
                            txs),
                     3);
    assert_int_equal(db_int("SELECT count(*) FROM meter_values WHERE charger_id = 'ia-mv' AND value = '50100'"
                            " AND measurand = 'Energy.Active.Import.Register' AND unit = 'Wh'"
                            " AND context = 'Sample.Periodic' AND format = 'Raw' AND location = 'Outlet'"
                            " AND phase IS NULL AND ts = '2024-03-01T10:00:00Z'::timestamptz"),
                     1);
    assert_int_equal(db_int("SELECT count(*) FROM meter_values WHERE charger_id = 'ia-mv' AND value = '16.5'"
                            " AND measurand = 'Current.Import' AND unit = 'A' AND context = 'Sample.Clock'"
                            " AND format = 'Raw' AND location = 'Inlet' AND phase = 'L1'"
                            " AND ts = '2024-03-01T10:00:00Z'::timestamptz"),
                     1);
    assert_int_equal(db_int("SELECT count(*) FROM meter_values WHERE charger_id = 'ia-mv' AND value = '50200'"
                            " AND ts = '2024-03-01T10:01:00Z'::timestamptz AND unit = 'Wh'"),
                     1);

    /* the same message retried (new message id, same payload): not stored twice */
    p = it_ok(c, "MeterValues", payload);
    cJSON_Delete(p);
    assert_int_equal(db_int("SELECT count(*) FROM meter_values WHERE charger_id = 'ia-mv'"), 3);
    free(payload);

    /* without transactionId: stored, linked to no session */
    p = it_ok(c, "MeterValues",
              "{\"connectorId\":2,\"meterValue\":[{\"timestamp\":\"2024-03-01T11:00:00Z\","
              "\"sampledValue\":[{\"value\":\"777\",\"measurand\":\"Voltage\",\"unit\":\"V\"}]}]}");
    cJSON_Delete(p);
    assert_int_equal(db_int("SELECT count(*) FROM meter_values WHERE charger_id = 'ia-mv' AND value = '777'"
                            " AND connector_id = 2 AND session_id IS NULL AND transaction_id IS NULL"
                            " AND measurand = 'Voltage' AND unit = 'V' AND context = 'Sample.Periodic'"),
                     1);
    sim_disconnect(c);
}

/* ---------------------------------------------------------------- StopTransaction */

static char *session_state(int32_t tx)
{
    char txs[16];
    snprintf(txs, sizeof txs, "%d", tx);
    char *s = db_str("SELECT concat_ws('|', status, meter_stop, energy_wh, stop_reason, end_time, meter_anomaly)"
                     " FROM sessions WHERE transaction_id = $1::int",
                     txs);
    if (!s)
        fail_msg("no session with transaction_id %d", tx);
    return s;
}

/* StopTransaction without transactionData, answered with a CALLRESULT. reason may be NULL. */
static void stop_ok(struct sim_charger *c, int32_t tx, int64_t meter_stop, const char *ts, const char *reason)
{
    char *stop = reason ? it_strf("{\"transactionId\":%d,\"meterStop\":%lld,\"timestamp\":\"%s\",\"reason\":\"%s\"}",
                                  tx, (long long)meter_stop, ts, reason)
                        : it_strf("{\"transactionId\":%d,\"meterStop\":%lld,\"timestamp\":\"%s\"}", tx,
                                  (long long)meter_stop, ts);
    cJSON_Delete(it_ok(c, "StopTransaction", stop));
    free(stop);
}

static void test_stop_transaction_completes_session(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ia-tx");
    char t_start[32], t_stop[32];
    it_iso_time(t_start, -3600);
    it_iso_time(t_stop, -5);
    int32_t tx = start_tx(c, 2, "ia-plain", 2000, t_start, NULL);
    char txs[16];
    snprintf(txs, sizeof txs, "%d", tx);
    char *stop = it_strf("{\"transactionId\":%d,\"idTag\":\"ia-plain\",\"meterStop\":2750,\"timestamp\":\"%s\","
                         "\"transactionData\":[{\"timestamp\":\"%s\",\"sampledValue\":["
                         "{\"value\":\"2750\",\"context\":\"Transaction.End\"}]}]}",
                         tx, t_stop, t_stop);
    cJSON *p = it_ok(c, "StopTransaction", stop);
    const cJSON *info = jpath(p, "idTagInfo");
    if (info && !cJSON_GetStringValue(jpath(info, "status")))
        fail_msg("StopTransaction.conf: idTagInfo without status");
    cJSON_Delete(p);

    /* durable: the session is closed when the answer comes */
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE transaction_id = $1::int"
                            " AND status = 'completed' AND meter_stop = 2750 AND energy_wh = 750"
                            " AND stop_reason = 'Local' AND NOT meter_anomaly AND end_time = $2::timestamptz"
                            " AND stop_id_tag = 'ia-plain'",
                            txs, t_stop),
                     1);
    assert_int_equal(db_int("SELECT count(*) FROM meter_values m JOIN sessions s ON s.id = m.session_id"
                            " WHERE m.charger_id = 'ia-tx' AND m.transaction_id = $1::int AND m.value = '2750'"
                            " AND m.context = 'Transaction.End' AND s.transaction_id = $1::int",
                            txs),
                     1);

    /* a repeated stop changes nothing, also with other values */
    char *before = session_state(tx);
    p = it_ok(c, "StopTransaction", stop);
    cJSON_Delete(p);
    stop_ok(c, tx, 9999, t_stop, "Remote");
    char *after = session_state(tx);
    assert_string_equal(after, before);
    assert_int_equal(db_int("SELECT count(*) FROM meter_values WHERE charger_id = 'ia-tx' AND value = '2750'"), 1);
    free(before);
    free(after);
    free(stop);
    sim_disconnect(c);
}

static void test_stop_reason_stored(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ia-tx");
    char t0[32], t1[32];
    it_iso_time(t0, -100);
    it_iso_time(t1, -1);
    int32_t tx = start_tx(c, 3, "ia-plain", 0, t0, NULL);
    stop_ok(c, tx, 10, t1, "EVDisconnected");
    assert_true(session_is(tx, "status = 'completed' AND stop_reason = 'EVDisconnected' AND energy_wh = 10"));
    sim_disconnect(c);
}

static void test_stop_unknown_transaction_is_orphan(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ia-tx");
    int32_t tx = 2147480001;
    char txs[16];
    snprintf(txs, sizeof txs, "%d", tx);
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE transaction_id = $1::int", txs), 0);
    int64_t sessions_before = db_int("SELECT count(*) FROM sessions WHERE charger_id = 'ia-tx'");
    char ts[32];
    it_iso_time(ts, -2);
    stop_ok(c, tx, 1234, ts, NULL);     /* answered, so the charger can drop it */
    assert_int_equal(db_int("SELECT count(*) FROM orphan_stops WHERE charger_id = 'ia-tx'"
                            " AND transaction_id = $1::int AND meter_stop = 1234",
                            txs),
                     1);
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE transaction_id = $1::int", txs), 0);
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE charger_id = 'ia-tx'"), sessions_before);
    sim_disconnect(c);
}

static void test_stop_of_another_chargers_transaction_changes_nothing(void **state)
{
    (void)state;
    struct sim_charger *owner = connect_booted("ia-tx2");
    struct sim_charger *thief = connect_booted("ia-tx");
    char t0[32], t1[32];
    it_iso_time(t0, -300);
    it_iso_time(t1, -1);
    int32_t tx = start_tx(owner, 1, "ia-plain", 100, t0, NULL);
    char *before = session_state(tx);
    stop_ok(thief, tx, 500, t1, NULL);
    char *after = session_state(tx);
    assert_string_equal(after, before);
    char txs[16];
    snprintf(txs, sizeof txs, "%d", tx);
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE transaction_id = $1::int AND status = 'active'"
                            " AND charger_id = 'ia-tx2' AND meter_stop IS NULL",
                            txs),
                     1);
    assert_int_equal(db_int("SELECT count(*) FROM orphan_stops WHERE charger_id = 'ia-tx' AND transaction_id = $1::int",
                            txs),
                     1);
    /* the owner can still stop it */
    stop_ok(owner, tx, 500, t1, NULL);
    assert_true(session_is(tx, "status = 'completed' AND meter_stop = 500 AND energy_wh = 400"));
    free(before);
    free(after);
    sim_disconnect(owner);
    sim_disconnect(thief);
}

static void test_stop_below_start_flagged(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ia-tx");
    char t0[32], t1[32];
    it_iso_time(t0, -200);
    it_iso_time(t1, -1);
    int32_t tx = start_tx(c, 4, "ia-plain", 5000, t0, NULL);
    stop_ok(c, tx, 4000, t1, NULL);
    assert_true(session_is(tx, "status = 'completed' AND meter_stop = 4000 AND meter_anomaly"));
    sim_disconnect(c);
}

/* ---------------------------------------------------------------- DataTransfer */

static void test_data_transfer_stored_and_answered(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ia-dt");
    cJSON *p = it_ok(c, "DataTransfer", "{\"vendorId\":\"ia.unknown\",\"messageId\":\"m-1\",\"data\":\"hello-it\"}");
    assert_string_equal(js(p, "status"), "UnknownVendorId");
    cJSON_Delete(p);
    p = it_ok(c, "DataTransfer", "{\"vendorId\":\"ia.other\",\"data\":\"second-it\"}");
    assert_string_equal(js(p, "status"), "Accepted");   /* configured in data_transfer_vendors */
    cJSON_Delete(p);
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1,
                                 "SELECT count(*) FROM data_transfers WHERE charger_id = 'ia-dt'"
                                 " AND vendor_id = 'ia.unknown' AND message_id = 'm-1' AND data LIKE '%hello-it%'"),
                     1);
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1,
                                 "SELECT count(*) FROM data_transfers WHERE charger_id = 'ia-dt'"
                                 " AND vendor_id = 'ia.other' AND data LIKE '%second-it%'"),
                     1);
    sim_disconnect(c);
}

/* ---------------------------------------------------------------- Firmware / Diagnostics */

static void test_firmware_and_diagnostics_status_stored(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ia-fw");
    cJSON *p = it_ok(c, "FirmwareStatusNotification", "{\"status\":\"Downloading\"}");
    assert_empty_object(p, "FirmwareStatusNotification.conf");
    cJSON_Delete(p);
    p = it_ok(c, "DiagnosticsStatusNotification", "{\"status\":\"Uploaded\"}");
    assert_empty_object(p, "DiagnosticsStatusNotification.conf");
    cJSON_Delete(p);
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1,
                                 "SELECT count(*) FROM chargers WHERE id = 'ia-fw' AND firmware_status = 'Downloading'"
                                 " AND firmware_status_at IS NOT NULL"),
                     1);
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1,
                                 "SELECT count(*) FROM chargers WHERE id = 'ia-fw' AND diagnostics_status = 'Uploaded'"
                                 " AND diagnostics_status_at IS NOT NULL"),
                     1);
    cJSON_Delete(it_ok(c, "FirmwareStatusNotification", "{\"status\":\"Installed\"}"));
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1,
                                 "SELECT count(*) FROM chargers WHERE id = 'ia-fw' AND firmware_status = 'Installed'"),
                     1);
    sim_disconnect(c);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, it_test_setup, it_test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_boot_notification_stored),
        T(test_boot_rejected_or_pending_as_registered),
        T(test_heartbeat_answers_time_and_updates_last_seen),
        T(test_status_notification_connectors_and_history),
        T(test_authorize_statuses),
        T(test_authorize_concurrent_tx_when_configured),
        T(test_start_transaction_stored_with_charger_timestamp),
        T(test_start_transaction_unknown_or_blocked_tag_answered),
        T(test_start_transaction_with_reservation),
        T(test_transaction_ids_not_consecutive),
        T(test_meter_values_stored_with_defaults_and_linked),
        T(test_stop_transaction_completes_session),
        T(test_stop_reason_stored),
        T(test_stop_unknown_transaction_is_orphan),
        T(test_stop_of_another_chargers_transaction_changes_nothing),
        T(test_stop_below_start_flagged),
        T(test_data_transfer_stored_and_answered),
        T(test_firmware_and_diagnostics_status_stored),
    };
#undef T
    return cmocka_run_group_tests_name("it_actions", tests, group_setup, it_group_teardown);
}
