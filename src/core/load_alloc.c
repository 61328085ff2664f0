/*
 * Load allocation: the pure function of include/load_alloc.h, whose header
 * states the rules. No sorting and no scratch memory: the water level is
 * found by bisection over whole deci-amps (sum of min(demand, level) is
 * monotone in the level), priority groups by repeatedly taking the highest
 * priority below the last one, and "the k earliest" by repeatedly taking
 * the earliest not yet served, marked through the output field paused. All
 * sums are int64: n sessions of up to INT32_MAX each cannot overflow them.
 */
#include "load_alloc.h"

static int32_t clamp0(int32_t v)
{
    return v < 0 ? 0 : v;
}

static int32_t cap_of(int32_t cap_da)
{
    return clamp0(cap_da);
}

/* what the session would take if the site had enough (header: Demand) */
static int32_t demand_of(const struct load_params *p, const struct load_session *s)
{
    int32_t cap = cap_of(s->cap_da);
    if (!p->redistribute || s->low_samples < 2 || s->measured_da < 0)
        return cap;
    int64_t want = (int64_t)s->measured_da + clamp0(p->margin_da);
    int32_t min = clamp0(p->min_da);
    if (want < min)
        want = min;
    return want < cap ? (int32_t)want : cap;
}

/* start_ms, then id, then array position: a strict total order */
static bool earlier(const struct load_session *s, size_t a, size_t b)
{
    if (s[a].start_ms != s[b].start_ms)
        return s[a].start_ms < s[b].start_ms;
    if (s[a].id != s[b].id)
        return s[a].id < s[b].id;
    return a < b;
}

static bool in_group(const struct load_params *p, const struct load_session *x, int32_t prio)
{
    return p->strategy != LOAD_STRATEGY_PRIORITY || x->priority == prio;
}

/* sum over the served sessions of the group of min(demand, level) */
static int64_t fill_at(const struct load_params *p, const struct load_session *s, size_t n,
                       int32_t prio, int32_t level)
{
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (!in_group(p, &s[i], prio) || s[i].paused)
            continue;
        int32_t d = demand_of(p, &s[i]);
        sum += d < level ? d : level;
    }
    return sum;
}

/*
 * Shares budget among the sessions of one group (all of them for strategy
 * equal); returns what it gave, and in *short whether the group could not
 * have all it asked for (a session paused or below its demand).
 */
static int64_t allocate_group(const struct load_params *p, struct load_session *s, size_t n,
                              int32_t prio, int64_t budget, bool *short_)
{
    int32_t min = clamp0(p->min_da);
    size_t eligible = 0;
    for (size_t i = 0; i < n; i++) {
        if (!in_group(p, &s[i], prio))
            continue;
        s[i].alloc_da = 0;
        s[i].paused = true; /* until served */
        if (cap_of(s[i].cap_da) >= min)
            eligible++;
    }
    size_t k = eligible;
    if (min > 0 && (int64_t)eligible * min > budget)
        k = (size_t)(budget / min);
    *short_ = k < eligible;
    /* serve the k earliest eligible: each round, the earliest still paused */
    for (size_t round = 0; round < k; round++) {
        size_t best = n;
        for (size_t i = 0; i < n; i++) {
            if (!in_group(p, &s[i], prio) || !s[i].paused || cap_of(s[i].cap_da) < min)
                continue;
            if (best == n || earlier(s, i, best))
                best = i;
        }
        s[best].paused = false;
    }
    if (k == 0)
        return 0;
    /* the water level: the largest L with sum(min(demand, L)) <= budget */
    int32_t hi = 0;
    for (size_t i = 0; i < n; i++) {
        if (in_group(p, &s[i], prio) && !s[i].paused) {
            int32_t d = demand_of(p, &s[i]);
            if (d > hi)
                hi = d;
        }
    }
    int32_t level;
    if (fill_at(p, s, n, prio, hi) <= budget) {
        level = hi;
    } else {
        int32_t lo = 0; /* fits (budget >= 0) */
        while (hi - lo > 1) {
            int32_t mid = lo + (hi - lo) / 2;
            if (fill_at(p, s, n, prio, mid) <= budget)
                lo = mid;
            else
                hi = mid;
        }
        level = lo;
        *short_ = true;
    }
    int64_t given = 0;
    for (size_t i = 0; i < n; i++) {
        if (!in_group(p, &s[i], prio) || s[i].paused)
            continue;
        int32_t d = demand_of(p, &s[i]);
        s[i].alloc_da = d < level ? d : level;
        given += s[i].alloc_da;
    }
    return given;
}

static int64_t allocate_sessions(const struct load_params *p, struct load_session *s, size_t n)
{
    int64_t budget = p->limit_da;
    bool short_;
    if (p->strategy != LOAD_STRATEGY_PRIORITY)
        return allocate_group(p, s, n, 0, budget, &short_);
    /* groups from the highest priority down */
    bool have_last = false;
    int32_t last = 0;
    int64_t total = 0;
    for (;;) {
        bool found = false;
        int32_t prio = 0;
        for (size_t i = 0; i < n; i++) {
            if (have_last && s[i].priority >= last)
                continue;
            if (!found || s[i].priority > prio) {
                prio = s[i].priority;
                found = true;
            }
        }
        if (!found)
            break;
        int64_t given = allocate_group(p, s, n, prio, budget, &short_);
        total += given;
        /* what a short group leaves is rounding (or less than min_da): not for the groups below */
        budget = short_ ? 0 : budget - given;
        last = prio;
        have_last = true;
    }
    return total;
}

/*
 * Whether hysteresis may keep prev instead of the new value v (header:
 * Hysteresis), the limit aside.
 */
static bool may_keep(const struct load_params *p, int32_t cap_da, int32_t prev, int32_t v)
{
    int32_t hyst = clamp0(p->hysteresis_da);
    if (prev < 0 || prev == v || prev == 0 || v == 0)
        return false;
    int64_t diff = (int64_t)prev - v;
    if (diff < 0)
        diff = -diff;
    return diff < hyst && prev >= clamp0(p->min_da) && prev <= cap_of(cap_da);
}

/* returns the new total */
static int64_t hysteresis_sessions(const struct load_params *p, struct load_session *s, size_t n,
                                   int64_t total)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i].prev_da < s[i].alloc_da && may_keep(p, s[i].cap_da, s[i].prev_da, s[i].alloc_da)) {
            total -= s[i].alloc_da - s[i].prev_da;
            s[i].alloc_da = s[i].prev_da;
        }
    }
    /* higher values, earliest first; `cur` is the last one looked at */
    size_t cur = n;
    for (;;) {
        size_t next = n;
        for (size_t i = 0; i < n; i++) {
            if (!(s[i].prev_da > s[i].alloc_da && may_keep(p, s[i].cap_da, s[i].prev_da, s[i].alloc_da)))
                continue;
            if (cur != n && !earlier(s, cur, i))
                continue;
            if (next == n || earlier(s, i, next))
                next = i;
        }
        if (next == n)
            break;
        int64_t more = s[next].prev_da - s[next].alloc_da;
        if (total + more <= p->limit_da) {
            total += more;
            s[next].alloc_da = s[next].prev_da;
        }
        cur = next;
    }
    return total;
}

/* idle connectors' defaults with their hysteresis; returns the new total */
static int64_t allocate_idle(const struct load_params *p, size_t n, struct load_idle *idle, size_t m,
                             int64_t total)
{
    if (m == 0)
        return total;
    int64_t fair = (int64_t)p->limit_da / ((int64_t)n + 1);
    int64_t part = ((int64_t)p->limit_da - total) / (int64_t)m;
    for (size_t j = 0; j < m; j++) {
        int64_t d = cap_of(idle[j].cap_da);
        if (fair < d)
            d = fair;
        if (part < d)
            d = part;
        if (d < clamp0(p->min_da))
            d = 0;
        idle[j].default_da = (int32_t)d;
        total += d;
    }
    for (size_t j = 0; j < m; j++) {
        if (idle[j].prev_da < idle[j].default_da &&
            may_keep(p, idle[j].cap_da, idle[j].prev_da, idle[j].default_da)) {
            total -= idle[j].default_da - idle[j].prev_da;
            idle[j].default_da = idle[j].prev_da;
        }
    }
    /* higher values in ascending id (then position) */
    size_t cur = m;
    for (;;) {
        size_t next = m;
        for (size_t j = 0; j < m; j++) {
            if (!(idle[j].prev_da > idle[j].default_da &&
                  may_keep(p, idle[j].cap_da, idle[j].prev_da, idle[j].default_da)))
                continue;
            if (cur != m && (idle[j].id < idle[cur].id || (idle[j].id == idle[cur].id && j <= cur)))
                continue;
            if (next == m || idle[j].id < idle[next].id)
                next = j;
        }
        if (next == m)
            break;
        int64_t more = idle[next].prev_da - idle[next].default_da;
        if (total + more <= p->limit_da) {
            total += more;
            idle[next].default_da = idle[next].prev_da;
        }
        cur = next;
    }
    return total;
}

int32_t load_allocate(const struct load_params *p, struct load_session *s, size_t n,
                      struct load_idle *idle, size_t m)
{
    if (p->limit_da <= 0) {
        for (size_t i = 0; i < n; i++) {
            s[i].alloc_da = 0;
            s[i].paused = clamp0(p->min_da) > 0;
        }
        for (size_t j = 0; j < m; j++)
            idle[j].default_da = 0;
        return 0;
    }
    int64_t total = allocate_sessions(p, s, n);
    total = hysteresis_sessions(p, s, n, total);
    total = allocate_idle(p, n, idle, m, total);
    return (int32_t)total;
}

bool load_draw_is_low(const struct load_params *p, int32_t measured_da, int32_t alloc_da)
{
    if (measured_da < 0 || alloc_da <= 0)
        return false;
    int32_t band = clamp0(p->margin_da) / 2 + clamp0(p->margin_da) % 2;
    if (band < 1)
        band = 1;
    return (int64_t)alloc_da - measured_da >= band;
}
