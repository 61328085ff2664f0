/*
 * Integration: sessions and their meter values through the REST API. A
 * session made by the simulator (StartTransaction, MeterValues,
 * StopTransaction) read back with every documented field; meter samples with
 * OCPP's defaults filled in; filters (chargerId, chargerIds[] and chargerIds,
 * status, idTag, from/to) and /v1/chargers/{id}/sessions; 400 for bad
 * parameters; and cursor pages: a walk while new sessions keep arriving (by
 * SQL and by OCPP) visits every session that existed before exactly once and
 * ends, and `before` leads back to the previous page.
 *
 * Charger ids and idTags start with "irs-". SQL-made sessions use
 * transaction ids 7300xxxx.
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
static int next_tx = 73000001;

static int group_setup(void **state)
{
    (void)state;
    gw_migrate_once();
    db_exec("DELETE FROM sessions WHERE charger_id LIKE 'irs-%'");
    db_exec("DELETE FROM meter_values WHERE charger_id LIKE 'irs-%'");
    db_exec("DELETE FROM meter_messages WHERE charger_id LIKE 'irs-%'");
    db_exec("DELETE FROM api_keys WHERE name LIKE 'irs-%'");
    const char *chargers[] = { "irs-a", "irs-f1", "irs-f2", "irs-walk" };
    for (size_t i = 0; i < sizeof chargers / sizeof chargers[0]; i++)
        db_add_charger(chargers[i], NULL, 0);
    db_add_token("irs-tag", "Accepted", NULL, NULL);
    db_add_token("irs-tag2", "Accepted", NULL, NULL);
    db_add_token("irs-tag3", "Accepted", NULL, NULL);
    db_add_token("irs-walker", "Accepted", NULL, NULL);
    admin = api_group_start("it_rest_sessions", "irs-admin");
    return 0;
}

static struct api_resp *get(const char *path)
{
    return api_get(PORT, admin, path);
}

/* A session row as the gateway stores it (meterStart = its transaction id, energy 2000 Wh when completed); returns its id (caller frees). start: ISO time. */
static char *add_session(const char *charger, int connector, const char *tag, const char *start, bool completed)
{
    char tx[16], conn[8];
    snprintf(tx, sizeof tx, "%d", next_tx++);
    snprintf(conn, sizeof conn, "%d", connector);
    if (completed)
        return db_str("INSERT INTO sessions (transaction_id, charger_id, connector_id, id_tag, auth_status, status,"
                      " start_time, end_time, meter_start, meter_stop, energy_wh) VALUES ($1::int, $2, $3::int, $4,"
                      " 'Accepted', 'completed', $5::timestamptz, $5::timestamptz + interval '1 hour', $1::int,"
                      " $1::int + 2000, 2000) RETURNING id", tx, charger, conn, tag, start);
    return db_str("INSERT INTO sessions (transaction_id, charger_id, connector_id, id_tag, auth_status, start_time,"
                  " meter_start) VALUES ($1::int, $2, $3::int, $4, 'Accepted', $5::timestamptz, $1::int) RETURNING id",
                  tx, charger, conn, tag, start);
}

/* ---------------------------------------------------------------- one session */

static void test_session_from_ocpp_has_every_field(void **state)
{
    (void)state;
    struct sim_charger *c = it_connect_booted(W.sim, "irs-a", NULL);
    char t0[32], t1[32], t2[32];
    it_iso_time(t0, -600);
    it_iso_time(t1, -300);
    it_iso_time(t2, -60);
    int32_t tx = it_start_accepted(c, 1, "irs-tag", 1000, t0);
    char *mv = it_strf("{\"connectorId\":1,\"transactionId\":%d,\"meterValue\":[{\"timestamp\":\"%s\","
                       "\"sampledValue\":[{\"value\":\"1500\"},{\"value\":\"7200\",\"measurand\":\"Power.Active.Import\","
                       "\"unit\":\"W\",\"context\":\"Sample.Clock\",\"format\":\"Raw\",\"phase\":\"L1\","
                       "\"location\":\"Outlet\"}]}]}", tx, t1);
    cJSON_Delete(it_ok(c, "MeterValues", mv));
    free(mv);
    char *stop = it_strf("{\"transactionId\":%d,\"meterStop\":4500,\"timestamp\":\"%s\",\"reason\":\"Local\","
                         "\"idTag\":\"irs-tag\"}", tx, t2);
    cJSON_Delete(it_ok(c, "StopTransaction", stop));
    free(stop);
    char *sid = it_session_id_of(tx);

    char *path = it_strf("/v1/sessions/%s", sid);
    struct api_resp *r = get(path);
    const cJSON *s = api_expect(r, 200);
    api_check_schema(s, "Session");
    api_check_int(s, "id", strtoll(sid, NULL, 10));
    api_check_str(s, "chargerId", "irs-a");
    api_check_int(s, "connectorId", 1);
    api_check_int(s, "transactionId", tx);
    api_check_str(s, "idTag", "irs-tag");
    api_check_str(s, "status", "completed");
    api_check_int(s, "energy", 3500);
    api_check_str(s, "startTime", t0);
    api_check_str(s, "endTime", t2);
    api_check_int(s, "chargingDuration", 540);
    api_check_int(s, "meterStart", 1000);
    api_check_int(s, "meterStop", 4500);
    api_check_str(s, "stopReason", "Local");
    api_check_null(s, "cost");
    api_check_null(s, "currency");
    api_free(r);
    free(path);

    /* an active one: no end yet */
    int32_t tx2 = it_start_accepted(c, 2, "irs-tag2", 200, t2);
    char *sid2 = it_session_id_of(tx2);
    path = it_strf("/v1/sessions/%s", sid2);
    r = get(path);
    s = api_expect(r, 200);
    api_check_schema(s, "Session");
    api_check_str(s, "status", "active");
    api_check_int(s, "connectorId", 2);
    api_check_null(s, "endTime");
    api_check_null(s, "meterStop");
    api_check_null(s, "stopReason");
    api_free(r);
    free(path);
    free(sid2);
    free(sid);
    sim_disconnect(c);
}

static const cJSON *with_value(const cJSON *items, const char *value)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, items)
        if (js(it, "value") && strcmp(js(it, "value"), value) == 0)
            return it;
    return NULL;
}

static void test_meter_values_with_defaults(void **state)
{
    (void)state;
    struct sim_charger *c = it_connect_booted(W.sim, "irs-a", NULL);
    char t0[32], t1[32];
    it_iso_time(t0, -120);
    it_iso_time(t1, -90);
    int32_t tx = it_start_accepted(c, 3, "irs-tag3", 0, t0);
    char *mv = it_strf("{\"connectorId\":3,\"transactionId\":%d,\"meterValue\":[{\"timestamp\":\"%s\","
                       "\"sampledValue\":[{\"value\":\"1500\"},{\"value\":\"7200\",\"measurand\":\"Power.Active.Import\","
                       "\"unit\":\"W\",\"context\":\"Sample.Clock\",\"phase\":\"L1\",\"location\":\"Inlet\"}]},"
                       "{\"timestamp\":\"%s\",\"sampledValue\":[{\"value\":\"1600\"}]}]}", tx, t1, t1);
    cJSON_Delete(it_ok(c, "MeterValues", mv));
    free(mv);
    char *sid = it_session_id_of(tx);
    int64_t sidn = strtoll(sid, NULL, 10);

    char *path = it_strf("/v1/sessions/%s/meter-values?perPage=1", sid);
    int pages = 0;
    cJSON *all = api_walk(PORT, admin, path, 10, &pages);
    free(path);
    if (cJSON_GetArraySize(all) != 3)
        fail_msg("meter values of session %s: %d items, expected 3", sid, cJSON_GetArraySize(all));
    const cJSON *e = with_value(all, "1500");
    const cJSON *p = with_value(all, "7200");
    if (!e || !p || !with_value(all, "1600"))
        fail_msg("meter values: a sample is missing");
    const cJSON *mvi;
    cJSON_ArrayForEach(mvi, all)
        api_check_schema(mvi, "MeterValue");
    api_check_str(e, "timestamp", t1);
    api_check_str(e, "measurand", "Energy.Active.Import.Register");
    api_check_str(e, "unit", "Wh");
    api_check_str(e, "context", "Sample.Periodic");
    api_check_str(e, "format", "Raw");
    api_check_str(e, "location", "Outlet");
    api_check_null(e, "phase");
    api_check_int(e, "sessionId", sidn);
    api_check_int(e, "connectorId", 3);
    api_check_str(p, "measurand", "Power.Active.Import");
    api_check_str(p, "unit", "W");
    api_check_str(p, "context", "Sample.Clock");
    api_check_str(p, "format", "Raw");
    api_check_str(p, "phase", "L1");
    api_check_str(p, "location", "Inlet");
    cJSON_Delete(all);

    struct api_resp *r = get("/v1/sessions/999999999/meter-values");
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
    free(sid);
    sim_disconnect(c);
}

static void test_unknown_session_is_404(void **state)
{
    (void)state;
    struct api_resp *r = get("/v1/sessions/999999999");
    api_expect_error_naming(r, 404, "RESOURCE_NOT_FOUND", "999999999");
    api_free(r);
}

/* ---------------------------------------------------------------- filters */

static char *f_ids[4];

/* How many sessions a GET lists, failing unless it is 200. */
static int count_listed(const char *path)
{
    struct api_resp *r = get(path);
    int n = cJSON_GetArraySize(api_data(api_expect(r, 200)));
    api_free(r);
    return n;
}

static void expect_count(const char *path, int want)
{
    int got = count_listed(path);
    if (got != want)
        fail_msg("GET %s listed %d sessions, expected %d", path, got, want);
}

static void test_session_filters(void **state)
{
    (void)state;
    f_ids[0] = add_session("irs-f1", 1, "irs-t1", "2025-05-01T10:00:00Z", true);
    f_ids[1] = add_session("irs-f1", 1, "irs-t2", "2025-05-02T10:00:00Z", true);
    f_ids[2] = add_session("irs-f1", 2, "irs-t1", "2025-05-03T10:00:00Z", false);
    f_ids[3] = add_session("irs-f2", 1, "irs-t3", "2025-05-04T10:00:00Z", true);

    expect_count("/v1/sessions?chargerId=irs-f1&perPage=500", 3);
    expect_count("/v1/sessions?chargerId=irs-f2&perPage=500", 1);
    expect_count("/v1/sessions?chargerIds[]=irs-f1&chargerIds[]=irs-f2&perPage=500", 4);
    expect_count("/v1/sessions?chargerIds%5B%5D=irs-f1&chargerIds%5B%5D=irs-f2&perPage=500", 4);
    expect_count("/v1/sessions?chargerIds=irs-f1,irs-f2&perPage=500", 4);
    expect_count("/v1/sessions?chargerIds=irs-f1,irs-f2&status=active&perPage=500", 1);
    expect_count("/v1/sessions?chargerIds=irs-f1,irs-f2&status=completed&perPage=500", 3);
    expect_count("/v1/sessions?idTag=irs-t2&perPage=500", 1);
    expect_count("/v1/sessions?idTag=irs-t1&chargerId=irs-f1&perPage=500", 2);
    expect_count("/v1/sessions?chargerIds=irs-f1,irs-f2&from=2025-05-02T00:00:00Z&to=2025-05-03T23:00:00Z", 2);
    expect_count("/v1/sessions?chargerIds=irs-f1,irs-f2&from=2025-05-04T00:00:00Z", 1);
    expect_count("/v1/sessions?chargerIds=irs-f1,irs-f2&to=2025-05-01T12:00:00Z", 1);
    expect_count("/v1/sessions?chargerId=irs-none", 0);
    /* search: case-insensitive substring of idTag or charger id */
    expect_count("/v1/sessions?search=IRS-T1&chargerIds=irs-f1,irs-f2&perPage=500", 2);
    expect_count("/v1/sessions?search=irs-f2&perPage=500", 1);
    expect_count("/v1/chargers/irs-f1/sessions?search=irs-t2", 1);
    expect_count("/v1/sessions?search=no-such-thing-irs", 0);

    /* the charger's own collection */
    expect_count("/v1/chargers/irs-f1/sessions?perPage=500", 3);
    expect_count("/v1/chargers/irs-f1/sessions?status=active", 1);
    expect_count("/v1/chargers/irs-f2/sessions", 1);
    struct api_resp *r = get("/v1/chargers/irs-f2/sessions");
    api_check_schema(api_expect(r, 200), "SessionList");
    const cJSON *s = cJSON_GetArrayItem(api_data(api_expect(r, 200)), 0);
    api_check_int(s, "id", strtoll(f_ids[3], NULL, 10));
    api_check_str(s, "chargerId", "irs-f2");
    api_check_str(s, "idTag", "irs-t3");
    api_check_int(s, "energy", 2000);
    api_free(r);

    /* sort and order */
    r = get("/v1/sessions?chargerId=irs-f1&sort=startTime&order=asc");
    api_check_schema(api_expect(r, 200), "SessionList");
    const cJSON *data = api_data(api_expect(r, 200));
    api_check_int(cJSON_GetArrayItem(data, 0), "id", strtoll(f_ids[0], NULL, 10));
    api_check_int(cJSON_GetArrayItem(data, 2), "id", strtoll(f_ids[2], NULL, 10));
    api_free(r);
    r = get("/v1/sessions?chargerId=irs-f1&sort=startTime&order=desc");
    data = api_data(api_expect(r, 200));
    api_check_int(cJSON_GetArrayItem(data, 0), "id", strtoll(f_ids[2], NULL, 10));
    api_free(r);
    for (int i = 0; i < 4; i++)
        free(f_ids[i]);
}

static void test_session_bad_parameters_are_400(void **state)
{
    (void)state;
    static const struct api_bad cases[] = {
        { "status=paused", "status" },       { "from=yesterday", "from" },
        { "to=2025-13-01T00:00:00Z", "to" }, { "from=2025-02-30T00:00:00Z", "from" },
        { "after=garbage", "after" },        { "before=%21%21", "before" },
        { "perPage=0", "perPage" },          { "perPage=1000", "perPage" },
        { "sort=colour", "sort" },           { "order=up", "order" },
        { "colour=red", "colour" },
    };
    api_expect_bad_queries(PORT, admin, "/v1/sessions", cases, API_COUNT(cases));

    /* a bare '+' arrives as a space: the reason says to send %2B */
    struct api_resp *r = get("/v1/sessions?from=2026-11-29T00:00:00+01:00");
    api_expect_error(r, 400, "BAD_REQUEST");
    const char *why = js(cJSON_GetObjectItem(r->json, "context"), "from");
    if (!why || !strstr(why, "%2B"))
        fail_msg("the 400 for a '+' sent bare does not say %%2B: %s", r->body);
    api_free(r);
    r = get("/v1/sessions?from=2026-11-29T00:00:00%2B01:00");
    api_expect(r, 200);
    api_free(r);
}

/* ---------------------------------------------------------------- cursor pages */

#define WALK_OLD 40

/* Walks /v1/sessions?chargerId=irs-walk&perPage=3[&order] inserting sessions between pages. */
static void walk_while_inserting(const char *order, struct sim_charger *c, int *connector)
{
    char *old[WALK_OLD];
    for (int i = 0; i < WALK_OLD; i++) {
        char start[32];
        it_iso_time(start, -86400 + i * 60);
        old[i] = add_session("irs-walk", 1, "irs-old", start, true);
    }
    int seen_old[WALK_OLD] = { 0 };
    cJSON *seen = cJSON_CreateObject();         /* every id seen, to catch any repeat */
    char *after = NULL;
    int pages = 0, inserted = 0;
    for (;;) {
        if (pages >= 100)
            fail_msg("cursor walk (%s) did not end within 100 pages of 3", order);
        char *path = after ? it_strf("/v1/sessions?chargerId=irs-walk&perPage=3%s&after=%s", order, after)
                           : it_strf("/v1/sessions?chargerId=irs-walk&perPage=3%s", order);
        struct api_resp *r = get(path);
        free(path);
        const cJSON *b = api_expect(r, 200);
        const cJSON *item;
        cJSON_ArrayForEach(item, api_data(b)) {
            char id[32];
            snprintf(id, sizeof id, "%lld", (long long)ji(item, "id"));
            if (cJSON_GetObjectItemCaseSensitive(seen, id))
                fail_msg("cursor walk (%s): session %s came twice (page %d)", order, id, pages + 1);
            cJSON_AddTrueToObject(seen, id);
            for (int i = 0; i < WALK_OLD; i++)
                if (strcmp(old[i], id) == 0)
                    seen_old[i]++;
        }
        const char *next = js(cJSON_GetObjectItemCaseSensitive(b, "meta"), "after");
        free(after);
        after = next ? api_escape(next) : NULL;
        api_free(r);
        pages++;
        if (!after)
            break;
        /* new sessions arrive meanwhile: two by SQL, one by OCPP every third page */
        if (pages <= 12) {
            char start[32];
            it_iso_time(start, 0);
            free(add_session("irs-walk", 2, "irs-new", start, false));
            free(add_session("irs-walk", 2, "irs-new", start, true));
            inserted += 2;
            if (pages % 3 == 0) {
                char ts[32];
                it_iso_time(ts, pages);
                int32_t tx = it_start_accepted(c, ++*connector, "irs-walker", 0, ts);
                char *stop = it_strf("{\"transactionId\":%d,\"meterStop\":10,\"timestamp\":\"%s\"}", tx, ts);
                cJSON_Delete(it_ok(c, "StopTransaction", stop));
                free(stop);
                inserted++;
            }
        }
    }
    for (int i = 0; i < WALK_OLD; i++) {
        if (seen_old[i] != 1)
            fail_msg("cursor walk (%s): session %s (there before the walk) seen %d times", order, old[i],
                     seen_old[i]);
        free(old[i]);
    }
    assert_true(inserted > 0);
    cJSON_Delete(seen);
    free(after);
}

static void test_cursor_walk_while_sessions_arrive(void **state)
{
    (void)state;
    struct sim_charger *c = it_connect_booted(W.sim, "irs-walk", NULL);
    int connector = 10;
    walk_while_inserting("", c, &connector);
    db_exec("DELETE FROM sessions WHERE charger_id = 'irs-walk'");
    walk_while_inserting("&order=asc", c, &connector);
    db_exec("DELETE FROM sessions WHERE charger_id = 'irs-walk'");
    walk_while_inserting("&order=desc", c, &connector);
    sim_disconnect(c);
}

/* The ids of a page's items, comma-separated (caller frees). */
static char *page_ids(const cJSON *body)
{
    char buf[1024] = "";
    const cJSON *item;
    cJSON_ArrayForEach(item, api_data(body)) {
        char id[32];
        snprintf(id, sizeof id, "%s%lld", *buf ? "," : "", (long long)ji(item, "id"));
        strcat(buf, id);
    }
    return strdup(buf);
}

static void test_before_leads_back(void **state)
{
    (void)state;
    db_exec("DELETE FROM sessions WHERE charger_id = 'irs-f2'");
    for (int i = 0; i < 7; i++) {
        char start[32];
        it_iso_time(start, -7200 + i * 60);
        free(add_session("irs-f2", 1, "irs-back", start, true));
    }
    struct api_resp *p1 = get("/v1/sessions?chargerId=irs-f2&perPage=3");
    const cJSON *b1 = api_expect(p1, 200);
    char *ids1 = page_ids(b1);
    const char *after = js(cJSON_GetObjectItemCaseSensitive(b1, "meta"), "after");
    if (!after)
        fail_msg("first page of 3 of 7 sessions has no meta.after: %s", p1->body);
    char *esc = api_escape(after);
    char *path = it_strf("/v1/sessions?chargerId=irs-f2&perPage=3&after=%s", esc);
    free(esc);
    struct api_resp *p2 = get(path);
    free(path);
    const cJSON *b2 = api_expect(p2, 200);
    char *ids2 = page_ids(b2);
    if (strcmp(ids1, ids2) == 0)
        fail_msg("the second page repeats the first: %s", ids1);
    const char *before = js(cJSON_GetObjectItemCaseSensitive(b2, "meta"), "before");
    if (!before)
        fail_msg("second page has no meta.before: %s", p2->body);
    esc = api_escape(before);
    path = it_strf("/v1/sessions?chargerId=irs-f2&perPage=3&before=%s", esc);
    free(esc);
    struct api_resp *back = get(path);
    free(path);
    char *ids_back = page_ids(api_expect(back, 200));
    if (strcmp(ids1, ids_back) != 0)
        fail_msg("before of page 2 gave [%s], page 1 was [%s]", ids_back, ids1);
    free(ids1);
    free(ids2);
    free(ids_back);
    api_free(p1);
    api_free(p2);
    api_free(back);

    /* the whole walk: 7 sessions in 3 pages, the last one says after: null */
    int pages = 0;
    cJSON *all = api_walk(PORT, admin, "/v1/sessions?chargerId=irs-f2&perPage=3", 10, &pages);
    assert_int_equal(cJSON_GetArraySize(all), 7);
    assert_int_equal(pages, 3);
    cJSON_Delete(all);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, it_test_setup, it_test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_session_from_ocpp_has_every_field),
        T(test_meter_values_with_defaults),
        T(test_unknown_session_is_404),
        T(test_session_filters),
        T(test_session_bad_parameters_are_400),
        T(test_cursor_walk_while_sessions_arrive),
        T(test_before_leads_back),
    };
    return cmocka_run_group_tests(tests, group_setup, api_group_teardown);
}
