/*
 * Integration: the gateway under a storm of connections (issue 11).
 *
 *  - Chargers that auto-register while the start-up registry reload is in
 *    flight stay connected: the reload's snapshot misses their rows, and it
 *    must not take them for deleted chargers (core_registry_sync's `mark`).
 *    The window between the snapshot and the sync is a few milliseconds in
 *    real life; the test hook OCPPGW_TEST_RELOAD_DELAY_MS (src/store/
 *    pipeline.c) holds the reload's answer back on the store thread, and the
 *    test connects its chargers once the gateway logged that the read was
 *    made, before it logs the reload.
 *  - 1,000 chargers connecting at once from one source address (a site
 *    behind one NAT) with the default per-IP limits are all admitted and
 *    all answer a Heartbeat.
 *  - The simulator's fleet (ocppsim --mode serve, on its libuv loop, as
 *    scripts/restart-bench.sh runs it) across a gateway restart: every
 *    charger reconnects with its back-off and is served again, and the
 *    SERVED line says so with no error seen.
 *
 * Charger ids start with "ist-".
 */
#include "it.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "calls.h"
#include "db.h"
#include "fixture.h"
#include "gw.h"
#include "proc.h"

#define RELOAD_CHARGERS   200
#define RELOAD_DELAY      "5000"      /* ms the reload's answer is held back */
#define NAT_CHARGERS      1000
#define FLEET_CHARGERS    50

static int group_setup(void **state)
{
    (void)state;
    gw_migrate_once();
    db_exec("DELETE FROM chargers WHERE id LIKE 'ist-%'");
    /* the NAT site's chargers are known (profile 0, no key): the default configuration admits them */
    char n[16];
    snprintf(n, sizeof n, "%d", NAT_CHARGERS);
    db_exec("INSERT INTO chargers (id) SELECT 'ist-nat-' || lpad(g::text, 4, '0') FROM generate_series(1, $1::int) g",
            n);
    return 0;
}

/* Services s until no charger of the array is still connecting (or IT_WAIT_MS passed). */
struct connecting {
    struct sim_charger **c;
    int n;
};

static bool none_connecting(void *arg)
{
    const struct connecting *k = arg;
    for (int i = 0; i < k->n; i++)
        if (k->c[i] && sim_state(k->c[i]) == SIM_CONNECTING)
            return false;
    return true;
}

static bool log_has(void *arg)
{
    const char **what = arg;
    return gw_log_contains(W.gw2, *what);
}

/* ---------------------------------------------------------------- start-up reload */

static void test_auto_registered_during_startup_reload_stay_connected(void **state)
{
    (void)state;
    const char *args[] = { "--auto-register", NULL };
    struct gw_opts o = { .name = "it_storm-reload", .args = args };
    setenv("OCPPGW_TEST_RELOAD_DELAY_MS", RELOAD_DELAY, 1);
    W.gw2 = gw_start(&o);
    unsetenv("OCPPGW_TEST_RELOAD_DELAY_MS");

    /* the reload has read its snapshot and holds its answer back: connect now */
    const char *hook = "OCPPGW_TEST_RELOAD_DELAY_MS";
    if (!wait_until(NULL, log_has, &hook, IT_WAIT_MS))
        fail_msg("the registry reload's test hook never fired (log %s)", gw_log_path(W.gw2));
    struct sim_options so = { .host = "127.0.0.1", .port = gw_port(W.gw2), .max_chargers = RELOAD_CHARGERS,
                              .quiet = true };
    W.sim2 = sim_new(&so);
    assert_non_null(W.sim2);
    struct sim_charger *c[RELOAD_CHARGERS];
    for (int i = 0; i < RELOAD_CHARGERS; i++) {
        char id[32];
        snprintf(id, sizeof id, "ist-reload-%03d", i);
        struct sim_charger_opts co = { .id = id };
        c[i] = sim_connect_async(W.sim2, &co);
    }
    struct connecting k = { c, RELOAD_CHARGERS };
    wait_until(W.sim2, none_connecting, &k, IT_WAIT_MS);
    int open = 0;
    for (int i = 0; i < RELOAD_CHARGERS; i++)
        open += sim_state(c[i]) == SIM_OPEN;
    if (open != RELOAD_CHARGERS)
        fail_msg("%d of %d chargers connected during the reload (log %s)", open, RELOAD_CHARGERS,
                 gw_log_path(W.gw2));
    /* the precondition of the test, not a figure: they must all be in before the sync */
    if (gw_log_contains(W.gw2, "charger registry reloaded"))
        fail_msg("the reload finished before the %d chargers were in: the window of %s ms was missed (log %s)",
                 RELOAD_CHARGERS, RELOAD_DELAY, gw_log_path(W.gw2));

    const char *reloaded = "charger registry reloaded";
    if (!wait_until(W.sim2, log_has, &reloaded, IT_WAIT_MS))
        fail_msg("no registry reload logged (log %s)", gw_log_path(W.gw2));
    /* a Heartbeat answered on each after the sync: a 1008 sent by it would have come first */
    int alive = 0, closed_1008 = 0;
    for (int i = 0; i < RELOAD_CHARGERS; i++) {
        alive += sim_state(c[i]) == SIM_OPEN && it_heartbeat_ok(c[i]);
        closed_1008 += sim_close_code(c[i]) == 1008;
    }
    if (alive != RELOAD_CHARGERS)
        fail_msg("after the start-up reload %d of %d auto-registered chargers still answer, %d were closed with 1008"
                 " (log %s)", alive, RELOAD_CHARGERS, closed_1008, gw_log_path(W.gw2));
    int64_t n = db_wait_int(IT_WAIT_MS, RELOAD_CHARGERS,
                            "SELECT count(*) FROM chargers WHERE id LIKE 'ist-reload-%' AND connected");
    if (n != RELOAD_CHARGERS)
        fail_msg("%lld of %d chargers connected = true in the database", (long long)n, RELOAD_CHARGERS);
    for (int i = 0; i < RELOAD_CHARGERS; i++)
        sim_disconnect(c[i]);
}

/* ---------------------------------------------------------------- one NAT */

struct answers {
    int ok, failed;
};

static void count_answer(void *user, struct sim_charger *c, int64_t latency_us, bool ok)
{
    struct answers *a = user;
    (void)c, (void)latency_us;
    if (ok)
        a->ok++;
    else
        a->failed++;
}

static void test_thousand_chargers_from_one_address_all_admitted(void **state)
{
    (void)state;
    struct gw_opts o = { .name = "it_storm-nat" };          /* the default per-IP limits */
    W.gw2 = gw_start(&o);
    struct sim_options so = { .host = "127.0.0.1", .port = gw_port(W.gw2), .max_chargers = NAT_CHARGERS,
                              .quiet = true };
    W.sim2 = sim_new(&so);
    assert_non_null(W.sim2);
    struct sim_charger **c = calloc(NAT_CHARGERS, sizeof *c);
    assert_non_null(c);
    for (int i = 0; i < NAT_CHARGERS; i++) {            /* all at once, all from 127.0.0.1 */
        char id[32];
        snprintf(id, sizeof id, "ist-nat-%04d", i + 1);
        struct sim_charger_opts co = { .id = id };
        c[i] = sim_connect_async(W.sim2, &co);
    }
    struct connecting k = { c, NAT_CHARGERS };
    wait_until(W.sim2, none_connecting, &k, IT_WAIT_MS);
    int open = 0, refused_429 = 0, other = 0, other_status = 0;
    for (int i = 0; i < NAT_CHARGERS; i++) {
        if (sim_state(c[i]) == SIM_OPEN) {
            open++;
        } else if (sim_http_status(c[i]) == 429) {
            refused_429++;
        } else {
            other++;
            other_status = sim_http_status(c[i]);
        }
    }
    if (open != NAT_CHARGERS)
        fail_msg("%d chargers from one address: %d admitted, %d refused with 429, %d otherwise (last status %d)",
                 NAT_CHARGERS, open, refused_429, other, other_status);

    struct answers a = { 0, 0 };
    for (int i = 0; i < NAT_CHARGERS; i++)
        assert_int_equal(sim_send_call(c[i], "Heartbeat", "{}"), 0);
    int64_t end = it_now_ms() + IT_WAIT_MS;
    while (a.ok + a.failed < NAT_CHARGERS && it_now_ms() < end)
        sim_poll(W.sim2, 50, count_answer, &a);
    if (a.ok != NAT_CHARGERS)
        fail_msg("Heartbeat: %d of %d answered with a CALLRESULT, %d CALLERROR", a.ok, NAT_CHARGERS, a.failed);
    for (int i = 0; i < NAT_CHARGERS; i++)
        sim_disconnect(c[i]);
    free(c);
}

/* ---------------------------------------------------------------- the simulator's fleet across a restart */

/* The last line of the file starting with prefix and containing `has` (malloc'd), or NULL. */
static char *last_line(const char *path, const char *prefix, const char *has)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char line[2048], *found = NULL;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, prefix, strlen(prefix)) == 0 && strstr(line, has)) {
            free(found);
            found = strdup(line);
        }
    }
    fclose(f);
    return found;
}

struct line_wait {
    const char *path, *prefix, *has;
};

static bool line_there(void *arg)
{
    const struct line_wait *w = arg;
    char *l = last_line(w->path, w->prefix, w->has);
    free(l);
    return l != NULL;
}

/* key=value of a RESULT-style line, -1 if absent. */
static long field(const char *line, const char *key)
{
    char *k = it_strf(" %s=", key);
    const char *p = strstr(line, k);
    long v = p ? strtol(p + strlen(k), NULL, 10) : -1;
    free(k);
    return v;
}

static void test_sim_fleet_is_served_again_after_a_restart(void **state)
{
    (void)state;
    const char *args[] = { "--auto-register", NULL };
    struct gw_opts o = { .name = "it_storm-restart", .args = args };
    W.gw2 = gw_start(&o);
    char *out = it_strf("%s/it_storm-fleet.out", it_env("OCPPGW_TEST_TMP"));
    char *err = it_strf("%s/it_storm-fleet.err", it_env("OCPPGW_TEST_TMP"));
    FILE *fo = fopen(out, "w"), *fe = fopen(err, "w");
    assert_non_null(fo);
    assert_non_null(fe);
    char *port = it_strf("%d", gw_port(W.gw2)), *n = it_strf("%d", FLEET_CHARGERS);
    const char *argv[] = { it_env("OCPPGW_SIM"), "--host", "127.0.0.1", "--port", port, "--chargers", n,
                           "--mode", "serve", "--boot", "--prefix", "ist-fleet-", "--sources", "127.0.0.2-127.0.0.11",
                           "--source-addrs", "3", "--reconnect-min-ms", "200", "--reconnect-max-ms", "2000",
                           "--event-loop", "uv", NULL };     /* as scripts/restart-bench.sh runs it */
    pid_t pid = proc_spawn(argv, NULL, fileno(fo), fileno(fe));
    fclose(fo);
    fclose(fe);

    struct line_wait first = { out, "SERVED ", " episode=0 " };
    if (!wait_until(NULL, line_there, &first, IT_WAIT_MS)) {
        kill(pid, SIGKILL);
        fail_msg("ocppsim: no first SERVED line (%s, %s)", out, err);
    }
    assert_int_equal(gw_stop(W.gw2), 0);
    gw_restart(W.gw2);
    struct line_wait again = { out, "SERVED ", " episode=1 " };
    bool served = wait_until(NULL, line_there, &again, IT_WAIT_MS);
    kill(pid, SIGINT);
    int st = 0;
    waitpid(pid, &st, 0);
    if (!served)
        fail_msg("ocppsim: the fleet was not served again after the restart (%s, %s)", out, err);
    char *line = last_line(out, "SERVED ", " episode=1 ");
    assert_non_null(line);
    /* every charger lost its connection (a close frame: 1001), reconnected and was served */
    if (field(line, "chargers") != FLEET_CHARGERS || field(line, "closed") != FLEET_CHARGERS ||
        field(line, "dropped") != 0 || field(line, "reconnects") < FLEET_CHARGERS || field(line, "errors") != 0)
        fail_msg("after the restart: %s", line);
    /* the three source addresses of --source-addrs 3 */
    assert_int_equal(db_wait_int(IT_WAIT_MS, 3,
                                 "SELECT count(DISTINCT split_part(remote_addr, ':', 1)) FROM chargers"
                                 " WHERE id LIKE 'ist-fleet-%'"),
                     3);
    char *result = last_line(out, "RESULT ", " mode=serve ");
    if (!result || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || field(result, "served_lines") != 2)
        fail_msg("ocppsim exited %d: %s", st, result ? result : "(no RESULT line)");
    free(result);
    free(line);
    free(port);
    free(n);
    free(out);
    free(err);
}

int main(void)
{
#define T(f) cmocka_unit_test_teardown(f, it_test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_auto_registered_during_startup_reload_stay_connected),
        T(test_thousand_chargers_from_one_address_all_admitted),
        T(test_sim_fleet_is_served_again_after_a_restart),
    };
    return cmocka_run_group_tests_name("it_storm", tests, group_setup, NULL);
}
