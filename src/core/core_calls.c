/*
 * The slots commands' CALLs ride on (gateway -> charger). Each charger has
 * at most one CALL in flight (OCPP-J) and a bounded FIFO behind it. A CALL
 * in flight has a deadline; core_expire() fails its command with
 * CORE_CMD_TIMEOUT and sends the next. A charger that disconnects or is
 * replaced fails its queue and its CALL in flight at once with
 * CORE_CMD_DISCONNECTED (core_free and shutdown: CORE_CMD_CANCELLED). The
 * charger's answer goes to the command (core_commands.c), which decides
 * what it means. Every queued command is told exactly once how its CALL
 * ended.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "util.h"

static void inflight_link(struct core *c, struct core_outcall *oc)
{
    oc->inflight_prev = NULL;
    oc->inflight_next = c->inflight;
    if (c->inflight)
        c->inflight->inflight_prev = oc;
    c->inflight = oc;
}

static void inflight_unlink(struct core *c, struct core_outcall *oc)
{
    if (oc->inflight_prev)
        oc->inflight_prev->inflight_next = oc->inflight_next;
    else
        c->inflight = oc->inflight_next;
    if (oc->inflight_next)
        oc->inflight_next->inflight_prev = oc->inflight_prev;
    oc->inflight_prev = oc->inflight_next = NULL;
}

/* Frees a slot that got no valid CALLRESULT, then tells its command. */
static void fail(struct core *c, struct core_outcall *oc, enum core_cmd_outcome outcome,
                 const char *code, const char *description)
{
    struct core_command *cmd = oc->cmd;
    free(oc);
    core_cmd_failed(c, cmd, outcome, code, description);
}

/* Sends the next queued CALL if nothing is in flight. */
static void pump(struct core *c, struct core_charger *ch)
{
    if (ch->call_inflight || !ch->queue_head || !ch->conn)
        return;
    struct core_outcall *oc = ch->queue_head;
    ch->queue_head = oc->next;
    if (!ch->queue_head)
        ch->queue_tail = NULL;
    ch->queue_len--;
    oc->next = NULL;
    oc->deadline_ms = core_now(c) + c->cfg.call_timeout_ms;
    ch->call_inflight = oc;
    inflight_link(c, oc);
    core_cmd_sent(c, oc->cmd);
    c->io.send_call(c->io.ctx, ch->conn->id, oc->msg_id, oc->cmd->action, oc->cmd->payload);
}

enum core_call_err core_calls_queue(struct core *c, struct core_command *cmd)
{
    if (c->stopping)
        return CORE_CALL_ERR_SHUTDOWN;
    struct core_charger *ch = hmap_get_str(c->chargers, cmd->charger_id);
    if (!ch)
        return CORE_CALL_ERR_UNKNOWN_CHARGER;
    if (!ch->conn)
        return CORE_CALL_ERR_OFFLINE;
    if (ch->queue_len >= c->cfg.call_queue_max)
        return CORE_CALL_ERR_QUEUE_FULL;
    struct core_outcall *oc = xcalloc(1, sizeof *oc);
    oc->charger = ch;
    oc->cmd = cmd;
    uint32_t salt;
    c->io.random(c->io.ctx, &salt, sizeof salt);
    snprintf(oc->msg_id, sizeof oc->msg_id, "%08" PRIx32 "-%" PRIu64, salt, ++c->next_call_seq);
    if (ch->queue_tail)
        ch->queue_tail->next = oc;
    else
        ch->queue_head = oc;
    ch->queue_tail = oc;
    ch->queue_len++;
    pump(c, ch);
    return CORE_CALL_OK;
}

/* The CALL in flight on conn_id with msg_id, detached from the charger; NULL if none. */
static struct core_outcall *take_inflight(struct core *c, uint64_t conn_id, const char *msg_id)
{
    struct core_conn *conn = core_conn_get(c, conn_id);
    if (!conn)
        return NULL;
    struct core_charger *ch = conn->charger;
    struct core_outcall *oc = ch->call_inflight;
    if (!oc || strcmp(oc->msg_id, msg_id) != 0) {
        char src[32];
        snprintf(src, sizeof src, "conn %llu", (unsigned long long)conn_id);
        log_warn_from(src, ch->id, "answer with unknown unique id '%.36s' dropped", msg_id);
        return NULL;
    }
    ch->call_inflight = NULL;
    inflight_unlink(c, oc);
    return oc;
}

enum ocpp_action core_call_action(const struct core *c, uint64_t conn_id, const char *msg_id)
{
    struct core_conn *conn = core_conn_get(c, conn_id);
    if (!conn || !conn->charger->call_inflight ||
        strcmp(conn->charger->call_inflight->msg_id, msg_id) != 0)
        return OCPP_ACTION_NONE;
    return conn->charger->call_inflight->cmd->action;
}

void core_on_call_result(struct core *c, uint64_t conn_id, const char *msg_id,
                         const struct core_answer *a)
{
    struct core_outcall *oc = take_inflight(c, conn_id, msg_id);
    if (!oc)
        return;
    struct core_charger *ch = oc->charger;
    struct core_command *cmd = oc->cmd;
    free(oc);
    core_cmd_answered(c, cmd, a);
    pump(c, ch);
}

void core_on_call_error(struct core *c, uint64_t conn_id, const char *msg_id, const char *code,
                        const char *description)
{
    struct core_outcall *oc = take_inflight(c, conn_id, msg_id);
    if (!oc)
        return;
    struct core_charger *ch = oc->charger;
    fail(c, oc, CORE_CMD_CALL_ERROR, code, description);
    pump(c, ch);
}

void core_calls_fail_charger(struct core *c, struct core_charger *ch,
                             enum core_cmd_outcome outcome)
{
    if (ch->call_inflight) {
        struct core_outcall *oc = ch->call_inflight;
        ch->call_inflight = NULL;
        inflight_unlink(c, oc);
        fail(c, oc, outcome, NULL, NULL);
    }
    while (ch->queue_head) {
        struct core_outcall *oc = ch->queue_head;
        ch->queue_head = oc->next;
        fail(c, oc, outcome, NULL, NULL);
    }
    ch->queue_tail = NULL;
    ch->queue_len = 0;
}

void core_calls_expire(struct core *c, int64_t now)
{
    struct core_outcall *oc = c->inflight;
    while (oc) {
        struct core_outcall *next = oc->inflight_next;
        if (oc->deadline_ms <= now) {
            struct core_charger *ch = oc->charger;
            ch->call_inflight = NULL;
            inflight_unlink(c, oc);
            log_warn(ch->id, "%s call %s timed out", ocpp_action_name(oc->cmd->action), oc->msg_id);
            fail(c, oc, CORE_CMD_TIMEOUT, NULL, NULL);
            pump(c, ch);
        }
        oc = next;
    }
}
