/*
 * The op table of the store thread: for each store op, its prepared
 * statement (the logic is in sql/002_functions.sql), how the job's input
 * becomes the statement's text parameters, how the answered row becomes
 * the job's output, and which meter values the job adds to the batch's
 * ocppgw_meter_batch() call (pipeline.c sends and reads; this file only
 * knows SQL, parameters and rows). Also the parameter writers (text,
 * numbers, PostgreSQL array literals) and the row readers admin.c shares
 * (pg_internal.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store_internal.h"
#include "strbuf.h"
#include "util.h"

/* ------------------------------------------------------------------ array literals */

void store_arr_reset(struct store_arr *a)
{
    strbuf_reset(&a->b);
    a->n = 0;
    strbuf_putc(&a->b, '{');
}

static void arr_sep(struct store_arr *a)
{
    if (a->n++)
        strbuf_putc(&a->b, ',');
}

void store_arr_null(struct store_arr *a)
{
    arr_sep(a);
    strbuf_put(&a->b, "NULL", 4);
}

void store_arr_text(struct store_arr *a, const char *s)
{
    arr_sep(a);
    strbuf_putc(&a->b, '"');
    for (const char *run = s;; s++) {
        if (*s == '"' || *s == '\\' || *s == '\0') {
            strbuf_put(&a->b, run, (size_t)(s - run));
            if (*s == '\0')
                break;
            strbuf_putc(&a->b, '\\');
            run = s;
        }
    }
    strbuf_putc(&a->b, '"');
}

void store_arr_int(struct store_arr *a, int64_t v)
{
    arr_sep(a);
    strbuf_put_int(&a->b, v);
}

const char *store_arr_done(struct store_arr *a)
{
    strbuf_putc(&a->b, '}');
    return strbuf_str(&a->b);
}

void store_arr_free(struct store_arr *a)
{
    strbuf_free(&a->b);
    a->n = 0;
}

/* ------------------------------------------------------------------ parameters */

static void p_text(struct store_params *p, const char *s)
{
    p->v[p->n++] = s;
}

static void p_int(struct store_params *p, int64_t v)
{
    fmt_int64(p->num[p->n], v);
    p->v[p->n] = p->num[p->n];
    p->n++;
}

static void p_bool(struct store_params *p, bool v)
{
    p->v[p->n++] = v ? "t" : "f";
}

/* A bigint parameter, SQL NULL for 0 (ids and times that are not known yet). */
static void p_int_or_null(struct store_params *p, int64_t v)
{
    if (v)
        p_int(p, v);
    else
        p_text(p, NULL);
}

/* The job's wall-clock time: when the gateway received it. */
static int64_t job_ms(const struct store_job *job)
{
    return job->received_ms ? job->received_ms : time_now_ms();
}

/* ------------------------------------------------------------------ ops */

static void read_id_tag_info(const PGresult *r, int col, struct ocpp_id_tag_info *info)
{
    if (!ocpp_auth_status_parse(PQgetvalue(r, 0, col), &info->status))
        info->status = OCPP_AUTH_INVALID;
    info->expiry_ms = PQgetisnull(r, 0, col + 1) ? 0 : strtoll(PQgetvalue(r, 0, col + 1), NULL, 10);
    str_copy(info->parent_id_tag, sizeof info->parent_id_tag, PQgetvalue(r, 0, col + 2));
}

int64_t store_pg_int(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* Records which node and boot hold the connection (presence.c); NULL without presence. */
static void params_connected(const struct store_job *j, struct store_params *p)
{
    p_text(p, j->charger_id);
    p_bool(p, j->in.connected.auto_register);
    p_int(p, job_ms(j));
    p_text(p, j->in.connected.remote_addr);
    p_text(p, p->node ? p->node->id : NULL);
    p_text(p, p->node ? p->node->boot : NULL);
}

static void params_disconnected(const struct store_job *j, struct store_params *p)
{
    p_text(p, j->charger_id);
    p_int(p, job_ms(j));
    if (j->in.disconnected.connected_ms)
        p_int(p, j->in.disconnected.connected_ms);
    else
        p_text(p, NULL);
    p_text(p, j->in.disconnected.reason);
}

/* Two array literals, built in the batch's scratch arrays (free between statements). */
static void params_last_seen(const struct store_job *j, struct store_params *p, struct store_arr *a)
{
    store_arr_reset(&a[0]);
    store_arr_reset(&a[1]);
    for (size_t i = 0; i < j->in.last_seen.n; i++) {
        store_arr_text(&a[0], j->in.last_seen.items[i].charger_id);
        store_arr_int(&a[1], j->in.last_seen.items[i].at_ms);
    }
    p_text(p, store_arr_done(&a[0]));
    p_text(p, store_arr_done(&a[1]));
}

static void params_boot(const struct store_job *j, struct store_params *p)
{
    const struct ocpp_boot_req *b = &j->in.boot;
    p_text(p, j->charger_id);
    p_text(p, b->vendor);
    p_text(p, b->model);
    p_text(p, b->cp_serial);
    p_text(p, b->cb_serial);
    p_text(p, b->firmware);
    p_text(p, b->iccid);
    p_text(p, b->imsi);
    p_text(p, b->meter_type);
    p_text(p, b->meter_serial);
    p_int(p, job_ms(j));
}

static void params_status(const struct store_job *j, struct store_params *p)
{
    const struct ocpp_status_notification_req *st = &j->in.status;
    p_text(p, j->charger_id);
    p_int(p, st->connector_id);
    p_text(p, st->status);
    p_text(p, st->error_code);
    p_text(p, st->info);
    p_text(p, st->vendor_id);
    p_text(p, st->vendor_error_code);
    if (st->has_timestamp)
        p_int(p, st->timestamp_ms);
    else
        p_text(p, NULL);
    p_int(p, job_ms(j));
}

static void params_authorize(const struct store_job *j, struct store_params *p)
{
    p_text(p, j->in.authorize.id_tag);
    p_bool(p, j->in.authorize.check_concurrent);
}

static void read_authorize(struct store_job *j, const PGresult *r)
{
    if (PQntuples(r) < 1)
        return;
    read_id_tag_info(r, 0, &j->out.authorize);
}

static void params_start_tx(const struct store_job *j, struct store_params *p)
{
    const struct ocpp_start_tx_req *st = &j->in.start_tx.req;
    p_text(p, j->charger_id);
    p_int(p, st->connector_id);
    p_text(p, st->id_tag);
    p_int(p, st->timestamp_ms);
    p_int(p, st->meter_start);
    if (st->has_reservation_id)
        p_int(p, st->reservation_id);
    else
        p_text(p, NULL);
    p_int(p, j->in.start_tx.candidate_tx_id);
    p_bool(p, j->in.start_tx.check_concurrent);
}

static void read_start_tx(struct store_job *j, const PGresult *r)
{
    if (PQntuples(r) < 1)
        return;
    j->out.start_tx.session_id = store_pg_int(r, 0, 0);
    j->out.start_tx.transaction_id = (int32_t)store_pg_int(r, 0, 1);
    j->out.start_tx.existing = PQgetvalue(r, 0, 2)[0] == 't';
    read_id_tag_info(r, 3, &j->out.start_tx.info);
    j->out.start_tx.priority = (int)store_pg_int(r, 0, 6);
}

static void params_stop_tx(const struct store_job *j, struct store_params *p)
{
    const struct ocpp_stop_tx_req *st = &j->in.stop_tx;
    p_text(p, j->charger_id);
    p_int(p, st->transaction_id);
    p_text(p, st->id_tag);
    p_int(p, st->meter_stop);
    p_int(p, st->timestamp_ms);
    p_text(p, st->reason);
}

static void read_stop_tx(struct store_job *j, const PGresult *r)
{
    if (PQntuples(r) < 1)
        return;
    const char *outcome = PQgetvalue(r, 0, 0);
    j->out.stop_tx.outcome = strcmp(outcome, "closed") == 0   ? STORE_STOP_CLOSED
                             : strcmp(outcome, "repeated") == 0 ? STORE_STOP_REPEATED
                                                                : STORE_STOP_ORPHAN;
    j->out.stop_tx.session_id = store_pg_int(r, 0, 1);
    j->out.stop_tx.has_info = !PQgetisnull(r, 0, 2);
    if (j->out.stop_tx.has_info)
        read_id_tag_info(r, 2, &j->out.stop_tx.info);
}

static void params_data_transfer(const struct store_job *j, struct store_params *p)
{
    p_text(p, j->charger_id);
    p_text(p, j->in.data_transfer.vendor_id);
    p_text(p, j->in.data_transfer.message_id);
    p_text(p, j->in.data_transfer.data);
    p_int(p, job_ms(j));
}

static void params_fw_diag_status(const struct store_job *j, struct store_params *p)
{
    p_text(p, j->charger_id);
    p_text(p, j->in.fw_diag_status.status);
    p_int(p, job_ms(j));
}

static void params_security_event(const struct store_job *j, struct store_params *p)
{
    p_text(p, j->charger_id);
    p_text(p, j->in.security_event.kind);
    p_text(p, j->in.security_event.detail);
    p_int(p, job_ms(j));
}

static void params_cp_security_event(const struct store_job *j, struct store_params *p)
{
    p_text(p, j->charger_id);
    p_text(p, j->in.cp_security_event.type);
    p_int(p, j->in.cp_security_event.timestamp_ms);
    p_text(p, j->in.cp_security_event.tech_info);
    p_int(p, job_ms(j));
}

static void params_request_status(const struct store_job *j, struct store_params *p)
{
    p_text(p, j->charger_id);
    p_text(p, j->in.request_status.status);
    if (j->in.request_status.has_request_id)
        p_int(p, j->in.request_status.request_id);
    else
        p_text(p, NULL);
    p_int(p, job_ms(j));
}

static void params_command(const struct store_job *j, struct store_params *p)
{
    const struct store_command *c = &j->in.command;
    p_text(p, c->id);
    p_text(p, j->charger_id);
    p_text(p, c->action);
    p_text(p, c->payload);
    p_text(p, c->state);
    p_text(p, c->outcome);
    p_text(p, c->response);
    p_text(p, c->status);
    p_text(p, c->error_code);
    p_text(p, c->error_description);
    p_int_or_null(p, c->session_id);
    p_int_or_null(p, c->transaction_id);
    p_int_or_null(p, c->api_key_id);
    p_text(p, c->request_id);
    p_int_or_null(p, c->created_ms);
    p_int_or_null(p, c->sent_ms);
    p_int_or_null(p, c->answered_ms);
    p_int_or_null(p, c->completed_ms);
    p_text(p, c->origin[0] ? c->origin : "api");
}

static void params_charger_id(const struct store_job *j, struct store_params *p)
{
    p_text(p, j->charger_id);
}

static void read_charger(struct store_job *j, const PGresult *r)
{
    memset(&j->out.charger, 0, sizeof j->out.charger);
    if (PQntuples(r) == 0) {
        str_copy(j->out.charger.id, sizeof j->out.charger.id, j->charger_id);
        j->out.charger.deleted = true;
        return;
    }
    store_pg_charger_from_row(r, 0, &j->out.charger);
}

static void params_none(const struct store_job *j, struct store_params *p)
{
    (void)j, (void)p;
}

static void read_chargers(struct store_job *j, const PGresult *r)
{
    size_t n = (size_t)PQntuples(r);
    free(j->out.chargers.items);
    j->out.chargers.items = xcalloc(n + 1, sizeof *j->out.chargers.items);
    j->out.chargers.n = n;
    for (size_t i = 0; i < n; i++)
        store_pg_charger_from_row(r, (int)i, &j->out.chargers.items[i]);
}

static void params_site_id(const struct store_job *j, struct store_params *p)
{
    p_text(p, j->in.site_id);
}

static void read_site(struct store_job *j, const PGresult *r)
{
    memset(&j->out.site, 0, sizeof j->out.site);
    if (PQntuples(r) == 0) {
        str_copy(j->out.site.id, sizeof j->out.site.id, j->in.site_id);
        j->out.site.deleted = true;
        return;
    }
    store_pg_site_from_row(r, 0, &j->out.site);
}

static void read_sites(struct store_job *j, const PGresult *r)
{
    size_t n = (size_t)PQntuples(r);
    free(j->out.sites.items);
    j->out.sites.items = xcalloc(n + 1, sizeof *j->out.sites.items);
    j->out.sites.n = n;
    for (size_t i = 0; i < n; i++)
        store_pg_site_from_row(r, (int)i, &j->out.sites.items[i]);
}

static void params_apikey_id(const struct store_job *j, struct store_params *p)
{
    p_int(p, j->in.apikey_id);
}

static void read_apikey(struct store_job *j, const PGresult *r)
{
    store_apikey_clear(&j->out.apikey);
    if (PQntuples(r) == 0) {
        j->out.apikey.id = j->in.apikey_id;
        j->out.apikey.deleted = true;
        return;
    }
    store_pg_apikey_from_row(r, 0, &j->out.apikey);
}

static void read_sql(struct store_job *j, const PGresult *r)
{
    store_job_clear_sql_out(j);         /* a re-run after a failed batch */
    j->out.sql.ntuples = PQntuples(r);
    j->out.sql.nfields = PQnfields(r);
    size_t n = (size_t)j->out.sql.ntuples * (size_t)j->out.sql.nfields;
    if (n == 0)
        return;
    j->out.sql.values = xcalloc(n, sizeof(char *));
    for (int row = 0; row < j->out.sql.ntuples; row++)
        for (int col = 0; col < j->out.sql.nfields; col++)
            if (!PQgetisnull(r, row, col))
                j->out.sql.values[(size_t)row * (size_t)j->out.sql.nfields + (size_t)col] =
                    xstrdup(PQgetvalue(r, row, col));
    if (j->in.sql.hook.fn)
        j->in.sql.hook.fn(j);
}


/* ------------------------------------------------------------------ presence (presence.c) */

/* Node id, boot id, version, heartbeat interval. */
static void params_node(const struct store_job *j, struct store_params *p)
{
    (void)j;
    p_text(p, p->node ? p->node->id : NULL);
    p_text(p, p->node ? p->node->boot : NULL);
    p_text(p, p->node && p->node->version[0] ? p->node->version : NULL);
    p_int(p, p->node ? p->node->interval_s : 0);
}

static void params_node_sweep(const struct store_job *j, struct store_params *p)
{
    (void)j;
    p_text(p, p->node ? p->node->id : NULL);
    p_int(p, STORE_SWEEP_MAX);
}

static void params_node_stop(const struct store_job *j, struct store_params *p)
{
    (void)j;
    p_text(p, p->node ? p->node->id : NULL);
    p_text(p, p->node ? p->node->boot : NULL);
}

static void read_node_start(struct store_job *j, const PGresult *r)
{
    if (PQntuples(r) < 1)
        return;
    j->out.node.cleared = (int)store_pg_int(r, 0, 0);
    str_copy(j->out.node.other_boot, sizeof j->out.node.other_boot, PQgetvalue(r, 0, 1));
    j->out.node.other_ms = store_pg_int(r, 0, 2);
    j->out.node.other_stopped = PQgetvalue(r, 0, 3)[0] == 't';
}

static void read_node_heartbeat(struct store_job *j, const PGresult *r)
{
    if (PQntuples(r) < 1)
        return;
    str_copy(j->out.node.state, sizeof j->out.node.state, PQgetvalue(r, 0, 0));
    j->out.node.cleared = (int)store_pg_int(r, 0, 1);
    str_copy(j->out.node.other_boot, sizeof j->out.node.other_boot, PQgetvalue(r, 0, 2));
}

static void read_node_sweep(struct store_job *j, const PGresult *r)
{
    size_t n = (size_t)PQntuples(r);
    free(j->out.node.lost);         /* a re-run after a failed batch */
    j->out.node.lost = n ? xcalloc(n, sizeof *j->out.node.lost) : NULL;
    j->out.node.n_lost = n;
    for (size_t i = 0; i < n; i++) {
        struct store_node_lost *l = &j->out.node.lost[i];
        str_copy(l->node_id, sizeof l->node_id, PQgetvalue(r, (int)i, 0));
        str_copy(l->boot_id, sizeof l->boot_id, PQgetvalue(r, (int)i, 1));
        l->heartbeat_ms = store_pg_int(r, (int)i, 2);
        l->cleared = (int)store_pg_int(r, (int)i, 3);
    }
}

static void read_node_stop(struct store_job *j, const PGresult *r)
{
    if (PQntuples(r) >= 1)
        j->out.node.cleared = (int)store_pg_int(r, 0, 0);
}

/* ------------------------------------------------------------------ meter values */

static bool meter_meter_values(const struct store_job *j, struct store_meter_msg *out)
{
    const struct ocpp_meter_values_req *m = &j->in.meter_values;
    *out = (struct store_meter_msg){ .digest = m->digest, .connector = &m->connector_id,
                                     .tx = m->transaction_id, .has_tx = m->has_transaction_id,
                                     .values = m->values, .n = m->n_values };
    return true;
}

static bool meter_stop_tx(const struct store_job *j, struct store_meter_msg *out)
{
    const struct ocpp_stop_tx_req *st = &j->in.stop_tx;
    if (st->n_values == 0)
        return false;
    *out = (struct store_meter_msg){ .digest = st->digest, .connector = NULL,
                                     .tx = st->transaction_id, .has_tx = true,
                                     .values = st->values, .n = st->n_values };
    return true;
}

/* ------------------------------------------------------------------ load management */

static void params_load_claim(const struct store_job *j, struct store_params *p)
{
    p_text(p, j->in.load_claim.site_id);
    p_text(p, p->node ? p->node->id : NULL);
}

/* The allocation table: charger ids in one array, six numbers per session in the other. */
static void params_load_state(const struct store_job *j, struct store_params *p, struct store_arr *a)
{
    const struct store_load_state *st = &j->in.load_state;
    store_arr_reset(&a[0]);
    store_arr_reset(&a[1]);
    for (size_t i = 0; i < st->n; i++) {
        const struct store_load_row *r = &st->rows[i];
        store_arr_text(&a[0], r->charger_id);
        store_arr_int(&a[1], r->session_id);
        store_arr_int(&a[1], r->connector_id);
        store_arr_int(&a[1], r->alloc_da);
        store_arr_int(&a[1], r->accepted_da);
        store_arr_int(&a[1], r->measured_da);
        store_arr_int(&a[1], r->since_ms);
    }
    p_text(p, st->site_id);
    p_text(p, p->node ? p->node->id : NULL);
    p_int(p, st->limit_da);
    p_text(p, st->strategy);
    p_int(p, st->at_ms);
    p_text(p, store_arr_done(&a[0]));
    p_text(p, store_arr_done(&a[1]));
    p_bool(p, st->changed);
}

static void params_load_rejected(const struct store_job *j, struct store_params *p)
{
    const struct store_load_rejected *r = &j->in.load_rejected;
    p_text(p, r->site_id);
    p_text(p, j->charger_id);
    p_int(p, r->connector_id);
    p_text(p, r->purpose);
    p_int(p, r->limit_da);
    p_int_or_null(p, r->session_id);
    p_text(p, r->outcome);
    p_text(p, r->command_id[0] ? r->command_id : NULL);
    p_int(p, r->at_ms);
}

const struct store_op_def store_ops[STORE_OP_COUNT] = {
    [STORE_OP_CHARGER_CONNECTED] = {
        .sql = "SELECT ocppgw_charger_connected($1, $2::boolean, $3::bigint, $4, $5::text, $6::text)",
        .params = params_connected },
    [STORE_OP_CHARGER_DISCONNECTED] = {
        .sql = "SELECT ocppgw_charger_disconnected($1, $2::bigint, $3::bigint, $4)",
        .params = params_disconnected },
    [STORE_OP_LAST_SEEN] = {
        .sql = "SELECT ocppgw_last_seen($1::text[], $2::bigint[])",
        .params_arr = params_last_seen },
    [STORE_OP_BOOT] = {
        .sql = "SELECT ocppgw_boot($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::bigint)",
        .params = params_boot },
    [STORE_OP_STATUS] = {
        .sql = "SELECT ocppgw_status($1, $2::integer, $3, $4, $5, $6, $7, $8::bigint, $9::bigint)",
        .params = params_status },
    [STORE_OP_AUTHORIZE] = {
        .sql = "SELECT status, expiry_ms, parent_id_tag FROM ocppgw_id_tag_info($1, $2::boolean)",
        .params = params_authorize, .read = read_authorize },
    [STORE_OP_START_TX] = {
        /* the token's priority (load management, sql/020): the tag as ocppgw_id_tag_info finds it */
        .sql = "SELECT session_id, transaction_id, existing, status, expiry_ms, parent_id_tag,"
        " coalesce((SELECT t.priority FROM tokens t WHERE lower(t.id_tag) = lower($3)"
        " ORDER BY t.id_tag = $3 DESC LIMIT 1), 0)"
        " FROM ocppgw_start_tx($1, $2::integer, $3, $4::bigint, $5::bigint, $6::integer,"
        " $7::integer, $8::boolean)",
        .params = params_start_tx, .read = read_start_tx },
    [STORE_OP_STOP_TX] = {
        .sql = "SELECT outcome, session_id, status, expiry_ms, parent_id_tag"
        " FROM ocppgw_stop_tx($1, $2::integer, $3, $4::bigint, $5::bigint, $6)",
        .params = params_stop_tx, .read = read_stop_tx, .meter = meter_stop_tx },
    [STORE_OP_METER_VALUES] = { .meter = meter_meter_values },
    [STORE_OP_DATA_TRANSFER] = {
        .sql = "SELECT ocppgw_data_transfer($1, $2, $3, $4, $5::bigint)",
        .params = params_data_transfer },
    [STORE_OP_FIRMWARE_STATUS] = {
        .sql = "SELECT ocppgw_fw_diag_status($1, 'firmware', $2, $3::bigint)",
        .params = params_fw_diag_status },
    [STORE_OP_DIAGNOSTICS_STATUS] = {
        .sql = "SELECT ocppgw_fw_diag_status($1, 'diagnostics', $2, $3::bigint)",
        .params = params_fw_diag_status },
    [STORE_OP_SECURITY_EVENT] = {
        .sql = "SELECT ocppgw_charger_event($1, $2, $3, $4::bigint)",
        .params = params_security_event },
    [STORE_OP_CHARGER_CHANGED] = {
        .sql = "SELECT " STORE_CHARGER_COLUMNS " FROM chargers WHERE id = $1",
        .params = params_charger_id, .read = read_charger },
    [STORE_OP_SQL] = { .sql_from_job = true, .read = read_sql },
    [STORE_OP_APIKEY_CHANGED] = {
        .sql = "SELECT " STORE_APIKEY_COLUMNS " FROM api_keys WHERE id = $1::bigint",
        .params = params_apikey_id, .read = read_apikey },
    [STORE_OP_SQL_BEHIND] = { .sql_from_job = true, .read = read_sql },
    [STORE_OP_CHARGERS_ALL] = {
        .sql = "SELECT " STORE_CHARGER_COLUMNS " FROM chargers ORDER BY id",
        .params = params_none, .read = read_chargers },
    [STORE_OP_SITE_CHANGED] = {
        .sql = "SELECT " STORE_SITE_COLUMNS " FROM sites WHERE id = $1",
        .params = params_site_id, .read = read_site },
    [STORE_OP_SITES_ALL] = {
        .sql = "SELECT " STORE_SITE_COLUMNS " FROM sites ORDER BY id",
        .params = params_none, .read = read_sites },
    /* created, then ended: the second write updates what can change; an ended row stays ended */
    [STORE_OP_COMMAND] = {
        .sql = "INSERT INTO commands AS k (id, charger_id, action, payload, state, outcome, response,"
        " response_status, error_code, error_description, session_id, transaction_id, api_key_id,"
        " request_id, created_at, sent_at, answered_at, completed_at, origin)"
        " VALUES ($1::uuid, $2, $3, $4::jsonb, $5, $6, $7::jsonb, $8, $9, $10, $11::bigint,"
        " $12::integer, $13::bigint, $14, coalesce(ocppgw_ts($15::bigint), now()),"
        " ocppgw_ts($16::bigint), ocppgw_ts($17::bigint), ocppgw_ts($18::bigint), $19)"
        " ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, outcome = EXCLUDED.outcome,"
        " response = EXCLUDED.response, response_status = EXCLUDED.response_status,"
        " error_code = EXCLUDED.error_code, error_description = EXCLUDED.error_description,"
        " session_id = EXCLUDED.session_id, transaction_id = EXCLUDED.transaction_id,"
        " sent_at = EXCLUDED.sent_at, answered_at = EXCLUDED.answered_at,"
        " completed_at = EXCLUDED.completed_at"
        " WHERE k.state NOT IN ('completed', 'failed') OR EXCLUDED.state IN ('completed', 'failed')",
        .params = params_command },
    [STORE_OP_CP_SECURITY_EVENT] = {
        .sql = "SELECT ocppgw_security_event($1, $2, $3::bigint, $4, $5::bigint)",
        .params = params_cp_security_event },
    [STORE_OP_SIGNED_FW_STATUS] = {
        .sql = "SELECT ocppgw_request_status($1, 'signed_firmware', $2, $3::integer, $4::bigint)",
        .params = params_request_status },
    [STORE_OP_LOG_STATUS] = {
        .sql = "SELECT ocppgw_request_status($1, 'log', $2, $3::integer, $4::bigint)",
        .params = params_request_status },
    [STORE_OP_NODE_START] = {
        .sql = "SELECT cleared, coalesce(previous_boot, ''), previous_heartbeat_ms, previous_stopped"
        " FROM ocppgw_node_start($1, $2, $3, $4::integer)",
        .params = params_node, .read = read_node_start },
    [STORE_OP_NODE_HEARTBEAT] = {
        .sql = "SELECT state, resumed, coalesce(other_boot, '')"
        " FROM ocppgw_node_heartbeat($1, $2, $3, $4::integer)",
        .params = params_node, .read = read_node_heartbeat },
    [STORE_OP_NODE_SWEEP] = {
        .sql = "SELECT lost_node, lost_boot, last_heartbeat_ms, cleared FROM ocppgw_node_sweep($1, $2::integer)",
        .params = params_node_sweep, .read = read_node_sweep },
    [STORE_OP_NODE_STOP] = {
        .sql = "SELECT ocppgw_node_stop($1, $2)",
        .params = params_node_stop, .read = read_node_stop },
    [STORE_OP_LOAD_CLAIM] = {
        .sql = "SELECT kind, session_id, charger_id, connector_id, transaction_id, start_ms, priority"
        " FROM ocppgw_load_claim($1, $2)",
        .params = params_load_claim, .read = read_sql },
    [STORE_OP_LOAD_STATE] = {
        .sql = "SELECT ocppgw_load_state($1, $2, $3::integer, $4, $5::bigint, $6::text[], $7::bigint[],"
        " $8::boolean)",
        .params_arr = params_load_state },
    [STORE_OP_LOAD_REJECTED] = {
        .sql = "SELECT ocppgw_load_rejected($1, $2, $3::integer, $4, $5::integer, $6::bigint, $7, $8,"
        " $9::bigint)",
        .params = params_load_rejected },
};

void store_op_stmt_name(enum store_op op, char *buf, size_t cap)
{
    snprintf(buf, cap, "ocppgw_%s", store_op_name(op));
}

/* ------------------------------------------------------------------ shared with admin.c */

void store_pg_charger_from_row(const PGresult *r, int row, struct store_charger *out)
{
    memset(out, 0, sizeof *out);
    str_copy(out->id, sizeof out->id, PQgetvalue(r, row, 0));
    str_copy(out->auth_hash, sizeof out->auth_hash, PQgetvalue(r, row, 1));
    out->security_profile = atoi(PQgetvalue(r, row, 2));
    str_copy(out->registration, sizeof out->registration, PQgetvalue(r, row, 3));
    out->version = strtoll(PQgetvalue(r, row, 4), NULL, 10);
    out->load_known = true;
    str_copy(out->site_id, sizeof out->site_id, PQgetvalue(r, row, 5));
    load_current_parse_da(PQgetvalue(r, row, 6), &out->max_current_da);
    load_current_parse_da(PQgetvalue(r, row, 7), &out->power_limit_da);
}

void store_pg_site_from_row(const PGresult *r, int row, struct store_site *out)
{
    memset(out, 0, sizeof *out);
    str_copy(out->id, sizeof out->id, PQgetvalue(r, row, 0));
    load_current_parse_da(PQgetvalue(r, row, 1), &out->max_current_da);
    out->max_power_w = store_pg_int(r, row, 2);
    out->lb_enabled = PQgetvalue(r, row, 3)[0] == 't';
    if (!load_strategy_parse(PQgetvalue(r, row, 4), &out->strategy))
        out->strategy = LOAD_STRATEGY_EQUAL;
    load_current_parse_da(PQgetvalue(r, row, 5), &out->min_current_da);
    out->phases = atoi(PQgetvalue(r, row, 6));
    out->voltage = atoi(PQgetvalue(r, row, 7));
    out->redistribute = PQgetvalue(r, row, 8)[0] == 't';
    out->version = store_pg_int(r, row, 9);
}

static char *dup_or_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : xstrdup(PQgetvalue(r, row, col));
}

void store_pg_apikey_from_row(const PGresult *r, int row, struct store_apikey *out)
{
    memset(out, 0, sizeof *out);
    out->id = store_pg_int(r, row, 0);
    str_copy(out->name, sizeof out->name, PQgetvalue(r, row, 1));
    str_copy(out->key_hash, sizeof out->key_hash, PQgetvalue(r, row, 2));
    out->scopes_json = dup_or_null(r, row, 3);
    out->charger_ids_json = dup_or_null(r, row, 4);
    out->site_ids_json = dup_or_null(r, row, 5);
    out->expires_ms = store_pg_int(r, row, 6);
    out->deleted = PQgetvalue(r, row, 7)[0] == 't';
}
