/*
 * A session's cost from what the database says of it (model,
 * src/model/session_cost.c): the one piece of code between
 * ocppgw_session_cost_input (sql/021: one text with the session's times,
 * meter, samples, status, frozen tariff version and zone) and
 * pricing_compute (include/pricing.h), for both of its callers:
 *   - the pricing job (src/store/pricing_job.c), which prices a completed
 *     session and writes the result (costFinal true);
 *   - REST's estimate of an active session (costFinal false), priced up to
 *     now on the REST store thread by session_cost_estimate_rows, a rows
 *     hook of the statement that reads the sessions (never on the loop).
 * No database, no JSON library: parsing the text and formatting the
 * breakdown as JSON text. Reentrant: any thread.
 */
#ifndef OCPPGW_SESSION_COST_H
#define OCPPGW_SESSION_COST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store_job;

struct session_cost {
    int64_t net, vat, gross;    /* whole minor units */
    char currency[4];           /* ISO 4217 */
    bool final;                 /* false: an active session's estimate up to now */
    bool zone_unknown;          /* the zone named was not found: priced in UTC */
    const char *zone;           /* the zone priced in (tz_name: lives as long as the zone cache) */
    char *breakdown;            /* owned: costBreakdown, a JSON array text */
};

/*
 * Prices the session that input (ocppgw_session_cost_input's text,
 * borrowed) describes, with tariffs.idle_power_w. NULL on success (*out
 * filled; free with session_cost_clear), else why it has no cost (static;
 * *out empty).
 */
const char *session_cost_compute(const char *input, int32_t idle_power_w, struct session_cost *out);
void session_cost_clear(struct session_cost *c);

/*
 * The energy split of a completed session for the reports' rollups
 * (pricing_split_slots, include/pricing.h) from input in the field layout
 * of ocppgw_session_cost_input, the tariff's fields may be empty (sql/023's
 * ocppgw_session_energy_input): the same samples, the same status rule, the
 * same interpolation as the cost. NULL on success (*out filled; free with
 * pricing_split_free), else why not (static; *out empty).
 */
struct pricing_split;
const char *session_energy_compute(const char *input, int32_t idle_power_w, int64_t slot_ms, size_t max_slots,
                                   struct pricing_split *out);

/*
 * The members an estimate puts into a session document, as a JSON object
 * text: {"cost":..., "net":..., "vat":..., "currency":..., "costBreakdown":
 * [...], "costFinal": false|true}. Caller frees.
 */
char *session_cost_members_json(const struct session_cost *c);

/*
 * A rows hook (struct store_rows_hook, include/store_job.h) for a
 * statement that selects ocppgw_session_cost_input(...) of active sessions
 * (NULL for the others) in column hook.col: runs on the store thread and
 * replaces each such value with session_cost_members_json of its estimate
 * (hook.arg: tariffs.idle_power_w), or NULL when it cannot be priced.
 */
void session_cost_estimate_rows(struct store_job *job);

#endif
