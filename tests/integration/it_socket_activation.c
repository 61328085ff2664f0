/*
 * Integration: systemd socket activation (docs/operations.md, "Restarts
 * without refused connections"). The test process holds the listening
 * socket, as systemd's ocppgw.socket does, and passes it to each start of
 * the gateway (LISTEN_FDS): the gateway serves OCPP and REST on it; a
 * charger that connects while the gateway is stopping or not running is
 * neither refused nor answered by the stopping process, and the next
 * process admits it; a passed socket the configuration does not account
 * for stops the start with a clear line.
 *
 * Charger ids start with "isa-"; they are security profile 0 (the raw
 * client offers no credentials).
 */
#include "it.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db.h"
#include "gw.h"
#include "proc.h"
#include "rawws.h"

static struct gw *G;

static int teardown(void **state)
{
    (void)state;
    int rc = G && gw_free(G) != 0 ? -1 : 0;
    G = NULL;
    return rc;
}

static void add_charger(const char *id)
{
    db_exec("DELETE FROM chargers WHERE id = $1", id);
    db_exec("INSERT INTO chargers (id, security_profile) VALUES ($1, 0)", id);
}

static bool log_has(void *arg)
{
    return gw_log_contains(G, arg);
}


static bool is_connected(void *arg)
{
    const char *sp[] = { "SELECT count(*) FROM chargers WHERE id = $1 AND connected", arg, NULL };
    return db_try_int_equals(1, sp);
}

static void wait_connected(const char *id)
{
    if (!wait_until(NULL, is_connected, (void *)id, IT_WAIT_MS))
        fail_msg("%s not recorded as connected (log %s)", id, gw_log_path(G));
}

static void test_serves_ocpp_and_rest_on_the_passed_socket(void **state)
{
    (void)state;
    add_charger("isa-serve");
    struct gw_opts o = { .name = "it_sa-serve", .socket_activation = true };
    G = gw_start(&o);               /* waits for /healthz and /readyz on the passed socket */
    if (!gw_log_contains(G, "through a socket passed by systemd"))
        fail_msg("the gateway does not say it serves on the passed socket (log %s)", gw_log_path(G));
    int fd = raw_ws_open(gw_port(G), "isa-serve", 0);
    wait_connected("isa-serve");
    close(fd);
}

/*
 * The window this is for: a charger connecting while the gateway stops.
 * The stop is held open by a lock on the charger rows (the stop's last
 * write waits for it), the charger connects and sends its upgrade then;
 * the stopping process must leave it queued (answering it, even with a
 * 503, would be an error the charger sees). Then the lock goes, the
 * process exits, a new one starts on the same socket and admits it.
 */
static void test_a_charger_connecting_during_a_restart_is_admitted_by_the_next_process(void **state)
{
    (void)state;
    add_charger("isa-held");
    add_charger("isa-late");
    add_charger("isa-gap");
    struct gw_opts o = { .name = "it_sa-restart", .socket_activation = true };
    G = gw_start(&o);
    int held = raw_ws_open(gw_port(G), "isa-held", 0);
    wait_connected("isa-held");

    PGconn *lock = PQconnectdb(it_env("OCPPGW_TEST_DB"));
    assert_int_equal(PQstatus(lock), CONNECTION_OK);
    PQclear(PQexec(lock, "BEGIN"));
    PGresult *r = PQexec(lock, "SELECT id FROM chargers WHERE id LIKE 'isa-%' FOR UPDATE");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);

    gw_term(G);
    if (!wait_until(NULL, log_has, "shutting down", IT_WAIT_MS))
        fail_msg("no shutdown in the log after SIGTERM (log %s)", gw_log_path(G));
    int late = raw_ws_begin(gw_port(G), "isa-late", 0);    /* the stopping process still runs */

    PQclear(PQexec(lock, "COMMIT"));
    PQfinish(lock);
    assert_int_equal(gw_wait(G, 30000), 0);
    int gap = raw_ws_begin(gw_port(G), "isa-gap", 0);      /* no process at all */

    gw_restart(G);
    raw_ws_finish(late, "isa-late", IT_WAIT_MS);
    raw_ws_finish(gap, "isa-gap", IT_WAIT_MS);
    wait_connected("isa-late");
    wait_connected("isa-gap");
    close(held);
    close(late);
    close(gap);
}

/* Runs `serve --listen 127.0.0.1:listen_port` with sock passed as name; its exit status, its log in log. */
static int serve_with_socket(int listen_port, int sock, const char *name, char *log, size_t cap)
{
    char listen[64], path[512];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", listen_port);
    snprintf(path, sizeof path, "%s/it_sa-%d-%s.log", it_env("OCPPGW_TEST_TMP"), listen_port, name);
    const char *argv[] = { it_env("OCPPGW_BIN"), "serve", "--db", it_env("OCPPGW_TEST_DB"), "--listen", listen, NULL };
    FILE *f = fopen(path, "w+");
    assert_non_null(f);
    pid_t pid = proc_spawn_listening(argv, NULL, fileno(f), fileno(f), sock, name);
    int st = 0;
    int64_t end = it_now_ms() + IT_WAIT_MS;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (it_now_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            fclose(f);
            fail_msg("the gateway given a socket it cannot use kept running (log %s)", path);
        }
        usleep(20000);
    }
    rewind(f);
    size_t n = fread(log, 1, cap - 1, f);
    log[n] = '\0';
    fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_a_passed_socket_no_listener_accounts_for_stops_the_start(void **state)
{
    (void)state;
    char log[8192];
    int other = gw_free_port();
    int sock = gw_listen_socket(other);
    int st = serve_with_socket(gw_free_port(), sock, "unknown", log, sizeof log);
    close(sock);
    if (st == 0 || !strstr(log, "matches no listener"))
        fail_msg("a socket on another port than --listen: exit %d, log:\n%s", st, log);

    int not_listening = socket(AF_INET, SOCK_STREAM, 0);
    st = serve_with_socket(gw_free_port(), not_listening, "ocpp", log, sizeof log);
    close(not_listening);
    if (st == 0 || !strstr(log, "is not a listening TCP socket"))
        fail_msg("a socket that does not listen: exit %d, log:\n%s", st, log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_serves_ocpp_and_rest_on_the_passed_socket, teardown),
        cmocka_unit_test_teardown(test_a_charger_connecting_during_a_restart_is_admitted_by_the_next_process,
                                  teardown),
        cmocka_unit_test_teardown(test_a_passed_socket_no_listener_accounts_for_stops_the_start, teardown),
    };
    gw_migrate_once();
    return cmocka_run_group_tests_name("it_socket_activation", tests, NULL, NULL);
}
