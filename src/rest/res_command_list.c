/*
 * Stored commands (include: res_commands.h): a charger's command history,
 * GET /v1/chargers/{id}/commands, and one command read from table commands,
 * the fallback of GET /v1/commands/{commandId} once the core has let go of
 * it. Both answer rows of the one column table below, which also shapes a
 * command the core still holds (res_command_json), so the resource of
 * docs/commands-design.md is written down once.
 *
 * Pages are keyset cursors on (created_at, id), newest first. A cursor
 * carries a 64-bit row id, a command id is a 128-bit uuid: ties on
 * created_at are broken by the uuid's low 64 bits (ocppgw_uuid_lo(), 62 of
 * them random in a UUIDv7), which orders and resumes exactly as long as no
 * two commands of one charger share both the creation time and those bits.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "core.h"
#include "ocpp_msg.h"
#include "rest.h"
#include "rest_live.h"
#include "rest_query.h"
#include "rest_res.h"
#include "res_commands.h"
#include "store_job.h"
#include "util.h"

/* Columns of the command resource, in answer order. */
enum {
    COL_ID, COL_CHARGER, COL_ACTION, COL_PAYLOAD, COL_STATUS, COL_OUTCOME, COL_RESPONSE,
    COL_RESPONSE_STATUS, COL_ERROR, COL_SESSION, COL_TRANSACTION, COL_API_KEY, COL_REQUEST,
    COL_CREATED, COL_SENT, COL_ANSWERED, COL_COMPLETED, COL_LATENCY, COL_ORIGIN,
    NCOLS
};

static const struct rest_col command_cols[NCOLS] = {
    [COL_ID] = { "id", "cmd.id::text", REST_COL_STR, NULL },
    [COL_CHARGER] = { "chargerId", "cmd.charger_id", REST_COL_STR, NULL },
    [COL_ACTION] = { "action", "cmd.action", REST_COL_STR, NULL },
    [COL_PAYLOAD] = { "payload", "cmd.payload", REST_COL_JSON, NULL },
    [COL_STATUS] = { "status", "cmd.state", REST_COL_STR, NULL },
    [COL_OUTCOME] = { "outcome", "cmd.outcome", REST_COL_STR, NULL },
    [COL_RESPONSE] = { "response", "cmd.response", REST_COL_JSON, NULL },
    [COL_RESPONSE_STATUS] = { "responseStatus", "cmd.response_status", REST_COL_STR, NULL },
    /* a CALLERROR (code, description) or why an answer was invalid (description only) */
    [COL_ERROR] = { "error",
                    "CASE WHEN cmd.error_code IS NOT NULL OR cmd.error_description IS NOT NULL"
                    " THEN json_build_object('code', cmd.error_code, 'description', cmd.error_description) END",
                    REST_COL_JSON, NULL },
    [COL_SESSION] = { "sessionId", "cmd.session_id", REST_COL_INT, NULL },
    [COL_TRANSACTION] = { "transactionId", "cmd.transaction_id", REST_COL_INT, NULL },
    [COL_API_KEY] = { "apiKeyId", "cmd.api_key_id", REST_COL_INT, NULL },
    [COL_REQUEST] = { "requestId", "cmd.request_id", REST_COL_STR, NULL },
    [COL_CREATED] = { "createdAt", "cmd.created_at", REST_COL_TIME, NULL },
    [COL_SENT] = { "sentAt", "cmd.sent_at", REST_COL_TIME, NULL },
    [COL_ANSWERED] = { "answeredAt", "cmd.answered_at", REST_COL_TIME, NULL },
    [COL_COMPLETED] = { "completedAt", "cmd.completed_at", REST_COL_TIME, NULL },
    /* null until answered (either time NULL) */
    [COL_LATENCY] = { "latencyMs", "ocppgw_ms(cmd.answered_at) - ocppgw_ms(cmd.sent_at)", REST_COL_INT,
                      NULL },
    /* "api": an API client asked; "gateway": the gateway's own (CertificateSigned after SignCertificate) */
    [COL_ORIGIN] = { "origin", "cmd.origin", REST_COL_STR, NULL },
};

/* ---- GET /v1/chargers/{id}/commands ---- */

static const struct rest_sort command_sorts[] = {
    { "createdAt", "cmd.created_at", "ocppgw_us(cmd.created_at)", "ocppgw_ts_us($?::bigint)" },
};

static const char *const command_states[] = {
    "queued", "sent", "awaitingSession", "completed", "failed", NULL
};
static const char *const command_outcomes[] = {
    "answered", "callError", "timeout", "disconnected", "invalidAnswer", "cancelled", NULL
};

/* the 26 gateway-initiated actions (19 of 1.6, 7 of the Security Extension): the only
 * ones a command can hold */
static const char *const command_actions[] = {
    "CancelReservation", "ChangeAvailability", "ChangeConfiguration", "ClearCache", "ClearChargingProfile",
    "DataTransfer", "GetCompositeSchedule", "GetConfiguration", "GetDiagnostics", "GetLocalListVersion",
    "RemoteStartTransaction", "RemoteStopTransaction", "ReserveNow", "Reset", "SendLocalList",
    "SetChargingProfile", "TriggerMessage", "UnlockConnector", "UpdateFirmware",
    "CertificateSigned", "DeleteCertificate", "ExtendedTriggerMessage", "GetInstalledCertificateIds",
    "GetLog", "InstallCertificate", "SignedUpdateFirmware", NULL
};

/* rows of one charger (commands_charger_created_idx): the filters narrow that scan */
static const struct rest_filter command_filters[] = {
    { "action", REST_F_ENUM, "cmd.action = $?", 0, command_actions, 0, 0, NULL },
    { "status", REST_F_ENUM, "cmd.state = $?", 0, command_states, 0, 0, NULL },
    { "outcome", REST_F_ENUM, "cmd.outcome = $?", 0, command_outcomes, 0, 0, NULL },
    { "responseStatus", REST_F_TEXT, "cmd.response_status = $?", 64, NULL, 0, 0, NULL },
    { "sessionId", REST_F_INT, "cmd.session_id = $?::bigint", 0, NULL, 1, REST_ID_MAX, NULL },
    { "transactionId", REST_F_INT, "cmd.transaction_id = $?::integer", 0, NULL, 1, INT32_MAX, NULL },
    { "apiKeyId", REST_F_INT, "cmd.api_key_id = $?::bigint", 0, NULL, 1, REST_ID_MAX, NULL },
    { "requestId", REST_F_TEXT, "cmd.request_id = $?", 64, NULL, 0, 0, NULL },
    { "from", REST_F_TIME, "cmd.created_at >= ocppgw_ts($?::bigint)", 0, NULL, 0, 0, NULL },
    { "to", REST_F_TIME, "cmd.created_at < ocppgw_ts($?::bigint)", 0, NULL, 0, 0, NULL },
};

/* CSV: error as error.code, error.description */
static const char *const error_keys[] = { "code", "description", NULL };
static const struct rest_export_flat command_flat[] = { { "error", error_keys }, { NULL, NULL } };

static const struct rest_list_spec charger_commands_spec = {
    .name = "charger commands",
    .paging = REST_PAGING_CURSOR,
    .kind = REST_LIST_COMMANDS,
    .cols = command_cols,
    .ncols = NCOLS,
    .from = "commands cmd",
    .id = "ocppgw_uuid_lo(cmd.id)",
    .sorts = command_sorts,
    .nsorts = sizeof command_sorts / sizeof command_sorts[0],
    .desc = true,
    .filters = command_filters,
    .nfilters = sizeof command_filters / sizeof command_filters[0],
    .scope = "cmd.charger_id = $?",
    .parent = CHARGER_PARENT,
    .vis_chargers = "cmd.charger_id = ANY($?::text[])",
    .vis_sites = "cmd.charger_id IN (SELECT s.id FROM chargers s WHERE s.site_id = ANY($?::text[]))",
    .flat = command_flat,
};
const struct rest_list_spec *const res_charger_commands_spec = &charger_commands_spec;

static void live_view(void *user, const struct core_command_view *v)
{
    *(cJSON **)user = res_command_json(v);
}

/*
 * Rows are written behind: a command the core still holds (its last
 * writes not yet acknowledged) is listed as the core has it, as
 * GET /v1/commands/{id} answers it, not as its older row. The filters on
 * what changes (status, outcome, responseStatus) were applied to the row:
 * an item whose live state no longer fits them leaves the page (the
 * cursor, from the rows, stays right).
 */
static bool still_fits(const struct rest_request *r, const cJSON *live)
{
    static const char *const changing[] = { "status", "outcome", "responseStatus" };
    for (size_t i = 0; i < sizeof changing / sizeof changing[0]; i++) {
        const char *want = rest_query(r, changing[i]);
        const char *now = cJSON_GetStringValue(cJSON_GetObjectItem(live, changing[i]));
        if (want && (!now || strcmp(want, now) != 0))
            return false;
    }
    return true;
}

static void overlay_live(struct rest_request *r, cJSON *page)
{
    cJSON *data = cJSON_GetObjectItem(page, "data");
    int dropped = 0;
    for (cJSON *item = data ? data->child : NULL, *next; item; item = next) {
        next = item->next;
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(item, "id"));
        cJSON *live = NULL;
        if (!id || !rest_command_find(r, id, live_view, &live) || !live)
            continue;
        if (!still_fits(r, live)) {
            cJSON_Delete(cJSON_DetachItemViaPointer(data, item));
            cJSON_Delete(live);
            dropped++;
            continue;
        }
        cJSON *field;
        cJSON_ArrayForEach(field, live) {
            cJSON *copy = cJSON_Duplicate(field, true);
            if (cJSON_GetObjectItem(item, field->string))
                cJSON_ReplaceItemInObject(item, field->string, copy);
            else
                cJSON_AddItemToObject(item, field->string, copy);
        }
        cJSON_Delete(live);
    }
    cJSON *count = cJSON_GetObjectItem(cJSON_GetObjectItem(page, "meta"), "itemCount");
    if (dropped && cJSON_IsNumber(count))
        cJSON_SetNumberValue(count, count->valuedouble - dropped);
}

static void charger_commands_done(struct rest_request *r, struct store_job *job)
{
    res_list_finish_fix(r, job, &charger_commands_spec, "charger", overlay_live);
}

void res_charger_commands(struct rest_request *r)
{
    res_list_start(r, &charger_commands_spec, rest_param(r, "id"), charger_commands_done);
}

/* ---- GET /v1/commands/{commandId}, from the table ---- */

/* the statement adds the charger's site after the columns */
static const struct res_row command_row = {
    command_cols, NCOLS, "command", "commandId", NULL, "chargerId", NULL,
};

static void stored_done(struct rest_request *r, struct store_job *job)
{
    /* the id is the statement's only parameter */
    const char *id = job->in.sql.nparams > 0 && job->in.sql.params ? job->in.sql.params[0] : NULL;
    res_reply_row(r, job, &command_row, id, 200);
}

void res_command_stored(struct rest_request *r, const char *command_id)
{
    static const char *sql;
    if (res_unknown_params(r))
        return;
    if (!res_command_id_ok(command_id)) {
        res_not_found(r, "command", "commandId", command_id);
        return;
    }
    rest_sql(r, res_select_once(&sql, command_cols, NCOLS,
                                ", (SELECT c.site_id FROM chargers c WHERE c.id = cmd.charger_id)"
                                " FROM commands cmd WHERE cmd.id = $1::uuid"),
             1, &command_id, stored_done);
}

bool res_command_id_ok(const char *s)
{
    if (!s || strlen(s) != CORE_CMD_ID_LEN)
        return false;
    for (int i = 0; i < CORE_CMD_ID_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

/* ---- a command in memory ---- */

static char *int_text(int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    return xstrdup(buf);
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

/* An id or time the view holds as 0 when unknown: NULL, as the table has it. */
static char *int_or_null(int64_t v)
{
    return v ? int_text(v) : NULL;
}

/* Milliseconds as a REST_COL_TIME value (microseconds). */
static char *time_or_null(int64_t ms)
{
    return ms ? int_text(ms * 1000) : NULL;
}

/* The error column's JSON text, as the table's CASE makes it. */
static char *error_text(const char *code, const char *description)
{
    if (!code && !description)
        return NULL;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddItemToObject(e, "code", code ? cJSON_CreateString(code) : cJSON_CreateNull());
    cJSON_AddItemToObject(e, "description",
                          description ? cJSON_CreateString(description) : cJSON_CreateNull());
    char *s = cJSON_PrintUnformatted(e);
    cJSON_Delete(e);
    return s;
}

cJSON *res_command_json(const struct core_command_view *v)
{
    /* the row as the table would give it, turned into JSON by the same columns */
    char **row = xcalloc(NCOLS, sizeof *row);
    row[COL_ID] = dup_or_null(v->id);
    row[COL_CHARGER] = dup_or_null(v->charger_id);
    row[COL_ACTION] = dup_or_null(ocpp_action_name(v->action));
    row[COL_PAYLOAD] = dup_or_null(v->payload_json);
    row[COL_STATUS] = dup_or_null(core_cmd_state_name(v->state));
    row[COL_OUTCOME] = dup_or_null(core_cmd_outcome_name(v->outcome));
    row[COL_RESPONSE] = dup_or_null(v->response_json);
    row[COL_RESPONSE_STATUS] = dup_or_null(v->status);
    row[COL_ERROR] = error_text(v->error_code, v->error_description);
    row[COL_SESSION] = int_or_null(v->session_id);
    row[COL_TRANSACTION] = int_or_null(v->transaction_id);
    row[COL_API_KEY] = int_or_null(v->api_key_id);
    row[COL_REQUEST] = dup_or_null(v->request_id);
    row[COL_CREATED] = time_or_null(v->created_ms);
    row[COL_SENT] = time_or_null(v->sent_ms);
    row[COL_ANSWERED] = time_or_null(v->answered_ms);
    row[COL_COMPLETED] = time_or_null(v->completed_ms);
    row[COL_LATENCY] = v->sent_ms && v->answered_ms ? int_text(v->answered_ms - v->sent_ms) : NULL;
    row[COL_ORIGIN] = dup_or_null(core_cmd_origin_name(v->origin));

    struct store_job *job = store_job_new(STORE_OP_SQL);
    job->out.sql.ntuples = 1;
    job->out.sql.nfields = NCOLS;
    job->out.sql.values = row;
    cJSON *o = rest_row_json(NULL, job, 0, 0, command_cols, NCOLS); /* no live columns */
    store_job_free(job);
    return o;
}
