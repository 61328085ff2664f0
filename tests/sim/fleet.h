/*
 * A fleet of simulated chargers that charge on their own, for the load
 * management tests and benchmark (ocppsim --mode serve --random-sessions,
 * or an integration test): each charger, once ready, idles a random time,
 * starts a session on connector 1 with an idTag (StartTransaction), charges
 * a random time and stops it (StopTransaction, reason Local), and again;
 * MeterValues every meter_interval_ms during every session on the charger
 * (its own and remote-started ones) report what it draws under the
 * gateway's charging profiles (tests/sim/charging.c); with random sessions
 * it reports connector 1's status (Charging, SuspendedEVSE while its limit
 * is 0, Available). The times are exponentially distributed around their
 * means and, like each charger's demand (drawn once in [demand_lo,
 * demand_hi]), come from a generator seeded with seed: the same seed gives
 * the same fleet.
 *
 * The fleet also writes the profile log: with profile_log set, pass
 * fleet_profile_hook as struct sim_answers' on_profile (user: the fleet);
 * one JSON line per SetChargingProfile / ClearChargingProfile a charger
 * received:
 *   {"t_ms":1234.5,"charger":"BENCH-000001","action":"SetChargingProfile",
 *    "connector":1,"profileId":7,"purpose":"TxProfile","stackLevel":1,
 *    "limit":10.5,"unit":"A","transactionId":42,"answer":"Accepted",
 *    "applied":true,"maxCurrent":32,"limits":[null,10.5]}
 * t_ms counts from fleet_new (monotonic); absent fields are null; limits
 * are each connector's effective limit after it (index = connector, null =
 * no profile limits it: the charger may draw maxCurrent).
 */
#ifndef OCPPGW_SIM_FLEET_H
#define OCPPGW_SIM_FLEET_H

#include <stdint.h>
#include <stdio.h>

#include "sim.h"

struct fleet_opts {
    double mean_on_s, mean_off_s;       /* random sessions; 0: none */
    int meter_interval_ms;              /* MeterValues during sessions; 0: none */
    const char *id_tag;                 /* the sessions' idTag (borrowed) */
    double demand_lo, demand_hi;        /* A per phase; both 0: the answers' default */
    double max_current;                 /* the chargers' own maximum; 0: the answers' default */
    uint64_t seed;
    FILE *profile_log;                  /* borrowed; NULL: none */
};

struct fleet_counts {
    int sessions_started, sessions_stopped, sessions_deauthorized;
    int starts_failed;                  /* no transaction 30 s after the StartTransaction */
    int meter_values, statuses;
    int profiles, profiles_accepted, clears, clears_accepted;
};

struct fleet;

/* chargers: the fleet's size; charger i is the one passed to fleet_tick with i. */
struct fleet *fleet_new(const struct fleet_opts *o, int chargers);
void fleet_free(struct fleet *f);
/*
 * One step of charger i at now_us (time_mono_us): c is its connection
 * (NULL or not open: nothing happens), ready once it may start sessions
 * (booted, its first StatusNotification answered). Sends at most a few
 * CALLs with sim_send_call_cb. Call often (every 50 ms or so).
 */
void fleet_tick(struct fleet *f, int i, struct sim_charger *c, bool ready, int64_t now_us);
/* Charger i's connection is gone: the next one starts idle and is set up again. */
void fleet_gone(struct fleet *f, int i);
/* Charger i's demand, A per phase (as drawn from the range). */
double fleet_demand(const struct fleet *f, int i);
/* The on_profile hook of struct sim_answers; user is the fleet. */
void fleet_profile_hook(void *user, struct sim_charger *c, const struct sim_profile_event *ev);
void fleet_counts(const struct fleet *f, struct fleet_counts *out);

#endif
