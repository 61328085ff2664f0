/*
 * Integration: the retention job (issue 15, spec reports.md "Retention and
 * privacy"; src/store/retention_job.c, sql/025). A gateway with a
 * retention of 1 day for meter values, status history, events and commands
 * and `never` for the audit log, over rows written by SQL two days old and
 * a minute old: the old ones go, in batches (12,000 meter values: three
 * batches of at most 5,000 key values, one log line and the counter), the
 * recent ones stay, the audit log stays, the meter values of an active
 * session stay whatever their age, commands still pending stay; a kind
 * another process has claimed (its advisory lock) is left alone until the
 * claim is free. A bad retention value, and events.retention disagreeing
 * with retention.events, stop the start with one line.
 *
 * Charger ids start with "irn-".
 */
#include "it.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "db.h"
#include "fixture.h"
#include "gw.h"
#include "http.h"
#include "proc.h"

#define OLD "now() - interval '2 days'"
#define NEW "now() - interval '1 minute'"
#define INI "[retention]\nmeter_values = 1\nstatus_history = 1\nevents = 1\ncommands = 1\naudit_log = never\n"
#define LOCK_STATUS "SELECT pg_advisory_lock(hashtextextended('ocppgw.retention:status_history', 0))"

static int group_setup(void **state)
{
    (void)state;
    gw_migrate_once();
    return 0;
}

/*
 * The tables the job reads start empty, then hold their old rows before the
 * recent ones, as they do when written as time goes (the job deletes in key
 * order and stops at the first rows within the retention).
 */
static void fill(void)
{
    static const char *const empty[] = { "meter_values", "meter_messages", "status_history", "charger_events",
                                         "security_events", "data_transfers", "orphan_stops", "commands" };
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
        char *sql = it_strf("DELETE FROM %s", empty[i]);
        db_exec(sql);
        free(sql);
    }
    db_exec("DELETE FROM events WHERE charger_id LIKE 'irn-%'");
    db_exec("DELETE FROM audit_log WHERE resource LIKE 'irn-%'");
    db_exec("DELETE FROM sessions WHERE charger_id LIKE 'irn-%'");
    db_exec("INSERT INTO sessions (transaction_id, charger_id, connector_id, id_tag, auth_status, status, start_time,"
            " meter_start) VALUES (1700001, 'irn-cp', 1, 'irn-tag', 'Accepted', 'active', now() - interval '3 days', 0)");
    db_exec("INSERT INTO sessions (transaction_id, charger_id, connector_id, id_tag, auth_status, status, start_time,"
            " end_time, meter_start, meter_stop, energy_wh) VALUES (1700002, 'irn-cp', 2, 'irn-tag', 'Accepted',"
            " 'completed', now() - interval '3 days', now() - interval '2 days', 0, 100, 100)");
#define MV(session, n, when)                                                                                   \
    "INSERT INTO meter_values (message_id, charger_id, connector_id, session_id, ts, value, measurand, unit,"    \
    " context, format, location, received_at)"                                                                 \
    " SELECT 1, 'irn-cp', 1, " session ", " when ", g::text, 'Energy.Active.Import.Register', 'Wh',"          \
    " 'Sample.Periodic', 'Raw', 'Outlet', " when " FROM generate_series(1, " n ") g"
    db_exec(MV("(SELECT id FROM sessions WHERE transaction_id = 1700001)", "20", OLD));     /* active: stays */
    db_exec(MV("(SELECT id FROM sessions WHERE transaction_id = 1700002)", "12000", OLD));
    db_exec(MV("NULL", "5", NEW));
    db_exec("INSERT INTO meter_messages (charger_id, digest, received_at)"
            " SELECT 'irn-cp', g, CASE WHEN g <= 3 THEN " OLD " ELSE " NEW " END FROM generate_series(1, 5) g");
    db_exec("INSERT INTO status_history (charger_id, connector_id, status, error_code, received_at)"
            " SELECT 'irn-cp', 1, 'Available', 'NoError', CASE WHEN g <= 7000 THEN " OLD " ELSE " NEW " END"
            " FROM generate_series(1, 7002) g");
    db_exec("INSERT INTO charger_events (charger_id, kind, at)"
            " SELECT 'irn-cp', 'connected', CASE WHEN g <= 3 THEN " OLD " ELSE " NEW " END FROM generate_series(1, 5) g");
    db_exec("INSERT INTO security_events (charger_id, type, event_at, received_at)"
            " SELECT 'irn-cp', 'StartupOfTheDevice', now(), CASE WHEN g <= 2 THEN " OLD " ELSE " NEW " END"
            " FROM generate_series(1, 3) g");
    db_exec("INSERT INTO data_transfers (charger_id, vendor_id, received_at)"
            " SELECT 'irn-cp', 'v', CASE WHEN g <= 2 THEN " OLD " ELSE " NEW " END FROM generate_series(1, 3) g");
    db_exec("INSERT INTO orphan_stops (charger_id, transaction_id, meter_stop, stop_time, received_at)"
            " SELECT 'irn-cp', g, 1, now(), CASE WHEN g <= 2 THEN " OLD " ELSE " NEW " END FROM generate_series(1, 3) g");
    db_exec("INSERT INTO events (seq, id, type, created_at, charger_id, data)"
            " SELECT nextval('events_seq'), gen_random_uuid(), 'charger.updated',"
            " CASE WHEN g <= 3 THEN " OLD " ELSE " NEW " END, 'irn-cp', '{}' FROM generate_series(1, 5) g");
    /* ended old ones go; an old one still queued and the recent ones stay */
    db_exec("INSERT INTO commands (id, charger_id, action, payload, state, created_at)"
            " SELECT gen_random_uuid(), 'irn-cp', 'Reset', '{}',"
            " CASE WHEN g = 4 THEN 'queued' ELSE 'completed' END,"
            " CASE WHEN g <= 4 THEN " OLD " ELSE " NEW " END FROM generate_series(1, 6) g");
    db_exec("INSERT INTO audit_log (at, actor, action, resource, result)"
            " SELECT now() - interval '3 days', 'cli', 'charger.create', 'irn-cp', 'ok' FROM generate_series(1, 3)");
}

static int64_t left(const char *table)
{
    char *sql = it_strf("SELECT count(*) FROM %s WHERE charger_id = 'irn-cp'", table);
    int64_t n = db_int(sql);
    free(sql);
    return n;
}

/* the events this test wrote itself (its inserts of sessions, data transfers ... emit others) */
static int64_t events_left(void)
{
    return db_int("SELECT count(*) FROM events WHERE charger_id = 'irn-cp' AND type = 'charger.updated'");
}

static bool commands_done(void *arg)
{
    (void)arg;
    return left("commands") == 3 && left("meter_values") == 25;
}

static bool all_done(void *arg)
{
    (void)arg;
    return commands_done(NULL) && left("status_history") == 2 && events_left() == 2;
}

static void check_what_stays(void)
{
    assert_int_equal(left("meter_values"), 25);
    /* the active session keeps its old samples; the completed one lost them */
    assert_int_equal(db_int("SELECT count(*) FROM meter_values m JOIN sessions s ON s.id = m.session_id"
                            " WHERE s.transaction_id = 1700001"), 20);
    assert_int_equal(db_int("SELECT count(*) FROM meter_values m JOIN sessions s ON s.id = m.session_id"
                            " WHERE s.transaction_id = 1700002"), 0);
    assert_int_equal(db_int("SELECT count(*) FROM meter_values WHERE session_id IS NULL"
                            " AND received_at > now() - interval '1 hour'"), 5);
    assert_int_equal(left("meter_messages"), 2);
    assert_int_equal(left("status_history"), 2);
    /* the utilization's rollups never recompute from before the cut (a day, not 400) */
    assert_int_equal(db_int("SELECT (ocppgw_util_horizon() > now() - interval '2 days')::int"), 1);
    assert_int_equal(left("charger_events"), 2);
    assert_int_equal(left("security_events"), 1);
    assert_int_equal(left("data_transfers"), 1);
    assert_int_equal(left("orphan_stops"), 1);
    assert_int_equal(events_left(), 2);
    assert_int_equal(db_int("SELECT count(*) FROM commands WHERE charger_id = 'irn-cp' AND state = 'queued'"), 1);
    assert_int_equal(left("commands"), 3);
    assert_int_equal(db_int("SELECT count(*) FROM audit_log WHERE resource = 'irn-cp'"), 3);
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE charger_id = 'irn-cp'"), 2);
}

static void test_old_rows_go_in_batches(void **state)
{
    (void)state;
    fill();
    /* another gateway holds status_history's claim: this one must leave it alone */
    PGconn *holder = PQconnectdb(it_env("OCPPGW_TEST_DB"));
    assert_int_equal(PQstatus(holder), CONNECTION_OK);
    PQclear(PQexec(holder, LOCK_STATUS));
    struct gw_opts o = { .name = "it_retention", .ini = INI };
    W.gw2 = gw_start(&o);
    if (!wait_until(NULL, commands_done, NULL, IT_WAIT_MS))
        fail_msg("old rows still there: %lld meter values, %lld commands",
                 (long long)left("meter_values"), (long long)left("commands"));
    if (left("status_history") != 7002)
        fail_msg("status history deleted while another process held its claim (%lld left)",
                 (long long)left("status_history"));
    /* 12,000 old samples of the completed session: three batches of 5,000 keys, one line, the counter */
    if (!gw_log_contains(W.gw2, "retention: meter_values: 12000 rows deleted in 3 batches"))
        fail_msg("no log line 'retention: meter_values: 12000 rows deleted in 3 batches' in %s", gw_log_path(W.gw2));
    assert_true(metrics_get(gw_port(W.gw2), "ocppgw_retention_deleted_rows_total", "kind=\"meter_values\"") == 12000);
    assert_true(metrics_get(gw_port(W.gw2), "ocppgw_retention_deleted_rows_total", "kind=\"commands\"") == 3);
    assert_true(metrics_get(gw_port(W.gw2), "ocppgw_retention_deleted_rows_total", "kind=\"audit_log\"") == 0);

    /* the claim is free: after a restart its first run takes them too */
    assert_int_equal(gw_stop(W.gw2), 0);
    PQfinish(holder);
    gw_restart(W.gw2);
    if (!wait_until(NULL, all_done, NULL, IT_WAIT_MS))
        fail_msg("status history left: %lld, events %lld", (long long)left("status_history"),
                 (long long)events_left());
    check_what_stays();
    if (!gw_log_contains(W.gw2, "retention: status_history: 7000 rows deleted in 2 batches"))
        fail_msg("no log line for status_history in %s", gw_log_path(W.gw2));
}

/* ---------------------------------------------------------------- bad configuration */

static void start_refused(const char *name, const char *ini, const char *word)
{
    char *conf = it_strf("%s/it_retention-%s.conf", it_env("OCPPGW_TEST_TMP"), name);
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fputs(ini, f);
    fclose(f);
    char *listen = it_strf("127.0.0.1:%d", gw_free_port());
    const char *argv[] = { it_env("OCPPGW_BIN"), "serve", "--config", conf, "--db", it_env("OCPPGW_TEST_DB"),
                           "--listen", listen, NULL };
    const char *env[] = { "DATABASE_URL", "OCPPGW_LISTEN", "OCPPGW_API_LISTEN", "OCPPGW_LOG_LEVEL", NULL };
    struct proc_result r;
    proc_run(argv, env, 30000, &r);
    if (r.status == 0 || r.status == -1)
        fail_msg("%s: exit status %d, expected the start refused", name, r.status);
    if (proc_count_lines(r.err) != 1)
        fail_msg("%s: expected one line on stderr, got: %s", name, r.err);
    if (!strstr(r.err, word))
        fail_msg("%s: the line does not name %s: %s", name, word, r.err);
    proc_result_free(&r);
    free(listen);
    free(conf);
}

static void test_bad_values_refuse_the_start(void **state)
{
    (void)state;
    start_refused("word", "[retention]\nmeter_values = soon\n", "retention.meter_values");
    start_refused("negative", "[retention]\ncommands = -1\n", "retention.commands");
    start_refused("fraction", "[retention]\naudit_log = 1.5\n", "retention.audit_log");
    start_refused("both", "[retention]\nevents = 2\n[events]\nretention = 3600\n", "events.retention");
}

int main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_old_rows_go_in_batches, it_test_teardown),
        cmocka_unit_test(test_bad_values_refuse_the_start),
    };
    return cmocka_run_group_tests_name("it_retention", tests, group_setup, it_group_teardown);
}
