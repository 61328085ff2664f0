/*
 * The real gateway as a child process: build/ocppgw (OCPPGW_BIN) serving on
 * a free 127.0.0.1 port against the test database, its stderr in a log file
 * under OCPPGW_TEST_TMP. The child gets SIGKILL if the test process dies, so
 * a crashed test leaves no gateway behind.
 */
#ifndef OCPPGW_IT_GW_H
#define OCPPGW_IT_GW_H

#include <stdbool.h>
#include <sys/types.h>

struct gw;

struct gw_opts {
    const char *name;               /* tag for the config and log file names */
    const char *ini;                /* extra INI text appended to the config ("[ocpp]\nmax_frame = 4096\n") */
    const char *const *args;        /* extra `serve` flags, NULL-terminated; NULL = none */
    /*
     * Socket activation: the test process listens on the port (and keeps
     * the socket until gw_free, across gw_restart: connections made while
     * no gateway runs wait in its queue) and passes it to every start of
     * the gateway as systemd would, named "ocpp".
     */
    bool socket_activation;
};

/* Runs `ocppgw migrate --db $OCPPGW_TEST_DB` once per process; fails the test if it fails. */
void gw_migrate_once(void);

/*
 * Migrates, writes the config, starts `ocppgw serve --config F --db ...
 * --listen 127.0.0.1:PORT [args]` and waits (20 s) until GET /healthz and
 * /readyz answer 200. Fails the test (with the log's tail on stderr) if it
 * does not come up.
 */
struct gw *gw_start(const struct gw_opts *o);

/* Sends SIGTERM and does not wait. */
void gw_term(struct gw *g);
/* Sends that signal and does not wait. */
void gw_signal(struct gw *g, int sig);
/*
 * Waits for the process to exit (at most timeout_ms; then SIGKILL).
 * Returns the exit status, 128 + signal if killed by a signal, -1 on timeout.
 */
int gw_wait(struct gw *g, int timeout_ms);
/* SIGTERM and wait 20 s: the exit status as gw_wait. */
int gw_stop(struct gw *g);
/* SIGKILL and reap. */
void gw_kill9(struct gw *g);
/* Starts the stopped or killed gateway again: same port, same config; waits as gw_start. */
void gw_restart(struct gw *g);
/* Whether the process is still running (reaps it if it exited). */
bool gw_running(struct gw *g);
/*
 * Stops the gateway if running (SIGTERM, then SIGKILL) and frees. NULL is
 * fine. Returns its exit status (0 when clean or already stopped): a
 * sanitizer report or a leak at exit makes it non-zero, and the callers in
 * fixture.c turn that into a failed teardown.
 */
int gw_free(struct gw *g);

int gw_port(const struct gw *g);
/* Borrowed path of the gateway's stderr log. */
const char *gw_log_path(const struct gw *g);
pid_t gw_pid(const struct gw *g);
/* Whether the log contains s (for diagnostics; the tests assert on behaviour). */
bool gw_log_contains(const struct gw *g, const char *s);

/* A socket listening on 127.0.0.1:port (backlog 4096), as systemd's ocppgw.socket would hold it. */
int gw_listen_socket(int port);

/* A 127.0.0.1 TCP port nothing listens on right now. */
int gw_free_port(void);

#endif
