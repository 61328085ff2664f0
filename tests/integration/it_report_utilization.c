/*
 * Integration: the utilization report (../shared/spec/reports.md,
 * "utilization"; sql/024_report_utilization.sql; docs/architecture.md,
 * "Utilization rollups") from StatusNotifications a real charger sends
 * through the gateway, with timestamps in the past so that the test owns
 * the timeline, and a connection history written in the past with the
 * functions the gateway itself calls (ocppgw_charger_connected /
 * _disconnected: real connections happen now, and a report of now would
 * need timing). Every figure is compared with one computed by hand below.
 *
 * The timeline is around D, the most recent last Sunday of March at least
 * three days ago: in Europe/Berlin a day of 23 hours (02:00 CET -> 03:00
 * CEST). Days are named by their offset from D ("D-1" the Saturday, "D+1"
 * the Monday). Berlin times below are local; "Z" times UTC.
 *
 *   iru-a (site iru-berlin, Europe/Berlin), connectors 1 and 2:
 *     connected D-2 12:00, disconnected D 12:00, connected D 14:00
 *     c1: Available D-1 06:00, Preparing 10:00, Charging 10:15,
 *         Finishing 12:00, Available 12:30;
 *         Available D 22:00, then (sent late, after the rollups have
 *         processed the 22:00 one) Charging D 20:00
 *     c2: Faulted D 01:00 (CET), Available D 04:00 (CEST)
 *   iru-b (site iru-berlin), connector 1:
 *     connected D-3 12:00; Available D-2 20:00, Unavailable D+1 08:00
 *   iru-c (no site, no zone: UTC), connector 1:
 *     connected D-2 00:00Z; Available D-1 12:00Z; disconnected D 00:00Z
 *
 * The window W = [D-1 00:00 Berlin, D+2 00:00 Berlin) = [D-2 23:00Z, D+1 22:00Z).
 * Seconds per local day (Berlin days for iru-a/b; UTC days for iru-c,
 * whose window days are D-2 [23:00Z, 24:00) .. D+1 [00:00Z, 22:00Z)):
 *
 *   iru-a D-1: c1 unknown 00:00-06:00; available 06:00-10:00 (14400) and
 *              12:30-24:00 (41400) = 55800; occupied 10:00-12:30 = 9000, of
 *              which charging 10:15-12:00 = 6300. c2 unknown.
 *   iru-a D (23 h = 82800 s): c1 available 00:00-12:00 (11 h, the hour
 *              02:00-03:00 does not exist: 39600), offline 12:00-14:00
 *              (7200), available 14:00-20:00 (21600), charging 20:00-22:00
 *              (7200), available 22:00-24:00 (7200): available 68400.
 *              c2 unknown 00:00-01:00, faulted 01:00 CET-04:00 CEST (00:00Z
 *              -02:00Z: 7200), available 04:00-12:00 (28800), offline
 *              12:00-14:00 (7200), available 14:00-24:00 (36000): 64800.
 *              Together: available 133200, occupied 7200, charging 7200,
 *              faulted 7200, offline 14400.
 *   iru-a D+1: both available 86400 each: 172800.
 *   iru-b D-1: available 86400; D: available 82800; D+1: available
 *              00:00-08:00 (28800), unavailable 08:00-24:00 (57600).
 *   iru-c D-2: unknown; D-1: unknown 00:00Z-12:00Z, available 43200;
 *              D: offline 86400; D+1: offline 00:00Z-22:00Z 79200.
 *
 * Charger ids and the site start with "iru-". The tests run in order: the
 * late status is sent by the first, the zone move and the stop are the last.
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

#define BER "Europe/Berlin"
#define NCH 3
#define NDAYS 5                 /* D-2 .. D+2 */

struct fig {
    int64_t av, oc, chg, fa, un, off;
};

static struct {
    char *admin;
    struct sim *sim;
    struct sim_charger *ch[NCH];
    char *day[NDAYS], *week[NDAYS], *month[NDAYS];   /* labels of D-2 .. D+2 */
    char *from, *to;                                 /* W, as UTC ISO times */
    struct fig exp[NCH][NDAYS];
} G;

static const char *const ids[NCH] = { "iru-a", "iru-b", "iru-c" };
static const char *const sites[NCH] = { "iru-berlin", "iru-berlin", NULL };
static const int nconn[NCH] = { 2, 1, 1 };
/* the days of W in each charger's zone: Berlin D-1..D+1, UTC D-2..D+1 */
static const int first_day[NCH] = { 1, 1, 0 };
static const int last_day[NCH] = { 3, 3, 3 };

static char D[16];

/* day offset + local time in zone -> "YYYY-MM-DDTHH:MM:SSZ" (caller frees) */
static char *at(int off, const char *hhmm, const char *zone)
{
    char *o = it_strf("%d", off);
    char *s = db_str("SELECT to_char(((($1::date + $2::integer) + $3::time) AT TIME ZONE $4) AT TIME ZONE 'UTC',"
                     " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')", D, o, hhmm, zone);
    free(o);
    return s;
}

static void sql_connected(const char *id, char *when)
{
    free(db_str("SELECT ocppgw_charger_connected($1, false, ocppgw_ms($2::timestamptz), '', NULL, NULL)::text",
                id, when));
    free(when);
}

static void sql_disconnected(const char *id, char *when)
{
    free(db_str("SELECT ocppgw_charger_disconnected($1, ocppgw_ms($2::timestamptz), NULL, 'it')::text", id, when));
    free(when);
}

static void status(int c, int connector, const char *st, char *when)
{
    char *p = it_strf("{\"connectorId\":%d,\"errorCode\":\"%s\",\"status\":\"%s\",\"timestamp\":\"%s\"}",
                      connector, strcmp(st, "Faulted") == 0 ? "GroundFailure" : "NoError", st, when);
    cJSON_Delete(it_ok(G.ch[c], "StatusNotification", p));
    free(p);
    free(when);
}

/* Waits until the gateway stored n statuses of iru-* and the rollup job processed everything queued. */
static void settle(int64_t n)
{
    if (db_wait_int(IT_WAIT_MS, n, "SELECT count(*) FROM status_history WHERE charger_id LIKE 'iru-%'") != n)
        fail_msg("the gateway did not store %lld statuses", (long long)n);
    if (db_wait_int(IT_WAIT_MS, 0, "SELECT count(*) FROM util_dirty WHERE charger_id LIKE 'iru-%'") != 0)
        fail_msg("the utilization job did not process the queue (log %s)", gw_log_path(W.gw));
}

static void set_fig(int c, int d, int64_t av, int64_t oc, int64_t chg, int64_t fa, int64_t un, int64_t off)
{
    G.exp[c][d] = (struct fig){ av, oc, chg, fa, un, off };
}

static int group_setup(void **state)
{
    (void)state;
    memset(&G, 0, sizeof G);
    G.admin = api_group_start("it_report_utilization", "iru-admin");
    db_exec("DELETE FROM chargers WHERE id LIKE 'iru-%'");
    db_exec("DELETE FROM sites WHERE id LIKE 'iru-%'");
    const char *tables[] = { "status_history", "charger_events", "util_conn_log", "util_dirty",
                             "util_charger", "util_tail", "util_day" };
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char *q = it_strf("DELETE FROM %s WHERE charger_id LIKE 'iru-%%'", tables[i]);
        db_exec(q);
        free(q);
    }
    char *d = db_str("SELECT max(x)::date::text FROM generate_series(now() - interval '400 days', now() - interval '3 days',"
                     " interval '1 day') x WHERE extract(month FROM x) = 3 AND extract(dow FROM x) = 0"
                     " AND extract(day FROM x) >= 25");
    snprintf(D, sizeof D, "%s", d);
    free(d);
    for (int i = 0; i < NDAYS; i++) {
        char *o = it_strf("%d", i - 2);
        G.day[i] = db_str("SELECT ($1::date + $2::integer)::text", D, o);
        G.week[i] = db_str("SELECT to_char($1::date + $2::integer, 'IYYY-\"W\"IW')", D, o);
        G.month[i] = db_str("SELECT to_char($1::date + $2::integer, 'YYYY-MM')", D, o);
        free(o);
    }
    G.from = at(-1, "00:00", BER);
    G.to = at(2, "00:00", BER);

    db_exec("INSERT INTO sites (id, name, time_zone) VALUES ('iru-berlin', 'Berlin', 'Europe/Berlin')");
    for (int c = 0; c < NCH; c++) {
        db_add_charger(ids[c], NULL, 0);
        if (sites[c])
            db_exec("UPDATE chargers SET site_id = $2 WHERE id = $1", ids[c], sites[c]);
    }
    /* the connection history, as the gateway writes it */
    sql_connected("iru-a", at(-2, "12:00", BER));
    sql_disconnected("iru-a", at(0, "12:00", BER));
    sql_connected("iru-a", at(0, "14:00", BER));
    sql_connected("iru-b", at(-3, "12:00", BER));
    sql_connected("iru-c", at(-2, "00:00", "UTC"));
    sql_disconnected("iru-c", at(0, "00:00", "UTC"));

    G.sim = it_sim(gw_port(W.gw));
    for (int c = 0; c < NCH; c++) {
        G.ch[c] = it_connect_when_known(G.sim, ids[c], NULL);
        it_boot(G.ch[c]);
    }
    status(0, 1, "Available", at(-1, "06:00", BER));
    status(0, 1, "Preparing", at(-1, "10:00", BER));
    status(0, 1, "Charging", at(-1, "10:15", BER));
    status(0, 1, "Finishing", at(-1, "12:00", BER));
    status(0, 1, "Available", at(-1, "12:30", BER));
    status(0, 1, "Available", at(0, "22:00", BER));
    status(0, 2, "Faulted", at(0, "01:00", BER));
    status(0, 2, "Available", at(0, "04:00", BER));
    status(1, 1, "Available", at(-2, "20:00", BER));
    status(1, 1, "Unavailable", at(1, "08:00", BER));
    status(2, 1, "Available", at(-1, "12:00", "UTC"));
    settle(11);

    /* the figures of the header, with the late Charging D 20:00 in */
    set_fig(0, 1, 55800, 9000, 6300, 0, 0, 0);
    set_fig(0, 2, 133200, 7200, 7200, 7200, 0, 14400);
    set_fig(0, 3, 172800, 0, 0, 0, 0, 0);
    set_fig(1, 1, 86400, 0, 0, 0, 0, 0);
    set_fig(1, 2, 82800, 0, 0, 0, 0, 0);
    set_fig(1, 3, 28800, 0, 0, 0, 57600, 0);
    set_fig(2, 0, 0, 0, 0, 0, 0, 0);
    set_fig(2, 1, 43200, 0, 0, 0, 0, 0);
    set_fig(2, 2, 0, 0, 0, 0, 0, 86400);
    set_fig(2, 3, 0, 0, 0, 0, 0, 79200);
    return 0;
}

static int group_teardown(void **state)
{
    if (G.sim)
        sim_free(G.sim);
    for (int i = 0; i < NDAYS; i++) {
        free(G.day[i]);
        free(G.week[i]);
        free(G.month[i]);
    }
    free(G.from);
    free(G.to);
    G.admin = NULL;             /* api_group_teardown frees it */
    return api_group_teardown(state);
}

/* ------------------------------------------------------------ expected rows */

struct row {
    char site[32], charger[32], period[16];
    int64_t connectors;
    struct fig f;
};

enum period { P_NONE, P_DAY, P_WEEK, P_MONTH };

static int cmp_key(const char *a, const char *b)    /* "" (NULL) last */
{
    if (!*a || !*b)
        return (*a == 0) - (*b == 0);
    return strcmp(a, b);
}

static int cmp_row(const void *x, const void *y)
{
    const struct row *a = x, *b = y;
    int c = cmp_key(a->site, b->site);
    if (!c)
        c = cmp_key(a->charger, b->charger);
    if (!c)
        c = cmp_key(a->period, b->period);
    return c;
}

static void pct(char *buf, size_t cap, int64_t num, int64_t known)
{
    if (known == 0) {
        snprintf(buf, cap, "null");
        return;
    }
    int64_t h = (num * 10000 * 2 + known) / (2 * known);     /* hundredths, half up */
    snprintf(buf, cap, "%lld.%02lld", (long long)(h / 100), (long long)(h % 100));
}

/* "site,charger,period,connectors,av,oc,chg,fa,un,off,uptime,occupancy;..." sorted by the keys */
static char *rows_text(struct row *r, size_t n)
{
    qsort(r, n, sizeof *r, cmp_row);
    size_t cap = 64 + n * 160, len = 0;
    char *out = malloc(cap);
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        const struct fig *f = &r[i].f;
        int64_t known = f->av + f->oc + f->fa + f->un + f->off;
        char up[48], occ[48];
        pct(up, sizeof up, f->av + f->oc, known);
        pct(occ, sizeof occ, f->oc, known);
        len += (size_t)snprintf(out + len, cap - len, "%s%s,%s,%s,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%s,%s",
                                i ? ";" : "", *r[i].site ? r[i].site : "-", *r[i].charger ? r[i].charger : "-",
                                *r[i].period ? r[i].period : "-", (long long)r[i].connectors,
                                (long long)f->av, (long long)f->oc, (long long)f->chg, (long long)f->fa,
                                (long long)f->un, (long long)f->off, up, occ);
    }
    return out;
}

/* The rows the report must give for the chargers of mask (bit c: ids[c]) over W, from G.exp. */
static char *expected(unsigned mask, bool by_site, bool by_charger, enum period p)
{
    struct row rows[64];
    size_t n = 0;
    if (!by_site && !by_charger && p == P_NONE) {
        memset(&rows[0], 0, sizeof rows[0]);
        n = 1;
    }
    for (int c = 0; c < NCH; c++) {
        if (!(mask & (1u << c)))
            continue;
        const char *site = (by_site || by_charger) && sites[c] ? sites[c] : "";
        const char *charger = by_charger ? ids[c] : "";
        for (int d = first_day[c]; d <= last_day[c]; d++) {
            const char *label = p == P_DAY ? G.day[d] : p == P_WEEK ? G.week[d] : p == P_MONTH ? G.month[d] : "";
            size_t i = 0;
            while (i < n && !(strcmp(rows[i].site, site) == 0 && strcmp(rows[i].charger, charger) == 0 &&
                              strcmp(rows[i].period, label) == 0))
                i++;
            if (i == n) {
                memset(&rows[n], 0, sizeof rows[n]);
                snprintf(rows[n].site, sizeof rows[n].site, "%s", site);
                snprintf(rows[n].charger, sizeof rows[n].charger, "%s", charger);
                snprintf(rows[n].period, sizeof rows[n].period, "%s", label);
                n++;
            }
            struct fig *f = &rows[i].f;
            const struct fig *e = &G.exp[c][d];
            f->av += e->av;
            f->oc += e->oc;
            f->chg += e->chg;
            f->fa += e->fa;
            f->un += e->un;
            f->off += e->off;
        }
    }
    /* connectors: of every charger of the group (the same for each of its periods) */
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < NCH; c++) {
            if (!(mask & (1u << c)))
                continue;
            const char *site = (by_site || by_charger) && sites[c] ? sites[c] : "";
            const char *charger = by_charger ? ids[c] : "";
            if (strcmp(rows[i].site, site) == 0 && strcmp(rows[i].charger, charger) == 0)
                rows[i].connectors += nconn[c];
        }
    return rows_text(rows, n);
}

static char *ids_array(unsigned mask)
{
    char buf[128] = "{";
    for (int c = 0; c < NCH; c++)
        if (mask & (1u << c)) {
            if (buf[1])
                strcat(buf, ",");
            strcat(buf, ids[c]);
        }
    strcat(buf, "}");
    return it_strf("%s", buf);
}

/* The function's rows in rows_text's form. */
static char *report_sql(const char *from, const char *to, unsigned mask, bool by_site, bool by_charger,
                        const char *period)
{
    char *arr = ids_array(mask);
    char *s = db_str("SELECT coalesce(string_agg(concat_ws(',', coalesce(site_id, '-'), coalesce(charger_id, '-'),"
                     " coalesce(period, '-'), connectors, available_s, occupied_s, charging_s, faulted_s,"
                     " unavailable_s, offline_s, coalesce(uptime_pct::text, 'null'),"
                     " coalesce(occupancy_pct::text, 'null')), ';'"
                     " ORDER BY site_id COLLATE \"C\" NULLS LAST, charger_id COLLATE \"C\" NULLS LAST,"
                     " period COLLATE \"C\" NULLS LAST), '')"
                     " FROM ocppgw_report_utilization($1::timestamptz, $2::timestamptz, $3::text[],"
                     " $4::boolean, $5::boolean, nullif($6, ''))",
                     from, to, arr, by_site ? "true" : "false", by_charger ? "true" : "false", period);
    free(arr);
    return s;
}

static void expect_sql(unsigned mask, bool by_site, bool by_charger, enum period p)
{
    static const char *const pn[] = { "", "day", "week", "month" };
    char *want = expected(mask, by_site, by_charger, p);
    char *got = report_sql(G.from, G.to, mask, by_site, by_charger, pn[p]);
    if (strcmp(want, got) != 0)
        fail_msg("report (site %d, charger %d, period '%s'):\n  got  %s\n  want %s", by_site, by_charger,
                 pn[p], got, want);
    free(want);
    free(got);
}

/* ------------------------------------------------------------ tests */

/*
 * The late StatusNotification: Charging D 20:00 sent after the Available of
 * D 22:00 was stored and rolled up. Before it, iru-a's c1 was available
 * 20:00-22:00 (D: available 140400, nothing occupied); after it, the
 * figures are those of the header, as if it had come in time.
 */
static void test_late_status_counts_as_if_in_time(void **state)
{
    (void)state;
    struct fig in_time = G.exp[0][2];
    G.exp[0][2].av += 7200;
    G.exp[0][2].oc -= 7200;
    G.exp[0][2].chg -= 7200;
    expect_sql(1u, false, true, P_DAY);
    G.exp[0][2] = in_time;

    status(0, 1, "Charging", at(0, "20:00", BER));
    settle(12);
    expect_sql(1u, false, true, P_DAY);
}

/*
 * Totals of W for the three chargers: available 361800 + 198000 + 43200 =
 * 603000, occupied 16200, charging 13500, faulted 7200, unavailable 57600,
 * offline 14400 + 165600 = 180000; known 864000; uptime 619200/864000 =
 * 71.67 %, occupancy 16200/864000 = 1.88 %; 4 connectors.
 */
static void test_totals(void **state)
{
    (void)state;
    char *got = report_sql(G.from, G.to, 7u, false, false, "");
    assert_string_equal(got, "-,-,-,4,603000,16200,13500,7200,57600,180000,71.67,1.88");
    free(got);
    expect_sql(7u, false, false, P_NONE);
}

/*
 * By site and day: iru-berlin on D-1 (a + b): available 142200, occupied
 * 9000, uptime 100.00, occupancy 9000/151200 = 5.95; on D (23 h):
 * available 216000, occupied 7200, faulted 7200, offline 14400, known
 * 244800, uptime 91.18, occupancy 2.94; on D+1: available 201600,
 * unavailable 57600, uptime 77.78. No site (iru-c, UTC days): D-2 all zero
 * and no percentages (nothing known), D-1 available 43200, D and D+1
 * offline.
 */
static void test_by_site_and_day_across_dst(void **state)
{
    (void)state;
    char *got = report_sql(G.from, G.to, 7u, true, false, "day");
    char *want = it_strf("iru-berlin,-,%s,3,142200,9000,6300,0,0,0,100.00,5.95;"
                         "iru-berlin,-,%s,3,216000,7200,7200,7200,0,14400,91.18,2.94;"
                         "iru-berlin,-,%s,3,201600,0,0,0,57600,0,77.78,0.00;"
                         "-,-,%s,1,0,0,0,0,0,0,null,null;"
                         "-,-,%s,1,43200,0,0,0,0,0,100.00,0.00;"
                         "-,-,%s,1,0,0,0,0,0,86400,0.00,0.00;"
                         "-,-,%s,1,0,0,0,0,0,79200,0.00,0.00",
                         G.day[1], G.day[2], G.day[3], G.day[0], G.day[1], G.day[2], G.day[3]);
    assert_string_equal(got, want);
    free(got);
    free(want);
    expect_sql(7u, true, false, P_DAY);
    expect_sql(7u, false, false, P_DAY);
}

/* By charger and ISO week (D is a Sunday: D-1 and D in one week, D+1 in the next), site and month. */
static void test_by_charger_week_and_site_month(void **state)
{
    (void)state;
    expect_sql(7u, false, true, P_WEEK);
    expect_sql(7u, true, false, P_MONTH);
    expect_sql(7u, true, true, P_NONE);
    expect_sql(7u, true, false, P_NONE);
    expect_sql(6u, false, true, P_NONE);
}

/*
 * A window with partial days at both ends: [D-1 06:00, D+1 12:00) Berlin
 * for iru-a: D-1 from 06:00 is all of its known time that day (55800 /
 * 9000 / 6300), D whole (133200 / 7200 / 7200 / 7200 faulted / 14400
 * offline), D+1 00:00-12:00 available 2 x 43200 = 86400. Total available
 * 275400, occupied 16200, charging 13500, faulted 7200, offline 14400;
 * known 313200, uptime 291600/313200 = 93.10, occupancy 5.17. And a window
 * inside one day: [D 11:00, D 15:00) Berlin: c1 available 1 h, offline 2 h,
 * available 1 h; c2 the same: available 14400, offline 14400, uptime 50.00.
 */
static void test_partial_days_at_the_edges(void **state)
{
    (void)state;
    char *from = at(-1, "06:00", BER), *to = at(1, "12:00", BER);
    char *got = report_sql(from, to, 1u, false, true, "");
    assert_string_equal(got, "iru-berlin,iru-a,-,2,275400,16200,13500,7200,0,14400,93.10,5.17");
    free(got);
    free(from);
    free(to);
    from = at(0, "11:00", BER);
    to = at(0, "15:00", BER);
    got = report_sql(from, to, 1u, false, false, "day");
    char *want = it_strf("-,-,%s,2,14400,0,0,0,0,14400,50.00,0.00", G.day[2]);
    assert_string_equal(got, want);
    free(want);
    free(got);
    free(from);
    free(to);
}

/* The REST route gives the same rows, and a key limited to iru-b sees only iru-b. */
static void test_rest_route(void **state)
{
    (void)state;
    char *path = it_strf("/v1/reports/utilization?from=%s&to=%s&chargerIds=iru-a,iru-b,iru-c&groupBy=site,day",
                         G.from, G.to);
    struct api_resp *r = api_get(gw_port(W.gw), G.admin, path);
    api_expect(r, 200);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(r->json, "data");
    struct row rows[64];
    size_t n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, data) {
        struct row *w = &rows[n++];
        memset(w, 0, sizeof *w);
        snprintf(w->site, sizeof w->site, "%s", js(it, "siteId") ? js(it, "siteId") : "");
        snprintf(w->period, sizeof w->period, "%s", js(it, "period"));
        w->connectors = ji(it, "connectors");
        w->f = (struct fig){ ji(it, "availableSeconds"), ji(it, "occupiedSeconds"), ji(it, "chargingSeconds"),
                             ji(it, "faultedSeconds"), ji(it, "unavailableSeconds"), ji(it, "offlineSeconds") };
    }
    char *got = rows_text(rows, n);
    char *want = expected(7u, true, false, P_DAY);
    assert_string_equal(got, want);
    free(got);
    free(want);
    api_free(r);
    free(path);

    char *key = api_key_create_limited("iru-limited", "reports:read", "iru-b");
    api_key_wait_known(gw_port(W.gw), key);
    path = it_strf("/v1/reports/utilization?from=%s&to=%s&groupBy=charger", G.from, G.to);
    r = api_get(gw_port(W.gw), key, path);
    api_expect(r, 200);
    data = cJSON_GetObjectItemCaseSensitive(r->json, "data");
    assert_int_equal(cJSON_GetArraySize(data), 1);
    const cJSON *row = cJSON_GetArrayItem(data, 0);
    api_check_str(row, "chargerId", "iru-b");
    api_check_int(row, "availableSeconds", 86400 + 82800 + 28800);
    api_check_int(row, "unavailableSeconds", 57600);
    api_free(r);
    free(path);
    free(key);
}

/*
 * A move to another zone rebuilds the charger's day rows: iru-c placed on
 * iru-berlin counts in Berlin days. Available D-1 12:00Z - D 00:00Z,
 * offline from D 00:00Z: Berlin D-1 = [D-2 23:00Z, D-1 23:00Z) available
 * 11 h = 39600; D = [D-1 23:00Z, D 22:00Z): available 1 h = 3600, offline
 * 22 h = 79200; D+1: offline 86400.
 */
static void test_zone_change_rebuilds(void **state)
{
    (void)state;
    db_exec("UPDATE chargers SET site_id = 'iru-berlin' WHERE id = 'iru-c'");
    settle(12);
    if (db_wait_int(IT_WAIT_MS, 1, "SELECT count(*) FROM util_charger WHERE charger_id = 'iru-c'"
                                   " AND zone = 'Europe/Berlin'") != 1)
        fail_msg("iru-c's rollups were not rebuilt in its new zone");
    char *got = report_sql(G.from, G.to, 4u, false, true, "day");
    char *want = it_strf("iru-berlin,iru-c,%s,1,39600,0,0,0,0,0,100.00,0.00;"
                         "iru-berlin,iru-c,%s,1,3600,0,0,0,0,79200,4.35,0.00;"
                         "iru-berlin,iru-c,%s,1,0,0,0,0,0,86400,0.00,0.00",
                         G.day[1], G.day[2], G.day[3]);
    assert_string_equal(got, want);
    free(got);
    free(want);
}

/*
 * Up to now: iru-b has been Unavailable since D+1 08:00 and connected all
 * along, so a window from D+1 00:00 Berlin to the midnight after tomorrow
 * has available 8 h = 28800 and unavailable now() - D+1 08:00, the same
 * now() as the report's (one statement): the whole days come from the day
 * rows up to the last recompute, then from the tail up to now(); the days
 * after now() count nothing. The same with a window ending now() + 1 h
 * (a partial last day, from the raw history). Rounding: each day row is
 * rounded to whole seconds, hence the 2 s of slack (the test first waits
 * 4 s, so that the tail is longer than that; nothing is asserted on time).
 */
static void test_up_to_now(void **state)
{
    (void)state;
    /* so that the tail after the last recompute is longer than the slack */
    it_pause(G.sim, 4000);
    char *from = at(1, "00:00", BER), *since = at(1, "08:00", BER);
    const char *tos[] = {
        "((now() AT TIME ZONE 'Europe/Berlin')::date + 2)::timestamp AT TIME ZONE 'Europe/Berlin'",
        "now() + interval '1 hour'",
    };
    for (size_t i = 0; i < 2; i++) {
        char *q = it_strf("SELECT abs(r.unavailable_s - round(extract(epoch FROM now() - $2::timestamptz)))::bigint"
                          " + abs(r.available_s - 28800) + r.offline_s + r.occupied_s"
                          " FROM ocppgw_report_utilization($1::timestamptz, %s, '{iru-b}', false, false, NULL) r",
                          tos[i]);
        int64_t off = db_int(q, from, since);
        if (off > 2)
            fail_msg("window %zu: the figures up to now are %lld s off", i, (long long)off);
        free(q);
    }
    free(from);
    free(since);
}

/*
 * Whole months come from the month rollup, days from the day rollup: over
 * the two local months from D's (and a window starting 30 minutes into
 * them in Berlin, when iru-c is still in UTC), the totals (months) equal
 * the sum of the daily rows (days).
 */
static void test_whole_months_agree_with_days(void **state)
{
    (void)state;
    const char *windows[][2] = {
        { "date_trunc('month', $1::date)::timestamp AT TIME ZONE 'Europe/Berlin'",
          "(date_trunc('month', $1::date) + interval '2 months')::timestamp AT TIME ZONE 'Europe/Berlin'" },
        /* 00:30 Berlin: Berlin's first whole month is the next one, UTC's (iru-c) this one */
        { "(date_trunc('month', $1::date) + interval '30 minutes')::timestamp AT TIME ZONE 'Europe/Berlin'",
          "(date_trunc('month', $1::date) + interval '2 months')::timestamp AT TIME ZONE 'UTC'" },
    };
    for (size_t i = 0; i < 2; i++) {
        char *q = it_strf("WITH w AS (SELECT %s AS f, %s AS t),"
                          " tot AS (SELECT r.* FROM w, ocppgw_report_utilization(w.f, w.t, '{iru-a,iru-b,iru-c}',"
                          "   false, false, NULL) r),"
                          " days AS (SELECT sum(r.available_s) av, sum(r.occupied_s) oc, sum(r.charging_s) chg,"
                          "   sum(r.faulted_s) fa, sum(r.unavailable_s) un, sum(r.offline_s) off"
                          "   FROM w, ocppgw_report_utilization(w.f, w.t, '{iru-a,iru-b,iru-c}', false, false, 'day') r)"
                          " SELECT concat_ws(',', tot.available_s, tot.occupied_s, tot.charging_s, tot.faulted_s,"
                          "   tot.unavailable_s, tot.offline_s) || ' / ' || concat_ws(',', days.av, days.oc, days.chg,"
                          "   days.fa, days.un, days.off) FROM tot, days",
                          windows[i][0], windows[i][1]);
        char *got = db_str(q, D);
        const char *slash = strstr(got, " / ");
        assert_non_null(slash);
        if (strncmp(got, slash + 3, (size_t)(slash - got)) != 0 || strlen(slash + 3) != (size_t)(slash - got))
            fail_msg("window %zu: months %s days", i, got);
        /* and it is not all zeros: iru-b was available or unavailable every day of it */
        assert_true(strncmp(got, "0,0,0,0,0,0", 11) != 0);
        free(got);
        free(q);
    }
}

/* A clean stop's bulk disconnect (ocppgw_node_stop) is in the connection history too. */
static void test_shutdown_disconnect_recorded(void **state)
{
    (void)state;
    int64_t before = db_int("SELECT count(*) FROM util_conn_log WHERE charger_id LIKE 'iru-%' AND NOT online");
    assert_int_equal(gw_stop(W.gw), 0);
    int64_t after = db_int("SELECT count(*) FROM util_conn_log WHERE charger_id LIKE 'iru-%' AND NOT online");
    assert_int_equal(after - before, NCH);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id LIKE 'iru-%' AND connected"), 0);
    gw_restart(W.gw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_late_status_counts_as_if_in_time),
        cmocka_unit_test(test_totals),
        cmocka_unit_test(test_by_site_and_day_across_dst),
        cmocka_unit_test(test_by_charger_week_and_site_month),
        cmocka_unit_test(test_partial_days_at_the_edges),
        cmocka_unit_test(test_rest_route),
        cmocka_unit_test(test_up_to_now),
        cmocka_unit_test(test_whole_months_agree_with_days),
        cmocka_unit_test(test_zone_change_rebuilds),
        cmocka_unit_test(test_shutdown_disconnect_recorded),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
