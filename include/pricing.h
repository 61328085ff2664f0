/*
 * The cost of a charging session under a tariff (docs/spec: sites-and-tariffs.md,
 * "Session cost"), as plain arithmetic: no database, no JSON, no clock. The
 * caller (the store thread, or REST for an estimate) reads the session, its
 * samples and the tariff version frozen on it, and passes them in; pricing
 * answers the breakdown and the totals. Pure and reentrant: any thread.
 *
 * Money. Unit prices, minPrice and maxPrice are integers in
 * 1/PRICING_PRICE_SCALE of a minor unit (39.5 cents per kWh = 395000): up to
 * four decimals of a minor unit. A line's amount is quantity x unit price
 * kept as an integer in 1/PRICING_AMOUNT_SCALE of a minor unit (seven
 * decimals), which is exact for energy (whole Wh x four-decimal prices) and
 * session fees; time and idle (milliseconds x price per minute / 60000) are
 * rounded half-up at the seventh decimal, far below anything shown. The
 * subtotal is the exact sum of the line amounts; minPrice/maxPrice clamp it;
 * the net is the clamped subtotal rounded half-up to a whole minor unit,
 * ONCE; the VAT is the net x vatPercent rounded half-up; gross = net + VAT.
 * So the API shows line amounts as exact decimals ("485.85", "0.6666667")
 * that add up to the subtotal, and net/vat/gross as integers; when a clamp
 * applied (result.clamp), the net is the clamp, not the lines' sum.
 *
 * Time. Instants are milliseconds since the epoch, UTC. Restrictions are in
 * the zone's local time (the site's, else the charger's, else UTC: the
 * caller picks the zone, with tz_get()); pricing only converts with it
 * (tz_offset_at, tz_next_transition), it never reads files or TZ.
 *
 * Which element: at each moment the FIRST element whose restrictions hold
 * at that moment's local time applies, for all its components; a component
 * it has no price for (0) is free at that moment; a moment no element holds
 * at is free. Restrictions per moment: daysOfWeek holds if the local day of
 * the moment is listed (a window crossing midnight is therefore split by
 * day: 22:00-07:00 with FRIDAY holds Friday 00:00-07:00 and 22:00-24:00);
 * startTime <= local time < endTime, across midnight when endTime <
 * startTime, the whole day when they are equal; startTime alone lasts to
 * midnight, endTime alone starts at midnight. On DST days the windows
 * follow the wall clock: a 23-hour day has one hour less at night, a window
 * starting at 02:30 on a spring-forward day starts at 03:00 (the clock
 * jumps over 02:30), a window 02:00-03:00 on a fall-back day lasts two
 * hours.
 *
 * Components:
 *   energy      [start, stop]: split at window changes by the register
 *               samples, linearly interpolated between neighbours (the
 *               interpolated register is rounded half-up to a whole Wh at
 *               each line boundary, so the lines' kWh add up to the meter's);
 *               with no usable sample, all energy at the price in force at
 *               the start (one line over the whole session).
 *   time        [start, charging ended), per minute, per window.
 *   idle        [charging ended + grace, stop), per minute, per window; the
 *               grace is idleGraceMinutes of the element in force when
 *               charging ended.
 *   sessionFee  once, the fee of the element in force at the start.
 * Charging ended (pricing_charging_ended): the earlier of the first
 * StatusNotification SuspendedEV/Finishing/Available at or after the start
 * (the caller finds it) and, when the LAST power sample is at or below
 * idle_power_w, the last sample above it (the start if none was); else the
 * stop. Adjacent periods of one component at the same unit price are one
 * line (a DST change or midnight does not split a line); periods at price 0
 * and lines of quantity 0 are not shown. Lines come energy, time, idle,
 * sessionFee, each in time order.
 *
 * Left to the caller: which tariff and version (the version in force at the
 * session's start, frozen on it: a session spanning a version change is
 * priced with that one throughout), the currency (pricing is
 * currency-blind), the zone, and finding the first status notification.
 */
#ifndef OCPPGW_PRICING_H
#define OCPPGW_PRICING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tz;

#define PRICING_PRICE_SCALE INT64_C(10000)     /* unit prices, minPrice, maxPrice */
#define PRICING_AMOUNT_SCALE INT64_C(10000000) /* line amounts, subtotal */
#define PRICING_VAT_SCALE INT64_C(100)         /* vatPercent: 19 % = 1900, 7.7 % = 770 */
#define PRICING_PRICE_MAX (INT64_C(1000000) * PRICING_PRICE_SCALE) /* a million minor units */
#define PRICING_IDLE_POWER_W_DEFAULT 100
#define PRICING_NONE INT64_MIN /* no minPrice / maxPrice / status time */

/* daysOfWeek bits */
enum pricing_day {
    PRICING_MONDAY = 1 << 0,
    PRICING_TUESDAY = 1 << 1,
    PRICING_WEDNESDAY = 1 << 2,
    PRICING_THURSDAY = 1 << 3,
    PRICING_FRIDAY = 1 << 4,
    PRICING_SATURDAY = 1 << 5,
    PRICING_SUNDAY = 1 << 6,
};

/* One element of a tariff version: prices in PRICING_PRICE_SCALE, 0 = not priced. */
struct pricing_element {
    int64_t energy;          /* per kWh */
    int64_t time;            /* per minute of charging */
    int64_t idle;            /* per minute after charging ended and the grace */
    int32_t idle_grace_min;  /* idleGraceMinutes */
    int64_t session_fee;     /* once per session */
    /* restrictions: startTime/endTime in minutes after local midnight
       (start 0..1439, end 0..1440), -1 = absent; days: enum pricing_day
       bits, 0 = every day */
    int32_t start_min, end_min;
    unsigned days;
};

struct pricing_tariff {
    const struct pricing_element *elements; /* borrowed; in order: the first that holds applies */
    size_t n_elements;
    int64_t vat_percent;                    /* PRICING_VAT_SCALE: 0..10000 */
    int64_t min_price, max_price;           /* PRICING_PRICE_SCALE, or PRICING_NONE */
};

/* A meter sample: Energy.Active.Import.Register (Wh) or Power.Active.Import (W). */
struct pricing_sample {
    int64_t at_ms;
    int64_t value;
};

/*
 * A session as the caller knows it. Samples are borrowed, in any order;
 * those outside (start, stop) are ignored, and so are register samples that
 * go backwards or beyond meter_stop (a meter reset must not bill). A stop
 * before the start is taken as the start (zero length; its energy still
 * counts, at the start's price).
 */
struct pricing_session {
    int64_t start_ms;
    int64_t stop_ms;          /* the stop; for an estimate, now */
    bool estimate;            /* active session: meter_stop_wh is ignored and taken
                                 from the last register sample (else meter_start_wh) */
    int64_t meter_start_wh;
    int64_t meter_stop_wh;    /* below meter_start_wh: no energy */
    const struct pricing_sample *energy; /* Energy.Active.Import.Register, Wh */
    size_t n_energy;
    const struct pricing_sample *power;  /* Power.Active.Import, W (may be none) */
    size_t n_power;
    int64_t status_ended_ms;  /* first StatusNotification SuspendedEV, Finishing or
                                 Available at or after the start, or PRICING_NONE. The
                                 cost input (sql/021, ocppgw_session_cost_input) takes
                                 the first at or after the first register sample above
                                 meter_start too: chargers often send SuspendedEV right
                                 after the start, before energy flows */
    int32_t idle_power_w;     /* tariffs.idle_power_w (config; default PRICING_IDLE_POWER_W_DEFAULT) */
};

enum pricing_component { PRICING_ENERGY, PRICING_TIME, PRICING_IDLE, PRICING_SESSION_FEE };

struct pricing_line {
    enum pricing_component component;
    int64_t quantity;   /* energy: Wh; time, idle: ms; sessionFee: 1 */
    int64_t unit_price; /* PRICING_PRICE_SCALE per kWh, per minute, per session */
    int64_t amount;     /* PRICING_AMOUNT_SCALE: quantity x unit_price */
    int64_t from_ms, to_ms; /* the period (sessionFee: the start, twice) */
    size_t element;     /* the tariff element of its first moment */
};

enum pricing_clamp { PRICING_CLAMP_NONE, PRICING_CLAMP_MIN, PRICING_CLAMP_MAX };

struct pricing_result {
    struct pricing_line *lines; /* owned: pricing_result_free() */
    size_t n_lines;
    int64_t subtotal;           /* PRICING_AMOUNT_SCALE: the exact sum of the lines */
    enum pricing_clamp clamp;   /* which of minPrice/maxPrice set the net */
    int64_t net, vat, gross;    /* whole minor units */
    int64_t energy_wh;          /* the session's energy */
    int64_t charging_ended_ms;
    bool final;                 /* false for an estimate (costFinal) */
};

/*
 * NULL if the tariff is one pricing accepts, else what is wrong ("elements[1].
 * startTime" style is the caller's; this names the rule: "a price is
 * negative or above PRICING_PRICE_MAX", ...). Static string.
 */
const char *pricing_check(const struct pricing_tariff *t);

/*
 * Prices session s under tariff t in zone (NULL: UTC; borrowed). On success
 * returns NULL and fills *out (free with pricing_result_free); on failure
 * (pricing_check's reasons, or amounts beyond int64) returns the reason and
 * leaves *out empty.
 */
const char *pricing_compute(const struct pricing_tariff *t, const struct tz *zone, const struct pricing_session *s,
                            struct pricing_result *out);
void pricing_result_free(struct pricing_result *r);

/* When charging ended, by the rule above (the effective stop if nothing says earlier). */
int64_t pricing_charging_ended(const struct pricing_session *s);

/*
 * The same session split into fixed UTC slots for the reports' rollups
 * (sql/023_report_energy.sql): slot k is [slot0_ms + k x slot_ms, + slot_ms),
 * slot0_ms the start rounded down to a multiple of slot_ms since the epoch,
 * the last slot the one holding the stop (one slot for a zero-length
 * session). Per slot: the energy by the register exactly as
 * pricing_compute splits it across windows (interpolated, rounded half-up to
 * a Wh at each slot boundary, so the slots add up to the meter's energy;
 * with no usable sample, all of it in the start's slot), the charging time
 * [start, charging ended) and the idle time [charging ended, stop) in
 * milliseconds (no grace: that is a tariff's).
 */
struct pricing_slot {
    int64_t energy_wh, charging_ms, idle_ms;
};

struct pricing_split {
    int64_t slot0_ms;
    struct pricing_slot *slots; /* owned: pricing_split_free() */
    size_t n_slots;
    int64_t energy_wh;          /* the session's energy: the sum of the slots' */
    int64_t charging_ended_ms;
};

/*
 * NULL on success (*out filled), else why not (static: no session, slot_ms
 * not positive, more than max_slots slots); *out is then empty.
 */
const char *pricing_split_slots(const struct pricing_session *s, int64_t slot_ms, size_t max_slots,
                                struct pricing_split *out);
void pricing_split_free(struct pricing_split *sp);

/* ---- for the REST and receipt code around it ---- */
/* "energy" | "time" | "idle" | "sessionFee"; "kWh" | "min" | "session". */
const char *pricing_component_name(enum pricing_component c);
const char *pricing_unit_name(enum pricing_component c);
/*
 * A JSON number as an integer in 1/scale (scale a power of ten): 39.5 at
 * PRICING_PRICE_SCALE is 395000. False if negative, above max, or with more
 * decimals than the scale holds.
 */
bool pricing_decimal_from_double(double v, int64_t scale, int64_t max, int64_t *out);
/*
 * v/scale (scale a power of ten) as the shortest exact decimal: 395000 at
 * PRICING_PRICE_SCALE is "39.5", 48585000000 at PRICING_AMOUNT_SCALE is
 * "4858.5". Returns the length (buf always NUL-terminated).
 */
#define PRICING_DECIMAL_LEN 32
size_t pricing_format_decimal(int64_t v, int64_t scale, char *buf, size_t cap);
/* A line's quantity in its unit: kWh exact ("12.345"), minutes rounded half-up to 3 decimals ("37.5"), "1". */
size_t pricing_format_quantity(const struct pricing_line *l, char *buf, size_t cap);
/* "HH:MM" (00:00..23:59, and "24:00" if allow_24) into minutes after midnight. */
bool pricing_parse_hhmm(const char *s, bool allow_24, int32_t *minutes);
/* "MONDAY".."SUNDAY" into its bit; 0 if not a day name. */
unsigned pricing_day_from_name(const char *name);

#endif
