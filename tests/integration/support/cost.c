/* Shared helpers of the session cost tests (cost.h). */
#include "cost.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "calls.h"
#include "db.h"
#include "it.h"
#include "rest.h"

void cost_make_tariff(int port, const char *key, const char *body)
{
    struct api_resp *r = api_post(port, key, "/v1/tariffs", body);
    api_check_schema(api_expect(r, 201), "Tariff");
    api_free(r);
}

void cost_call(struct sim_charger *c, const char *action, char *payload)
{
    cJSON_Delete(it_ok(c, action, payload));
    free(payload);
}

void cost_stop(struct sim_charger *c, int32_t tx, int meter_stop, const char *ts)
{
    cost_call(c, "StopTransaction",
              it_strf("{\"transactionId\":%d,\"meterStop\":%d,\"timestamp\":\"%s\",\"reason\":\"Local\"}", tx,
                      meter_stop, ts));
}

char *cost_wait_priced(int32_t tx)
{
    char *sid = it_session_id_of(tx);
    db_wait_int(COST_PRICED_WAIT_MS, 1,
                "SELECT count(*) FROM sessions WHERE id = $1::bigint AND cost_state = 'final'", sid);
    return sid;
}

void cost_check_num(const cJSON *o, const char *key, double want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || fabs(v->valuedouble - want) > 1e-9)
        fail_msg("%s: expected %g, got %s", key, want, v ? cJSON_PrintUnformatted(v) : "(absent)");
}

void cost_check_line(const cJSON *lines, int i, const char *component, double quantity, const char *unit,
                     double unit_price, double amount, const char *from, const char *to)
{
    const cJSON *l = cJSON_GetArrayItem(lines, i);
    if (!l)
        fail_msg("the breakdown has no line %d", i);
    api_check_str(l, "component", component);
    cost_check_num(l, "quantity", quantity);
    api_check_str(l, "unit", unit);
    cost_check_num(l, "unitPrice", unit_price);
    cost_check_num(l, "amount", amount);
    if (from) {
        api_check_str(l, "from", from);
        api_check_str(l, "to", to);
    }
}
