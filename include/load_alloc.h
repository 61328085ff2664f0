/*
 * Load allocation (issue 14, spec load-management.md): how a site's current
 * limit is shared among its active sessions, and what a connector without a
 * session may take if one starts there now. A pure function in the core:
 * no I/O, no clock, no allocation, integer arithmetic only; it reads and
 * writes only the arrays the caller passes. The runtime gathers the inputs
 * (site limit, sessions with their chargers' limits and measured draws,
 * idle connectors), calls load_allocate() and turns the outputs into
 * SetChargingProfile TxProfiles (sessions) and TxDefaultProfiles (idle
 * connectors). Reentrant: any thread.
 *
 * Units: currents are int32 deci-amperes (0.1 A steps) per phase. Every
 * output is rounded DOWN to 0.1 A, never up: the invariant has no tolerance.
 *
 * Demand. A session's demand is its cap (cap_da: min(charger max current,
 * charger power limit), LOAD_UNLIMITED if none; a negative cap counts as 0).
 * With p->redistribute, a known measured_da and low_samples >= 2 (two
 * consecutive samples clearly below the allocation, see load_draw_is_low;
 * the caller counts them and resets the count when a sample is not low),
 * the demand is min(cap, max(min_da, measured_da + margin_da)): the session
 * keeps what it draws plus the margin and the rest goes to the others. When
 * its draw rises back the caller's count drops to 0, and the next call
 * gives it its whole share again.
 *
 * Eligible. A session whose cap is below min_da can never charge: 0, paused.
 *
 * A group (strategy equal: all sessions; strategy priority: the sessions of
 * one token priority, groups taken highest first, each with what the ones
 * before left) shares a budget R:
 *  1. served: if every eligible session of the group can have min_da
 *     (count x min_da <= R), all of them; else the k = floor(R / min_da)
 *     earliest started (start_ms, then id, then array position); the other
 *     eligible ones get 0, paused = true;
 *  2. water-filling among the served: the level L is the largest whole
 *     number of deci-amps with sum(min(demand_i, L)) <= R, and each served
 *     session gets min(demand_i, L). So a session whose demand is below the
 *     equal share gets its demand and what it leaves is shared among the
 *     rest, repeatedly; the equal share is floored (32 A over three:
 *     10.6 A each, 0.2 A unused). As k x min_da <= R, L >= min_da.
 * Strategy priority is therefore: higher priority first, each session as
 * much as it can take, equal priorities sharing equally; a session that
 * would get less than min_da gets 0 (paused) and what it would have had
 * stays for the next ones. A group that is short (a session paused, or
 * one below its demand) passes nothing to the groups below: what it leaves
 * is less than min_da or the floor's residue (under 0.1 A per session), and
 * a lower priority never charges while a higher one is held back.
 *
 * Hysteresis, after the allocation: a session whose new value differs from
 * a known prev_da (>= 0) by less than hysteresis_da keeps prev_da, unless
 *  - the new value or prev_da is 0 (a pause or resume is never held back),
 *  - prev_da is below min_da or above the session's cap,
 *  - prev_da is higher and keeping it would take the total over the limit.
 * Lower values are kept first (that only frees current); then higher ones,
 * earliest started first, each only if the total still fits.
 *
 * Idle connectors (a connector of the site without a session): headroom
 * H = limit - sum of the session allocations (after hysteresis); with n
 * sessions and m idle connectors each gets
 *     default_da = min(cap, floor(limit / (n + 1)), floor(H / m)),
 * its fair share as a new session, never more than its part of the
 * headroom; 0 if that is below min_da. The same hysteresis then applies to
 * default_da against the idle connector's prev_da (higher values in
 * ascending id). Every idle connector's default counts in the total: if
 * all m connectors started a session in the same instant, before any
 * TxProfile could reach them, the site would still be within its limit.
 *
 * Invariant, for any input: sum(alloc_da) + sum(default_da) <= limit_da;
 * alloc_da <= cap and default_da <= cap; every output is >= 0 and either 0
 * or >= min_da; a limit <= 0 gives all zeros. paused is true exactly for a
 * session given 0 because it could not have min_da (min_da > 0).
 *
 * Cost, for n sessions: per group, about 32 passes over the n to find the
 * water level (bisection) and k passes to pick the k earliest when the
 * group is short; one group for equal, one per distinct priority for
 * priority; hysteresis up to c passes for c sessions that may keep a higher
 * previous value. Quadratic at worst, a few million steps for 500 sessions:
 * no sorting, so no scratch memory.
 */
#ifndef OCPPGW_LOAD_ALLOC_H
#define OCPPGW_LOAD_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "load_config.h"   /* enum load_strategy */

#define LOAD_UNLIMITED INT32_MAX
#define LOAD_UNKNOWN (-1)


struct load_params {
    int32_t limit_da;      /* the site's limit, per phase */
    enum load_strategy strategy;
    int32_t min_da;        /* minCurrent: below this a session is paused (0); negative counts as 0 */
    int32_t margin_da;     /* load.margin (default 10, 1 A); negative counts as 0 */
    int32_t hysteresis_da; /* no change smaller than this (default 5, 0.5 A); 0: none */
    bool redistribute;
};

/* One active session (connector charging or suspended); in and out. */
struct load_session {
    uint64_t id;         /* the caller's key (session id); ties broken by it; should be unique */
    int64_t start_ms;    /* earlier started = first served when short */
    int32_t priority;    /* token priority, higher first (strategy priority) */
    int32_t cap_da;      /* min(charger max current, charger power limit); LOAD_UNLIMITED */
    int32_t measured_da; /* latest measured draw, LOAD_UNKNOWN */
    int32_t low_samples; /* consecutive samples clearly below the allocation (the caller counts) */
    int32_t prev_da;     /* the current allocation, LOAD_UNKNOWN for a new session */
    int32_t alloc_da;    /* out */
    bool paused;         /* out: 0 because the limit cannot give it min_da */
};

/* A connector of the site without a session; in and out. */
struct load_idle {
    uint64_t id;        /* the caller's key (connector) */
    int32_t cap_da;     /* as for a session */
    int32_t prev_da;    /* its current TxDefaultProfile limit, LOAD_UNKNOWN */
    int32_t default_da; /* out: its TxDefaultProfile limit */
};

/*
 * Fills s[i].alloc_da, s[i].paused and idle[j].default_da by the rules
 * above; returns the sum of all outputs (<= max(p->limit_da, 0)). p, s
 * and idle are borrowed; s and idle are written in place (their outputs
 * only); the other fields are read. s may be NULL when n is 0, idle when
 * m is 0.
 */
int32_t load_allocate(const struct load_params *p, struct load_session *s, size_t n,
                      struct load_idle *idle, size_t m);

/*
 * Whether a measured draw is "clearly below" an allocation, for the
 * caller's low_samples count: measured known, alloc_da > 0 and
 * alloc_da - measured_da >= max(1, ceil(margin_da / 2)) (0.5 A with the
 * default margin). Half the margin, so that a session given measured +
 * margin still counts as low while its draw stays put (it keeps its
 * reduced demand) and stops counting once the draw rises by more than half
 * the margin (it gets its share back): a band, not a threshold that flaps.
 */
bool load_draw_is_low(const struct load_params *p, int32_t measured_da, int32_t alloc_da);

#endif
