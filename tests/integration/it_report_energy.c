/*
 * Integration: the energy report's data (issue 15; ../shared/spec/reports.md;
 * sql/023_report_energy.sql, src/store/energy_job.c). Sessions driven as a
 * charger drives them (StartTransaction, MeterValues, StatusNotification,
 * StopTransaction) are rolled up by the energy job; ocppgw_report_energy
 * (the function GET /v1/reports/energy answers from) is then compared,
 * figure by figure, with the arithmetic in the comments: local days in
 * Europe/Berlin, a session across the night of the DST change, periods day,
 * week and month, a session spanning two days and two months, revenue in
 * two currencies, carbon with a site's constant and with an hourly series
 * over part of a session (through PUT /v1/sites/{id}/carbon-intensity),
 * late MeterValues and a late StopTransaction ending in the figures of an
 * on-time twin, a charger moving to a site in another zone, groupings by
 * site, charger and site+month.
 *
 * Rows are compared as text, one line per row sorted by site, charger and
 * period (NULLs last): "site|charger|period|sessions|energyWh|
 * chargingSeconds|idleSeconds|revenue|co2Grams" ('-' for NULL keys, "null"
 * for a NULL co2). The job runs about once a second: every check polls
 * until the answer is the expected one (or 20 s pass) and then compares.
 *
 * Ids start with "ire-".
 */
#include "it.h"

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
#define ROLLUP_WAIT_MS 20000
/* every report names this file's chargers: other files' data may share the database */
#define ALL "{ire-cp1,ire-cp2,ire-cp3,ire-cp4}"

static char *admin;

static int group_setup(void **state)
{
    (void)state;
    gw_migrate_once();
    db_exec("UPDATE chargers SET tariff_id = NULL WHERE tariff_id LIKE 'ire-%'");
    db_exec("DELETE FROM energy_sessions WHERE charger_id LIKE 'ire-%'");
    db_exec("DELETE FROM energy_days WHERE charger_id LIKE 'ire-%'");
    db_exec("DELETE FROM energy_chargers WHERE charger_id LIKE 'ire-%'");
    db_exec("DELETE FROM sessions WHERE charger_id LIKE 'ire-%'");
    db_exec("DELETE FROM chargers WHERE id LIKE 'ire-%'");
    db_exec("DELETE FROM sites WHERE id LIKE 'ire-%'");
    db_exec("DELETE FROM tariffs WHERE id LIKE 'ire-%'");
    db_add_token("ire-tag", "Accepted", NULL, NULL);
    admin = api_group_start("it_report_energy", "ire-admin");
    return 0;
}

static void energy_sample(struct sim_charger *c, int32_t tx, const char *ts, int wh)
{
    cost_call(c, "MeterValues",
              it_strf("{\"connectorId\":1,\"transactionId\":%d,\"meterValue\":[{\"timestamp\":\"%s\","
                      "\"sampledValue\":[{\"value\":\"%d\",\"measurand\":\"Energy.Active.Import.Register\","
                      "\"unit\":\"Wh\"}]}]}", tx, ts, wh));
}

static void status(struct sim_charger *c, const char *st, const char *ts)
{
    cost_call(c, "StatusNotification",
              it_strf("{\"connectorId\":1,\"errorCode\":\"NoError\",\"status\":\"%s\",\"timestamp\":\"%s\"}", st,
                      ts));
}

/* The report as text (see the top); caller frees. */
static char *report_text(const char *from, const char *to, const char *chargers, const char *by_site,
                         const char *by_charger, const char *period)
{
    char *s = db_str("SELECT coalesce(string_agg(concat_ws('|', coalesce(site_id, '-'), coalesce(charger_id, '-'),"
                     " coalesce(period, '-'), sessions, energy_wh, charging_s, idle_s, revenue::text,"
                     " coalesce(co2_g::text, 'null')), ';'"
                     " ORDER BY site_id NULLS LAST, charger_id NULLS LAST, period NULLS LAST), '')"
                     " FROM ocppgw_report_energy($1::timestamptz, $2::timestamptz, $3::text[], $4::boolean,"
                     " $5::boolean, nullif($6, ''))",
                     from, to, chargers, by_site, by_charger, period);
    return s ? s : strdup("");
}

/* Polls until the report is want (the rollups are written by a job), then compares. */
static void check_report(const char *from, const char *to, const char *chargers, const char *by_site,
                         const char *by_charger, const char *period, const char *want)
{
    char *got = NULL;
    for (int64_t end = it_now_ms() + ROLLUP_WAIT_MS;;) {
        free(got);
        got = report_text(from, to, chargers, by_site, by_charger, period);
        if (strcmp(got, want) == 0 || it_now_ms() > end)
            break;
        it_pause(W.sim, 200);
    }
    if (strcmp(got, want) != 0)
        fail_msg("report %s .. %s %s site=%s charger=%s period=%s\n got: %s\nwant: %s", from, to, chargers, by_site,
                 by_charger, period, got, want);
    free(got);
}

static void put_carbon(const char *site, const char *body, int want_status)
{
    char *path = it_strf("/v1/sites/%s/carbon-intensity", site);
    struct api_req q = { .method = "PUT", .path = path, .key = admin, .body = body };
    struct api_resp *r = api_send(PORT, &q);
    api_expect(r, want_status);
    api_free(r);
    free(path);
}

/*
 * Sites: ire-ber (Europe/Berlin, co2GramsPerKwh 400), ire-utc (UTC, none).
 * Chargers: ire-cp1 and ire-cp2 on ire-ber with tariffs in EUR and CHF,
 * ire-cp3 and ire-cp4 on ire-utc without a tariff.
 */
static void make_fleet(void)
{
    cost_make_tariff(PORT, admin, "{\"id\":\"ire-eur\",\"currency\":\"EUR\",\"vatPercent\":19,"
                                  "\"validFrom\":\"2026-01-01T00:00:00Z\",\"elements\":[{\"energy\":30}]}");
    cost_make_tariff(PORT, admin, "{\"id\":\"ire-chf\",\"currency\":\"CHF\",\"vatPercent\":10,"
                                  "\"validFrom\":\"2026-01-01T00:00:00Z\",\"elements\":[{\"energy\":20}]}");
    struct api_resp *r = api_post(PORT, admin, "/v1/sites",
                                  "{\"id\":\"ire-ber\",\"timeZone\":\"Europe/Berlin\",\"co2GramsPerKwh\":400}");
    const cJSON *s = api_expect(r, 201);
    api_check_int(s, "co2GramsPerKwh", 400);
    api_free(r);
    r = api_post(PORT, admin, "/v1/sites", "{\"id\":\"ire-utc\"}");
    api_check_null(api_expect(r, 201), "co2GramsPerKwh");
    api_free(r);
    const char *chargers[][3] = { { "ire-cp1", "ire-ber", "ire-eur" }, { "ire-cp2", "ire-ber", "ire-chf" },
                                  { "ire-cp3", "ire-utc", NULL }, { "ire-cp4", "ire-utc", NULL } };
    for (int i = 0; i < 4; i++) {
        db_add_charger(chargers[i][0], NULL, 0);
        db_exec("UPDATE chargers SET site_id = $2, tariff_id = nullif($3, '') WHERE id = $1", chargers[i][0],
                chargers[i][1], chargers[i][2] ? chargers[i][2] : "");
    }
}

/*
 * ire-cp1 (Berlin, EUR 30/kWh, VAT 19 %), across two days and two months:
 * 2026-01-31 22:00Z (23:00 local, CET +1) to 2026-02-01 00:00Z (01:00
 * local), meter 0; register 400 at 22:30Z, 1000 at 23:00Z, 1600 at 23:30Z;
 * SuspendedEV at 23:45Z (after the first sample above meterStart: charging
 * ended); stop 2000.
 *   Jan 31 local (22:00Z-23:00Z): 1000 Wh, charging 3600 s.
 *   Feb 1 local (23:00Z-00:00Z): 1000 Wh, charging 23:00Z-23:45Z 2700 s,
 *   idle 23:45Z-00:00Z 900 s.
 *   Cost 2 kWh x 30 = 60 net, VAT 11.4 -> 11, gross 71 EUR: on Jan 31
 *   (where it started), as its one session.
 *   CO2 at 400 g/kWh: 1000 Wh x 400 = 400 g each day.
 *
 * ire-cp2 (Berlin, CHF 20/kWh, VAT 10 %), across the DST change (2026-03-29
 * 01:00Z: 02:00 CET -> 03:00 CEST): 2026-03-28 22:30Z (23:30 local) to
 * 2026-03-29 01:30Z (03:30 CEST), meter 0; register 600 at 23:00Z (00:00
 * local), 1800 at 00:00Z, 3000 at 01:00Z; stop 3500; no status.
 *   Mar 28 local: 600 Wh, charging 1800 s; CO2 600 x 400 = 240 g.
 *   Mar 29 local (a 23-hour day): 2900 Wh, charging 23:00Z-01:30Z 9000 s;
 *   CO2 2900 x 400 = 1160 g.
 *   Cost 3.5 kWh x 20 = 70 net, VAT 7, gross 77 CHF, on Mar 28.
 * Both days lie in ISO week 2026-W13 (Monday Mar 23 to Sunday Mar 29).
 */
static void test_berlin_days_weeks_months_revenue_and_co2(void **state)
{
    (void)state;
    make_fleet();
    struct sim_charger *c1 = it_connect_booted(W.sim, "ire-cp1", NULL);
    int32_t tx = it_start_accepted(c1, 1, "ire-tag", 0, "2026-01-31T22:00:00Z");
    energy_sample(c1, tx, "2026-01-31T22:30:00Z", 400);
    energy_sample(c1, tx, "2026-01-31T23:00:00Z", 1000);
    energy_sample(c1, tx, "2026-01-31T23:30:00Z", 1600);
    status(c1, "SuspendedEV", "2026-01-31T23:45:00Z");
    cost_stop(c1, tx, 2000, "2026-02-01T00:00:00Z");
    free(cost_wait_priced(tx));

    struct sim_charger *c2 = it_connect_booted(W.sim, "ire-cp2", NULL);
    tx = it_start_accepted(c2, 1, "ire-tag", 0, "2026-03-28T22:30:00Z");
    energy_sample(c2, tx, "2026-03-28T23:00:00Z", 600);
    energy_sample(c2, tx, "2026-03-29T00:00:00Z", 1800);
    energy_sample(c2, tx, "2026-03-29T01:00:00Z", 3000);
    cost_stop(c2, tx, 3500, "2026-03-29T01:30:00Z");
    free(cost_wait_priced(tx));

    /* by day, Jan 30 - Feb 2 local, per charger: dense, zeros where nothing happened */
    check_report("2026-01-30T00:00:00+01:00", "2026-02-02T00:00:00+01:00", "{ire-cp1}", "false", "true", "day",
                 "ire-ber|ire-cp1|2026-01-30|0|0|0|0|[]|0;"
                 "ire-ber|ire-cp1|2026-01-31|1|1000|3600|0|[{\"net\": 60, \"vat\": 11, \"gross\": 71, "
                 "\"currency\": \"EUR\"}]|400;"
                 "ire-ber|ire-cp1|2026-02-01|0|1000|2700|900|[]|400");
    /* by month: January and February each get their local day's half */
    check_report("2026-01-01T00:00:00+01:00", "2026-03-01T00:00:00+01:00", "{ire-cp1}", "false", "false", "month",
                 "-|-|2026-01|1|1000|3600|0|[{\"net\": 60, \"vat\": 11, \"gross\": 71, \"currency\": \"EUR\"}]|400;"
                 "-|-|2026-02|0|1000|2700|900|[]|400");
    /* a window that is not whole local days: 22:30Z-23:30Z is 23:30-00:30 local, by day:
       Jan 31 slots 22:30-23:00Z 600 Wh, 1800 s; Feb 1 slots 23:00-23:30Z 600 Wh, 1800 s;
       the session started before the window: no session, no revenue */
    check_report("2026-01-31T22:30:00Z", "2026-01-31T23:30:00Z", "{ire-cp1}", "false", "false", "day",
                 "-|-|2026-01-31|0|600|1800|0|[]|240;-|-|2026-02-01|0|600|1800|0|[]|240");

    /* the DST night: Mar 28 and the 23-hour Mar 29, local */
    check_report("2026-03-28T00:00:00+01:00", "2026-03-30T00:00:00+02:00", "{ire-cp2}", "false", "true", "day",
                 "ire-ber|ire-cp2|2026-03-28|1|600|1800|0|[{\"net\": 70, \"vat\": 7, \"gross\": 77, "
                 "\"currency\": \"CHF\"}]|240;"
                 "ire-ber|ire-cp2|2026-03-29|0|2900|9000|0|[]|1160");
    /* by week, Mar 23 - Apr 5 local: all of it in 2026-W13 (240 + 1160 = 1400 g), W14 zeros */
    check_report("2026-03-23T00:00:00+01:00", "2026-04-06T00:00:00+02:00", "{ire-cp2}", "false", "false", "week",
                 "-|-|2026-W13|1|3500|10800|0|[{\"net\": 70, \"vat\": 7, \"gross\": 77, \"currency\": \"CHF\"}]|1400;"
                 "-|-|2026-W14|0|0|0|0|[]|0");
    /* a UTC day across the change: 2026-03-29 00:00Z-24:00Z is Mar 29 01:00 local to Mar 30
       02:00 local: 00:00Z-01:30Z = 1200 + 500 = 1700 Wh, 5400 s on Mar 29; Mar 30 dense, zero */
    check_report("2026-03-29T00:00:00Z", "2026-03-30T00:00:00Z", "{ire-cp2}", "false", "false", "day",
                 "-|-|2026-03-29|0|1700|5400|0|[]|680;-|-|2026-03-30|0|0|0|0|[]|0");

    /* by site and month over the quarter (both chargers on ire-ber) */
    check_report("2026-01-01T00:00:00+01:00", "2026-04-01T00:00:00+02:00", "{ire-cp1,ire-cp2}", "true", "false", "month",
                 "ire-ber|-|2026-01|1|1000|3600|0|[{\"net\": 60, \"vat\": 11, \"gross\": 71, \"currency\": \"EUR\"}]|400;"
                 "ire-ber|-|2026-02|0|1000|2700|900|[]|400;"
                 "ire-ber|-|2026-03|1|3500|10800|0|[{\"net\": 70, \"vat\": 7, \"gross\": 77, \"currency\": \"CHF\"}]|1400");
    /* no grouping over the quarter: one row, two currencies sorted by currency */
    check_report("2026-01-01T00:00:00+01:00", "2026-04-01T00:00:00+02:00", "{ire-cp1,ire-cp2}", "false", "false", "",
                 "-|-|-|2|5500|17100|900|[{\"net\": 70, \"vat\": 7, \"gross\": 77, \"currency\": \"CHF\"}, "
                 "{\"net\": 60, \"vat\": 11, \"gross\": 71, \"currency\": \"EUR\"}]|2200");

    /*
     * An hourly series over part of ire-cp1's session: 100 g/kWh for 23:00Z-00:00Z (Feb 1
     * local) only: Feb 1 becomes 1000 Wh x 100 = 100 g, Jan 31 keeps the constant, 400 g.
     */
    put_carbon("ire-ber", "[{\"from\":\"2026-01-31T23:00:00Z\",\"to\":\"2026-02-01T00:00:00Z\",\"gramsPerKwh\":100}]",
               200);
    check_report("2026-01-30T00:00:00+01:00", "2026-02-02T00:00:00+01:00", "{ire-cp1}", "false", "false", "day",
                 "-|-|2026-01-30|0|0|0|0|[]|0;"
                 "-|-|2026-01-31|1|1000|3600|0|[{\"net\": 60, \"vat\": 11, \"gross\": 71, \"currency\": \"EUR\"}]|400;"
                 "-|-|2026-02-01|0|1000|2700|900|[]|100");
    /*
     * 300 g/kWh for 23:30Z-00:00Z: the PUT replaces every entry it meets (23:00Z-00:00Z is
     * gone), so 23:00Z-23:30Z falls back to the constant. Feb 1 slots: 23:00-23:15Z 300 Wh,
     * 23:15-23:30Z 300 Wh (register 1000 -> 1600) at 400; 23:30-23:45Z 200 Wh, 23:45-00:00Z
     * 200 Wh (1600 -> 2000) at 300: 600 x 400 + 400 x 300 = 240 + 120 = 360 g.
     */
    put_carbon("ire-ber", "[{\"from\":\"2026-01-31T23:30:00Z\",\"to\":\"2026-02-01T00:00:00Z\",\"gramsPerKwh\":300}]",
               200);
    check_report("2026-02-01T00:00:00+01:00", "2026-02-02T00:00:00+01:00", "{ire-cp1}", "false", "false", "",
                 "-|-|-|0|1000|2700|900|[]|360");
    /* the constant changed: 600 x 50 + 400 x 300 = 30 + 120 = 150 g */
    struct api_resp *r = api_patch(PORT, admin, "/v1/sites/ire-ber", "{\"co2GramsPerKwh\":50}");
    api_expect(r, 200);
    api_free(r);
    check_report("2026-02-01T00:00:00+01:00", "2026-02-02T00:00:00+01:00", "{ire-cp1}", "false", "false", "",
                 "-|-|-|0|1000|2700|900|[]|150");
    sim_disconnect(c1);
    sim_disconnect(c2);
}

/*
 * Late data and moves, on ire-utc (UTC, no carbon: co2 null) unless said.
 * ire-cp4, the twin sent on time except its StopTransaction (sent last):
 *   2026-02-10 10:00Z-11:00Z, meter 0, register 2400 at 10:30Z, stop 3000.
 * ire-cp3, the same session whose sample comes late: stopped first (no
 *   sample: all 3000 Wh in the start's slot, as the pricing would put it at
 *   the start's price), then another session (2026-02-11 23:30Z-02-12
 *   00:30Z, meter 5000 -> 6000, no sample: 1000 Wh in the 23:30Z slot,
 *   charging 1800 s each UTC day), then the sample of the first, 2400 at
 *   10:30Z, timestamped in the past.
 *   10:00Z-10:30Z: 3000 Wh before the late sample, 2400 after; 1800 s.
 */
static void test_late_uploads_and_moves(void **state)
{
    (void)state;
    /* ire-ber back to 400 g/kWh (the test above left 50), its rebuild done before anything else */
    struct api_resp *r0 = api_patch(PORT, admin, "/v1/sites/ire-ber", "{\"co2GramsPerKwh\":400}");
    api_expect(r0, 200);
    api_free(r0);
    db_wait_int(ROLLUP_WAIT_MS, 0, "SELECT count(*) FROM energy_queue WHERE site_id = 'ire-ber'");
    struct sim_charger *c3 = it_connect_booted(W.sim, "ire-cp3", NULL);
    struct sim_charger *c4 = it_connect_booted(W.sim, "ire-cp4", NULL);
    int32_t tx4 = it_start_accepted(c4, 1, "ire-tag", 0, "2026-02-10T10:00:00Z");
    energy_sample(c4, tx4, "2026-02-10T10:30:00Z", 2400);

    int32_t tx3 = it_start_accepted(c3, 1, "ire-tag", 0, "2026-02-10T10:00:00Z");
    cost_stop(c3, tx3, 3000, "2026-02-10T11:00:00Z");
    check_report("2026-02-10T10:00:00Z", "2026-02-10T10:30:00Z", "{ire-cp3}", "false", "false", "",
                 "-|-|-|1|3000|1800|0|[]|null");
    int32_t tx3b = it_start_accepted(c3, 1, "ire-tag", 5000, "2026-02-11T23:30:00Z");
    cost_stop(c3, tx3b, 6000, "2026-02-12T00:30:00Z");
    energy_sample(c3, tx3, "2026-02-10T10:30:00Z", 2400); /* late */
    cost_stop(c4, tx4, 3000, "2026-02-10T11:00:00Z");    /* late */

    /* the late sample split the first session again: both twins alike */
    check_report("2026-02-10T10:00:00Z", "2026-02-10T10:30:00Z", "{ire-cp3,ire-cp4}", "false", "true", "",
                 "ire-utc|ire-cp3|-|1|2400|1800|0|[]|null;ire-utc|ire-cp4|-|1|2400|1800|0|[]|null");
    check_report("2026-02-10T00:00:00Z", "2026-02-13T00:00:00Z", "{ire-cp3,ire-cp4}", "false", "true", "day",
                 "ire-utc|ire-cp3|2026-02-10|1|3000|3600|0|[]|null;"
                 "ire-utc|ire-cp3|2026-02-11|1|1000|1800|0|[]|null;"
                 "ire-utc|ire-cp3|2026-02-12|0|0|1800|0|[]|null;"
                 "ire-utc|ire-cp4|2026-02-10|1|3000|3600|0|[]|null;"
                 "ire-utc|ire-cp4|2026-02-11|0|0|0|0|[]|null;"
                 "ire-utc|ire-cp4|2026-02-12|0|0|0|0|[]|null");
    /* by site: 3 sessions, 3000 + 1000 + 3000 Wh, 3600 + 3600 + 3600 s */
    check_report("2026-02-10T00:00:00Z", "2026-02-13T00:00:00Z", "{ire-cp3,ire-cp4}", "true", "false", "",
                 "ire-utc|-|-|3|7000|10800|0|[]|null");

    /*
     * ire-cp3 moves to ire-ber (Europe/Berlin, 400 g/kWh; its series covers only Jan 31):
     * its days are rebuilt in Berlin time. The second session's 23:30Z is 00:30 on Feb 12
     * local: 1000 Wh, 3600 s and the session there; CO2 3000 x 400 = 1200 g on Feb 10,
     * 1000 x 400 = 400 g on Feb 12.
     */
    struct api_resp *r = api_patch(PORT, admin, "/v1/chargers/ire-cp3", "{\"siteId\":\"ire-ber\"}");
    api_expect(r, 200);
    api_free(r);
    check_report("2026-02-10T00:00:00+01:00", "2026-02-13T00:00:00+01:00", "{ire-cp3}", "false", "true", "day",
                 "ire-ber|ire-cp3|2026-02-10|1|3000|3600|0|[]|1200;"
                 "ire-ber|ire-cp3|2026-02-11|0|0|0|0|[]|0;"
                 "ire-ber|ire-cp3|2026-02-12|1|1000|3600|0|[]|400");
    /* by site, the chargers where they stand now; a window with partial local days at both ends */
    check_report("2026-02-09T00:00:00Z", "2026-02-14T00:00:00Z", "{ire-cp3,ire-cp4}", "true", "false", "",
                 "ire-ber|-|-|2|4000|7200|0|[]|1600;ire-utc|-|-|1|3000|3600|0|[]|null");

    /* a deleted charger keeps its figures (no site, UTC) */
    sim_disconnect(c4);
    r = api_delete(PORT, admin, "/v1/chargers/ire-cp4");
    api_expect(r, 204);
    api_free(r);
    check_report("2026-02-10T00:00:00Z", "2026-02-13T00:00:00Z", "{ire-cp4}", "true", "false", "",
                 "-|-|-|1|3000|3600|0|[]|null");
    sim_disconnect(c3);
}

/* The carbon series' validation: 422 naming each bad field; 404 for an unknown site; GET reads it back. */
static void test_carbon_intensity_endpoints(void **state)
{
    (void)state;
    put_carbon("ire-ber", "{\"from\":1}", 422);
    put_carbon("ire-ber", "[{\"from\":\"2026-01-01T01:00:00Z\",\"to\":\"2026-01-01T00:00:00Z\",\"gramsPerKwh\":-1}]",
               422);
    put_carbon("ire-ber", "[{\"from\":\"2026-01-01T00:00:00Z\",\"to\":\"2026-01-01T02:00:00Z\",\"gramsPerKwh\":1},"
                          "{\"from\":\"2026-01-01T01:00:00Z\",\"to\":\"2026-01-01T03:00:00Z\",\"gramsPerKwh\":1}]",
               422);
    put_carbon("ire-nowhere", "[]", 404);
    struct api_req q = { .method = "PUT", .path = "/v1/sites/ire-ber/carbon-intensity", .key = admin,
                         .body = "[{\"from\":\"2026-01-01T00:00:00Z\",\"to\":\"2026-01-01T01:00:00Z\","
                                 "\"gramsPerKwh\":-5,\"extra\":true}]" };
    struct api_resp *r = api_send(PORT, &q);
    const cJSON *e = api_expect_error(r, 422, "UNPROCESSABLE_ENTITY");
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(e, "context");
    assert_non_null(cJSON_GetObjectItemCaseSensitive(ctx, "[0].gramsPerKwh"));
    assert_non_null(cJSON_GetObjectItemCaseSensitive(ctx, "[0].extra"));
    api_free(r);

    put_carbon("ire-utc", "[{\"from\":\"2026-05-01T00:00:00Z\",\"to\":\"2026-05-01T01:00:00Z\",\"gramsPerKwh\":120.5},"
                          "{\"from\":\"2026-05-01T01:00:00+00:00\",\"to\":\"2026-05-01T02:00:00Z\",\"gramsPerKwh\":0}]",
               200);
    r = api_get(PORT, admin, "/v1/sites/ire-utc/carbon-intensity?from=2026-05-01T00:30:00Z");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(api_expect(r, 200), "data");
    assert_int_equal(cJSON_GetArraySize(data), 2);
    const cJSON *first = cJSON_GetArrayItem(data, 0);
    api_check_str(first, "from", "2026-05-01T00:00:00Z");
    api_check_str(first, "to", "2026-05-01T01:00:00Z");
    assert_true(cJSON_GetObjectItemCaseSensitive(first, "gramsPerKwh")->valuedouble == 120.5);
    api_free(r);
    r = api_get(PORT, admin, "/v1/sites/ire-utc/carbon-intensity?to=2026-05-01T01:00:00Z");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(api_expect(r, 200), "data")), 1);
    api_free(r);
    r = api_get(PORT, admin, "/v1/sites/ire-nowhere/carbon-intensity");
    api_expect(r, 404);
    api_free(r);
    assert_true(db_int("SELECT count(*) FROM audit_log WHERE action = 'site.carbon_intensity' AND resource = 'ire-utc'"
                       " AND result = 'ok'") >= 1);
}

/* Row i of a REST report is these figures; co2 < 0: co2Grams null. */
static void check_row(const cJSON *data, int i, const char *site, const char *charger, const char *period,
                      int sessions, int wh, int charging, int idle, int co2)
{
    const cJSON *row = cJSON_GetArrayItem(data, i);
    assert_non_null(row);
    if (site)
        api_check_str(row, "siteId", site);
    if (charger)
        api_check_str(row, "chargerId", charger);
    if (period)
        api_check_str(row, "period", period);
    api_check_int(row, "sessions", sessions);
    api_check_int(row, "energyWh", wh);
    api_check_int(row, "chargingSeconds", charging);
    api_check_int(row, "idleSeconds", idle);
    if (co2 < 0)
        api_check_null(row, "co2Grams");
    else
        api_check_int(row, "co2Grams", co2);
}

/*
 * Through GET /v1/reports/energy (the lead's handler on ocppgw_report_energy),
 * after the tests above (ire-cp3 now stands on ire-ber, 400 g/kWh, the series
 * 300 g/kWh for 2026-01-31 23:30Z-00:00Z only). A key limited to ire-cp1 sees
 * only its part, by charger and month over the quarter: January 1000 Wh,
 * 3600 s, 400 g, its session and 71 EUR gross; February 1000 Wh, 2700 s,
 * idle 900 s, 600 x 400 + 400 x 300 = 360 g; March nothing (0 g: its site
 * has an intensity). The admin, by site and month with siteId=ire-ber: the
 * three chargers there now; February adds ire-cp3's two sessions (3000 +
 * 1000 Wh, 7200 s, 4000 x 400 = 1600 g): 2 sessions, 5000 Wh, 9900 s, idle
 * 900 s, 1960 g; March is ire-cp2's 3500 Wh, 10800 s, 1400 g, 77 CHF.
 */
static void test_rest_report(void **state)
{
    (void)state;
    char *key = api_key_create_limited("ire-cp1-only", "reports:read", "ire-cp1");
    api_key_wait_known(PORT, key);
    struct api_resp *r = api_get(PORT, key, "/v1/reports/energy?from=2026-01-01T00:00:00%2B01:00"
                                             "&to=2026-04-01T00:00:00%2B02:00&groupBy=charger,month");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(api_expect(r, 200), "data");
    assert_int_equal(cJSON_GetArraySize(data), 3);
    check_row(data, 0, "ire-ber", "ire-cp1", "2026-01", 1, 1000, 3600, 0, 400);
    check_row(data, 1, "ire-ber", "ire-cp1", "2026-02", 0, 1000, 2700, 900, 360);
    check_row(data, 2, "ire-ber", "ire-cp1", "2026-03", 0, 0, 0, 0, 0);
    const cJSON *rev = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(data, 0), "revenue"), 0);
    api_check_str(rev, "currency", "EUR");
    api_check_int(rev, "net", 60);
    api_check_int(rev, "vat", 11);
    api_check_int(rev, "gross", 71);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(data, 1), "revenue")), 0);
    api_free(r);
    /* the same key asking for the whole site still sees only its charger */
    r = api_get(PORT, key, "/v1/reports/energy?from=2026-01-01T00:00:00%2B01:00&to=2026-04-01T00:00:00%2B02:00"
                           "&groupBy=site&siteId=ire-ber");
    data = cJSON_GetObjectItemCaseSensitive(api_expect(r, 200), "data");
    assert_int_equal(cJSON_GetArraySize(data), 1);
    check_row(data, 0, "ire-ber", NULL, NULL, 1, 2000, 6300, 900, 760);
    api_free(r);
    free(key);

    r = api_get(PORT, admin, "/v1/reports/energy?from=2026-01-01T00:00:00%2B01:00&to=2026-04-01T00:00:00%2B02:00"
                             "&groupBy=site,month&siteId=ire-ber");
    data = cJSON_GetObjectItemCaseSensitive(api_expect(r, 200), "data");
    assert_int_equal(cJSON_GetArraySize(data), 3);
    check_row(data, 0, "ire-ber", NULL, "2026-01", 1, 1000, 3600, 0, 400);
    check_row(data, 1, "ire-ber", NULL, "2026-02", 2, 5000, 9900, 900, 1960);
    check_row(data, 2, "ire-ber", NULL, "2026-03", 1, 3500, 10800, 0, 1400);
    rev = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(data, 2), "revenue"), 0);
    api_check_str(rev, "currency", "CHF");
    api_check_int(rev, "gross", 77);
    api_free(r);

    /* the same report exported: CSV rows of the same figures, revenue as JSON text; NDJSON the rows of data */
    const char *path = "/v1/reports/energy?from=2026-01-01T00:00:00%2B01:00&to=2026-04-01T00:00:00%2B02:00"
                       "&groupBy=site,month&siteId=ire-ber";
    const char *csv_accept[] = { "Accept: text/csv", NULL };
    struct api_req q = { .method = "GET", .path = path, .key = admin, .headers = csv_accept };
    r = api_send(PORT, &q);
    if (r->status != 200 || !strstr(api_header(r, "Content-Type") ? api_header(r, "Content-Type") : "", "text/csv"))
        fail_msg("%s as CSV: %d %s", r->what, r->status, r->body);
    const char *want_csv =
        "siteId,period,sessions,energyWh,chargingSeconds,idleSeconds,revenue,co2Grams\r\n"
        "ire-ber,2026-01,1,1000,3600,0,\"[{\"\"currency\"\":\"\"EUR\"\",\"\"net\"\":60,\"\"vat\"\":11,\"\"gross\"\":71}]\",400\r\n"
        "ire-ber,2026-02,2,5000,9900,900,[],1960\r\n";
    if (strncmp(r->body, want_csv, strlen(want_csv)) != 0 || !strstr(r->body, "\r\nire-ber,2026-03,1,3500,10800,0,"))
        fail_msg("%s as CSV:\n%s\nwanted it to begin\n%s", r->what, r->body, want_csv);
    api_free(r);
    const char *nd_accept[] = { "Accept: application/x-ndjson", NULL };
    q.headers = nd_accept;
    r = api_send(PORT, &q);
    api_expect(r, 200);
    int lines = 0;
    for (const char *l = r->body; l && *l; lines++) {
        const char *e = strchr(l, '\n');
        if (!e)
            fail_msg("%s as NDJSON: a line without its end", r->what);
        char *one = it_strf("%.*s", (int)(e - l), l);
        cJSON *row = cJSON_Parse(one);
        if (!row)
            fail_msg("%s as NDJSON: line %d is no JSON: %s", r->what, lines + 1, one);
        cJSON *wrap = cJSON_CreateArray();
        cJSON_AddItemToArray(wrap, row);
        static const char *const months[] = { "2026-01", "2026-02", "2026-03" };
        static const long long wh[] = { 1000, 5000, 3500 };
        if (lines < 3)
            check_row(wrap, 0, "ire-ber", NULL, months[lines], lines == 1 ? 2 : 1, wh[lines],
                      lines == 0 ? 3600 : lines == 1 ? 9900 : 10800, lines == 1 ? 900 : 0,
                      lines == 0 ? 400 : lines == 1 ? 1960 : 1400);
        cJSON_Delete(wrap);
        free(one);
        l = e + 1;
    }
    assert_int_equal(lines, 3);
    api_free(r);
}

/*
 * A late StatusNotification: ire-cp5 (ire-utc) 2026-02-20 10:00Z-11:00Z,
 * register 600 at 10:30Z, stop 1000: nothing said charging ended, so
 * 3600 s charging. Then SuspendedEV timestamped 10:40Z arrives (after the
 * stop, and after the first register sample above meterStart): charging
 * 10:00Z-10:40Z = 2400 s, idle 10:40Z-11:00Z = 1200 s, as if it had come
 * in time. (ire-utc has a series since the test above, for May only: 0 g,
 * not null.)
 */
static void test_late_status(void **state)
{
    (void)state;
    db_add_charger("ire-cp5", NULL, 0);
    db_exec("UPDATE chargers SET site_id = 'ire-utc' WHERE id = 'ire-cp5'");
    struct sim_charger *c = it_connect_booted(W.sim, "ire-cp5", NULL);
    int32_t tx = it_start_accepted(c, 1, "ire-tag", 0, "2026-02-20T10:00:00Z");
    energy_sample(c, tx, "2026-02-20T10:30:00Z", 600);
    cost_stop(c, tx, 1000, "2026-02-20T11:00:00Z");
    check_report("2026-02-20T00:00:00Z", "2026-02-21T00:00:00Z", "{ire-cp5}", "false", "false", "",
                 "-|-|-|1|1000|3600|0|[]|0");
    status(c, "SuspendedEV", "2026-02-20T10:40:00Z");
    check_report("2026-02-20T00:00:00Z", "2026-02-21T00:00:00Z", "{ire-cp5}", "false", "false", "",
                 "-|-|-|1|1000|2400|1200|[]|0");
    sim_disconnect(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_berlin_days_weeks_months_revenue_and_co2, it_test_setup,
                                        it_test_teardown),
        cmocka_unit_test_setup_teardown(test_late_uploads_and_moves, it_test_setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_carbon_intensity_endpoints, it_test_setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_rest_report, it_test_setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_late_status, it_test_setup, it_test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, api_group_teardown);
}
