/*
 * Commands: the gateway's CALLs to chargers, asked for through REST, each
 * with an id, a life cycle and a stored row (include/core.h, "commands").
 * Every outgoing CALL is a command's. Its CALL rides on a slot of
 * core_calls.c (queue, one in flight, deadline, fail on disconnect); this
 * file adds:
 *  - its record: STORE_OP_COMMAND upserts, when created and when it ends,
 *    written behind; the command stays in memory until the final one is back;
 *  - the remote-start session wait: an Accepted RemoteStartTransaction is
 *    completed by the StartTransaction of that charger with that idTag (and
 *    connector), or by the end of the wait;
 *  - remote-stop dedup: a stop of a transaction joins one of the same
 *    transaction that is queued, in flight, or Accepted with the session
 *    still running (held), so that stopping twice sends one CALL.
 * Waiters are told exactly once, when the command ends.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core_internal.h"
#include "util.h"

/* An Accepted remote stop can be joined this long at most (the session normally ends sooner). */
#define STOP_HOLD_MS (5 * 60 * 1000)

static const char *const state_names[] = {
    [CORE_CMD_QUEUED] = "queued",
    [CORE_CMD_SENT] = "sent",
    [CORE_CMD_AWAITING_SESSION] = "awaitingSession",
    [CORE_CMD_COMPLETED] = "completed",
    [CORE_CMD_FAILED] = "failed",
};

static const char *const outcome_names[] = {
    [CORE_CMD_PENDING] = NULL,
    [CORE_CMD_ANSWERED] = "answered",
    [CORE_CMD_CALL_ERROR] = "callError",
    [CORE_CMD_TIMEOUT] = "timeout",
    [CORE_CMD_DISCONNECTED] = "disconnected",
    [CORE_CMD_INVALID_ANSWER] = "invalidAnswer",
    [CORE_CMD_CANCELLED] = "cancelled",
};

const char *core_cmd_state_name(enum core_cmd_state s)
{
    return (s >= CORE_CMD_QUEUED && s <= CORE_CMD_FAILED) ? state_names[s] : "unknown";
}

const char *core_cmd_outcome_name(enum core_cmd_outcome o)
{
    return (o >= CORE_CMD_PENDING && o <= CORE_CMD_CANCELLED) ? outcome_names[o] : NULL;
}

const char *core_cmd_origin_name(enum core_cmd_origin o)
{
    static const char *const names[] = { "api", "gateway", "load" };
    return (o >= CORE_CMD_ORIGIN_API && o <= CORE_CMD_ORIGIN_LOAD) ? names[o] : "api";
}

static bool ended(const struct core_command *cmd)
{
    return cmd->state == CORE_CMD_COMPLETED || cmd->state == CORE_CMD_FAILED;
}

/* ---- tracking list (remote starts to match, remote stops to join) ---- */

static void track(struct core *c, struct core_command *cmd)
{
    if (cmd->tracked)
        return;
    cmd->tr_prev = NULL;
    cmd->tr_next = c->tracked;
    if (c->tracked)
        c->tracked->tr_prev = cmd;
    c->tracked = cmd;
    cmd->tracked = true;
}

static void untrack(struct core *c, struct core_command *cmd)
{
    if (!cmd->tracked)
        return;
    if (cmd->tr_prev)
        cmd->tr_prev->tr_next = cmd->tr_next;
    else
        c->tracked = cmd->tr_next;
    if (cmd->tr_next)
        cmd->tr_next->tr_prev = cmd->tr_prev;
    cmd->tr_prev = cmd->tr_next = NULL;
    cmd->tracked = false;
}

/* ---- memory ---- */

static void cmd_free(struct core_command *cmd)
{
    while (cmd->waiters) {
        struct core_cmd_waiter *w = cmd->waiters;
        cmd->waiters = w->next;
        free(w);
    }
    free(cmd->payload);
    free(cmd->response);
    free(cmd->status);
    free(cmd->error_code);
    free(cmd->error_description);
    free(cmd->request_id);
    free(cmd);
}

/* Frees an ended command once nothing refers to it any more. */
static void maybe_release(struct core *c, struct core_command *cmd)
{
    if (!ended(cmd) || cmd->writes_out > 0 || cmd->held || cmd->tracked)
        return;
    hmap_del_str(c->commands, cmd->id);
    cmd_free(cmd);
}

static void view_of(const struct core_command *cmd, struct core_command_view *v)
{
    *v = (struct core_command_view){
        .id = cmd->id,
        .charger_id = cmd->charger_id,
        .action = cmd->action,
        .payload_json = cmd->payload,
        .state = cmd->state,
        .outcome = cmd->outcome,
        .sent = cmd->sent,
        .response_json = cmd->response,
        .status = cmd->status,
        .error_code = cmd->error_code,
        .error_description = cmd->error_description,
        .session_id = cmd->session_id,
        .transaction_id = cmd->transaction_id,
        .api_key_id = cmd->api_key_id,
        .request_id = cmd->request_id,
        .origin = cmd->origin,
        .created_ms = cmd->created_ms,
        .sent_ms = cmd->sent_ms,
        .answered_ms = cmd->answered_ms,
        .completed_ms = cmd->completed_ms,
        .answer_us = cmd->answered_us && cmd->sent ? cmd->answered_us - cmd->sent_us : -1,
        .queued_us = cmd->sent ? cmd->sent_us - cmd->created_us : -1,
    };
}

static int64_t mono_us(struct core *c)
{
    return c->io.mono_us ? c->io.mono_us(c->io.ctx) : core_now(c) * 1000;
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

/* The command's row as it is now, written behind. */
static void write_row(struct core *c, struct core_command *cmd)
{
    if (c->freeing)
        return;
    struct store_job *job = store_job_new(STORE_OP_COMMAND);
    struct store_command *row = &job->in.command;
    str_copy(job->charger_id, sizeof job->charger_id, cmd->charger_id);
    str_copy(row->id, sizeof row->id, cmd->id);
    str_copy(row->action, sizeof row->action, ocpp_action_name(cmd->action));
    str_copy(row->state, sizeof row->state, core_cmd_state_name(cmd->state));
    row->outcome = dup_or_null(core_cmd_outcome_name(cmd->outcome));
    row->payload = xstrdup(cmd->payload);
    row->response = dup_or_null(cmd->response);
    row->status = dup_or_null(cmd->status);
    row->error_code = dup_or_null(cmd->error_code);
    row->error_description = dup_or_null(cmd->error_description);
    row->request_id = dup_or_null(cmd->request_id);
    row->api_key_id = cmd->api_key_id;
    str_copy(row->origin, sizeof row->origin, core_cmd_origin_name(cmd->origin));
    row->session_id = cmd->session_id;
    row->transaction_id = cmd->transaction_id;
    row->created_ms = cmd->created_ms;
    row->sent_ms = cmd->sent_ms;
    row->answered_ms = cmd->answered_ms;
    row->completed_ms = cmd->completed_ms;
    cmd->writes_out++;
    core_submit(c, job);
}

void core_cmds_db_result(struct core *c, const struct store_job *job)
{
    struct core_command *cmd = hmap_get_str(c->commands, job->in.command.id);
    if (job->status != STORE_OK)
        log_warn(job->charger_id, "command %s not recorded (%s)", job->in.command.id,
                 job->status == STORE_ERR_UNAVAILABLE ? "database unavailable" : "failed");
    if (!cmd)
        return;
    if (cmd->writes_out > 0)
        cmd->writes_out--;
    maybe_release(c, cmd);
}

/* ---- ending ---- */

static void notify(void *ctx, struct core_cmd_waiter *w, const struct core_command_view *v)
{
    (void)ctx;
    while (w) {
        struct core_cmd_waiter *next = w->next;
        if (w->cb)
            w->cb(w->user, v);
        free(w);
        w = next;
    }
}

static void end(struct core *c, struct core_command *cmd, enum core_cmd_state state,
                enum core_cmd_outcome outcome)
{
    cmd->state = state;
    cmd->outcome = outcome;
    cmd->completed_ms = core_now(c);
    /* a remote start no longer matches; an Accepted remote stop stays joinable */
    if (cmd->action == OCPP_ACTION_REMOTE_START_TRANSACTION) {
        untrack(c, cmd);
    } else if (cmd->action == OCPP_ACTION_REMOTE_STOP_TRANSACTION) {
        if (state == CORE_CMD_COMPLETED && cmd->status && strcmp(cmd->status, "Accepted") == 0 &&
            !cmd->stop_session_ended) {
            cmd->held = true;
            cmd->hold_until_ms = cmd->completed_ms + STOP_HOLD_MS;
        } else {
            untrack(c, cmd);
        }
    }
    write_row(c, cmd);
    struct core_command_view v;
    view_of(cmd, &v);
    if (c->io.command_done)
        c->io.command_done(c->io.ctx, &v);
    struct core_cmd_waiter *w = cmd->waiters;
    cmd->waiters = NULL;
    /* the command stays alive during the callbacks: its row is still being written */
    notify(c, w, &v);
    maybe_release(c, cmd);
}

void core_cmd_sent(struct core *c, struct core_command *cmd)
{
    cmd->sent = true;
    cmd->sent_ms = core_now(c);
    cmd->sent_us = mono_us(c);
    cmd->state = CORE_CMD_SENT;
}

void core_cmd_answered(struct core *c, struct core_command *cmd, const struct core_answer *a)
{
    cmd->answered_ms = core_now(c);
    cmd->answered_us = mono_us(c);
    free(cmd->response);
    cmd->response = dup_or_null(a->payload_json);
    free(cmd->status);
    cmd->status = dup_or_null(a->status);
    if (a->invalid) {
        log_warn(cmd->charger_id, "%s answer for command %s is not valid 1.6: %s",
                 ocpp_action_name(cmd->action), cmd->id, a->invalid);
        cmd->error_description = xstrdup(a->invalid);
        end(c, cmd, CORE_CMD_FAILED, CORE_CMD_INVALID_ANSWER);
        return;
    }
    bool accepted = a->status && strcmp(a->status, "Accepted") == 0;
    if (cmd->action == OCPP_ACTION_REMOTE_START_TRANSACTION && accepted && !cmd->matched &&
        cmd->session_wait_ms > 0) {
        cmd->state = CORE_CMD_AWAITING_SESSION;
        cmd->wait_deadline_ms = cmd->answered_ms + cmd->session_wait_ms;
        return;
    }
    if (cmd->action == OCPP_ACTION_REMOTE_START_TRANSACTION && !accepted && cmd->matched) {
        /* a session from this charger and tag, but the charger says it did not start one */
        cmd->matched = false;
        cmd->session_id = 0;
        cmd->transaction_id = 0;
    }
    end(c, cmd, CORE_CMD_COMPLETED, CORE_CMD_ANSWERED);
}

void core_cmd_failed(struct core *c, struct core_command *cmd, enum core_cmd_outcome outcome,
                     const char *code, const char *description)
{
    switch (outcome) {
    case CORE_CMD_CALL_ERROR:
        cmd->answered_ms = core_now(c);
        cmd->answered_us = mono_us(c);
        cmd->error_code = dup_or_null(code);
        cmd->error_description = dup_or_null(description);
        break;
    case CORE_CMD_TIMEOUT:
    case CORE_CMD_DISCONNECTED:
    case CORE_CMD_CANCELLED:
        break;
    case CORE_CMD_PENDING:
    case CORE_CMD_ANSWERED:
    case CORE_CMD_INVALID_ANSWER:
    default:
        abort(); /* answers go through core_cmd_answered */
    }
    end(c, cmd, CORE_CMD_FAILED, outcome);
}

/* ---- submission ---- */

/*
 * UUIDv7 (RFC 9562): 48-bit ms timestamp, version 7, a 12-bit counter in
 * rand_a (method 1: ids made in the same ms keep their order, so the table's
 * (created_at, id) order is the order of creation), variant 10, 62 random
 * bits. The counter starts at a random value below 2048 in each new ms; if
 * it runs out, the timestamp moves on by one ms.
 */
static void make_id(struct core *c, char out[CORE_CMD_ID_LEN + 1])
{
    unsigned char b[16];
    int64_t now = core_now(c);
    if (now <= c->cmd_id_ms && c->cmd_id_seq < 0xfff) {
        c->cmd_id_seq++;
    } else {
        uint16_t r;
        c->io.random(c->io.ctx, &r, sizeof r);
        c->cmd_id_ms = now > c->cmd_id_ms ? now : c->cmd_id_ms + 1;
        c->cmd_id_seq = r & 0x7ffu;
    }
    uint64_t ms = (uint64_t)c->cmd_id_ms;
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (c->cmd_id_seq >> 8));
    b[7] = (unsigned char)(c->cmd_id_seq & 0xff);
    c->io.random(c->io.ctx, b + 8, 8);
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

static void add_waiter(struct core_command *cmd, core_command_cb cb, void *user)
{
    struct core_cmd_waiter *w = xcalloc(1, sizeof *w);
    w->cb = cb;
    w->user = user;
    struct core_cmd_waiter **p = &cmd->waiters;
    while (*p)
        p = &(*p)->next;
    *p = w;
}

/* A remote stop of the same transaction on the same charger that a new one may join. */
static struct core_command *joinable_stop(struct core *c, const char *charger_id, int32_t tx)
{
    for (struct core_command *t = c->tracked; t; t = t->tr_next)
        if (t->action == OCPP_ACTION_REMOTE_STOP_TRANSACTION && t->stop_tx == tx &&
            strcmp(t->charger_id, charger_id) == 0)
            return t;
    return NULL;
}

enum core_call_err core_command_submit(struct core *c, const struct core_command_req *req,
                                       core_command_cb cb, void *user, char *out_id,
                                       bool *joined)
{
    if (joined)
        *joined = false;
    if (req->action == OCPP_ACTION_REMOTE_STOP_TRANSACTION && req->stop_transaction_id) {
        struct core_command *t = joinable_stop(c, req->charger_id, req->stop_transaction_id);
        if (t) {
            if (out_id)
                memcpy(out_id, t->id, sizeof t->id);
            if (joined)
                *joined = true;
            log_info(t->charger_id, "remote stop of transaction %d joins command %s",
                     (int)t->stop_tx, t->id);
            if (!ended(t)) {
                add_waiter(t, cb, user);
            } else if (cb) {
                struct core_command_view v;
                view_of(t, &v);
                cb(user, &v);
            }
            return CORE_CALL_OK;
        }
    }
    struct core_command *cmd = xcalloc(1, sizeof *cmd);
    make_id(c, cmd->id);
    str_copy(cmd->charger_id, sizeof cmd->charger_id, req->charger_id);
    cmd->action = req->action;
    cmd->payload = xstrdup(req->payload_json ? req->payload_json : "{}");
    cmd->state = CORE_CMD_QUEUED;
    cmd->api_key_id = req->api_key_id;
    cmd->request_id = dup_or_null(req->request_id);
    cmd->origin = req->origin;
    cmd->created_ms = core_now(c);
    cmd->created_us = mono_us(c);
    if (req->action == OCPP_ACTION_REMOTE_START_TRANSACTION) {
        str_copy(cmd->start_id_tag, sizeof cmd->start_id_tag, req->start_id_tag ? req->start_id_tag : "");
        cmd->start_connector_id = req->start_connector_id;
        cmd->session_wait_ms = req->session_wait_ms < 0 ? c->cfg.remote_start_wait_ms
                                                        : req->session_wait_ms;
    } else if (req->action == OCPP_ACTION_REMOTE_STOP_TRANSACTION) {
        cmd->stop_tx = req->stop_transaction_id;
        cmd->transaction_id = req->stop_transaction_id;
        cmd->session_id = req->stop_session_id;
    }
    if (cb)
        add_waiter(cmd, cb, user);
    hmap_put_str(c->commands, cmd->id, cmd);
    enum core_call_err e = core_calls_queue(c, cmd);
    if (e != CORE_CALL_OK) {
        hmap_del_str(c->commands, cmd->id);
        cmd_free(cmd);
        return e;
    }
    if (req->action == OCPP_ACTION_REMOTE_START_TRANSACTION ||
        (req->action == OCPP_ACTION_REMOTE_STOP_TRANSACTION && cmd->stop_tx))
        track(c, cmd);
    if (out_id)
        memcpy(out_id, cmd->id, sizeof cmd->id);
    write_row(c, cmd);
    return CORE_CALL_OK;
}

bool core_command_find(struct core *c, const char *id,
                       void (*fn)(void *user, const struct core_command_view *v), void *user)
{
    struct core_command *cmd = hmap_get_str(c->commands, id);
    if (!cmd)
        return false;
    struct core_command_view v;
    view_of(cmd, &v);
    fn(user, &v);
    return true;
}

size_t core_commands_live(const struct core *c)
{
    return hmap_count(c->commands);
}

/* ---- sessions ---- */

void core_cmds_session_started(struct core *c, const char *charger_id, int connector_id,
                               const char *id_tag, int64_t session_id, int32_t tx_id)
{
    /* the oldest command that fits: the list is newest first, so take the last match */
    struct core_command *found = NULL;
    for (struct core_command *t = c->tracked; t; t = t->tr_next) {
        if (t->action != OCPP_ACTION_REMOTE_START_TRANSACTION || t->matched ||
            t->state == CORE_CMD_QUEUED || strcmp(t->charger_id, charger_id) != 0 ||
            strcasecmp(t->start_id_tag, id_tag) != 0 ||
            (t->start_connector_id > 0 && t->start_connector_id != connector_id))
            continue;
        found = t;
    }
    if (!found)
        return;
    found->matched = true;
    found->session_id = session_id;
    found->transaction_id = tx_id;
    log_info(charger_id, "session %lld answers remote start %s", (long long)session_id, found->id);
    if (found->state == CORE_CMD_AWAITING_SESSION)
        end(c, found, CORE_CMD_COMPLETED, CORE_CMD_ANSWERED);
}

void core_cmds_session_stopped(struct core *c, const char *charger_id, int32_t tx_id)
{
    struct core_command *t = c->tracked;
    while (t) {
        struct core_command *next = t->tr_next;
        if (t->action == OCPP_ACTION_REMOTE_STOP_TRANSACTION && t->stop_tx == tx_id &&
            strcmp(t->charger_id, charger_id) == 0) {
            if (!ended(t)) {
                t->stop_session_ended = true; /* not joinable once it is answered */
            } else if (t->held) {
                t->held = false;
                untrack(c, t);
                maybe_release(c, t);
            }
        }
        t = next;
    }
}

void core_cmds_expire(struct core *c, int64_t now)
{
    struct core_command *t = c->tracked;
    while (t) {
        struct core_command *next = t->tr_next;
        if (t->state == CORE_CMD_AWAITING_SESSION && t->wait_deadline_ms <= now) {
            log_info(t->charger_id, "remote start %s: no StartTransaction within %d ms", t->id,
                     t->session_wait_ms);
            end(c, t, CORE_CMD_COMPLETED, CORE_CMD_ANSWERED);
        } else if (t->held && t->hold_until_ms <= now) {
            t->held = false;
            untrack(c, t);
            maybe_release(c, t);
        }
        t = next;
    }
}

/* ---- connector availability ---- */

#define CONNECTORS_MAX 64

void core_cmds_connector_status(struct core_charger *ch, int connector_id, const char *status)
{
    for (int i = 0; i < ch->n_connectors; i++) {
        if (ch->connectors[i].connector_id == connector_id) {
            str_copy(ch->connectors[i].status, sizeof ch->connectors[i].status, status);
            return;
        }
    }
    if (ch->n_connectors >= CONNECTORS_MAX)
        return;
    ch->connectors = xrealloc(ch->connectors, (size_t)(ch->n_connectors + 1) * sizeof *ch->connectors);
    ch->connectors[ch->n_connectors].connector_id = connector_id;
    str_copy(ch->connectors[ch->n_connectors].status, sizeof ch->connectors[0].status, status);
    ch->n_connectors++;
}

static bool status_out_of_service(const char *s)
{
    return strcmp(s, "Unavailable") == 0 || strcmp(s, "Faulted") == 0;
}

static bool status_busy(const char *s)
{
    return strcmp(s, "Charging") == 0 || strcmp(s, "SuspendedEV") == 0 ||
           strcmp(s, "SuspendedEVSE") == 0 || strcmp(s, "Finishing") == 0;
}

bool core_connector_startable(const struct core *c, const char *charger_id, int connector_id,
                              char *status)
{
    const struct core_charger *ch = hmap_get_str(c->chargers, charger_id);
    status[0] = '\0';
    if (!ch)
        return true;
    /* a remote start on this connector still in progress (no session matched yet) */
    for (const struct core_command *t = c->tracked; t && connector_id > 0; t = t->tr_next) {
        if (t->action == OCPP_ACTION_REMOTE_START_TRANSACTION && t->start_connector_id == connector_id &&
            !t->matched && !ended(t) && strcmp(t->charger_id, charger_id) == 0) {
            str_copy(status, 16, CORE_CONNECTOR_STARTING);
            return false;
        }
    }
    /* connector 0 is the charger itself: out of service means every connector */
    for (int i = 0; i < ch->n_connectors; i++) {
        const struct core_connector_status *k = &ch->connectors[i];
        if (k->connector_id == 0 && status_out_of_service(k->status)) {
            str_copy(status, 16, k->status);
            return false;
        }
    }
    int known = 0, refused = 0;
    const char *last_refusal = NULL;
    for (int i = 0; i < ch->n_connectors; i++) {
        const struct core_connector_status *k = &ch->connectors[i];
        if (k->connector_id == 0)
            continue;
        bool no = status_out_of_service(k->status) || status_busy(k->status);
        if (connector_id > 0 && k->connector_id == connector_id) {
            if (no)
                str_copy(status, 16, k->status);
            return !no;
        }
        known++;
        if (no) {
            refused++;
            last_refusal = k->status;
        }
    }
    if (connector_id == 0 && known > 0 && refused == known) {
        str_copy(status, 16, last_refusal);
        return false;
    }
    return true;
}

int64_t core_cmds_next_deadline(const struct core *c, int64_t now)
{
    int64_t next = INT64_MAX;
    for (const struct core_command *t = c->tracked; t; t = t->tr_next) {
        if (t->state == CORE_CMD_AWAITING_SESSION && t->wait_deadline_ms - now < next)
            next = t->wait_deadline_ms - now;
        if (t->held && t->hold_until_ms - now < next)
            next = t->hold_until_ms - now;
    }
    return next;
}

static int free_command_entry(void *ctx, const void *key, size_t klen, void *val)
{
    (void)ctx, (void)key, (void)klen;
    cmd_free(val);
    return 1;
}

static void finish_tracked(struct core *c);

static int cancel_charger_calls(void *ctx, const void *key, size_t klen, void *val)
{
    (void)key, (void)klen;
    core_calls_fail_charger(ctx, val, CORE_CMD_CANCELLED);
    return 0;
}

void core_commands_shutdown(struct core *c)
{
    c->stopping = true;
    hmap_foreach(c->chargers, cancel_charger_calls, c);
    finish_tracked(c);
}

static void finish_tracked(struct core *c)
{
    /* remote starts still waiting for their session end now, without one */
    while (c->tracked) {
        struct core_command *t = c->tracked;
        untrack(c, t);
        t->held = false;
        if (t->state == CORE_CMD_AWAITING_SESSION)
            end(c, t, CORE_CMD_COMPLETED, CORE_CMD_ANSWERED);
        else
            maybe_release(c, t);
    }
}

void core_cmds_free(struct core *c)
{
    finish_tracked(c);
    hmap_foreach(c->commands, free_command_entry, c);
    hmap_free(c->commands);
    c->commands = NULL;
}
