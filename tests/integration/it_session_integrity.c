/*
 * Integration: session integrity (issue 10). A remote start on a connector
 * that has an active session in the database is 409
 * CHARGING_CHARGEPOINT_NOT_AVAILABLE and nothing is sent, whatever the last
 * StatusNotification said. A StartTransaction on a connector that already
 * has an active session is accepted (the charger is the authority) and the
 * older session is marked stale ("superseded"), visible and filterable
 * through REST, never closed; a later StopTransaction still closes it and
 * it stays stale. A session whose charger says nothing for
 * ocpp.stale_session_after is marked stale ("silent") by the gateway's
 * periodic job; one whose charger was heard from is not.
 *
 * Charger ids and tags start with "isi-"; SQL-made sessions use
 * transaction ids 7700000x.
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
    db_exec("DELETE FROM sessions WHERE charger_id LIKE 'isi-%'");
    db_exec("DELETE FROM api_keys WHERE name LIKE 'isi-%'");
    const char *chargers[] = { "isi-busy", "isi-two", "isi-silent", "isi-heard" };
    for (size_t i = 0; i < sizeof chargers / sizeof chargers[0]; i++)
        db_add_charger(chargers[i], NULL, 0);
    db_add_token("isi-tag", "Accepted", NULL, NULL);
    db_add_token("isi-tag2", "Accepted", NULL, NULL);
    admin = api_group_start("it_session_integrity", "isi-admin");
    return 0;
}

static void stop_tx(struct sim_charger *c, int32_t tx, int64_t meter)
{
    char ts[32];
    it_iso_time(ts, 0);
    char *stop = it_strf("{\"transactionId\":%d,\"meterStop\":%lld,\"timestamp\":\"%s\",\"reason\":\"Local\"}", tx,
                         (long long)meter, ts);
    cJSON *p = it_ok(c, "StopTransaction", stop);
    cJSON_Delete(p);
    free(stop);
}

/* GET /v1/sessions/{id} (caller frees) */
static struct api_resp *session(const char *id)
{
    char *path = it_strf("/v1/sessions/%s", id);
    struct api_resp *r = api_get(PORT, admin, path);
    free(path);
    api_check_schema(api_expect(r, 200), "Session");
    return r;
}

/* The ids a session list answers, comma-separated (static buffer). */
static const char *listed_ids(const char *query)
{
    static char out[512];
    struct api_resp *r = api_get(PORT, admin, query);
    out[0] = '\0';
    size_t at = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, api_data(api_expect(r, 200))) {
        api_check_schema(it, "Session");
        at += (size_t)snprintf(out + at, sizeof out - at, "%s%lld", at ? "," : "", (long long)ji(it, "id"));
    }
    api_free(r);
    return out;
}

static void test_remote_start_on_a_connector_with_an_active_session_is_409(void **state)
{
    (void)state;
    struct sim_charger *c = it_connect_booted(W.sim, "isi-busy", NULL);
    char t0[32];
    it_iso_time(t0, -60);
    /* no StatusNotification: the core believes the connector is free */
    int32_t tx = it_start_accepted(c, 1, "isi-tag", 100, t0);
    char *sid = it_session_id_of(tx);

    struct api_resp *r = api_post(PORT, admin, "/v1/chargers/isi-busy/remote-start",
                                  "{\"connectorId\":1,\"idTag\":\"isi-tag2\"}");
    api_expect_error(r, 409, "CHARGING_CHARGEPOINT_NOT_AVAILABLE");
    const cJSON *ctx = cJSON_GetObjectItem(r->json, "context");
    api_check_str(ctx, "chargerId", "isi-busy");
    api_check_int(ctx, "connectorId", 1);
    api_check_int(ctx, "activeSessionId", strtoll(sid, NULL, 10));
    api_free(r);
    /* nothing went to the charger */
    assert_true(it_heartbeat_ok(c));
    assert_int_equal(sim_calls_received_action(c, "RemoteStartTransaction"), 0);
    sim_disconnect(c);
    free(sid);
}

/*
 * Before its session exists, a remote start still in progress holds its
 * connector: a second one on it is 409 (connectorStatus "Starting").
 */
static void test_remote_start_in_progress_holds_the_connector(void **state)
{
    (void)state;
    static struct sim_answers a;
    sim_answers_init(&a);
    a.followups = false; /* Accepted, but no StartTransaction yet */
    struct sim_charger *c = it_connect_booted(W.sim, "isi-busy", NULL);
    sim_set_responder(c, sim_answers_responder, &a);
    static const char *const async[] = { "Prefer: respond-async", NULL };
    struct api_req q = { .method = "POST", .path = "/v1/chargers/isi-busy/remote-start?wait=60", .key = admin,
                         .body = "{\"connectorId\":2,\"idTag\":\"isi-tag\"}", .headers = async };
    struct api_resp *r = api_send(PORT, &q);
    char *cmd = it_strf("/v1/commands/%s", js(api_expect(r, 202), "id"));
    api_free(r);
    /* until the charger accepted it and the gateway waits for the StartTransaction */
    for (int64_t end = it_now_ms() + IT_WAIT_MS;;) {
        r = api_get(PORT, admin, cmd);
        bool waiting = r->status == 200 && js(r->json, "status") &&
                       strcmp(js(r->json, "status"), "awaitingSession") == 0;
        api_free(r);
        if (waiting)
            break;
        if (it_now_ms() > end)
            fail_msg("%s never reached awaitingSession", cmd);
        it_pause(W.sim, 20);
    }
    r = api_post(PORT, admin, "/v1/chargers/isi-busy/remote-start", "{\"connectorId\":2,\"idTag\":\"isi-tag2\"}");
    api_expect_error(r, 409, "CHARGING_CHARGEPOINT_NOT_AVAILABLE");
    api_check_str(cJSON_GetObjectItem(r->json, "context"), "connectorStatus", "Starting");
    api_free(r);
    assert_int_equal(sim_calls_received_action(c, "RemoteStartTransaction"), 1);
    free(cmd);
    sim_disconnect(c);
}

static void test_second_start_supersedes_the_first_which_stop_still_closes(void **state)
{
    (void)state;
    struct sim_charger *c = it_connect_booted(W.sim, "isi-two", NULL);
    char t0[32], t1[32];
    it_iso_time(t0, -600);
    it_iso_time(t1, -60);
    int32_t tx1 = it_start_accepted(c, 1, "isi-tag", 100, t0);
    int32_t tx2 = it_start_accepted(c, 1, "isi-tag2", 500, t1); /* accepted: the charger is the authority */
    char *s1 = it_session_id_of(tx1), *s2 = it_session_id_of(tx2);

    struct api_resp *r = session(s1);
    api_check_str(r->json, "status", "active");
    api_check_bool(r->json, "stale", true);
    api_check_str(r->json, "staleReason", "superseded");
    if (!cJSON_IsString(cJSON_GetObjectItem(r->json, "staleAt")))
        fail_msg("a stale session has no staleAt: %s", r->body);
    api_free(r);
    r = session(s2);
    api_check_str(r->json, "status", "active");
    api_check_bool(r->json, "stale", false);
    api_check_null(r->json, "staleReason");
    api_check_null(r->json, "staleAt");
    api_free(r);

    /* filterable, on both collections */
    assert_string_equal(listed_ids("/v1/sessions?chargerId=isi-two&stale=true"), s1);
    assert_string_equal(listed_ids("/v1/sessions?chargerId=isi-two&stale=false"), s2);
    assert_string_equal(listed_ids("/v1/chargers/isi-two/sessions?stale=true"), s1);
    static const struct api_bad bad[] = { { "stale=yes", "stale" } };
    api_expect_bad_queries(PORT, admin, "/v1/sessions", bad, API_COUNT(bad));

    /* a stale session does not hold the connector; the newer one does */
    r = api_post(PORT, admin, "/v1/chargers/isi-two/remote-start", "{\"connectorId\":1,\"idTag\":\"isi-tag\"}");
    api_expect_error(r, 409, "CHARGING_CHARGEPOINT_NOT_AVAILABLE");
    api_check_int(cJSON_GetObjectItem(r->json, "context"), "activeSessionId", strtoll(s2, NULL, 10));
    api_free(r);

    /* the charger's StopTransaction closes the stale one as usual: completed, still stale */
    stop_tx(c, tx1, 900);
    r = session(s1);
    api_check_str(r->json, "status", "completed");
    api_check_int(r->json, "energy", 800);
    api_check_bool(r->json, "stale", true);
    api_check_str(r->json, "staleReason", "superseded");
    api_free(r);
    stop_tx(c, tx2, 700);
    r = session(s2);
    api_check_str(r->json, "status", "completed");
    api_check_bool(r->json, "stale", false);
    api_free(r);
    sim_disconnect(c);
    free(s1);
    free(s2);
}

static void test_silent_sessions_become_stale(void **state)
{
    (void)state;
    struct gw_opts o = { .name = "it_session_integrity_silent",
                         .ini = API_UNLIMITED_INI "[ocpp]\nstale_session_after = 2\n" };
    W.gw2 = gw_start(&o);
    /* one charger last heard an hour ago, one that will be heard from an hour from now */
    db_exec("UPDATE chargers SET last_seen_at = now() - interval '1 hour' WHERE id = 'isi-silent'");
    db_exec("UPDATE chargers SET last_seen_at = now() + interval '1 hour' WHERE id = 'isi-heard'");
    char *quiet = db_str("INSERT INTO sessions (transaction_id, charger_id, connector_id, id_tag, auth_status,"
                         " start_time, meter_start) VALUES (77000001, 'isi-silent', 1, 'isi-tag', 'Accepted',"
                         " now() - interval '2 hours', 0) RETURNING id");
    char *heard = db_str("INSERT INTO sessions (transaction_id, charger_id, connector_id, id_tag, auth_status,"
                         " start_time, meter_start) VALUES (77000002, 'isi-heard', 1, 'isi-tag', 'Accepted',"
                         " now() - interval '2 hours', 0) RETURNING id");
    if (db_wait_int(IT_WAIT_MS, 1, "SELECT count(*) FROM sessions WHERE id = $1::bigint AND stale", quiet) != 1)
        fail_msg("the session of a silent charger was not marked stale");
    struct api_resp *r = session(quiet);
    api_check_str(r->json, "status", "active"); /* never closed */
    api_check_bool(r->json, "stale", true);
    api_check_str(r->json, "staleReason", "silent");
    api_free(r);
    r = session(heard);
    api_check_bool(r->json, "stale", false);
    api_free(r);
    free(quiet);
    free(heard);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, it_test_setup, it_test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_remote_start_on_a_connector_with_an_active_session_is_409),
        T(test_remote_start_in_progress_holds_the_connector),
        T(test_second_start_supersedes_the_first_which_stop_still_closes),
        T(test_silent_sessions_become_stale),
    };
    return cmocka_run_group_tests(tests, group_setup, api_group_teardown);
}
