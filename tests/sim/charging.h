/*
 * Private to the simulator: the electrical side of a charger that
 * tests/sim/answers.c simulates (its charging profiles, what each connector
 * draws, the energy it meters, the record of profiles received). The
 * public API is in sim.h ("Smart Charging"); answers.c keeps one struct
 * chg per charger and tells it about transactions and the two CALLs.
 */
#ifndef OCPPGW_SIM_CHARGING_H
#define OCPPGW_SIM_CHARGING_H

#include <cJSON.h>

#include "sim.h"

struct chg;

struct chg *chg_new(void);
void chg_free(struct chg *g);
/* The answers' per-charger state's charging part (answers.c); NULL if the
 * answers never ran (peek) or the data slot holds something else. */
struct chg *ans_charging(struct sim_charger *c);
const struct chg *ans_charging_peek(const struct sim_charger *c);

/* a's connectors, max_current, demand and current_values, once, where no
 * per-charger setter came first. */
void chg_defaults(struct chg *g, const struct sim_answers *a);
void chg_tx_started(struct chg *g, int connector, int tx_id, int64_t started_ms);
void chg_tx_ended(struct chg *g, int connector, int tx_id);
/* Energy metered by the transaction so far (Wh), 0 if it is not the connector's. */
double chg_tx_energy_wh(const struct chg *g, int connector, int tx_id);

/*
 * The two CALLs with the positive behaviour: apply, record, call the hook.
 * Return the status to answer; set_profile returns NULL with *error set to a
 * CALLERROR code for a request missing a required field.
 */
const char *chg_on_set(struct chg *g, const struct sim_answers *a, struct sim_charger *c, const cJSON *req,
                       const char **error);
const char *chg_on_clear(struct chg *g, const struct sim_answers *a, struct sim_charger *c, const cJSON *req);
/* Either CALL answered by a behaviour (answer: "Rejected", "CALLERROR", "silence", ...): recorded, not applied. */
void chg_on_refused(struct chg *g, const struct sim_answers *a, struct sim_charger *c, bool set,
                    const char *payload_json, const char *answer);
/* The limit now for GetCompositeSchedule (A; the charger's maximum when no profile limits it). */
double chg_schedule_limit(const struct chg *g, int connector);
/* Adds the charging counters to *st. */
void chg_stats(const struct chg *g, struct sim_answers_stats *st);

#endif
