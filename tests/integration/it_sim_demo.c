/*
 * Integration: `ocppsim --mode demo`, the simulator README.md's tour starts
 * for people (issue 10). Its chargers boot, report both connectors, charge
 * on connector 1 on their own with MeterValues, answer a remote start on
 * connector 2, and on SIGINT stop every session they have open (the remote
 * one too) before they disconnect, so that no session stays active. A tag
 * the gateway does not accept ends the demo's session at once (DeAuthorized),
 * as a charger does.
 *
 * Charger ids start with "itdemo".
 */
#include "it.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "db.h"
#include "fixture.h"
#include "gw.h"
#include "proc.h"
#include "support/rest.h"

static char *admin;

static int group_setup(void **state)
{
    (void)state;
    admin = api_group_start("it_sim_demo", "itdemo-admin");
    for (int i = 1; i <= 3; i++) {
        char id[32];
        snprintf(id, sizeof id, "itdemo-%d", i);
        db_add_charger(id, NULL, 0);
        snprintf(id, sizeof id, "itdemox-%d", i);
        db_add_charger(id, NULL, 0);
    }
    db_exec("DELETE FROM sessions WHERE charger_id LIKE 'itdemo%'");
    db_add_token("itdemo-tag", "Accepted", NULL, NULL);
    db_add_token("itdemo-remote", "Accepted", NULL, NULL);
    db_exec("DELETE FROM tokens WHERE id_tag = 'itdemo-unknown'");
    return 0;
}

static int group_teardown(void **state)
{
    admin = NULL;                   /* api_group_teardown frees it */
    return api_group_teardown(state);
}

/* The demo in the background, its output in a log file; returns the pid. */
static pid_t demo_start(const char *prefix, const char *tag, char **log)
{
    *log = it_strf("%s/it_sim_demo-%s.log", it_env("OCPPGW_TEST_TMP"), prefix);
    FILE *f = fopen(*log, "w");
    assert_non_null(f);
    char *port = it_strf("%d", gw_port(W.gw));
    const char *argv[] = { it_env("OCPPGW_SIM"), "--host", "127.0.0.1", "--port", port, "--mode", "demo",
                           "--prefix", prefix, "--id-tag", tag, "--session", "3600", "--interval", "200", NULL };
    pid_t pid = proc_spawn(argv, NULL, fileno(f), fileno(f));
    fclose(f);
    free(port);
    return pid;
}

/* SIGINT, and the exit status (-1 if it did not exit within 20 s). */
static int demo_interrupt(pid_t pid)
{
    kill(pid, SIGINT);
    int st = 0;
    for (int i = 0; i < 1000; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        it_pause(NULL, 20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

static void test_demo_charges_answers_commands_and_stops_cleanly(void **state)
{
    (void)state;
    char *log;
    pid_t pid = demo_start("itdemo-", "itdemo-tag", &log);
    /* each charger: booted, connector 2 Available, its own session on connector 1 with meter values */
    int64_t n = db_wait_int(IT_WAIT_MS, 3,
                            "SELECT count(*) FROM sessions s WHERE s.charger_id LIKE 'itdemo-_' AND s.status = 'active'"
                            " AND s.connector_id = 1 AND s.id_tag = 'itdemo-tag' AND s.auth_status = 'Accepted'"
                            " AND EXISTS (SELECT 1 FROM meter_values m WHERE m.session_id = s.id)");
    if (n != 3)
        fail_msg("3 demo sessions with meter values expected, %lld found (log %s)", (long long)n, log);
    assert_int_equal(db_wait_int(IT_WAIT_MS, 3,
                                 "SELECT count(*) FROM connectors WHERE charger_id LIKE 'itdemo-_'"
                                 " AND connector_id = 2 AND status = 'Available'"),
                     3);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id LIKE 'itdemo-_' AND last_boot_at IS NOT NULL"),
                     3);

    /* a command on the free connector: answered, and the session it started is named */
    struct api_resp *r = api_post(gw_port(W.gw), admin, "/v1/chargers/itdemo-1/remote-start",
                                  "{\"connectorId\": 2, \"idTag\": \"itdemo-remote\"}");
    const cJSON *b = api_expect(r, 200);
    api_check_str(b, "status", "Accepted");
    if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(b, "sessionId")))
        fail_msg("the remote start named no session (log %s)", log);
    api_free(r);
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1,
                                 "SELECT count(*) FROM connectors WHERE charger_id = 'itdemo-1'"
                                 " AND connector_id = 2 AND status = 'Charging'"),
                     1);

    /* Ctrl-C: every session stopped, the remote one too, before the chargers go */
    int st = demo_interrupt(pid);
    if (st != 0)
        fail_msg("the demo exited %d after SIGINT (log %s)", st, log);
    int64_t active = db_int("SELECT count(*) FROM sessions WHERE charger_id LIKE 'itdemo-_' AND status = 'active'");
    if (active != 0)
        fail_msg("%lld sessions still active after the demo stopped (log %s)", (long long)active, log);
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE charger_id LIKE 'itdemo-_' AND status = 'completed'"
                            " AND stop_reason = 'Local' AND meter_stop > meter_start"),
                     4);
    free(log);
}

/* A tag the gateway answers Invalid: the demo's charger stops that session at once. */
static void test_demo_stops_a_session_whose_tag_is_not_accepted(void **state)
{
    (void)state;
    char *log;
    pid_t pid = demo_start("itdemox-", "itdemo-unknown", &log);
    int64_t n = db_wait_int(IT_WAIT_MS, 1,
                            "SELECT count(*) > 0 FROM sessions WHERE charger_id = 'itdemox-1' AND status = 'completed'"
                            " AND auth_status = 'Invalid' AND stop_reason = 'DeAuthorized'");
    int st = demo_interrupt(pid);
    if (n != 1)
        fail_msg("no session of itdemox-1 stopped with DeAuthorized (log %s)", log);
    assert_int_equal(st, 0);
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE charger_id LIKE 'itdemox-_' AND status = 'active'"),
                     0);
    free(log);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, it_test_setup, it_test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_demo_charges_answers_commands_and_stops_cleanly),
        T(test_demo_stops_a_session_whose_tag_is_not_accepted),
    };
#undef T
    return cmocka_run_group_tests_name("it_sim_demo", tests, group_setup, group_teardown);
}
