/*
 * Runs a command to completion with stdout and stderr captured in
 * anonymous temporary files (no pipe to drain, no deadlock). The child dies
 * with the test process (PR_SET_PDEATHSIG) so a crashed test leaves nothing
 * running. See proc.h.
 */
#include "proc.h"

#include "it.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *slurp(FILE *f)
{
    fflush(f);
    long n = ftell(f);
    if (n < 0)
        n = 0;
    char *s = malloc((size_t)n + 1);
    if (!s)
        abort();
    rewind(f);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    return s;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

pid_t proc_spawn(const char *const *argv, const char *const *env_extra, int out_fd, int err_fd)
{
    return proc_spawn_listening(argv, env_extra, out_fd, err_fd, -1, NULL);
}

pid_t proc_spawn_listening(const char *const *argv, const char *const *env_extra, int out_fd, int err_fd,
                           int listen_fd, const char *listen_name)
{
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid > 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0)
        dup2(devnull, 0);
    dup2(out_fd >= 0 ? out_fd : devnull, 1);
    dup2(err_fd >= 0 ? err_fd : devnull, 2);
    if (listen_fd >= 0) {       /* sd_listen_fds(3): the socket as fd 3, for this process */
        int high = fcntl(listen_fd, F_DUPFD, 100);
        dup2(high, 3);
        char self[16];
        snprintf(self, sizeof self, "%d", (int)getpid());
        setenv("LISTEN_FDS", "1", 1);
        setenv("LISTEN_PID", self, 1);
        setenv("LISTEN_FDNAMES", listen_name && *listen_name ? listen_name : "unknown", 1);
    }
    close_range(listen_fd >= 0 ? 4 : 3, ~0U, 0);     /* no copy of the test's sockets in the child */
    for (const char *const *e = env_extra; e && *e; e++) {
        if (strchr(*e, '='))
            putenv((char *)*e);
        else
            unsetenv(*e);
    }
    execv(argv[0], (char *const *)argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

void proc_run(const char *const *argv, const char *const *env_extra, int timeout_ms,
              struct proc_result *r)
{
    memset(r, 0, sizeof *r);
    r->status = -1;
    FILE *out = tmpfile(), *err = tmpfile();
    if (!out || !err)
        abort();
    pid_t pid = proc_spawn(argv, env_extra, fileno(out), fileno(err));
    int64_t end = mono_ms() + timeout_ms;
    int st = 0;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            if (WIFEXITED(st))
                r->status = WEXITSTATUS(st);
            else if (WIFSIGNALED(st))
                r->status = 128 + WTERMSIG(st);
            break;
        }
        if (w < 0 && errno != EINTR)
            break;
        if (mono_ms() >= end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            r->status = -1;
            break;
        }
        struct timespec ts = { 0, 20 * 1000000L };
        nanosleep(&ts, NULL);
    }
    r->out = slurp(out);
    r->err = slurp(err);
    fclose(out);
    fclose(err);
}

void proc_result_free(struct proc_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

void proc_run_ok(const char *const *argv, const char *what)
{
    struct proc_result r;
    proc_run(argv, NULL, 60000, &r);
    if (r.status != 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "exit %d, stderr: %s", r.status, r.err);
        proc_result_free(&r);
        fail_msg("%s failed: %s", what, msg);
    }
    proc_result_free(&r);
}

int proc_count_lines(const char *s)
{
    int n = 0;
    while (s && *s) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        bool blank = true;
        for (size_t i = 0; i < len; i++)
            if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
                blank = false;
        if (!blank)
            n++;
        s = nl ? nl + 1 : s + len;
    }
    return n;
}
