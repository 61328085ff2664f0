/*
 * Integration: session receipts (issue 13; ../shared/spec/
 * sites-and-tariffs.md, "Receipts"; src/rest/res_receipts.c,
 * sql/019_receipts.sql, src/store/pricing_job.c). A session driven through
 * the simulator on a charger of a Berlin site with a day/night tariff,
 * across the spring-forward night, is priced and its receipt read as JSON
 * (every field against hand-computed values, the local times with +01:00
 * and +02:00) and as HTML (escaped, self-contained, the gross formatted);
 * a second GET and a re-pricing keep its number, a later change of the
 * site's zone its local times; 409 RECEIPT_NOT_AVAILABLE
 * for an active session, one whose cost is pending, one without tariff and
 * one its tariff could not price; 404 for an unknown one; 403 for keys
 * limited to other chargers or without the scope. Gaplessness: three
 * gateways on one database (two with their own receipts.prefix) price 200
 * sessions while a trigger makes three cost writes fail (their batches roll
 * back and are priced again): each prefix's numbers are exactly 1..N.
 * Every answer is checked against docs/openapi.json.
 *
 * Ids start with "irc-".
 */
#include "it.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "calls.h"
#include "cost.h"
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
    db_exec("DROP TRIGGER IF EXISTS irc_fail_some ON sessions");
    db_exec("UPDATE sites SET tariff_id = NULL WHERE tariff_id LIKE 'irc-%'");
    db_exec("UPDATE chargers SET tariff_id = NULL WHERE tariff_id LIKE 'irc-%'");
    db_exec("DELETE FROM sessions WHERE charger_id LIKE 'irc-%'");
    db_exec("DELETE FROM chargers WHERE id LIKE 'irc-%'");
    db_exec("DELETE FROM sites WHERE id LIKE 'irc-%'");
    db_exec("DELETE FROM tariffs WHERE id LIKE 'irc-%'");
    db_exec("DELETE FROM api_keys WHERE name LIKE 'irc-%'");
    db_exec("UPDATE tariffs SET is_default = false WHERE is_default");
    db_add_token("irc-tag", "Accepted", NULL, NULL);
    admin = api_group_start("it_receipts", "irc-admin");
    return 0;
}

static struct api_resp *get_receipt(const char *key, const char *sid, const char *accept)
{
    char *path = it_strf("/v1/sessions/%s/receipt", sid);
    char *h = accept ? it_strf("Accept: %s", accept) : NULL;
    const char *headers[] = { h, NULL };
    struct api_req q = { .method = "GET", .path = path, .key = key, .headers = h ? headers : NULL };
    struct api_resp *r = api_send(PORT, &q);
    free(path);
    free(h);
    return r;
}

static void expect_not_available(const char *key, const char *sid, const char *reason)
{
    struct api_resp *r = get_receipt(key, sid, NULL);
    const cJSON *e = api_expect_error(r, 409, "RECEIPT_NOT_AVAILABLE");
    api_check_str(cJSON_GetObjectItemCaseSensitive(e, "context"), "reason", reason);
    api_check_str(cJSON_GetObjectItemCaseSensitive(e, "context"), "sessionId", sid);
    api_free(r);
}

/* "<prefix>-NNNNNN": the number, or -1 when s is not of that form. */
static long receipt_seq(const char *s)
{
    const char *dash = s ? strrchr(s, '-') : NULL;
    if (!dash || strlen(dash + 1) < 6 || strspn(dash + 1, "0123456789") != strlen(dash + 1))
        return -1;
    return strtol(dash + 1, NULL, 10);
}

/*
 * The tariff (EUR, VAT 19 %) as in it_session_cost, in the site's local
 * time (Europe/Berlin):
 *   element 1, 22:00-06:00: energy 30 per kWh, time 1 per min, idle 5 per min, grace 10 min
 *   element 2, any time:    energy 39.5 per kWh, time 2 per min, idle 10 per min, sessionFee 50
 * The session, on the night Berlin moves its clocks forward (2026-03-29,
 * 02:00 CET -> 03:00 CEST at 01:00Z), meterStart 1000 Wh, no samples, no
 * status: start 00:30Z = 01:30+01:00, stop 01:30Z = 03:30+02:00, all of it
 * in the night window (which does not care how long the local night was).
 *   energy: 5 kWh x 30 = 150 (no samples: all at the start's price)
 *   time: 60 min x 1 = 60; no idle (charging ended at the stop); no fee
 *   net 210, VAT 39.9 -> 40, gross 250 (EUR: "2.50 EUR")
 */
static void test_receipt_json_and_html(void **state)
{
    (void)state;
    cost_make_tariff(PORT, admin, "{\"id\":\"irc-day-night\",\"currency\":\"EUR\",\"vatPercent\":19,"
                "\"validFrom\":\"2026-01-01T00:00:00Z\","
                "\"elements\":[{\"energy\":30,\"time\":1,\"idle\":5,\"idleGraceMinutes\":10,"
                "\"restrictions\":{\"startTime\":\"22:00\",\"endTime\":\"06:00\"}},"
                "{\"energy\":39.5,\"time\":2,\"idle\":10,\"idleGraceMinutes\":10,\"sessionFee\":50}]}");
    db_exec("INSERT INTO sites (id, name, time_zone, tariff_id, street, city, postal_code, country)"
            " VALUES ('irc-site', 'Berlin <b>& Co', 'Europe/Berlin', 'irc-day-night', 'Torstraße 1', 'Berlin',"
            " '10119', 'DE')");
    db_add_charger("irc-cp1", NULL, 0);
    db_exec("UPDATE chargers SET site_id = 'irc-site', name = 'Bay \"1\"' WHERE id = 'irc-cp1'");
    struct sim_charger *c = it_connect_booted(W.sim, "irc-cp1", NULL);

    int32_t tx = it_start_accepted(c, 1, "irc-tag", 1000, "2026-03-29T00:30:00Z");
    char *sid = it_session_id_of(tx);
    expect_not_available(admin, sid, "active");
    cost_stop(c, tx, 6000, "2026-03-29T01:30:00Z");
    free(sid);
    sid = cost_wait_priced(tx);

    struct api_resp *r = get_receipt(admin, sid, NULL);
    const cJSON *rc = api_expect(r, 200);
    api_check_schema(rc, "Receipt");
    const char *vary = api_header(r, "Vary");
    if (!vary || strcasecmp(vary, "Accept") != 0)
        fail_msg("Vary: expected Accept, got %s", vary ? vary : "(absent)");
    const char *number = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rc, "receiptNumber"));
    char *stored = db_str("SELECT receipt_number FROM sessions WHERE id = $1::bigint", sid);
    assert_non_null(number);
    assert_non_null(stored);
    assert_string_equal(number, stored);
    assert_true(receipt_seq(number) >= 1);
    api_check_int(rc, "session", strtoll(sid, NULL, 10));
    const cJSON *charger = cJSON_GetObjectItemCaseSensitive(rc, "charger");
    api_check_str(charger, "id", "irc-cp1");
    api_check_str(charger, "name", "Bay \"1\"");
    const cJSON *site = cJSON_GetObjectItemCaseSensitive(rc, "site");
    api_check_str(site, "name", "Berlin <b>& Co");
    const cJSON *addr = cJSON_GetObjectItemCaseSensitive(site, "address");
    api_check_str(addr, "street", "Torstraße 1");
    api_check_str(addr, "city", "Berlin");
    api_check_str(addr, "postalCode", "10119");
    api_check_str(addr, "country", "DE");
    const cJSON *lines = cJSON_GetObjectItemCaseSensitive(rc, "lines");
    assert_int_equal(cJSON_GetArraySize(lines), 2);
    cost_check_line(lines, 0, "energy", 5, "kWh", 30, 150, "2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z");
    cost_check_line(lines, 1, "time", 60, "min", 1, 60, "2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z");
    api_check_int(rc, "net", 210);
    api_check_int(rc, "vat", 40);
    cost_check_num(rc, "vatPercent", 19);
    api_check_int(rc, "gross", 250);
    api_check_str(rc, "currency", "EUR");
    api_check_str(rc, "startLocal", "2026-03-29T01:30:00+01:00");
    api_check_str(rc, "endLocal", "2026-03-29T03:30:00+02:00");

    /* stable: the same number again, and after the session is priced once more */
    struct api_resp *r2 = get_receipt(admin, sid, "application/json");
    api_check_str(api_expect(r2, 200), "receiptNumber", number);
    api_free(r2);
    int64_t counters = db_int("SELECT coalesce(sum(last), 0) FROM receipt_counters");
    db_exec("UPDATE sessions SET cost_state = 'pending' WHERE id = $1::bigint", sid);
    free(cost_wait_priced(tx));
    r2 = get_receipt(admin, sid, NULL);
    api_check_str(api_expect(r2, 200), "receiptNumber", number);
    api_check_int(api_expect(r2, 200), "gross", 250);
    api_free(r2);
    assert_int_equal(db_int("SELECT coalesce(sum(last), 0) FROM receipt_counters"), counters);

    /* the local times are the pricing's: a later change of the site's zone leaves them */
    db_exec("UPDATE sites SET time_zone = 'America/New_York' WHERE id = 'irc-site'");
    r2 = get_receipt(admin, sid, NULL);
    api_check_str(api_expect(r2, 200), "startLocal", "2026-03-29T01:30:00+01:00");
    api_check_str(api_expect(r2, 200), "endLocal", "2026-03-29T03:30:00+02:00");
    api_free(r2);
    db_exec("UPDATE sites SET time_zone = 'Europe/Berlin' WHERE id = 'irc-site'");

    /* HTML, as a browser asks */
    r2 = get_receipt(admin, sid, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8");
    if (r2->status != 200)
        fail_msg("%s: HTTP %d: %.300s", r2->what, r2->status, r2->body);
    const char *ct = api_header(r2, "Content-Type");
    if (!ct || strncasecmp(ct, "text/html", 9) != 0)
        fail_msg("HTML receipt: Content-Type %s", ct ? ct : "(absent)");
    const char *page = r2->body;
    if (!strstr(page, number))
        fail_msg("HTML receipt lacks its number %s", number);
    if (!strstr(page, "2.50 EUR"))
        fail_msg("HTML receipt lacks the gross \"2.50 EUR\": %.2000s", page);
    if (!strstr(page, "2.10 EUR") || !strstr(page, "0.40 EUR"))
        fail_msg("HTML receipt lacks net 2.10 EUR or VAT 0.40 EUR");
    if (!strstr(page, "Berlin &lt;b&gt;&amp; Co") || strstr(page, "<b>&") || strstr(page, "<b>"))
        fail_msg("HTML receipt: the site name is not escaped: %.2000s", page);
    if (!strstr(page, "Bay &quot;1&quot;"))
        fail_msg("HTML receipt: the charger name is not escaped");
    if (!strstr(page, "2026-03-29 01:30 (+01:00)") || !strstr(page, "2026-03-29 03:30 (+02:00)"))
        fail_msg("HTML receipt: local times missing: %.2000s", page);
    if (strcasestr(page, "<script") || strstr(page, "http://") || strstr(page, "https://") ||
        strcasestr(page, "<link") || strcasestr(page, "<img") || strcasestr(page, "@import") ||
        strcasestr(page, "url("))
        fail_msg("HTML receipt is not self-contained: %.2000s", page);
    if (!strstr(page, "@media print"))
        fail_msg("HTML receipt has no print style");
    api_free(r2);

    /* an Accept that names neither: JSON; application/json preferred: JSON */
    r2 = get_receipt(admin, sid, "image/png");
    api_check_str(api_expect(r2, 200), "receiptNumber", number);
    api_free(r2);
    r2 = get_receipt(admin, sid, "text/html;q=0.5, application/json");
    api_check_str(api_expect(r2, 200), "receiptNumber", number);
    api_free(r2);

    /* keys: limited to another charger 403; to this one 200; without sessions:read 403; unknown 404 */
    char *other = api_key_create_limited("irc-other", "sessions:read", "irc-elsewhere");
    char *mine = api_key_create_limited("irc-mine", "sessions:read", "irc-cp1");
    char *noscope = api_key_create("irc-noscope", "chargers:read");
    api_key_wait_known(PORT, other);
    api_key_wait_known(PORT, mine);
    api_key_wait_known(PORT, noscope);
    r2 = get_receipt(other, sid, NULL);
    api_expect_error(r2, 403, "ACCESS_FORBIDDEN");
    api_free(r2);
    r2 = get_receipt(other, sid, "text/html");
    api_expect_error(r2, 403, "ACCESS_FORBIDDEN");
    api_free(r2);
    r2 = get_receipt(mine, sid, NULL);
    api_check_str(api_expect(r2, 200), "receiptNumber", number);
    api_free(r2);
    r2 = get_receipt(noscope, sid, NULL);
    api_expect_error(r2, 403, "ACCESS_FORBIDDEN");
    api_free(r2);
    r2 = get_receipt(admin, "999999999999", NULL);
    api_expect_error(r2, 404, "RESOURCE_NOT_FOUND");
    api_free(r2);
    r2 = get_receipt(admin, "nope", NULL);
    api_expect_error(r2, 404, "RESOURCE_NOT_FOUND");
    api_free(r2);

    free(other);
    free(mine);
    free(noscope);
    free(stored);
    api_free(r);
    free(sid);
    sim_disconnect(c);
}

static void test_no_receipt_without_cost(void **state)
{
    (void)state;
    /* no tariff: completed, cost null */
    db_add_charger("irc-cp2", NULL, 0);
    struct sim_charger *c = it_connect_booted(W.sim, "irc-cp2", NULL);
    char t0[32], t1[32];
    it_iso_time(t0, -600);
    it_iso_time(t1, -60);
    int32_t tx = it_start_accepted(c, 1, "irc-tag", 0, t0);
    cost_stop(c, tx, 5000, t1);
    char *sid = it_session_id_of(tx);
    db_wait_int(COST_PRICED_WAIT_MS, 1, "SELECT count(*) FROM sessions WHERE id = $1::bigint AND status = 'completed'",
                sid);
    expect_not_available(admin, sid, "noTariff");
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE id = $1::bigint AND receipt_number IS NULL", sid),
                     1);
    free(sid);
    sim_disconnect(c);

    /* a tariff pricing could not use: final without a cost, and no number */
    cost_make_tariff(PORT, admin, "{\"id\":\"irc-flat\",\"currency\":\"EUR\",\"vatPercent\":19,"
                "\"validFrom\":\"2026-01-01T00:00:00Z\",\"elements\":[{\"energy\":30}]}");
    db_add_charger("irc-cp3", NULL, 0);
    sid = db_str("INSERT INTO sessions (transaction_id, charger_id, connector_id, id_tag, auth_status, start_time,"
                 " end_time, meter_start, meter_stop, energy_wh, status, tariff_id, tariff_version, cost_state)"
                 " VALUES (1900000001, 'irc-cp3', 1, 'irc-tag', 'Accepted', '2026-11-20T10:00:00Z',"
                 " '2026-11-20T11:00:00Z', 0, 1000, 1000, 'completed', 'irc-flat', 1, 'final') RETURNING id");
    expect_not_available(admin, sid, "noCost");
    free(sid);

    /* pending: the test holds the row (the pricing job skips locked rows) */
    sid = db_str("INSERT INTO sessions (transaction_id, charger_id, connector_id, id_tag, auth_status, start_time,"
                 " meter_start) VALUES (1900000002, 'irc-cp3', 2, 'irc-tag', 'Accepted', '2026-11-20T10:00:00Z', 0)"
                 " RETURNING id");
    db_exec("UPDATE sessions SET tariff_id = 'irc-flat', tariff_version = 1 WHERE id = $1::bigint", sid);
    PGconn *hold = PQconnectdb(it_env("OCPPGW_TEST_DB"));
    assert_int_equal(PQstatus(hold), CONNECTION_OK);
    const char *p[1] = { sid };
    PQclear(PQexec(hold, "BEGIN"));
    PGresult *res = PQexecParams(hold,
                                 "UPDATE sessions SET status = 'completed', end_time = '2026-11-20T11:00:00Z',"
                                 " meter_stop = 1000, energy_wh = 1000 WHERE id = $1::bigint",
                                 1, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    PQclear(PQexec(hold, "COMMIT"));
    /* now pending; lock it before the job claims it, else it is priced at once (then see below) */
    PQclear(PQexec(hold, "BEGIN"));
    res = PQexecParams(hold, "SELECT cost_state FROM sessions WHERE id = $1::bigint FOR UPDATE", 1, NULL, p, NULL,
                       NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    bool still_pending = strcmp(PQgetvalue(res, 0, 0), "pending") == 0;
    PQclear(res);
    if (still_pending)
        expect_not_available(admin, sid, "costPending");
    else
        print_message("it_receipts: the pricing job was faster than the lock; costPending not seen this run\n");
    PQclear(PQexec(hold, "COMMIT"));
    PQfinish(hold);
    db_wait_int(COST_PRICED_WAIT_MS, 1,
                "SELECT count(*) FROM sessions WHERE id = $1::bigint AND cost_state = 'final' AND cost = 36", sid);
    struct api_resp *r = get_receipt(admin, sid, NULL);
    api_check_int(api_expect(r, 200), "gross", 36);
    api_check_null(api_expect(r, 200), "site");
    api_check_str(api_expect(r, 200), "startLocal", "2026-11-20T10:00:00+00:00");
    api_free(r);
    free(sid);
}

/*
 * Gapless per prefix: 200 sessions completed at once (in SQL), priced by
 * three gateways on one database, W.gw with its default prefix (its node
 * id) and two with receipts.prefix irc-A and irc-B, while a trigger makes
 * the 5th, 60th and 130th cost write of these sessions fail: each failure
 * rolls its batch back (numbers taken included) and the batch is priced
 * again a second later. Then, for every prefix, the numbers of the sessions
 * are exactly 1..N with N its counter (the other tests' sessions count too).
 */
static void test_numbers_gapless_per_prefix(void **state)
{
    (void)state;
    cost_make_tariff(PORT, admin, "{\"id\":\"irc-many\",\"currency\":\"EUR\",\"vatPercent\":19,"
                "\"validFrom\":\"2026-01-01T00:00:00Z\",\"elements\":[{\"energy\":30}]}");
    db_add_charger("irc-cp4", NULL, 0);
    db_exec("UPDATE chargers SET tariff_id = 'irc-many' WHERE id = 'irc-cp4'");
    db_exec("CREATE SEQUENCE IF NOT EXISTS irc_writes");
    db_exec("CREATE OR REPLACE FUNCTION irc_fail_some() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN IF nextval('irc_writes') IN (5, 60, 130) THEN"
            " RAISE EXCEPTION 'irc: a cost write that fails'; END IF; RETURN NEW; END $$");
    db_exec("CREATE TRIGGER irc_fail_some BEFORE UPDATE ON sessions FOR EACH ROW"
            " WHEN (OLD.cost_state = 'pending' AND NEW.cost_state = 'final' AND NEW.charger_id = 'irc-cp4')"
            " EXECUTE FUNCTION irc_fail_some()");
    struct gw_opts a = { .name = "it_receipts-A", .ini = "[receipts]\nprefix = irc-A\n" };
    struct gw_opts b = { .name = "it_receipts-B", .ini = "[receipts]\nprefix = irc-B\n" };
    W.gw2 = gw_start(&a);
    struct gw *gw3 = gw_start(&b);
    db_exec("INSERT INTO sessions (transaction_id, charger_id, connector_id, id_tag, auth_status, start_time,"
            "                      meter_start)"
            " SELECT 1800000000 + g, 'irc-cp4', g, 'irc-tag', 'Accepted', '2026-11-20T10:00:00Z', 0"
            "   FROM generate_series(1, 200) g");
    assert_int_equal(db_exec("UPDATE sessions SET status = 'completed', end_time = '2026-11-20T11:00:00Z',"
                             " meter_stop = 1000, energy_wh = 1000 WHERE charger_id = 'irc-cp4'"),
                     200);
    db_wait_int(COST_PRICED_WAIT_MS * 3, 200,
                "SELECT count(*) FROM sessions WHERE charger_id = 'irc-cp4' AND cost_state = 'final'"
                " AND cost = 36 AND receipt_number IS NOT NULL");
    /* the three failures did happen (drawing 130 raised), each rolling back its batch: 200 commits + 3 */
    assert_true(db_int("SELECT last_value FROM irc_writes") >= 203);
    db_exec("DROP TRIGGER irc_fail_some ON sessions");

    /* every number has its prefix's form; per prefix: 1..N, no gap, no duplicate, N = the counter */
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE receipt_number IS NOT NULL"
                            " AND receipt_number !~ '^[A-Za-z0-9._:-]+-[0-9]{6,}$'"),
                     0);
    const char *per_prefix = "WITH n AS (SELECT substring(receipt_number FROM '^(.*)-[0-9]+$') AS prefix,"
                             "   substring(receipt_number FROM '-([0-9]+)$')::bigint AS seq"
                             "   FROM sessions WHERE receipt_number IS NOT NULL),"
                             " g AS (SELECT prefix, count(*) AS n, count(DISTINCT seq) AS d, min(seq) AS lo,"
                             "   max(seq) AS hi FROM n GROUP BY prefix)";
    char *check = it_strf("%s SELECT string_agg(format('%%s: %%s numbers, %%s distinct, %%s..%%s, counter %%s',"
                               " coalesce(g.prefix, c.prefix), g.n, g.d, g.lo, g.hi, c.last), '; ')"
                               " FROM g FULL JOIN receipt_counters c ON c.prefix = g.prefix"
                               " WHERE g.prefix IS NULL OR c.prefix IS NULL OR g.n <> c.last OR g.d <> c.last"
                               " OR g.lo <> 1 OR g.hi <> c.last", per_prefix);
    char *bad = db_str(check);
    free(check);
    if (bad)
        fail_msg("receipt numbers are not 1..N per prefix: %s", bad);
    char *spread = db_str("SELECT string_agg(p || '=' || n, ', ' ORDER BY p) FROM (SELECT"
                          " substring(receipt_number FROM '^(.*)-[0-9]+$') AS p, count(*) AS n FROM sessions"
                          " WHERE charger_id = 'irc-cp4' GROUP BY 1) x");
    print_message("it_receipts: 200 sessions numbered by prefix: %s\n", spread ? spread : "?");
    free(spread);
    assert_int_equal(gw_free(gw3), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, it_test_setup, it_test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_receipt_json_and_html),
        T(test_no_receipt_without_cost),
        T(test_numbers_gapless_per_prefix),
    };
    return cmocka_run_group_tests(tests, group_setup, api_group_teardown);
}
