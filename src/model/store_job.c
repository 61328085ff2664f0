/*
 * Store jobs (model): allocation, ownership and the per-op facts (name,
 * whether the charger waits for the commit). A job owns the heap parts of
 * its input (meter value arrays, DataTransfer data, SQL parameters, a
 * command row's strings) and of its output (SQL result values, an API key
 * row's arrays); store_job_free releases all of them. No libpq here: the
 * core and REST build jobs without linking the store.
 */
#include <stdlib.h>
#include <string.h>

#include "secret.h"
#include "store_export.h"
#include "store_job.h"
#include "util.h"

static const struct {
    const char *name;
    bool durable;           /* answered only after commit; refused while the database is down */
} op_info[STORE_OP_COUNT] = {
    [STORE_OP_CHARGER_CONNECTED]    = { "charger_connected", false },
    [STORE_OP_CHARGER_DISCONNECTED] = { "charger_disconnected", false },
    [STORE_OP_LAST_SEEN]            = { "last_seen", false },
    [STORE_OP_BOOT]                 = { "boot", false },
    [STORE_OP_STATUS]               = { "status", false },
    [STORE_OP_AUTHORIZE]            = { "authorize", true },
    [STORE_OP_START_TX]             = { "start_tx", true },
    [STORE_OP_STOP_TX]              = { "stop_tx", true },
    [STORE_OP_METER_VALUES]         = { "meter_values", true },
    [STORE_OP_DATA_TRANSFER]        = { "data_transfer", false },
    [STORE_OP_FIRMWARE_STATUS]      = { "firmware_status", false },
    [STORE_OP_DIAGNOSTICS_STATUS]   = { "diagnostics_status", false },
    [STORE_OP_SECURITY_EVENT]       = { "security_event", false },
    [STORE_OP_CHARGER_CHANGED]      = { "charger_changed", false },
    [STORE_OP_SQL]                  = { "sql", true },
    [STORE_OP_APIKEY_CHANGED]       = { "apikey_changed", false },
    [STORE_OP_SQL_BEHIND]           = { "sql_behind", false },
    [STORE_OP_CHARGERS_ALL]         = { "chargers_all", true },
    [STORE_OP_COMMAND]              = { "command", false },
    [STORE_OP_CP_SECURITY_EVENT]    = { "cp_security_event", false },
    [STORE_OP_SIGNED_FW_STATUS]     = { "signed_fw_status", false },
    [STORE_OP_LOG_STATUS]           = { "log_status", false },
    [STORE_OP_NODE_START]           = { "node_start", false },
    [STORE_OP_NODE_HEARTBEAT]       = { "node_heartbeat", false },
    [STORE_OP_NODE_SWEEP]           = { "node_sweep", false },
    [STORE_OP_NODE_STOP]            = { "node_stop", false },
    [STORE_OP_EVENTS_NOTIFIED]      = { "events_notified", false },
    [STORE_OP_LOAD_CLAIM]           = { "load_claim", true },
    [STORE_OP_LOAD_STATE]           = { "load_state", false },
    [STORE_OP_LOAD_REJECTED]        = { "load_rejected", false },
    [STORE_OP_SITE_CHANGED]         = { "site_changed", false },
    [STORE_OP_SITES_ALL]            = { "sites_all", true },
};

struct store_job *store_job_new(enum store_op op)
{
    struct store_job *job = xcalloc(1, sizeof *job);
    job->op = op;
    return job;
}

static void free_strings(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void store_job_clear_sql_out(struct store_job *job)
{
    free_strings(job->out.sql.values, (size_t)job->out.sql.ntuples * (size_t)job->out.sql.nfields);
    job->out.sql.values = NULL;
    job->out.sql.ntuples = job->out.sql.nfields = 0;
}

void store_job_free(struct store_job *job)
{
    if (!job)
        return;
    switch (job->op) {
    case STORE_OP_LAST_SEEN:
        free(job->in.last_seen.items);
        break;
    case STORE_OP_STOP_TX:
        ocpp_meter_values_free(job->in.stop_tx.values, job->in.stop_tx.n_values);
        break;
    case STORE_OP_METER_VALUES:
        ocpp_meter_values_free(job->in.meter_values.values, job->in.meter_values.n_values);
        break;
    case STORE_OP_DATA_TRANSFER:
        free(job->in.data_transfer.data);
        break;
    case STORE_OP_SQL:
    case STORE_OP_SQL_BEHIND:
        if (job->in.sql.password_param > 0 && job->in.sql.password_param <= job->in.sql.nparams &&
            job->in.sql.params && job->in.sql.params[job->in.sql.password_param - 1]) {
            char *plain = job->in.sql.params[job->in.sql.password_param - 1];
            secret_wipe(plain, strlen(plain));      /* never sent: the plain password is still here */
        }
        free_strings(job->in.sql.params, job->in.sql.params ? (size_t)job->in.sql.nparams : 0);
        if (job->in.sql.password) {
            secret_wipe(job->in.sql.password, strlen(job->in.sql.password));
            free(job->in.sql.password);
        }
        if (job->in.sql.sql_owned)
            free((char *)job->in.sql.sql);
        store_job_clear_sql_out(job);
        break;
    case STORE_OP_APIKEY_CHANGED:
        store_apikey_clear(&job->out.apikey);
        break;
    case STORE_OP_CHARGERS_ALL:
        free(job->out.chargers.items);
        break;
    case STORE_OP_SITES_ALL:
        free(job->out.sites.items);
        break;
    case STORE_OP_NODE_SWEEP:
        free(job->out.node.lost);
        break;
    case STORE_OP_LOAD_CLAIM:
        store_job_clear_sql_out(job);
        break;
    case STORE_OP_LOAD_STATE:
        free(job->in.load_state.rows);
        break;
    case STORE_OP_COMMAND:
        free(job->in.command.outcome);
        free(job->in.command.payload);
        free(job->in.command.response);
        free(job->in.command.status);
        free(job->in.command.error_code);
        free(job->in.command.error_description);
        free(job->in.command.request_id);
        break;
    default:
        break;
    }
    free(job);
}

void store_apikey_clear(struct store_apikey *k)
{
    free(k->scopes_json);
    free(k->charger_ids_json);
    free(k->site_ids_json);
    memset(k, 0, sizeof *k);
}

bool store_op_is_durable(enum store_op op)
{
    return (unsigned)op < STORE_OP_COUNT && op_info[op].durable;
}

const char *store_op_name(enum store_op op)
{
    return (unsigned)op < STORE_OP_COUNT ? op_info[op].name : "unknown";
}

void store_export_req_clear(struct store_export_req *req)
{
    if (!req)
        return;
    free(req->sql);
    for (int i = 0; i < req->nparams; i++)
        free(req->params ? req->params[i] : NULL);
    free(req->params);
    if (req->fmt_free)
        req->fmt_free(req->fmt);
    memset(req, 0, sizeof *req);
}
