/*
 * A simulated charger's charging profiles (OCPP 1.6 Smart Charging): what it
 * accepts, what it clears, and the limit per connector that follows at an
 * instant. Rules in profiles.h; no I/O here, so the unit test
 * (tests/unit/test_sim_profiles.c) drives it with plain structs and times.
 */
#include "profiles.h"

#include <stddef.h>
#include <string.h>

#define DAY_MS (86400 * (int64_t)1000)

static const char *const purpose_names[] = { "ChargePointMaxProfile", "TxDefaultProfile", "TxProfile" };

const char *sim_profile_purpose_name(enum sim_profile_purpose p)
{
    return (size_t)p < sizeof purpose_names / sizeof purpose_names[0] ? purpose_names[p] : "?";
}

bool sim_profile_purpose_parse(const char *s, enum sim_profile_purpose *out)
{
    for (size_t i = 0; s && i < sizeof purpose_names / sizeof purpose_names[0]; i++) {
        if (!strcmp(s, purpose_names[i])) {
            *out = (enum sim_profile_purpose)i;
            return true;
        }
    }
    return false;
}

void sim_profiles_init(struct sim_profiles *ps, int connectors)
{
    memset(ps, 0, sizeof *ps);
    ps->connectors = connectors < 1 ? 1 : connectors > SIM_PROFILE_CONNECTORS ? SIM_PROFILE_CONNECTORS : connectors;
}

static bool running(const struct sim_profile_tx *tx)
{
    return tx && tx->tx_id != 0;
}

/* Why p cannot be accepted, or NULL. */
static const char *refusal(const struct sim_profiles *ps, const struct sim_profile *p, const struct sim_profile_tx *tx)
{
    if (p->connector < 0 || p->connector > ps->connectors)
        return "no such connector";
    switch (p->purpose) {
    case SIM_PURPOSE_CHARGE_POINT_MAX:
        if (p->connector != 0)
            return "ChargePointMaxProfile is for connector 0 only";
        break;
    case SIM_PURPOSE_TX_DEFAULT:
        break;
    case SIM_PURPOSE_TX:
        if (p->connector == 0)
            return "TxProfile on connector 0";
        if (!running(tx))
            return "TxProfile without a transaction on the connector";
        if (p->transaction_id && p->transaction_id != tx->tx_id)
            return "TxProfile for another transaction";
        break;
    default:
        return "unknown purpose";
    }
    if (p->stack_level < 0 || p->stack_level > SIM_PROFILE_STACK_MAX)
        return "stackLevel out of range";
    if (p->nperiods < 1 || p->nperiods > SIM_PROFILE_PERIODS)
        return "number of schedule periods";
    for (int i = 0; i < p->nperiods; i++) {
        const struct sim_profile_period *q = &p->periods[i];
        if (q->start_s < 0 || (i > 0 && q->start_s <= p->periods[i - 1].start_s))
            return "startPeriod not increasing";
        if (!(q->limit >= 0))
            return "negative limit";
        if (q->phases < 0 || q->phases > 3)
            return "numberPhases out of range";
    }
    if (p->duration_s < 0)
        return "negative duration";
    if (p->kind == SIM_KIND_RECURRING && (p->recurrency == SIM_RECUR_NONE || !p->has_start))
        return "Recurring without recurrencyKind or startSchedule";
    return NULL;
}

static void remove_at(struct sim_profiles *ps, int i)
{
    memmove(&ps->p[i], &ps->p[i + 1], sizeof ps->p[0] * (size_t)(ps->n - i - 1));
    ps->n--;
}

bool sim_profiles_set(struct sim_profiles *ps, const struct sim_profile *p, const struct sim_profile_tx *tx,
                      int64_t now_ms, const char **why)
{
    const char *no = refusal(ps, p, tx);
    for (int i = ps->n - 1; !no && i >= 0; i--) {
        const struct sim_profile *o = &ps->p[i];
        if (o->id == p->id ||
            (o->connector == p->connector && o->purpose == p->purpose && o->stack_level == p->stack_level))
            remove_at(ps, i);
    }
    if (!no && ps->n == SIM_PROFILES_MAX)
        no = "too many profiles installed";
    if (why)
        *why = no;
    if (no)
        return false;
    struct sim_profile *n = &ps->p[ps->n++];
    *n = *p;
    n->accepted_ms = now_ms;
    if (p->purpose == SIM_PURPOSE_TX)
        n->transaction_id = tx->tx_id;
    return true;
}

int sim_profiles_clear(struct sim_profiles *ps, const struct sim_profile_filter *f)
{
    int cleared = 0;
    for (int i = ps->n - 1; i >= 0; i--) {
        const struct sim_profile *o = &ps->p[i];
        bool match = f->id >= 0 ? o->id == f->id
                                : (f->connector < 0 || o->connector == f->connector) &&
                                      (f->purpose < 0 || (int)o->purpose == f->purpose) &&
                                      (f->stack_level < 0 || o->stack_level == f->stack_level);
        if (match) {
            remove_at(ps, i);
            cleared++;
        }
    }
    return cleared;
}

int sim_profiles_tx_ended(struct sim_profiles *ps, int connector, int tx_id)
{
    int removed = 0;
    for (int i = ps->n - 1; i >= 0; i--) {
        const struct sim_profile *o = &ps->p[i];
        if (o->purpose == SIM_PURPOSE_TX && o->connector == connector && (!tx_id || o->transaction_id == tx_id)) {
            remove_at(ps, i);
            removed++;
        }
    }
    return removed;
}

/* The period of p in force at now, or NULL if p is not in force. */
static const struct sim_profile_period *period_at(const struct sim_profile *p, const struct sim_profile_tx *tx,
                                                  int64_t now)
{
    if ((p->valid_from_ms && now < p->valid_from_ms) || (p->valid_to_ms && now >= p->valid_to_ms))
        return NULL;
    int64_t start;
    switch (p->kind) {
    case SIM_KIND_RELATIVE:
        start = running(tx) ? tx->started_ms : now;
        break;
    case SIM_KIND_RECURRING: {
        int64_t cycle = (p->recurrency == SIM_RECUR_WEEKLY ? 7 : 1) * DAY_MS;
        start = p->start_ms;
        if (now >= start)
            start += (now - start) / cycle * cycle;
        break;
    }
    case SIM_KIND_ABSOLUTE:
    default:
        start = p->has_start ? p->start_ms : p->accepted_ms;
        break;
    }
    int64_t elapsed = now - start;
    if (elapsed < 0 || (p->duration_s > 0 && elapsed >= (int64_t)p->duration_s * 1000))
        return NULL;
    const struct sim_profile_period *found = NULL;
    for (int i = 0; i < p->nperiods && (int64_t)p->periods[i].start_s * 1000 <= elapsed; i++)
        found = &p->periods[i];
    return found;
}

static double period_amps(const struct sim_profile *p, const struct sim_profile_period *q)
{
    if (!p->watts)
        return q->limit;
    return q->limit / (SIM_PROFILE_VOLTAGE * (q->phases ? q->phases : 3));
}

/* The limit (A) of the highest stackLevel in force among the profiles of
 * this purpose installed on this connector; false if none is in force. */
static bool best_of(const struct sim_profiles *ps, enum sim_profile_purpose purpose, int connector,
                    const struct sim_profile_tx *tx, int64_t now, double *out)
{
    const struct sim_profile *win = NULL;
    const struct sim_profile_period *wq = NULL;
    for (int i = 0; i < ps->n; i++) {
        const struct sim_profile *p = &ps->p[i];
        if (p->purpose != purpose || p->connector != connector)
            continue;
        if (purpose == SIM_PURPOSE_TX && (!running(tx) || p->transaction_id != tx->tx_id))
            continue;
        const struct sim_profile_period *q = period_at(p, tx, now);
        if (q && (!win || p->stack_level > win->stack_level)) {
            win = p;
            wq = q;
        }
    }
    if (!win)
        return false;
    *out = period_amps(win, wq);
    return true;
}

double sim_profiles_limit(const struct sim_profiles *ps, int connector, const struct sim_profile_tx *tx,
                          int64_t now_ms)
{
    double limit = -1, cap;
    if (connector < 0 || connector > ps->connectors)
        return -1;
    if (connector > 0) {
        double l;
        if (best_of(ps, SIM_PURPOSE_TX, connector, tx, now_ms, &l) ||
            best_of(ps, SIM_PURPOSE_TX_DEFAULT, connector, tx, now_ms, &l) ||
            best_of(ps, SIM_PURPOSE_TX_DEFAULT, 0, tx, now_ms, &l))
            limit = l;
    }
    if (best_of(ps, SIM_PURPOSE_CHARGE_POINT_MAX, 0, NULL, now_ms, &cap) && (limit < 0 || cap < limit))
        limit = cap;
    return limit;
}
