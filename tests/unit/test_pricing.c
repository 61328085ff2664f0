/*
 * Session cost (src/model/pricing.c) on a table of hand-computed sessions:
 * each case gives the tariff, the zone, the session and its samples, and
 * every line of the breakdown (quantity, unit price, amount, from, to, as
 * the API prints them) with the totals; the arithmetic is in the comments.
 * Then when charging ended, the helpers, the tariffs pricing refuses, and
 * the whole table again with TZ=America/Los_Angeles in the environment.
 * The zones are the machine's tz database (Europe/Berlin unless said).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "pricing.h"
#include "session_cost.h"
#include "store_job.h"
#include "tz.h"
#include "util.h"

/* a price or amount in minor units, as written in a tariff */
#define P(x) ((int64_t)((x) * (double)PRICING_PRICE_SCALE + 0.5))
#define VAT(x) ((int64_t)((x) * (double)PRICING_VAT_SCALE + 0.5))
#define HM(h, m) ((h) * 60 + (m))
#define ANY -1, -1, 0

/* ---------------------------------------------------------------- tariffs */

/* The spec's example: days 07:00-22:00 at 39.5/kWh, 2/min, idle 10/min after
   15 minutes' grace, 50 per session; nights at 29/kWh and nothing else. */
static const struct pricing_element dn_elements[] = {
    { P(39.5), P(2), P(10), 15, P(50), HM(7, 0), HM(22, 0), 0 },
    { P(29), 0, 0, 0, 0, HM(22, 0), HM(7, 0), 0 },
};
static const struct pricing_tariff T_DN = { dn_elements, 2, VAT(19), PRICING_NONE, P(5000) };

/* time only: 2/min by day, 1/min otherwise */
static const struct pricing_element time_elements[] = {
    { 0, P(2), 0, 0, 0, HM(7, 0), HM(22, 0), 0 },
    { 0, P(1), 0, 0, 0, ANY },
};
static const struct pricing_tariff T_TIME = { time_elements, 2, VAT(19), PRICING_NONE, PRICING_NONE };

/* 30/kWh from 02:30 to 05:00 (a window that starts in Berlin's spring-forward gap) */
static const struct pricing_element gap_elements[] = {
    { P(30), 0, 0, 0, 0, HM(2, 30), HM(5, 0), 0 },
    { P(20), 0, 0, 0, 0, ANY },
};
static const struct pricing_tariff T_GAP = { gap_elements, 2, VAT(19), PRICING_NONE, PRICING_NONE };

/* 30/kWh from 02:00 to 03:00 (the hour Berlin's clock shows twice in autumn) */
static const struct pricing_element ovl_elements[] = {
    { P(30), 0, 0, 0, 0, HM(2, 0), HM(3, 0), 0 },
    { P(20), 0, 0, 0, 0, ANY },
};
static const struct pricing_tariff T_OVL = { ovl_elements, 2, VAT(19), PRICING_NONE, PRICING_NONE };

/* weekends at 25/kWh, else 35 */
static const struct pricing_element wknd_elements[] = {
    { P(25), 0, 0, 0, 0, -1, -1, PRICING_SATURDAY | PRICING_SUNDAY },
    { P(35), 0, 0, 0, 0, ANY },
};
static const struct pricing_tariff T_WKND = { wknd_elements, 2, VAT(19), PRICING_NONE, PRICING_NONE };

/* two windows that both hold at 10:30: the first listed applies */
static const struct pricing_element first_elements[] = {
    { P(50), 0, 0, 0, 0, HM(7, 0), HM(22, 0), 0 },
    { P(40), 0, 0, 0, 0, HM(10, 0), HM(12, 0), 0 },
    { P(30), 0, 0, 0, 0, ANY },
};
static const struct pricing_tariff T_FIRST = { first_elements, 3, VAT(19), PRICING_NONE, PRICING_NONE };
static const struct pricing_element first_rev_elements[] = {
    { P(40), 0, 0, 0, 0, HM(10, 0), HM(12, 0), 0 },
    { P(50), 0, 0, 0, 0, HM(7, 0), HM(22, 0), 0 },
    { P(30), 0, 0, 0, 0, ANY },
};
static const struct pricing_tariff T_FIRST_REV = { first_rev_elements, 3, VAT(19), PRICING_NONE, PRICING_NONE };

/* one element, no restrictions */
static const struct pricing_element flat_elements[] = { { P(30), P(1), 0, 0, 0, ANY } };
static const struct pricing_tariff T_FLAT = { flat_elements, 1, VAT(19), PRICING_NONE, PRICING_NONE };

static const struct pricing_element e30_elements[] = { { P(30), 0, 0, 0, 0, ANY } };
static const struct pricing_tariff T_MIN = { e30_elements, 1, VAT(19), P(300), PRICING_NONE };
/* a tariff's version 1 (30/kWh); its version 2 would be 40/kWh from 2026-07-01 */
static const struct pricing_tariff T_V1 = { e30_elements, 1, VAT(19), PRICING_NONE, PRICING_NONE };

static const struct pricing_element e50_elements[] = { { P(50), 0, 0, 0, 0, ANY } };
static const struct pricing_tariff T_E50 = { e50_elements, 1, VAT(19), PRICING_NONE, PRICING_NONE };

static const struct pricing_element frac_elements[] = { { P(39.5), 0, 0, 0, 0, ANY } };
static const struct pricing_tariff T_FRAC = { frac_elements, 1, VAT(19), PRICING_NONE, PRICING_NONE };

/* Lord Howe: 2/min from midnight to 03:00, else 1/min, no VAT */
static const struct pricing_element lh_elements[] = {
    { 0, P(2), 0, 0, 0, HM(0, 0), HM(3, 0), 0 },
    { 0, P(1), 0, 0, 0, ANY },
};
static const struct pricing_tariff T_LH = { lh_elements, 2, 0, PRICING_NONE, PRICING_NONE };

/* ---------------------------------------------------------------- the table */

struct smp {
    const char *at;
    int64_t v;
};

struct exp_line {
    const char *component, *quantity, *unit_price, *amount, *from, *to;
};

struct pcase {
    const char *name;
    const char *zone; /* NULL: no zone (UTC) */
    const struct pricing_tariff *tariff;
    const char *start, *stop;
    int64_t meter_start, meter_stop;
    struct smp energy[6], power[6];
    const char *status_ended;
    bool estimate;
    struct exp_line lines[8];
    const char *subtotal;
    enum pricing_clamp clamp;
    int64_t net, vat, gross;
};

#define BERLIN "Europe/Berlin"

static const struct pcase cases[] = {
    /* 12.3 kWh x 39.5 = 485.85; 60 min x 2 = 120; fee 50.
       subtotal 655.85 -> net 656; VAT 656 x 19 % = 124.64 -> 125; gross 781 */
    { "no samples: all energy at the start's price", BERLIN, &T_DN, "2026-06-10T10:00:00+02:00",
      "2026-06-10T11:00:00+02:00", 0, 12300, { { 0 } }, { { 0 } }, NULL, false,
      { { "energy", "12.3", "39.5", "485.85", "2026-06-10T10:00:00+02:00", "2026-06-10T11:00:00+02:00" },
        { "time", "60", "2", "120", "2026-06-10T10:00:00+02:00", "2026-06-10T11:00:00+02:00" },
        { "sessionFee", "1", "50", "50", "2026-06-10T10:00:00+02:00", "2026-06-10T10:00:00+02:00" } },
      "655.85", PRICING_CLAMP_NONE, 656, 125, 781 },

    /* register at 22:00 between 21:30 (6000) and 22:30 (16000): 6000 + 10000 x 30/60 = 11000.
       day 11000 - 1000 = 10 kWh x 39.5 = 395; night 21000 - 11000 = 10 kWh x 29 = 290;
       time 21:00-22:00 60 x 2 = 120 (nights have no time price); fee 50.
       subtotal 855; VAT 162.45 -> 162; gross 1017 */
    { "energy split at 22:00 by interpolation", BERLIN, &T_DN, "2026-06-10T21:00:00+02:00",
      "2026-06-10T23:00:00+02:00", 1000, 21000,
      { { "2026-06-10T21:30:00+02:00", 6000 }, { "2026-06-10T22:30:00+02:00", 16000 } }, { { 0 } }, NULL, false,
      { { "energy", "10", "39.5", "395", "2026-06-10T21:00:00+02:00", "2026-06-10T22:00:00+02:00" },
        { "energy", "10", "29", "290", "2026-06-10T22:00:00+02:00", "2026-06-10T23:00:00+02:00" },
        { "time", "60", "2", "120", "2026-06-10T21:00:00+02:00", "2026-06-10T22:00:00+02:00" },
        { "sessionFee", "1", "50", "50", "2026-06-10T21:00:00+02:00", "2026-06-10T21:00:00+02:00" } },
      "855", PRICING_CLAMP_NONE, 855, 162, 1017 },

    /* the night window crosses midnight: one line 23:00-07:00. Register at 07:00 between 06:30
       (30000) and 07:30 (34000): 32000. night 32 kWh x 29 = 928; day 3 kWh x 39.5 = 118.5;
       time 07:00-08:00 60 x 2 = 120; no fee (the night element at the start has none).
       subtotal 1166.5 -> net 1167 (half-up); VAT 221.73 -> 222; gross 1389 */
    { "a window across midnight", BERLIN, &T_DN, "2026-06-10T23:00:00+02:00", "2026-06-11T08:00:00+02:00", 0,
      35000, { { "2026-06-11T06:30:00+02:00", 30000 }, { "2026-06-11T07:30:00+02:00", 34000 } }, { { 0 } }, NULL,
      false,
      { { "energy", "32", "29", "928", "2026-06-10T23:00:00+02:00", "2026-06-11T07:00:00+02:00" },
        { "energy", "3", "39.5", "118.5", "2026-06-11T07:00:00+02:00", "2026-06-11T08:00:00+02:00" },
        { "time", "60", "2", "120", "2026-06-11T07:00:00+02:00", "2026-06-11T08:00:00+02:00" } },
      "1166.5", PRICING_CLAMP_NONE, 1167, 222, 1389 },

    /* 2026-03-29 has 23 hours: 00:00+01:00 (23:00Z) to 07:00+02:00 (05:00Z) is 6 h = 360 min x 1;
       07:00-22:00 900 min x 2 = 1800; 22:00-24:00 120 min x 1. subtotal 2280; VAT 433.2 -> 433 */
    { "DST: the 23-hour day", BERLIN, &T_TIME, "2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00", 0, 0,
      { { 0 } }, { { 0 } }, NULL, false,
      { { "time", "360", "1", "360", "2026-03-29T00:00:00+01:00", "2026-03-29T07:00:00+02:00" },
        { "time", "900", "2", "1800", "2026-03-29T07:00:00+02:00", "2026-03-29T22:00:00+02:00" },
        { "time", "120", "1", "120", "2026-03-29T22:00:00+02:00", "2026-03-30T00:00:00+02:00" } },
      "2280", PRICING_CLAMP_NONE, 2280, 433, 2713 },

    /* 2026-10-25 has 25 hours: 00:00+02:00 (22:00Z) to 07:00+01:00 (06:00Z) is 8 h = 480 min x 1;
       900 x 2 = 1800; 120 x 1. subtotal 2400; VAT 456; gross 2856 */
    { "DST: the 25-hour day", BERLIN, &T_TIME, "2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00", 0, 0,
      { { 0 } }, { { 0 } }, NULL, false,
      { { "time", "480", "1", "480", "2026-10-25T00:00:00+02:00", "2026-10-25T07:00:00+01:00" },
        { "time", "900", "2", "1800", "2026-10-25T07:00:00+01:00", "2026-10-25T22:00:00+01:00" },
        { "time", "120", "1", "120", "2026-10-25T22:00:00+01:00", "2026-10-26T00:00:00+01:00" } },
      "2400", PRICING_CLAMP_NONE, 2400, 456, 2856 },

    /* the clock jumps from 02:00 to 03:00 at 01:00Z, past 02:30: the 02:30-05:00 window starts then.
       00:00Z-01:00Z 10 kWh x 20 = 200; 01:00Z-02:00Z 10 kWh x 30 = 300. subtotal 500; VAT 95 */
    { "DST: a window starting in the spring-forward gap", BERLIN, &T_GAP, "2026-03-29T01:00:00+01:00",
      "2026-03-29T04:00:00+02:00", 0, 20000, { { "2026-03-29T03:00:00+02:00", 10000 } }, { { 0 } }, NULL, false,
      { { "energy", "10", "20", "200", "2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00" },
        { "energy", "10", "30", "300", "2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00" } },
      "500", PRICING_CLAMP_NONE, 500, 95, 595 },

    /* 02:00-03:00 shows twice on 2026-10-25 (00:00Z-01:00Z in summer time, 01:00Z-02:00Z in winter
       time): the window holds for both, 2 h. 10 kWh an hour: 23:30Z-00:00Z 5 kWh x 20 = 100;
       00:00Z-02:00Z 20 kWh x 30 = 600; 02:00Z-02:30Z 5 kWh x 20 = 100. subtotal 800; VAT 152 */
    { "DST: a window in the fall-back hour holds twice", BERLIN, &T_OVL, "2026-10-25T01:30:00+02:00",
      "2026-10-25T03:30:00+01:00", 0, 30000,
      { { "2026-10-25T02:00:00+02:00", 5000 },
        { "2026-10-25T02:00:00+01:00", 15000 },
        { "2026-10-25T03:00:00+01:00", 25000 } },
      { { 0 } }, NULL, false,
      { { "energy", "5", "20", "100", "2026-10-25T01:30:00+02:00", "2026-10-25T02:00:00+02:00" },
        { "energy", "20", "30", "600", "2026-10-25T02:00:00+02:00", "2026-10-25T03:00:00+01:00" },
        { "energy", "5", "20", "100", "2026-10-25T03:00:00+01:00", "2026-10-25T03:30:00+01:00" } },
      "800", PRICING_CLAMP_NONE, 800, 152, 952 },

    /* Friday 23:00 to Saturday 01:00: Friday 2.5 kWh x 35 = 87.5; Saturday 1.5 kWh x 25 = 37.5.
       subtotal 125; VAT 23.75 -> 24; gross 149 */
    { "daysOfWeek: Friday night into Saturday", BERLIN, &T_WKND, "2026-06-12T23:00:00+02:00",
      "2026-06-13T01:00:00+02:00", 0, 4000, { { "2026-06-13T00:00:00+02:00", 2500 } }, { { 0 } }, NULL, false,
      { { "energy", "2.5", "35", "87.5", "2026-06-12T23:00:00+02:00", "2026-06-13T00:00:00+02:00" },
        { "energy", "1.5", "25", "37.5", "2026-06-13T00:00:00+02:00", "2026-06-13T01:00:00+02:00" } },
      "125", PRICING_CLAMP_NONE, 125, 24, 149 },

    /* 07:00-22:00 (50) and 10:00-12:00 (40) both hold at 10:30: the first, 10 kWh x 50 = 500; VAT 95 */
    { "the first matching element wins", BERLIN, &T_FIRST, "2026-06-10T10:30:00+02:00",
      "2026-06-10T11:30:00+02:00", 0, 10000, { { 0 } }, { { 0 } }, NULL, false,
      { { "energy", "10", "50", "500", "2026-06-10T10:30:00+02:00", "2026-06-10T11:30:00+02:00" } }, "500",
      PRICING_CLAMP_NONE, 500, 95, 595 },

    /* the same elements the other way round: 10 kWh x 40 = 400; VAT 76 */
    { "the first matching element wins (order reversed)", BERLIN, &T_FIRST_REV, "2026-06-10T10:30:00+02:00",
      "2026-06-10T11:30:00+02:00", 0, 10000, { { 0 } }, { { 0 } }, NULL, false,
      { { "energy", "10", "40", "400", "2026-06-10T10:30:00+02:00", "2026-06-10T11:30:00+02:00" } }, "400",
      PRICING_CLAMP_NONE, 400, 76, 476 },

    /* one element, no restrictions, across midnight (one line each): 10 kWh x 30 = 300;
       120 min x 1 = 120. subtotal 420; VAT 79.8 -> 80; gross 500 */
    { "an element without restrictions", BERLIN, &T_FLAT, "2026-06-10T23:00:00+02:00", "2026-06-11T01:00:00+02:00",
      0, 10000, { { 0 } }, { { 0 } }, NULL, false,
      { { "energy", "10", "30", "300", "2026-06-10T23:00:00+02:00", "2026-06-11T01:00:00+02:00" },
        { "time", "120", "1", "120", "2026-06-10T23:00:00+02:00", "2026-06-11T01:00:00+02:00" } },
      "420", PRICING_CLAMP_NONE, 420, 80, 500 },

    /* SuspendedEV at 11:00: 20 kWh x 39.5 = 790; time 10:00-11:00 60 x 2 = 120;
       idle 11:15 (15 min grace) to 12:00 = 45 x 10 = 450; fee 50. subtotal 1410; VAT 267.9 -> 268 */
    { "idle after the grace", BERLIN, &T_DN, "2026-06-10T10:00:00+02:00", "2026-06-10T12:00:00+02:00", 0, 20000,
      { { 0 } }, { { 0 } }, "2026-06-10T11:00:00+02:00", false,
      { { "energy", "20", "39.5", "790", "2026-06-10T10:00:00+02:00", "2026-06-10T12:00:00+02:00" },
        { "time", "60", "2", "120", "2026-06-10T10:00:00+02:00", "2026-06-10T11:00:00+02:00" },
        { "idle", "45", "10", "450", "2026-06-10T11:15:00+02:00", "2026-06-10T12:00:00+02:00" },
        { "sessionFee", "1", "50", "50", "2026-06-10T10:00:00+02:00", "2026-06-10T10:00:00+02:00" } },
      "1410", PRICING_CLAMP_NONE, 1410, 268, 1678 },

    /* ended 11:50, stop 12:00: 10 idle minutes, all inside the 15 minutes' grace.
       790 + time 110 x 2 = 220 + 50 = 1060; VAT 201.4 -> 201 */
    { "idle shorter than the grace", BERLIN, &T_DN, "2026-06-10T10:00:00+02:00", "2026-06-10T12:00:00+02:00", 0,
      20000, { { 0 } }, { { 0 } }, "2026-06-10T11:50:00+02:00", false,
      { { "energy", "20", "39.5", "790", "2026-06-10T10:00:00+02:00", "2026-06-10T12:00:00+02:00" },
        { "time", "110", "2", "220", "2026-06-10T10:00:00+02:00", "2026-06-10T11:50:00+02:00" },
        { "sessionFee", "1", "50", "50", "2026-06-10T10:00:00+02:00", "2026-06-10T10:00:00+02:00" } },
      "1060", PRICING_CLAMP_NONE, 1060, 201, 1261 },

    /* ended 21:00: idle 21:15-22:00 45 x 10 = 450, free after 22:00 (the night element has no idle
       price); 10 kWh x 39.5 = 395; time 60 x 2 = 120; fee 50. subtotal 1015; VAT 192.85 -> 193 */
    { "idle per window: free at night", BERLIN, &T_DN, "2026-06-10T20:00:00+02:00", "2026-06-10T23:00:00+02:00",
      0, 10000, { { 0 } }, { { 0 } }, "2026-06-10T21:00:00+02:00", false,
      { { "energy", "10", "39.5", "395", "2026-06-10T20:00:00+02:00", "2026-06-10T23:00:00+02:00" },
        { "time", "60", "2", "120", "2026-06-10T20:00:00+02:00", "2026-06-10T21:00:00+02:00" },
        { "idle", "45", "10", "450", "2026-06-10T21:15:00+02:00", "2026-06-10T22:00:00+02:00" },
        { "sessionFee", "1", "50", "50", "2026-06-10T20:00:00+02:00", "2026-06-10T20:00:00+02:00" } },
      "1015", PRICING_CLAMP_NONE, 1015, 193, 1208 },

    /* power 7400, 7400, 7200 W until 11:00, then 50 and 0 W: charging ended at 11:00 (the last
       sample above 100 W). Same sums as "idle after the grace": 1410; VAT 268 */
    { "charging ended: the last power sample above 100 W", BERLIN, &T_DN, "2026-06-10T10:00:00+02:00",
      "2026-06-10T12:00:00+02:00", 0, 20000, { { 0 } },
      { { "2026-06-10T10:00:00+02:00", 7400 },
        { "2026-06-10T10:30:00+02:00", 7400 },
        { "2026-06-10T11:00:00+02:00", 7200 },
        { "2026-06-10T11:10:00+02:00", 50 },
        { "2026-06-10T11:40:00+02:00", 0 } },
      NULL, false,
      { { "energy", "20", "39.5", "790", "2026-06-10T10:00:00+02:00", "2026-06-10T12:00:00+02:00" },
        { "time", "60", "2", "120", "2026-06-10T10:00:00+02:00", "2026-06-10T11:00:00+02:00" },
        { "idle", "45", "10", "450", "2026-06-10T11:15:00+02:00", "2026-06-10T12:00:00+02:00" },
        { "sessionFee", "1", "50", "50", "2026-06-10T10:00:00+02:00", "2026-06-10T10:00:00+02:00" } },
      "1410", PRICING_CLAMP_NONE, 1410, 268, 1678 },

    /* the same with SuspendedEV at 10:50, earlier: time 50 x 2 = 100; idle 11:05-12:00 55 x 10 = 550.
       790 + 100 + 550 + 50 = 1490; VAT 283.1 -> 283 */
    { "charging ended: the status notification when earlier", BERLIN, &T_DN, "2026-06-10T10:00:00+02:00",
      "2026-06-10T12:00:00+02:00", 0, 20000, { { 0 } },
      { { "2026-06-10T10:00:00+02:00", 7400 },
        { "2026-06-10T10:30:00+02:00", 7400 },
        { "2026-06-10T11:00:00+02:00", 7200 },
        { "2026-06-10T11:10:00+02:00", 50 },
        { "2026-06-10T11:40:00+02:00", 0 } },
      "2026-06-10T10:50:00+02:00", false,
      { { "energy", "20", "39.5", "790", "2026-06-10T10:00:00+02:00", "2026-06-10T12:00:00+02:00" },
        { "time", "50", "2", "100", "2026-06-10T10:00:00+02:00", "2026-06-10T10:50:00+02:00" },
        { "idle", "55", "10", "550", "2026-06-10T11:05:00+02:00", "2026-06-10T12:00:00+02:00" },
        { "sessionFee", "1", "50", "50", "2026-06-10T10:00:00+02:00", "2026-06-10T10:00:00+02:00" } },
      "1490", PRICING_CLAMP_NONE, 1490, 283, 1773 },

    /* the last power sample is above 100 W: charging until the stop. 790 + 120 x 2 = 240 + 50 = 1080;
       VAT 205.2 -> 205 */
    { "charging ended: still charging at the stop", BERLIN, &T_DN, "2026-06-10T10:00:00+02:00",
      "2026-06-10T12:00:00+02:00", 0, 20000, { { 0 } },
      { { "2026-06-10T10:00:00+02:00", 7400 }, { "2026-06-10T11:55:00+02:00", 7000 } }, NULL, false,
      { { "energy", "20", "39.5", "790", "2026-06-10T10:00:00+02:00", "2026-06-10T12:00:00+02:00" },
        { "time", "120", "2", "240", "2026-06-10T10:00:00+02:00", "2026-06-10T12:00:00+02:00" },
        { "sessionFee", "1", "50", "50", "2026-06-10T10:00:00+02:00", "2026-06-10T10:00:00+02:00" } },
      "1080", PRICING_CLAMP_NONE, 1080, 205, 1285 },

    /* 150 kWh x 39.5 = 5925; 180 x 2 = 360; fee 50: 6335 > maxPrice 5000. net 5000; VAT 950 */
    { "maxPrice clamps the net", BERLIN, &T_DN, "2026-06-10T10:00:00+02:00", "2026-06-10T13:00:00+02:00", 0,
      150000, { { 0 } }, { { 0 } }, NULL, false,
      { { "energy", "150", "39.5", "5925", "2026-06-10T10:00:00+02:00", "2026-06-10T13:00:00+02:00" },
        { "time", "180", "2", "360", "2026-06-10T10:00:00+02:00", "2026-06-10T13:00:00+02:00" },
        { "sessionFee", "1", "50", "50", "2026-06-10T10:00:00+02:00", "2026-06-10T10:00:00+02:00" } },
      "6335", PRICING_CLAMP_MAX, 5000, 950, 5950 },

    /* 1 kWh x 30 = 30 < minPrice 300: net 300; VAT 57 */
    { "minPrice clamps the net", BERLIN, &T_MIN, "2026-06-10T10:00:00+02:00", "2026-06-10T10:10:00+02:00", 0,
      1000, { { 0 } }, { { 0 } }, NULL, false,
      { { "energy", "1", "30", "30", "2026-06-10T10:00:00+02:00", "2026-06-10T10:10:00+02:00" } }, "30",
      PRICING_CLAMP_MIN, 300, 57, 357 },

    /* 1 kWh x 50 = 50; VAT 50 x 19 % = 9.5 -> 10 (half-up) */
    { "VAT x.5 rounds up", BERLIN, &T_E50, "2026-06-10T10:00:00+02:00", "2026-06-10T10:10:00+02:00", 0, 1000,
      { { 0 } }, { { 0 } }, NULL, false,
      { { "energy", "1", "50", "50", "2026-06-10T10:00:00+02:00", "2026-06-10T10:10:00+02:00" } }, "50",
      PRICING_CLAMP_NONE, 50, 10, 60 },

    /* 0.26 kWh x 50 = 13; VAT 2.47 -> 2 */
    { "VAT x.47 rounds down", BERLIN, &T_E50, "2026-06-10T10:00:00+02:00", "2026-06-10T10:10:00+02:00", 0, 260,
      { { 0 } }, { { 0 } }, NULL, false,
      { { "energy", "0.26", "50", "13", "2026-06-10T10:00:00+02:00", "2026-06-10T10:10:00+02:00" } }, "13",
      PRICING_CLAMP_NONE, 13, 2, 15 },

    /* 12.345 kWh x 39.5 = 487.6275 (exact) -> net 488; VAT 92.72 -> 93 */
    { "a fractional unit price", BERLIN, &T_FRAC, "2026-06-10T10:00:00+02:00", "2026-06-10T11:00:00+02:00", 0,
      12345, { { 0 } }, { { 0 } }, NULL, false,
      { { "energy", "12.345", "39.5", "487.6275", "2026-06-10T10:00:00+02:00", "2026-06-10T11:00:00+02:00" } },
      "487.6275", PRICING_CLAMP_NONE, 488, 93, 581 },

    /* 1.2 kWh x 39.5 = 47.4; 0.6 kWh x 29 = 17.4; 120; 50: 234.8 -> 235 once (per line it would be
       47 + 17 + 120 + 50 = 234); VAT 44.65 -> 45 */
    { "rounded once, not per line", BERLIN, &T_DN, "2026-06-10T21:00:00+02:00", "2026-06-10T23:00:00+02:00", 0,
      1800, { { "2026-06-10T22:00:00+02:00", 1200 } }, { { 0 } }, NULL, false,
      { { "energy", "1.2", "39.5", "47.4", "2026-06-10T21:00:00+02:00", "2026-06-10T22:00:00+02:00" },
        { "energy", "0.6", "29", "17.4", "2026-06-10T22:00:00+02:00", "2026-06-10T23:00:00+02:00" },
        { "time", "60", "2", "120", "2026-06-10T21:00:00+02:00", "2026-06-10T22:00:00+02:00" },
        { "sessionFee", "1", "50", "50", "2026-06-10T21:00:00+02:00", "2026-06-10T21:00:00+02:00" } },
      "234.8", PRICING_CLAMP_NONE, 235, 45, 280 },

    /* start = stop: the fee alone, 50; VAT 9.5 -> 10 */
    { "zero length: the session fee alone", BERLIN, &T_DN, "2026-06-10T10:00:00+02:00", "2026-06-10T10:00:00+02:00",
      500, 500, { { 0 } }, { { 0 } }, NULL, false,
      { { "sessionFee", "1", "50", "50", "2026-06-10T10:00:00+02:00", "2026-06-10T10:00:00+02:00" } }, "50",
      PRICING_CLAMP_NONE, 50, 10, 60 },

    /* start = stop at night: nothing at all */
    { "zero length at night: nothing", BERLIN, &T_DN, "2026-06-10T23:00:00+02:00", "2026-06-10T23:00:00+02:00", 0,
      0, { { 0 } }, { { 0 } }, NULL, false, { { 0 } }, "0", PRICING_CLAMP_NONE, 0, 0, 0 },

    /* a stop before the start is a zero-length session; its 1 kWh at the start's price:
       39.5 + 50 = 89.5 -> 90; VAT 17.1 -> 17 */
    { "a stop before the start", BERLIN, &T_DN, "2026-06-10T10:00:00+02:00", "2026-06-10T09:59:00+02:00", 0, 1000,
      { { 0 } }, { { 0 } }, NULL, false,
      { { "energy", "1", "39.5", "39.5", "2026-06-10T10:00:00+02:00", "2026-06-10T10:00:00+02:00" },
        { "sessionFee", "1", "50", "50", "2026-06-10T10:00:00+02:00", "2026-06-10T10:00:00+02:00" } },
      "89.5", PRICING_CLAMP_NONE, 90, 17, 107 },

    /* 20 s at 2/min: 20000 ms x 2 / 60000 = 0.6666667 (rounded at the 7th decimal); 0.333 min shown.
       50.6666667 -> 51; VAT 9.69 -> 10 */
    { "seconds of charging time", BERLIN, &T_DN, "2026-06-10T10:00:00+02:00", "2026-06-10T10:00:20+02:00", 0, 0,
      { { 0 } }, { { 0 } }, NULL, false,
      { { "time", "0.333", "2", "0.6666667", "2026-06-10T10:00:00+02:00", "2026-06-10T10:00:20+02:00" },
        { "sessionFee", "1", "50", "50", "2026-06-10T10:00:00+02:00", "2026-06-10T10:00:00+02:00" } },
      "50.6666667", PRICING_CLAMP_NONE, 51, 10, 61 },

    /* active at 11:00: the register's last sample (7500 at 10:45) is the energy so far, 7.5 kWh x
       39.5 = 296.25; time 60 x 2 = 120; fee 50: 466.25 -> 466; VAT 88.54 -> 89 */
    { "an estimate so far", BERLIN, &T_DN, "2026-06-10T10:00:00+02:00", "2026-06-10T11:00:00+02:00", 0, -1,
      { { "2026-06-10T10:30:00+02:00", 5000 }, { "2026-06-10T10:45:00+02:00", 7500 } }, { { 0 } }, NULL, true,
      { { "energy", "7.5", "39.5", "296.25", "2026-06-10T10:00:00+02:00", "2026-06-10T11:00:00+02:00" },
        { "time", "60", "2", "120", "2026-06-10T10:00:00+02:00", "2026-06-10T11:00:00+02:00" },
        { "sessionFee", "1", "50", "50", "2026-06-10T10:00:00+02:00", "2026-06-10T10:00:00+02:00" } },
      "466.25", PRICING_CLAMP_NONE, 466, 89, 555 },

    /* the tariff's version 2 (40/kWh) is in force from 2026-07-01; the session started on 30 June,
       so the caller passes version 1 and it holds throughout: 10 kWh x 30 = 300; VAT 57 */
    { "a tariff version change mid-session: the start's version", BERLIN, &T_V1, "2026-06-30T23:00:00+02:00",
      "2026-07-01T01:00:00+02:00", 0, 10000, { { "2026-07-01T00:00:00+02:00", 5000 } }, { { 0 } }, NULL, false,
      { { "energy", "10", "30", "300", "2026-06-30T23:00:00+02:00", "2026-07-01T01:00:00+02:00" } }, "300",
      PRICING_CLAMP_NONE, 300, 57, 357 },

    /* "energy split at 22:00" with the site in New York: the same wall clock, the same sums */
    { "New York: the windows follow the site's zone", "America/New_York", &T_DN, "2026-06-10T21:00:00-04:00",
      "2026-06-10T23:00:00-04:00", 1000, 21000,
      { { "2026-06-10T21:30:00-04:00", 6000 }, { "2026-06-10T22:30:00-04:00", 16000 } }, { { 0 } }, NULL, false,
      { { "energy", "10", "39.5", "395", "2026-06-10T21:00:00-04:00", "2026-06-10T22:00:00-04:00" },
        { "energy", "10", "29", "290", "2026-06-10T22:00:00-04:00", "2026-06-10T23:00:00-04:00" },
        { "time", "60", "2", "120", "2026-06-10T21:00:00-04:00", "2026-06-10T22:00:00-04:00" },
        { "sessionFee", "1", "50", "50", "2026-06-10T21:00:00-04:00", "2026-06-10T21:00:00-04:00" } },
      "855", PRICING_CLAMP_NONE, 855, 162, 1017 },

    /* the same instants in UTC (no zone) are 01:00-03:00: all night, 20 kWh x 29 = 580; VAT 110.2 -> 110 */
    { "the same instants without a zone (UTC)", NULL, &T_DN, "2026-06-11T01:00:00Z", "2026-06-11T03:00:00Z", 1000,
      21000, { { "2026-06-11T01:30:00Z", 6000 }, { "2026-06-11T02:30:00Z", 16000 } }, { { 0 } }, NULL, false,
      { { "energy", "20", "29", "580", "2026-06-11T01:00:00+00:00", "2026-06-11T03:00:00+00:00" } }, "580",
      PRICING_CLAMP_NONE, 580, 110, 690 },

    /* Kolkata (+05:30): 06:30-07:00 1 kWh x 29 = 29; 07:00-07:30 1 kWh x 39.5 = 39.5; time 30 x 2 = 60;
       no fee (night at the start). 128.5 -> 129; VAT 24.51 -> 25 */
    { "Kolkata: a half-hour offset", "Asia/Kolkata", &T_DN, "2026-06-10T06:30:00+05:30",
      "2026-06-10T07:30:00+05:30", 0, 2000, { { "2026-06-10T07:00:00+05:30", 1000 } }, { { 0 } }, NULL, false,
      { { "energy", "1", "29", "29", "2026-06-10T06:30:00+05:30", "2026-06-10T07:00:00+05:30" },
        { "energy", "1", "39.5", "39.5", "2026-06-10T07:00:00+05:30", "2026-06-10T07:30:00+05:30" },
        { "time", "30", "2", "60", "2026-06-10T07:00:00+05:30", "2026-06-10T07:30:00+05:30" } },
      "128.5", PRICING_CLAMP_NONE, 129, 25, 154 },

    /* Lord Howe springs forward half an hour at 02:00 on 2026-10-04: 00:00-03:00 on the wall clock is
       2 h 30 min = 150 min x 2 = 300; 03:00-24:00 1260 min x 1. subtotal 1560; no VAT */
    { "Lord Howe: the 23.5-hour day", "Australia/Lord_Howe", &T_LH, "2026-10-04T00:00:00+10:30",
      "2026-10-05T00:00:00+11:00", 0, 0, { { 0 } }, { { 0 } }, NULL, false,
      { { "time", "150", "2", "300", "2026-10-04T00:00:00+10:30", "2026-10-04T03:00:00+11:00" },
        { "time", "1260", "1", "1260", "2026-10-04T03:00:00+11:00", "2026-10-05T00:00:00+11:00" } },
      "1560", PRICING_CLAMP_NONE, 1560, 0, 1560 },

    /* "energy split at 22:00" with a meter reset (500 Wh at 21:45) in between: that sample is
       ignored, the sums are the same */
    { "a register sample going backwards is ignored", BERLIN, &T_DN, "2026-06-10T21:00:00+02:00",
      "2026-06-10T23:00:00+02:00", 1000, 21000,
      { { "2026-06-10T22:30:00+02:00", 16000 }, { "2026-06-10T21:45:00+02:00", 500 },
        { "2026-06-10T21:30:00+02:00", 6000 }, { "2026-06-10T23:30:00+02:00", 99999 } },
      { { 0 } }, NULL, false,
      { { "energy", "10", "39.5", "395", "2026-06-10T21:00:00+02:00", "2026-06-10T22:00:00+02:00" },
        { "energy", "10", "29", "290", "2026-06-10T22:00:00+02:00", "2026-06-10T23:00:00+02:00" },
        { "time", "60", "2", "120", "2026-06-10T21:00:00+02:00", "2026-06-10T22:00:00+02:00" },
        { "sessionFee", "1", "50", "50", "2026-06-10T21:00:00+02:00", "2026-06-10T21:00:00+02:00" } },
      "855", PRICING_CLAMP_NONE, 855, 162, 1017 },
};

static int64_t ms(const char *iso)
{
    int64_t v = 0;
    if (!time_parse_iso8601(iso, &v))
        print_error("bad time in the table: %s\n", iso);
    assert_true(time_parse_iso8601(iso, &v));
    return v;
}

static size_t load_samples(const struct smp *in, struct pricing_sample *out)
{
    size_t n = 0;
    for (; n < 6 && in[n].at; n++)
        out[n] = (struct pricing_sample){ ms(in[n].at), in[n].v };
    return n;
}

static void check_field(const char *what, size_t line, const char *got, const char *want, bool *ok)
{
    if (strcmp(got, want) != 0) {
        print_error("  line %zu %s: got %s, want %s\n", line, what, got, want);
        *ok = false;
    }
}

/* Prices one case and compares every line and total; false (with the differences printed) if any differs. */
static bool run_case(const struct pcase *c)
{
    struct pricing_sample energy[6], power[6];
    struct pricing_session s = {
        .start_ms = ms(c->start),
        .stop_ms = ms(c->stop),
        .estimate = c->estimate,
        .meter_start_wh = c->meter_start,
        .meter_stop_wh = c->meter_stop,
        .energy = energy,
        .n_energy = load_samples(c->energy, energy),
        .power = power,
        .n_power = load_samples(c->power, power),
        .status_ended_ms = c->status_ended ? ms(c->status_ended) : PRICING_NONE,
        .idle_power_w = PRICING_IDLE_POWER_W_DEFAULT,
    };
    const struct tz *zone = c->zone ? tz_get(c->zone) : NULL;
    assert_true(!c->zone || zone);
    struct pricing_result r;
    const char *err = pricing_compute(c->tariff, zone, &s, &r);
    if (err) {
        print_error("%s: refused: %s\n", c->name, err);
        return false;
    }
    bool ok = true;
    size_t want_n = 0;
    while (want_n < 8 && c->lines[want_n].component)
        want_n++;
    if (r.n_lines != want_n) {
        print_error("  %zu lines, want %zu\n", r.n_lines, want_n);
        ok = false;
    }
    for (size_t i = 0; i < r.n_lines && i < want_n; i++) {
        const struct pricing_line *l = &r.lines[i];
        const struct exp_line *w = &c->lines[i];
        char q[PRICING_DECIMAL_LEN], p[PRICING_DECIMAL_LEN], a[PRICING_DECIMAL_LEN], from[TZ_ISO8601_LEN],
            to[TZ_ISO8601_LEN];
        pricing_format_quantity(l, q, sizeof q);
        pricing_format_decimal(l->unit_price, PRICING_PRICE_SCALE, p, sizeof p);
        pricing_format_decimal(l->amount, PRICING_AMOUNT_SCALE, a, sizeof a);
        tz_format_iso8601(zone, l->from_ms / 1000, from, sizeof from);
        tz_format_iso8601(zone, l->to_ms / 1000, to, sizeof to);
        check_field("component", i, pricing_component_name(l->component), w->component, &ok);
        check_field("quantity", i, q, w->quantity, &ok);
        check_field("unitPrice", i, p, w->unit_price, &ok);
        check_field("amount", i, a, w->amount, &ok);
        check_field("from", i, from, w->from, &ok);
        check_field("to", i, to, w->to, &ok);
    }
    char sub[PRICING_DECIMAL_LEN];
    pricing_format_decimal(r.subtotal, PRICING_AMOUNT_SCALE, sub, sizeof sub);
    check_field("subtotal", 0, sub, c->subtotal, &ok);
    if (r.clamp != c->clamp || r.net != c->net || r.vat != c->vat || r.gross != c->gross ||
        r.final == c->estimate) {
        print_error("  clamp %d net %lld vat %lld gross %lld final %d; want %d %lld %lld %lld\n", (int)r.clamp,
                    (long long)r.net, (long long)r.vat, (long long)r.gross, (int)r.final, (int)c->clamp,
                    (long long)c->net, (long long)c->vat, (long long)c->gross);
        ok = false;
    }
    /* the lines add up to the subtotal */
    int64_t sum = 0;
    for (size_t i = 0; i < r.n_lines; i++)
        sum += r.lines[i].amount;
    if (sum != r.subtotal)
        ok = false;
    pricing_result_free(&r);
    if (!ok)
        print_error("case \"%s\" differs (above)\n", c->name);
    return ok;
}

static int run_table(void)
{
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        failed += !run_case(&cases[i]);
    return failed;
}

static void test_hand_computed_sessions(void **state)
{
    (void)state;
    assert_true(sizeof cases / sizeof cases[0] >= 20);
    assert_int_equal(run_table(), 0);
}

static void test_tz_environment_changes_nothing(void **state)
{
    (void)state;
    const char *old = getenv("TZ");
    char *saved = old ? strdup(old) : NULL;
    setenv("TZ", "America/Los_Angeles", 1);
    tzset();
    tz_cache_clear();
    int failed = run_table();
    if (saved)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
    free(saved);
    assert_int_equal(failed, 0);
}

/* ---------------------------------------------------------------- charging ended */

static void test_charging_ended(void **state)
{
    (void)state;
    const int64_t t0 = ms("2026-06-10T10:00:00Z"), min = 60000;
    struct {
        const char *name;
        int64_t status;           /* minutes after t0, or PRICING_NONE */
        int64_t power[4][2];      /* {minute, W}, minute -1 ends */
        int64_t want;             /* minutes after t0 */
    } rows[] = {
        { "nothing said: the stop", PRICING_NONE, { { -1, 0 } }, 120 },
        { "a status", 30, { { -1, 0 } }, 30 },
        { "a status before the start is not one", -5, { { -1, 0 } }, 120 },
        { "a status at the start", 0, { { -1, 0 } }, 0 },
        { "a status after the stop", 130, { { -1, 0 } }, 120 },
        { "power low at the end", PRICING_NONE, { { 10, 7000 }, { 40, 7000 }, { 50, 100 }, { -1, 0 } }, 40 },
        { "100 W is idle, 101 W is not", PRICING_NONE, { { 10, 101 }, { 50, 100 }, { -1, 0 } }, 10 },
        { "power high at the end: the stop", PRICING_NONE, { { 10, 7000 }, { 50, 50 }, { 110, 7000 }, { -1, 0 } }, 120 },
        { "never above: the start", PRICING_NONE, { { 10, 0 }, { 50, 0 }, { -1, 0 } }, 0 },
        { "the earlier of status and power (status)", 20, { { 10, 7000 }, { 40, 7000 }, { 50, 0 }, { -1, 0 } }, 20 },
        { "the earlier of status and power (power)", 90, { { 10, 7000 }, { 40, 7000 }, { 50, 0 }, { -1, 0 } }, 40 },
        { "samples after the stop do not count", PRICING_NONE, { { 40, 7000 }, { 100, 0 }, { 130, 7000 }, { -1, 0 } },
          40 },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct pricing_sample p[4];
        size_t n = 0;
        for (; n < 4 && rows[i].power[n][0] >= 0; n++)
            p[n] = (struct pricing_sample){ t0 + rows[i].power[n][0] * min, rows[i].power[n][1] };
        struct pricing_session s = { .start_ms = t0,
                                     .stop_ms = t0 + 120 * min,
                                     .power = p,
                                     .n_power = n,
                                     .status_ended_ms =
                                         rows[i].status == PRICING_NONE ? PRICING_NONE : t0 + rows[i].status * min,
                                     .idle_power_w = 100 };
        int64_t got = pricing_charging_ended(&s);
        if (got != t0 + rows[i].want * min)
            print_error("%s: %lld min\n", rows[i].name, (long long)((got - t0) / min));
        assert_int_equal(got, t0 + rows[i].want * min);
    }
}

/* ---------------------------------------------------------------- tariffs refused */

static void test_check_refuses_bad_tariffs(void **state)
{
    (void)state;
    assert_null(pricing_check(&T_DN));
    struct pricing_element e = dn_elements[0];
    struct pricing_tariff t = { &e, 1, VAT(19), PRICING_NONE, PRICING_NONE };
    struct pricing_element bad[] = {
        { -1, 0, 0, 0, 0, ANY },
        { PRICING_PRICE_MAX + 1, 0, 0, 0, 0, ANY },
        { 0, 0, 0, -1, 0, ANY },
        { 0, 0, 0, 0, 0, 1440, -1, 0 },
        { 0, 0, 0, 0, 0, -1, 1441, 0 },
        { 0, 0, 0, 0, 0, -2, -1, 0 },
        { 0, 0, 0, 0, 0, -1, -1, 0x80 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        e = bad[i];
        assert_non_null(pricing_check(&t));
        struct pricing_session s = { .start_ms = 0, .stop_ms = 1000, .status_ended_ms = PRICING_NONE };
        struct pricing_result r;
        assert_non_null(pricing_compute(&t, NULL, &s, &r));
        assert_int_equal(r.n_lines, 0);
        assert_null(r.lines);
    }
    e = dn_elements[0];
    t.vat_percent = 10001;
    assert_non_null(pricing_check(&t));
    t.vat_percent = -1;
    assert_non_null(pricing_check(&t));
    t.vat_percent = 0;
    t.min_price = P(10);
    t.max_price = P(5);
    assert_non_null(pricing_check(&t));
    t.max_price = P(10);
    assert_null(pricing_check(&t));
    assert_non_null(pricing_check(NULL));
    /* no elements: free, minPrice still applies */
    struct pricing_tariff empty = { NULL, 0, VAT(10), P(100), PRICING_NONE };
    struct pricing_session s = { .start_ms = 0, .stop_ms = 3600000, .meter_stop_wh = 5000,
                                 .status_ended_ms = PRICING_NONE };
    struct pricing_result r;
    assert_null(pricing_compute(&empty, NULL, &s, &r));
    assert_int_equal(r.n_lines, 0);
    assert_int_equal(r.net, 100);
    assert_int_equal(r.vat, 10);
    assert_int_equal(r.energy_wh, 5000);
    pricing_result_free(&r);
}

/* ---------------------------------------------------------------- helpers */

static void test_decimals_times_and_names(void **state)
{
    (void)state;
    char b[PRICING_DECIMAL_LEN];
    struct {
        int64_t v, scale;
        const char *want;
    } fmt[] = {
        { 395000, PRICING_PRICE_SCALE, "39.5" },    { 0, PRICING_PRICE_SCALE, "0" },
        { 1, PRICING_PRICE_SCALE, "0.0001" },       { 4858500000, PRICING_AMOUNT_SCALE, "485.85" },
        { 6666667, PRICING_AMOUNT_SCALE, "0.6666667" }, { 12300, 1000, "12.3" },
        { -15, 10, "-1.5" },                         { 7, 1, "7" },
        { INT64_MAX, 1, "9223372036854775807" },
    };
    for (size_t i = 0; i < sizeof fmt / sizeof fmt[0]; i++) {
        pricing_format_decimal(fmt[i].v, fmt[i].scale, b, sizeof b);
        assert_string_equal(b, fmt[i].want);
    }
    int64_t v;
    assert_true(pricing_decimal_from_double(39.5, PRICING_PRICE_SCALE, PRICING_PRICE_MAX, &v));
    assert_int_equal(v, 395000);
    assert_true(pricing_decimal_from_double(0.0001, PRICING_PRICE_SCALE, PRICING_PRICE_MAX, &v));
    assert_int_equal(v, 1);
    assert_true(pricing_decimal_from_double(7.7, PRICING_VAT_SCALE, 10000, &v));
    assert_int_equal(v, 770);
    assert_true(pricing_decimal_from_double(0, PRICING_PRICE_SCALE, PRICING_PRICE_MAX, &v));
    assert_int_equal(v, 0);
    assert_false(pricing_decimal_from_double(0.00001, PRICING_PRICE_SCALE, PRICING_PRICE_MAX, &v));
    assert_false(pricing_decimal_from_double(39.12345, PRICING_PRICE_SCALE, PRICING_PRICE_MAX, &v));
    assert_false(pricing_decimal_from_double(-1, PRICING_PRICE_SCALE, PRICING_PRICE_MAX, &v));
    assert_false(pricing_decimal_from_double(100.01, PRICING_VAT_SCALE, 10000, &v));
    assert_false(pricing_decimal_from_double(0.0 / 0.0, PRICING_VAT_SCALE, 10000, &v));

    int32_t m;
    assert_true(pricing_parse_hhmm("07:00", false, &m));
    assert_int_equal(m, 420);
    assert_true(pricing_parse_hhmm("23:59", false, &m));
    assert_int_equal(m, 1439);
    assert_true(pricing_parse_hhmm("24:00", true, &m));
    assert_int_equal(m, 1440);
    const char *bad_hhmm[] = { "24:00", "7:00", "07:60", "25:00", "07-00", "07:00:00", "", "ab:cd" };
    for (size_t i = 0; i < sizeof bad_hhmm / sizeof bad_hhmm[0]; i++)
        assert_false(pricing_parse_hhmm(bad_hhmm[i], false, &m));
    assert_false(pricing_parse_hhmm("24:01", true, &m));

    assert_int_equal(pricing_day_from_name("MONDAY"), PRICING_MONDAY);
    assert_int_equal(pricing_day_from_name("SUNDAY"), PRICING_SUNDAY);
    assert_int_equal(pricing_day_from_name("monday"), 0);
    assert_int_equal(pricing_day_from_name("FUNDAY"), 0);
    assert_string_equal(pricing_component_name(PRICING_SESSION_FEE), "sessionFee");
    assert_string_equal(pricing_unit_name(PRICING_ENERGY), "kWh");
    assert_string_equal(pricing_unit_name(PRICING_IDLE), "min");
    assert_string_equal(pricing_unit_name(PRICING_SESSION_FEE), "session");
}

/* A month of sessions, every 7 h 13 min, of 5 h 30 min: the lines always cover the session's
   energy (the tariff prices energy at every moment) and the line periods never overlap. */
static void test_lines_cover_the_energy(void **state)
{
    (void)state;
    const struct tz *berlin = tz_get(BERLIN);
    int64_t t0 = ms("2026-03-01T00:00:00Z");
    for (int k = 0; k < 250; k++) {
        int64_t start = t0 + (int64_t)k * (7 * 3600 + 13 * 60) * 1000, stop = start + 330 * 60000;
        struct pricing_sample smp[5];
        for (int i = 0; i < 5; i++)
            smp[i] = (struct pricing_sample){ start + (i + 1) * 55 * 60000, 1000 + (i + 1) * (i + 2) * 1111 };
        struct pricing_session s = { .start_ms = start, .stop_ms = stop, .meter_start_wh = 1000,
                                     .meter_stop_wh = 40000, .energy = smp, .n_energy = 5,
                                     .status_ended_ms = PRICING_NONE, .idle_power_w = 100 };
        struct pricing_result r;
        assert_null(pricing_compute(&T_DN, berlin, &s, &r));
        int64_t wh = 0, last_to = INT64_MIN;
        for (size_t i = 0; i < r.n_lines; i++) {
            if (r.lines[i].component != PRICING_ENERGY)
                continue;
            wh += r.lines[i].quantity;
            assert_true(r.lines[i].from_ms >= last_to);
            last_to = r.lines[i].to_ms;
        }
        assert_int_equal(wh, 39000);
        pricing_result_free(&r);
    }
}

static int group_teardown(void **state)
{
    (void)state;
    tz_cache_clear();
    return 0;
}

/*
 * ocppgw_session_cost_input's text (sql/021) through session_cost_compute,
 * the code the pricing job and REST's estimate share. 2026-11-20 10:00Z to
 * 11:00Z, meter 0 -> 1000 Wh, energy 30 per kWh, time 2 per min, VAT 19 %:
 * 1 kWh x 30 = 30, 60 min x 2 = 120; net 150, VAT 28.5 -> 29, gross 179.
 */
static void test_session_cost_from_input(void **state)
{
    (void)state;
    struct session_cost c;
    const char *in = "1795168800000|1795172400000|0|1000|0|EUR|1900|||Europe/Berlin|||"
                     "|300000,20000,0,0,0,-1,-1,0";
    assert_null(session_cost_compute(in, 100, &c));
    assert_int_equal(c.net, 150);
    assert_int_equal(c.vat, 29);
    assert_int_equal(c.gross, 179);
    assert_string_equal(c.currency, "EUR");
    assert_true(c.final);
    assert_false(c.zone_unknown);
    assert_string_equal(c.zone, "Europe/Berlin");
    assert_string_equal(c.breakdown,
                        "[{\"component\":\"energy\",\"quantity\":1,\"unit\":\"kWh\",\"unitPrice\":30,\"amount\":30,"
                        "\"from\":\"2026-11-20T10:00:00Z\",\"to\":\"2026-11-20T11:00:00Z\"},"
                        "{\"component\":\"time\",\"quantity\":60,\"unit\":\"min\",\"unitPrice\":2,\"amount\":120,"
                        "\"from\":\"2026-11-20T10:00:00Z\",\"to\":\"2026-11-20T11:00:00Z\"}]");
    char *j = session_cost_members_json(&c);
    assert_non_null(strstr(j, "{\"cost\":179,\"net\":150,\"vat\":29,\"currency\":\"EUR\",\"costBreakdown\":[{"));
    assert_non_null(strstr(j, "\"costFinal\":true}"));
    free(j);
    session_cost_clear(&c);

    /* an unknown zone is priced in UTC and says so */
    in = "1795168800000|1795172400000|0|1000|0|EUR|1900|||Mars/Olympus|||"
         "|300000,20000,0,0,0,-1,-1,0";
    assert_null(session_cost_compute(in, 100, &c));
    assert_true(c.zone_unknown);
    assert_string_equal(c.zone, "UTC");
    assert_int_equal(c.net, 150);
    session_cost_clear(&c);

    /* refused: no input, too few fields, a letter in a number, no elements, a broken sample */
    assert_non_null(session_cost_compute(NULL, 100, &c));
    assert_non_null(session_cost_compute("1795168800000|1795172400000|0|1000", 100, &c));
    assert_non_null(session_cost_compute("17951x8800000|1795172400000|0|1000|0|EUR|1900|||UTC|||"
                                         "|300000,0,0,0,0,-1,-1,0", 100, &c));
    assert_non_null(session_cost_compute("1795168800000|1795172400000|0|1000|0|EUR|1900|||UTC||||", 100, &c));
    assert_non_null(session_cost_compute("1795168800000|1795172400000|0|1000|0|EUR|1900|||UTC||1795170600000:|"
                                         "|300000,0,0,0,0,-1,-1,0", 100, &c));
    assert_null(c.breakdown);
}

/*
 * An active session's estimate up to "now" (11:00Z): register 500 Wh at
 * 10:30Z, power 5000 W at 10:20Z and 50 W at 10:40Z; idle 1 per minute, no
 * grace. With tariffs.idle_power_w 100 the last sample (50 W) is at or
 * below it: charging ended at 10:20Z, the last sample above; idle 40 min =
 * 40, VAT 7.6 -> 8. With 10 W, 50 W is still charging: no idle, no cost
 * lines. Through the REST store's rows hook: the input column of an active
 * session's row becomes the members an estimate shows; NULL stays NULL.
 */
static void test_session_cost_estimate(void **state)
{
    (void)state;
    const char *in = "1795168800000|1795172400000|0|0|1|EUR|1900|||UTC|"
                     "|1795170600000:500|1795170000000:5000,1795171200000:50"
                     "|0,0,10000,0,0,-1,-1,0";
    struct session_cost c;
    assert_null(session_cost_compute(in, 100, &c));
    assert_false(c.final);
    assert_int_equal(c.net, 40);
    assert_int_equal(c.vat, 8);
    assert_int_equal(c.gross, 48);
    assert_non_null(strstr(c.breakdown, "\"component\":\"idle\",\"quantity\":40,"));
    assert_non_null(strstr(c.breakdown, "\"from\":\"2026-11-20T10:20:00Z\""));
    session_cost_clear(&c);
    assert_null(session_cost_compute(in, 10, &c));
    assert_int_equal(c.net, 0);
    assert_string_equal(c.breakdown, "[]");
    session_cost_clear(&c);

    struct store_job *job = store_job_new(STORE_OP_SQL);
    job->in.sql.hook = (struct store_rows_hook){ session_cost_estimate_rows, 1, 100 };
    job->out.sql.ntuples = 2;
    job->out.sql.nfields = 2;
    job->out.sql.values = calloc(4, sizeof(char *));
    job->out.sql.values[0] = strdup("7");
    job->out.sql.values[1] = strdup(in);
    job->out.sql.values[2] = strdup("8");
    job->in.sql.hook.fn(job);
    assert_string_equal(job->out.sql.values[0], "7");
    assert_non_null(strstr(job->out.sql.values[1], "{\"cost\":48,\"net\":40,\"vat\":8,\"currency\":\"EUR\","));
    assert_non_null(strstr(job->out.sql.values[1], "\"costFinal\":false}"));
    assert_null(job->out.sql.values[3]);
    store_job_free(job);
}

/*
 * The reports' slots (pricing_split_slots): 15 minutes, hand-computed.
 * 2026-11-20 10:05Z to 11:05Z (T = 10:00Z = 1795168800000), meter 0 ->
 * 1200 Wh, one register sample 300 Wh at 10:35Z: 10 Wh/min before it,
 * 30 Wh/min after. Slots from 10:00Z:
 *   [10:00,10:15) 10:05-10:15 = 10 min x 10       = 100
 *   [10:15,10:30) 15 min x 10                      = 150
 *   [10:30,10:45) 5 min x 10 + 10 min x 30         = 350
 *   [10:45,11:00) 15 min x 30                      = 450
 *   [11:00,11:15) 11:00-11:05 = 5 min x 30         = 150   (sum 1200)
 * Charging ended by status at 10:50Z: charging 10, 15, 15, 5, 0 min; idle
 * 0, 0, 0, 10, 5 min.
 */
static void test_split_slots(void **state)
{
    (void)state;
    const int64_t T = 1795168800000, MIN = 60000, SLOT = 15 * MIN;
    struct pricing_sample reg[] = { { T + 35 * MIN, 300 } };
    struct pricing_session s = { .start_ms = T + 5 * MIN, .stop_ms = T + 65 * MIN, .meter_start_wh = 0,
                                 .meter_stop_wh = 1200, .energy = reg, .n_energy = 1,
                                 .status_ended_ms = T + 50 * MIN, .idle_power_w = 100 };
    struct pricing_split sp;
    assert_null(pricing_split_slots(&s, SLOT, 1000, &sp));
    assert_int_equal(sp.slot0_ms, T);
    assert_int_equal(sp.n_slots, 5);
    const int64_t wh[] = { 100, 150, 350, 450, 150 }, ch[] = { 10, 15, 15, 5, 0 }, idle[] = { 0, 0, 0, 10, 5 };
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(sp.slots[i].energy_wh, wh[i]);
        assert_int_equal(sp.slots[i].charging_ms, ch[i] * MIN);
        assert_int_equal(sp.slots[i].idle_ms, idle[i] * MIN);
    }
    assert_int_equal(sp.energy_wh, 1200);
    assert_int_equal(sp.charging_ended_ms, T + 50 * MIN);
    pricing_split_free(&sp);

    /* the same through the energy input (sql/023's ocppgw_session_energy_input: no tariff fields) */
    const char *in = "1795169100000|1795172700000|0|1200|0||||||1795171800000|1795170900000:300||";
    assert_null(session_energy_compute(in, 100, SLOT, 1000, &sp));
    assert_int_equal(sp.n_slots, 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(sp.slots[i].energy_wh, wh[i]);
    assert_int_equal(sp.slots[3].idle_ms, 10 * MIN);
    pricing_split_free(&sp);
    assert_non_null(session_energy_compute(NULL, 100, SLOT, 1000, &sp));
    assert_non_null(session_energy_compute("1795169100000|x|0|1200|0||||||||", 100, SLOT, 1000, &sp));
    assert_null(sp.slots);

    /* rounding at each boundary: 0 -> 10 Wh over 00:00-00:45, 5 Wh at 00:30;
       at 00:15 the register is 2.5 -> 3: slots 3, 2, 5 (sum 10) */
    struct pricing_sample half[] = { { T + 30 * MIN, 5 } };
    s = (struct pricing_session){ .start_ms = T, .stop_ms = T + 45 * MIN, .meter_stop_wh = 10, .energy = half,
                                  .n_energy = 1, .status_ended_ms = PRICING_NONE, .idle_power_w = 100 };
    assert_null(pricing_split_slots(&s, SLOT, 1000, &sp));
    assert_int_equal(sp.n_slots, 3);
    assert_int_equal(sp.slots[0].energy_wh, 3);
    assert_int_equal(sp.slots[1].energy_wh, 2);
    assert_int_equal(sp.slots[2].energy_wh, 5);
    assert_int_equal(sp.slots[2].charging_ms, 15 * MIN); /* nothing ended it: charging up to the stop */
    pricing_split_free(&sp);

    /* no usable sample: all of it in the start's slot, as the pricing prices it at the start */
    s.n_energy = 0;
    assert_null(pricing_split_slots(&s, SLOT, 1000, &sp));
    assert_int_equal(sp.slots[0].energy_wh, 10);
    assert_int_equal(sp.slots[1].energy_wh, 0);
    assert_int_equal(sp.slots[2].energy_wh, 0);
    pricing_split_free(&sp);

    /* zero length: one slot; longer than allowed: refused */
    s.stop_ms = s.start_ms;
    assert_null(pricing_split_slots(&s, SLOT, 1000, &sp));
    assert_int_equal(sp.n_slots, 1);
    assert_int_equal(sp.slots[0].energy_wh, 10);
    pricing_split_free(&sp);
    s.stop_ms = s.start_ms + 3 * SLOT;
    assert_non_null(pricing_split_slots(&s, SLOT, 2, &sp));
    assert_null(sp.slots);
}

int main(void)
{
    unsetenv("TZ");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_computed_sessions),
        cmocka_unit_test(test_tz_environment_changes_nothing),
        cmocka_unit_test(test_charging_ended),
        cmocka_unit_test(test_check_refuses_bad_tariffs),
        cmocka_unit_test(test_decimals_times_and_names),
        cmocka_unit_test(test_lines_cover_the_energy),
        cmocka_unit_test(test_session_cost_from_input),
        cmocka_unit_test(test_session_cost_estimate),
        cmocka_unit_test(test_split_slots),
    };
    return cmocka_run_group_tests(tests, NULL, group_teardown);
}
