/*
 * BootNotification: the charger introduces itself (vendor, model, serial
 * numbers, firmware, modem and meter identity) and learns whether it is
 * accepted, the server time and its heartbeat interval.
 */
#include <stddef.h>

#include <cJSON.h>

#include "codec.h"

#define FIELD(name, member) { name, offsetof(struct ocpp_boot_req, member), \
                              sizeof ((struct ocpp_boot_req *)0)->member }

static const struct {
    const char *name;
    size_t offset, cap;
} boot_fields[] = {
    FIELD("chargePointVendor", vendor),
    FIELD("chargePointModel", model),
    FIELD("chargePointSerialNumber", cp_serial),
    FIELD("chargeBoxSerialNumber", cb_serial),
    FIELD("firmwareVersion", firmware),
    FIELD("iccid", iccid),
    FIELD("imsi", imsi),
    FIELD("meterType", meter_type),
    FIELD("meterSerialNumber", meter_serial),
};

enum ocpp_err ocpp_parse_boot_notification(const cJSON *p, union ocpp_req *req, struct ocpp_violation *v)
{
    for (size_t i = 0; i < sizeof boot_fields / sizeof boot_fields[0]; i++) {
        /* the first two are required, the rest default to "" */
        enum ocpp_err err = ocpp_get_string(p, "", boot_fields[i].name, i < 2 ? NULL : "",
                                            (char *)&req->boot + boot_fields[i].offset,
                                            boot_fields[i].cap, v);
        if (err)
            return err;
    }
    return OCPP_OK;
}

static const char *const registration_names[] = {
    [OCPP_REG_ACCEPTED] = "Accepted",
    [OCPP_REG_PENDING] = "Pending",
    [OCPP_REG_REJECTED] = "Rejected",
};

cJSON *ocpp_build_boot_notification_conf(const struct ocpp_conf *conf)
{
    const struct ocpp_boot_conf *b = &conf->body.boot;
    size_t s = (size_t)b->status;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", s < sizeof registration_names / sizeof registration_names[0]
                                             ? registration_names[s] : "Rejected");
    ocpp_add_time(o, "currentTime", b->current_time_ms);
    cJSON_AddNumberToObject(o, "interval", b->interval_s);
    return o;
}
