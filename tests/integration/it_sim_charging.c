/*
 * Integration: the simulator as an OCPP 1.6 Smart Charging charger
 * (tests/sim/charging.c), driven by the gateway's generic REST commands
 * (POST /v1/chargers/{id}/commands/SetChargingProfile, respond-async), so
 * that the load management tests can trust its record:
 *
 *  - a TxDefaultProfile on connector 0 limits connector 1; the charger
 *    records it (answer, limits after) and calls the observer hook;
 *  - a session then draws the limit (MeterValues: Current.Import per phase,
 *    Power.Active.Import = A * 230 * 3); a TxProfile for its transaction
 *    wins over the default; one naming another transaction is Rejected and
 *    changes nothing; the TxProfile ends with the transaction (a clear of
 *    TxProfiles then finds none);
 *  - ClearChargingProfile by purpose: Accepted, then Unknown;
 *  - a profile the answer behaviour refuses (reject, silence) is recorded
 *    and not applied;
 *  - ocppsim --random-sessions --meter-interval --profile-log: its chargers
 *    start and stop sessions on their own (none left open at the end),
 *    send MeterValues, and log the profile the test sends one of them.
 *
 * Charger ids start with "isc-".
 */
#include "it.h"

#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cJSON.h>

#include "calls.h"
#include "db.h"
#include "fixture.h"
#include "gw.h"
#include "proc.h"
#include "sim.h"
#include "support/rest.h"

#define PORT gw_port(W.gw)
#define TAG "ISC-TAG"

static char *admin;
static struct sim_answers answers;
static int hook_calls;
static struct sim_charger *hook_last;

static void on_profile(void *user, struct sim_charger *c, const struct sim_profile_event *ev)
{
    (void)user;
    (void)ev;
    hook_calls++;
    hook_last = c;
}

static int group_setup(void **state)
{
    (void)state;
    gw_migrate_once();
    db_exec("DELETE FROM commands WHERE charger_id LIKE 'isc-%'");
    db_exec("DELETE FROM sessions WHERE charger_id LIKE 'isc-%'");
    db_exec("DELETE FROM api_keys WHERE name LIKE 'isc-%'");
    db_add_charger("isc-1", NULL, 0);
    db_add_charger("isc-2", NULL, 0);
    for (int i = 1; i <= 3; i++) {
        char id[32];
        snprintf(id, sizeof id, "isc-sim-%06d", i);
        db_add_charger(id, NULL, 0);
    }
    db_add_token(TAG, "Accepted", NULL, NULL);
    admin = api_key_create("isc-admin", "admin");
    struct gw_opts o = { .name = "it_sim_charging", .ini = API_UNLIMITED_INI };
    W.gw = gw_start(&o);
    return 0;
}

static int group_teardown(void **state)
{
    free(admin);
    admin = NULL;
    return it_group_teardown(state);
}

static struct sim_charger *plug(const char *id)
{
    sim_answers_init(&answers);
    answers.on_profile = on_profile;
    hook_calls = 0;
    hook_last = NULL;
    sim_set_default_responder(W.sim, sim_answers_responder, &answers);
    return it_connect_booted(W.sim, id, NULL);
}

/* POST .../commands/ACTION with Prefer: respond-async: 202, the CALL goes out while we service the sim. */
static void command_async(const char *charger, const char *action, const char *body)
{
    static const char *const async[] = { "Prefer: respond-async", NULL };
    char path[256];
    snprintf(path, sizeof path, "/v1/chargers/%s/commands/%s", charger, action);
    struct api_req q = { .method = "POST", .path = path, .key = admin, .body = body, .headers = async };
    struct api_resp *r = api_send(PORT, &q);
    api_expect(r, 202);
    api_free(r);
}

struct wait_events {
    struct sim_charger *c;
    int n;
};

static bool has_events(void *arg)
{
    const struct wait_events *w = arg;
    return sim_answers_profile_log(w->c, NULL, 0) >= w->n;
}

/* Sends the command and waits until the charger has recorded its n-th profile event; returns it. */
static const struct sim_profile_event *send_profile(struct sim_charger *c, const char *action, const char *body,
                                                    int n)
{
    command_async(sim_charger_id(c), action, body);
    struct wait_events w = { c, n };
    if (!wait_until(W.sim, has_events, &w, IT_WAIT_MS))
        fail_msg("%s: the charger recorded %d profile events, expected %d", action,
                 sim_answers_profile_log(c, NULL, 0), n);
    return sim_answers_profile_event(c, n - 1);
}

static char *profile(int id, const char *purpose, int connector, int tx, int stack, double amps)
{
    char txf[32] = "";
    if (tx)
        snprintf(txf, sizeof txf, "\"transactionId\":%d,", tx);
    return it_strf("{\"connectorId\":%d,\"csChargingProfiles\":{\"chargingProfileId\":%d,%s\"stackLevel\":%d,"
                   "\"chargingProfilePurpose\":\"%s\",\"chargingProfileKind\":\"Relative\","
                   "\"chargingSchedule\":{\"chargingRateUnit\":\"A\",\"chargingSchedulePeriod\":"
                   "[{\"startPeriod\":0,\"limit\":%.1f,\"numberPhases\":3}]}}}",
                   connector, id, txf, stack, purpose, amps);
}

static void expect_limit(struct sim_charger *c, int connector, double want)
{
    double got = sim_answers_effective_limit(c, connector);
    if (want < 0 ? got >= 0 : fabs(got - want) > 1e-9)
        fail_msg("connector %d: effective limit %g, expected %g", connector, got, want);
}

static bool has_transaction(void *arg)
{
    return sim_answers_last_transaction_id(arg) != 0;
}

static bool no_transaction(void *arg)
{
    struct sim_answers_tx tx[4];
    return sim_answers_transactions(arg, tx, 4) == 0;
}

static void test_profiles_limit_the_charger_and_are_recorded(void **state)
{
    (void)state;
    struct sim_charger *c = plug("isc-1");
    expect_limit(c, 1, -1);

    /* TxDefaultProfile on connector 0: connector 1 may take 16 A */
    char *p = profile(101, "TxDefaultProfile", 0, 0, 0, 16);
    const struct sim_profile_event *ev = send_profile(c, "SetChargingProfile", p, 1);
    free(p);
    assert_true(ev->set);
    assert_true(ev->applied);
    assert_string_equal(ev->answer, "Accepted");
    assert_int_equal(ev->purpose, SIM_PURPOSE_TX_DEFAULT);
    assert_int_equal(ev->connector, 0);
    assert_int_equal(ev->profile_id, 101);
    assert_true(fabs(ev->limit - 16) < 1e-9);
    assert_int_equal(ev->connectors, 1);
    assert_true(fabs(ev->limits[1] - 16) < 1e-9);
    assert_true(ev->limits[0] < 0);
    assert_int_equal(hook_calls, 1);
    assert_ptr_equal(hook_last, c);
    expect_limit(c, 1, 16);

    /* a session draws it */
    assert_int_equal(sim_answers_start_transaction(c, 1, TAG), 0);
    assert_true(wait_until(W.sim, has_transaction, c, IT_WAIT_MS));
    int tx = sim_answers_last_transaction_id(c);
    assert_true(fabs(sim_answers_draw(c, 1) - 16) < 1e-9);
    char mv[2048];
    assert_int_equal(sim_answers_meter_values_payload(c, 1, mv, sizeof mv), 0);
    cJSON *j = cJSON_Parse(mv);
    const cJSON *sv = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "meterValue"), 0),
                                          "sampledValue"), *s;
    int phases = 0;
    bool power = false;
    cJSON_ArrayForEach(s, sv) {
        const char *m = js(s, "measurand");
        if (!strcmp(m, "Current.Import")) {
            assert_string_equal(js(s, "value"), "16.0");
            assert_string_equal(js(s, "unit"), "A");
            phases += js(s, "phase") != NULL;
        } else if (!strcmp(m, "Power.Active.Import")) {
            assert_string_equal(js(s, "value"), "11040");
            power = true;
        }
    }
    cJSON_Delete(j);
    assert_int_equal(phases, 3);
    assert_true(power);
    /* the gateway takes the MeterValues */
    assert_int_equal(sim_answers_send_meter_values(c, 1), 0);

    /* a TxProfile for the transaction wins over the default */
    p = profile(102, "TxProfile", 1, tx, 1, 10);
    ev = send_profile(c, "SetChargingProfile", p, 2);
    free(p);
    assert_string_equal(ev->answer, "Accepted");
    assert_true(fabs(ev->limits[1] - 10) < 1e-9);
    expect_limit(c, 1, 10);
    assert_true(fabs(sim_answers_draw(c, 1) - 10) < 1e-9);

    /* one for another transaction: Rejected, nothing changes */
    p = profile(103, "TxProfile", 1, tx + 1000, 2, 6);
    ev = send_profile(c, "SetChargingProfile", p, 3);
    free(p);
    assert_string_equal(ev->answer, "Rejected");
    assert_false(ev->applied);
    expect_limit(c, 1, 10);

    /* the TxProfile ends with the transaction: back to the default */
    assert_int_equal(sim_answers_stop_transaction(c, tx, "Local"), 0);
    assert_true(wait_until(W.sim, no_transaction, c, IT_WAIT_MS));
    expect_limit(c, 1, 16);
    ev = send_profile(c, "ClearChargingProfile", "{\"chargingProfilePurpose\":\"TxProfile\"}", 4);
    assert_false(ev->set);
    assert_string_equal(ev->answer, "Unknown");         /* it is gone already */

    /* clear the defaults: Accepted, unlimited; again: Unknown */
    ev = send_profile(c, "ClearChargingProfile", "{\"chargingProfilePurpose\":\"TxDefaultProfile\"}", 5);
    assert_string_equal(ev->answer, "Accepted");
    expect_limit(c, 1, -1);
    ev = send_profile(c, "ClearChargingProfile", "{\"chargingProfilePurpose\":\"TxDefaultProfile\"}", 6);
    assert_string_equal(ev->answer, "Unknown");
    assert_int_equal(hook_calls, 6);
    struct sim_answers_stats st;
    sim_answers_get_stats(c, &st);
    assert_int_equal(st.profiles_received, 3);
    assert_int_equal(st.profiles_accepted, 2);
    assert_int_equal(st.clears_received, 3);
    sim_disconnect(c);
}

static void test_refused_profiles_are_not_applied(void **state)
{
    (void)state;
    struct sim_charger *c = plug("isc-2");
    sim_answers_set(&answers, "SetChargingProfile", SIM_ANSWER_REJECT);
    char *p = profile(201, "TxDefaultProfile", 1, 0, 0, 8);
    const struct sim_profile_event *ev = send_profile(c, "SetChargingProfile", p, 1);
    assert_string_equal(ev->answer, "Rejected");
    assert_false(ev->applied);
    expect_limit(c, 1, -1);
    sim_answers_set(&answers, "SetChargingProfile", SIM_ANSWER_SILENCE);
    ev = send_profile(c, "SetChargingProfile", p, 2);
    assert_string_equal(ev->answer, "silence");
    assert_false(ev->applied);
    expect_limit(c, 1, -1);
    free(p);
    assert_int_equal(hook_calls, 2);
    sim_disconnect(c);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strdup(buf);
}

static void test_ocppsim_sessions_and_profile_log(void **state)
{
    (void)state;
    char port[16], out_path[512], log_path[512];
    snprintf(port, sizeof port, "%d", PORT);
    snprintf(out_path, sizeof out_path, "%s/isc-ocppsim.out", it_env("OCPPGW_TEST_TMP"));
    snprintf(log_path, sizeof log_path, "%s/isc-profiles.jsonl", it_env("OCPPGW_TEST_TMP"));
    const char *argv[] = { it_env("OCPPGW_SIM"), "--host", "127.0.0.1", "--port", port, "--chargers", "3",
                           "--mode", "serve", "--prefix", "isc-sim-", "--boot", "--quiet", "--id-tag", TAG,
                           "--random-sessions", "1:1", "--meter-interval", "300", "--demand", "10-20",
                           "--seed", "7", "--profile-log", log_path, "--duration", "8", NULL };
    int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    pid_t pid = proc_spawn(argv, NULL, fd, -1);
    close(fd);
    /* once the charger is there, a TxDefaultProfile of 16 A for all its connectors */
    char *p = profile(301, "TxDefaultProfile", 0, 0, 0, 16);
    static const char *const async[] = { "Prefer: respond-async", NULL };
    struct api_req q = { .method = "POST", .path = "/v1/chargers/isc-sim-000001/commands/SetChargingProfile",
                         .key = admin, .body = p, .headers = async };
    int status = 0;
    for (int64_t end = it_now_ms() + IT_WAIT_MS; status != 202 && it_now_ms() < end;) {
        struct api_resp *r = api_send(PORT, &q);
        status = r->status;
        api_free(r);
        if (status != 202)
            usleep(100000);
    }
    free(p);
    int st = -1;
    for (int64_t end = it_now_ms() + 60000; it_now_ms() < end && waitpid(pid, &st, WNOHANG) != pid;)
        usleep(100000);
    if (st == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        fail_msg("ocppsim did not finish");
    }
    char *out = slurp(out_path), *log = slurp(log_path);
    if (status != 202 || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || !strstr(out, " profiles=1 profiles_accepted=1 ") ||
        strstr(out, " sessions_started=0 ") || strstr(out, " meter_values=0 ") || strstr(out, " meter_values_answered=0 "))
        fail_msg("profile command HTTP %d; ocppsim exit %d:\n%s", status, st, out);
    if (!strstr(log, "\"charger\":\"isc-sim-000001\",\"action\":\"SetChargingProfile\",\"connector\":0,"
                     "\"profileId\":301,\"purpose\":\"TxDefaultProfile\",\"stackLevel\":0,\"limit\":16,") ||
        !strstr(log, "\"answer\":\"Accepted\",\"applied\":true,\"maxCurrent\":32,\"limits\":[null,16]}\n"))
        fail_msg("profile log:\n%s", log);
    free(out);
    free(log);
    assert_true(db_int("SELECT count(*) FROM sessions WHERE charger_id LIKE 'isc-sim-%'") >= 1);
    /* sessions open at the end were stopped; energy follows the draw (never below the start) */
    assert_int_equal(db_wait_int(IT_WAIT_MS, 0,
                                 "SELECT count(*) FROM sessions WHERE charger_id LIKE 'isc-sim-%' AND end_time IS NULL"),
                     0);
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE charger_id LIKE 'isc-sim-%' AND meter_anomaly"), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, it_test_setup, it_test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_profiles_limit_the_charger_and_are_recorded),
        T(test_refused_profiles_are_not_applied),
        T(test_ocppsim_sessions_and_profile_log),
    };
#undef T
    return cmocka_run_group_tests_name("it_sim_charging", tests, group_setup, group_teardown);
}
