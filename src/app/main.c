/*
 * ocppgw: the process. Parses the command line (interfaces.md), and for
 * `serve` builds the one libwebsockets context (an OCPP vhost, plus a REST
 * vhost when --api-listen is given), the core, and the store thread, then
 * runs the single service loop until SIGTERM/SIGINT.
 *
 * The loop never blocks on the database: the only synchronous libpq use is
 * at start-up (migrations, loading the charger registry) and in the admin
 * subcommands, before any loop exists. Store results come back through
 * lws_cancel_service() -> LWS_CALLBACK_EVENT_WAIT_CANCELLED.
 *
 * Shutdown: stop admitting, let in-flight database writes finish and their
 * answers go out, close every websocket with 1001, stop the store (which
 * writes what is still queued), free everything, exit 0.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <uv.h>
#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "core.h"
#include "gateway.h"
#include "metrics.h"
#include "hmap.h"
#include "ocpp.h"
#include "rest.h"
#include "secret.h"
#include "store.h"
#include "util.h"

#ifndef OCPPGW_VERSION
#define OCPPGW_VERSION "0.1.0"
#endif

struct gateway *gw;

static const char usage[] =
    "usage:\n"
    "  ocppgw [serve]  [--config FILE] [--listen ADDR:PORT] [--api-listen ADDR:PORT]\n"
    "                  [--db CONNINFO] [--log-level debug|info|warn|error] [--log-format text|json]\n"
    "                  [--auto-register]\n"
    "  ocppgw migrate  [--config FILE] [--db CONNINFO]\n"
    "  ocppgw apikey create --name NAME --scopes SCOPE[,SCOPE...] [--db CONNINFO]\n"
    "  ocppgw apikey list [--db CONNINFO]\n"
    "  ocppgw apikey revoke ID [--db CONNINFO]\n"
    "  ocppgw charger add ID [--auth-key KEY] [--name NAME] [--db CONNINFO]\n"
    "  ocppgw --version | --help\n"
    "\n"
    "Environment: DATABASE_URL, OCPPGW_LISTEN, OCPPGW_API_LISTEN, OCPPGW_LOG_LEVEL\n"
    "(the config file < environment < flags). See docs/configuration.md.\n";

static const char *const known_scopes[] = {
    "chargers:read", "chargers:write", "sessions:read", "commands:write", "tokens:read",
    "tokens:write",  "tariffs:read",   "tariffs:write", "reports:read",   "webhooks:write",
    "admin",
};

/* ---- command line ---- */

struct cli {
    const char *cmd, *sub, *arg;
    const char *config_file;
    const char *listen, *api_listen, *db, *log_level, *log_format;
    bool auto_register;
    const char *name, *scopes, *auth_key;
};

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ocppgw: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

/* 0 ok, 2 usage error (printed), -1 --help/--version handled. */
static int parse_cli(int argc, char **argv, struct cli *cli)
{
    enum { O_CONFIG = 1, O_LISTEN, O_API, O_DB, O_LEVEL, O_FORMAT, O_AUTO, O_NAME, O_SCOPES,
           O_KEY, O_VERSION, O_HELP };
    static const struct option opts[] = {
        { "config", required_argument, 0, O_CONFIG },   { "listen", required_argument, 0, O_LISTEN },
        { "api-listen", required_argument, 0, O_API }, { "db", required_argument, 0, O_DB },
        { "log-level", required_argument, 0, O_LEVEL }, { "log-format", required_argument, 0, O_FORMAT },
        { "auto-register", no_argument, 0, O_AUTO },    { "name", required_argument, 0, O_NAME },
        { "scopes", required_argument, 0, O_SCOPES },  { "auth-key", required_argument, 0, O_KEY },
        { "version", no_argument, 0, O_VERSION },       { "help", no_argument, 0, O_HELP },
        { 0, 0, 0, 0 },
    };
    memset(cli, 0, sizeof *cli);
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1 || optind < argc) {
        if (c == -1) {
            /* a positional word: subcommand words, then keep parsing flags after it */
            const char *w = argv[optind++];
            if (!cli->cmd)
                cli->cmd = w;
            else if (!cli->sub)
                cli->sub = w;
            else if (!cli->arg)
                cli->arg = w;
            else
                return fail("unexpected argument '%s' (see ocppgw --help)", w) ? 2 : 2;
            continue;
        }
        switch (c) {
        case O_CONFIG: cli->config_file = optarg; break;
        case O_LISTEN: cli->listen = optarg; break;
        case O_API: cli->api_listen = optarg; break;
        case O_DB: cli->db = optarg; break;
        case O_LEVEL: cli->log_level = optarg; break;
        case O_FORMAT: cli->log_format = optarg; break;
        case O_AUTO: cli->auto_register = true; break;
        case O_NAME: cli->name = optarg; break;
        case O_SCOPES: cli->scopes = optarg; break;
        case O_KEY: cli->auth_key = optarg; break;
        case O_VERSION: printf("ocppgw %s\n", OCPPGW_VERSION); return -1;
        case O_HELP: fputs(usage, stdout); return -1;
        case '?':
        default:
            if (optopt)
                fail("unknown or incomplete option '-%c' (see ocppgw --help)", optopt);
            else
                fail("unknown or incomplete option '%s' (see ocppgw --help)", argv[optind - 1]);
            return 2;
        }
    }
    if (!cli->cmd)
        cli->cmd = "serve";
    return 0;
}

/* Defaults < config file < environment < flags. */
static bool build_config(const struct cli *cli, struct config *cfg, bool need_listen)
{
    char err[512];
    config_defaults(cfg);
    if (cli->config_file && !config_load_file(cfg, cli->config_file, err, sizeof err))
        return !fail("%s", err);
    config_apply_env(cfg);
    struct { const char *sec, *key, *val; } flags[] = {
        { "server", "listen", cli->listen },     { "server", "api_listen", cli->api_listen },
        { "database", "url", cli->db },          { "log", "level", cli->log_level },
        { "log", "format", cli->log_format },    { "ocpp", "auto_register", cli->auto_register ? "true" : NULL },
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (flags[i].val && !config_set(cfg, flags[i].sec, flags[i].key, flags[i].val, err, sizeof err))
            return !fail("%s", err);
    if (!config_validate(cfg, err, sizeof err))
        return !fail("%s", err);
    (void)need_listen;
    enum log_level lvl;
    enum log_format fmt;
    log_level_parse(cfg->log_level, &lvl);
    log_format_parse(cfg->log_format, &fmt);
    log_setup(lvl, fmt);
    return true;
}

static struct store_admin *admin_connect(const struct config *cfg)
{
    char err[512];
    struct store_admin *a = store_admin_connect(cfg->db_url, err, sizeof err);
    if (!a)
        fail("cannot connect to the database: %s", err);
    return a;
}

/* ---- admin subcommands ---- */

static int cmd_migrate(const struct config *cfg)
{
    struct store_admin *a = admin_connect(cfg);
    if (!a)
        return 1;
    char err[512];
    int n = store_admin_migrate(a, err, sizeof err);
    store_admin_close(a);
    if (n < 0)
        return fail("migration failed: %s", err);
    fprintf(stderr, "ocppgw: %d migration%s applied\n", n, n == 1 ? "" : "s");
    return 0;
}

static bool scopes_valid(const char *csv)
{
    char *copy = xstrdup(csv), *save = NULL;
    bool ok = *csv != '\0';
    for (char *s = strtok_r(copy, ",", &save); s && ok; s = strtok_r(NULL, ",", &save)) {
        bool known = false;
        for (size_t i = 0; i < sizeof known_scopes / sizeof known_scopes[0]; i++)
            known |= strcmp(s, known_scopes[i]) == 0;
        if (!known) {
            fail("unknown scope '%s'", s);
            ok = false;
        }
    }
    free(copy);
    return ok;
}

static int cmd_apikey(const struct cli *cli, const struct config *cfg)
{
    char err[512];
    if (!cli->sub)
        return fail("apikey needs create, list or revoke (see ocppgw --help)") ? 2 : 2;
    bool create = strcmp(cli->sub, "create") == 0, list = strcmp(cli->sub, "list") == 0,
         revoke = strcmp(cli->sub, "revoke") == 0;
    if (!create && !list && !revoke)
        return fail("unknown apikey subcommand '%s'", cli->sub) ? 2 : 2;
    if (create && (!cli->name || !cli->scopes))
        return fail("apikey create needs --name and --scopes") ? 2 : 2;
    if (create && !scopes_valid(cli->scopes))
        return 2;
    char *end = NULL;
    long long id = revoke && cli->arg ? strtoll(cli->arg, &end, 10) : 0;
    if (revoke && (!cli->arg || *end || id <= 0))
        return fail("apikey revoke needs a numeric key ID") ? 2 : 2;

    struct store_admin *a = admin_connect(cfg);
    if (!a)
        return 1;
    int rc = 0;
    if (create) {
        char prefix[13], hash[65];
        char *key = secret_new_api_key(prefix);
        secret_sha256_hex(key, strlen(key), hash);
        int64_t new_id;
        if (store_admin_apikey_create(a, cli->name, cli->scopes, prefix, hash, &new_id, err, sizeof err) < 0)
            rc = fail("cannot create the key: %s", err);
        else
            printf("%s\n", key);
        memset(key, 0, strlen(key));
        free(key);
    } else if (list) {
        if (store_admin_apikey_list(a, stdout, err, sizeof err) < 0)
            rc = fail("cannot list keys: %s", err);
    } else {
        int r = store_admin_apikey_revoke(a, id, err, sizeof err);
        if (r < 0)
            rc = fail("cannot revoke: %s", err);
        else if (r == 1)
            rc = fail("no active API key with id %lld", id);
        else
            fprintf(stderr, "ocppgw: API key %lld revoked\n", id);
    }
    store_admin_close(a);
    return rc;
}

static int cmd_charger(const struct cli *cli, const struct config *cfg)
{
    char err[512];
    if (!cli->sub || strcmp(cli->sub, "add") != 0 || !cli->arg)
        return fail("usage: ocppgw charger add ID [--auth-key KEY] [--name NAME]") ? 2 : 2;
    if (!core_charger_id_valid(cli->arg))
        return fail("invalid charge point id '%s': 1 to 48 printable characters, no '/', ',' or space",
                    cli->arg) ? 2 : 2;
    char *hash = NULL;
    if (cli->auth_key) {
        size_t n = strlen(cli->auth_key);
        bool printable = true;
        for (size_t i = 0; i < n; i++)
            printable &= cli->auth_key[i] > 0x20 && cli->auth_key[i] < 0x7f;
        if (n < 16 || n > 40 || !printable)
            return fail("--auth-key must be 16 to 40 printable characters (40 hex digits for a 20-byte key)") ? 2 : 2;
        hash = secret_hash_password(cli->auth_key, cfg->password_iterations);
    }
    struct store_admin *a = admin_connect(cfg);
    if (!a) {
        free(hash);
        return 1;
    }
    int r = store_admin_add_charger(a, cli->arg, cli->name, hash ? hash : "", hash ? 1 : 0, err, sizeof err);
    store_admin_close(a);
    free(hash);
    if (r < 0)
        return fail("cannot add charger: %s", err);
    if (r == 1)
        return fail("charger '%s' already exists", cli->arg);
    fprintf(stderr, "ocppgw: charger %s added (security profile %d)\n", cli->arg, cli->auth_key ? 1 : 0);
    return 0;
}

/* ---- serve: the core's I/O ---- */

static int64_t io_now(void *ctx)
{
    (void)ctx;
    return time_now_ms();
}

static void io_send_conf(void *ctx, uint64_t conn_id, const char *msg_id, const struct ocpp_conf *conf)
{
    struct gateway *g = ctx;
    ocpp_send_conf(&g->transport, conn_id, msg_id, conf);
}

static void io_send_error(void *ctx, uint64_t conn_id, const char *msg_id, enum ocpp_err err,
                          const char *description)
{
    struct gateway *g = ctx;
    ocpp_send_error(&g->transport, conn_id, msg_id, err, description);
}

static void io_send_call(void *ctx, uint64_t conn_id, const char *msg_id, enum ocpp_action a,
                         const char *payload)
{
    struct gateway *g = ctx;
    ocpp_send_call(&g->transport, conn_id, msg_id, a, payload);
}

static void io_close(void *ctx, uint64_t conn_id, int code, const char *reason)
{
    struct gateway *g = ctx;
    g->transport.close(g, conn_id, code, reason);
}

static void io_db_submit(void *ctx, struct store_job *job)
{
    struct gateway *g = ctx;
    if (!g->store) {
        /* only during the last moments of shutdown, after the store stopped */
        log_warn(job->charger_id[0] ? job->charger_id : NULL, "%s not stored: shutting down",
                 store_op_name(job->op));
        store_job_free(job);
        return;
    }
    store_submit(g->store, job);
}

static void io_emit(void *ctx, const struct core_event *ev)
{
    (void)ctx;
    log_debug(ev->charger_id, "event %s%s%s", core_event_name(ev->kind), ev->status ? " " : "",
              ev->status ? ev->status : "");
}

/* A command ended: counted by action and outcome, with the charger's answer time. */
static void io_command_done(void *ctx, const struct core_command_view *v)
{
    (void)ctx;
    enum metrics_cmd_outcome o;
    switch (v->outcome) {
    case CORE_CMD_ANSWERED:
        if (!v->status)
            o = METRICS_CMD_ANSWERED;
        else if (strcmp(v->status, "Accepted") == 0 || strcmp(v->status, "Unlocked") == 0)
            o = METRICS_CMD_ACCEPTED;
        else
            o = METRICS_CMD_REJECTED;
        break;
    case CORE_CMD_CALL_ERROR: o = METRICS_CMD_CALL_ERROR; break;
    case CORE_CMD_TIMEOUT: o = METRICS_CMD_TIMEOUT; break;
    case CORE_CMD_DISCONNECTED: o = METRICS_CMD_DISCONNECTED; break;
    case CORE_CMD_INVALID_ANSWER: o = METRICS_CMD_INVALID_ANSWER; break;
    case CORE_CMD_CANCELLED:
    case CORE_CMD_PENDING:
    default: o = METRICS_CMD_CANCELLED; break;
    }
    metrics_command(v->action, o, v->answer_us);
}

static int64_t io_mono_us(void *ctx)
{
    (void)ctx;
    return time_mono_us();
}

static void io_random(void *ctx, void *buf, size_t n)
{
    (void)ctx;
    secret_random(buf, n);
}

/* ---- serve: lws ---- */

/*
 * Registry reload after the store (re)connects: notifications sent while the
 * database was unreachable are lost, so the table is read again, without
 * blocking the loop (a STORE_OP_CHARGERS_ALL job on the OCPP store).
 */
static bool store_was_ready;

static void registry_reload_submit(struct gateway *g)
{
    store_submit(g->store, store_job_new(STORE_OP_CHARGERS_ALL));
}

static void registry_reload_done(struct gateway *g, const struct store_job *job)
{
    if (job->status != STORE_OK) {
        log_warn(NULL, "charger registry reload failed; retrying on the next reconnect");
        store_was_ready = false;
        return;
    }
    core_registry_sync(g->core, job->out.chargers.items, job->out.chargers.n);
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

static int gw_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    struct gateway *g = gw;
    struct gw_pss *pss = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        if (g->api_vhost && lws_get_vhost(wsi) == g->api_vhost)
            return ws_refuse(wsi, 404, NULL, NULL);
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
        return 0;
    case LWS_CALLBACK_ESTABLISHED:
    case LWS_CALLBACK_RECEIVE:
    case LWS_CALLBACK_SERVER_WRITEABLE:
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
    case LWS_CALLBACK_CLOSED:
        return ws_callback(wsi, (int)reason, pss, in, len);
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
static struct lws_protocols ocpp_protocols[] = {
    { "ocpp1.6", gw_callback, sizeof(struct gw_pss), 1024, 0, NULL, 0 },
    { "http", gw_callback, sizeof(struct gw_pss), 0, 0, NULL, 0 },
    { NULL, NULL, 0, 0, 0, NULL, 0 }
};

static struct lws_protocols api_protocols[] = {
    { "http", gw_callback, sizeof(struct gw_pss), 0, 0, NULL, 0 },
    { NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void lws_log(int level, const char *line)
{
    char buf[512];
    str_copy(buf, sizeof buf, line);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    log_msg(level == LLL_ERR ? LOG_ERROR : level == LLL_WARN ? LOG_WARN : LOG_DEBUG, NULL, "lws: %s", buf);
}

static struct lws_sorted_usec_list tick_sul;
static bool watchdog;

static void tick(struct lws_sorted_usec_list *sul)
{
    struct gateway *g = gw;
    int ms = core_expire(g->core);
    bool ready = store_ready(g->store);
    if (ready && !store_was_ready)
        registry_reload_submit(g);
    store_was_ready = ready;
    rest_tick();
    if (watchdog)
        sd_notify(0, "WATCHDOG=1");
    if (ms < 10)
        ms = 10;
    lws_sul_schedule(g->ctx, 0, sul, tick, (lws_usec_t)ms * 1000);
}

static void on_signal(int sig)
{
    (void)sig;
    if (gw) {
        gw->stop = 1;
        if (gw->ctx)
            lws_cancel_service(gw->ctx);
    }
}

static void store_wake(void *ctx)
{
    struct gateway *g = ctx;
    if (g->ctx)
        lws_cancel_service(g->ctx);
}

static void registry_add(void *ctx, const struct store_charger *row)
{
    core_charger_upsert(ctx, row);
}

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
/*
 * The event loop. lws 4.1.6's own loop is poll(2), which walks every fd on
 * every wake-up: with thousands of idle chargers that dominates the CPU.
 * With server.event_loop = uv (the default) lws runs on a libuv loop we own
 * (a "foreign" loop: Debian ships lws's libuv support as a plugin that
 * exports no API of its own), epoll underneath. One iteration of either is
 * service_once(); if the plugin cannot be loaded we fall back to poll.
 */
static uv_loop_t uv_loop;
static bool use_uv;

static void service_once(struct gateway *g)
{
    if (use_uv)
        uv_run(&uv_loop, UV_RUN_ONCE);
    else
        lws_service(g->ctx, 0);
}

/*
 * Destroys the context. On a foreign libuv loop lws_context_destroy() only
 * starts: lws's handles close as the loop runs, and lws clears the pointer
 * given as info.pcontext when it is done. Then the loop itself is closed.
 */
static void context_destroy(struct lws_context **ctx)
{
    if (*ctx)
        lws_context_destroy(*ctx);
    if (!use_uv) {
        *ctx = NULL;
        return;
    }
    for (int i = 0; i < 3 && *ctx; i++) {
        uv_run(&uv_loop, UV_RUN_DEFAULT);
        if (*ctx)
            lws_context_destroy(*ctx);
    }
    uv_run(&uv_loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&uv_loop) != 0)
        log_warn(NULL, "event loop closed with handles still open");
    *ctx = NULL;
    use_uv = false;
}

#define FD_RESERVE 64

static rlim_t fd_hard;

static int fd_limit_for_context(const struct config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    fd_hard = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 1000000 ? 1000000 : rl.rlim_max;
    long table = (long)fd_hard - FD_RESERVE;
    if (cfg->max_connections > 0 && cfg->max_connections < table)
        table = cfg->max_connections;
    if (table < 64)
        table = 64;
    rl.rlim_cur = (rlim_t)table;
    rl.rlim_max = fd_hard;
    setrlimit(RLIMIT_NOFILE, &rl);
    return (int)table;
}

static void fd_limit_after_context(void)
{
    struct rlimit rl = { fd_hard, fd_hard };
    setrlimit(RLIMIT_NOFILE, &rl);
}

static struct lws_vhost *make_vhost(struct gateway *g, const char *listen, const char *name,
                                    struct lws_protocols *protocols, const lws_retry_bo_t *retry,
                                    bool tls)
{
    char addr[128];
    int port;
    config_split_listen(listen, addr, sizeof addr, &port);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = port;
    info.iface = strcmp(addr, "0.0.0.0") == 0 || addr[0] == '\0' ? NULL : addr;
    info.protocols = protocols;
    info.vhost_name = name;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
    info.retry_and_idle_policy = retry;
    info.keepalive_timeout = 30;
    info.timeout_secs = 10;
    if (tls) {
        /* security profiles 2 and 3: TLS 1.2 or newer; client certificates
         * are asked for (not required) and checked against tls_ca */
        info.ssl_cert_filepath = g->cfg.tls_cert;
        info.ssl_private_key_filepath = g->cfg.tls_key;
        info.ssl_options_set = SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1;
        if (g->cfg.tls_ca) {
            info.ssl_ca_filepath = g->cfg.tls_ca;
            info.options |= LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT |
                            LWS_SERVER_OPTION_PEER_CERT_NOT_REQUIRED;
        }
    }
    struct lws_vhost *vh = lws_create_vhost(g->ctx, &info);
    if (!vh)
        fail("cannot listen on %s", listen);
    return vh;
}

static int cmd_serve(struct config *cfg)
{
    struct gateway g;
    memset(&g, 0, sizeof g);
    g.cfg = *cfg;
    gw = &g;
    g.started_ms = time_now_ms();

    if (!ocpp_schema_init())
        return fail("embedded OCPP schemas are broken");

    /* the database must be reachable at start; apply what migrations are pending */
    struct store_admin *admin = admin_connect(cfg);
    if (!admin)
        return 1;
    char err[512];
    int applied = store_admin_migrate(admin, err, sizeof err);
    if (applied < 0) {
        store_admin_close(admin);
        return fail("migration failed: %s", err);
    }
    if (applied)
        log_info(NULL, "applied %d migration%s", applied, applied == 1 ? "" : "s");

    lws_set_log_level(log_enabled(LOG_DEBUG) ? LLL_ERR | LLL_WARN : LLL_ERR, lws_log);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DISABLE_IPV6;
    if (cfg->tls_listen[0])
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.pt_serv_buf_size = 16384;
    info.user = &g;
    g.max_connections = fd_limit_for_context(cfg);
    void *foreign_loops[1] = { &uv_loop };
    if (strcmp(cfg->event_loop, "uv") == 0 && uv_loop_init(&uv_loop) == 0) {
        struct lws_context_creation_info uv_info = info;
        uv_info.options |= LWS_SERVER_OPTION_LIBUV;
        uv_info.foreign_loops = foreign_loops;
        uv_info.pcontext = &g.ctx;
        g.ctx = lws_create_context(&uv_info);
        use_uv = g.ctx != NULL;
        if (!use_uv) {
            uv_loop_close(&uv_loop);
            log_warn(NULL, "libuv event loop not available (libwebsockets-evlib-uv?): using poll");
        }
    }
    if (!g.ctx)
        g.ctx = lws_create_context(&info);
    fd_limit_after_context();
    if (!g.ctx) {
        store_admin_close(admin);
        return fail("cannot create the libwebsockets context");
    }
    ws_init(&g);

    lws_retry_bo_t retry = {
        .secs_since_valid_ping = (uint16_t)cfg->ping_interval,
        .secs_since_valid_hangup = (uint16_t)(cfg->ping_interval + cfg->ping_timeout),
    };
    int rc = 1;
    g.ocpp_vhost = make_vhost(&g, cfg->listen, "ocpp", ocpp_protocols, &retry, false);
    if (!g.ocpp_vhost)
        goto out_ctx;
    if (cfg->tls_listen[0] && !make_vhost(&g, cfg->tls_listen, "ocpp-tls", ocpp_protocols, &retry, true))
        goto out_ctx;
    if (cfg->api_listen[0]) {
        g.api_vhost = make_vhost(&g, cfg->api_listen, "api", api_protocols, NULL, false);
        if (!g.api_vhost)
            goto out_ctx;
    }

    struct core_config cc;
    core_config_defaults(&cc);
    cc.auto_register = cfg->auto_register;
    cc.heartbeat_interval_s = cfg->heartbeat_interval;
    cc.authorize_concurrent_tx = cfg->authorize_concurrent_tx;
    cc.call_timeout_ms = cfg->call_timeout * 1000;
    cc.call_queue_max = cfg->call_queue;
    cc.remote_start_wait_ms = cfg->remote_start_wait * 1000;
    cc.auth_fail_max = cfg->auth_fail_max;
    cc.auth_fail_window_ms = cfg->auth_fail_window * 1000;
    cc.auth_block_ms = cfg->auth_block * 1000;
    cc.conn_rate_per_ip = cfg->conn_rate_per_ip;
    cc.data_transfer_vendors = cfg->data_transfer_vendors;
    struct core_io io = {
        .ctx = &g, .now_ms = io_now, .send_conf = io_send_conf, .send_error = io_send_error,
        .send_call = io_send_call, .close_conn = io_close, .db_submit = io_db_submit,
        .emit = io_emit, .random = io_random, .command_done = io_command_done,
        .mono_us = io_mono_us,
    };
    g.core = core_new(&io, &cc);

    /* the store first (it LISTENs), then the registry: a change in between is not lost */
    struct store_config sc = {
        .conninfo = cfg->db_url, .batch_max = cfg->db_batch_max, .queue_max = cfg->db_queue_max,
        .wake = store_wake, .wake_ctx = &g,
    };
    g.store = store_start(&sc);
    if (!g.store)
        goto out_core;
    int n = store_admin_load_chargers(admin, registry_add, g.core, err, sizeof err);
    if (n < 0) {
        fail("cannot load chargers: %s", err);
        goto out_store;
    }
    /* REST: its own connection (queries never wait in the chargers' write
     * transactions), LISTENing on api_keys; then the key cache, like the registry */
    http_init(&g);
    struct store_config rsc = {
        .conninfo = cfg->db_url, .batch_max = cfg->db_batch_max, .queue_max = cfg->db_queue_max,
        .wake = store_wake, .wake_ctx = &g, .listen = STORE_LISTEN_APIKEYS,
        .application_name = "ocppgw-rest",
    };
    g.rest_store = store_start(&rsc);
    if (!g.rest_store)
        goto out_store;
    int nkeys = store_admin_apikey_load(admin, rest_keys_add, NULL, err, sizeof err);
    store_admin_close(admin);
    admin = NULL;
    if (nkeys < 0) {
        fail("cannot load API keys: %s", err);
        goto out_store;
    }

    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    uint64_t wd_usec = 0;
    watchdog = sd_watchdog_enabled(0, &wd_usec) > 0;
    lws_sul_schedule(g.ctx, 0, &tick_sul, tick, 100 * 1000);
    log_info(NULL, "ocppgw %s serving OCPP on %s%s%s; %d chargers known, %d API keys; up to %d"
             " connections", OCPPGW_VERSION, cfg->listen, cfg->api_listen[0] ? ", REST on " : "",
             cfg->api_listen, n, nkeys, g.max_connections);
    sd_notify(0, "READY=1");

    while (!g.stop)
        service_once(&g);

    /* shutdown: answer what is in flight, then close with 1001 */
    sd_notify(0, "STOPPING=1");
    log_info(NULL, "shutting down: %zu chargers connected, %zu database jobs in flight",
             core_connected_count(g.core), core_jobs_outstanding(g.core));
    g.shutting_down = true;
    core_commands_shutdown(g.core); /* their REST requests are answered in the drain below */
    int64_t deadline = time_mono_us() + 10 * 1000000;
    while ((core_jobs_outstanding(g.core) > 0 || rest_in_flight() > 0) && time_mono_us() < deadline)
        service_once(&g);
    ws_close_all(&g, 1001);
    deadline = time_mono_us() + 3 * 1000000;
    while (ws_open_count(&g) > 0 && time_mono_us() < deadline)
        service_once(&g);
    rc = 0;

out_store:
    lws_sul_cancel(&tick_sul);
    store_stop(g.store); /* writes what is queued (disconnects), joins */
    g.store = NULL;
    store_stop(g.rest_store); /* audit rows and other write-behind REST jobs */
    g.rest_store = NULL;
out_core:
    if (admin)
        store_admin_close(admin);
    context_destroy(&g.ctx); /* closes what is left; CLOSED callbacks reach the core */
    http_shutdown(); /* REST requests the close left without client */
    core_free(g.core);
    hmap_free(g.ws_by_conn);
    ocpp_schema_free();
    gw = NULL;
    log_info(NULL, "stopped");
    return rc;
out_ctx:
    context_destroy(&g.ctx);
    hmap_free(g.ws_by_conn);
    store_admin_close(admin);
    ocpp_schema_free();
    gw = NULL;
    return rc;
}

int main(int argc, char **argv)
{
    /*
     * glibc sets up its time zone state on first use; make that happen here,
     * before the store threads exist, so their first gmtime_r() (log lines)
     * never races libwebsockets' localtime() on the loop thread.
     */
    tzset();
    ocpp_json_init();
    struct cli cli;
    int r = parse_cli(argc, argv, &cli);
    if (r == -1)
        return 0;
    if (r)
        return r;
    struct config cfg;
    bool serve = strcmp(cli.cmd, "serve") == 0;
    if (!serve && strcmp(cli.cmd, "migrate") && strcmp(cli.cmd, "apikey") && strcmp(cli.cmd, "charger"))
        return fail("unknown command '%s' (see ocppgw --help)", cli.cmd) ? 2 : 2;
    if (!build_config(&cli, &cfg, serve)) {
        config_free(&cfg);
        return 2;
    }
    if (serve)
        r = cmd_serve(&cfg);
    else if (strcmp(cli.cmd, "migrate") == 0)
        r = cmd_migrate(&cfg);
    else if (strcmp(cli.cmd, "apikey") == 0)
        r = cmd_apikey(&cli, &cfg);
    else
        r = cmd_charger(&cli, &cfg);
    config_free(&cfg);
    return r;
}
