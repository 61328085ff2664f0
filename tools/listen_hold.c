/*
 * listen-hold: what systemd does for a socket-activated service with
 * Restart=always, for the restart benchmark and by hand (no systemd needed):
 *
 *   listen-hold ADDR:PORT[=NAME] ... -- COMMAND [ARGS...]
 *
 * Binds and listens on each ADDR:PORT (IPv4; backlog 65535, which the kernel
 * caps at net.core.somaxconn), then runs
 * COMMAND with the sockets as fds 3, 4, ... and LISTEN_FDS, LISTEN_PID and
 * LISTEN_FDNAMES set (sd_listen_fds(3)); whenever COMMAND exits it is run
 * again at once, on the same sockets: connections made in between wait in
 * their queues. On stdout, one line each:
 *
 *   started pid=P at_ms=T          (T: CLOCK_REALTIME milliseconds)
 *   exited pid=P status=S at_ms=T  (S: exit status, 128+N for signal N)
 *
 * SIGTERM or SIGINT to listen-hold: SIGTERM to COMMAND, wait, exit.
 */
#define _GNU_SOURCE
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
#include <time.h>
#include <unistd.h>

#define MAX_SOCKETS 8

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A listening socket on "ADDR:PORT"; -1 with a message on failure. */
static int listen_on(const char *spec)
{
    char addr[64];
    const char *colon = strrchr(spec, ':');
    if (!colon || (size_t)(colon - spec) >= sizeof addr) {
        fprintf(stderr, "listen-hold: %s: want ADDR:PORT\n", spec);
        return -1;
    }
    memcpy(addr, spec, (size_t)(colon - spec));
    addr[colon - spec] = '\0';
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1)) };
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        fprintf(stderr, "listen-hold: %s: not an IPv4 address\n", addr);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 65535) != 0) {
        fprintf(stderr, "listen-hold: %s: %s\n", spec, strerror(errno));
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    int fds[MAX_SOCKETS], n = 0, cmd = 0;
    char names[512] = "";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            cmd = i + 1;
            break;
        }
        if (n == MAX_SOCKETS) {
            fprintf(stderr, "listen-hold: at most %d sockets\n", MAX_SOCKETS);
            return 2;
        }
        char spec[128];
        snprintf(spec, sizeof spec, "%s", argv[i]);
        char *eq = strchr(spec, '=');
        const char *name = "unknown";
        if (eq) {
            *eq = '\0';
            name = eq + 1;
        }
        if ((fds[n] = listen_on(spec)) < 0)
            return 1;
        n++;
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", n > 1 ? ":" : "", name);
    }
    if (!cmd || cmd >= argc || n == 0) {
        fprintf(stderr, "usage: listen-hold ADDR:PORT[=NAME] ... -- COMMAND [ARGS...]\n");
        return 2;
    }
    struct sigaction sa = { .sa_handler = on_stop };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    while (!stopping) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
            perror("listen-hold: fork");
            return 1;
        }
        if (pid == 0) {
            signal(SIGTERM, SIG_DFL);
            signal(SIGINT, SIG_DFL);
            signal(SIGPIPE, SIG_DFL);
            /* fds 3..: move them above first so that no dup2 overwrites a source */
            int high[MAX_SOCKETS];
            for (int i = 0; i < n; i++)
                high[i] = fcntl(fds[i], F_DUPFD, 100);
            for (int i = 0; i < n; i++) {
                dup2(high[i], 3 + i);
                close(high[i]);
            }
            char count[16], self[16];
            snprintf(count, sizeof count, "%d", n);
            snprintf(self, sizeof self, "%d", (int)getpid());
            setenv("LISTEN_FDS", count, 1);
            setenv("LISTEN_PID", self, 1);
            setenv("LISTEN_FDNAMES", names, 1);
            execvp(argv[cmd], argv + cmd);
            fprintf(stderr, "listen-hold: %s: %s\n", argv[cmd], strerror(errno));
            _exit(127);
        }
        printf("started pid=%d at_ms=%lld\n", (int)pid, now_ms());
        fflush(stdout);
        int st = 0, killed = 0;
        for (;;) {
            if (stopping && !killed) {
                kill(pid, SIGTERM);
                killed = 1;
            }
            if (waitpid(pid, &st, 0) == pid)
                break;
            if (errno != EINTR) {
                perror("listen-hold: waitpid");
                return 1;
            }
        }
        int status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        printf("exited pid=%d status=%d at_ms=%lld\n", (int)pid, status, now_ms());
        if (status == 127)
            return 1;                   /* could not run it: no point in trying again */
    }
    return 0;
}
