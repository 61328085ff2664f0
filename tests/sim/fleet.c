/*
 * Chargers that charge on their own at random (API and behaviour in
 * fleet.h): sessions started and stopped through the ready-made answers'
 * transactions (sim_answers_start_transaction / _stop_transaction), so a
 * RemoteStopTransaction ends them too, MeterValues from the charger's
 * electrical model (sim_answers_send_meter_values), and the profile log.
 */
#include "fleet.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define FLEET_TX_MAX        16
#define FLEET_START_WAIT_US (30 * 1000000LL)    /* a StartTransaction unanswered this long is given up */

struct fleet_charger {
    double demand;
    bool set_up;                        /* demand and maximum given to the current connection */
    int64_t next_us;                    /* idle: when the session starts; charging: when it stops */
    int64_t start_sent_us;              /* a StartTransaction is out (0: none) */
    int tx_id;                          /* the session's transaction on connector 1, 0 = none */
    int mv_tx[SIM_PROFILE_CONNECTORS + 1];          /* the transaction whose MeterValues are timed */
    int64_t next_mv_us[SIM_PROFILE_CONNECTORS + 1];
    char reported[16];                  /* connector 1's last StatusNotification */
};

struct fleet {
    struct fleet_opts o;
    int n;
    struct fleet_charger *ch;
    uint64_t rng;
    int64_t t0_us;
    struct fleet_counts k;
};

/* xorshift64*: the fleet's own generator, so that the seed alone decides. */
static double rnd(struct fleet *f)
{
    f->rng ^= f->rng >> 12;
    f->rng ^= f->rng << 25;
    f->rng ^= f->rng >> 27;
    return (double)((f->rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;   /* [0, 1) */
}

static int64_t exp_us(struct fleet *f, double mean_s)
{
    return (int64_t)(-mean_s * log(1.0 - rnd(f)) * 1e6);
}

struct fleet *fleet_new(const struct fleet_opts *o, int chargers)
{
    struct fleet *f = xcalloc(1, sizeof *f);
    f->o = *o;
    f->n = chargers;
    f->ch = xcalloc((size_t)chargers, sizeof *f->ch);
    f->rng = o->seed * 0x9e3779b97f4a7c15ull + 0x2545f4914f6cdd1dull;
    f->t0_us = time_mono_us();
    for (int i = 0; i < chargers; i++) {
        double lo = o->demand_lo, hi = o->demand_hi > lo ? o->demand_hi : lo;
        f->ch[i].demand = lo > 0 || hi > 0 ? floor((lo + (hi - lo) * rnd(f)) * 10) / 10 : -1;
    }
    return f;
}

void fleet_free(struct fleet *f)
{
    if (!f)
        return;
    free(f->ch);
    free(f);
}

double fleet_demand(const struct fleet *f, int i)
{
    return i >= 0 && i < f->n ? f->ch[i].demand : -1;
}

void fleet_gone(struct fleet *f, int i)
{
    if (i < 0 || i >= f->n)
        return;
    double d = f->ch[i].demand;
    memset(&f->ch[i], 0, sizeof f->ch[i]);
    f->ch[i].demand = d;
}

void fleet_counts(const struct fleet *f, struct fleet_counts *out)
{
    *out = f->k;
}

static void status_answered(struct sim_charger *c, void *arg, bool ok, const char *payload_json)
{
    (void)c;
    (void)arg;
    (void)ok;
    (void)payload_json;
}

static void send_status(struct fleet *f, struct fleet_charger *x, struct sim_charger *c, const char *status)
{
    char ts[40], payload[256];
    time_format_iso8601(time_now_ms(), ts, sizeof ts);
    snprintf(payload, sizeof payload,
             "{\"connectorId\":1,\"errorCode\":\"NoError\",\"status\":\"%s\",\"timestamp\":\"%s\"}", status, ts);
    if (sim_send_call_cb(c, "StatusNotification", payload, status_answered, NULL) == 0) {
        str_copy(x->reported, sizeof x->reported, status);
        f->k.statuses++;
    }
}

/* The random session on connector 1: start, stop, status. */
static void session_step(struct fleet *f, struct fleet_charger *x, struct sim_charger *c,
                         const struct sim_answers_tx *on1, int64_t now)
{
    if (x->start_sent_us) {
        if (on1) {
            x->start_sent_us = 0;
            x->tx_id = on1->transaction_id;
            x->next_us = now + exp_us(f, f->o.mean_on_s);
            f->k.sessions_started++;
        } else if (now - x->start_sent_us > FLEET_START_WAIT_US) {
            x->start_sent_us = 0;
            x->next_us = now + exp_us(f, f->o.mean_off_s);
            f->k.starts_failed++;
        }
    } else if (x->tx_id && (!on1 || on1->transaction_id != x->tx_id)) {
        x->tx_id = 0;                       /* stopped by the gateway (RemoteStopTransaction) */
        x->next_us = now + exp_us(f, f->o.mean_off_s);
        f->k.sessions_stopped++;
    } else if (x->tx_id && on1->auth[0] && strcmp(on1->auth, "Accepted") != 0) {
        sim_answers_stop_transaction(c, x->tx_id, "DeAuthorized");
        x->tx_id = 0;
        x->next_us = now + exp_us(f, f->o.mean_off_s);
        f->k.sessions_deauthorized++;
    } else if (x->tx_id && now >= x->next_us) {
        if (sim_answers_stop_transaction(c, x->tx_id, "Local") == 0)
            f->k.sessions_stopped++;
        x->tx_id = 0;
        x->next_us = now + exp_us(f, f->o.mean_off_s);
    } else if (!x->tx_id && !on1 && now >= x->next_us) {
        if (sim_answers_start_transaction(c, 1, f->o.id_tag ? f->o.id_tag : "") == 0)
            x->start_sent_us = now;
        else
            x->next_us = now + exp_us(f, f->o.mean_off_s);
    }
    const char *want = !x->tx_id ? "Available" : sim_answers_effective_limit(c, 1) == 0 ? "SuspendedEVSE"
                                                                                       : "Charging";
    if (!x->start_sent_us && strcmp(x->reported, want) != 0)
        send_status(f, x, c, want);
}

void fleet_tick(struct fleet *f, int i, struct sim_charger *c, bool ready, int64_t now)
{
    if (i < 0 || i >= f->n || !c || sim_state(c) != SIM_OPEN)
        return;
    struct fleet_charger *x = &f->ch[i];
    if (!x->set_up) {
        if (x->demand >= 0)
            sim_answers_set_demand(c, 0, x->demand);
        if (f->o.max_current > 0)
            sim_answers_set_max_current(c, f->o.max_current);
        x->set_up = true;
        x->next_us = now + exp_us(f, f->o.mean_off_s);
        str_copy(x->reported, sizeof x->reported, "Available");     /* what the greeting said */
    }
    if (!ready)
        return;
    struct sim_answers_tx tx[FLEET_TX_MAX];
    int n = sim_answers_transactions(c, tx, FLEET_TX_MAX);
    const struct sim_answers_tx *on1 = NULL;
    for (int k = 0; k < n && !on1; k++)
        if (tx[k].connector == 1)
            on1 = &tx[k];
    if (f->o.mean_on_s > 0 && f->o.mean_off_s > 0)
        session_step(f, x, c, on1, now);
    if (f->o.meter_interval_ms <= 0)
        return;
    n = sim_answers_transactions(c, tx, FLEET_TX_MAX);
    for (int k = 0; k < n; k++) {
        int conn = tx[k].connector;
        if (conn < 1 || conn > SIM_PROFILE_CONNECTORS)
            continue;
        if (x->mv_tx[conn] != tx[k].transaction_id) {
            x->mv_tx[conn] = tx[k].transaction_id;
            x->next_mv_us[conn] = now + (int64_t)f->o.meter_interval_ms * 1000;
        } else if (now >= x->next_mv_us[conn]) {
            x->next_mv_us[conn] = now + (int64_t)f->o.meter_interval_ms * 1000;
            if (sim_answers_send_meter_values(c, conn) == 0)
                f->k.meter_values++;
        }
    }
}

static void json_num_or_null(FILE *out, const char *name, double v, bool present)
{
    if (present)
        fprintf(out, ",\"%s\":%.10g", name, v);
    else
        fprintf(out, ",\"%s\":null", name);
}

void fleet_profile_hook(void *user, struct sim_charger *c, const struct sim_profile_event *ev)
{
    struct fleet *f = user;
    if (ev->set) {
        f->k.profiles++;
        f->k.profiles_accepted += ev->applied;
    } else {
        f->k.clears++;
        f->k.clears_accepted += ev->applied;
    }
    FILE *out = f->o.profile_log;
    if (!out)
        return;
    char id[200];
    log_escape_text(id, sizeof id, sim_charger_id(c));
    fprintf(out, "{\"t_ms\":%.1f,\"charger\":\"%s\",\"action\":\"%s\"", (double)(ev->t_us - f->t0_us) / 1000.0, id,
            ev->set ? "SetChargingProfile" : "ClearChargingProfile");
    json_num_or_null(out, "connector", ev->connector, ev->connector >= 0);
    json_num_or_null(out, "profileId", ev->profile_id, ev->profile_id >= 0);
    if (ev->purpose >= 0)
        fprintf(out, ",\"purpose\":\"%s\"", sim_profile_purpose_name((enum sim_profile_purpose)ev->purpose));
    else
        fputs(",\"purpose\":null", out);
    json_num_or_null(out, "stackLevel", ev->stack_level, ev->stack_level >= 0);
    json_num_or_null(out, "limit", ev->limit, ev->set && ev->limit >= 0);
    if (ev->unit[0])
        fprintf(out, ",\"unit\":\"%s\"", ev->unit);
    else
        fputs(",\"unit\":null", out);
    json_num_or_null(out, "transactionId", ev->transaction_id, ev->transaction_id != 0);
    fprintf(out, ",\"answer\":\"%s\",\"applied\":%s", ev->answer, ev->applied ? "true" : "false");
    fprintf(out, ",\"maxCurrent\":%.10g", sim_answers_max_current(c));
    fputs(",\"limits\":[", out);
    for (int k = 0; k <= ev->connectors; k++) {
        if (ev->limits[k] >= 0)
            fprintf(out, "%s%.10g", k ? "," : "", ev->limits[k]);
        else
            fprintf(out, "%snull", k ? "," : "");
    }
    fputs("]}\n", out);
    fflush(out);
}
