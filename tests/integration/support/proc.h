/*
 * Running a command to completion with its output captured: the ocppgw CLI
 * (migrate, charger add, --version, bad flags) and scripts/pg.sh.
 */
#ifndef OCPPGW_IT_PROC_H
#define OCPPGW_IT_PROC_H

#include <sys/types.h>

struct proc_result {
    int status;         /* exit status; 128 + signal if killed; -1 on timeout or spawn failure */
    char *out;          /* stdout, NUL-terminated, caller frees (proc_result_free) */
    char *err;          /* stderr, likewise */
};

/*
 * Runs argv (argv[0] a path; NULL-terminated) with stdin from /dev/null,
 * waits at most timeout_ms (then SIGKILL, status -1). env_extra: optional
 * NULL-terminated list of "NAME=value" to set and "NAME" to unset.
 */
void proc_run(const char *const *argv, const char *const *env_extra, int timeout_ms,
              struct proc_result *r);
void proc_result_free(struct proc_result *r);

/*
 * Runs argv like proc_run (60 s) and fails the running test, with the exit
 * status and stderr, unless it exits 0. `what` names it in the message.
 */
void proc_run_ok(const char *const *argv, const char *what);

/*
 * Forks and execs argv[0] with stdin from /dev/null and stdout/stderr on
 * out_fd/err_fd (-1: /dev/null); no other descriptor of ours is inherited,
 * and the child gets SIGKILL when the test process dies. env_extra as in
 * proc_run. Returns the pid.
 */
pid_t proc_spawn(const char *const *argv, const char *const *env_extra, int out_fd, int err_fd);
/*
 * proc_spawn, the child also given listen_fd as its fd 3 the way systemd's
 * socket activation passes a socket (LISTEN_FDS=1, LISTEN_PID, and
 * LISTEN_FDNAMES=listen_name or "unknown"). listen_fd < 0: proc_spawn.
 */
pid_t proc_spawn_listening(const char *const *argv, const char *const *env_extra, int out_fd, int err_fd,
                           int listen_fd, const char *listen_name);

/* Number of non-empty lines in s. */
int proc_count_lines(const char *s);

#endif
