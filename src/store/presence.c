/*
 * Presence: this gateway process as a node of the cluster (several gateways
 * on one database), kept by the OCPP store thread. The rules are in
 * sql/010_presence.sql; this file decides when each runs and says what it
 * did (log, metrics). The jobs are the thread's own: thread.c's take_batch
 * puts the due ones first into a batch, pipeline.c's finish_batch hands
 * them back here instead of to the loop.
 *
 *   NODE_START      first batch after the first connect: this boot takes the
 *                   node row; chargers an earlier boot of the node left
 *                   connected (kill -9) are marked disconnected. Retried at
 *                   each heartbeat until it commits.
 *   NODE_HEARTBEAT  every cluster.heartbeat_interval seconds (the database's
 *                   clock is the one that counts); takes back the chargers a
 *                   sweep cleared while this boot was cut off from the database.
 *   NODE_SWEEP      with each heartbeat from three intervals after each
 *                   connect on (a gateway that was cut off itself gives the
 *                   others time to come back first): nodes silent for three
 *                   of their intervals lose their chargers.
 *   NODE_STOP       the thread's last batch when it stops (thread.c).
 *
 * The charger-connected write names the node and boot too (ops.c,
 * params_connected), so the core knows nothing of any of this.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "store_internal.h"
#include "util.h"

#define PRESENCE_INTERVAL_DEFAULT 10

bool store_presence_op(enum store_op op)
{
    return op == STORE_OP_NODE_START || op == STORE_OP_NODE_HEARTBEAT || op == STORE_OP_NODE_SWEEP ||
           op == STORE_OP_NODE_STOP;
}

static bool id_valid(const char *s, size_t max, const char *extra)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (; *s; s++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  strchr(extra, c) != NULL;
        if (!ok)
            return false;
    }
    return true;
}

bool store_presence_init(struct store_node *n, const struct store_config *cfg)
{
    memset(n, 0, sizeof *n);
    if (!cfg->node_id)
        return true;
    if (!id_valid(cfg->node_id, STORE_NODE_ID_MAX, "._:-")) {
        log_error(NULL, "store: node id '%s' is not 1 to %d of A-Z a-z 0-9 . _ : -", cfg->node_id,
                  STORE_NODE_ID_MAX);
        return false;
    }
    if (!cfg->boot_id || !id_valid(cfg->boot_id, STORE_BOOT_ID_MAX, "-")) {
        log_error(NULL, "store: presence needs a boot id of 1 to %d letters and digits", STORE_BOOT_ID_MAX);
        return false;
    }
    n->on = true;
    str_copy(n->id, sizeof n->id, cfg->node_id);
    str_copy(n->boot, sizeof n->boot, cfg->boot_id);
    str_copy(n->version, sizeof n->version, cfg->version ? cfg->version : "");
    n->interval_s = cfg->heartbeat_interval_s > 0 ? cfg->heartbeat_interval_s : PRESENCE_INTERVAL_DEFAULT;
    return true;
}

static int64_t interval_us(const struct store_node *n)
{
    return (int64_t)n->interval_s * 1000000;
}

void store_presence_connected(struct store *s)
{
    struct store_node *n = &s->node;
    if (!n->on)
        return;
    int64_t now = time_mono_us();
    n->next_us = now;
    n->sweep_from_us = now + 3 * interval_us(n);
}

void store_presence_take(struct store *s, struct store_job **jobs, uint32_t *count, uint32_t cap)
{
    struct store_node *n = &s->node;
    if (!n->on || *count >= cap)
        return;
    int64_t now = time_mono_us();
    if (now < n->next_us)
        return;
    n->next_us = now + interval_us(n);
    jobs[(*count)++] = store_job_new(n->started ? STORE_OP_NODE_HEARTBEAT : STORE_OP_NODE_START);
    if (n->started && now >= n->sweep_from_us && *count < cap)
        jobs[(*count)++] = store_job_new(STORE_OP_NODE_SWEEP);
}

int store_presence_wait_ms(const struct store *s)
{
    const struct store_node *n = &s->node;
    if (!n->on)
        return -1;
    int64_t left = n->next_us - time_mono_us();
    return left <= 0 ? 0 : (int)(left / 1000) + 1;
}

/* "12.3 s ago, at 2025-01-02T03:04:05Z" of a wall-clock time in ms. */
static void format_when(int64_t ms, char *buf, size_t cap)
{
    if (ms <= 0) {
        snprintf(buf, cap, "unknown");
        return;
    }
    char iso[40];
    time_format_iso8601(ms, iso, sizeof iso);
    snprintf(buf, cap, "%.1f s ago, at %s", (double)(time_now_ms() - ms) / 1000.0, iso);
}

static const char *failure(const struct store_job *j)
{
    return j->status == STORE_ERR_UNAVAILABLE ? "database unavailable" : "statement failed";
}

static void start_done(struct store_node *n, const struct store_job *j)
{
    if (j->status != STORE_OK) {
        log_warn(NULL, "presence: node %s could not register (%s); retrying in %d s", n->id, failure(j),
                 n->interval_s);
        return;
    }
    n->started = true;
    const char *prev = j->out.node.other_boot;
    if (!prev[0] || strcmp(prev, n->boot) == 0) {
        log_info(NULL, "presence: node %s registered (boot %s, heartbeat every %d s)", n->id, n->boot,
                 n->interval_s);
    } else if (j->out.node.other_stopped && j->out.node.cleared == 0) {
        log_info(NULL, "presence: node %s registered (boot %s, heartbeat every %d s); its previous run "
                 "(boot %s) stopped cleanly", n->id, n->boot, n->interval_s, prev);
    } else {
        char when[80];
        format_when(j->out.node.other_ms, when, sizeof when);
        log_warn(NULL, "presence: node %s registered (boot %s, heartbeat every %d s); its previous run, "
                 "boot %s, did not stop cleanly (last heartbeat %s): %d charger%s it left connected "
                 "marked disconnected", n->id, n->boot, n->interval_s, prev, when, j->out.node.cleared,
                 j->out.node.cleared == 1 ? "" : "s");
    }
    if (j->out.node.cleared > 0)
        metrics_presence_cleared(METRICS_PRESENCE_RESTART, (size_t)j->out.node.cleared);
}

static void heartbeat_done(struct store_node *n, const struct store_job *j)
{
    if (j->status != STORE_OK) {
        if (j->status == STORE_ERR_FAILED)
            log_warn(NULL, "presence: heartbeat of node %s failed (%s)", n->id, failure(j));
        return;
    }
    const char *state = j->out.node.state;
    if (strcmp(state, "superseded") == 0) {
        if (!n->superseded)
            log_error(NULL, "presence: node id %s is in use by another gateway process (boot %s); "
                      "cluster.node_id must be unique per process: this process's chargers are not "
                      "tracked by a live node row", n->id, j->out.node.other_boot);
        n->superseded = true;
        return;
    }
    n->superseded = false;
    if (strcmp(state, "ok") == 0)
        return;
    log_warn(NULL, "presence: node %s had been %s (its heartbeat had stopped: database unreachable?); "
             "%d charger%s it still holds marked connected again", n->id,
             strcmp(state, "recreated") == 0 ? "removed from gateway_nodes" : "declared lost by another gateway",
             j->out.node.cleared, j->out.node.cleared == 1 ? "" : "s");
    if (j->out.node.cleared > 0)
        metrics_presence_resumed((size_t)j->out.node.cleared);
}

static void sweep_done(struct store_node *n, const struct store_job *j)
{
    if (j->status != STORE_OK) {
        if (j->status == STORE_ERR_FAILED)
            log_warn(NULL, "presence: sweep of lost nodes by %s failed (%s)", n->id, failure(j));
        return;
    }
    for (size_t i = 0; i < j->out.node.n_lost; i++) {
        const struct store_node_lost *l = &j->out.node.lost[i];
        char when[80];
        format_when(l->heartbeat_ms, when, sizeof when);
        log_warn(NULL, "presence: node %s (boot %s) lost: last heartbeat %s; %d charger%s it held "
                 "marked disconnected", l->node_id, l->boot_id, when, l->cleared, l->cleared == 1 ? "" : "s");
        metrics_presence_node_lost();
        if (l->cleared > 0)
            metrics_presence_cleared(METRICS_PRESENCE_NODE_LOST, (size_t)l->cleared);
    }
}

static void stop_done(struct store_node *n, const struct store_job *j)
{
    if (j->status != STORE_OK) {
        log_warn(NULL, "presence: node %s could not record its stop (%s); its chargers are marked "
                 "disconnected at its next start, or by another gateway %d s after its last heartbeat",
                 n->id, failure(j), 3 * n->interval_s);
        return;
    }
    if (j->out.node.cleared > 0)
        log_info(NULL, "presence: node %s stopped; %d charger%s still held marked disconnected", n->id,
                 j->out.node.cleared, j->out.node.cleared == 1 ? "" : "s");
    else
        log_info(NULL, "presence: node %s stopped", n->id);
}

void store_presence_done(struct store *s, struct store_job *j)
{
    struct store_node *n = &s->node;
    switch (j->op) {
    case STORE_OP_NODE_START:
        start_done(n, j);
        break;
    case STORE_OP_NODE_HEARTBEAT:
        heartbeat_done(n, j);
        break;
    case STORE_OP_NODE_SWEEP:
        sweep_done(n, j);
        break;
    case STORE_OP_NODE_STOP:
        stop_done(n, j);
        break;
    default:
        abort();
    }
    store_job_free(j);
}

void store_presence_stop(struct store *s)
{
    if (!s->node.on || !s->conn)
        return;
    s->batch.jobs[0] = store_job_new(STORE_OP_NODE_STOP);
    s->batch.n = 1;
    store_pipeline_run(s);
}
