/*
 * Integration: the cost of a session (issue 13; ../shared/spec/
 * sites-and-tariffs.md, "Session cost"; sql/018_session_cost.sql,
 * src/store/pricing_job.c). A session driven through the simulator on a
 * charger of a site in Europe/Berlin with a day/night tariff is priced by
 * the pricing job after its StopTransaction: GET /v1/sessions/{id} shows
 * cost, net, vat and the breakdown computed by hand below, and the
 * session.stopped event (emitted by the cost write) carries the same; a
 * session without a tariff keeps cost null and gets its session.stopped
 * from the stop; a late upload is priced with the tariff version in force
 * at its start, not the one in force at its upload. An active session shows
 * its cost so far (costFinal false) in GET /v1/sessions/{id} and both
 * session lists, and no event carries such an estimate. tariffs.idle_power_w
 * (3000 W for this file's gateway) decides when charging ended, for the
 * pricing job and the estimate alike. Every answer is checked against
 * docs/openapi.json.
 *
 * Ids start with "isc-".
 */
#include "it.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls.h"
#include "cost.h"
#include "db.h"
#include "fixture.h"
#include "gw.h"
#include "support/rest.h"

#define PORT gw_port(W.gw)
/* this file's gateways: charging ends below 3000 W (the default is 100) */
#define IDLE_INI "[tariffs]\nidle_power_w = 3000\n"

static char *admin;

static int group_setup(void **state)
{
    (void)state;
    gw_migrate_once();
    db_exec("UPDATE sites SET tariff_id = NULL WHERE tariff_id LIKE 'isc-%'");
    db_exec("UPDATE chargers SET tariff_id = NULL WHERE tariff_id LIKE 'isc-%'");
    db_exec("DELETE FROM sessions WHERE charger_id LIKE 'isc-%'");
    db_exec("DELETE FROM chargers WHERE id LIKE 'isc-%'");
    db_exec("DELETE FROM sites WHERE id LIKE 'isc-%'");
    db_exec("DELETE FROM tariffs WHERE id LIKE 'isc-%'");
    db_exec("DELETE FROM api_keys WHERE name LIKE 'isc-%'");
    db_exec("UPDATE tariffs SET is_default = false WHERE is_default");
    db_add_token("isc-tag", "Accepted", NULL, NULL);
    admin = api_group_start_ini("it_session_cost", "isc-admin", IDLE_INI);
    return 0;
}

static void energy_sample(struct sim_charger *c, int connector, int32_t tx, const char *ts, int wh)
{
    cost_call(c, "MeterValues",
         it_strf("{\"connectorId\":%d,\"transactionId\":%d,\"meterValue\":[{\"timestamp\":\"%s\","
                 "\"sampledValue\":[{\"value\":\"%d\",\"measurand\":\"Energy.Active.Import.Register\","
                 "\"unit\":\"Wh\"}]}]}", connector, tx, ts, wh));
}

static void power_sample(struct sim_charger *c, int connector, int32_t tx, const char *ts, int w)
{
    cost_call(c, "MeterValues",
         it_strf("{\"connectorId\":%d,\"transactionId\":%d,\"meterValue\":[{\"timestamp\":\"%s\","
                 "\"sampledValue\":[{\"value\":\"%d\",\"measurand\":\"Power.Active.Import\","
                 "\"unit\":\"W\"}]}]}", connector, tx, ts, w));
}

static void status(struct sim_charger *c, int connector, const char *st, const char *ts)
{
    cost_call(c, "StatusNotification",
         it_strf("{\"connectorId\":%d,\"errorCode\":\"NoError\",\"status\":\"%s\",\"timestamp\":\"%s\"}",
                 connector, st, ts));
}

/* GET /v1/sessions/{sid} from the gateway on port: the body, checked against the Session schema (caller frees *r). */
static const cJSON *get_session_at(int port, const char *sid, struct api_resp **r)
{
    char *path = it_strf("/v1/sessions/%s", sid);
    *r = api_get(port, admin, path);
    free(path);
    const cJSON *s = api_expect(*r, 200);
    api_check_schema(s, "Session");
    return s;
}

static const cJSON *get_session(const char *sid, struct api_resp **r)
{
    return get_session_at(PORT, sid, r);
}

/* The line of component c in costBreakdown, or NULL. */
static const cJSON *line_of(const cJSON *session, const char *c)
{
    const cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(session, "costBreakdown")) {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(l, "component");
        if (cJSON_IsString(k) && !strcmp(k->valuestring, c))
            return l;
    }
    return NULL;
}

/*
 * The tariff (EUR, VAT 19 %), in the site's local time (Europe/Berlin,
 * UTC+1 in November):
 *   element 1, 22:00-06:00: energy 30 per kWh, time 1 per min, idle 5 per min, grace 10 min
 *   element 2, any time:    energy 39.5 per kWh, time 2 per min, idle 10 per min, grace 10 min,
 *                           sessionFee 50
 * The session (UTC; local = +1 h), meterStart 1000 Wh:
 *   20:30Z start (21:30 local, day)
 *   20:31Z StatusNotification SuspendedEV: before any energy flowed, so not the end of charging
 *   20:45Z register 3000 Wh (the first sample above meterStart)
 *   21:15Z register 9000 Wh
 *   21:30Z StatusNotification SuspendedEV: charging ended
 *   22:00Z stop, meterStop 12000 Wh
 * Energy: 22:00 local = 21:00Z lies halfway between 20:45Z (3000) and 21:15Z
 *   (9000): 6000 Wh. Day 6000 - 1000 = 5 kWh x 39.5 = 197.5;
 *   night 12000 - 6000 = 6 kWh x 30 = 180.
 * Time: 20:30Z-21:00Z 30 min x 2 = 60; 21:00Z-21:30Z 30 min x 1 = 30.
 * Idle: from 21:30Z + 10 min grace (night element's) = 21:40Z to 22:00Z:
 *   20 min x 5 = 100.
 * Session fee (element at the start, day): 50.
 * Subtotal 197.5 + 180 + 60 + 30 + 100 + 50 = 617.5; net 618 (half-up);
 * VAT 618 x 0.19 = 117.42 -> 117; gross 735.
 */
static void test_session_priced_in_site_zone(void **state)
{
    (void)state;
    cost_make_tariff(PORT, admin, "{\"id\":\"isc-day-night\",\"currency\":\"EUR\",\"vatPercent\":19,"
                "\"validFrom\":\"2026-01-01T00:00:00Z\","
                "\"elements\":[{\"energy\":30,\"time\":1,\"idle\":5,\"idleGraceMinutes\":10,"
                "\"restrictions\":{\"startTime\":\"22:00\",\"endTime\":\"06:00\"}},"
                "{\"energy\":39.5,\"time\":2,\"idle\":10,\"idleGraceMinutes\":10,\"sessionFee\":50}]}");
    db_exec("INSERT INTO sites (id, name, time_zone, tariff_id)"
            " VALUES ('isc-site', 'Berlin', 'Europe/Berlin', 'isc-day-night')");
    db_add_charger("isc-cp1", NULL, 0);
    db_exec("UPDATE chargers SET site_id = 'isc-site' WHERE id = 'isc-cp1'");
    struct sim_charger *c = it_connect_booted(W.sim, "isc-cp1", NULL);

    int32_t tx = it_start_accepted(c, 1, "isc-tag", 1000, "2026-11-20T20:30:00Z");
    status(c, 1, "SuspendedEV", "2026-11-20T20:31:00Z");
    energy_sample(c, 1, tx, "2026-11-20T20:45:00Z", 3000);
    energy_sample(c, 1, tx, "2026-11-20T21:15:00Z", 9000);
    status(c, 1, "SuspendedEV", "2026-11-20T21:30:00Z");
    cost_stop(c, tx, 12000, "2026-11-20T22:00:00Z");
    char *sid = cost_wait_priced(tx);

    struct api_resp *r;
    const cJSON *s = get_session(sid, &r);
    api_check_str(s, "tariffId", "isc-day-night");
    api_check_int(s, "tariffVersion", 1);
    api_check_str(s, "currency", "EUR");
    api_check_int(s, "net", 618);
    api_check_int(s, "vat", 117);
    api_check_int(s, "cost", 735);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "costFinal")));
    const cJSON *lines = cJSON_GetObjectItemCaseSensitive(s, "costBreakdown");
    assert_true(cJSON_IsArray(lines));
    assert_int_equal(cJSON_GetArraySize(lines), 6);
    cost_check_line(lines, 0, "energy", 5, "kWh", 39.5, 197.5, "2026-11-20T20:30:00Z", "2026-11-20T21:00:00Z");
    cost_check_line(lines, 1, "energy", 6, "kWh", 30, 180, "2026-11-20T21:00:00Z", "2026-11-20T22:00:00Z");
    cost_check_line(lines, 2, "time", 30, "min", 2, 60, "2026-11-20T20:30:00Z", "2026-11-20T21:00:00Z");
    cost_check_line(lines, 3, "time", 30, "min", 1, 30, "2026-11-20T21:00:00Z", "2026-11-20T21:30:00Z");
    cost_check_line(lines, 4, "idle", 20, "min", 5, 100, "2026-11-20T21:40:00Z", "2026-11-20T22:00:00Z");
    cost_check_line(lines, 5, "sessionFee", 1, "session", 50, 50, NULL, NULL);

    /* session.stopped, emitted by the cost write, once, with the same cost */
    assert_int_equal(db_int("SELECT count(*) FROM events WHERE type = 'session.stopped'"
                            " AND (data->>'id')::bigint = $1::bigint", sid), 1);
    char *ev = db_str("SELECT string_agg(data::text, '|') FROM events"
                      " WHERE type = 'session.stopped' AND (data->>'id')::bigint = $1::bigint", sid);
    assert_non_null(ev);
    cJSON *d = cJSON_Parse(ev);
    if (!d)
        fail_msg("session.stopped data is not one document: %s", ev);
    api_check_int(d, "cost", 735);
    api_check_int(d, "net", 618);
    api_check_int(d, "vat", 117);
    api_check_str(d, "currency", "EUR");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "costFinal")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(d, "costBreakdown")), 6);
    api_check_schema(d, "Session");
    cJSON_Delete(d);
    free(ev);
    api_free(r);
    free(sid);
    sim_disconnect(c);
}

static void test_session_without_tariff_has_no_cost(void **state)
{
    (void)state;
    db_add_charger("isc-cp2", NULL, 0);
    struct sim_charger *c = it_connect_booted(W.sim, "isc-cp2", NULL);
    char t0[32], t1[32];
    it_iso_time(t0, -600);
    it_iso_time(t1, -60);
    int32_t tx = it_start_accepted(c, 1, "isc-tag", 0, t0);
    cost_stop(c, tx, 5000, t1);
    char *sid = it_session_id_of(tx);
    /* the stop emits session.stopped itself */
    db_wait_int(COST_PRICED_WAIT_MS, 1,
                "SELECT count(*) FROM events WHERE type = 'session.stopped' AND (data->>'id')::bigint = $1::bigint",
                sid);
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE id = $1::bigint AND cost_state = 'none'", sid), 1);
    struct api_resp *r;
    const cJSON *s = get_session(sid, &r);
    api_check_null(s, "tariffId");
    api_check_null(s, "cost");
    api_check_null(s, "net");
    api_check_null(s, "costBreakdown");
    api_check_null(s, "costFinal");
    api_free(r);
    free(sid);
    sim_disconnect(c);
}

/*
 * Version 1 charges 30 per kWh, version 2 (written after it, in force from
 * then on) 40. A session started and stopped an hour ago, uploaded now,
 * started before either was written: version 1 (2 kWh x 30 = 60, VAT 11.4
 * -> 11, gross 71). A session started now: version 2 (2 kWh x 40 = 80, VAT
 * 15.2 -> 15, gross 95).
 */
static void test_late_upload_priced_with_version_at_start(void **state)
{
    (void)state;
    cost_make_tariff(PORT, admin, "{\"id\":\"isc-late\",\"currency\":\"EUR\",\"vatPercent\":19,\"elements\":[{\"energy\":30}]}");
    struct api_resp *r = api_patch(PORT, admin, "/v1/tariffs/isc-late", "{\"elements\":[{\"energy\":40}]}");
    api_check_int(api_expect(r, 200), "version", 2);
    api_free(r);
    db_add_charger("isc-cp3", NULL, 0);
    db_exec("UPDATE chargers SET tariff_id = 'isc-late' WHERE id = 'isc-cp3'");
    struct sim_charger *c = it_connect_booted(W.sim, "isc-cp3", NULL);

    char t0[32], t1[32], n0[32], n1[32];
    it_iso_time(t0, -3600);
    it_iso_time(t1, -3000);
    it_iso_time(n0, 1);
    it_iso_time(n1, 2);
    int32_t late = it_start_accepted(c, 1, "isc-tag", 0, t0);
    cost_stop(c, late, 2000, t1);
    int32_t now = it_start_accepted(c, 2, "isc-tag", 0, n0);
    cost_stop(c, now, 2000, n1);

    char *sid = cost_wait_priced(late);
    const cJSON *s = get_session(sid, &r);
    api_check_int(s, "tariffVersion", 1);
    api_check_int(s, "net", 60);
    api_check_int(s, "vat", 11);
    api_check_int(s, "cost", 71);
    cost_check_line(cJSON_GetObjectItemCaseSensitive(s, "costBreakdown"), 0, "energy", 2, "kWh", 30, 60, NULL, NULL);
    api_free(r);
    free(sid);

    sid = cost_wait_priced(now);
    s = get_session(sid, &r);
    api_check_int(s, "tariffVersion", 2);
    api_check_int(s, "cost", 95);
    api_free(r);
    free(sid);
    sim_disconnect(c);
}

/* The sessions a gateway's log says its pricing thread priced ("pricing: N sessions priced"). */
static long priced_in_log(const struct gw *g)
{
    FILE *f = fopen(gw_log_path(g), "r");
    if (!f)
        return 0;
    long sum = 0;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "pricing: ");
        long n;
        if (p && strstr(p, " priced") && sscanf(p, "pricing: %ld session", &n) == 1)
            sum += n;
    }
    fclose(f);
    return sum;
}

/*
 * Two gateways on one database: 1000 sessions completed at once (in SQL,
 * as a burst of StopTransactions would leave them), both pricing threads
 * claiming batches of 50 with SKIP LOCKED. Each session is priced, and
 * emits its session.stopped, exactly once (enough work that both threads run at once): 1 kWh x 30 = 30, VAT 5.7 -> 6,
 * gross 36.
 */
static void test_two_gateways_price_each_session_once(void **state)
{
    (void)state;
    cost_make_tariff(PORT, admin, "{\"id\":\"isc-many\",\"currency\":\"EUR\",\"vatPercent\":19,"
                "\"validFrom\":\"2026-01-01T00:00:00Z\",\"elements\":[{\"energy\":30}]}");
    db_add_charger("isc-cp4", NULL, 0);
    db_exec("UPDATE chargers SET tariff_id = 'isc-many' WHERE id = 'isc-cp4'");
    struct gw_opts go = { .name = "it_session_cost-2", .ini = IDLE_INI };
    W.gw2 = gw_start(&go);
    long before = priced_in_log(W.gw);
    db_exec("INSERT INTO sessions (transaction_id, charger_id, connector_id, id_tag, auth_status, start_time,"
            "                      meter_start)"
            " SELECT 2000000000 + g, 'isc-cp4', g, 'isc-tag', 'Accepted', '2026-11-20T10:00:00Z', 0"
            "   FROM generate_series(1, 1000) g");
    assert_int_equal(db_exec("UPDATE sessions SET status = 'completed', end_time = '2026-11-20T11:00:00Z',"
                             " meter_stop = 1000, energy_wh = 1000 WHERE charger_id = 'isc-cp4'"),
                     1000);
    db_wait_int(COST_PRICED_WAIT_MS * 3, 1000,
                "SELECT count(*) FROM sessions WHERE charger_id = 'isc-cp4' AND cost_state = 'final'"
                " AND cost = 36 AND cost_net = 30 AND cost_vat = 6");
    assert_int_equal(db_int("SELECT count(*) FROM events e JOIN sessions s ON s.id = (e.data->>'id')::bigint"
                            " WHERE e.type = 'session.stopped' AND s.charger_id = 'isc-cp4'"),
                     1000);
    assert_int_equal(db_int("SELECT count(DISTINCT (e.data->>'id')) FROM events e"
                            " JOIN sessions s ON s.id = (e.data->>'id')::bigint"
                            " WHERE e.type = 'session.stopped' AND s.charger_id = 'isc-cp4'"
                            " AND (e.data->>'cost')::bigint = 36"),
                     1000);
    /* and priced once: the two logs together count 1000 more (each line is written after its commit) */
    long total = 0;
    for (int i = 0; i < 100 && (total = priced_in_log(W.gw) + priced_in_log(W.gw2) - before) < 1000; i++)
        it_pause(W.sim, 100);
    if (total != 1000)
        fail_msg("the gateways' logs say %ld sessions priced, expected 1000", total);
}

/*
 * tariffs.idle_power_w = 3000 (IDLE_INI) and a tariff of idle only (1 per
 * minute, no grace). Both sessions start 10:00Z, 5000 W at 10:10Z, stop
 * 10:40Z. Session 1's last power sample, 2000 W at 10:20Z, is at or below
 * 3000: charging ended at 10:10Z (the last sample above), idle 30 min =
 * 30, VAT 5.7 -> 6, gross 36 (with the default 100 W it would still be
 * charging: no idle, cost 0). Session 2's last, 4000 W, is above: no idle,
 * cost 0.
 */
static void test_idle_power_from_config(void **state)
{
    (void)state;
    cost_make_tariff(PORT, admin, "{\"id\":\"isc-idle\",\"currency\":\"EUR\",\"vatPercent\":19,"
                "\"validFrom\":\"2026-01-01T00:00:00Z\",\"elements\":[{\"idle\":1}]}");
    db_add_charger("isc-cp5", NULL, 0);
    db_exec("UPDATE chargers SET tariff_id = 'isc-idle' WHERE id = 'isc-cp5'");
    struct sim_charger *c = it_connect_booted(W.sim, "isc-cp5", NULL);
    int32_t tx[2];
    for (int i = 0; i < 2; i++) {
        tx[i] = it_start_accepted(c, i + 1, "isc-tag", 0, "2026-11-21T10:00:00Z");
        energy_sample(c, i + 1, tx[i], "2026-11-21T10:05:00Z", 1000);
        power_sample(c, i + 1, tx[i], "2026-11-21T10:10:00Z", 5000);
        power_sample(c, i + 1, tx[i], "2026-11-21T10:20:00Z", i == 0 ? 2000 : 4000);
        cost_stop(c, tx[i], 1500, "2026-11-21T10:40:00Z");
    }
    struct api_resp *r;
    char *sid = cost_wait_priced(tx[0]);
    const cJSON *s = get_session(sid, &r);
    api_check_int(s, "cost", 36);
    api_check_int(s, "net", 30);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s, "costBreakdown")), 1);
    cost_check_line(cJSON_GetObjectItemCaseSensitive(s, "costBreakdown"), 0, "idle", 30, "min", 1, 30,
               "2026-11-21T10:10:00Z", "2026-11-21T10:40:00Z");
    api_free(r);
    free(sid);

    sid = cost_wait_priced(tx[1]);
    s = get_session(sid, &r);
    api_check_int(s, "cost", 0);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "costFinal")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s, "costBreakdown")), 0);
    api_free(r);
    free(sid);
    sim_disconnect(c);
}

/* The first item of GET path's data, checked against the list's schema (caller frees *r). */
static const cJSON *first_item(const char *path, const char *schema, struct api_resp **r)
{
    *r = api_get(PORT, admin, path);
    const cJSON *page = api_expect(*r, 200);
    api_check_schema(page, schema);
    const cJSON *item = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(page, "data"), 0);
    if (!item)
        fail_msg("%s: no item", path);
    return item;
}

static void check_estimate(const cJSON *s, int net, int vat, int cost)
{
    api_check_str(s, "status", "active");
    api_check_str(s, "tariffId", "isc-est");
    api_check_int(s, "tariffVersion", 1);
    api_check_str(s, "currency", "EUR");
    api_check_int(s, "net", net);
    api_check_int(s, "vat", vat);
    api_check_int(s, "cost", cost);
    api_check_bool(s, "costFinal", false);
    const cJSON *lines = cJSON_GetObjectItemCaseSensitive(s, "costBreakdown");
    assert_int_equal(cJSON_GetArraySize(lines), 2);
    cost_check_line(lines, 0, "energy", 2, "kWh", 30, 60, NULL, NULL);
    cost_check_line(lines, 1, "sessionFee", 1, "session", 50, 50, NULL, NULL);
}

/*
 * An active session (energy 30 per kWh, sessionFee 50; started 30 minutes
 * ago, meterStart 0, 2000 Wh read 20 minutes ago) shows its cost so far:
 * 2 kWh x 30 = 60 + 50 = 110 net, VAT 20.9 -> 21, 131, costFinal false,
 * in GET /v1/sessions/{id}, GET /v1/sessions and GET
 * /v1/chargers/{id}/sessions. A session without a tariff shows no cost.
 * No event carries an estimate. Stopped at 2000 Wh, the final cost is the
 * same, costFinal true.
 */
static void test_active_session_estimate(void **state)
{
    (void)state;
    cost_make_tariff(PORT, admin, "{\"id\":\"isc-est\",\"currency\":\"EUR\",\"vatPercent\":19,"
                "\"validFrom\":\"2026-01-01T00:00:00Z\",\"elements\":[{\"energy\":30,\"sessionFee\":50}]}");
    db_add_charger("isc-cp6", NULL, 0);
    db_exec("UPDATE chargers SET tariff_id = 'isc-est' WHERE id = 'isc-cp6'");
    db_add_charger("isc-cp7", NULL, 0);
    struct sim_charger *c = it_connect_booted(W.sim, "isc-cp6", NULL);
    struct sim_charger *free_cp = it_connect_booted(W.sim, "isc-cp7", NULL);
    char t0[32], t1[32], t2[32];
    it_iso_time(t0, -1800);
    it_iso_time(t1, -1200);
    int32_t tx = it_start_accepted(c, 1, "isc-tag", 0, t0);
    energy_sample(c, 1, tx, t1, 2000);
    int32_t tx_free = it_start_accepted(free_cp, 1, "isc-tag", 0, t0);
    char *sid = it_session_id_of(tx);
    char *sid_free = it_session_id_of(tx_free);

    struct api_resp *r;
    const cJSON *s = get_session(sid, &r);
    check_estimate(s, 110, 21, 131);
    api_free(r);
    s = first_item("/v1/sessions?chargerId=isc-cp6&status=active", "SessionList", &r);
    check_estimate(s, 110, 21, 131);
    api_free(r);
    s = first_item("/v1/chargers/isc-cp6/sessions", "SessionList", &r);
    check_estimate(s, 110, 21, 131);
    api_free(r);

    s = get_session(sid_free, &r);
    api_check_str(s, "status", "active");
    api_check_null(s, "cost");
    api_check_null(s, "costBreakdown");
    api_check_null(s, "costFinal");
    api_free(r);

    assert_int_equal(db_int("SELECT count(*) FROM events WHERE data->>'costFinal' = 'false'"), 0);

    it_iso_time(t2, 0);
    cost_stop(c, tx, 2000, t2);
    free(cost_wait_priced(tx));
    s = get_session(sid, &r);
    api_check_int(s, "cost", 131);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "costFinal")));
    api_free(r);
    free(sid);
    free(sid_free);
    sim_disconnect(free_cp);
    sim_disconnect(c);
}

/*
 * The estimate follows the gateway's tariffs.idle_power_w too: a session
 * started an hour ago under the idle tariff, 5000 W 50 minutes ago, 2000 W
 * 40 minutes ago. Through this file's gateway (3000 W) charging ended 50
 * minutes ago: about 50 minutes idle so far; through a gateway with the
 * default 100 W it is still charging: no idle, cost 0.
 */
static void test_estimate_idle_power_from_config(void **state)
{
    (void)state;
    cost_make_tariff(PORT, admin, "{\"id\":\"isc-idle2\",\"currency\":\"EUR\",\"vatPercent\":19,"
                "\"validFrom\":\"2026-01-01T00:00:00Z\",\"elements\":[{\"idle\":1}]}");
    db_add_charger("isc-cp8", NULL, 0);
    db_exec("UPDATE chargers SET tariff_id = 'isc-idle2' WHERE id = 'isc-cp8'");
    struct gw_opts go = { .name = "it_session_cost-default-idle" };
    W.gw2 = gw_start(&go);
    struct sim_charger *c = it_connect_booted(W.sim, "isc-cp8", NULL);
    char t0[32], t1[32], t2[32];
    it_iso_time(t0, -3600);
    it_iso_time(t1, -3000);
    it_iso_time(t2, -2400);
    int32_t tx = it_start_accepted(c, 1, "isc-tag", 0, t0);
    power_sample(c, 1, tx, t1, 5000);
    power_sample(c, 1, tx, t2, 2000);
    char *sid = it_session_id_of(tx);

    struct api_resp *r;
    const cJSON *s = get_session(sid, &r);
    api_check_bool(s, "costFinal", false);
    const cJSON *idle = line_of(s, "idle");
    if (!idle)
        fail_msg("no idle line through the 3000 W gateway");
    api_check_str(idle, "from", t1);
    double q = cJSON_GetObjectItemCaseSensitive(idle, "quantity")->valuedouble;
    if (q < 49.9 || q > 55)
        fail_msg("idle so far: %g min, expected about 50", q);
    api_free(r);

    s = get_session_at(gw_port(W.gw2), sid, &r);
    api_check_bool(s, "costFinal", false);
    assert_null(line_of(s, "idle"));
    api_check_int(s, "cost", 0);
    api_free(r);
    free(sid);
    sim_disconnect(c);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, it_test_setup, it_test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_session_priced_in_site_zone),
        T(test_session_without_tariff_has_no_cost),
        T(test_late_upload_priced_with_version_at_start),
        T(test_two_gateways_price_each_session_once),
        T(test_idle_power_from_config),
        T(test_active_session_estimate),
        T(test_estimate_idle_power_from_config),
    };
    return cmocka_run_group_tests(tests, group_setup, api_group_teardown);
}
