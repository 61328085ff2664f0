/*
 * Inbound OCPP requests and the database results that answer them.
 *
 * A table maps each charger-initiated action to its handler. Handlers either
 * answer at once (BootNotification, Heartbeat, StatusNotification, DataTransfer,
 * firmware/diagnostics status, the Security Extension's notifications and
 * SignCertificate: their writes go behind) or park the call on
 * the connection and submit a store job; the answer is sent from
 * core_on_db_result only once the job committed (durability rule). A job that
 * comes back for a connection that is gone is dropped after its events.
 */
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "util.h"

/* ---- pending inbound calls ---- */

static struct core_pending **pending_find(struct core_conn *conn, const char *msg_id)
{
    struct core_pending **pp = &conn->pending;
    for (; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->msg_id, msg_id) == 0)
            return pp;
    return pp;
}

bool core_request_pending(const struct core *c, uint64_t conn_id, const char *msg_id)
{
    struct core_conn *conn = core_conn_get(c, conn_id);
    return conn && *pending_find(conn, msg_id) != NULL;
}

static void pending_add(struct core_conn *conn, const char *msg_id)
{
    struct core_pending *p = xcalloc(1, sizeof *p);
    str_copy(p->msg_id, sizeof p->msg_id, msg_id);
    p->next = conn->pending;
    conn->pending = p;
    conn->n_pending++;
}

/* Removes msg_id from the connection's pending list; false if it was not there. */
static bool pending_take(struct core_conn *conn, const char *msg_id)
{
    struct core_pending **pp = pending_find(conn, msg_id);
    if (!*pp)
        return false;
    struct core_pending *p = *pp;
    *pp = p->next;
    free(p);
    conn->n_pending--;
    return true;
}

/* ---- answering ---- */

static void send_conf(struct core *c, uint64_t conn_id, const char *msg_id, const struct ocpp_conf *conf)
{
    c->io.send_conf(c->io.ctx, conn_id, msg_id, conf);
}

static void send_empty(struct core *c, struct core_conn *conn, const char *msg_id, enum ocpp_action a)
{
    struct ocpp_conf conf = { .action = a };
    send_conf(c, conn->id, msg_id, &conf);
}

/*
 * Parks the call and submits its job; the answer comes from core_on_db_result.
 * A connection may have max_inflight_per_conn calls waiting for the database;
 * past that the call is refused (OCPP wants one at a time anyway).
 */
static void park(struct core *c, struct core_conn *conn, const char *msg_id, struct store_job *job)
{
    if (conn->n_pending >= c->cfg.max_inflight_per_conn) {
        c->io.send_error(c->io.ctx, conn->id, msg_id, OCPP_ERR_GENERIC,
                         "too many calls outstanding on this connection");
        store_job_free(job);
        return;
    }
    pending_add(conn, msg_id);
    core_submit(c, job);
}

/* ---- handlers: one per charger-initiated action ---- */

typedef void (*request_fn)(struct core *c, struct core_conn *conn, const char *msg_id,
                           union ocpp_req *req);

static void on_boot(struct core *c, struct core_conn *conn, const char *msg_id, union ocpp_req *req)
{
    struct core_charger *ch = conn->charger;
    struct ocpp_conf conf = { .action = OCPP_ACTION_BOOT_NOTIFICATION };
    conf.body.boot.status = ch->registration;
    conf.body.boot.current_time_ms = core_now(c);
    conf.body.boot.interval_s = c->cfg.heartbeat_interval_s;
    send_conf(c, conn->id, msg_id, &conf);

    struct store_job *job = core_job(c, STORE_OP_BOOT, ch, 0, NULL);
    job->in.boot = req->boot;
    core_submit(c, job);
    static const char *const reg[] = { "Accepted", "Pending", "Rejected" };
    log_info(ch->id, "boot: %s %s firmware %s -> %s", req->boot.vendor, req->boot.model,
             req->boot.firmware[0] ? req->boot.firmware : "-", reg[ch->registration]);
    core_emit(c, CORE_EV_CHARGER_BOOTED, ch->id, -1, 0, 0, reg[ch->registration], req->boot.model);
    core_power_limit_on_boot(c, ch);
}

static void on_heartbeat(struct core *c, struct core_conn *conn, const char *msg_id, union ocpp_req *req)
{
    (void)req;
    struct ocpp_conf conf = { .action = OCPP_ACTION_HEARTBEAT };
    conf.body.heartbeat_time_ms = core_now(c);
    send_conf(c, conn->id, msg_id, &conf);
}

static void on_status(struct core *c, struct core_conn *conn, const char *msg_id, union ocpp_req *req)
{
    send_empty(c, conn, msg_id, OCPP_ACTION_STATUS_NOTIFICATION);
    core_cmds_connector_status(conn->charger, req->status.connector_id, req->status.status);
    core_load_connector_seen(c, conn->charger, req->status.connector_id);
    struct store_job *job = core_job(c, STORE_OP_STATUS, conn->charger, 0, NULL);
    job->in.status = req->status;
    core_submit(c, job);
    core_emit(c, CORE_EV_STATUS_CHANGED, conn->charger->id, req->status.connector_id, 0, 0,
              req->status.status, req->status.error_code);
}

static void on_authorize(struct core *c, struct core_conn *conn, const char *msg_id, union ocpp_req *req)
{
    struct store_job *job = core_job(c, STORE_OP_AUTHORIZE, conn->charger, conn->id, msg_id);
    str_copy(job->in.authorize.id_tag, sizeof job->in.authorize.id_tag, req->authorize.id_tag);
    job->in.authorize.check_concurrent = c->cfg.authorize_concurrent_tx;
    park(c, conn, msg_id, job);
}

static int32_t random_tx_id(struct core *c)
{
    uint32_t r = 0;
    while ((r & 0x7fffffffu) == 0)
        c->io.random(c->io.ctx, &r, sizeof r);
    return (int32_t)(r & 0x7fffffffu);
}

static void on_start(struct core *c, struct core_conn *conn, const char *msg_id, union ocpp_req *req)
{
    struct store_job *job = core_job(c, STORE_OP_START_TX, conn->charger, conn->id, msg_id);
    job->in.start_tx.req = req->start_tx;
    job->in.start_tx.candidate_tx_id = random_tx_id(c);
    job->in.start_tx.check_concurrent = c->cfg.authorize_concurrent_tx;
    park(c, conn, msg_id, job);
}

static void on_stop(struct core *c, struct core_conn *conn, const char *msg_id, union ocpp_req *req)
{
    struct store_job *job = core_job(c, STORE_OP_STOP_TX, conn->charger, conn->id, msg_id);
    job->in.stop_tx = req->stop_tx; /* the job now owns the transactionData */
    req->stop_tx.values = NULL;
    req->stop_tx.n_values = 0;
    park(c, conn, msg_id, job);
}

static void on_meter_values(struct core *c, struct core_conn *conn, const char *msg_id, union ocpp_req *req)
{
    struct store_job *job = core_job(c, STORE_OP_METER_VALUES, conn->charger, conn->id, msg_id);
    job->in.meter_values = req->meter_values; /* ownership moves to the job */
    req->meter_values.values = NULL;
    req->meter_values.n_values = 0;
    park(c, conn, msg_id, job);
}

static bool vendor_configured(const struct core *c, const char *vendor)
{
    const char *list = c->dt_vendors;
    size_t n = strlen(vendor);
    while (list && *list) {
        while (*list == ',' || *list == ' ')
            list++;
        size_t len = strcspn(list, ", ");
        if (len == n && len && strncmp(list, vendor, n) == 0)
            return true;
        list += len;
    }
    return false;
}

static void on_data_transfer(struct core *c, struct core_conn *conn, const char *msg_id, union ocpp_req *req)
{
    struct ocpp_conf conf = { .action = OCPP_ACTION_DATA_TRANSFER };
    str_copy(conf.body.data_transfer.status, sizeof conf.body.data_transfer.status,
             vendor_configured(c, req->data_transfer.vendor_id) ? "Accepted" : "UnknownVendorId");
    send_conf(c, conn->id, msg_id, &conf);
    core_emit(c, CORE_EV_DATA_TRANSFER, conn->charger->id, -1, 0, 0, req->data_transfer.vendor_id,
              req->data_transfer.message_id);
    struct store_job *job = core_job(c, STORE_OP_DATA_TRANSFER, conn->charger, 0, NULL);
    job->in.data_transfer = req->data_transfer; /* owns data now */
    req->data_transfer.data = NULL;
    core_submit(c, job);
}

static void on_fw_diag(struct core *c, struct core_conn *conn, const char *msg_id, union ocpp_req *req,
                       enum ocpp_action a, enum store_op op, enum core_event_kind ev)
{
    send_empty(c, conn, msg_id, a);
    struct store_job *job = core_job(c, op, conn->charger, 0, NULL);
    job->in.fw_diag_status = req->fw_diag_status;
    core_submit(c, job);
    core_emit(c, ev, conn->charger->id, -1, 0, 0, req->fw_diag_status.status, NULL);
}

static void on_firmware_status(struct core *c, struct core_conn *conn, const char *msg_id, union ocpp_req *req)
{
    on_fw_diag(c, conn, msg_id, req, OCPP_ACTION_FIRMWARE_STATUS_NOTIFICATION,
               STORE_OP_FIRMWARE_STATUS, CORE_EV_FIRMWARE_STATUS);
}

static void on_diagnostics_status(struct core *c, struct core_conn *conn, const char *msg_id, union ocpp_req *req)
{
    on_fw_diag(c, conn, msg_id, req, OCPP_ACTION_DIAGNOSTICS_STATUS_NOTIFICATION,
               STORE_OP_DIAGNOSTICS_STATUS, CORE_EV_DIAGNOSTICS_STATUS);
}

/* ---- the Security Extension (white paper edition 3) ---- */

static void on_security_event(struct core *c, struct core_conn *conn, const char *msg_id, union ocpp_req *req)
{
    send_empty(c, conn, msg_id, OCPP_ACTION_SECURITY_EVENT_NOTIFICATION);
    struct store_job *job = core_job(c, STORE_OP_CP_SECURITY_EVENT, conn->charger, 0, NULL);
    job->in.cp_security_event = req->security_event;
    core_submit(c, job);
    log_info(conn->charger->id, "security event from the charger: %s%s%s", req->security_event.type,
             req->security_event.tech_info[0] ? " " : "", req->security_event.tech_info);
    core_emit(c, CORE_EV_SECURITY, conn->charger->id, -1, 0, 0, req->security_event.type,
              req->security_event.tech_info[0] ? req->security_event.tech_info : NULL);
}

static void on_request_status(struct core *c, struct core_conn *conn, const char *msg_id, union ocpp_req *req,
                              enum ocpp_action a, enum store_op op)
{
    send_empty(c, conn, msg_id, a);
    struct store_job *job = core_job(c, op, conn->charger, 0, NULL);
    job->in.request_status = req->request_status;
    core_submit(c, job);
}

static void on_signed_firmware_status(struct core *c, struct core_conn *conn, const char *msg_id,
                                      union ocpp_req *req)
{
    on_request_status(c, conn, msg_id, req, OCPP_ACTION_SIGNED_FIRMWARE_STATUS_NOTIFICATION,
                      STORE_OP_SIGNED_FW_STATUS);
}

static void on_log_status(struct core *c, struct core_conn *conn, const char *msg_id, union ocpp_req *req)
{
    on_request_status(c, conn, msg_id, req, OCPP_ACTION_LOG_STATUS_NOTIFICATION, STORE_OP_LOG_STATUS);
}

/*
 * Accepted when a CA can sign; the certificate follows as a CertificateSigned
 * command. One CSR per charger at a time: another while the first is with
 * the signer is Rejected, so one charger cannot fill the signing queue.
 */
static void on_sign_certificate(struct core *c, struct core_conn *conn, const char *msg_id, union ocpp_req *req)
{
    struct core_charger *ch = conn->charger;
    struct ocpp_conf conf = { .action = OCPP_ACTION_SIGN_CERTIFICATE };
    conf.body.sign_certificate_accepted = c->io.sign_csr != NULL && !ch->csr_pending;
    send_conf(c, conn->id, msg_id, &conf);
    if (!c->io.sign_csr) {
        log_info(ch->id, "SignCertificate rejected: no CA configured (security.ca_cert)");
        return;
    }
    if (ch->csr_pending) {
        log_warn(ch->id, "SignCertificate rejected: its previous CSR is still being signed");
        return;
    }
    log_info(ch->id, "SignCertificate accepted: signing the CSR");
    ch->csr_pending = true;
    c->io.sign_csr(c->io.ctx, ch->id, req->sign_certificate.csr);
}

static const request_fn handlers[OCPP_ACTION_COUNT] = {
    [OCPP_ACTION_AUTHORIZE] = on_authorize,
    [OCPP_ACTION_BOOT_NOTIFICATION] = on_boot,
    [OCPP_ACTION_DATA_TRANSFER] = on_data_transfer,
    [OCPP_ACTION_DIAGNOSTICS_STATUS_NOTIFICATION] = on_diagnostics_status,
    [OCPP_ACTION_FIRMWARE_STATUS_NOTIFICATION] = on_firmware_status,
    [OCPP_ACTION_HEARTBEAT] = on_heartbeat,
    [OCPP_ACTION_LOG_STATUS_NOTIFICATION] = on_log_status,
    [OCPP_ACTION_METER_VALUES] = on_meter_values,
    [OCPP_ACTION_SECURITY_EVENT_NOTIFICATION] = on_security_event,
    [OCPP_ACTION_SIGN_CERTIFICATE] = on_sign_certificate,
    [OCPP_ACTION_SIGNED_FIRMWARE_STATUS_NOTIFICATION] = on_signed_firmware_status,
    [OCPP_ACTION_START_TRANSACTION] = on_start,
    [OCPP_ACTION_STATUS_NOTIFICATION] = on_status,
    [OCPP_ACTION_STOP_TRANSACTION] = on_stop,
};

void core_on_request(struct core *c, uint64_t conn_id, const char *msg_id, enum ocpp_action a,
                     union ocpp_req *req)
{
    struct core_conn *conn = core_conn_get(c, conn_id);
    request_fn fn = (a >= 0 && a < OCPP_ACTION_COUNT) ? handlers[a] : NULL;
    if (!conn)
        goto out;
    if (*pending_find(conn, msg_id)) {
        c->io.send_error(c->io.ctx, conn_id, msg_id, OCPP_ERR_PROTOCOL,
                         "a call with this unique id is still being handled");
        goto out;
    }
    if (!fn) {
        c->io.send_error(c->io.ctx, conn_id, msg_id, OCPP_ERR_NOT_SUPPORTED,
                         "action not supported from a charge point");
        goto out;
    }
    struct core_charger *ch = conn->charger;
    ch->last_seen_ms = core_now(c);
    ch->last_seen_dirty = true;
    if (ch->registration == OCPP_REG_REJECTED && a != OCPP_ACTION_BOOT_NOTIFICATION) {
        c->io.send_error(c->io.ctx, conn_id, msg_id, OCPP_ERR_SECURITY,
                         "registration rejected: send BootNotification");
        goto out;
    }
    fn(c, conn, msg_id, req);
out:
    ocpp_req_free(a, req);
}

void core_on_csr_signed(struct core *c, const char *charger_id, const char *payload_json,
                        const char *why)
{
    struct core_charger *ch = hmap_get_str(c->chargers, charger_id);
    if (ch)
        ch->csr_pending = false;
    if (!payload_json) {
        core_security_event(c, charger_id, "csr_rejected", why ? why : "");
        return;
    }
    struct core_command_req req = {
        .charger_id = charger_id, .action = OCPP_ACTION_CERTIFICATE_SIGNED, .payload_json = payload_json,
        .origin = CORE_CMD_ORIGIN_GATEWAY,
    };
    char id[CORE_CMD_ID_LEN + 1];
    enum core_call_err err = core_command_submit(c, &req, NULL, NULL, id, NULL);
    if (err != CORE_CALL_OK)
        log_warn(charger_id, "certificate signed but not sent (%s): the charger will ask again",
                 err == CORE_CALL_ERR_OFFLINE ? "charger offline" : "cannot queue");
    else
        log_info(charger_id, "certificate signed: CertificateSigned is command %s", id);
}

/* ---- database results ---- */

static void answer_failed(struct core *c, struct store_job *job)
{
    const char *why = job->status == STORE_ERR_UNAVAILABLE
                          ? "database unavailable: not stored, retry later"
                          : "could not store the message";
    c->io.send_error(c->io.ctx, job->conn_id, job->msg_id, OCPP_ERR_INTERNAL, why);
}

/* Events for what a durable job committed, whether or not anyone waits for it. */
static void emit_committed(struct core *c, const struct store_job *job)
{
    switch (job->op) {
    case STORE_OP_START_TX:
        if (!job->out.start_tx.existing) {
            log_info(job->charger_id, "session %lld started: transaction %d, connector %d, tag %s",
                     (long long)job->out.start_tx.session_id, job->out.start_tx.transaction_id,
                     job->in.start_tx.req.connector_id, job->in.start_tx.req.id_tag);
            core_emit(c, CORE_EV_SESSION_STARTED, job->charger_id, job->in.start_tx.req.connector_id,
                      job->out.start_tx.session_id, job->out.start_tx.transaction_id,
                      ocpp_auth_status_name(job->out.start_tx.info.status), job->in.start_tx.req.id_tag);
            core_cmds_session_started(c, job->charger_id, job->in.start_tx.req.connector_id,
                                      job->in.start_tx.req.id_tag, job->out.start_tx.session_id,
                                      job->out.start_tx.transaction_id);
        }
        break;
    case STORE_OP_STOP_TX:
        if (job->out.stop_tx.outcome == STORE_STOP_CLOSED) {
            log_info(job->charger_id, "session %lld stopped: transaction %d, reason %s",
                     (long long)job->out.stop_tx.session_id, job->in.stop_tx.transaction_id,
                     job->in.stop_tx.reason);
            core_emit(c, CORE_EV_SESSION_STOPPED, job->charger_id, -1, job->out.stop_tx.session_id,
                      job->in.stop_tx.transaction_id, job->in.stop_tx.reason, NULL);
            core_cmds_session_stopped(c, job->charger_id, job->in.stop_tx.transaction_id);
        } else if (job->out.stop_tx.outcome == STORE_STOP_ORPHAN) {
            log_warn(job->charger_id, "StopTransaction for unknown or foreign transaction %d stored as orphan",
                     job->in.stop_tx.transaction_id);
        }
        break;
    case STORE_OP_METER_VALUES:
        if (!job->out.meter_values.duplicate)
            core_emit(c, CORE_EV_METER_VALUES, job->charger_id, job->in.meter_values.connector_id,
                      job->out.meter_values.session_id,
                      job->in.meter_values.has_transaction_id ? job->in.meter_values.transaction_id : 0,
                      NULL, NULL);
        break;
    default:
        break;
    }
}

/*
 * The load manager hears of a session after its StartTransaction was
 * answered: a TxProfile sent before would name a transaction the charger
 * does not know yet.
 */
static void load_committed(struct core *c, const struct store_job *job)
{
    switch (job->op) {
    case STORE_OP_START_TX:
        if (!job->out.start_tx.existing)
            core_load_session_started(c, job->charger_id, job->in.start_tx.req.connector_id,
                                      job->out.start_tx.session_id, job->out.start_tx.transaction_id,
                                      job->in.start_tx.req.timestamp_ms, job->out.start_tx.priority);
        break;
    case STORE_OP_STOP_TX:
        if (job->out.stop_tx.outcome == STORE_STOP_CLOSED)
            core_load_session_stopped(c, job->charger_id, job->in.stop_tx.transaction_id);
        break;
    case STORE_OP_METER_VALUES:
        if (!job->out.meter_values.duplicate)
            core_load_meter_values(c, job->charger_id, &job->in.meter_values);
        break;
    default:
        break;
    }
}

static void answer_committed(struct core *c, struct store_job *job)
{
    struct ocpp_conf conf = { 0 };
    switch (job->op) {
    case STORE_OP_AUTHORIZE:
        conf.action = OCPP_ACTION_AUTHORIZE;
        conf.body.authorize = job->out.authorize;
        break;
    case STORE_OP_START_TX:
        conf.action = OCPP_ACTION_START_TRANSACTION;
        conf.body.start_tx.transaction_id = job->out.start_tx.transaction_id;
        conf.body.start_tx.info = job->out.start_tx.info;
        break;
    case STORE_OP_STOP_TX:
        conf.action = OCPP_ACTION_STOP_TRANSACTION;
        conf.body.stop_tx.has_info = job->out.stop_tx.has_info;
        conf.body.stop_tx.info = job->out.stop_tx.info;
        break;
    case STORE_OP_METER_VALUES:
        conf.action = OCPP_ACTION_METER_VALUES;
        break;
    default:
        abort(); /* only parked ops come here */
    }
    send_conf(c, job->conn_id, job->msg_id, &conf);
}

void core_on_db_result(struct core *c, struct store_job *job)
{
    if (job->op != STORE_OP_CHARGER_CHANGED && job->op != STORE_OP_SITE_CHANGED && c->jobs_out > 0)
        c->jobs_out--;
    switch (job->op) {
    case STORE_OP_CHARGER_CHANGED:
        if (job->status == STORE_OK && !core_charger_read_is_stale(c, &job->out.charger))
            core_charger_upsert(c, &job->out.charger);
        break;
    case STORE_OP_SITE_CHANGED:
        if (job->status == STORE_OK)
            core_site_upsert(c, &job->out.site);
        break;
    case STORE_OP_AUTHORIZE:
    case STORE_OP_START_TX:
    case STORE_OP_STOP_TX:
    case STORE_OP_METER_VALUES: {
        if (job->status == STORE_OK)
            emit_committed(c, job);
        struct core_conn *conn = core_conn_get(c, job->conn_id);
        if (!conn || !pending_take(conn, job->msg_id)) {
            log_debug(job->charger_id, "%s result for a connection that is gone: dropped",
                      store_op_name(job->op));
            if (job->status == STORE_OK)
                load_committed(c, job);
            break;
        }
        if (job->status == STORE_OK)
            answer_committed(c, job);
        else
            answer_failed(c, job);
        if (job->status == STORE_OK)
            load_committed(c, job);
        break;
    }
    case STORE_OP_COMMAND:
        core_cmds_db_result(c, job);
        break;
    case STORE_OP_LOAD_CLAIM:
    case STORE_OP_LOAD_STATE:
        core_load_db_result(c, job);
        if (job->status != STORE_OK)
            log_warn(NULL, "%s not stored (%s)", store_op_name(job->op),
                     job->status == STORE_ERR_UNAVAILABLE ? "database unavailable" : "failed");
        break;
    case STORE_OP_CHARGER_CONNECTED:
        if (job->status != STORE_OK)
            log_warn(job->charger_id, "connect not recorded: database unavailable");
        break;
    default:
        if (job->status != STORE_OK)
            log_warn(job->charger_id[0] ? job->charger_id : NULL, "%s not stored (%s)",
                     store_op_name(job->op),
                     job->status == STORE_ERR_UNAVAILABLE ? "database unavailable" : "failed");
        break;
    }
    store_job_free(job);
}
