/*
 * Integration: POST /v1/tokens/{idTag}/erase (issue 15, spec reports.md
 * "Retention and privacy"). A person's tag is used every way the gateway
 * knows: a token made and changed through REST (audit rows, token events),
 * Authorize, a session with meter values stopped with the tag in another
 * case, a StopTransaction for an unknown transaction (orphan stop), a
 * DataTransfer whose text names it, a remote start with an Idempotency-Key
 * (command payload, its session, the idempotency record). After the
 * erasure, EVERY column of every table of the database, read as text, is
 * searched for the tag (any case): none may hold it. The replacement is the
 * same everywhere ("erased:" + 16 hex), the erasure's audit row names only
 * it, a replay with the same Idempotency-Key answers the same, a key
 * without admin gets 403, and a tag with 10,000 sessions is erased within
 * the REST statement timeout.
 *
 * Charger ids, tags and key names start with "ier-".
 */
#include "it.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls.h"
#include "db.h"
#include "fixture.h"
#include "gw.h"
#include "recorder.h"
#include "support/rest.h"

#define PORT gw_port(W.gw)
#define TAG "ier-Person1"
#define TAG_LOWER "ier-person1"
#define CP "ier-cp"

static char *admin;

static int group_setup(void **state)
{
    (void)state;
    gw_migrate_once();
    db_exec("DELETE FROM api_keys WHERE name LIKE 'ier-%'");
    db_add_charger(CP, NULL, 0);
    admin = api_group_start("it_erasure", "ier-admin");
    return 0;
}

/*
 * Every column of every table of the public schema, read as text, that
 * holds `needle` in any case: "table.column (n rows), ..." or NULL.
 */
static char *columns_holding(const char *needle)
{
    return db_str("SELECT string_agg(format('%s.%s (%s rows)', c.table_name, c.column_name, x.n), ', '"
                  "                  ORDER BY c.table_name, c.column_name)"
                  "  FROM information_schema.columns c"
                  "  JOIN information_schema.tables t USING (table_schema, table_name)"
                  " CROSS JOIN LATERAL (SELECT (xpath('/row/n/text()', query_to_xml(format("
                  "        'SELECT count(*) AS n FROM %I.%I WHERE %I::text ILIKE %L',"
                  "        c.table_schema, c.table_name, c.column_name, '%' || $1 || '%'),"
                  "        false, true, '')))[1]::text::bigint AS n) x"
                  " WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' AND x.n > 0",
                  needle);
}

static bool command_ended(void *arg)
{
    (void)arg;
    return db_int("SELECT count(*) FROM commands WHERE charger_id = '" CP "' AND action = 'RemoteStartTransaction'"
                  " AND state IN ('completed', 'failed')") >= 1 &&
           db_int("SELECT count(*) FROM sessions WHERE charger_id = '" CP "' AND status = 'active'") >= 1;
}

static bool erasure_audited(void *arg)
{
    (void)arg;
    return db_int("SELECT count(*) FROM audit_log WHERE action = 'token.erase'") >= 1;
}

/* The tag used every way there is, so that the database holds it in every kind of row. */
static void use_the_tag(void)
{
    struct api_resp *r = api_post(PORT, admin, "/v1/tokens",
                                  "{\"idTag\":\"" TAG "\",\"name\":\"Card of a person\"}");
    api_expect(r, 201);
    api_free(r);
    r = api_patch(PORT, admin, "/v1/tokens/" TAG, "{\"status\":\"Accepted\",\"name\":\"Card, renamed\"}");
    api_expect(r, 200);
    api_free(r);
    r = api_get(PORT, admin, "/v1/tokens/" TAG_LOWER);
    api_expect(r, 200);
    api_free(r);

    struct sim_charger *c = it_connect_booted(W.sim, CP, NULL);
    cJSON *p = it_ok(c, "Authorize", "{\"idTag\":\"" TAG "\"}");
    cJSON_Delete(p);
    char ts[40], ts2[40], ts3[40];
    it_iso_time(ts, -600);
    it_iso_time(ts2, -300);
    it_iso_time(ts3, -60);
    int32_t tx = it_start_accepted(c, 1, TAG, 1000, ts);
    char *mv = it_strf("{\"connectorId\":1,\"transactionId\":%d,\"meterValue\":[{\"timestamp\":\"%s\","
                       "\"sampledValue\":[{\"value\":\"1500\",\"measurand\":\"Energy.Active.Import.Register\","
                       "\"unit\":\"Wh\"}]}]}", tx, ts2);
    cJSON_Delete(it_ok(c, "MeterValues", mv));
    free(mv);
    /* stopped with the tag in another case: the same tag for OCPP */
    char *stop = it_strf("{\"transactionId\":%d,\"idTag\":\"IER-PERSON1\",\"meterStop\":2000,\"timestamp\":\"%s\","
                         "\"reason\":\"Local\"}", tx, ts3);
    cJSON_Delete(it_ok(c, "StopTransaction", stop));
    free(stop);
    /* a stop for a transaction nobody knows: an orphan stop */
    char *orphan = it_strf("{\"transactionId\":987654,\"idTag\":\"" TAG "\",\"meterStop\":5,\"timestamp\":\"%s\"}",
                           ts3);
    cJSON_Delete(it_ok(c, "StopTransaction", orphan));
    free(orphan);
    /* a charger's free text naming it */
    cJSON_Delete(it_ok(c, "DataTransfer", "{\"vendorId\":\"ier\",\"messageId\":\"card\","
                                          "\"data\":\"card " TAG " seen at the door\"}"));

    /* a remote start with it: command payload, its session, the idempotency record */
    const char *hdr[] = { "Idempotency-Key: ier-start-1", "Prefer: respond-async", NULL };
    struct api_req q = { .method = "POST", .path = "/v1/chargers/" CP "/remote-start", .key = admin,
                         .body = "{\"connectorId\":2,\"idTag\":\"" TAG "\"}", .headers = hdr };
    r = api_send(PORT, &q);
    if (r->status != 202 && r->status != 200)
        fail_msg("remote start: %d %s", r->status, r->body);
    api_free(r);
    if (!wait_until(W.sim, command_ended, NULL, IT_WAIT_MS))
        fail_msg("the remote start never ended with a session");
    /* every kind of row holds the tag now (the search below finds it) */
    char *where = columns_holding(TAG);
    if (!where || !strstr(where, "sessions.id_tag") || !strstr(where, "commands.payload") ||
        !strstr(where, "audit_log.resource") || !strstr(where, "events.data") ||
        !strstr(where, "orphan_stops.id_tag") || !strstr(where, "idempotency_keys.response_body"))
        fail_msg("before the erasure the tag should be in many places, found in: %s", where ? where : "(none)");
    free(where);
}

static void test_erasure_leaves_the_tag_nowhere(void **state)
{
    (void)state;
    use_the_tag();

    /* not an admin: refused, nothing changed */
    char *writer = api_key_create("ier-writer", "tokens:write,sessions:read");
    struct api_resp *r = api_post(PORT, writer, "/v1/tokens/" TAG "/erase", NULL);
    api_expect_error(r, 403, "ACCESS_FORBIDDEN");
    api_free(r);
    free(writer);
    assert_int_equal(db_int("SELECT count(*) FROM tokens WHERE id_tag = '" TAG "'"), 1);

    const char *hdr[] = { "Idempotency-Key: ier-erase-1", NULL };
    struct api_req q = { .method = "POST", .path = "/v1/tokens/" TAG_LOWER "/erase", .key = admin, .headers = hdr };
    r = api_send(PORT, &q);
    const cJSON *b = api_expect(r, 200);
    api_check_schema(b, "TokenErasure");
    const char *hash = js(b, "idTag");
    if (!hash || strlen(hash) != 23 || strncmp(hash, "erased:", 7) != 0 || strspn(hash + 7, "0123456789abcdef") != 16)
        fail_msg("idTag \"%s\", expected erased: + 16 hex", hash ? hash : "(none)");
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(b, "rows");
    api_check_int(rows, "tokens", 1);
    api_check_int(rows, "sessions", 2);
    api_check_int(rows, "orphanStops", 1);
    if (ji(rows, "events") < 3 || ji(rows, "commands") < 1 || ji(rows, "auditLog") < 2 ||
        ji(rows, "idempotencyRecords") < 1 || ji(rows, "dataTransfers") < 1)
        fail_msg("fewer rows than the test made: %s", r->body);
    char *h = strdup(hash);

    /* the replay answers the same without acting again */
    struct api_resp *again = api_send(PORT, &q);
    api_expect(again, 200);
    if (strcmp(again->body, r->body) != 0)
        fail_msg("the replay differs: %s, then %s", r->body, again->body);
    const char *replayed = api_header(again, "Idempotent-Replayed");
    if (!replayed || strcmp(replayed, "true") != 0)
        fail_msg("the replay is not marked Idempotent-Replayed");
    api_free(again);
    api_free(r);

    if (!wait_until(NULL, erasure_audited, NULL, IT_WAIT_MS))
        fail_msg("no audit row for the erasure");

    /* nowhere, in any column of any table, in any case */
    char *where = columns_holding(TAG);
    if (where)
        fail_msg("after the erasure the tag is still in: %s", where);

    /* the same replacement everywhere */
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE charger_id = '" CP "' AND id_tag = $1", h), 2);
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE charger_id = '" CP "' AND id_tag <> $1", h), 0);
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE charger_id = '" CP "' AND stop_id_tag = $1", h), 1);
    assert_int_equal(db_int("SELECT count(*) FROM orphan_stops WHERE charger_id = '" CP "' AND id_tag = $1", h), 1);
    assert_int_equal(db_int("SELECT count(*) FROM commands WHERE charger_id = '" CP "'"
                            " AND action = 'RemoteStartTransaction' AND payload->>'idTag' <> $1", h), 0);
    if (db_int("SELECT count(*) FROM events WHERE type LIKE 'session.%' AND charger_id = '" CP "'"
               " AND data->>'idTag' = $1", h) < 2)
        fail_msg("the session events do not carry the hash");
    assert_int_equal(db_int("SELECT count(*) FROM events WHERE type LIKE 'session.%' AND charger_id = '" CP "'"
                            " AND data->>'idTag' <> $1", h), 0);
    assert_int_equal(db_int("SELECT count(*) FROM events WHERE type = 'token.deleted' AND data->>'idTag' = $1", h),
                     1);
    /* the erasure's own audit row: the hash and the counts, nothing else */
    assert_int_equal(db_int("SELECT count(*) FROM audit_log WHERE action = 'token.erase' AND result = 'ok'"
                            " AND resource = $1 AND detail ? 'rows'", h), 1);
    /* erasing again finds nothing more */
    r = api_post(PORT, admin, "/v1/tokens/" TAG "/erase", NULL);
    b = api_expect(r, 200);
    api_check_str(b, "idTag", h);
    api_check_int(cJSON_GetObjectItemCaseSensitive(b, "rows"), "sessions", 0);
    api_free(r);
    free(h);
}

/*
 * A tag with 10,000 sessions (years of them; events are kept a week, so
 * the newest 300 have events) is erased in one call, within the default
 * rest.statement_timeout.
 */
static void test_many_sessions(void **state)
{
    (void)state;
    db_exec("INSERT INTO sessions (transaction_id, charger_id, connector_id, id_tag, auth_status, status,"
            " start_time, end_time, meter_start, meter_stop, energy_wh, stop_id_tag)"
            " SELECT 1500000 + g, 'ier-cp-bulk', 1, 'ier-Many', 'Accepted', 'completed',"
            " now() - make_interval(hours => g), now() - make_interval(hours => g) + interval '30 minutes',"
            " 0, 1000, 1000, 'ier-Many' FROM generate_series(1, 10000) g");
    db_exec("INSERT INTO events (seq, id, type, created_at, charger_id, data)"
            " SELECT nextval('events_seq'), gen_random_uuid(), 'session.stopped', now(), 'ier-cp-bulk',"
            " jsonb_build_object('id', s.id, 'idTag', s.id_tag, 'stopIdTag', s.stop_id_tag)"
            " FROM sessions s WHERE s.id_tag = 'ier-Many' AND s.transaction_id <= 1500300");
    struct api_resp *r = api_post(PORT, admin, "/v1/tokens/ier-Many/erase", NULL);
    const cJSON *b = api_expect(r, 200);
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(b, "rows");
    api_check_int(rows, "sessions", 10000);
    /* the 300 above and the session.started the INSERT emitted */
    if (ji(rows, "events") < 300)
        fail_msg("events: %lld, expected at least 300", (long long)ji(rows, "events"));
    api_check_int(rows, "tokens", 0);
    api_free(r);
    char *where = columns_holding("ier-Many");
    if (where)
        fail_msg("the tag is still in: %s", where);
}

int main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_erasure_leaves_the_tag_nowhere, it_rec_setup, it_rec_teardown),
        cmocka_unit_test_setup_teardown(test_many_sessions, it_test_setup, it_test_teardown),
    };
    return cmocka_run_group_tests_name("it_erasure", tests, group_setup, api_group_teardown);
}
