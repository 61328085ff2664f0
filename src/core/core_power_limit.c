/*
 * A charger's power limit (PUT /v1/chargers/{id}/power-limit, sql/020's
 * chargers.power_limit) as OCPP 1.6 Smart Charging: a ChargePointMaxProfile
 * on connector 0 under a chargingProfileId reserved for it, sent through
 * the command path like any REST command (one CALL at a time per charger,
 * stored, listed in GET /v1/chargers/{id}/commands). REST sends it when the
 * limit is set; the core sends the stored one again when the charger boots
 * (BootNotification answered Accepted), since a charger may forget its
 * profiles when it restarts. Clearing removes the profiles of that purpose
 * at the gateway's stack level. A change the registry learns of while the
 * charger is connected here (set through another gateway of the cluster:
 * its NOTIFY) is sent after a grace period, unless this process sends that
 * limit first: its own REST write is applied from the committed row, which
 * may reach the loop after the NOTIFY's read, and sends it itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "util.h"

/* The payload (a schema-valid SetChargingProfile or ClearChargingProfile) into buf. */
static enum ocpp_action payload(const struct core *c, int32_t limit_da, char *buf, size_t cap)
{
    if (limit_da < 0) {
        snprintf(buf, cap,
                 "{\"connectorId\":0,\"chargingProfilePurpose\":\"ChargePointMaxProfile\",\"stackLevel\":%d}",
                 c->cfg.load_stack_level);
        return OCPP_ACTION_CLEAR_CHARGING_PROFILE;
    }
    /* Relative: the single period holds from whenever the charger takes the profile on */
    snprintf(buf, cap,
             "{\"connectorId\":0,\"csChargingProfiles\":{\"chargingProfileId\":%d,\"stackLevel\":%d,"
             "\"chargingProfilePurpose\":\"ChargePointMaxProfile\",\"chargingProfileKind\":\"Relative\","
             "\"chargingSchedule\":{\"chargingRateUnit\":\"A\",\"chargingSchedulePeriod\":"
             "[{\"startPeriod\":0,\"limit\":%d.%d}]}}}",
             CORE_POWER_LIMIT_PROFILE_ID, c->cfg.load_stack_level, limit_da / 10, limit_da % 10);
    return OCPP_ACTION_SET_CHARGING_PROFILE;
}

#define LIMIT_GRACE_MS 2000

static void due_clear(struct core *c, struct core_charger *ch)
{
    if (!ch->limit_due_ms)
        return;
    ch->limit_due_ms = 0;
    c->limits_due--;
}

void core_power_limit_changed(struct core *c, struct core_charger *ch)
{
    if (!ch->limit_due_ms)
        c->limits_due++;
    ch->limit_due_ms = core_now(c) + LIMIT_GRACE_MS;
}

void core_power_limit_forget(struct core *c, struct core_charger *ch)
{
    due_clear(c, ch);
}

struct due_ctx {
    struct core *c;
    int64_t now;
    struct core_charger **due;
    size_t n;
};

static int collect_due(void *ctx, const void *key, size_t klen, void *val)
{
    (void)key, (void)klen;
    struct due_ctx *d = ctx;
    struct core_charger *ch = val;
    if (ch->limit_due_ms && d->now >= ch->limit_due_ms)
        d->due[d->n++] = ch;
    return 0;
}

void core_power_limit_expire(struct core *c, int64_t now)
{
    if (!c->limits_due)
        return;
    struct due_ctx d = { c, now, xcalloc(c->limits_due, sizeof *d.due), 0 };
    hmap_foreach(c->chargers, collect_due, &d);
    for (size_t i = 0; i < d.n; i++) {
        due_clear(c, d.due[i]);
        if (d.due[i]->conn && !c->stopping)
            core_power_limit_send(c, d.due[i], "changed");
    }
    free(d.due);
}

enum core_call_err core_power_limit_command(struct core *c, const struct core_command_req *req,
                                            int32_t limit_da, core_command_cb cb, void *user,
                                            char *out_id)
{
    struct core_charger *ch = hmap_get_str(c->chargers, req->charger_id);
    if (ch && ch->limit_due_ms && ch->power_limit_da == limit_da)
        due_clear(c, ch);   /* sent now: the registry's pending send is this one */
    char buf[512];
    struct core_command_req q = *req;
    q.action = payload(c, limit_da, buf, sizeof buf);
    q.payload_json = buf;
    return core_command_submit(c, &q, cb, user, out_id, NULL);
}

void core_power_limit_send(struct core *c, struct core_charger *ch, const char *why)
{
    struct core_command_req req = { .charger_id = ch->id, .origin = CORE_CMD_ORIGIN_GATEWAY };
    char id[CORE_CMD_ID_LEN + 1], limit[32];
    if (ch->power_limit_da >= 0)
        snprintf(limit, sizeof limit, "%d.%d A", ch->power_limit_da / 10, ch->power_limit_da % 10);
    else
        snprintf(limit, sizeof limit, "none");
    enum core_call_err err = core_power_limit_command(c, &req, ch->power_limit_da, NULL, NULL, id);
    if (err != CORE_CALL_OK)
        log_warn(ch->id, "power limit (%s, %s) not sent: %s", limit, why,
                 err == CORE_CALL_ERR_QUEUE_FULL ? "queue full" : "cannot queue");
    else
        log_info(ch->id, "power limit (%s, %s) sent: command %s", limit, why, id);
}

void core_power_limit_on_boot(struct core *c, struct core_charger *ch)
{
    if (ch->power_limit_da >= 0 && ch->registration == OCPP_REG_ACCEPTED)
        core_power_limit_send(c, ch, "boot");
}
