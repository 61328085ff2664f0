/*
 * The configuration of load management (../shared/spec/load-management.md,
 * "Configuration") as plain rules: what a current or a phase count may be,
 * a current's text (REST body, numeric column) to deci-amperes, and the
 * limit a site's settings put in force. No database, no JSON: REST
 * validates with it, the store reads rows with it, the core (the load
 * manager) computes with it. Pure; any thread.
 *
 * Currents are kept in deci-amperes (0.1 A steps, the precision of the
 * columns, numeric(7,1)) as int32_t; LOAD_NONE (-1) means "not set".
 */
#ifndef OCPPGW_LOAD_CONFIG_H
#define OCPPGW_LOAD_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#define LOAD_NONE (-1)

/* Load balancing strategies (sites.lb_strategy). */
enum load_strategy { LOAD_STRATEGY_EQUAL = 0, LOAD_STRATEGY_PRIORITY };
/* "equal" / "priority"; false for anything else. */
bool load_strategy_parse(const char *s, enum load_strategy *out);
const char *load_strategy_name(enum load_strategy s);

/* A number's text with at most one decimal (32, 32.5, 6.0): 0.1 A steps. */
bool load_current_text_valid(const char *text);
/* "1" or "3" (a site's phases). */
bool load_phases_text_valid(const char *text);

/*
 * A current's text ("32", "32.5", "16.0") to deci-amperes, rounded down to
 * 0.1 A; NULL or "" -> LOAD_NONE. False (and *out LOAD_NONE) for anything
 * else or a negative value.
 */
bool load_current_parse_da(const char *text, int32_t *out);

/*
 * The current a site's limits allow per phase, in deci-amperes: the lower
 * of max_current_da and max_power_w / (voltage x phases) rounded down to
 * 0.1 A; either may be absent (LOAD_NONE, max_power_w <= 0). LOAD_NONE when
 * neither is set, or voltage or phases are not positive.
 */
int32_t load_effective_current_da(int32_t max_current_da, int64_t max_power_w, int voltage, int phases);

#endif
