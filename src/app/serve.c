/*
 * `ocppgw serve`: the composition root. It builds every part from the
 * configuration and wires them together, and is the only place that knows
 * them all:
 *
 *   core  <- core_io (this file): CALLRESULTs and CALLs go out through the
 *            glue's transport (src/ocpp/ send helpers), store jobs to the
 *            OCPP store, events to the log, ended commands to the metrics
 *   store <- two instances: the OCPP writer and REST's own connection
 *   REST  <- http_init() (src/glue/http_lws.c): the core, the REST store
 *   glue  <- gw_server_listen() / gw_server_run(): the context and the loop
 *
 * Order of the start: listeners first (a port in use fails before anything
 * else starts), the core, the OCPP store (it LISTENs) and then the charger
 * registry, so a change in between is not lost; the same for REST's store
 * and the API key cache. The only synchronous libpq use is here, before the
 * loop (migrations, the two loads).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "core.h"
#include "csr.h"
#include "gateway.h"
#include "hmap.h"
#include "metrics.h"
#include "ocpp.h"
#include "rest.h"
#include "secret.h"
#include "store.h"
#include "util.h"
#include "webhook.h"

/* Above this many websockets still open after the drain, the process exits without freeing them one by one. */
#define FAST_EXIT_SOCKETS 4096

#ifndef OCPPGW_VERSION
#define OCPPGW_VERSION "0.1.0"
#endif

/* ---- the core's I/O ---- */

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

/* SignCertificate: the CSR goes to the signing thread; the outcome comes back in the loop. */
static void io_sign_csr(void *ctx, const char *charger_id, const char *csr_pem)
{
    struct gateway *g = ctx;
    csr_signer_submit(g->signer, charger_id, csr_pem);
}

/* The CA of security.ca_cert on its own thread; false (a line said why) if it cannot be loaded. */
static bool start_signer(struct gateway *g, const struct config *cfg)
{
    if (!cfg->ca_cert)
        return true;
    char err[256];
    struct csr_ca *ca = csr_ca_load(cfg->ca_cert, cfg->ca_key, err, sizeof err);
    if (!ca) {
        app_fail("%s", err);
        return false;
    }
    struct csr_signer_config sc = {
        .org = cfg->organization, .days = cfg->cert_days, .queue_max = 256,
        .wake = gw_store_wake, .wake_ctx = g,
    };
    g->signer = csr_signer_start(ca, &sc);
    if (!g->signer) {
        app_fail("cannot start the certificate signing thread");
        return false;
    }
    log_info(NULL, "SignCertificate: CSRs of organization '%s' are signed by %s", cfg->organization,
             cfg->ca_cert);
    return true;
}

/* The webhook delivery thread (src/webhook/); false (a line said why) if it cannot start. */
static bool start_webhooks(struct gateway *g, const struct config *cfg, const char *node_id, const char *boot_id)
{
    char node[96];
    snprintf(node, sizeof node, "%s/%s", node_id, boot_id);     /* its claims name the node and this run */
    struct wh_config wc = {
        .conninfo = cfg->db_url, .timeout_s = cfg->webhooks_timeout, .concurrency = cfg->webhooks_concurrency,
        .allow_private = cfg->webhooks_allow_private, .disable_after_s = cfg->webhooks_disable_after,
        .user_agent = "ocppgw/" OCPPGW_VERSION, .node = node, .wake = gw_store_wake, .wake_ctx = g,
    };
    const char *schedule = cfg->webhooks_retry_schedule[0] ? cfg->webhooks_retry_schedule : WH_SCHEDULE_DEFAULT;
    if (!wh_schedule_parse(schedule, &wc.schedule)) {
        app_fail("webhooks.retry_schedule: expected up to %d comma-separated seconds, got '%s'", WH_SCHEDULE_MAX,
                 schedule);
        return false;
    }
    g->webhooks = wh_start(&wc);
    if (!g->webhooks) {
        app_fail("cannot start the webhook delivery thread");
        return false;
    }
    if (cfg->webhooks_allow_private)
        log_warn(NULL, "webhooks.allow_private is on: deliveries may go to loopback and private addresses");
    return true;
}

/* ---- composition ---- */

static void core_config_from(const struct config *cfg, struct core_config *cc)
{
    core_config_defaults(cc);
    cc->auto_register = cfg->auto_register;
    cc->heartbeat_interval_s = cfg->heartbeat_interval;
    cc->authorize_concurrent_tx = cfg->authorize_concurrent_tx;
    cc->call_timeout_ms = cfg->call_timeout * 1000;
    cc->call_queue_max = cfg->call_queue;
    cc->remote_start_wait_ms = cfg->remote_start_wait * 1000;
    cc->load_interval_ms = cfg->load_interval * 1000;
    cc->load_margin_da = cfg->load_margin * 10;
    cc->load_stack_level = cfg->load_stack_level;
    cc->load_disconnect_grace_ms = cfg->load_disconnect_grace * 1000;
    cc->load_charger_max_da = cfg->load_charger_max_current * 10;
    cc->auth_fail_max = cfg->auth_fail_max;
    cc->auth_fail_window_ms = cfg->auth_fail_window * 1000;
    cc->auth_block_ms = cfg->auth_block * 1000;
    cc->auth_fail_max_per_id = cfg->auth_fail_max_per_id;
    cc->auth_fail_window_per_id_ms = cfg->auth_fail_window_per_id * 1000;
    cc->auth_fail_max_per_id_day = cfg->auth_fail_max_per_id_day;
    cc->conn_rate_per_ip = cfg->conn_rate_per_ip;
    cc->conn_burst_per_ip = cfg->conn_burst_per_ip;
    cc->data_transfer_vendors = cfg->data_transfer_vendors;
}

/* A random id for this process's run (presence: its boot of the node): 16 hex digits. */
static void new_boot_id(char out[17])
{
    unsigned char r[8];
    secret_random(r, sizeof r);
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
}

static void registry_add(void *ctx, const struct store_charger *row)
{
    core_charger_upsert(ctx, row);
}

static void site_add(void *ctx, const struct store_site *row)
{
    core_site_upsert(ctx, row);
}

/* At shutdown: logs a part that took over half a second to stop (what an operator waiting on it asks). */
static void slow_stop(const char *what, int64_t *t0)
{
    int64_t now = time_mono_us();
    if (now - *t0 > 500000)
        log_info(NULL, "shutting down: %s took %lld ms to stop", what, (long long)(now - *t0) / 1000);
    *t0 = now;
}

int app_serve(const struct config *cfg)
{
    struct gateway g;
    memset(&g, 0, sizeof g);
    g.cfg = *cfg;
    g.started_ms = time_now_ms();

    if (!ocpp_schema_init())
        return app_fail("embedded OCPP schemas are broken");

    /* the database must be reachable at start; apply what migrations are pending */
    struct store_admin *admin = app_admin_connect(cfg);
    if (!admin) {
        ocpp_schema_free();
        return 1;
    }
    char err[512];
    int applied = store_admin_migrate(admin, err, sizeof err);
    if (applied < 0) {
        store_admin_close(admin);
        ocpp_schema_free();
        return app_fail("migration failed: %s", err);
    }
    if (applied)
        log_info(NULL, "applied %d migration%s", applied, applied == 1 ? "" : "s");

    int rc = 1;
    if (!gw_server_listen(&g, err, sizeof err)) {
        app_fail("%s", err);
        goto out;
    }

    if (!start_signer(&g, cfg))
        goto out;
    struct core_config cc;
    core_config_from(cfg, &cc);
    struct core_io io = {
        .ctx = &g, .now_ms = io_now, .send_conf = io_send_conf, .send_error = io_send_error,
        .send_call = io_send_call, .close_conn = io_close, .db_submit = io_db_submit,
        .emit = io_emit, .random = io_random, .command_done = io_command_done,
        .mono_us = io_mono_us, .sign_csr = g.signer ? io_sign_csr : NULL,
    };
    g.core = core_new(&io, &cc);

    /*
     * The store first (it LISTENs), then the registry: a change in between
     * is not lost. It keeps this process's presence (node row, heartbeat,
     * the chargers it holds) under a boot id of this run.
     */
    char node_id[65], boot_id[17];
    config_node_id(cfg, node_id, sizeof node_id);
    new_boot_id(boot_id);
    struct store_config sc = {
        .conninfo = cfg->db_url, .batch_max = cfg->db_batch_max, .queue_max = cfg->db_queue_max,
        .wake = gw_store_wake, .wake_ctx = &g,
        .node_id = node_id, .boot_id = boot_id, .version = OCPPGW_VERSION,
        .heartbeat_interval_s = cfg->cluster_heartbeat_interval,
        .session_update_interval_s = cfg->events_session_update_interval,
    };
    g.store = store_start(&sc);
    if (!g.store)
        goto out;
    int n = store_admin_load_chargers(admin, registry_add, g.core, err, sizeof err);
    if (n < 0) {
        app_fail("cannot load chargers: %s", err);
        goto out;
    }
    if (store_admin_load_sites(admin, site_add, g.core, err, sizeof err) < 0) {
        app_fail("cannot load sites: %s", err);
        goto out;
    }
    size_t open_doors = core_unauthenticated_count(g.core);
    if (open_doors)
        log_warn(NULL, "%zu charger%s accept%s connections without credentials (security profile 0)",
                 open_doors, open_doors == 1 ? "" : "s", open_doors == 1 ? "s" : "");
    if (cfg->auto_register)
        log_warn(NULL, "ocpp.auto_register is on: any unknown charger id connects without credentials"
                 " and is registered (security profile 0); for development only");
    /* REST: its own connection (queries never wait in the chargers' write
     * transactions), LISTENing on api_keys; then the key cache, like the registry */
    http_init(&g);
    struct store_config rsc = {
        .conninfo = cfg->db_url, .batch_max = cfg->db_batch_max, .queue_max = cfg->db_queue_max,
        .wake = gw_store_wake, .wake_ctx = &g, .listen = STORE_LISTEN_APIKEYS | STORE_LISTEN_EVENTS,
        .application_name = "ocppgw-rest",
        .statement_timeout_ms = cfg->rest_statement_timeout * 1000,
        .sql_cache_max = cfg->rest_statement_cache,
    };
    g.rest_store = store_start(&rsc);
    if (!g.rest_store)
        goto out;
    int nkeys = store_admin_apikey_load(admin, rest_keys_add, NULL, err, sizeof err);
    store_admin_close(admin);
    admin = NULL;
    if (nkeys < 0) {
        app_fail("cannot load API keys: %s", err);
        goto out;
    }

    if (!start_webhooks(&g, cfg, node_id, boot_id))
        goto out;
    struct store_exports_config xc = {      /* CSV / NDJSON exports: a thread and a connection each */
        .conninfo = cfg->db_url, .wake = gw_store_wake, .wake_ctx = &g,
    };
    g.exports = store_exports_start(&xc);
    if (!g.exports)
        goto out;
    char receipt_prefix[65];
    config_receipt_prefix(cfg, receipt_prefix, sizeof receipt_prefix);
    g.pricing = store_pricing_start(cfg->db_url, receipt_prefix,   /* session cost, off the loop */
                                    cfg->tariffs_idle_power_w);
    if (!g.pricing)
        goto out;
    g.utilization = store_utilization_start(cfg->db_url);   /* utilization rollups, off the loop */
    if (!g.utilization)
        goto out;
    struct store_retention_config retention = {
        .events_s = config_events_retention_s(cfg),
        .meter_values_days = cfg->retention_meter_values,
        .status_history_days = cfg->retention_status_history,
        .commands_days = cfg->retention_commands,
        .audit_log_days = cfg->retention_audit_log,
    };
    g.retention = store_retention_start(cfg->db_url, &retention);   /* old raw rows, off the loop */
    if (!g.retention)
        goto out;

    gw_server_run(&g, (size_t)n, (size_t)nkeys);
    rc = 0;

out:;
    int64_t stop_t0 = time_mono_us(), part_t0 = stop_t0;
    csr_signer_stop(g.signer);          /* CSRs still waiting are dropped: their chargers ask again */
    g.signer = NULL;
    slow_stop("the CSR signer", &part_t0);
    store_pricing_stop(g.pricing);      /* the batch in progress commits or rolls back */
    g.pricing = NULL;
    slow_stop("the pricing and energy job", &part_t0);
    store_utilization_stop(g.utilization);  /* the round in progress commits or rolls back */
    g.utilization = NULL;
    slow_stop("the utilization job", &part_t0);
    store_retention_stop(g.retention);  /* the batch in progress commits */
    g.retention = NULL;
    slow_stop("the retention job", &part_t0);
    wh_stop(g.webhooks);                /* transfers in flight are abandoned: their leases run out */
    g.webhooks = NULL;
    slow_stop("the webhooks", &part_t0);
    store_exports_stop(g.exports);      /* exports in flight were cut; their threads roll back */
    g.exports = NULL;
    slow_stop("the exports", &part_t0);
    store_stop(g.store);                /* writes what is queued (disconnects), then the node's stop; joins */
    g.store = NULL;
    slow_stop("the OCPP store", &part_t0);
    store_stop(g.rest_store);           /* audit rows and other write-behind REST jobs */
    g.rest_store = NULL;
    slow_stop("the REST store", &part_t0);
    if (admin)
        store_admin_close(admin);
    int64_t stop_t1 = time_mono_us();
    size_t left = g.ws_by_conn ? ws_open_count(&g) : 0;
    if (rc == 0 && left > FAST_EXIT_SOCKETS) {
        /*
         * Every disconnect is stored and the stores have stopped: what is
         * left is memory and sockets. lws 4.1.6 as Debian builds it (_DEBUG)
         * walks its whole fd table, touching every live connection, for
         * each socket it closes, so freeing N sockets costs N²/2 (2 s for
         * 19,000). The kernel closes them all at once when the process ends.
         */
        log_info(NULL, "shutting down: stores stopped in %lld ms; %zu sockets left for the kernel to close",
                 (long long)(stop_t1 - stop_t0) / 1000, left);
        log_info(NULL, "stopped");
        fflush(NULL);
        _exit(0);
    }
    gw_server_destroy(&g);              /* closes what is left; CLOSED callbacks reach the core */
    if (rc == 0)
        log_info(NULL, "shutting down: stores stopped in %lld ms, sockets released in %lld ms",
                 (long long)(stop_t1 - stop_t0) / 1000, (long long)(time_mono_us() - stop_t1) / 1000);
    http_shutdown();                    /* REST requests the close left without client */
    core_free(g.core);
    ocpp_schema_free();
    if (rc == 0)
        log_info(NULL, "stopped");
    return rc;
}
