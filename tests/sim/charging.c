/*
 * The electrical side of a simulated charger (API in sim.h, "Smart
 * Charging"): the charging profiles it accepts (the rules are
 * tests/sim/profiles.c's, pure and unit-tested; this file parses the CALLs
 * into them), what each connector draws under them, the energy register
 * that integrates the draw, MeterValues that report it, and the record of
 * every SetChargingProfile / ClearChargingProfile received, which the load
 * management tests check the gateway against.
 *
 * Energy is integrated piecewise: each connector keeps the draw in force
 * since its last change, and every event that may change a draw (a profile
 * set or cleared, a transaction starting or ending, a demand changed, a
 * MeterValues read) first adds the energy drawn so far and then takes the
 * new draw. (A schedule whose period changes between two events is counted
 * at the draw of the earlier event until the next.)
 */
#include "charging.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define CHG_PHASES      3
#define CHG_DEFAULT_A   32.0
#define CHG_LOG_MAX     1000000         /* events kept per connection at most */

struct chg_conn {
    double demand;                      /* A per phase the EV wants */
    int tx_id;                          /* the running transaction, 0 = none */
    int64_t started_ms;                 /* its start, Unix ms (Relative schedules) */
    double energy_wh;                   /* metered by it up to at_us */
    int64_t at_us;
    double draw_a;                      /* A per phase since at_us */
};

struct chg {
    struct sim_profiles profiles;
    double max_current;
    enum sim_current_values current_values;
    bool set_connectors, set_max, set_demand, set_current;   /* a per-charger setter ran */
    bool defaults_done;
    struct chg_conn conn[SIM_PROFILE_CONNECTORS + 1];
    struct sim_profile_event *log;
    int nlog, caplog;
    int profiles_received, profiles_accepted, clears_received;
    int mv_sent, mv_answered;
};

struct chg *chg_new(void)
{
    struct chg *g = xcalloc(1, sizeof *g);
    sim_profiles_init(&g->profiles, 1);
    g->max_current = CHG_DEFAULT_A;
    for (int k = 0; k <= SIM_PROFILE_CONNECTORS; k++)
        g->conn[k].demand = CHG_DEFAULT_A;
    return g;
}

void chg_free(struct chg *g)
{
    if (!g)
        return;
    free(g->log);
    free(g);
}

static bool conn_ok(int connector)
{
    return connector >= 1 && connector <= SIM_PROFILE_CONNECTORS;
}

static struct sim_profile_tx tx_view(const struct chg *g, int connector)
{
    if (!conn_ok(connector))
        return (struct sim_profile_tx){ 0, 0 };
    return (struct sim_profile_tx){ g->conn[connector].tx_id, g->conn[connector].started_ms };
}

static double limit_at(const struct chg *g, int connector, int64_t now_ms)
{
    struct sim_profile_tx tx = tx_view(g, connector);
    return sim_profiles_limit(&g->profiles, connector, &tx, now_ms);
}

static double draw_at(const struct chg *g, int connector, int64_t now_ms)
{
    const struct chg_conn *k = &g->conn[connector];
    if (!k->tx_id)
        return 0;
    double d = k->demand < g->max_current ? k->demand : g->max_current;
    double lim = limit_at(g, connector, now_ms);
    if (lim >= 0 && lim < d)
        d = lim;
    return d > 0 ? d : 0;
}

static double energy_now(const struct chg_conn *k, int64_t now_us)
{
    double hours = (double)(now_us - k->at_us) / 3.6e9;
    return k->energy_wh + k->draw_a * SIM_PROFILE_VOLTAGE * CHG_PHASES * (hours > 0 ? hours : 0);
}

/* Adds the energy drawn so far on every connector and takes the draws in force now. */
static void advance(struct chg *g)
{
    int64_t now_us = time_mono_us(), now_ms = time_now_ms();
    for (int i = 1; i <= SIM_PROFILE_CONNECTORS; i++) {
        struct chg_conn *k = &g->conn[i];
        if (!k->tx_id)
            continue;
        k->energy_wh = energy_now(k, now_us);
        k->at_us = now_us;
        k->draw_a = draw_at(g, i, now_ms);
    }
}

void chg_defaults(struct chg *g, const struct sim_answers *a)
{
    if (g->defaults_done)
        return;
    g->defaults_done = true;
    if (!g->set_connectors && a->connectors > 0)
        g->profiles.connectors = a->connectors > SIM_PROFILE_CONNECTORS ? SIM_PROFILE_CONNECTORS : a->connectors;
    if (!g->set_max && a->max_current > 0)
        g->max_current = a->max_current;
    if (!g->set_demand && a->demand >= 0)
        for (int k = 0; k <= SIM_PROFILE_CONNECTORS; k++)
            g->conn[k].demand = a->demand;
    if (!g->set_current)
        g->current_values = a->current_values;
    advance(g);
}

void chg_tx_started(struct chg *g, int connector, int tx_id, int64_t started_ms)
{
    if (!conn_ok(connector))
        return;
    advance(g);
    struct chg_conn *k = &g->conn[connector];
    k->tx_id = tx_id;
    k->started_ms = started_ms;
    k->energy_wh = 0;
    k->at_us = time_mono_us();
    k->draw_a = draw_at(g, connector, time_now_ms());
}

void chg_tx_ended(struct chg *g, int connector, int tx_id)
{
    if (!conn_ok(connector) || g->conn[connector].tx_id != tx_id)
        return;
    advance(g);
    sim_profiles_tx_ended(&g->profiles, connector, tx_id);
    g->conn[connector].tx_id = 0;
    g->conn[connector].draw_a = 0;
    advance(g);
}

double chg_tx_energy_wh(const struct chg *g, int connector, int tx_id)
{
    if (!conn_ok(connector) || !tx_id || g->conn[connector].tx_id != tx_id)
        return 0;
    return energy_now(&g->conn[connector], time_mono_us());
}

double chg_schedule_limit(const struct chg *g, int connector)
{
    double lim = limit_at(g, connector, time_now_ms());
    return lim < 0 || lim > g->max_current ? g->max_current : lim;
}

void chg_stats(const struct chg *g, struct sim_answers_stats *st)
{
    st->profiles_received += g->profiles_received;
    st->profiles_accepted += g->profiles_accepted;
    st->clears_received += g->clears_received;
    st->meter_values_sent += g->mv_sent;
    st->meter_values_answered += g->mv_answered;
}

/* ------------------------------------------------------------ parsing */

static bool get_int(const cJSON *o, const char *name, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(v))
        return false;
    *out = v->valueint;
    return true;
}

static const char *get_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* An optional date-time: absent is fine (0), present must parse. */
static bool get_time(const cJSON *o, const char *name, int64_t *out, bool *present)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *out = 0;
    if (present)
        *present = v != NULL;
    if (!v)
        return true;
    return cJSON_IsString(v) && time_parse_iso8601(v->valuestring, out);
}

/* The request's fields, for the record, whatever their validity. */
static void event_fields(const cJSON *req, bool set, struct sim_profile_event *ev)
{
    enum sim_profile_purpose pp;
    ev->set = set;
    ev->connector = ev->profile_id = ev->purpose = ev->stack_level = -1;
    ev->limit = -1;
    if (!get_int(req, "connectorId", &ev->connector))
        ev->connector = -1;
    const cJSON *p = set ? cJSON_GetObjectItemCaseSensitive(req, "csChargingProfiles") : req;
    if (!get_int(p, set ? "chargingProfileId" : "id", &ev->profile_id))
        ev->profile_id = -1;
    if (!get_int(p, "stackLevel", &ev->stack_level))
        ev->stack_level = -1;
    if (sim_profile_purpose_parse(get_str(p, "chargingProfilePurpose"), &pp))
        ev->purpose = (int)pp;
    if (!set)
        return;
    get_int(p, "transactionId", &ev->transaction_id);
    const cJSON *sched = cJSON_GetObjectItemCaseSensitive(p, "chargingSchedule");
    const char *unit = get_str(sched, "chargingRateUnit");
    if (unit)
        str_copy(ev->unit, sizeof ev->unit, unit);
    const cJSON *periods = cJSON_GetObjectItemCaseSensitive(sched, "chargingSchedulePeriod");
    ev->nperiods = cJSON_IsArray(periods) ? cJSON_GetArraySize(periods) : 0;
    const cJSON *first = cJSON_IsArray(periods) ? cJSON_GetArrayItem(periods, 0) : NULL;
    const cJSON *lim = cJSON_GetObjectItemCaseSensitive(first, "limit");
    if (cJSON_IsNumber(lim))
        ev->limit = lim->valuedouble;
    get_int(first, "numberPhases", &ev->phases);
}

/* csChargingProfiles into p; a static reason when a required field is missing or mistyped. */
static const char *parse_profile(const cJSON *req, struct sim_profile *p)
{
    memset(p, 0, sizeof *p);
    const cJSON *cp = cJSON_GetObjectItemCaseSensitive(req, "csChargingProfiles");
    if (!get_int(req, "connectorId", &p->connector) || !cJSON_IsObject(cp))
        return "connectorId or csChargingProfiles";
    if (!get_int(cp, "chargingProfileId", &p->id) || !get_int(cp, "stackLevel", &p->stack_level))
        return "chargingProfileId or stackLevel";
    if (!sim_profile_purpose_parse(get_str(cp, "chargingProfilePurpose"), &p->purpose))
        return "chargingProfilePurpose";
    const char *kind = get_str(cp, "chargingProfileKind");
    if (!kind)
        return "chargingProfileKind";
    if (!strcmp(kind, "Absolute"))
        p->kind = SIM_KIND_ABSOLUTE;
    else if (!strcmp(kind, "Relative"))
        p->kind = SIM_KIND_RELATIVE;
    else if (!strcmp(kind, "Recurring"))
        p->kind = SIM_KIND_RECURRING;
    else
        return "chargingProfileKind";
    const char *rec = get_str(cp, "recurrencyKind");
    p->recurrency = !rec ? SIM_RECUR_NONE : !strcmp(rec, "Daily") ? SIM_RECUR_DAILY
                                        : !strcmp(rec, "Weekly") ? SIM_RECUR_WEEKLY
                                                                  : SIM_RECUR_NONE;
    if (rec && p->recurrency == SIM_RECUR_NONE)
        return "recurrencyKind";
    get_int(cp, "transactionId", &p->transaction_id);
    if (!get_time(cp, "validFrom", &p->valid_from_ms, NULL) || !get_time(cp, "validTo", &p->valid_to_ms, NULL))
        return "validFrom or validTo";
    const cJSON *sched = cJSON_GetObjectItemCaseSensitive(cp, "chargingSchedule");
    if (!cJSON_IsObject(sched))
        return "chargingSchedule";
    const char *unit = get_str(sched, "chargingRateUnit");
    if (!unit || (strcmp(unit, "A") && strcmp(unit, "W")))
        return "chargingRateUnit";
    p->watts = !strcmp(unit, "W");
    get_int(sched, "duration", &p->duration_s);
    if (!get_time(sched, "startSchedule", &p->start_ms, &p->has_start))
        return "startSchedule";
    const cJSON *periods = cJSON_GetObjectItemCaseSensitive(sched, "chargingSchedulePeriod"), *q;
    if (!cJSON_IsArray(periods))
        return "chargingSchedulePeriod";
    cJSON_ArrayForEach(q, periods) {
        const cJSON *lim = cJSON_GetObjectItemCaseSensitive(q, "limit");
        struct sim_profile_period per = { 0 };
        if (!get_int(q, "startPeriod", &per.start_s) || !cJSON_IsNumber(lim))
            return "startPeriod or limit";
        per.limit = lim->valuedouble;
        get_int(q, "numberPhases", &per.phases);
        if (p->nperiods == SIM_PROFILE_PERIODS) {
            p->nperiods++;                      /* refused by the rules: too many */
            break;
        }
        p->periods[p->nperiods++] = per;
    }
    return NULL;
}

/* ------------------------------------------------------------ the record */

static void record(struct chg *g, const struct sim_answers *a, struct sim_charger *c, struct sim_profile_event *ev)
{
    int64_t now = time_now_ms();
    ev->t_us = time_mono_us();
    ev->connectors = g->profiles.connectors;
    for (int k = 0; k <= SIM_PROFILE_CONNECTORS; k++)
        ev->limits[k] = k <= ev->connectors ? limit_at(g, k, now) : -1;
    if (g->nlog < CHG_LOG_MAX) {
        if (g->nlog == g->caplog) {
            g->caplog = g->caplog ? g->caplog * 2 : 64;
            g->log = xrealloc(g->log, sizeof *g->log * (size_t)g->caplog);
        }
        g->log[g->nlog++] = *ev;
    }
    if (a && a->on_profile)
        a->on_profile(a->on_profile_user, c, ev);
}

const char *chg_on_set(struct chg *g, const struct sim_answers *a, struct sim_charger *c, const cJSON *req,
                       const char **error)
{
    struct sim_profile_event ev = { 0 };
    struct sim_profile p;
    event_fields(req, true, &ev);
    g->profiles_received++;
    const char *why = parse_profile(req, &p);
    const char *status = NULL;
    *error = NULL;
    if (why) {
        *error = "FormationViolation";
        str_copy(ev.answer, sizeof ev.answer, "CALLERROR");
    } else {
        struct sim_profile_tx tx = tx_view(g, p.connector);
        ev.applied = sim_profiles_set(&g->profiles, &p, &tx, time_now_ms(), &why);
        status = ev.applied ? "Accepted" : "Rejected";
        str_copy(ev.answer, sizeof ev.answer, status);
        g->profiles_accepted += ev.applied;
        advance(g);
    }
    str_copy(ev.why, sizeof ev.why, why ? why : "");
    record(g, a, c, &ev);
    return status;
}

const char *chg_on_clear(struct chg *g, const struct sim_answers *a, struct sim_charger *c, const cJSON *req)
{
    struct sim_profile_event ev = { 0 };
    event_fields(req, false, &ev);
    g->clears_received++;
    struct sim_profile_filter f = { ev.profile_id, ev.connector, ev.purpose, ev.stack_level };
    const char *purpose = get_str(req, "chargingProfilePurpose");
    int n = purpose && ev.purpose < 0 ? 0 : sim_profiles_clear(&g->profiles, &f);   /* unknown purpose: none */
    advance(g);
    ev.applied = n > 0;
    str_copy(ev.answer, sizeof ev.answer, n ? "Accepted" : "Unknown");
    str_copy(ev.why, sizeof ev.why, n ? "" : "no matching profile");
    record(g, a, c, &ev);
    return ev.answer[0] == 'A' ? "Accepted" : "Unknown";
}

void chg_on_refused(struct chg *g, const struct sim_answers *a, struct sim_charger *c, bool set,
                    const char *payload_json, const char *answer)
{
    struct sim_profile_event ev = { 0 };
    cJSON *req = cJSON_Parse(payload_json ? payload_json : "{}");
    event_fields(req, set, &ev);
    cJSON_Delete(req);
    if (set)
        g->profiles_received++;
    else
        g->clears_received++;
    str_copy(ev.answer, sizeof ev.answer, answer);
    str_copy(ev.why, sizeof ev.why, "the answer behaviour");
    record(g, a, c, &ev);
}

/* ------------------------------------------------------------ public API (sim.h) */

int sim_answers_profile_log(const struct sim_charger *c, struct sim_profile_event *out, int max)
{
    const struct chg *g = ans_charging_peek(c);
    if (!g)
        return 0;
    for (int i = 0; i < g->nlog && i < max; i++)
        out[i] = g->log[i];
    return g->nlog;
}

const struct sim_profile_event *sim_answers_profile_event(const struct sim_charger *c, int i)
{
    const struct chg *g = ans_charging_peek(c);
    return g && i >= 0 && i < g->nlog ? &g->log[i] : NULL;
}

double sim_answers_effective_limit(const struct sim_charger *c, int connector)
{
    const struct chg *g = ans_charging_peek(c);
    return g ? limit_at(g, connector, time_now_ms()) : -1;
}

double sim_answers_max_current(const struct sim_charger *c)
{
    const struct chg *g = ans_charging_peek(c);
    return g ? g->max_current : CHG_DEFAULT_A;
}

double sim_answers_draw(const struct sim_charger *c, int connector)
{
    const struct chg *g = ans_charging_peek(c);
    return g && conn_ok(connector) ? draw_at(g, connector, time_now_ms()) : 0;
}

void sim_answers_set_connectors(struct sim_charger *c, int connectors)
{
    struct chg *g = ans_charging(c);
    if (!g || connectors < 1)
        return;
    g->profiles.connectors = connectors > SIM_PROFILE_CONNECTORS ? SIM_PROFILE_CONNECTORS : connectors;
    g->set_connectors = true;
    advance(g);
}

void sim_answers_set_max_current(struct sim_charger *c, double amps)
{
    struct chg *g = ans_charging(c);
    if (!g || !(amps >= 0))
        return;
    advance(g);
    g->max_current = amps;
    g->set_max = true;
    advance(g);
}

void sim_answers_set_demand(struct sim_charger *c, int connector, double amps)
{
    struct chg *g = ans_charging(c);
    if (!g || !(amps >= 0) || connector < 0 || connector > SIM_PROFILE_CONNECTORS)
        return;
    advance(g);
    for (int k = connector ? connector : 0; k <= (connector ? connector : SIM_PROFILE_CONNECTORS); k++)
        g->conn[k].demand = amps;
    g->set_demand = true;
    advance(g);
}

void sim_answers_set_current_values(struct sim_charger *c, enum sim_current_values how)
{
    struct chg *g = ans_charging(c);
    if (!g)
        return;
    g->current_values = how;
    g->set_current = true;
}

/* ------------------------------------------------------------ MeterValues */

static void add_sample(cJSON *list, const char *value, const char *measurand, const char *phase, const char *unit)
{
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "value", value);
    cJSON_AddStringToObject(s, "context", "Sample.Periodic");
    cJSON_AddStringToObject(s, "measurand", measurand);
    if (phase)
        cJSON_AddStringToObject(s, "phase", phase);
    cJSON_AddStringToObject(s, "unit", unit);
    cJSON_AddItemToArray(list, s);
}

int sim_answers_meter_values_payload(struct sim_charger *c, int connector, char *buf, size_t cap)
{
    struct chg *g = ans_charging(c);
    struct sim_answers_tx tx[16];
    int n = g && conn_ok(connector) && g->conn[connector].tx_id ? sim_answers_transactions(c, tx, 16) : 0;
    const struct sim_answers_tx *t = NULL;
    for (int i = 0; i < n && !t; i++)
        if (tx[i].connector == connector && tx[i].transaction_id == g->conn[connector].tx_id)
            t = &tx[i];
    if (!t)
        return -1;
    advance(g);
    double amps = g->conn[connector].draw_a;
    char ts[40], v[32];
    time_format_iso8601(time_now_ms(), ts, sizeof ts);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "connectorId", connector);
    cJSON_AddNumberToObject(p, "transactionId", t->transaction_id);
    cJSON *mv = cJSON_CreateObject();
    cJSON_AddStringToObject(mv, "timestamp", ts);
    cJSON *list = cJSON_AddArrayToObject(mv, "sampledValue");
    snprintf(v, sizeof v, "%d", t->meter_wh);
    add_sample(list, v, "Energy.Active.Import.Register", NULL, "Wh");
    snprintf(v, sizeof v, "%.0f", amps * SIM_PROFILE_VOLTAGE * CHG_PHASES);
    add_sample(list, v, "Power.Active.Import", NULL, "W");
    snprintf(v, sizeof v, "%.1f", amps);
    if (g->current_values != SIM_CURRENT_SINGLE) {
        add_sample(list, v, "Current.Import", "L1", "A");
        add_sample(list, v, "Current.Import", "L2", "A");
        add_sample(list, v, "Current.Import", "L3", "A");
    }
    if (g->current_values != SIM_CURRENT_PHASES)
        add_sample(list, v, "Current.Import", NULL, "A");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(p, "meterValue"), mv);
    bool ok = cJSON_PrintPreallocated(p, buf, (int)cap, 0);
    cJSON_Delete(p);
    return ok ? 0 : -1;
}

static void meter_values_answered(struct sim_charger *c, void *arg, bool ok, const char *payload_json)
{
    struct chg *g = ans_charging(c);
    (void)arg;
    (void)payload_json;
    if (g && ok)
        g->mv_answered++;
}

int sim_answers_send_meter_values(struct sim_charger *c, int connector)
{
    char buf[2048];
    struct chg *g = ans_charging(c);
    if (!g || sim_answers_meter_values_payload(c, connector, buf, sizeof buf) != 0 ||
        sim_send_call_cb(c, "MeterValues", buf, meter_values_answered, NULL) != 0)
        return -1;
    g->mv_sent++;
    return 0;
}
