/*
 * Session cost (include/pricing.h holds the rules; this is how).
 *
 * The session [start, stop) is cut once into periods in which the applying
 * tariff element cannot change: a period ends where the local wall clock
 * reaches any element's startTime or endTime, at local midnight (daysOfWeek)
 * and at any change of the zone's offset (tz_next_transition). Each period
 * gets the first element that holds at its first moment. Every component
 * then walks the periods over its own span (energy: the session; time: up
 * to charging ended; idle: from the end of the grace), joining neighbours
 * at one unit price into one line. Amounts are integers in
 * PRICING_AMOUNT_SCALE, summed exactly (128-bit while multiplying); the one
 * rounding to whole minor units is the net's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pricing.h"
#include "tz.h"
#include "util.h"

#define DAY_S 86400
#define MIN_MS 60000

typedef __int128 i128;

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* n / d rounded half-up, for n >= 0, d > 0 */
static i128 div_half_up(i128 n, i128 d)
{
    return (n + d / 2) / d;
}

/* ---------------------------------------------------------------- the tariff */

static bool price_ok(int64_t p)
{
    return p >= 0 && p <= PRICING_PRICE_MAX;
}

const char *pricing_check(const struct pricing_tariff *t)
{
    if (!t || (t->n_elements && !t->elements))
        return "no tariff";
    if (t->vat_percent < 0 || t->vat_percent > 100 * PRICING_VAT_SCALE)
        return "vatPercent is not between 0 and 100";
    if ((t->min_price != PRICING_NONE && !price_ok(t->min_price)) ||
        (t->max_price != PRICING_NONE && !price_ok(t->max_price)))
        return "minPrice or maxPrice is negative or too large";
    if (t->min_price != PRICING_NONE && t->max_price != PRICING_NONE && t->min_price > t->max_price)
        return "minPrice is above maxPrice";
    for (size_t i = 0; i < t->n_elements; i++) {
        const struct pricing_element *e = &t->elements[i];
        if (!price_ok(e->energy) || !price_ok(e->time) || !price_ok(e->idle) || !price_ok(e->session_fee))
            return "a price is negative or too large";
        if (e->idle_grace_min < 0 || e->idle_grace_min > 7 * 24 * 60)
            return "idleGraceMinutes is not between 0 and 10080";
        if (e->start_min < -1 || e->start_min > 1439 || e->end_min < -1 || e->end_min > 1440)
            return "startTime or endTime is not a time of day";
        if (e->days > 0x7f)
            return "daysOfWeek has an unknown day";
    }
    return NULL;
}

/* Whether element e holds at local day-of-week dow (0 = Monday) and second of day sod. */
static bool element_holds(const struct pricing_element *e, int dow, int64_t sod)
{
    if (e->days && !(e->days & (1u << dow)))
        return false;
    if (e->start_min < 0 && e->end_min < 0)
        return true;
    int64_t from = e->start_min < 0 ? 0 : e->start_min * 60;
    int64_t to = e->end_min < 0 ? DAY_S : e->end_min * 60;
    if (from < to)
        return sod >= from && sod < to;
    if (from > to) /* across midnight */
        return sod >= from || sod < to;
    return true;
}

#define NO_ELEMENT SIZE_MAX

static size_t element_at(const struct pricing_tariff *t, const struct tz *zone, int64_t at_ms)
{
    int64_t local = tz_utc_to_local(zone, floor_div(at_ms, 1000));
    int64_t day = floor_div(local, DAY_S);
    int dow = (int)(((day + 3) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
    for (size_t i = 0; i < t->n_elements; i++)
        if (element_holds(&t->elements[i], dow, local - day * DAY_S))
            return i;
    return NO_ELEMENT;
}

/* The first whole second after at_ms where the applying element may change. */
static int64_t next_change_ms(const struct pricing_tariff *t, const struct tz *zone, int64_t at_ms)
{
    int64_t s = floor_div(at_ms, 1000);
    int64_t local = tz_utc_to_local(zone, s);
    int64_t sod = local - floor_div(local, DAY_S) * DAY_S;
    int64_t best = s + (DAY_S - sod); /* local midnight */
    for (size_t i = 0; i < t->n_elements; i++) {
        int32_t mins[2] = { t->elements[i].start_min, t->elements[i].end_min };
        for (int k = 0; k < 2; k++) {
            if (mins[k] < 0)
                continue;
            int64_t delta = (int64_t)mins[k] * 60 % DAY_S - sod;
            if (delta <= 0)
                delta += DAY_S;
            if (s + delta < best)
                best = s + delta;
        }
    }
    int64_t tr = tz_next_transition(zone, s);
    if (tr < best)
        best = tr;
    return best * 1000;
}

struct period {
    int64_t from_ms, to_ms;
    size_t element;
};

struct periods {
    struct period *v;
    size_t n, cap;
};

static void periods_cut(struct periods *p, const struct pricing_tariff *t, const struct tz *zone, int64_t from,
                        int64_t to)
{
    for (int64_t at = from; at < to;) {
        int64_t next = next_change_ms(t, zone, at);
        if (next <= at) /* cannot happen; never loop */
            next = at + 1000;
        if (next > to)
            next = to;
        if (p->n == p->cap) {
            p->cap = p->cap ? 2 * p->cap : 16;
            p->v = xrealloc(p->v, p->cap * sizeof *p->v);
        }
        p->v[p->n++] = (struct period){ at, next, element_at(t, zone, at) };
        at = next;
    }
}

/* ---------------------------------------------------------------- the register */

/* The register as a polyline: (start, meter start), the usable samples, (stop, meter stop). */
struct reg {
    struct pricing_sample *pt;
    size_t n;
};

static int sample_cmp(const void *a, const void *b)
{
    const struct pricing_sample *x = a, *y = b;
    if (x->at_ms != y->at_ms)
        return x->at_ms < y->at_ms ? -1 : 1;
    return x->value < y->value ? -1 : x->value > y->value;
}

/* A sorted copy of the samples strictly inside (from, to); caller frees. */
static struct pricing_sample *samples_inside(const struct pricing_sample *v, size_t n, int64_t from, int64_t to,
                                             size_t *out_n)
{
    struct pricing_sample *c = xmalloc((n ? n : 1) * sizeof *c);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].at_ms > from && v[i].at_ms < to)
            c[k++] = v[i];
    qsort(c, k, sizeof *c, sample_cmp);
    *out_n = k;
    return c;
}

static void reg_build(struct reg *r, const struct pricing_session *s, int64_t stop, int64_t meter_stop)
{
    size_t n;
    struct pricing_sample *in = samples_inside(s->energy, s->n_energy, s->start_ms, stop, &n);
    r->pt = xmalloc((n + 2) * sizeof *r->pt);
    r->n = 0;
    r->pt[r->n++] = (struct pricing_sample){ s->start_ms, s->meter_start_wh };
    for (size_t i = 0; i < n; i++)
        if (in[i].value >= r->pt[r->n - 1].value && in[i].value <= meter_stop && in[i].at_ms > r->pt[r->n - 1].at_ms)
            r->pt[r->n++] = in[i];
    r->pt[r->n++] = (struct pricing_sample){ stop, meter_stop };
    free(in);
}

/* The register at at_ms, interpolated and rounded half-up to a Wh. */
static int64_t reg_at(const struct reg *r, int64_t at_ms)
{
    if (at_ms <= r->pt[0].at_ms)
        return r->pt[0].value;
    for (size_t i = 1; i < r->n; i++) {
        const struct pricing_sample *a = &r->pt[i - 1], *b = &r->pt[i];
        if (at_ms <= b->at_ms) {
            if (b->at_ms == a->at_ms)
                return b->value;
            return a->value +
                   (int64_t)div_half_up((i128)(b->value - a->value) * (at_ms - a->at_ms), b->at_ms - a->at_ms);
        }
    }
    return r->pt[r->n - 1].value;
}

/* ---------------------------------------------------------------- charging ended */

static int64_t effective_stop(const struct pricing_session *s)
{
    return s->stop_ms < s->start_ms ? s->start_ms : s->stop_ms;
}

int64_t pricing_charging_ended(const struct pricing_session *s)
{
    int64_t stop = effective_stop(s), ended = stop;
    if (s->status_ended_ms != PRICING_NONE && s->status_ended_ms >= s->start_ms && s->status_ended_ms < ended)
        ended = s->status_ended_ms;
    /* samples at the start and the stop count too: [start, stop] */
    size_t n;
    struct pricing_sample *p = samples_inside(s->power, s->n_power, s->start_ms - 1, stop + 1, &n);
    if (n > 0 && p[n - 1].value <= s->idle_power_w) {
        int64_t last_above = s->start_ms;
        for (size_t i = 0; i < n; i++)
            if (p[i].value > s->idle_power_w)
                last_above = p[i].at_ms;
        if (last_above < ended)
            ended = last_above;
    }
    free(p);
    return ended;
}

/* ---------------------------------------------------------------- lines */

struct lines {
    struct pricing_line *v;
    size_t n, cap;
};

static int64_t unit_price(const struct pricing_tariff *t, size_t element, enum pricing_component c)
{
    if (element == NO_ELEMENT)
        return 0;
    const struct pricing_element *e = &t->elements[element];
    switch (c) {
    case PRICING_ENERGY:
        return e->energy;
    case PRICING_TIME:
        return e->time;
    case PRICING_IDLE:
        return e->idle;
    case PRICING_SESSION_FEE:
        return e->session_fee;
    }
    abort();
}

/* Sets the line's amount from its quantity; false if there is nothing to show. */
static bool line_price(struct pricing_line *l)
{
    i128 amount;
    switch (l->component) {
    case PRICING_ENERGY: /* Wh/1000 x price/10^4 = Wh x price x 10^-7 */
        amount = (i128)l->quantity * l->unit_price;
        break;
    case PRICING_TIME:
    case PRICING_IDLE: /* ms/60000 x price/10^4 = ms x price/60 x 10^-7 */
        amount = div_half_up((i128)l->quantity * l->unit_price, 60);
        break;
    case PRICING_SESSION_FEE:
    default:
        amount = (i128)l->unit_price * (PRICING_AMOUNT_SCALE / PRICING_PRICE_SCALE);
        break;
    }
    if (amount > INT64_MAX / 4)
        amount = INT64_MAX / 4; /* refused by pricing_compute */
    l->amount = (int64_t)amount;
    return l->quantity > 0 && l->amount > 0;
}

/* The quantity of the line's period, then its amount. */
static bool line_finish(struct pricing_line *l, const struct reg *r)
{
    switch (l->component) {
    case PRICING_ENERGY:
        l->quantity = reg_at(r, l->to_ms) - reg_at(r, l->from_ms);
        break;
    case PRICING_TIME:
    case PRICING_IDLE:
        l->quantity = l->to_ms - l->from_ms;
        break;
    case PRICING_SESSION_FEE:
    default:
        l->quantity = 1;
        break;
    }
    return line_price(l);
}

static void lines_push(struct lines *ls, const struct pricing_line *l)
{
    if (ls->n == ls->cap) {
        ls->cap = ls->cap ? 2 * ls->cap : 8;
        ls->v = xrealloc(ls->v, ls->cap * sizeof *ls->v);
    }
    ls->v[ls->n++] = *l;
}

/* The lines of component c over [from, to): periods at one price joined, price 0 left out. */
static void component_lines(struct lines *ls, const struct pricing_tariff *t, const struct periods *ps,
                            enum pricing_component c, int64_t from, int64_t to, const struct reg *r)
{
    struct pricing_line cur;
    bool open = false;
    for (size_t i = 0; i < ps->n; i++) {
        int64_t a = ps->v[i].from_ms > from ? ps->v[i].from_ms : from;
        int64_t b = ps->v[i].to_ms < to ? ps->v[i].to_ms : to;
        if (a >= b)
            continue;
        int64_t price = unit_price(t, ps->v[i].element, c);
        if (open && cur.unit_price == price && cur.to_ms == a) {
            cur.to_ms = b;
            continue;
        }
        if (open && line_finish(&cur, r))
            lines_push(ls, &cur);
        open = price > 0;
        cur = (struct pricing_line){ .component = c, .unit_price = price, .from_ms = a, .to_ms = b,
                                     .element = ps->v[i].element };
    }
    if (open && line_finish(&cur, r))
        lines_push(ls, &cur);
}

const char *pricing_compute(const struct pricing_tariff *t, const struct tz *zone, const struct pricing_session *s,
                            struct pricing_result *out)
{
    memset(out, 0, sizeof *out);
    const char *err = pricing_check(t);
    if (err)
        return err;
    if (!s || (s->n_energy && !s->energy) || (s->n_power && !s->power))
        return "no session";

    int64_t start = s->start_ms, stop = effective_stop(s);
    int64_t meter_stop = s->meter_stop_wh;
    if (s->estimate) { /* the last register sample so far */
        size_t n;
        struct pricing_sample *in = samples_inside(s->energy, s->n_energy, start - 1, stop + 1, &n);
        meter_stop = n ? in[n - 1].value : s->meter_start_wh;
        free(in);
    }
    if (meter_stop < s->meter_start_wh)
        meter_stop = s->meter_start_wh;
    struct reg r;
    reg_build(&r, s, stop, meter_stop);

    struct periods ps = { 0 };
    periods_cut(&ps, t, zone, start, stop);
    struct lines ls = { 0 };

    /* energy: by the samples, or all at the start's price */
    if (r.n > 2) {
        component_lines(&ls, t, &ps, PRICING_ENERGY, start, stop, &r);
    } else {
        size_t e = element_at(t, zone, start);
        struct pricing_line l = { .component = PRICING_ENERGY, .quantity = meter_stop - s->meter_start_wh,
                                  .unit_price = unit_price(t, e, PRICING_ENERGY), .from_ms = start, .to_ms = stop,
                                  .element = e };
        if (line_price(&l))
            lines_push(&ls, &l);
    }

    int64_t ended = pricing_charging_ended(s);
    component_lines(&ls, t, &ps, PRICING_TIME, start, ended, &r);

    size_t e_ended = element_at(t, zone, ended);
    int64_t grace = e_ended == NO_ELEMENT ? 0 : t->elements[e_ended].idle_grace_min;
    component_lines(&ls, t, &ps, PRICING_IDLE, ended + grace * MIN_MS, stop, &r);

    size_t e_start = element_at(t, zone, start);
    struct pricing_line fee = { .component = PRICING_SESSION_FEE,
                                .unit_price = unit_price(t, e_start, PRICING_SESSION_FEE),
                                .from_ms = start,
                                .to_ms = start,
                                .element = e_start };
    if (line_finish(&fee, &r))
        lines_push(&ls, &fee);

    i128 subtotal = 0;
    for (size_t i = 0; i < ls.n; i++)
        subtotal += ls.v[i].amount;
    free(ps.v);
    free(r.pt);
    if (subtotal > INT64_MAX / 4) {
        free(ls.v);
        return "the amounts are beyond what pricing can hold";
    }

    i128 scale = PRICING_AMOUNT_SCALE / PRICING_PRICE_SCALE, net = subtotal;
    out->clamp = PRICING_CLAMP_NONE;
    if (t->min_price != PRICING_NONE && net < (i128)t->min_price * scale) {
        net = (i128)t->min_price * scale;
        out->clamp = PRICING_CLAMP_MIN;
    }
    if (t->max_price != PRICING_NONE && net > (i128)t->max_price * scale) {
        net = (i128)t->max_price * scale;
        out->clamp = PRICING_CLAMP_MAX;
    }
    out->lines = ls.v;
    out->n_lines = ls.n;
    out->subtotal = (int64_t)subtotal;
    out->net = (int64_t)div_half_up(net, PRICING_AMOUNT_SCALE);
    out->vat = (int64_t)div_half_up((i128)out->net * t->vat_percent, 100 * PRICING_VAT_SCALE);
    out->gross = out->net + out->vat;
    out->energy_wh = meter_stop - s->meter_start_wh;
    out->charging_ended_ms = ended;
    out->final = !s->estimate;
    return NULL;
}

void pricing_result_free(struct pricing_result *r)
{
    if (!r)
        return;
    free(r->lines);
    r->lines = NULL;
    r->n_lines = 0;
}

/* ---------------------------------------------------------------- slots */

static int64_t overlap(int64_t a, int64_t b, int64_t from, int64_t to)
{
    int64_t x = a > from ? a : from, y = b < to ? b : to;
    return y > x ? y - x : 0;
}

const char *pricing_split_slots(const struct pricing_session *s, int64_t slot_ms, size_t max_slots,
                                struct pricing_split *out)
{
    memset(out, 0, sizeof *out);
    if (!s || (s->n_energy && !s->energy) || (s->n_power && !s->power))
        return "no session";
    if (slot_ms <= 0)
        return "no slot length";
    int64_t start = s->start_ms, stop = effective_stop(s);
    int64_t slot0 = floor_div(start, slot_ms) * slot_ms;
    int64_t last = stop > start ? floor_div(stop - 1, slot_ms) * slot_ms : slot0; /* the slot holding the stop */
    if ((uint64_t)(last - slot0) / (uint64_t)slot_ms + 1 > max_slots)
        return "the session is too long to split";
    size_t n = (size_t)((last - slot0) / slot_ms) + 1;

    int64_t meter_stop = s->meter_stop_wh;
    if (s->estimate) {
        size_t k;
        struct pricing_sample *in = samples_inside(s->energy, s->n_energy, start - 1, stop + 1, &k);
        meter_stop = k ? in[k - 1].value : s->meter_start_wh;
        free(in);
    }
    if (meter_stop < s->meter_start_wh)
        meter_stop = s->meter_start_wh;
    struct reg r;
    reg_build(&r, s, stop, meter_stop);
    int64_t ended = pricing_charging_ended(s);

    out->slots = xcalloc(n, sizeof *out->slots);
    for (size_t k = 0; k < n; k++) {
        int64_t a = slot0 + (int64_t)k * slot_ms, b = a + slot_ms;
        struct pricing_slot *sl = &out->slots[k];
        if (r.n > 2) {
            int64_t x = a > start ? a : start, y = b < stop ? b : stop;
            if (y > x)
                sl->energy_wh = reg_at(&r, y) - reg_at(&r, x);
        }
        sl->charging_ms = overlap(a, b, start, ended);
        sl->idle_ms = overlap(a, b, ended, stop);
    }
    if (r.n <= 2)
        out->slots[0].energy_wh = meter_stop - s->meter_start_wh;
    free(r.pt);
    out->slot0_ms = slot0;
    out->n_slots = n;
    out->energy_wh = meter_stop - s->meter_start_wh;
    out->charging_ended_ms = ended;
    return NULL;
}

void pricing_split_free(struct pricing_split *sp)
{
    if (!sp)
        return;
    free(sp->slots);
    sp->slots = NULL;
    sp->n_slots = 0;
}

/* ---------------------------------------------------------------- names and numbers */

const char *pricing_component_name(enum pricing_component c)
{
    static const char *const names[] = { "energy", "time", "idle", "sessionFee" };
    return (unsigned)c < 4 ? names[c] : "?";
}

const char *pricing_unit_name(enum pricing_component c)
{
    static const char *const names[] = { "kWh", "min", "min", "session" };
    return (unsigned)c < 4 ? names[c] : "?";
}

bool pricing_decimal_from_double(double v, int64_t scale, int64_t max, int64_t *out)
{
    if (!(v >= 0) || v * (double)scale > (double)max + 0.5)
        return false;
    double x = v * (double)scale;
    int64_t n = (int64_t)(x + 0.5);
    double err = x - (double)n;
    if (err > 1e-6 * (x > 1 ? x : 1) || err < -1e-6 * (x > 1 ? x : 1))
        return false;
    *out = n;
    return true;
}

size_t pricing_format_decimal(int64_t v, int64_t scale, char *buf, size_t cap)
{
    if (!cap)
        return 0;
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uint64_t sc = scale > 0 ? (uint64_t)scale : 1;
    int digits = 0;
    for (uint64_t x = sc; x > 1; x /= 10)
        digits++;
    uint64_t ip = a / sc, fp = a % sc;
    char frac[24] = "";
    if (fp) { /* digits of fp, leading zeros kept, trailing ones dropped */
        frac[0] = '.';
        for (int i = digits; i >= 1; i--, fp /= 10)
            frac[i] = (char)('0' + fp % 10);
        int n = digits;
        while (n > 1 && frac[n] == '0')
            n--;
        frac[n + 1] = '\0';
    }
    int n = snprintf(buf, cap, "%s%llu%s", v < 0 ? "-" : "", (unsigned long long)ip, frac);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

size_t pricing_format_quantity(const struct pricing_line *l, char *buf, size_t cap)
{
    switch (l->component) {
    case PRICING_ENERGY:
        return pricing_format_decimal(l->quantity, 1000, buf, cap);
    case PRICING_TIME:
    case PRICING_IDLE: /* ms -> thousandths of a minute, half-up */
        return pricing_format_decimal((int64_t)div_half_up(l->quantity, 60), 1000, buf, cap);
    case PRICING_SESSION_FEE:
    default:
        return pricing_format_decimal(l->quantity, 1, buf, cap);
    }
}

bool pricing_parse_hhmm(const char *s, bool allow_24, int32_t *minutes)
{
    if (!s || strlen(s) != 5 || s[2] != ':')
        return false;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9'))
            return false;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && (m != 0 || !allow_24)))
        return false;
    *minutes = h * 60 + m;
    return true;
}

unsigned pricing_day_from_name(const char *name)
{
    static const char *const days[] = { "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY" };
    for (unsigned i = 0; name && i < 7; i++)
        if (strcmp(name, days[i]) == 0)
            return 1u << i;
    return 0;
}
