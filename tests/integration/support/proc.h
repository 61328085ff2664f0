/*
 * Running a command to completion with its output captured: the ocppgw CLI
 * (migrate, charger add, --version, bad flags) and scripts/pg.sh.
 */
#ifndef OCPPGW_IT_PROC_H
#define OCPPGW_IT_PROC_H

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

/* Number of non-empty lines in s. */
int proc_count_lines(const char *s);

#endif
