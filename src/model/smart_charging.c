/*
 * SetChargingProfile payloads (include/ocpp_msg.h, "Smart Charging"): the
 * load manager's TxProfile/TxDefaultProfile and the power limit's
 * ChargePointMaxProfile are all one period from the start, in amperes.
 * Formatted here, in the model, so that the core can build a command without
 * a JSON library: every value is a number or a fixed name.
 */
#include <inttypes.h>
#include <stdio.h>

#include "ocpp_msg.h"

static const char *const purpose_names[] = {
    [OCPP_PROFILE_CHARGE_POINT_MAX] = "ChargePointMaxProfile",
    [OCPP_PROFILE_TX_DEFAULT] = "TxDefaultProfile",
    [OCPP_PROFILE_TX] = "TxProfile",
};

const char *ocpp_profile_purpose_name(enum ocpp_profile_purpose p)
{
    return p >= OCPP_PROFILE_CHARGE_POINT_MAX && p <= OCPP_PROFILE_TX ? purpose_names[p] : "TxProfile";
}

int ocpp_profile_payload(char *buf, size_t cap, const struct ocpp_profile_spec *p)
{
    int32_t da = p->limit_da < 0 ? 0 : p->limit_da;
    char tx[32] = "";
    if (p->purpose == OCPP_PROFILE_TX)
        snprintf(tx, sizeof tx, "\"transactionId\":%" PRId32 ",", p->transaction_id);
    char phases[40] = "";
    if (p->phases > 0)
        snprintf(phases, sizeof phases, ",\"numberPhases\":%d", p->phases);
    int n = snprintf(buf, cap,
                     "{\"connectorId\":%d,\"csChargingProfiles\":{\"chargingProfileId\":%d,%s"
                     "\"stackLevel\":%d,\"chargingProfilePurpose\":\"%s\",\"chargingProfileKind\":\"Relative\","
                     "\"chargingSchedule\":{\"chargingRateUnit\":\"A\",\"chargingSchedulePeriod\":"
                     "[{\"startPeriod\":0,\"limit\":%" PRId32 ".%" PRId32 "%s}]}}}",
                     p->connector_id, p->profile_id, tx, p->stack_level, ocpp_profile_purpose_name(p->purpose),
                     da / 10, da % 10, phases);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

int ocpp_clear_profile_payload(char *buf, size_t cap, int profile_id)
{
    int n = snprintf(buf, cap, "{\"id\":%d}", profile_id);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}
