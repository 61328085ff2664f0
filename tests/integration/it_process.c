/*
 * Integration: the gateway as an operator sees the process. Health and
 * readiness endpoints, the Prometheus metrics families, SIGTERM (exit 0,
 * websockets closed with 1001, what was acknowledged is stored), the
 * command line (bad flag, --version, --help), `ocppgw migrate` run twice,
 * and the start-up failures that must print one clear line and exit
 * non-zero (unreachable database, unknown config key, unreadable config, a
 * port in use, also through `make run`'s scripts/run.sh).
 *
 * Charger ids start with "ip-".
 */
#include "it.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <glob.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "calls.h"
#include "db.h"
#include "fixture.h"
#include "gw.h"
#include "http.h"
#include "proc.h"

static int group_setup(void **state)
{
    (void)state;
    db_add_charger("ip-metrics", NULL, 0);
    db_add_charger("ip-term", NULL, 0);
    db_add_charger("ip-json", NULL, 0);
    db_exec("DELETE FROM chargers WHERE id = 'ip-nobody'");
    db_add_token("ip-tag", "Accepted", NULL, NULL);
    struct gw_opts o = { .name = "it_process" };
    W.gw = gw_start(&o);
    return 0;
}

static bool contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; hay && *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return true;
    return false;
}

/* Runs the gateway binary with these arguments (after argv[0]) and waits. */
static void run_gw(const char *const *args, int timeout_ms, struct proc_result *r)
{
    const char *argv[24];
    int n = 0;
    argv[n++] = it_env("OCPPGW_BIN");
    for (const char *const *a = args; *a && n < 23; a++)
        argv[n++] = *a;
    argv[n] = NULL;
    const char *env[] = { "DATABASE_URL", "OCPPGW_LISTEN", "OCPPGW_API_LISTEN", "OCPPGW_LOG_LEVEL", NULL };
    proc_run(argv, env, timeout_ms, r);
}

static char *write_config(const char *name, const char *text)
{
    char *path = it_strf("%s/it_process-%s.conf", it_env("OCPPGW_TEST_TMP"), name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* A start-up failure: non-zero exit, and a line on stderr naming the problem (any of the words). */
static void assert_startup_failure(const struct proc_result *r, const char *what, const char *const *words)
{
    if (r->status == -1)
        fail_msg("%s: still running after the deadline (expected to exit non-zero)", what);
    if (r->status == 0)
        fail_msg("%s: exit status 0", what);
    if (proc_count_lines(r->err) < 1)
        fail_msg("%s: exit %d with nothing on stderr", what, r->status);
    for (const char *const *w = words; *w; w++)
        if (contains_ci(r->err, *w))
            return;
    fail_msg("%s: stderr does not name the problem: %s", what, r->err);
}

/* ---------------------------------------------------------------- endpoints */

static void test_healthz_and_readyz(void **state)
{
    (void)state;
    char *body = NULL;
    assert_int_equal(http_get(gw_port(W.gw), "/healthz", &body), 200);
    free(body);
    assert_int_equal(http_get(gw_port(W.gw), "/readyz", &body), 200);
    free(body);
}

struct metrics_probe {
    const char *name;
    const char *labels;
    double at_least;
};

static bool metric_reaches(void *arg)
{
    struct metrics_probe *p = arg;
    return metrics_get(gw_port(W.gw), p->name, p->labels) >= p->at_least;
}

static void test_metrics_families(void **state)
{
    (void)state;
    struct sim_charger *c = it_connect(W.sim, "ip-metrics", NULL);
    it_boot(c);
    assert_true(it_heartbeat_ok(c));
    char *code = it_err(c, "NoSuchAction", "{}");
    assert_string_equal(code, "NotImplemented");
    free(code);
    char ts[32];
    char *start = it_start_payload(1, "ip-tag", 0, it_iso_time(ts, -10));
    cJSON_Delete(it_ok(c, "StartTransaction", start));      /* a durable write: one committed batch at least */
    free(start);

    struct metrics_probe connected = { "ocppgw_connected_chargers", NULL, 1 };
    assert_true(wait_until(W.sim, metric_reaches, &connected, IT_WAIT_MS));

    char *body = NULL;
    assert_int_equal(http_get(gw_port(W.gw), "/metrics", &body), 200);
    const struct {
        const char *name, *kind;
    } families[] = {
        { "ocppgw_connected_chargers", "gauge" },     { "ocppgw_frames_total", "counter" },
        { "ocppgw_callerrors_total", "counter" },     { "ocppgw_auth_failures_total", "counter" },
        { "ocppgw_db_queue_depth", "gauge" },         { "ocppgw_db_batch_size", "histogram" },
        { "ocppgw_db_commit_seconds", "histogram" },
    };
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        if (!metric_has_family(body, families[i].name, families[i].kind))
            fail_msg("/metrics: no \"# TYPE %s %s\"", families[i].name, families[i].kind);

    if (metric_value(body, "ocppgw_frames_total", "dir=\"in\",action=\"Heartbeat\"") < 1)
        fail_msg("/metrics: no ocppgw_frames_total{dir=\"in\",action=\"Heartbeat\"} >= 1 after a Heartbeat");
    if (metric_value(body, "ocppgw_callerrors_total", "code=\"NotImplemented\"") < 1)
        fail_msg("/metrics: no ocppgw_callerrors_total{code=\"NotImplemented\"} >= 1 after an unknown action");
    if (metric_value(body, "ocppgw_db_batch_size_count", NULL) < 1)
        fail_msg("/metrics: ocppgw_db_batch_size_count < 1 after a committed StartTransaction");
    if (metric_value(body, "ocppgw_db_commit_seconds_bucket", "le=\"+Inf\"") < 1)
        fail_msg("/metrics: no ocppgw_db_commit_seconds_bucket{le=\"+Inf\"} >= 1");
    if (metric_value(body, "ocppgw_db_queue_depth", NULL) < 0)
        fail_msg("/metrics: no ocppgw_db_queue_depth sample");
    free(body);
    sim_disconnect(c);
}

/* ---------------------------------------------------------------- signals */

static void test_sigterm_exits_0_and_closes_1001(void **state)
{
    (void)state;
    struct gw_opts o = { .name = "it_process-term" };
    W.gw2 = gw_start(&o);
    W.sim2 = it_sim(gw_port(W.gw2));
    struct sim_charger *c = it_connect(W.sim2, "ip-term", NULL);
    it_boot(c);
    char ts[32];
    it_iso_time(ts, -20);
    char *start = it_start_payload(3, "ip-tag", 777, ts);
    char *frame = it_strf("[2,\"ip-term-start\",\"StartTransaction\",%s]", start);
    assert_int_equal(sim_send_text(c, frame, strlen(frame)), 0);
    sim_service(W.sim2, 1);
    gw_term(W.gw2);

    /* whatever is answered before the close must be stored */
    bool answered = false;
    for (;;) {
        cJSON *f = it_recv(c, IT_WAIT_MS);
        if (!f)
            break;
        if (frame_type(f) == 3 && strcmp(frame_id(f), "ip-term-start") == 0)
            answered = true;
        cJSON_Delete(f);
    }
    if (!sim_wait_closed(c, IT_WAIT_MS))
        fail_msg("SIGTERM: the websocket was not closed");
    assert_int_equal(sim_close_code(c), 1001);
    int st = gw_wait(W.gw2, 20000);
    assert_int_equal(st, 0);
    if (answered)
        assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE charger_id = 'ip-term' AND connector_id = 3"
                                " AND meter_start = 777 AND start_time = $1::timestamptz",
                                ts),
                         1);
    free(frame);
    free(start);
    sim_disconnect(c);
}

static void test_sigint_exits_0(void **state)
{
    (void)state;
    struct gw_opts o = { .name = "it_process-int" };
    W.gw2 = gw_start(&o);
    gw_signal(W.gw2, SIGINT);
    assert_int_equal(gw_wait(W.gw2, 20000), 0);
}

/* ---------------------------------------------------------------- logs */

static void test_json_logs_name_the_charger(void **state)
{
    (void)state;
    const char *args[] = { "--log-format", "json", NULL };
    struct gw_opts o = { .name = "it_process-json", .args = args };
    W.gw2 = gw_start(&o);
    W.sim2 = it_sim(gw_port(W.gw2));
    struct sim_charger *c = it_connect_booted(W.sim2, "ip-json", NULL);
    sim_disconnect(c);
    struct sim_charger_opts unknown = { .id = "ip-nobody" };
    int st;
    assert_null(it_try_connect(W.sim2, &unknown, &st, NULL));
    assert_int_equal(st, 404);
    assert_int_equal(gw_stop(W.gw2), 0);

    FILE *f = fopen(gw_log_path(W.gw2), "r");
    assert_non_null(f);
    char line[8192];
    int lines = 0, naming = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '\n')
            continue;
        lines++;
        cJSON *j = cJSON_Parse(line);
        if (!cJSON_IsObject(j)) {
            fclose(f);
            fail_msg("--log-format json: a log line is not a JSON object: %s", line);
        }
        const char *ch = js(j, "charger");
        naming += ch && (strcmp(ch, "ip-json") == 0 || strcmp(ch, "ip-nobody") == 0);
        cJSON_Delete(j);
    }
    fclose(f);
    assert_true(lines > 0);
    if (naming < 2)
        fail_msg("--log-format json: %d lines with \"charger\" naming ip-json or ip-nobody (a connect and a refusal)",
                 naming);
}

/* ---------------------------------------------------------------- configuration layers */

struct spawned {
    pid_t pid;
    int port;
};

/* Waits for GET path on port to answer 200; false if the process exited or 20 s passed. */
static bool answers_200(pid_t pid, int port, const char *path)
{
    int64_t end = it_now_ms() + 20000;
    while (it_now_ms() < end) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            return false;
        if (http_get(port, path, NULL) == 200)
            return true;
        it_pause(NULL, 100);
    }
    return false;
}

static int stop_spawned(pid_t pid)
{
    kill(pid, SIGTERM);
    int st = 0;
    int64_t end = it_now_ms() + 20000;
    while (waitpid(pid, &st, WNOHANG) != pid) {
        if (it_now_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        it_pause(NULL, 20);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_environment_overrides_config_flags_override_both(void **state)
{
    (void)state;
    int port_conf = gw_free_port(), port_env = gw_free_port(), port_flag = gw_free_port();
    char *bad_db = it_strf("host=127.0.0.1 port=%d dbname=ocppgw user=ocppgw connect_timeout=3", gw_free_port());
    char *text = it_strf("[server]\nlisten = 127.0.0.1:%d\n[database]\nurl = %s\n", port_conf, bad_db);
    char *conf = write_config("layers", text);
    char *log = it_strf("%s/it_process-layers.log", it_env("OCPPGW_TEST_TMP"));
    FILE *lf = fopen(log, "a");
    assert_non_null(lf);

    /* environment over the file: listener and database */
    char *env_listen = it_strf("OCPPGW_LISTEN=127.0.0.1:%d", port_env);
    char *env_db = it_strf("DATABASE_URL=%s", it_env("OCPPGW_TEST_DB"));
    const char *env1[] = { env_listen, env_db, "OCPPGW_API_LISTEN", "OCPPGW_LOG_LEVEL", NULL };
    const char *argv1[] = { it_env("OCPPGW_BIN"), "serve", "--config", conf, NULL };
    pid_t pid = proc_spawn(argv1, env1, -1, fileno(lf));
    bool up = answers_200(pid, port_env, "/healthz");
    bool ready = up && answers_200(pid, port_env, "/readyz");     /* the environment's database */
    int on_conf = http_get(port_conf, "/healthz", NULL);
    int st1 = stop_spawned(pid);
    if (!up)
        fail_msg("OCPPGW_LISTEN / DATABASE_URL over the config file: nothing serves on the environment's port (log %s)",
                 log);
    assert_true(ready);
    assert_int_equal(on_conf, -1);
    assert_int_equal(st1, 0);

    /* flags over the environment */
    char *flag_listen = it_strf("127.0.0.1:%d", port_flag);
    char *env_bad_db = it_strf("DATABASE_URL=%s", bad_db);
    const char *env2[] = { env_listen, env_bad_db, "OCPPGW_API_LISTEN", "OCPPGW_LOG_LEVEL", NULL };
    const char *argv2[] = { it_env("OCPPGW_BIN"), "serve", "--config", conf, "--listen", flag_listen,
                            "--db", it_env("OCPPGW_TEST_DB"), NULL };
    pid = proc_spawn(argv2, env2, -1, fileno(lf));
    up = answers_200(pid, port_flag, "/healthz");
    ready = up && answers_200(pid, port_flag, "/readyz");         /* the flag's database */
    int on_env = http_get(port_env, "/healthz", NULL);
    int st = stop_spawned(pid);
    if (!up)
        fail_msg("--listen / --db over the environment: nothing serves on the flag's port (log %s)", log);
    assert_true(ready);
    assert_int_equal(on_env, -1);
    assert_int_equal(st, 0);
    fclose(lf);
    free(bad_db);
    free(text);
    free(conf);
    free(log);
    free(env_listen);
    free(env_db);
    free(flag_listen);
    free(env_bad_db);
}

/* ---------------------------------------------------------------- command line */

static void test_bad_flag_one_line_nonzero(void **state)
{
    (void)state;
    const char *const cases[][3] = {
        { "serve", "--no-such-flag", NULL },
        { "--no-such-flag", NULL, NULL },
        { "no-such-command", NULL, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct proc_result r;
        run_gw(cases[i], 20000, &r);
        if (r.status == 0 || r.status == -1)
            fail_msg("ocppgw %s %s: exit status %d, expected non-zero", cases[i][0], cases[i][1] ? cases[i][1] : "",
                     r.status);
        if (proc_count_lines(r.err) != 1)
            fail_msg("ocppgw %s %s: expected one line on stderr, got: %s", cases[i][0],
                     cases[i][1] ? cases[i][1] : "", r.err);
        proc_result_free(&r);
    }
}

static void test_version_and_help(void **state)
{
    (void)state;
    struct proc_result r;
    const char *version[] = { "--version", NULL };
    run_gw(version, 10000, &r);
    assert_int_equal(r.status, 0);
    bool digit = false;
    for (const char *p = r.out; *p; p++)
        digit |= isdigit((unsigned char)*p) != 0;
    if (!digit || !contains_ci(r.out, "ocppgw"))
        fail_msg("--version printed \"%s\" (expected \"ocppgw <version>\" on stdout)", r.out);
    proc_result_free(&r);

    const char *help[] = { "--help", NULL };
    run_gw(help, 10000, &r);
    assert_int_equal(r.status, 0);
    if (!strstr(r.out, "serve") || !strstr(r.out, "migrate"))
        fail_msg("--help does not mention serve and migrate: %s", r.out);
    proc_result_free(&r);
}

static void test_migrate_twice_applies_nothing_new(void **state)
{
    (void)state;
    gw_migrate_once();
    int64_t before = db_int("SELECT count(*) FROM schema_migrations");
    assert_true(before >= 1);
    glob_t g;
    if (glob("sql/*.sql", 0, NULL, &g) == 0) {
        assert_int_equal(before, (int64_t)g.gl_pathc);   /* each file applied once */
        globfree(&g);
    }
    for (int i = 0; i < 2; i++) {
        struct proc_result r;
        const char *args[] = { "migrate", "--db", it_env("OCPPGW_TEST_DB"), NULL };
        run_gw(args, 60000, &r);
        if (r.status != 0)
            fail_msg("ocppgw migrate (again): exit %d: %s", r.status, r.err);
        proc_result_free(&r);
        assert_int_equal(db_int("SELECT count(*) FROM schema_migrations"), before);
    }
    /* the schema is intact */
    assert_true(db_int("SELECT count(*) FROM sessions") >= 0);
}

/* ---------------------------------------------------------------- start-up failures */

static void test_unreachable_database_at_start(void **state)
{
    (void)state;
    char *db = it_strf("host=127.0.0.1 port=%d dbname=ocppgw user=ocppgw connect_timeout=3", gw_free_port());
    char *listen = it_strf("127.0.0.1:%d", gw_free_port());
    char *conf = write_config("nodb", "[log]\nlevel = info\n");
    const char *words[] = { "database", "connect", "postgres", "db", NULL };

    struct proc_result r;
    const char *serve[] = { "serve", "--config", conf, "--db", db, "--listen", listen, NULL };
    run_gw(serve, 60000, &r);
    assert_startup_failure(&r, "serve with an unreachable database", words);
    proc_result_free(&r);

    const char *migrate[] = { "migrate", "--db", db, NULL };
    run_gw(migrate, 60000, &r);
    assert_startup_failure(&r, "migrate with an unreachable database", words);
    proc_result_free(&r);
    free(db);
    free(listen);
    free(conf);
}

static void test_bad_config_stops_start(void **state)
{
    (void)state;
    char *listen = it_strf("127.0.0.1:%d", gw_free_port());
    char *conf = write_config("badkey", "[ocpp]\nno_such_key = 1\n");
    struct proc_result r;
    const char *serve[] = { "serve", "--config", conf, "--db", it_env("OCPPGW_TEST_DB"), "--listen", listen, NULL };
    run_gw(serve, 30000, &r);
    const char *key_words[] = { "no_such_key", NULL };
    assert_startup_failure(&r, "config with an unknown key", key_words);
    proc_result_free(&r);

    char *bad_value = write_config("badvalue", "[ocpp]\nheartbeat_interval = soon\n");
    const char *serve2[] = { "serve", "--config", bad_value, "--db", it_env("OCPPGW_TEST_DB"), "--listen", listen, NULL };
    run_gw(serve2, 30000, &r);
    const char *value_words[] = { "heartbeat_interval", NULL };
    assert_startup_failure(&r, "config with a value that does not parse", value_words);
    proc_result_free(&r);

    const char *serve3[] = { "serve", "--config", "/nonexistent/ocppgw.conf", "--db", it_env("OCPPGW_TEST_DB"),
                             "--listen", listen, NULL };
    run_gw(serve3, 30000, &r);
    const char *path_words[] = { "/nonexistent/ocppgw.conf", NULL };
    assert_startup_failure(&r, "unreadable config", path_words);
    proc_result_free(&r);
    free(listen);
    free(conf);
    free(bad_value);
}

/* A listening socket on a free 127.0.0.1 port (the port in *port): "another ocppgw". */
static int hold_port(int *port)
{
    for (int tries = 0; tries < 20; tries++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)gw_free_port()) };
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, 4) == 0) {
            *port = ntohs(sa.sin_port);
            return fd;
        }
        close(fd);
    }
    fail_msg("could not hold a port");
    return -1;
}

/*
 * Issue 10: a port in use is one clear line, naming the address, the reason
 * and how to choose another, before anything is served; no lws error line,
 * no start-up banner; exit non-zero.
 */
static void test_port_in_use_one_clear_line(void **state)
{
    (void)state;
    gw_migrate_once();
    int port;
    int fd = hold_port(&port);
    char *listen = it_strf("127.0.0.1:%d", port);
    char *free_listen = it_strf("127.0.0.1:%d", gw_free_port());
    const struct {
        const char *flag, *value, *hint;
    } cases[] = {
        { "--listen", listen, "(another ocppgw? choose another with --listen or OCPPGW_LISTEN)" },
        { "--api-listen", listen, "choose another with --api-listen or OCPPGW_API_LISTEN)" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[] = { "serve", "--db", it_env("OCPPGW_TEST_DB"), "--listen", i ? free_listen : listen,
                               cases[i].flag, cases[i].value, NULL };
        struct proc_result r;
        run_gw(args, 30000, &r);
        char *line = it_strf("ocppgw: cannot listen on %s: address already in use", listen);
        if (r.status <= 0)
            fail_msg("%s on a port in use: exit status %d, expected non-zero", cases[i].flag, r.status);
        if (!strstr(r.err, line) || !strstr(r.err, cases[i].hint))
            fail_msg("%s on a port in use: stderr lacks \"%s ... %s\": %s", cases[i].flag, line, cases[i].hint, r.err);
        if (strstr(r.err, "lws") || strstr(r.err, "serving OCPP") || proc_count_lines(r.err) != 1)
            fail_msg("%s on a port in use: expected that one line alone on stderr, got: %s", cases[i].flag, r.err);
        free(line);
        proc_result_free(&r);
    }
    close(fd);
    free(listen);
    free(free_listen);
}

/* The same through `make run` (scripts/run.sh): the line comes before the
 * banner, which with its admin key is never printed. */
static void test_make_run_port_in_use_no_banner(void **state)
{
    (void)state;
    gw_migrate_once();
    int port;
    int fd = hold_port(&port);
    char bin[1024];
    snprintf(bin, sizeof bin, "%s", it_env("OCPPGW_BIN"));
    char *build = it_strf("BUILD=%s", dirname(bin));
    char *var = it_strf("%s/it_process-run-var", it_env("OCPPGW_TEST_TMP"));
    char *env_var = it_strf("OCPPGW_VAR=%s", var);
    char *env_db = it_strf("DATABASE_URL=%s", it_env("OCPPGW_TEST_DB"));
    char *env_listen = it_strf("OCPPGW_LISTEN=127.0.0.1:%d", port);
    const char *env[] = { build, env_var, env_db, env_listen, "OCPPGW_LOG_LEVEL", NULL };
    const char *argv[] = { "scripts/run.sh", NULL };
    struct proc_result r;
    proc_run(argv, env, 60000, &r);
    char *line = it_strf("ocppgw: cannot listen on 127.0.0.1:%d: address already in use (another ocppgw?", port);
    if (r.status <= 0)
        fail_msg("scripts/run.sh on a port in use: exit status %d, expected non-zero", r.status);
    if (!strstr(r.err, line) || !strstr(r.err, "OCPPGW_LISTEN"))
        fail_msg("scripts/run.sh on a port in use: stderr lacks \"%s ... OCPPGW_LISTEN\": %s", line, r.err);
    if (strstr(r.out, "Admin key") || strstr(r.out, "development gateway") || strstr(r.err, "Admin key"))
        fail_msg("scripts/run.sh on a port in use printed the banner: %s", r.out);
    char *keyfile = it_strf("%s/dev-api-key", var);
    assert_int_equal(access(keyfile, F_OK), -1);        /* no key made for a gateway that cannot start */
    proc_result_free(&r);
    close(fd);
    free(build);
    free(var);
    free(env_var);
    free(env_db);
    free(env_listen);
    free(line);
    free(keyfile);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, it_test_setup, it_test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_healthz_and_readyz),
        T(test_metrics_families),
        T(test_sigterm_exits_0_and_closes_1001),
        T(test_sigint_exits_0),
        T(test_json_logs_name_the_charger),
        T(test_environment_overrides_config_flags_override_both),
        T(test_bad_flag_one_line_nonzero),
        T(test_version_and_help),
        T(test_migrate_twice_applies_nothing_new),
        T(test_unreachable_database_at_start),
        T(test_bad_config_stops_start),
        T(test_port_in_use_one_clear_line),
        T(test_make_run_port_in_use_no_banner),
    };
#undef T
    return cmocka_run_group_tests_name("it_process", tests, group_setup, it_group_teardown);
}
