/*
 * Sessions (charging transactions): /v1/sessions, a charger's
 * /v1/chargers/{id}/sessions (same shape, EnergSync-compatible: id,
 * chargerId, energy, startTime, endTime, chargingDuration), one session, and
 * its meter values. All cursor pages. A key limited to some chargers sees
 * only their sessions: lists are filtered in SQL, a single session or its
 * meter values of another charger answer 403.
 *
 * An active session with a tariff shows its cost so far (costFinal false):
 * the statement selects its cost input (ocppgw_session_cost_input, sql/021)
 * and a rows hook prices it on the REST store thread
 * (session_cost_estimate_rows, the code the pricing job uses), one
 * statement for a whole page; the loop only merges the members in.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "ocpp_msg.h"
#include "rest.h"
#include "rest_query.h"
#include "rest_res.h"
#include "session_cost.h"
#include "store_job.h"

/*
 * Energy: meterStop - meterStart once completed; while active, the newest
 * Energy.Active.Import.Register reading (all phases, Wh or kWh) minus
 * meterStart, null before the first one. Inline, not an SQL function: the
 * planner cannot inline a subquery, and a function call per row costs more
 * than the page.
 *
 * The reading must be a plain decimal, 1-15 digits with an optional dot and
 * 1-9 more (so the numeric cast cannot fail): exactly what
 * value ~ '^[0-9]{1,15}(\.[0-9]{1,9})?$' accepts, tested without a regex.
 * PostgreSQL builds the regex's automaton on every match call, which was about a
 * third of this subquery's cost per row of a page: the digits removed leave
 * nothing (an integer) or one dot, and the lengths bound each part.
 */
#define SESSION_ENERGY \
    "CASE WHEN s.status = 'completed' THEN s.energy_wh ELSE (" \
    "SELECT round(CASE WHEN mv.unit = 'kWh' THEN mv.value::numeric * 1000" \
    " ELSE mv.value::numeric END)::bigint - s.meter_start FROM meter_values mv" \
    " WHERE mv.session_id = s.id AND mv.measurand = 'Energy.Active.Import.Register'" \
    " AND mv.phase IS NULL AND mv.unit IN ('Wh', 'kWh')" \
    " AND CASE translate(mv.value, '0123456789', '')" \
    " WHEN '' THEN length(mv.value) BETWEEN 1 AND 15" \
    " WHEN '.' THEN strpos(mv.value, '.') BETWEEN 2 AND 16" \
    " AND length(mv.value) - strpos(mv.value, '.') BETWEEN 1 AND 9 ELSE false END" \
    " ORDER BY mv.id DESC LIMIT 1) END"

#define COL_ESTIMATE 30 /* the last of session_cols */
static const struct rest_col session_cols[] = {
    { "id", "s.id", REST_COL_INT, NULL },
    { "chargerId", "s.charger_id", REST_COL_STR, NULL },
    { "connectorId", "s.connector_id", REST_COL_INT, NULL },
    { "transactionId", "s.transaction_id", REST_COL_INT, NULL },
    { "idTag", "s.id_tag", REST_COL_STR, NULL },
    { "status", "s.status", REST_COL_STR, NULL },
    { "energy", SESSION_ENERGY, REST_COL_INT, NULL },
    { "startTime", "s.start_time", REST_COL_TIME, NULL },
    { "endTime", "s.end_time", REST_COL_TIME, NULL },
    { "chargingDuration",
      "greatest(0, floor(date_part('epoch', coalesce(s.end_time, now()) - s.start_time)))::bigint",
      REST_COL_INT, NULL },
    { "meterStart", "s.meter_start", REST_COL_INT, NULL },
    { "meterStop", "s.meter_stop", REST_COL_INT, NULL },
    { "stopReason", "s.stop_reason", REST_COL_STR, NULL },
    { "stopIdTag", "s.stop_id_tag", REST_COL_STR, NULL },
    { "cost", "s.cost", REST_COL_INT, NULL },
    { "currency", "s.currency", REST_COL_STR, NULL },
    { "tariffId", "s.tariff_id", REST_COL_STR, NULL },
    { "tariffVersion", "s.tariff_version", REST_COL_INT, NULL },
    /* sql/018: written by the pricing job once the session is completed */
    { "net", "s.cost_net", REST_COL_INT, NULL },
    { "vat", "s.cost_vat", REST_COL_INT, NULL },
    { "costBreakdown", "s.cost_breakdown::text", REST_COL_JSON, NULL },
    { "costFinal", "s.cost_final", REST_COL_BOOL, NULL },
    { "reservationId", "s.reservation_id", REST_COL_INT, NULL },
    { "authorizationStatus", "s.auth_status", REST_COL_STR, NULL },
    { "meterAnomaly", "s.meter_anomaly", REST_COL_BOOL, NULL },
    { "createdAt", "s.created_at", REST_COL_TIME, NULL },
    { "updatedAt", "s.updated_at", REST_COL_TIME, NULL },
    /* sql/009: no longer believed running (superseded, silent); only the charger ends it */
    { "stale", "s.stale", REST_COL_BOOL, NULL },
    { "staleReason", "s.stale_reason", REST_COL_STR, NULL },
    { "staleAt", "s.stale_at", REST_COL_TIME, NULL },
    /* an active session's estimate: cost, net, vat, currency, costBreakdown, costFinal false */
    [COL_ESTIMATE] = { "costEstimate",
      "CASE WHEN s.status = 'active' AND s.tariff_id IS NOT NULL THEN ocppgw_session_cost_input(s.id) END",
      REST_COL_MERGE, NULL },
};
#define NCOLS (sizeof session_cols / sizeof session_cols[0])
_Static_assert(COL_ESTIMATE == NCOLS - 1, "COL_ESTIMATE names the last column");

/* The estimate's rows hook for r's statement; col: where session_cols start in its rows. */
static struct store_rows_hook estimate_hook(const struct rest_request *r, int col0)
{
    return (struct store_rows_hook){ session_cost_estimate_rows, col0 + COL_ESTIMATE,
                                     rest_settings(r)->idle_power_w };
}

static const struct rest_sort session_sorts[] = {
    { "startTime", "s.start_time", "ocppgw_us(s.start_time)", "ocppgw_ts_us($?::bigint)" },
    { "id", "s.id", NULL, NULL },
};

static const char *const session_statuses[] = { "active", "completed", NULL };
/* idTagInfo.status answered at the start (OCPP 1.6 AuthorizationStatus) */
static const char *const auth_statuses[] = { "Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx", NULL };
/* StopTransaction.req reason (OCPP 1.6 Reason) */
static const char *const stop_reasons[] = {
    "DeAuthorized", "EmergencyStop", "EVDisconnected", "HardReset", "Local", "Other",
    "PowerLoss", "Reboot", "Remote", "SoftReset", "UnlockCommand", NULL
};

/*
 * The charger's own route takes all but the last four (its charger is the
 * path's): keep chargerId, chargerIds, siteId and siteIds last. idTag is
 * the stored tag, exact (sessions_id_tag_start_idx); siteId (one) and
 * siteIds (repeated or comma-separated) are the charger's site now.
 */
static const struct rest_filter session_filters[] = {
    { "status", REST_F_ENUM, "s.status = $?", 0, session_statuses, 0, 0, NULL },
    { "idTag", REST_F_TEXT, "s.id_tag = $?", OCPP_IDTAG_MAX, NULL, 0, 0, NULL },
    { "from", REST_F_TIME, "s.start_time >= ocppgw_ts($?::bigint)", 0, NULL, 0, 0, NULL },
    { "to", REST_F_TIME, "s.start_time < ocppgw_ts($?::bigint)", 0, NULL, 0, 0, NULL },
    { "search", REST_F_SEARCH, "(s.id_tag ILIKE $? OR s.charger_id ILIKE $? OR s.stop_reason ILIKE $?)",
      100, NULL, 0, 0, NULL },
    { "connectorId", REST_F_INT, "s.connector_id = $?::integer", 0, NULL, 0, INT32_MAX, NULL },
    { "transactionId", REST_F_INT, "s.transaction_id = $?::integer", 0, NULL, 1, INT32_MAX, NULL },
    { "authorizationStatus", REST_F_ENUM, "s.auth_status = $?", 0, auth_statuses, 0, 0, NULL },
    { "stopReason", REST_F_ENUM, "s.stop_reason = $?", 0, stop_reasons, 0, 0, NULL },
    { "meterAnomaly", REST_F_BOOL, "s.meter_anomaly = $?::boolean", 0, NULL, 0, 0, NULL },
    { "stale", REST_F_BOOL, "s.stale = $?::boolean", 0, NULL, 0, 0, NULL },
    { "chargerId", REST_F_TEXT, "s.charger_id = $?", OCPP_CHARGER_ID_MAX, NULL, 0, 0, NULL },
    { "chargerIds", REST_F_LIST, "s.charger_id = ANY($?::text[])", OCPP_CHARGER_ID_MAX, NULL, 0, 0, NULL },
    { "siteId", REST_F_TEXT, "s.charger_id IN (SELECT c.id FROM chargers c WHERE c.site_id = $?)", 64, NULL,
      0, 0, NULL },
    { "siteIds", REST_F_LIST,
      "s.charger_id IN (SELECT c.id FROM chargers c WHERE c.site_id = ANY($?::text[]))", 64, NULL, 0, 0, NULL },
};
#define SESSION_FILTERS (sizeof session_filters / sizeof session_filters[0])
#define CHARGER_ROUTE_FILTERS (SESSION_FILTERS - 4)

/* Both session collections: newest start first, keyset on (start_time, id). */
#define SESSIONS_SPEC                                                   \
    .paging = REST_PAGING_CURSOR,                                       \
    .kind = REST_LIST_SESSIONS,                                         \
    .cols = session_cols,                                               \
    .ncols = NCOLS,                                                     \
    .from = "sessions s",                                               \
    .id = "s.id",                                                       \
    .sorts = session_sorts,                                             \
    .nsorts = sizeof session_sorts / sizeof session_sorts[0],           \
    .desc = true,                                                       \
    .filters = session_filters,                                         \
    .vis_chargers = "s.charger_id = ANY($?::text[])",                   \
    .vis_sites = "s.charger_id IN (SELECT c.id FROM chargers c WHERE c.site_id = ANY($?::text[]))"

static const struct rest_list_spec sessions_spec = {
    SESSIONS_SPEC,
    .name = "sessions",
    .nfilters = SESSION_FILTERS,
};
const struct rest_list_spec *const res_sessions_spec = &sessions_spec;

static const struct rest_list_spec charger_sessions_spec = {
    SESSIONS_SPEC,
    .name = "charger sessions",
    .nfilters = CHARGER_ROUTE_FILTERS,
    .scope = "s.charger_id = $?",
    .parent = CHARGER_PARENT,
};
const struct rest_list_spec *const res_charger_sessions_spec = &charger_sessions_spec;

/* ---- GET /v1/sessions, GET /v1/chargers/{id}/sessions ---- */

static void list_done(struct rest_request *r, struct store_job *job)
{
    res_list_finish(r, job, &sessions_spec, NULL);
}

void res_sessions_list(struct rest_request *r)
{
    struct store_rows_hook h = estimate_hook(r, 0);
    res_list_start_hook(r, &sessions_spec, NULL, &h, list_done);
}

static void charger_list_done(struct rest_request *r, struct store_job *job)
{
    res_list_finish(r, job, &charger_sessions_spec, "charger");
}

void res_charger_sessions(struct rest_request *r)
{
    struct store_rows_hook h = estimate_hook(r, 0);
    res_list_start_hook(r, &charger_sessions_spec, rest_param(r, "id"), &h, charger_list_done);
}

/* ---- GET /v1/sessions/{id} ---- */

/* the statement adds the charger's site after the columns */
static const struct res_row session_row = {
    session_cols, NCOLS, "session", "sessionId", NULL, "chargerId", NULL,
};
const struct res_row *const res_session_row = &session_row;

const char *res_session_select(void)
{
    static const char *sql;
    return res_select_once(&sql, session_cols, NCOLS,
                           ", (SELECT c.site_id FROM chargers c WHERE c.id = s.charger_id)"
                           " FROM sessions s WHERE s.id = $1::bigint");
}

static void get_done(struct rest_request *r, struct store_job *job)
{
    res_reply_row(r, job, &session_row, rest_param(r, "id"), 200);
}

const char *res_session_param(struct rest_request *r)
{
    if (res_unknown_params(r))
        return NULL;
    const char *id = rest_param(r, "id");
    if (!res_id_ok(id)) {
        res_not_found(r, "session", "sessionId", id);
        return NULL;
    }
    return id;
}

void res_session_get(struct rest_request *r)
{
    const char *id = res_session_param(r);
    if (!id)
        return;
    struct store_rows_hook h = estimate_hook(r, 0);
    rest_sql_hook(r, res_session_select(), false, 1, &id, &h, get_done);
}

/* ---- GET /v1/sessions/{id}/meter-values ---- */

static const struct rest_col meter_cols[] = {
    { "timestamp", "mv.ts", REST_COL_TIME, NULL },
    { "value", "mv.value", REST_COL_STR, NULL },
    { "measurand", "mv.measurand", REST_COL_STR, NULL },
    { "unit", "mv.unit", REST_COL_STR, NULL },
    { "context", "mv.context", REST_COL_STR, NULL },
    { "format", "mv.format", REST_COL_STR, NULL },
    { "phase", "mv.phase", REST_COL_STR, NULL },
    { "location", "mv.location", REST_COL_STR, NULL },
    { "sessionId", "mv.session_id", REST_COL_INT, NULL },
    { "connectorId", "mv.connector_id", REST_COL_INT, NULL },
};

static const struct rest_sort meter_sorts[] = {
    { "timestamp", "mv.ts", "ocppgw_us(mv.ts)", "ocppgw_ts_us($?::bigint)" },
    { "id", "mv.id", NULL, NULL },
};

/* OCPP 1.6 SampledValue enums: the stored values, defaults filled in (codec_meter_values.c) */
static const char *const measurands[] = {
    "Energy.Active.Export.Register", "Energy.Active.Import.Register", "Energy.Reactive.Export.Register",
    "Energy.Reactive.Import.Register", "Energy.Active.Export.Interval", "Energy.Active.Import.Interval",
    "Energy.Reactive.Export.Interval", "Energy.Reactive.Import.Interval", "Power.Active.Export",
    "Power.Active.Import", "Power.Offered", "Power.Reactive.Export", "Power.Reactive.Import",
    "Power.Factor", "Current.Import", "Current.Export", "Current.Offered", "Voltage", "Frequency",
    "Temperature", "SoC", "RPM", NULL
};
static const char *const phases[] = {
    "L1", "L2", "L3", "N", "L1-N", "L2-N", "L3-N", "L1-L2", "L2-L3", "L3-L1", NULL
};
/* "Celcius" is the 1.6 schema's own spelling, beside "Celsius" */
static const char *const units[] = {
    "Wh", "kWh", "varh", "kvarh", "W", "kW", "VA", "kVA", "var", "kvar", "A", "V", "K",
    "Celcius", "Celsius", "Fahrenheit", "Percent", NULL
};
static const char *const contexts[] = {
    "Interruption.Begin", "Interruption.End", "Sample.Clock", "Sample.Periodic",
    "Transaction.Begin", "Transaction.End", "Trigger", "Other", NULL
};
static const char *const formats[] = { "Raw", "SignedData", NULL };
static const char *const locations[] = { "Cable", "EV", "Inlet", "Outlet", "Body", NULL };

/* rows of one session (meter_values_session_idx): the filters narrow a scan of that session only */
static const struct rest_filter meter_filters[] = {
    { "measurand", REST_F_ENUM, "mv.measurand = $?", 0, measurands, 0, 0, NULL },
    { "phase", REST_F_ENUM, "mv.phase = $?", 0, phases, 0, 0, NULL },
    { "unit", REST_F_ENUM, "mv.unit = $?", 0, units, 0, 0, NULL },
    { "context", REST_F_ENUM, "mv.context = $?", 0, contexts, 0, 0, NULL },
    { "format", REST_F_ENUM, "mv.format = $?", 0, formats, 0, 0, NULL },
    { "location", REST_F_ENUM, "mv.location = $?", 0, locations, 0, 0, NULL },
    { "connectorId", REST_F_INT, "mv.connector_id = $?::integer", 0, NULL, 0, INT32_MAX, NULL },
    { "from", REST_F_TIME, "mv.ts >= ocppgw_ts($?::bigint)", 0, NULL, 0, 0, NULL },
    { "to", REST_F_TIME, "mv.ts < ocppgw_ts($?::bigint)", 0, NULL, 0, 0, NULL },
};

static const struct rest_list_spec meter_spec = {
    .name = "meter-values",
    .paging = REST_PAGING_CURSOR,
    .kind = REST_LIST_METER_VALUES,
    .cols = meter_cols,
    .ncols = sizeof meter_cols / sizeof meter_cols[0],
    .from = "meter_values mv",
    .id = "mv.id",
    .sorts = meter_sorts,
    .nsorts = sizeof meter_sorts / sizeof meter_sorts[0],
    .desc = false,
    .filters = meter_filters,
    .nfilters = sizeof meter_filters / sizeof meter_filters[0],
    .scope = "mv.session_id = $?::bigint",
    .parent = "SELECT s.charger_id, c.site_id FROM sessions s"
              " LEFT JOIN chargers c ON c.id = s.charger_id WHERE s.id = $?::bigint",
};
const struct rest_list_spec *const res_meter_values_spec = &meter_spec;

static void meter_done(struct rest_request *r, struct store_job *job)
{
    res_list_finish(r, job, &meter_spec, "session");
}

void res_session_meter_values(struct rest_request *r)
{
    const char *id = rest_param(r, "id");
    if (!res_id_ok(id)) {
        res_not_found(r, "session", "sessionId", id);
        return;
    }
    res_list_start(r, &meter_spec, id, meter_done);
}
