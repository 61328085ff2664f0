/*
 * Integration: what a broken or hostile charger sends, against the real
 * gateway. Every class of bad input is answered as OCPP-J 1.6 and
 * docs/spec say (CALLERROR with the right code, or silence for what must be
 * ignored), and the socket stays usable afterwards: each test ends with a
 * Heartbeat that must still be answered. Frames over the limit close with
 * 1009; repeated garbage closes the socket; the process stays up.
 *
 * The gateway runs with the default configuration (max_frame 64 KiB).
 * Charger ids start with "ib-".
 */
#include "it.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls.h"
#include "db.h"
#include "fixture.h"
#include "gw.h"
#include "http.h"

static const char *const CHARGERS[] = { "ib-json", "ib-shape", "ib-schema", "ib-action", "ib-ignore", "ib-id",
                                        "ib-dup", "ib-result", "ib-frag", "ib-huge", "ib-garbage", "ib-after" };

static int group_setup(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof CHARGERS / sizeof CHARGERS[0]; i++)
        db_add_charger(CHARGERS[i], NULL, 0);
    db_exec("DELETE FROM sessions WHERE charger_id LIKE 'ib-%'");
    db_add_token("ib-tag", "Accepted", NULL, NULL);
    struct gw_opts o = { .name = "it_bad_input" };
    W.gw = gw_start(&o);
    return 0;
}

static struct sim_charger *connect_booted(const char *id)
{
    return it_connect_booted(W.sim, id, NULL);
}

/* The socket still works: open, and a Heartbeat is answered. */
static void assert_usable(struct sim_charger *c, const char *after)
{
    if (sim_state(c) != SIM_OPEN)
        fail_msg("after %s: the socket was closed (code %d)", after, sim_close_code(c));
    if (!it_heartbeat_ok(c))
        fail_msg("after %s: Heartbeat not answered", after);
}

/* A schema-level error: CALLERROR `code` for the CALL, then the socket still works. */
static void expect_call_error(struct sim_charger *c, const char *action, const char *payload, const char *code)
{
    char *got = it_err(c, action, payload);
    if (strcmp(got, code) != 0)
        fail_msg("%s %s: expected CALLERROR %s, got %s", action, payload, code, got);
    free(got);
    assert_usable(c, action);
}

/* Whether id is one of the '|'-separated alternatives. */
static bool id_matches(const char *id, const char *alternatives)
{
    size_t n = strlen(id);
    for (const char *p = alternatives; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, id, n) == 0)
            return true;
        p += len + (bar ? 1 : 0);
    }
    return false;
}

/*
 * Sends raw text; the answer must be a well-formed CALLERROR with id `id`
 * ('|'-separated alternatives) and one of two codes (code2 may be NULL);
 * then the socket still works.
 */
static void expect_raw_error(struct sim_charger *c, const char *text, const char *id, const char *code1,
                             const char *code2)
{
    cJSON *f = it_raw(c, text, IT_CALL_MS);
    if (!f)
        fail_msg("sent %s: no answer (expected CALLERROR %s)", text, code1);
    if (!frame_is_callerror(f))
        fail_msg("sent %s: expected a CALLERROR, got %s", text, frame_text(f));
    const char *code = frame_error_code(f);
    if (strcmp(code, code1) != 0 && !(code2 && strcmp(code, code2) == 0))
        fail_msg("sent %s: expected %s%s%s, got %s", text, code1, code2 ? " or " : "", code2 ? code2 : "", code);
    if (!id_matches(frame_id(f), id))
        fail_msg("sent %s: CALLERROR id \"%s\", expected \"%s\"", text, frame_id(f), id);
    cJSON_Delete(f);
    assert_usable(c, text);
}

/* Nothing arrives that was not asked for (checked after a Heartbeat answered in order). */
static void assert_nothing_pending(struct sim_charger *c, const char *after)
{
    char *m = sim_recv(c, 500);
    if (m) {
        char shown[300];
        snprintf(shown, sizeof shown, "%s", m);
        free(m);
        fail_msg("after %s: unexpected message %s", after, shown);
    }
}

/* ---------------------------------------------------------------- frames */

static void test_malformed_json(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ib-json");
    expect_raw_error(c, "this is not json", "-1", "ProtocolError", "FormationViolation");
    /* whether the id of a broken frame can still be read is the parser's business */
    expect_raw_error(c, "[2,\"ib-m1\",\"Heartbeat\",{", "-1|ib-m1", "ProtocolError", "FormationViolation");
    expect_raw_error(c, "[2,\"ib-m2\",\"Heartbeat\",{}]]", "-1|ib-m2", "ProtocolError", "FormationViolation");
    sim_disconnect(c);
}

static void test_not_an_rpc_array(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ib-shape");
    const char *no_id[] = { "{\"a\":1}", "\"text\"", "42", "[]", "[2]", "[2,17,\"Heartbeat\",{}]" };
    for (size_t i = 0; i < sizeof no_id / sizeof no_id[0]; i++)
        expect_raw_error(c, no_id[i], "-1", "FormationViolation", "ProtocolError");
    /* the id can be read: it is echoed */
    expect_raw_error(c, "[2,\"ib-s1\"]", "ib-s1", "FormationViolation", "ProtocolError");
    expect_raw_error(c, "[2,\"ib-s2\",\"Heartbeat\"]", "ib-s2", "FormationViolation", "ProtocolError");
    expect_raw_error(c, "[2,\"ib-s3\",17,{}]", "ib-s3", "FormationViolation", "ProtocolError");
    /* payload not an object */
    expect_raw_error(c, "[2,\"ib-s4\",\"Heartbeat\",[]]", "ib-s4", "FormationViolation", NULL);
    expect_raw_error(c, "[2,\"ib-s5\",\"Heartbeat\",\"x\"]", "ib-s5", "FormationViolation", NULL);
    sim_disconnect(c);
}

/* ---------------------------------------------------------------- payloads */

static void test_wrong_types(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ib-schema");
    expect_call_error(c, "BootNotification", "{\"chargePointVendor\":5,\"chargePointModel\":\"M\"}",
                      "TypeConstraintViolation");
    expect_call_error(c, "StartTransaction",
                      "{\"connectorId\":\"1\",\"idTag\":\"ib-tag\",\"meterStart\":0,\"timestamp\":\"2024-01-01T00:00:00Z\"}",
                      "TypeConstraintViolation");
    expect_call_error(c, "Authorize", "{\"idTag\":null}", "TypeConstraintViolation");
    expect_call_error(c, "StatusNotification",
                      "{\"connectorId\":1.5,\"errorCode\":\"NoError\",\"status\":\"Available\"}",
                      "TypeConstraintViolation");
    sim_disconnect(c);
}

static void test_bad_enum_value(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ib-schema");
    expect_call_error(c, "StatusNotification", "{\"connectorId\":1,\"errorCode\":\"NoError\",\"status\":\"Foo\"}",
                      "TypeConstraintViolation");
    expect_call_error(c, "StatusNotification",
                      "{\"connectorId\":1,\"errorCode\":\"noerror\",\"status\":\"Available\"}",
                      "TypeConstraintViolation");
    expect_call_error(c, "FirmwareStatusNotification", "{\"status\":\"Exploded\"}", "TypeConstraintViolation");
    sim_disconnect(c);
}

static void test_string_too_long(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ib-schema");
    expect_call_error(c, "Authorize", "{\"idTag\":\"ib-456789012345678901\"}", "PropertyConstraintViolation");
    expect_call_error(c, "BootNotification",
                      "{\"chargePointVendor\":\"V23456789012345678901\",\"chargePointModel\":\"M\"}",
                      "PropertyConstraintViolation");
    /* 20 characters is fine */
    cJSON *p = it_ok(c, "Authorize", "{\"idTag\":\"ib-45678901234567890\"}");
    cJSON_Delete(p);
    sim_disconnect(c);
}

static void test_missing_required(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ib-schema");
    expect_call_error(c, "BootNotification", "{\"chargePointVendor\":\"V\"}", "OccurenceConstraintViolation");
    expect_call_error(c, "StartTransaction",
                      "{\"connectorId\":1,\"idTag\":\"ib-tag\",\"timestamp\":\"2024-01-01T00:00:00Z\"}",
                      "OccurenceConstraintViolation");
    expect_call_error(c, "Authorize", "{}", "OccurenceConstraintViolation");
    sim_disconnect(c);
}

static void test_extra_property(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ib-schema");
    expect_call_error(c, "Heartbeat", "{\"foo\":1}", "FormationViolation");
    expect_call_error(c, "Authorize", "{\"idTag\":\"ib-tag\",\"extra\":true}", "FormationViolation");
    sim_disconnect(c);
}

/* ---------------------------------------------------------------- actions */

static void test_unknown_action_not_implemented(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ib-action");
    expect_call_error(c, "FooBar", "{}", "NotImplemented");
    expect_call_error(c, "heartbeat", "{}", "NotImplemented");     /* names are case-sensitive */
    sim_disconnect(c);
}

static void test_wrong_direction_not_supported(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ib-action");
    expect_call_error(c, "Reset", "{\"type\":\"Soft\"}", "NotSupported");
    expect_call_error(c, "RemoteStartTransaction", "{\"idTag\":\"ib-tag\"}", "NotSupported");
    expect_call_error(c, "GetConfiguration", "{}", "NotSupported");
    sim_disconnect(c);
}

/* ---------------------------------------------------------------- ids and message types */

static void test_other_message_types_ignored(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ib-ignore");
    const char *frames[] = { "[5,\"ib-t5\",{}]", "[9,\"ib-t9\",\"Heartbeat\",{}]", "[0,\"ib-t0\"]" };
    for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++) {
        assert_int_equal(sim_send_text(c, frames[i], strlen(frames[i])), 0);
        /* answered in order: had the frame been answered, that answer would come first */
        assert_usable(c, frames[i]);
        assert_nothing_pending(c, frames[i]);
    }
    sim_disconnect(c);
}

/*
 * The limit is 36 BYTES (security.md item 7): 37 ASCII bytes, 13 three-byte
 * characters (39 bytes) and 20 two-byte characters (40 bytes) are each a
 * CALLERROR FormationViolation answered with the id as sent, and the socket
 * stays open; 36 bytes of either kind are answered whole.
 */
static void test_unique_id_longer_than_36(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ib-id");
    const char *id37 = "ib-4567890123456789012345678901234567";
    const char *id36 = "ib-456789012345678901234567890123456";
    assert_int_equal(strlen(id37), 37);
    assert_int_equal(strlen(id36), 36);
    char euro13[64] = "", euro12[64] = "", e_acute20[64] = "";
    for (int i = 0; i < 13; i++)
        strcat(euro13, "\xe2\x82\xac");          /* U+20AC, 3 bytes */
    memcpy(euro12, euro13, 36);
    for (int i = 0; i < 20; i++)
        strcat(e_acute20, "\xc3\xa9");            /* U+00E9, 2 bytes */
    assert_int_equal(strlen(euro13), 39);
    assert_int_equal(strlen(e_acute20), 40);
    const char *over[] = { id37, euro13, e_acute20 };
    for (size_t i = 0; i < sizeof over / sizeof over[0]; i++) {
        char *frame = it_strf("[2,\"%s\",\"Heartbeat\",{}]", over[i]);
        expect_raw_error(c, frame, over[i], "FormationViolation", NULL);   /* then a Heartbeat is answered */
        free(frame);
    }
    const char *fit[] = { id36, euro12 };
    for (size_t i = 0; i < sizeof fit / sizeof fit[0]; i++) {
        cJSON *f = it_call_id(c, fit[i], "Heartbeat", "{}");
        if (frame_type(f) != 3 || strcmp(frame_id(f), fit[i]) != 0)
            fail_msg("36-byte id %s: expected a CALLRESULT with that id, got %s", fit[i], frame_text(f));
        cJSON_Delete(f);
    }
    /* through the database and back (the id waits in the store job's buffer) */
    cJSON *f = it_call_id(c, euro12, "Authorize", "{\"idTag\":\"ib-tag\"}");
    if (frame_type(f) != 3 || strcmp(frame_id(f), euro12) != 0)
        fail_msg("36-byte id through Authorize: expected a CALLRESULT with that id, got %s", frame_text(f));
    cJSON_Delete(f);
    sim_disconnect(c);
}

static bool session_insert_waits(void *arg)
{
    (void)arg;
    return db_int("SELECT count(*) FROM pg_locks WHERE relation = 'sessions'::regclass AND NOT granted") > 0;
}

/*
 * A CALL whose unique id is still in flight, sent again: the second must be
 * refused (CALLERROR ProtocolError), never acted on twice. Provoked, not
 * hoped for: the test holds a lock on table sessions, so the first
 * StartTransaction waits inside the database (pg_locks shows it); the
 * duplicate is sent then and must be answered while the first still waits.
 * Once the lock is released the first is answered with its transaction,
 * and there is one session.
 */
static void test_duplicate_in_flight_id(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ib-dup");
    char ts[32];
    it_iso_time(ts, -1000);
    char *payload = it_start_payload(1, "ib-tag", 100, ts);
    char *frame = it_strf("[2,\"ib-dup-1\",\"StartTransaction\",%s]", payload);
    free(payload);
    db_exec("BEGIN");
    db_exec("LOCK TABLE sessions IN EXCLUSIVE MODE");
    assert_int_equal(sim_send_text(c, frame, strlen(frame)), 0);
    if (!wait_until(W.sim, session_insert_waits, NULL, IT_WAIT_MS)) {
        db_exec("ROLLBACK");
        fail_msg("the StartTransaction never waited on table sessions: nothing was in flight");
    }
    assert_int_equal(sim_send_text(c, frame, strlen(frame)), 0);
    cJSON *dup = it_recv(c, IT_CALL_MS);
    bool first_still_waiting = session_insert_waits(NULL);
    db_exec("ROLLBACK");
    free(frame);
    if (!dup)
        fail_msg("the duplicate of an in-flight CALL id was not answered while the first waited");
    if (!frame_is_callerror(dup) || strcmp(frame_error_code(dup), "ProtocolError") != 0 ||
        strcmp(frame_id(dup), "ib-dup-1") != 0)
        fail_msg("the duplicate of an in-flight CALL id: expected CALLERROR ProtocolError for ib-dup-1, got %s",
                 frame_text(dup));
    cJSON_Delete(dup);
    if (!first_still_waiting)
        fail_msg("the first StartTransaction stopped waiting before the duplicate was answered");
    cJSON *first = it_recv(c, IT_CALL_MS);
    if (!first || frame_type(first) != 3 || strcmp(frame_id(first), "ib-dup-1") != 0 ||
        ji(frame_payload(first), "transactionId") <= 0)
        fail_msg("the first StartTransaction: expected its CALLRESULT with a transaction, got %s",
                 first ? frame_text(first) : "nothing");
    cJSON_Delete(first);
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE charger_id = 'ib-dup' AND start_time = $1::timestamptz",
                            ts),
                     1);
    assert_usable(c, "duplicate ids");
    sim_disconnect(c);
}

static void test_result_for_unknown_id_dropped(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ib-result");
    const char *frames[] = { "[3,\"ib-nope-1\",{}]", "[4,\"ib-nope-2\",\"GenericError\",\"\",{}]",
                             "[3,\"ib-nope-3\",{\"status\":\"Accepted\"}]" };
    for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++) {
        assert_int_equal(sim_send_text(c, frames[i], strlen(frames[i])), 0);
        assert_usable(c, frames[i]);
        assert_nothing_pending(c, frames[i]);
    }
    sim_disconnect(c);
}

/* ---------------------------------------------------------------- websocket level */

static void test_fragmented_message_reassembled(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ib-frag");
    const char *frame = "[2,\"ib-frag-1\",\"Authorize\",{\"idTag\":\"ib-tag\"}]";
    assert_int_equal(sim_send_fragmented(c, frame, strlen(frame), 4), 0);
    cJSON *r = it_recv(c, IT_CALL_MS);
    if (!r || frame_type(r) != 3 || strcmp(frame_id(r), "ib-frag-1") != 0)
        fail_msg("fragmented Authorize: expected CALLRESULT ib-frag-1, got %s", frame_text(r));
    assert_string_equal(cJSON_GetStringValue(jpath(frame_payload(r), "idTagInfo.status")), "Accepted");
    cJSON_Delete(r);
    assert_usable(c, "a fragmented message");
    sim_disconnect(c);
}

static void test_huge_frame_closes_1009(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ib-huge");
    size_t n = 70000;
    char *frame = malloc(n + 100);
    assert_non_null(frame);
    int head = snprintf(frame, 100, "[2,\"ib-huge-1\",\"DataTransfer\",{\"vendorId\":\"ib\",\"data\":\"");
    memset(frame + head, 'y', n);
    strcpy(frame + head + n, "\"}]");
    assert_int_equal(sim_send_text(c, frame, strlen(frame)), 0);
    free(frame);
    if (!sim_wait_closed(c, IT_WAIT_MS))
        fail_msg("a 70 kB frame (default max_frame 65536) did not close the socket");
    assert_int_equal(sim_close_code(c), 1009);
    sim_disconnect(c);
    assert_int_equal(http_get(gw_port(W.gw), "/healthz", NULL), 200);
    /* the charger can come back */
    struct sim_charger *again = it_connect(W.sim, "ib-huge", NULL);
    assert_usable(again, "reconnecting after 1009");
    sim_disconnect(again);
}

static void test_repeated_garbage_closes_socket(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted("ib-garbage");
    int sent = 0;
    for (; sent < 1000 && sim_state(c) == SIM_OPEN; sent++) {
        if (sim_send_text(c, "\x01garbage{[", 10) != 0)
            break;
        free(sim_recv(c, 2000));
    }
    if (!sim_wait_closed(c, IT_WAIT_MS))
        fail_msg("%d garbage messages and the socket is still open", sent);
    sim_disconnect(c);
    assert_int_equal(http_get(gw_port(W.gw), "/healthz", NULL), 200);
    /* the process still serves others */
    struct sim_charger *other = connect_booted("ib-after");
    assert_usable(other, "another charger's garbage");
    sim_disconnect(other);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, it_test_setup, it_test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_malformed_json),
        T(test_not_an_rpc_array),
        T(test_wrong_types),
        T(test_bad_enum_value),
        T(test_string_too_long),
        T(test_missing_required),
        T(test_extra_property),
        T(test_unknown_action_not_implemented),
        T(test_wrong_direction_not_supported),
        T(test_other_message_types_ignored),
        T(test_unique_id_longer_than_36),
        T(test_duplicate_in_flight_id),
        T(test_result_for_unknown_id_dropped),
        T(test_fragmented_message_reassembled),
        T(test_huge_frame_closes_1009),
        T(test_repeated_garbage_closes_socket),
    };
#undef T
    return cmocka_run_group_tests_name("it_bad_input", tests, group_setup, it_group_teardown);
}
