/*
 * Load allocation (src/core/load_alloc.c, include/load_alloc.h) on a table
 * of hand-computed sites: each case gives the parameters, the sessions and
 * idle connectors, and every output, with the arithmetic in the comments.
 * Then load_draw_is_low on its band, and a property test: thousands of
 * random sites (fixed seed) checked against the invariant, against a
 * second, sort-based implementation of the rules written here from the
 * header's words, and against a shuffled copy of themselves.
 *
 * Units are deci-amperes: 320 is 32 A. Unless a case says otherwise the
 * parameters are the defaults: minCurrent 6 A (60), margin 1 A (10),
 * hysteresis 0.5 A (5), redistribute on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "load_alloc.h"

#define U LOAD_UNLIMITED
#define NA LOAD_UNKNOWN

#define MAXS 8
#define MAXI 4

struct tsess {
    struct load_session in;
    int32_t want;
    bool want_paused;
};

struct tidle {
    struct load_idle in;
    int32_t want;
};

struct tcase {
    const char *name;
    struct load_params p;
    struct tsess s[MAXS]; /* up to the first id 0 */
    struct tidle idle[MAXI];
    int32_t total;
};

/* id, start, priority, cap, measured, low samples, prev -> alloc, paused */
#define S(id, st, pr, cap, meas, low, prev, want, pz) \
    { { id, st, pr, cap, meas, low, prev, 7777, false }, want, pz }
/* a plain new session: id, start, cap -> alloc, paused */
#define SN(id, st, cap, want, pz) S(id, st, 0, cap, NA, 0, NA, want, pz)
/* id, cap, prev -> default */
#define I(id, cap, prev, want) { { id, cap, prev, 7777 }, want }

#define EQ(limit) { limit, LOAD_STRATEGY_EQUAL, 60, 10, 5, true }
#define PRIO(limit) { limit, LOAD_STRATEGY_PRIORITY, 60, 10, 5, true }

static const struct tcase cases[] = {
    /* ------------------------------------------------ equal, enough for everyone */
    { "three_on_32A_round_down", EQ(320),
      /* 320 / 3 = 106.67 -> 106 (10.6 A) each; 318, 2 (0.2 A) unused */
      { SN(1, 1, U, 106, false), SN(2, 2, U, 106, false), SN(3, 3, U, 106, false) }, { { { 0 }, 0 } }, 318 },
    { "six_wallboxes_32A_min5", { 320, LOAD_STRATEGY_EQUAL, 50, 10, 5, true },
      /* 6 x 50 = 300 <= 320: all served; 320 / 6 = 53.3 -> 53 (5.3 A) each, 318 */
      { SN(1, 1, U, 53, false), SN(2, 2, U, 53, false), SN(3, 3, U, 53, false),
        SN(4, 4, U, 53, false), SN(5, 5, U, 53, false), SN(6, 6, U, 53, false) }, { { { 0 }, 0 } }, 318 },
    { "single_session_above_cap", EQ(320),
      /* a 16 A charger alone on 32 A: its cap */
      { SN(1, 1, 160, 160, false) }, { { { 0 }, 0 } }, 160 },
    { "single_session_unlimited", EQ(320),
      { SN(1, 1, U, 320, false) }, { { { 0 }, 0 } }, 320 },
    { "one_capped_of_three", EQ(320),
      /* share 106 > cap 60: 60; the other two share 260: 130 each; 60 + 260 = 320 */
      { SN(1, 1, 60, 60, false), SN(2, 2, U, 130, false), SN(3, 3, U, 130, false) }, { { { 0 }, 0 } }, 320 },
    { "capped_cascade", EQ(500),
      /* 500/4 = 125 > 80: 80; 420/3 = 140 > 100: 100; 320/2 = 160 each; total 500 */
      { SN(1, 1, U, 160, false), SN(2, 2, 100, 100, false), SN(3, 3, 80, 80, false), SN(4, 4, U, 160, false) },
      { { { 0 }, 0 } }, 500 },
    { "all_capped_below_share", EQ(630),
      /* share 210 > 160 for all: 3 x 160 = 480, 150 unused */
      { SN(1, 1, 160, 160, false), SN(2, 2, 160, 160, false), SN(3, 3, 160, 160, false) }, { { { 0 }, 0 } }, 480 },
    { "cap_below_min_never_charges", EQ(320),
      /* cap 50 < min 60: 0, paused; the other two share 320: 160 each */
      { SN(1, 1, 50, 0, true), SN(2, 2, U, 160, false), SN(3, 3, U, 160, false) }, { { { 0 }, 0 } }, 320 },
    { "cap_zero_and_negative", EQ(320),
      /* caps 0 and -5 (counts as 0) are below min: paused; the third gets 320 */
      { SN(1, 1, 0, 0, true), SN(2, 2, -5, 0, true), SN(3, 3, U, 320, false) }, { { { 0 }, 0 } }, 320 },

    /* ------------------------------------------------ equal, short of minCurrent */
    { "six_wallboxes_32A_min6", EQ(320),
      /* 6 x 60 = 360 > 320: k = floor(320/60) = 5 earliest served, 320/5 = 64 (6.4 A) each, the 6th paused */
      { SN(1, 1, U, 64, false), SN(2, 2, U, 64, false), SN(3, 3, U, 64, false),
        SN(4, 4, U, 64, false), SN(5, 5, U, 64, false), SN(6, 6, U, 0, true) }, { { { 0 }, 0 } }, 320 },
    { "short_earliest_by_start_not_position", EQ(200),
      /* k = floor(200/60) = 3: starts 100 (id 11), 200 (id 12), 300 (id 10); 200/3 = 66 each; id 13 (400) paused */
      { SN(10, 300, U, 66, false), SN(11, 100, U, 66, false), SN(12, 200, U, 66, false), SN(13, 400, U, 0, true) },
      { { { 0 }, 0 } }, 198 },
    { "short_start_tie_broken_by_id", EQ(130),
      /* same start; k = floor(130/60) = 2: ids 3 and 5, 65 each; id 7 paused */
      { SN(7, 1, U, 0, true), SN(3, 1, U, 65, false), SN(5, 1, U, 65, false) }, { { { 0 }, 0 } }, 130 },
    { "short_capped_served_leave_the_rest", EQ(200),
      /* k = 3: A (cap 60), B, C; 60 + 2L <= 200 -> L = 70; D paused */
      { SN(1, 1, 60, 60, false), SN(2, 2, U, 70, false), SN(3, 3, U, 70, false), SN(4, 4, U, 0, true) },
      { { { 0 }, 0 } }, 200 },
    { "ineligible_does_not_count_against_min", EQ(200),
      /* A's cap 40 < 60: never charges; eligible 3 x 60 = 180 <= 200: all three served, 200/3 = 66 */
      { SN(1, 1, 40, 0, true), SN(2, 2, U, 66, false), SN(3, 3, U, 66, false), SN(4, 4, U, 66, false) },
      { { { 0 }, 0 } }, 198 },
    { "limit_below_one_min", EQ(59),
      /* k = floor(59/60) = 0: everyone paused */
      { SN(1, 1, U, 0, true), SN(2, 2, U, 0, true) }, { { { 0 }, 0 } }, 0 },
    { "min_zero_tiny_limit", { 5, LOAD_STRATEGY_EQUAL, 0, 10, 5, true },
      /* min 0: all served, 5/3 = 1 each (0.1 A), nobody paused */
      { SN(1, 1, U, 1, false), SN(2, 2, U, 1, false), SN(3, 3, U, 1, false) }, { { { 0 }, 0 } }, 3 },

    /* ------------------------------------------------ priority */
    { "priority_in_order", PRIO(320),
      /* prio 5 (cap 160): 160, 160 left; prio 3 (cap 100): 100, 60 left; prio 1: 60 (= min) */
      { S(1, 1, 5, 160, NA, 0, NA, 160, false), S(2, 2, 1, U, NA, 0, NA, 60, false),
        S(3, 3, 3, 100, NA, 0, NA, 100, false) }, { { { 0 }, 0 } }, 320 },
    { "priority_ties_share_equally", PRIO(320),
      /* two at prio 2 share 320: 160 each; prio 1 gets nothing: paused */
      { S(1, 1, 2, U, NA, 0, NA, 160, false), S(2, 2, 2, U, NA, 0, NA, 160, false),
        S(3, 3, 1, U, NA, 0, NA, 0, true) }, { { { 0 }, 0 } }, 320 },
    { "priority_tie_group_capped", PRIO(320),
      /* prio 2: caps 100 and 160 under 160 each -> 100, then 220/1 > 160 -> 160; 60 left for prio 1 */
      { S(1, 1, 2, 100, NA, 0, NA, 100, false), S(2, 2, 2, 160, NA, 0, NA, 160, false),
        S(3, 3, 1, U, NA, 0, NA, 60, false) }, { { { 0 }, 0 } }, 320 },
    { "priority_leftover_below_min", PRIO(320),
      /* prio 9: 280, 40 left < 60: prio 5 paused, prio 1 (cap 30 < min) paused, prio 0 paused; 40 unused */
      { S(1, 1, 9, 280, NA, 0, NA, 280, false), S(2, 2, 5, U, NA, 0, NA, 0, true),
        S(3, 3, 1, 30, NA, 0, NA, 0, true), S(4, 4, 0, U, NA, 0, NA, 0, true) }, { { { 0 }, 0 } }, 280 },
    { "priority_group_short_earliest", PRIO(200),
      /* prio 7 (cap 80): 80, 120 left; prio 3: 3 x 60 > 120, k = 2 earliest: starts 10 (id 2), 30 (id 3), 60 each; id 1 paused */
      { S(1, 50, 3, U, NA, 0, NA, 0, true), S(2, 10, 3, U, NA, 0, NA, 60, false),
        S(3, 30, 3, U, NA, 0, NA, 60, false), S(4, 99, 7, 80, NA, 0, NA, 80, false) }, { { { 0 }, 0 } }, 200 },
    { "priority_short_group_passes_no_residue", { 10, LOAD_STRATEGY_PRIORITY, 1, 10, 5, true },
      /* min 0.1 A: three at prio 2 share 1 A, 3 each, 1 left (the floor's residue); the group is short
         of its demand, so prio 1 gets nothing: paused, not 0.1 A */
      { S(1, 1, 2, U, NA, 0, NA, 3, false), S(2, 2, 2, U, NA, 0, NA, 3, false),
        S(3, 3, 2, U, NA, 0, NA, 3, false), S(4, 4, 1, U, NA, 0, NA, 0, true) }, { { { 0 }, 0 } }, 9 },
    { "priority_negative_priorities", PRIO(300),
      /* prio 0 before -1 before -5: 160 (cap), then 140 (cap 200 > 140), then nothing */
      { S(1, 1, -5, U, NA, 0, NA, 0, true), S(2, 2, 0, 160, NA, 0, NA, 160, false),
        S(3, 3, -1, 200, NA, 0, NA, 140, false) }, { { { 0 }, 0 } }, 300 },

    /* ------------------------------------------------ redistribution */
    { "redistribute_one_low_sample_keeps_share", EQ(320),
      /* low_samples 1 < 2: demand = cap: 160 each */
      { S(1, 1, 0, U, 50, 1, NA, 160, false), SN(2, 2, U, 160, false) }, { { { 0 }, 0 } }, 320 },
    { "redistribute_two_low_samples", EQ(320),
      /* demand = max(60, 50 + 10) = 60; the other: 320 - 60 = 260 */
      { S(1, 1, 0, U, 50, 2, NA, 60, false), SN(2, 2, U, 260, false) }, { { { 0 }, 0 } }, 320 },
    { "redistribute_margin", EQ(320),
      /* demand = 85 + 10 = 95; the other 225 */
      { S(1, 1, 0, U, 85, 3, NA, 95, false), SN(2, 2, U, 225, false) }, { { { 0 }, 0 } }, 320 },
    { "redistribute_not_below_min", EQ(320),
      /* 20 + 10 = 30 < min: demand 60; the other 260 */
      { S(1, 1, 0, U, 20, 2, NA, 60, false), SN(2, 2, U, 260, false) }, { { { 0 }, 0 } }, 320 },
    { "redistribute_above_share_changes_nothing", EQ(320),
      /* 155 + 10 = 165 > share 160: 160 each */
      { S(1, 1, 0, U, 155, 2, NA, 160, false), SN(2, 2, U, 160, false) }, { { { 0 }, 0 } }, 320 },
    { "redistribute_within_cap", EQ(320),
      /* min(cap 100, 95 + 10) = 100 (the cap); the other 220 */
      { S(1, 1, 0, 100, 95, 2, NA, 100, false), SN(2, 2, U, 220, false) }, { { { 0 }, 0 } }, 320 },
    { "redistribute_off", { 320, LOAD_STRATEGY_EQUAL, 60, 10, 5, false },
      /* redistribute false: demand = cap whatever the samples */
      { S(1, 1, 0, U, 50, 5, NA, 160, false), SN(2, 2, U, 160, false) }, { { { 0 }, 0 } }, 320 },
    { "redistribute_unknown_draw", EQ(320),
      { S(1, 1, 0, U, NA, 4, NA, 160, false), SN(2, 2, U, 160, false) }, { { { 0 }, 0 } }, 320 },
    { "redistribute_rise_back", EQ(320),
      /* it was at 60 (redistributed), the other at 260; its draw rose, the caller reset the count:
         demand = cap, 160 each; both changes are >= 5, hysteresis keeps nothing */
      { S(1, 1, 0, U, 60, 0, 60, 160, false), S(2, 2, 0, U, NA, 0, 260, 160, false) }, { { { 0 }, 0 } }, 320 },
    { "redistribute_in_priority", PRIO(320),
      /* prio 5 draws 40: demand 50 -> 60 (min); prio 1 gets the other 260 */
      { S(1, 1, 5, U, 40, 2, NA, 60, false), S(2, 2, 1, U, NA, 0, NA, 260, false) }, { { { 0 }, 0 } }, 320 },

    /* ------------------------------------------------ hysteresis */
    { "hysteresis_both_directions", EQ(320),
      /* new 160 each; id 1 had 158 (lower, diff 2 < 5): keeps 158, total 318;
         id 2 had 162 (higher, diff 2): 318 + 2 = 320 fits: keeps 162 */
      { S(1, 1, 0, U, NA, 0, 158, 158, false), S(2, 2, 0, U, NA, 0, 162, 162, false) }, { { { 0 }, 0 } }, 320 },
    { "hysteresis_higher_only_while_it_fits", EQ(320),
      /* new 106 each (318); all had 108: id 1 (earliest) +2 = 320 fits; id 2 +2 = 322 no; id 3 no */
      { S(1, 1, 0, U, NA, 0, 108, 108, false), S(2, 2, 0, U, NA, 0, 108, 106, false),
        S(3, 3, 0, U, NA, 0, 108, 106, false) }, { { { 0 }, 0 } }, 320 },
    { "hysteresis_lower_frees_room_earliest_first", EQ(320),
      /* new 106 each (318); id 3 had 104: keeps it, 316; then higher, earliest first:
         id 2 (start 2, had 109) +3 = 319 fits; id 1 (start 5, had 108) +2 = 321 no */
      { S(1, 5, 0, U, NA, 0, 108, 106, false), S(2, 2, 0, U, NA, 0, 109, 109, false),
        S(3, 3, 0, U, NA, 0, 104, 104, false) }, { { { 0 }, 0 } }, 319 },
    { "hysteresis_threshold_is_strict", EQ(320),
      /* 155 -> 160 is a change of exactly 5: not under 5, so it happens */
      { S(1, 1, 0, U, NA, 0, 155, 160, false), S(2, 2, 0, U, NA, 0, 165, 160, false) }, { { { 0 }, 0 } }, 320 },
    { "hysteresis_never_holds_pause_or_resume", { 100, LOAD_STRATEGY_EQUAL, 30, 10, 50, true },
      /* min 3 A, hysteresis 5 A: k = floor(100/30) = 3, 33 each, the 4th paused.
         id 1 had 0: resumes at 33 (from 0 never held); id 4 had 30: paused at 0 (to 0 never held);
         id 3 had 20 < min: not kept, 33; id 2 had 34 (+1): 99 + 1 = 100 fits, keeps 34 */
      { S(1, 1, 0, U, NA, 0, 0, 33, false), S(2, 2, 0, U, NA, 0, 34, 34, false),
        S(3, 3, 0, U, NA, 0, 20, 33, false), S(4, 4, 0, U, NA, 0, 30, 0, true) }, { { { 0 }, 0 } }, 100 },
    { "hysteresis_resume_not_held_min_zero", { 100, LOAD_STRATEGY_EQUAL, 0, 10, 5, true },
      /* min 0 (so 0 is not below min): 0 -> 3 (its cap) is under 5 but a resume: 3; the other 97 */
      { S(1, 1, 0, 3, NA, 0, 0, 3, false), SN(2, 2, U, 97, false) }, { { { 0 }, 0 } }, 100 },
    { "hysteresis_pause_not_held_min_zero", { 1, LOAD_STRATEGY_EQUAL, 0, 10, 5, true },
      /* 0.1 A over two: 0 each; id 1 had 1, and keeping it would fit, but a change to 0 is never held */
      { S(1, 1, 0, U, NA, 0, 1, 0, false), SN(2, 2, U, 0, false) }, { { { 0 }, 0 } }, 0 },
    { "hysteresis_not_above_cap", EQ(500),
      /* the charger's cap fell from 16 A to 15.8 A: 158, not the previous 160, though 158 + 200 + 2 fits */
      { S(1, 1, 0, 158, NA, 0, 160, 158, false), SN(2, 2, 200, 200, false) }, { { { 0 }, 0 } }, 358 },

    /* ------------------------------------------------ idle connectors */
    { "idle_site_empty", EQ(320),
      /* no session: fair 320/1 = 320, headroom 320/3 = 106 each */
      { { { 0 }, 0, false } }, { I(1, U, NA, 106), I(2, U, NA, 106), I(3, U, NA, 106) }, 318 },
    { "idle_site_empty_one_connector", EQ(320),
      /* min(cap 160, 320, 320) = 160 */
      { { { 0 }, 0, false } }, { I(1, 160, NA, 160) }, 160 },
    { "idle_site_full", EQ(320),
      /* sessions take 320: headroom 0, defaults 0 */
      { SN(1, 1, U, 160, false), SN(2, 2, U, 160, false) }, { I(1, U, NA, 0), I(2, U, NA, 0) }, 320 },
    { "idle_partly_fair_share", EQ(320),
      /* sessions 100 + 100 (caps); H = 120; fair = 320/3 = 106 < 120: 106; total 306 */
      { SN(1, 1, 100, 100, false), SN(2, 2, 100, 100, false) }, { I(1, U, NA, 106) }, 306 },
    { "idle_partly_headroom_split", EQ(320),
      /* H = 120 over 2 = 60 each (fair 106, cap 50 -> 50 < min: 0) */
      { SN(1, 1, 100, 100, false), SN(2, 2, 100, 100, false) }, { I(1, U, NA, 60), I(2, 50, NA, 0) }, 260 },
    { "idle_headroom_below_min", EQ(320),
      /* H = 120 over 3 = 40 < min: all 0 */
      { SN(1, 1, 100, 100, false), SN(2, 2, 100, 100, false) },
      { I(1, U, NA, 0), I(2, U, NA, 0), I(3, U, NA, 0) }, 200 },
    { "idle_hysteresis", EQ(320),
      /* session 100 (cap); H = 220, fair 160, 220/2 = 110 each (320);
         id 2 had 108: keeps it (318); id 1 had 113: 318 + 3 = 321 > 320, takes 110 */
      { SN(1, 1, 100, 100, false) }, { I(1, U, 113, 110), I(2, U, 108, 108) }, 318 },

    /* ------------------------------------------------ no limit */
    { "limit_zero", EQ(0),
      { SN(1, 1, U, 0, true), SN(2, 2, 160, 0, true) }, { I(1, U, 50, 0) }, 0 },
    { "limit_negative", PRIO(-5),
      { S(1, 1, 3, U, NA, 0, 100, 0, true) }, { I(1, U, NA, 0) }, 0 },
    { "limit_zero_min_zero", { 0, LOAD_STRATEGY_EQUAL, 0, 10, 5, true },
      /* nothing to give, but min 0 pauses nobody */
      { SN(1, 1, U, 0, false) }, { { { 0 }, 0 } }, 0 },
    { "nothing_at_all", EQ(320), { { { 0 }, 0, false } }, { { { 0 }, 0 } }, 0 },
};

static size_t count_sessions(const struct tcase *c)
{
    size_t n = 0;
    while (n < MAXS && c->s[n].in.id != 0)
        n++;
    return n;
}

static size_t count_idle(const struct tcase *c)
{
    size_t m = 0;
    while (m < MAXI && c->idle[m].in.id != 0)
        m++;
    return m;
}

static void test_hand_computed_sites(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const struct tcase *c = &cases[k];
        size_t n = count_sessions(c), m = count_idle(c);
        struct load_session s[MAXS];
        struct load_idle idle[MAXI];
        for (size_t i = 0; i < n; i++) {
            s[i] = c->s[i].in;
            s[i].paused = !c->s[i].want_paused; /* must be written */
        }
        for (size_t j = 0; j < m; j++)
            idle[j] = c->idle[j].in;
        int32_t total = load_allocate(&c->p, s, n, idle, m);
        bool ok = total == c->total;
        for (size_t i = 0; i < n; i++)
            ok = ok && s[i].alloc_da == c->s[i].want && s[i].paused == c->s[i].want_paused;
        for (size_t j = 0; j < m; j++)
            ok = ok && idle[j].default_da == c->idle[j].want;
        if (ok)
            continue;
        failures++;
        fprintf(stderr, "case %s: total %d (want %d)\n", c->name, total, c->total);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "  session %llu: %d%s (want %d%s)\n", (unsigned long long)s[i].id,
                    s[i].alloc_da, s[i].paused ? " paused" : "", c->s[i].want,
                    c->s[i].want_paused ? " paused" : "");
        for (size_t j = 0; j < m; j++)
            fprintf(stderr, "  idle %llu: %d (want %d)\n", (unsigned long long)idle[j].id,
                    idle[j].default_da, c->idle[j].want);
    }
    assert_int_equal(failures, 0);
    assert_true(sizeof cases / sizeof cases[0] >= 25);
}

static void test_draw_is_low(void **state)
{
    (void)state;
    struct load_params p = EQ(320);
    /* margin 10: low when at least 5 (0.5 A) below */
    assert_true(load_draw_is_low(&p, 155, 160));
    assert_false(load_draw_is_low(&p, 156, 160));
    assert_true(load_draw_is_low(&p, 0, 160));
    assert_false(load_draw_is_low(&p, 170, 160));
    assert_false(load_draw_is_low(&p, NA, 160));
    assert_false(load_draw_is_low(&p, 0, 0)); /* paused: nothing to be below */
    /* the band: given 50 + 10 = 60 after drawing 50, still low at 50 and 55, not at 56 */
    assert_true(load_draw_is_low(&p, 50, 60));
    assert_true(load_draw_is_low(&p, 55, 60));
    assert_false(load_draw_is_low(&p, 56, 60));
    /* margin 3: ceil(1.5) = 2; margin 0: any 0.1 A below */
    p.margin_da = 3;
    assert_true(load_draw_is_low(&p, 98, 100));
    assert_false(load_draw_is_low(&p, 99, 100));
    p.margin_da = 0;
    assert_true(load_draw_is_low(&p, 99, 100));
    assert_false(load_draw_is_low(&p, 100, 100));
}

/*
 * A whole cycle as the runtime would drive it: a car drawing 5 A of its
 * 16 A share is cut to 6 A after two low samples, keeps 6 A while its draw
 * stays, and gets 16 A back when the draw rises.
 */
static void test_redistribution_cycle(void **state)
{
    (void)state;
    struct load_params p = EQ(320);
    struct load_session s[2] = {
        { 1, 1, 0, U, NA, 0, NA, 0, false },
        { 2, 2, 0, U, NA, 0, NA, 0, false },
    };
    /* r1: 50 of 160 is low (1); r2: low again (2): 50 + 10 -> 60; r3: 55 of 60 is still low (5 below):
       55 + 10 = 65; r4: 58 of 65 low: 68, but 65 -> 68 is under 0.5 A, kept at 65; r5: 150 is not
       low, the count drops to 0: 160; r6: 150 of 160 is low once: 160 */
    static const int32_t draws[] = { NA, 50, 50, 55, 58, 150, 150 };
    static const int32_t want[] = { 160, 160, 60, 65, 65, 160, 160 };
    for (size_t r = 0; r < sizeof draws / sizeof draws[0]; r++) {
        /* the sample arrives, the caller counts it against the current allocation */
        if (r > 0) {
            s[0].measured_da = draws[r];
            s[0].low_samples = load_draw_is_low(&p, draws[r], s[0].alloc_da) ? s[0].low_samples + 1 : 0;
        }
        s[0].prev_da = r > 0 ? s[0].alloc_da : NA;
        s[1].prev_da = r > 0 ? s[1].alloc_da : NA;
        load_allocate(&p, s, 2, NULL, 0);
        assert_int_equal(s[0].alloc_da, want[r]);
        assert_int_equal(s[0].alloc_da + s[1].alloc_da, 320);
    }
}

/* ---------------------------------------------------------------- properties */

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint32_t rnd(uint32_t below)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % below);
}

static int32_t pos(int32_t v)
{
    return v < 0 ? 0 : v;
}

/* the demand, from the header's words */
static int32_t ref_demand(const struct load_params *p, const struct load_session *x)
{
    int32_t cap = pos(x->cap_da);
    if (p->redistribute && x->low_samples >= 2 && x->measured_da != LOAD_UNKNOWN && x->measured_da >= 0) {
        int64_t w = (int64_t)x->measured_da + pos(p->margin_da);
        if (w < pos(p->min_da))
            w = pos(p->min_da);
        return w < cap ? (int32_t)w : cap;
    }
    return cap;
}

static const struct load_session *sort_base;

static int by_start(const void *a, const void *b)
{
    const struct load_session *x = &sort_base[*(const size_t *)a], *y = &sort_base[*(const size_t *)b];
    if (x->start_ms != y->start_ms)
        return x->start_ms < y->start_ms ? -1 : 1;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return 0;
}

static const struct load_params *sort_params;

static int by_demand(const void *a, const void *b)
{
    int32_t x = ref_demand(sort_params, &sort_base[*(const size_t *)a]);
    int32_t y = ref_demand(sort_params, &sort_base[*(const size_t *)b]);
    return x < y ? -1 : x > y;
}

/*
 * The classic water-filling: in ascending demand, each takes its demand if
 * it is at most the floored equal share of what is left, else all the rest
 * take that share. Writes out[] at the indexes given; returns the sum.
 */
static int64_t ref_fill(const struct load_params *p, const struct load_session *s, const size_t *idx,
                        size_t k, int64_t budget, int32_t *out)
{
    size_t *ord = malloc((k + 1) * sizeof *ord);
    assert_non_null(ord);
    memcpy(ord, idx, k * sizeof *ord);
    sort_base = s;
    sort_params = p;
    qsort(ord, k, sizeof *ord, by_demand);
    int64_t left = budget, sum = 0;
    for (size_t i = 0; i < k; i++) {
        int64_t share = left / (int64_t)(k - i);
        int32_t d = ref_demand(p, &s[ord[i]]);
        if (d <= share) {
            out[ord[i]] = d;
            left -= d;
            sum += d;
        } else {
            for (size_t j = i; j < k; j++) {
                out[ord[j]] = (int32_t)share;
                sum += share;
            }
            break;
        }
    }
    free(ord);
    return sum;
}

/*
 * The rules again, written the obvious way (sorting, scratch memory): per
 * group, the largest k such that water-filling among the k earliest
 * eligible gives each of them at least min. No hysteresis.
 */
static void ref_allocate(const struct load_params *p, const struct load_session *s, size_t n,
                         int32_t *alloc, bool *paused)
{
    int32_t min = pos(p->min_da);
    size_t *grp = malloc((n + 1) * sizeof *grp);
    assert_non_null(grp);
    for (size_t i = 0; i < n; i++) {
        alloc[i] = 0;
        paused[i] = min > 0;
    }
    if (p->limit_da <= 0) {
        free(grp);
        return;
    }
    int64_t budget = p->limit_da;
    bool done[64] = { false };
    for (;;) {
        /* the next group: the highest priority not done (all, for equal) */
        bool any = false;
        int32_t prio = 0;
        for (size_t i = 0; i < n; i++)
            if (!done[i] && (!any || s[i].priority > prio)) {
                prio = s[i].priority;
                any = true;
            }
        if (!any)
            break;
        size_t g = 0;
        for (size_t i = 0; i < n; i++) {
            if (done[i] || (p->strategy == LOAD_STRATEGY_PRIORITY && s[i].priority != prio))
                continue;
            done[i] = true;
            if (pos(s[i].cap_da) >= min)
                grp[g++] = i;
        }
        sort_base = s;
        qsort(grp, g, sizeof *grp, by_start);
        for (size_t k = g;; k--) {
            int32_t tmp[64];
            int64_t sum = ref_fill(p, s, grp, k, budget, tmp);
            bool all = true;
            for (size_t j = 0; j < k; j++)
                all = all && tmp[grp[j]] >= min;
            if (all) {
                for (size_t j = 0; j < k; j++) {
                    alloc[grp[j]] = tmp[grp[j]];
                    paused[grp[j]] = false;
                }
                /* a short group passes nothing down */
                bool short_ = k < g;
                for (size_t j = 0; j < k; j++)
                    short_ = short_ || tmp[grp[j]] < ref_demand(p, &s[grp[j]]);
                budget = short_ ? 0 : budget - sum;
                break;
            }
        }
    }
    free(grp);
}

/* a random site: n sessions, m idle connectors */
static void random_site(struct load_params *p, struct load_session *s, size_t *n, struct load_idle *idle,
                        size_t *m, bool with_prev)
{
    p->limit_da = rnd(10) == 0 ? (int32_t)rnd(20) - 10 : (int32_t)rnd(1200);
    p->strategy = rnd(2) ? LOAD_STRATEGY_PRIORITY : LOAD_STRATEGY_EQUAL;
    p->min_da = rnd(8) == 0 ? 0 : (int32_t)rnd(100);
    p->margin_da = (int32_t)rnd(25);
    p->hysteresis_da = with_prev ? (int32_t)rnd(12) : 0;
    p->redistribute = rnd(2);
    *n = rnd(13);
    *m = rnd(5);
    for (size_t i = 0; i < *n; i++) {
        struct load_session *x = &s[i];
        memset(x, 0, sizeof *x);
        x->id = 1000 + i * 7 + rnd(7); /* unique */
        x->start_ms = rnd(6);          /* plenty of ties */
        x->priority = (int32_t)rnd(4) - 1;
        switch (rnd(4)) {
        case 0: x->cap_da = U; break;
        case 1: x->cap_da = (int32_t)rnd(80); break; /* often below min */
        default: x->cap_da = (int32_t)rnd(500); break;
        }
        x->measured_da = rnd(4) == 0 ? NA : (int32_t)rnd(400);
        x->low_samples = (int32_t)rnd(4);
        x->prev_da = with_prev && rnd(3) ? (int32_t)rnd(400) : NA;
        x->alloc_da = -12345;
        x->paused = rnd(2);
    }
    for (size_t j = 0; j < *m; j++) {
        idle[j].id = 50 + j * 3 + rnd(3);
        idle[j].cap_da = rnd(3) == 0 ? U : (int32_t)rnd(400);
        idle[j].prev_da = with_prev && rnd(2) ? (int32_t)rnd(300) : NA;
        idle[j].default_da = -12345;
    }
}

/* the invariant: must hold whatever the input */
static void check_invariant(const struct load_params *p, const struct load_session *s, size_t n,
                            const struct load_idle *idle, size_t m, int32_t total)
{
    int64_t sum = 0;
    int32_t min = pos(p->min_da);
    for (size_t i = 0; i < n; i++) {
        assert_true(s[i].alloc_da >= 0);
        assert_true(s[i].alloc_da <= pos(s[i].cap_da));
        assert_true(s[i].alloc_da == 0 || s[i].alloc_da >= min);
        if (s[i].paused)
            assert_int_equal(s[i].alloc_da, 0);
        /* paused means "given 0 for want of min": with min > 0 every 0 is paused */
        assert_true(s[i].paused == (min > 0 && s[i].alloc_da == 0));
        if (p->limit_da <= 0)
            assert_int_equal(s[i].alloc_da, 0);
        sum += s[i].alloc_da;
    }
    for (size_t j = 0; j < m; j++) {
        assert_true(idle[j].default_da >= 0);
        assert_true(idle[j].default_da <= pos(idle[j].cap_da));
        assert_true(idle[j].default_da == 0 || idle[j].default_da >= min);
        if (p->limit_da <= 0)
            assert_int_equal(idle[j].default_da, 0);
        sum += idle[j].default_da;
    }
    assert_true(sum <= pos(p->limit_da));
    assert_int_equal(sum, total);
}

/* "a is served before b" for the strategy: priority (priority only), start, id */
static bool ahead(const struct load_params *p, const struct load_session *a, const struct load_session *b)
{
    if (p->strategy == LOAD_STRATEGY_PRIORITY && a->priority != b->priority)
        return a->priority > b->priority;
    if (a->start_ms != b->start_ms)
        return a->start_ms < b->start_ms;
    return a->id < b->id;
}

/* the allocation without hysteresis: fairness, who is paused, the idle formula */
static void check_fresh(const struct load_params *p, const struct load_session *s, size_t n,
                        const struct load_idle *idle, size_t m)
{
    int32_t min = pos(p->min_da);
    int64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += s[i].alloc_da;
    if (p->limit_da <= 0)
        return;
    for (size_t i = 0; i < n; i++) {
        const struct load_session *x = &s[i];
        int32_t d = ref_demand(p, x);
        if (x->paused && pos(x->cap_da) >= min) {
            /* paused only when the ones before could not all have min */
            int64_t before = 0;
            size_t count = 1;
            bool short_ahead = false;
            for (size_t j = 0; j < n; j++) {
                if (j == i || !ahead(p, &s[j], x))
                    continue;
                before += s[j].alloc_da;
                if (p->strategy == LOAD_STRATEGY_EQUAL && pos(s[j].cap_da) >= min)
                    count++;
                if (p->strategy == LOAD_STRATEGY_PRIORITY && s[j].priority > x->priority &&
                    (s[j].paused ? pos(s[j].cap_da) >= min : s[j].alloc_da < ref_demand(p, &s[j])))
                    short_ahead = true;
            }
            assert_true(p->limit_da - before < min || short_ahead);
            if (p->strategy == LOAD_STRATEGY_EQUAL)
                assert_true((int64_t)count * min > p->limit_da);
        }
        if (x->paused)
            continue;
        for (size_t j = 0; j < n; j++) {
            const struct load_session *y = &s[j];
            bool same_group = p->strategy == LOAD_STRATEGY_EQUAL || y->priority == x->priority;
            /* equal shares: an unpaused session below another of its group got its whole demand */
            if (same_group && !y->paused && x->alloc_da < y->alloc_da)
                assert_int_equal(x->alloc_da, d);
            /* the ones after a session short of its demand get nothing (priority) */
            if (p->strategy == LOAD_STRATEGY_PRIORITY && x->alloc_da < d && y->priority < x->priority)
                assert_int_equal(y->alloc_da, 0);
        }
        /* no unpaused session could have had 0.1 A more: short ones would each need it */
        if (x->alloc_da < d && p->strategy == LOAD_STRATEGY_EQUAL) {
            size_t shortn = 0;
            for (size_t j = 0; j < n; j++)
                if (!s[j].paused && s[j].alloc_da < ref_demand(p, &s[j]))
                    shortn++;
            assert_true(p->limit_da - total < (int64_t)shortn);
        }
    }
    /* idle: the formula */
    for (size_t j = 0; j < m; j++) {
        int64_t want = pos(idle[j].cap_da);
        int64_t fair = p->limit_da / ((int64_t)n + 1), part = (p->limit_da - total) / (int64_t)m;
        if (fair < want)
            want = fair;
        if (part < want)
            want = part;
        if (want < min)
            want = 0;
        assert_int_equal(idle[j].default_da, want);
    }
}

static void test_random_sites_fresh(void **state)
{
    (void)state;
    struct {
        int paused_eligible, short_of_demand, redistributed, priority_paused, idle_default;
    } seen = { 0 };
    rng = 0x9e3779b97f4a7c15u;
    for (int round = 0; round < 20000; round++) {
        struct load_params p;
        struct load_session s[16];
        struct load_idle idle[8];
        size_t n, m;
        random_site(&p, s, &n, idle, &m, false);
        int32_t total = load_allocate(&p, s, n, idle, m);
        check_invariant(&p, s, n, idle, m, total);
        check_fresh(&p, s, n, idle, m);
        int32_t ref[16];
        bool ref_paused[16];
        ref_allocate(&p, s, n, ref, ref_paused);
        for (size_t i = 0; i < n; i++) {
            if (s[i].alloc_da != ref[i] || s[i].paused != ref_paused[i])
                fail_msg("round %d session %zu: %d%s, the sort-based rules say %d%s", round, i, s[i].alloc_da,
                         s[i].paused ? " paused" : "", ref[i], ref_paused[i] ? " paused" : "");
            int32_t d = ref_demand(&p, &s[i]);
            seen.paused_eligible += s[i].paused && pos(s[i].cap_da) >= pos(p.min_da);
            seen.short_of_demand += !s[i].paused && s[i].alloc_da < d;
            seen.redistributed += d < pos(s[i].cap_da) && s[i].alloc_da == d && s[i].alloc_da > 0;
            seen.priority_paused += p.strategy == LOAD_STRATEGY_PRIORITY && s[i].paused && pos(s[i].cap_da) >= pos(p.min_da);
        }
        for (size_t j = 0; j < m; j++)
            seen.idle_default += idle[j].default_da > 0;
    }
    /* the random sites reach every rule, often */
    assert_true(seen.paused_eligible > 1000);
    assert_true(seen.short_of_demand > 1000);
    assert_true(seen.redistributed > 1000);
    assert_true(seen.priority_paused > 1000);
    assert_true(seen.idle_default > 1000);
}

static void test_random_sites_with_hysteresis(void **state)
{
    (void)state;
    rng = 0x2545f4914f6cdd1du;
    int seen_lower = 0, seen_higher_kept = 0, seen_higher_refused = 0, seen_idle_held = 0;
    for (int round = 0; round < 20000; round++) {
        struct load_params p;
        struct load_session s[16], fresh[16], shuffled[16];
        struct load_idle idle[8], fresh_idle[8], shuffled_idle[8];
        size_t n, m;
        random_site(&p, s, &n, idle, &m, true);
        memcpy(fresh, s, sizeof s);
        memcpy(fresh_idle, idle, sizeof idle);
        struct load_params nohyst = p;
        nohyst.hysteresis_da = 0;
        load_allocate(&nohyst, fresh, n, fresh_idle, m);
        /* half the previous values near the new ones, where hysteresis has a say */
        for (size_t i = 0; i < n; i++)
            if (rnd(2) && fresh[i].alloc_da > 0)
                s[i].prev_da = fresh[i].prev_da = fresh[i].alloc_da + (int32_t)rnd(25) - 12;
        for (size_t j = 0; j < m; j++)
            if (rnd(2) && fresh_idle[j].default_da > 0)
                idle[j].prev_da = fresh_idle[j].default_da + (int32_t)rnd(25) - 12;
        /* the same site in another order */
        size_t perm[16];
        for (size_t i = 0; i < n; i++)
            perm[i] = i;
        for (size_t i = n; i > 1; i--) {
            size_t j = rnd((uint32_t)i), t = perm[i - 1];
            perm[i - 1] = perm[j];
            perm[j] = t;
        }
        for (size_t i = 0; i < n; i++)
            shuffled[i] = s[perm[i]];
        memcpy(shuffled_idle, idle, sizeof idle);
        int32_t total = load_allocate(&p, s, n, idle, m);
        check_invariant(&p, s, n, idle, m, total);
        assert_int_equal(load_allocate(&p, shuffled, n, shuffled_idle, m), total);
        int32_t min = pos(p.min_da), hyst = p.hysteresis_da;
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(shuffled[i].alloc_da, s[perm[i]].alloc_da);
            int32_t a = s[i].alloc_da, v = fresh[i].alloc_da, prev = s[i].prev_da;
            bool holdable = prev > 0 && v > 0 && prev != v && abs(prev - v) < hyst && prev >= min &&
                            prev <= pos(s[i].cap_da);
            /* the new value or, where hysteresis may hold it, the previous one */
            if (a != v) {
                assert_true(holdable);
                assert_int_equal(a, prev);
            }
            /* a lower previous value is always kept */
            if (holdable && prev < v)
                assert_int_equal(a, prev);
            seen_lower += holdable && prev < v;
            seen_higher_kept += holdable && prev > v && a == prev;
            seen_higher_refused += holdable && prev > v && a == v;
            /* a higher one is refused only when it does not fit (sessions come before idle) */
            if (holdable && prev > v && a == v) {
                int64_t sess = 0;
                for (size_t k = 0; k < n; k++)
                    sess += s[k].alloc_da;
                assert_true(sess + (prev - v) > p.limit_da);
            }
        }
        /* idle: the formula on the headroom the sessions left, or the previous value */
        int64_t sess = 0;
        for (size_t i = 0; i < n; i++)
            sess += s[i].alloc_da;
        for (size_t j = 0; j < m; j++) {
            int32_t a = idle[j].default_da, prev = idle[j].prev_da;
            assert_int_equal(shuffled_idle[j].default_da, a);
            int64_t v = pos(idle[j].cap_da);
            if (p.limit_da <= 0) {
                v = 0;
            } else {
                int64_t fair = p.limit_da / ((int64_t)n + 1), part = (p.limit_da - sess) / (int64_t)m;
                v = v < fair ? v : fair;
                v = v < part ? v : part;
                if (v < min)
                    v = 0;
            }
            bool holdable = prev > 0 && v > 0 && prev != v && llabs(prev - v) < hyst && prev >= min &&
                            prev <= pos(idle[j].cap_da);
            if (a != v) {
                assert_true(holdable);
                assert_int_equal(a, prev);
            }
            if (holdable && prev < v)
                assert_int_equal(a, prev);
            seen_idle_held += a != v;
        }
    }
    fprintf(stderr, "hysteresis: %d lower kept, %d higher kept, %d higher refused, %d idle held\n", seen_lower,
            seen_higher_kept, seen_higher_refused, seen_idle_held);
    assert_true(seen_lower > 500);
    assert_true(seen_higher_kept > 500);
    assert_true(seen_higher_refused > 100);
    assert_true(seen_idle_held > 100);
}

/* the ends of every range: the invariant holds and nothing overflows (run it under UBSan: make asan) */
static void test_extreme_values(void **state)
{
    (void)state;
    static const int32_t v32[] = { INT32_MIN, -1, 0, 1, 59, 60, 61, 320, INT32_MAX / 2, INT32_MAX - 1, INT32_MAX };
    static const int64_t v64[] = { INT64_MIN, -1, 0, 1, INT64_MAX };
#define PICK32() v32[rnd(sizeof v32 / sizeof v32[0])]
    rng = 0x853c49e6748fea9bu;
    for (int round = 0; round < 20000; round++) {
        struct load_params p = { PICK32(), rnd(2) ? LOAD_STRATEGY_PRIORITY : LOAD_STRATEGY_EQUAL, PICK32(), PICK32(), PICK32(), rnd(2) };
        struct load_session s[6];
        struct load_idle idle[3];
        size_t n = rnd(7), m = rnd(4);
        for (size_t i = 0; i < n; i++) {
            s[i] = (struct load_session){ i == 0 ? UINT64_MAX : i, v64[rnd(5)], PICK32(), PICK32(), PICK32(),
                                          PICK32(), PICK32(), 0, false };
        }
        for (size_t j = 0; j < m; j++)
            idle[j] = (struct load_idle){ j, PICK32(), PICK32(), 0 };
        int32_t total = load_allocate(&p, s, n, idle, m);
        check_invariant(&p, s, n, idle, m, total);
        (void)load_draw_is_low(&p, PICK32(), PICK32());
    }
#undef PICK32
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_computed_sites),
        cmocka_unit_test(test_draw_is_low),
        cmocka_unit_test(test_redistribution_cycle),
        cmocka_unit_test(test_random_sites_fresh),
        cmocka_unit_test(test_random_sites_with_hysteresis),
        cmocka_unit_test(test_extreme_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
