/*
 * PUT /v1/chargers/{id}/power-limit {"maxCurrent": 16 | null}: a charger's
 * own limit in amperes per phase (../shared/spec/load-management.md,
 * "Configuration"; docs/api.md "Load management configuration").
 *
 * The limit is stored first (chargers.power_limit, sql/020; this process's
 * registry takes the committed row before the answer, the NOTIFY tells the
 * other gateways). Then, when the charger is connected to this gateway, it
 * is applied at once through the command queue (res_commands.c,
 * core_power_limit_command: a ChargePointMaxProfile, or clearing it for
 * null) and the answer carries the charger's word: 200 {maxCurrent,
 * applied, status, commandId, outcome}. applied is true only when the
 * charger Accepted; a charger that Rejects (or does not answer) keeps the
 * stored limit all the same, which it is sent again at its next boot: the
 * stored value is what the operator asked for, applied says whether it is
 * in force. Not connected here: 200 with applied false and no command; a
 * gateway of the cluster the charger is connected to sends it when it
 * learns the change (the row's NOTIFY, core_power_limit.c), and any
 * charger gets it again when it boots (BootNotification Accepted).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "load_config.h"
#include "rest.h"
#include "rest_body.h"
#include "rest_query.h"
#include "rest_res.h"
#include "res_commands.h"
#include "store_job.h"

static const char ACTION[] = "charger.powerLimit";

static const struct rest_field limit_fields[] = {
    { "maxCurrent", REST_FT_NUMBER, REST_FF_REQUIRED | REST_FF_NULLABLE, "power_limit", "$?::numeric", 0, 0, 0,
      1000, NULL, load_current_text_valid, "must be a number of amperes from 0 with at most one decimal" },
};

static void stored(struct rest_request *r, struct store_job *job)
{
    const char *id = rest_param(r, "id");
    if (!res_write_done(r, job, ACTION, "charger", "chargerId", id, REST_ERR_NOT_FOUND))
        return;
    res_charger_committed(r, job, 1);
    int32_t limit_da;
    load_current_parse_da(rest_job_value(job, 0, 7), &limit_da); /* power_limit: the last of RES_CHARGER_REGISTRY_COLUMNS */
    res_power_limit_send(r, rest_job_value(job, 0, 0), limit_da);
}

void res_charger_power_limit_put(struct rest_request *r)
{
    const char *id = rest_param(r, "id");
    struct rest_body body;
    if (res_unknown_params(r) || !res_body(r, limit_fields, 1, true, ACTION, id, &body))
        return;
    const struct rest_body_value *v = rest_body_find(&body, "maxCurrent");
    const char *params[] = { id, v ? v->text : NULL };
    rest_sql(r,
             "UPDATE chargers c SET power_limit = $2::numeric, updated_at = now() WHERE c.id = $1"
             " RETURNING c.id, " RES_CHARGER_REGISTRY_COLUMNS,
             2, params, stored);
    rest_body_free(&body);
}
