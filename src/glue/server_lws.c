/*
 * The libwebsockets server: one context, its vhosts and protocol table, the
 * event loop it runs on, the periodic tick, and the order of a shutdown.
 * The composition root (src/app/serve.c) builds the core, the stores and the
 * REST framework; this file gives them a loop. Per-connection work is in
 * ws_lws.c (OCPP websockets) and http_lws.c (REST over HTTP); both reach the
 * gateway through the context's user pointer, never a global.
 *
 * The loop never blocks on the database: store results come back through
 * lws_cancel_service() -> LWS_CALLBACK_EVENT_WAIT_CANCELLED, drained here.
 *
 * Shutdown (gw_server_run, after SIGTERM/SIGINT): stop admitting, cancel
 * commands so their REST clients are answered, let in-flight database
 * writes finish and their answers go out, close every websocket with 1001.
 * The caller then stops the stores (which write what is still queued) and
 * calls gw_server_destroy().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <systemd/sd-daemon.h>
#include <uv.h>

#include "core.h"
#include "csr.h"
#include "gateway.h"
#include "hmap.h"
#include "ocpp.h"
#include "rest.h"
#include "rest_transport.h"
#include "secret.h"
#include "store.h"
#include "util.h"
#include "webhook.h"

#ifndef OCPPGW_VERSION
#define OCPPGW_VERSION "0.1.0"
#endif

#define FD_RESERVE 64                   /* fds kept back for the database, the log, the listeners */
#define DRAIN_ANSWERS_US (10 * 1000000) /* shutdown: in-flight database answers and REST replies */
#define DRAIN_CLOSE_US (1 * 1000000)    /* shutdown: close frames written (and, for few, their answers) */
#define WAIT_HANDSHAKES_MAX 4096        /* shutdown: up to this many websockets, wait for the chargers' close frames */

#define LISTEN_PROTOCOL "ocppgw-listen"  /* the adopted listening sockets of socket activation */
#define ACCEPT_BATCH 64                 /* connections accepted per readable wake of a listener */
#define ACCEPT_PAUSE_US (100 * 1000)    /* a listener rests this long after running out of fds */

/* A listening socket systemd passed (socket activation): this process accepts on it. */
struct gw_listener {
    int fd;
    struct lws *wsi;                    /* the fd adopted as a raw file, readable = connections waiting */
    struct lws_vhost *vh;               /* the vhost the accepted sockets join */
    bool tls;
    const char *listen;                 /* the configured ADDR:PORT it stands for */
};

/* What the glue keeps beside struct gateway (lws and libuv types stay in here). */
struct gw_server {
    struct gw_listener listeners[3];    /* OCPP, OCPP over TLS, REST */
    int nlisteners;
    uv_loop_t uv_loop;
    bool use_uv;                        /* the context runs on uv_loop (else lws's poll loop) */
    struct lws_sorted_usec_list tick_sul;
    lws_retry_bo_t retry;               /* all zero: no lws validity timers (ws_sweep pings); lws keeps the pointer */
    int64_t swept_ms;                   /* the last ws_sweep */
    struct gateway *g;                  /* back pointer for the tick */
    bool ticking;
    bool watchdog;                      /* systemd WatchdogSec= is set */
    bool store_was_ready;               /* the OCPP store's state at the last tick */
    rlim_t fd_hard;
};

/*
 * The context a signal handler may wake: the one thing in this file a
 * handler without arguments has to reach. Set while gw_server_run serves.
 */
static struct lws_context *volatile signal_ctx;
static volatile sig_atomic_t signal_stop;

static struct gateway *gateway_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

/* ---- store completions ---- */

/*
 * Registry reload after the store (re)connects: notifications sent while the
 * database was unreachable are lost, so the table is read again, without
 * blocking the loop (a STORE_OP_CHARGERS_ALL job on the OCPP store).
 */
static void registry_reload_done(struct gateway *g, const struct store_job *job)
{
    if (job->status != STORE_OK) {
        log_warn(NULL, "charger registry reload failed; retrying on the next reconnect");
        g->server->store_was_ready = false;
        return;
    }
    core_registry_sync(g->core, job->out.chargers.items, job->out.chargers.n, (uint64_t)(uintptr_t)job->user);
}

/* The same for the site registry (STORE_OP_SITES_ALL, submitted with the chargers' reload). */
static void sites_reload_done(struct gateway *g, const struct store_job *job)
{
    if (job->status != STORE_OK) {
        log_warn(NULL, "site registry reload failed; retrying on the next reconnect");
        g->server->store_was_ready = false;
        return;
    }
    core_sites_sync(g->core, job->out.sites.items, job->out.sites.n, (uint64_t)(uintptr_t)job->user);
}

static void drain_store(struct gateway *g)
{
    struct store_job *job = store_take_completed(g->store);
    while (job) {
        struct store_job *next = job->next;
        job->next = NULL;
        if (job->op == STORE_OP_CHARGERS_ALL) {
            registry_reload_done(g, job);
            store_job_free(job);
        } else if (job->op == STORE_OP_SITES_ALL) {
            sites_reload_done(g, job);
            store_job_free(job);
        } else {
            core_on_db_result(g->core, job);
        }
        job = next;
    }
}

/* REST's own store: every completion belongs to the REST framework. */
static void drain_rest_store(struct gateway *g)
{
    struct store_job *job = store_take_completed(g->rest_store);
    while (job) {
        struct store_job *next = job->next;
        job->next = NULL;
        rest_on_store_result(job);
        job = next;
    }
}

/* Certificates the CA signed (or refused) for SignCertificate: to the core as CertificateSigned. */
static void drain_signer(struct gateway *g)
{
    struct csr_signed *list = csr_signer_take(g->signer);
    for (struct csr_signed *d = list; d; d = d->next) {
        char *payload = d->chain_pem ? ocpp_certificate_signed_payload(d->chain_pem) : NULL;
        core_on_csr_signed(g->core, d->charger_id, payload,
                           payload ? NULL : d->chain_pem ? "certificate chain too long for CertificateSigned" : d->why);
        free(payload);
    }
    csr_signed_free(list);
}

/* Test deliveries the webhook thread finished: to the REST requests waiting for them. */
static void drain_webhooks(struct gateway *g)
{
    struct wh_test_result *list = wh_test_take(g->webhooks);
    for (struct wh_test_result *t = list; t; t = t->next) {
        struct rest_webhook_test_result res = {
            .found = t->found, .delivered = t->delivered, .status_code = t->status_code,
            .latency_ms = t->latency_ms, .event_id = t->event_id, .error = t->error,
            .response_body = t->response_body,
        };
        rest_on_webhook_test(t->handle, &res);
    }
    wh_test_result_free(list);
}

void gw_store_wake(void *ctx)
{
    struct gateway *g = ctx;
    if (g->ctx)
        lws_cancel_service(g->ctx);
}

/* ---- the protocol table ---- */

static int gw_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    struct gateway *g = gateway_of(wsi);
    struct gw_pss *pss = user;
    if (!g)
        return 0;                       /* context being created or destroyed */
    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        if (g->api_vhost && lws_get_vhost(wsi) == g->api_vhost)
            return ws_refuse(wsi, 404, NULL, NULL);
        /*
         * Only websocket upgrades. lws 4.1.6 also offers "Upgrade: h2c" here,
         * and over the HTTP/2 connection that follows, RFC 8441 websockets
         * for any path never come through this callback.
         */
        if (!in || strcasecmp(in, "websocket") != 0)
            return ws_refuse(wsi, 400, NULL, NULL);
        if (g->shutting_down)
            return ws_refuse(wsi, 503, NULL, NULL);
        return ws_confirm_upgrade(g, wsi);
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        const struct lws_protocols *p = lws_get_protocol(wsi);
        return p && strcmp(p->name, "ocpp1.6") == 0 ? 0 : 1;
    }
    case LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION:
        /* len is OpenSSL's preverify_ok: refuse certificates that do not verify */
        return len ? 0 : 1;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (g->store)
            drain_store(g);
        if (g->rest_store)
            drain_rest_store(g);
        if (g->signer)
            drain_signer(g);
        if (g->webhooks)
            drain_webhooks(g);
        if (g->exports)
            rest_on_exports();
        return 0;
    case LWS_CALLBACK_ESTABLISHED:
    case LWS_CALLBACK_RECEIVE:
    case LWS_CALLBACK_RECEIVE_PONG:
    case LWS_CALLBACK_SERVER_WRITEABLE:
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
    case LWS_CALLBACK_CLOSED:
        return ws_callback(g, wsi, (int)reason, pss, in, len);
    default:
        return http_callback(wsi, (int)reason, pss, in, len);
    }
}

/*
 * rx_buffer_size 1024: lws mallocs it per websocket and the heap pages it
 * sits on end up resident, so it is most of the idle cost of a connection
 * (measured: 5.8 KB per idle charger at 4096, 2.8 KB at 1024). Messages
 * larger than a chunk are reassembled in ws_lws.c; the frame limit is
 * ocpp.max_frame, not this.
 */
static int listener_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);

static const struct lws_protocols ocpp_protocols[] = {
    { "ocpp1.6", gw_callback, sizeof(struct gw_pss), 1024, 0, NULL, 0 },
    { "http", gw_callback, sizeof(struct gw_pss), 0, 0, NULL, 0 },
    { LISTEN_PROTOCOL, listener_callback, 0, 0, 0, NULL, 0 },
    { NULL, NULL, 0, 0, 0, NULL, 0 }
};

static const struct lws_protocols api_protocols[] = {
    { "http", gw_callback, sizeof(struct gw_pss), 0, 0, NULL, 0 },
    { LISTEN_PROTOCOL, listener_callback, 0, 0, 0, NULL, 0 },
    { NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* ---- socket activation ---- */

/*
 * Under systemd socket activation (systemd/ocppgw.socket) the listening
 * sockets belong to systemd and outlive the process: between a stop and
 * the next start, connections wait in the socket's accept queue instead of
 * being refused, and the new process serves them (docs/operations.md).
 * lws 4.1.6 cannot listen on a socket it did not make, so the vhosts of
 * passed sockets are created without a listener and each passed socket is
 * adopted as a raw file: when it is readable, listener_callback accepts
 * (as lws's own listener does: a batch per wake) and hands each connection
 * to lws as if its listener had accepted it.
 */
static struct gw_listener *listener_of(struct gw_server *s, struct lws *wsi)
{
    for (int i = 0; i < s->nlisteners; i++)
        if (s->listeners[i].wsi == wsi)
            return &s->listeners[i];
    return NULL;
}

/* Stops accepting on l for us (a timer resumes it) or for good (us < 0). */
static void listener_pause(struct gw_listener *l, int64_t us)
{
    if (!l->wsi)
        return;
    lws_rx_flow_control(l->wsi, 0);
    if (us >= 0)
        lws_set_timer_usecs(l->wsi, us);
}

static void listener_accept(struct gateway *g, struct gw_listener *l)
{
    for (int i = 0; i < ACCEPT_BATCH && !g->shutting_down; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            /* EMFILE, ENFILE, ENOBUFS, ENOMEM: the connection stays queued in the kernel */
            log_warn(NULL, "listener %s: accept: %s; accepting again in %d ms", l->listen, strerror(errno),
                     ACCEPT_PAUSE_US / 1000);
            listener_pause(l, ACCEPT_PAUSE_US);
            return;
        }
        if (fd >= g->max_connections) {
            /* past lws's fd table (sized to the connection ceiling): it could not serve it */
            close(fd);
            log_warn(NULL, "listener %s: %d connections open, the ceiling: a connection refused; accepting"
                     " again in %d ms", l->listen, g->max_connections, ACCEPT_PAUSE_US / 1000);
            listener_pause(l, ACCEPT_PAUSE_US);
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        lws_sock_file_fd_type u;
        u.sockfd = fd;
        int type = LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP | (l->tls ? LWS_ADOPT_ALLOW_SSL : 0);
        if (!lws_adopt_descriptor_vhost(l->vh, (lws_adoption_type)type, u, NULL, NULL)) {
            /* lws closed it; its table is full */
            listener_pause(l, ACCEPT_PAUSE_US);
            return;
        }
    }
}

static int listener_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    (void)user;
    (void)in;
    (void)len;
    struct gateway *g = gateway_of(wsi);
    struct gw_listener *l = g && g->server ? listener_of(g->server, wsi) : NULL;
    if (!l)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_RAW_RX_FILE:
        listener_accept(g, l);
        return 0;
    case LWS_CALLBACK_TIMER:
        if (!g->shutting_down)
            lws_rx_flow_control(wsi, 1);
        return 0;
    case LWS_CALLBACK_RAW_CLOSE_FILE:
        l->wsi = NULL;                  /* lws closes this process's copy; systemd keeps the socket */
        return 0;
    default:
        return 0;
    }
}

/* The port of ADDR:PORT, 0 if none. */
static int listen_port(const char *listen)
{
    char addr[128];
    int port = 0;
    return listen[0] && config_split_listen(listen, addr, sizeof addr, &port) ? port : 0;
}

/*
 * The sockets systemd passed (LISTEN_FDS), each matched to a configured
 * listener by its FileDescriptorName= ("ocpp", "tls", "api") or else by its
 * port: fds[k] for cfg's listener k (0 OCPP, 1 TLS, 2 REST), -1 where none
 * was passed. A passed socket that is not a listening TCP socket, or that
 * matches no listener, stops the start with one line in err.
 */
static bool passed_sockets(const struct config *cfg, int fds[3], char *err, size_t cap)
{
    fds[0] = fds[1] = fds[2] = -1;
    char **names = NULL;
    int n = sd_listen_fds_with_names(1, &names);
    if (n < 0) {
        snprintf(err, cap, "socket activation: %s", strerror(-n));
        return false;
    }
    const char *listens[3] = { cfg->listen, cfg->tls_listen, cfg->api_listen };
    static const char *const tags[3] = { "ocpp", "tls", "api" };
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        int fd = SD_LISTEN_FDS_START + i;
        const char *name = names && names[i] ? names[i] : "";
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int port = 0;
        if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) > 0 && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
            port = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                   : ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) : 0;
        if (!port) {
            snprintf(err, cap, "socket activation: passed fd %d (%s) is not a listening TCP socket", fd,
                     name[0] ? name : "unnamed");
            ok = false;
            break;
        }
        int k = -1;
        for (int j = 0; j < 3 && k < 0; j++)
            if (strcmp(name, tags[j]) == 0 && listens[j][0])
                k = j;
        for (int j = 0; j < 3 && k < 0; j++)
            if (listen_port(listens[j]) == port && fds[j] < 0)
                k = j;
        if (k < 0 || fds[k] >= 0) {
            snprintf(err, cap, "socket activation: passed socket %s on port %d matches no listener (OCPP %s, TLS %s,"
                     " REST %s): name it ocpp, tls or api (FileDescriptorName=) or listen on its port", name[0] ? name : "unnamed",
                     port, cfg->listen, cfg->tls_listen[0] ? cfg->tls_listen : "off",
                     cfg->api_listen[0] ? cfg->api_listen : "on the OCPP port");
            ok = false;
            break;
        }
        fds[k] = fd;
    }
    if (names) {
        for (int i = 0; i < n; i++)
            free(names[i]);
        free(names);
    }
    return ok;
}

/* Adopts the passed socket fd as vh's listener. */
static bool adopt_listener(struct gw_server *s, struct lws_vhost *vh, int fd, bool tls, const char *listen)
{
    struct gw_listener *l = &s->listeners[s->nlisteners];
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    lws_sock_file_fd_type u;
    u.filefd = fd;
    *l = (struct gw_listener){ .fd = fd, .vh = vh, .tls = tls, .listen = listen };
    s->nlisteners++;                    /* before the adoption: its first callbacks look it up */
    l->wsi = lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, u, LISTEN_PROTOCOL, NULL);
    if (!l->wsi) {
        s->nlisteners--;
        return false;
    }
    log_info(NULL, "listening on %s through a socket passed by systemd (fd %d)", listen, fd);
    return true;
}

static void lws_log(int level, const char *line)
{
    char buf[512];
    str_copy(buf, sizeof buf, line);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    /* counted when repeated: lws can log one complaint per event (an accept failing, a bad peer) */
    log_msg_from(level == LLL_ERR ? LOG_ERROR : level == LLL_WARN ? LOG_WARN : LOG_DEBUG, "lws", NULL, "lws: %s",
                 buf);
}

/* ---- the loop ---- */

/*
 * The event loop. lws 4.1.6's own loop is poll(2), which walks every fd on
 * every wake-up: with thousands of idle chargers that dominates the CPU.
 * With server.event_loop = uv (the default) lws runs on a libuv loop we own
 * (a "foreign" loop: Debian ships lws's libuv support as a plugin that
 * exports no API of its own), epoll underneath. One iteration of either is
 * service_once(); if the plugin cannot be loaded we fall back to poll.
 */
static void service_once(struct gateway *g)
{
    if (g->server->use_uv)
        uv_run(&g->server->uv_loop, UV_RUN_ONCE);
    else
        lws_service(g->ctx, 0);
}

/*
 * Destroys the context. On a foreign libuv loop lws_context_destroy() only
 * starts: lws's handles close as the loop runs, and lws clears the pointer
 * given as info.pcontext when it is done. Then the loop itself is closed.
 */
static void context_destroy(struct gateway *g)
{
    struct gw_server *s = g->server;
    if (g->ctx)
        lws_context_destroy(g->ctx);
    if (!s->use_uv) {
        g->ctx = NULL;
        return;
    }
    for (int i = 0; i < 3 && g->ctx; i++) {
        uv_run(&s->uv_loop, UV_RUN_DEFAULT);
        if (g->ctx)
            lws_context_destroy(g->ctx);
    }
    uv_run(&s->uv_loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&s->uv_loop) != 0)
        log_warn(NULL, "event loop closed with handles still open");
    g->ctx = NULL;
    s->use_uv = false;
}

static void tick(struct lws_sorted_usec_list *sul)
{
    struct gw_server *s = lws_container_of(sul, struct gw_server, tick_sul);
    struct gateway *g = s->g;
    int ms = core_expire(g->core);
    bool ready = store_ready(g->store);
    if (ready && !s->store_was_ready) {
        struct store_job *reload = store_job_new(STORE_OP_CHARGERS_ALL);
        reload->user = (void *)(uintptr_t)core_registry_mark(g->core); /* what the read will be newer than */
        store_submit(g->store, reload);
        struct store_job *sites = store_job_new(STORE_OP_SITES_ALL);
        sites->user = (void *)(uintptr_t)core_registry_mark(g->core);
        store_submit(g->store, sites);
    }
    s->store_was_ready = ready;
    int64_t now_ms = time_mono_us() / 1000;
    if (now_ms - s->swept_ms >= 1000) {
        s->swept_ms = now_ms;
        ws_sweep(g, now_ms);
    }
    rest_tick();
    log_repeat_flush();
    if (s->watchdog)
        sd_notify(0, "WATCHDOG=1");
    if (ms < 10)
        ms = 10;
    lws_sul_schedule(g->ctx, 0, sul, tick, (lws_usec_t)ms * 1000);
}

static void on_signal(int sig)
{
    (void)sig;
    signal_stop = 1;
    struct lws_context *ctx = signal_ctx;
    if (ctx)
        lws_cancel_service(ctx);
}

/* ---- start ---- */

/*
 * Connection ceiling and the fd limits around lws_create_context.
 *
 * lws 4.1.6 sizes its fd table from sysconf(_SC_OPEN_MAX), i.e. the soft
 * RLIMIT_NOFILE at context creation. Setting info.fd_limit_per_thread below
 * that makes it look every fd up with a linear scan (measured: a quarter of
 * the gateway's CPU at 2,000 connections). Leaving the table at the limit
 * lets the process hit EMFILE before the table is full, and lws then spins on
 * accept (notes §8). So: lower the soft limit to the connection ceiling while
 * the context is created (lws sizes its table, O(1) lookups, and stops
 * accepting when it is full), then raise it back to the hard limit so the
 * database connections, the log and the listeners have fds of their own.
 */
static int fd_limit_for_context(struct gw_server *s, const struct config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    s->fd_hard = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 1000000 ? 1000000 : rl.rlim_max;
    long table = (long)s->fd_hard - FD_RESERVE;
    if (cfg->max_connections > 0 && cfg->max_connections < table)
        table = cfg->max_connections;
    if (table < 64)
        table = 64;
    rl.rlim_cur = (rlim_t)table;
    rl.rlim_max = s->fd_hard;
    setrlimit(RLIMIT_NOFILE, &rl);
    return (int)table;
}

static void fd_limit_after_context(const struct gw_server *s)
{
    struct rlimit rl = { s->fd_hard, s->fd_hard };
    setrlimit(RLIMIT_NOFILE, &rl);
}

static struct lws_vhost *make_vhost(struct gateway *g, const char *listen, const char *name,
                                    const struct lws_protocols *protocols,
                                    const lws_retry_bo_t *retry, bool tls, int passed_fd)
{
    char addr[128];
    int port;
    config_split_listen(listen, addr, sizeof addr, &port);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = port;
    info.iface = strcmp(addr, "0.0.0.0") == 0 || addr[0] == '\0' ? NULL : addr;
    if (passed_fd >= 0) {               /* socket activation: the vhost accepts what adopt_listener hands it */
        info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
        info.iface = NULL;
    }
    info.protocols = protocols;
    info.vhost_name = name;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
    info.retry_and_idle_policy = retry;
    info.keepalive_timeout = 30;
    info.timeout_secs = 10;
    if (tls) {
        /*
         * Security profiles 2 and 3: TLS 1.2 or newer, always. lws 4.1.6
         * sets a vhost up for TLS only when the vhost's own options carry
         * LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT (the context's do not count);
         * without it the certificate is ignored and the port speaks plain
         * HTTP. The client-certificate option below happens to include that
         * bit, which is why the listener worked only with tls_ca set.
         *
         * ALPN offers http/1.1 alone: lws's default is "h2,http/1.1", and
         * over h2 an RFC 8441 websocket never reaches the confirm-upgrade
         * callback, i.e. it would bypass admission.
         */
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.alpn = "http/1.1";
        info.ssl_cert_filepath = g->cfg.tls_cert;
        info.ssl_private_key_filepath = g->cfg.tls_key;
        info.ssl_options_set = SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1;
        if (g->cfg.tls_ca) {
            /* client certificates are asked for (not required) and checked against tls_ca */
            info.ssl_ca_filepath = g->cfg.tls_ca;
            info.options |= LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT |
                            LWS_SERVER_OPTION_PEER_CERT_NOT_REQUIRED;
        }
    }
    struct lws_vhost *vh = lws_create_vhost(g->ctx, &info);
    if (vh && passed_fd >= 0 && !adopt_listener(g->server, vh, passed_fd, tls, listen)) {
        lws_vhost_destroy(vh);
        return NULL;
    }
    return vh;
}

/*
 * Whether `listen` (ADDR:PORT, ADDR an IPv4 address or empty) can be bound:
 * a socket bound and closed again, so that a port in use is one clear line
 * (err) before lws tries, logs its own error and anything else starts. An
 * interface name is left to lws. `how` names the setting, for the hint.
 */
static bool listen_probe(const char *listen, const char *how, char *err, size_t cap)
{
    char addr[128];
    int port;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    if (!config_split_listen(listen, addr, sizeof addr, &port) || port <= 0 || port > 65535)
        return true;
    sa.sin_port = htons((uint16_t)port);
    if (addr[0] && strcmp(addr, "0.0.0.0") != 0 && inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
        return true;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return true;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);     /* as lws does */
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa), e = errno;
    close(fd);
    if (rc == 0)
        return true;
    switch (e) {
    case EADDRINUSE:
        snprintf(err, cap, "cannot listen on %s: address already in use (another ocppgw? choose another with %s)",
                 listen, how);
        break;
    case EACCES:
        snprintf(err, cap, "cannot listen on %s: permission denied (ports below 1024 need root or "
                 "CAP_NET_BIND_SERVICE; choose another with %s)", listen, how);
        break;
    case EADDRNOTAVAIL:
        snprintf(err, cap, "cannot listen on %s: no such address on this host (choose another with %s)", listen,
                 how);
        break;
    default:
        snprintf(err, cap, "cannot listen on %s: %s", listen, strerror(e));
        break;
    }
    return false;
}

bool gw_server_listen(struct gateway *g, char *err, size_t cap)
{
    const struct config *cfg = &g->cfg;
    /* a bad certificate or key stops the start with one line, before anything listens */
    if (cfg->tls_listen[0] && !secret_check_tls_files(cfg->tls_cert, cfg->tls_key, cfg->tls_ca, err, cap))
        return false;
    /* so does a port in use, before lws logs its own error */
    static const char listen_how[] = "--listen or OCPPGW_LISTEN", tls_how[] = "server.tls_listen",
                      api_how[] = "--api-listen or OCPPGW_API_LISTEN";
    int passed[3];                      /* socket activation: fds systemd passed for the three listeners */
    if (!passed_sockets(cfg, passed, err, cap))
        return false;
    if ((passed[0] < 0 && !listen_probe(cfg->listen, listen_how, err, cap)) ||
        (cfg->tls_listen[0] && passed[1] < 0 && !listen_probe(cfg->tls_listen, tls_how, err, cap)) ||
        (cfg->api_listen[0] && passed[2] < 0 && !listen_probe(cfg->api_listen, api_how, err, cap)))
        return false;
    struct gw_server *s = xcalloc(1, sizeof *s);
    s->g = g;
    g->server = s;
    lws_set_log_level(log_enabled(LOG_DEBUG) ? LLL_ERR | LLL_WARN : LLL_ERR, lws_log);

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DISABLE_IPV6;
    if (cfg->tls_listen[0])
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.pt_serv_buf_size = 16384;
    info.user = g;                      /* every callback finds the gateway here */
    g->max_connections = fd_limit_for_context(s, cfg);
    void *foreign_loops[1] = { &s->uv_loop };
    if (strcmp(cfg->event_loop, "uv") == 0 && uv_loop_init(&s->uv_loop) == 0) {
        struct lws_context_creation_info uv_info = info;
        uv_info.options |= LWS_SERVER_OPTION_LIBUV;
        uv_info.foreign_loops = foreign_loops;
        uv_info.pcontext = &g->ctx;
        g->ctx = lws_create_context(&uv_info);
        s->use_uv = g->ctx != NULL;
        if (!s->use_uv) {
            uv_loop_close(&s->uv_loop);
            log_warn(NULL, "libuv event loop not available (libwebsockets-evlib-uv?): using poll");
        }
    }
    if (!g->ctx)
        g->ctx = lws_create_context(&info);
    fd_limit_after_context(s);
    if (!g->ctx) {
        snprintf(err, cap, "cannot create the libwebsockets context");
        return false;
    }
    ws_init(g);

    /*
     * A zero policy: lws 4.1.6 arms no validity timer (its per-connection
     * ping/hang-up timer, re-inserted into a sorted list on every upgrade
     * and pong, i.e. a walk over every connection's timer). ws_sweep() pings
     * and hangs up instead, one walk a second. A NULL policy would mean lws's
     * default, 300/310 s.
     */
    memset(&s->retry, 0, sizeof s->retry);
    const char *failed = NULL;
    g->ocpp_vhost = make_vhost(g, cfg->listen, "ocpp", ocpp_protocols, &s->retry, false, passed[0]);
    if (!g->ocpp_vhost)
        failed = cfg->listen;
    else if (cfg->tls_listen[0] &&
             !make_vhost(g, cfg->tls_listen, "ocpp-tls", ocpp_protocols, &s->retry, true, passed[1]))
        failed = cfg->tls_listen;
    else if (cfg->api_listen[0] &&
             !(g->api_vhost = make_vhost(g, cfg->api_listen, "api", api_protocols, NULL, false, passed[2])))
        failed = cfg->api_listen;
    if (failed) {
        /* taken since the probe? else lws failed for a reason of its own */
        const char *how = failed == cfg->listen ? listen_how : failed == cfg->tls_listen ? tls_how : api_how;
        int k = failed == cfg->listen ? 0 : failed == cfg->tls_listen ? 1 : 2;
        if (passed[k] >= 0)
            snprintf(err, cap, "cannot serve %s on the socket systemd passed (fd %d)", failed, passed[k]);
        else if (listen_probe(failed, how, err, cap))
            snprintf(err, cap, "cannot listen on %s", failed);
        return false;
    }
    return true;
}

/* ---- serve ---- */

void gw_server_run(struct gateway *g, size_t chargers, size_t keys)
{
    struct gw_server *s = g->server;
    signal_stop = 0;
    signal_ctx = g->ctx;
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    uint64_t wd_usec = 0;
    s->watchdog = sd_watchdog_enabled(0, &wd_usec) > 0;
    s->store_was_ready = false;
    lws_sul_schedule(g->ctx, 0, &s->tick_sul, tick, 100 * 1000);
    s->ticking = true;
    log_info(NULL, "ocppgw %s serving OCPP on %s%s%s%s%s%s; %zu chargers known, %zu API keys; up to %d"
             " connections", OCPPGW_VERSION, g->cfg.listen,
             g->cfg.tls_listen[0] ? ", OCPP over TLS on " : "", g->cfg.tls_listen,
             g->cfg.tls_listen[0] ? (g->cfg.tls_ca ? " (client certificates)" : " (no client certificates)") : "",
             g->cfg.api_listen[0] ? ", REST on " : "", g->cfg.api_listen, chargers, keys, g->max_connections);
    sd_notify(0, "READY=1");

    while (!signal_stop)
        service_once(g);

    /* shutdown: answer what is in flight, then close with 1001 */
    sd_notify(0, "STOPPING=1");
    log_info(NULL, "shutting down: %zu chargers connected, %zu database jobs in flight",
             core_connected_count(g->core), core_jobs_outstanding(g->core));
    g->shutting_down = true;
    int64_t t0 = time_mono_us();
    /*
     * Stop accepting: lws closes its listening sockets (every vhost's) and
     * keeps serving what is connected. New chargers and REST clients are
     * refused by the kernel and retry against the next process, instead of
     * being accepted here only to be refused (and costing lws a walk of its
     * fd table each). Sockets systemd passed stay open in systemd: what
     * connects now waits in their queue for the next process.
     */
    lws_context_deprecate(g->ctx, NULL);
    for (int i = 0; i < s->nlisteners; i++)
        listener_pause(&s->listeners[i], -1);  /* passed sockets: left to systemd, the queue to the next process */
    service_once(g);                    /* the listeners' close completes in a loop turn (never blocks: a handle is closing) */
    core_commands_shutdown(g->core); /* their REST requests are answered in the drain below */
    rest_streams_shutdown();         /* event streams end after what is queued (drained below too) */
    int64_t deadline = t0 + DRAIN_ANSWERS_US;
    while ((core_jobs_outstanding(g->core) > 0 || rest_in_flight() > 0) && time_mono_us() < deadline)
        service_once(g);
    int64_t t1 = time_mono_us();
    /*
     * Every connection still open is recorded as disconnected now (its
     * close will store nothing), and the OCPP store is told to finish: its
     * last write marks every charger this node holds disconnected in one
     * statement, with their charger.disconnected events (seconds for
     * 19,000), while the loop sends the close frames below.
     */
    size_t left = core_record_disconnects(g->core, "shutdown", false);
    store_begin_stop(g->store);
    /*
     * Close frames to every websocket. Up to WAIT_HANDSHAKES_MAX of them,
     * the chargers' answering frames are waited for too (within the
     * deadline); past that only the writing: each socket lws closes costs it
     * a walk of its fd table (docs/architecture.md), and 19,000 chargers
     * closing at once took the loop seconds. What is written reaches the
     * chargers; the process's exit closes the sockets (RFC 6455 lets the
     * server close TCP first).
     */
    size_t open = ws_open_count(g);
    bool handshakes = open <= WAIT_HANDSHAKES_MAX;
    g->ws_closes_unsent = ws_close_all(g, 1001);
    deadline = t1 + DRAIN_CLOSE_US;
    while ((g->ws_closes_unsent > 0 || (handshakes && ws_open_count(g) > 0)) && time_mono_us() < deadline)
        service_once(g);
    log_info(NULL, "shutting down: answers drained in %lld ms; %zu connections recorded as disconnected"
             " (shutdown); close frames written to %zu of %zu websockets in %lld ms", (long long)(t1 - t0) / 1000,
             left, open - g->ws_closes_unsent, open, (long long)(time_mono_us() - t1) / 1000);
    lws_sul_cancel(&s->tick_sul);       /* the tick uses the stores, which stop next */
    s->ticking = false;
    signal_ctx = NULL;
}

void gw_server_destroy(struct gateway *g)
{
    struct gw_server *s = g->server;
    if (!s)
        return;
    if (s->ticking)
        lws_sul_cancel(&s->tick_sul);
    signal_ctx = NULL;
    context_destroy(g);                 /* closes what is left; CLOSED callbacks reach the core */
    hmap_free(g->ws_by_conn);
    g->ws_by_conn = NULL;
    free(s);
    g->server = NULL;
}
