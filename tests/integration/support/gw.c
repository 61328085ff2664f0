/*
 * Spawning the real gateway for integration tests. See gw.h.
 *
 * The config file carries the listener and the database (both also given as
 * flags, which override the file), log level info (OCPPGW_TEST_LOG_LEVEL
 * overrides) and whatever the test appends. Readiness is what an operator
 * would poll: /healthz and then /readyz answering 200.
 */
#include "gw.h"

#include "it.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http.h"
#include "proc.h"

#define GW_MAX_ARGS 32

struct gw {
    pid_t pid;                      /* 0 when not running */
    int port;
    char name[64];
    char conf_path[512];
    char log_path[512];
    char *args[GW_MAX_ARGS];        /* extra flags, owned */
    int nargs;
    int listen_fd;                  /* socket activation: the socket passed to every start; -1 none */
};

void gw_migrate_once(void)
{
    static bool done;
    if (done)
        return;
    const char *argv[] = { it_env("OCPPGW_BIN"), "migrate", "--db", it_env("OCPPGW_TEST_DB"), NULL };
    proc_run_ok(argv, "ocppgw migrate");
    done = true;
}

int gw_listen_socket(int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 4096) != 0)
        fail_msg("cannot listen on 127.0.0.1:%d: %s", port, strerror(errno));
    return fd;
}

int gw_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        abort();
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        abort();
    close(fd);
    return ntohs(a.sin_port);
}

static void print_log_tail(const struct gw *g)
{
    FILE *f = fopen(g->log_path, "r");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > 4000 ? size - 4000 : 0, SEEK_SET);
    char buf[4001];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    fprintf(stderr, "---- tail of %s ----\n%s\n---- end ----\n", g->log_path, buf);
}

static void spawn(struct gw *g)
{
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", g->port);
    const char *argv[GW_MAX_ARGS + 12];
    int n = 0;
    argv[n++] = it_env("OCPPGW_BIN");
    argv[n++] = "serve";
    argv[n++] = "--config";
    argv[n++] = g->conf_path;
    argv[n++] = "--db";
    argv[n++] = it_env("OCPPGW_TEST_DB");
    argv[n++] = "--listen";
    argv[n++] = listen;
    for (int i = 0; i < g->nargs; i++)
        argv[n++] = g->args[i];
    argv[n] = NULL;

    int logfd = open(g->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0)
        fail_msg("cannot open %s: %s", g->log_path, strerror(errno));
    /* the environment must not override what the test configured */
    const char *unset[] = { "DATABASE_URL", "OCPPGW_LISTEN", "OCPPGW_API_LISTEN", "OCPPGW_LOG_LEVEL", NULL };
    pid_t pid = proc_spawn_listening(argv, unset, -1, logfd, g->listen_fd, "ocpp");
    close(logfd);
    g->pid = pid;
}

bool gw_running(struct gw *g)
{
    if (!g->pid)
        return false;
    int st;
    pid_t w = waitpid(g->pid, &st, WNOHANG);
    if (w == g->pid) {
        g->pid = 0;
        return false;
    }
    return true;
}

/* Waits for /healthz then /readyz to answer 200; fails the test if not within 20 s. */
static void wait_up(struct gw *g)
{
    int64_t end = it_now_ms() + 20000;
    const char *paths[] = { "/healthz", "/readyz" };
    for (int i = 0; i < 2; i++) {
        int status = -1;
        for (;;) {
            if (!gw_running(g)) {
                print_log_tail(g);
                fail_msg("gateway %s exited during start-up (log %s)", g->name, g->log_path);
            }
            status = http_get(g->port, paths[i], NULL);
            if (status == 200)
                break;
            if (it_now_ms() >= end) {
                print_log_tail(g);
                fail_msg("gateway %s: GET %s answered %d, not 200, within 20 s (log %s)", g->name,
                         paths[i], status, g->log_path);
            }
            it_pause(NULL, 100);
        }
    }
}

struct gw *gw_start(const struct gw_opts *o)
{
    gw_migrate_once();
    static int seq;
    struct gw *g = calloc(1, sizeof *g);
    if (!g)
        abort();
    snprintf(g->name, sizeof g->name, "%s-%d-%d", o && o->name ? o->name : "gw", (int)getpid(), ++seq);
    g->port = gw_free_port();
    g->listen_fd = o && o->socket_activation ? gw_listen_socket(g->port) : -1;
    const char *tmp = it_env("OCPPGW_TEST_TMP");
    snprintf(g->conf_path, sizeof g->conf_path, "%s/%s.conf", tmp, g->name);
    snprintf(g->log_path, sizeof g->log_path, "%s/%s.log", tmp, g->name);
    for (const char *const *a = o ? o->args : NULL; a && *a && g->nargs < GW_MAX_ARGS; a++)
        g->args[g->nargs++] = strdup(*a);

    const char *level = getenv("OCPPGW_TEST_LOG_LEVEL");
    FILE *f = fopen(g->conf_path, "w");
    if (!f)
        fail_msg("cannot write %s: %s", g->conf_path, strerror(errno));
    fprintf(f,
            "; written by tests/integration/support/gw.c\n"
            "[server]\nlisten = 127.0.0.1:%d\n\n"
            "[database]\nurl = %s\n\n"
            "[log]\nlevel = %s\nformat = text\n\n"
            "; fixtures dated long ago (status history, commands, samples of 2025) are not the\n"
            "; retention job's to delete; it_retention sets its own values after these\n"
            "[retention]\nmeter_values = never\nstatus_history = never\ncommands = never\n\n"
            "%s\n",
            g->port, it_env("OCPPGW_TEST_DB"), level && *level ? level : "info",
            o && o->ini ? o->ini : "");
    fclose(f);

    spawn(g);
    wait_up(g);
    return g;
}

void gw_signal(struct gw *g, int sig)
{
    if (g->pid)
        kill(g->pid, sig);
}

void gw_term(struct gw *g)
{
    gw_signal(g, SIGTERM);
}

int gw_wait(struct gw *g, int timeout_ms)
{
    if (!g->pid)
        return -1;
    int64_t end = it_now_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t w = waitpid(g->pid, &st, WNOHANG);
        if (w == g->pid) {
            g->pid = 0;
            if (WIFEXITED(st))
                return WEXITSTATUS(st);
            return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
        }
        if (it_now_ms() >= end) {
            kill(g->pid, SIGKILL);
            waitpid(g->pid, &st, 0);
            g->pid = 0;
            return -1;
        }
        it_pause(NULL, 20);
    }
}

int gw_stop(struct gw *g)
{
    gw_term(g);
    return gw_wait(g, 20000);
}

void gw_kill9(struct gw *g)
{
    if (!g->pid)
        return;
    kill(g->pid, SIGKILL);
    int st;
    waitpid(g->pid, &st, 0);
    g->pid = 0;
}

void gw_restart(struct gw *g)
{
    if (g->pid)
        (void)gw_stop(g);
    spawn(g);
    wait_up(g);
}

int gw_free(struct gw *g)
{
    if (!g)
        return 0;
    int st = 0;
    if (g->pid && (st = gw_stop(g)) != 0)
        fprintf(stderr, "gateway %s did not stop cleanly: exit status %d (log %s)\n", g->name, st,
                g->log_path);
    for (int i = 0; i < g->nargs; i++)
        free(g->args[i]);
    if (g->listen_fd >= 0)
        close(g->listen_fd);
    free(g);
    return st;
}

int gw_port(const struct gw *g)
{
    return g->port;
}

const char *gw_log_path(const struct gw *g)
{
    return g->log_path;
}

pid_t gw_pid(const struct gw *g)
{
    return g->pid;
}

bool gw_log_contains(const struct gw *g, const char *s)
{
    FILE *f = fopen(g->log_path, "r");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, s) != NULL;
    fclose(f);
    return found;
}
