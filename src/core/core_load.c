/*
 * The load manager (docs/load-management.md): it keeps the sum of what the
 * chargers of a balanced site may draw under the site's limit, and shares
 * the limit among its sessions with OCPP Smart Charging.
 *
 * The unit is a point: one connector of one charger of the site. What a
 * point may draw is what its charger holds there: the TxProfile of its
 * transaction if one was accepted, else its TxDefaultProfile. Each point
 * keeps, per purpose (default, tx), the value the charger accepted (or
 * LOAD_UNKNOWN: none this decider knows of, counted as the charger's full
 * current), the value wanted, and the one in flight. The accounting of a
 * point (point_eff) is the most it can draw now or right after a profile in
 * flight is applied; increases count from the moment they are sent,
 * reductions only once accepted. The allocation (load_alloc.h, a pure
 * function) decides the wanted values; site_apply sends every reduction at
 * once and an increase only when the site's accounted total has room for
 * it, so that the total never exceeds the limit at any instant, whichever
 * order the chargers answer in.
 *
 * A session's connector holds default 0 while the session runs: its
 * TxProfile says what it may draw, and when the session stops the
 * connector falls back to nothing rather than to an old default.
 *
 * Several gateways: one decides a site at a time. The claim (a PostgreSQL
 * advisory lock per site, held by the OCPP store's connection) is asked for
 * when a charger of a balanced site is first seen here and again every
 * load.interval; the node that does not hold it leaves the site alone.
 * Chargers of the site that another node holds are counted at their full
 * current (they cannot be reached from here).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "load_alloc.h"
#include "metrics.h"
#include "util.h"

#define PROFILE_ID_TX_DEFAULT 2000      /* + connector id */
#define PROFILE_ID_TX 3000              /* + connector id */
#define HYSTERESIS_DA 5                 /* no change under 0.5 A */

enum { P_DEF, P_TX, P_N };

struct lsend {
    int32_t acc;                        /* accepted; LOAD_UNKNOWN: none known */
    int32_t want;                       /* wanted; LOAD_UNKNOWN: nothing */
    int32_t flying;                     /* in flight; LOAD_UNKNOWN: none */
    uint64_t ticket;                    /* the one in flight */
    bool failed;                        /* refused or unanswered: not sent again before the next round */
    bool stale;                         /* the charger came back: acc kept, but sent again */
};

struct lpoint {
    struct lpoint *next;
    char charger_id[OCPP_CHARGER_ID_MAX + 1];
    int connector;
    int64_t session_id;                 /* 0: idle */
    int32_t tx_id;
    int64_t start_ms;
    int32_t priority;
    int32_t measured;                   /* LOAD_UNKNOWN */
    int32_t low;                        /* consecutive samples clearly below the allocation */
    bool paused;
    int64_t since_ms;                   /* when its allocation last changed */
    int64_t gone_ms;                    /* its charger is not connected here since (0: connected) */
    struct lsend s[P_N];
};

enum claim { CLAIM_NONE, CLAIM_ASKED, CLAIM_MINE, CLAIM_OTHER };

struct lsite {
    char id[CORE_SITE_ID_MAX + 1];
    struct lpoint *points;
    size_t n_points;
    enum claim claim;
    int64_t claim_ms;                   /* when the claim was last asked for */
    int32_t remote_da;                  /* chargers of the site another node holds, at full current */
    int64_t next_round_ms;
    int64_t updated_ms;
    bool changed;                       /* allocations changed since the state was last written */
    int64_t unsettled_us;               /* mono time of the first round whose profiles are not all
                                           accepted yet (0: settled) */
    int sends;                          /* profiles sent since then */
    int64_t write_ms;                   /* state write due at the next tick (0: none) */
    bool writing;                       /* a state write is with the store */
    bool write_again;                   /* something it does not show changed meanwhile */
};

struct load_mgr {
    struct hmap *sites;                 /* site id -> struct lsite */
    uint64_t next_ticket;
};

struct ticket {
    struct core *c;
    char site[CORE_SITE_ID_MAX + 1];
    char charger[OCPP_CHARGER_ID_MAX + 1];
    int connector;
    int purpose;
    int32_t value;
    uint64_t id;
};

static int32_t max32(int32_t a, int32_t b)
{
    return a > b ? a : b;
}

/* ---- sites and points ---- */

static struct lsite *site_get(struct core *c, const char *id)
{
    return c->load ? hmap_get_str(c->load->sites, id) : NULL;
}

static struct lsite *site_ensure(struct core *c, const char *id)
{
    struct lsite *s = site_get(c, id);
    if (s)
        return s;
    s = xcalloc(1, sizeof *s);
    str_copy(s->id, sizeof s->id, id);
    hmap_put_str(c->load->sites, s->id, s);
    return s;
}

static struct lpoint *point_find(struct lsite *s, const char *charger_id, int connector)
{
    for (struct lpoint *p = s->points; p; p = p->next)
        if (p->connector == connector && strcmp(p->charger_id, charger_id) == 0)
            return p;
    return NULL;
}

static struct lpoint *point_ensure(struct core *c, struct lsite *s, const char *charger_id, int connector)
{
    struct lpoint *p = point_find(s, charger_id, connector);
    if (p)
        return p;
    p = xcalloc(1, sizeof *p);
    str_copy(p->charger_id, sizeof p->charger_id, charger_id);
    p->connector = connector;
    p->measured = LOAD_UNKNOWN;
    p->since_ms = core_now(c);
    for (int k = 0; k < P_N; k++)
        p->s[k] = (struct lsend){ .acc = LOAD_UNKNOWN, .want = LOAD_UNKNOWN, .flying = LOAD_UNKNOWN };
    p->next = s->points;
    s->points = p;
    s->n_points++;
    return p;
}

static void point_remove(struct lsite *s, struct lpoint *gone)
{
    for (struct lpoint **pp = &s->points; *pp; pp = &(*pp)->next)
        if (*pp == gone) {
            *pp = gone->next;
            s->n_points--;
            free(gone);
            return;
        }
}

/* The site of a charger's points when its site balances load, else NULL. */
static struct lsite *balanced_site_of(struct core *c, const struct core_charger *ch,
                                      struct core_load_site_cfg *cfg)
{
    const char *site_id = core_charger_site_id(ch);
    if (!site_id || !site_id[0] || !core_site_load_cfg(c, site_id, cfg) || !cfg->enabled)
        return NULL;
    return site_ensure(c, site_id);
}

/* ---- accounting ---- */

/* What one purpose lets the charger draw: accepted (else unknown), raised by an increase in flight. */
static int32_t send_eff(const struct lsend *x, int32_t unknown)
{
    int32_t v = x->acc == LOAD_UNKNOWN ? unknown : x->acc;
    if (x->flying != LOAD_UNKNOWN && x->flying > v)
        v = x->flying;
    return v;
}

/* The most the point can draw now or once what is in flight applies. */
static int32_t point_eff(const struct lpoint *p, int32_t cap)
{
    int32_t def = send_eff(&p->s[P_DEF], cap);
    if (!p->session_id)
        return def;
    /* without an accepted TxProfile the transaction runs on the default */
    int32_t tx = send_eff(&p->s[P_TX], def);
    return max32(tx, def);
}

static int32_t charger_cap(struct core *c, const char *charger_id)
{
    struct core_charger *ch = hmap_get_str(c->chargers, charger_id);
    return core_charger_cap_da(c, ch);
}

static int32_t site_total(struct core *c, const struct lsite *s)
{
    int64_t total = s->remote_da;
    for (const struct lpoint *p = s->points; p; p = p->next)
        total += point_eff(p, charger_cap(c, p->charger_id));
    return total > INT32_MAX ? INT32_MAX : (int32_t)total;
}

/* ---- sending ---- */

static int64_t mono_us(struct core *c)
{
    return c->io.mono_us ? c->io.mono_us(c->io.ctx) : core_now(c) * 1000;
}


static void on_profile_done(void *user, const struct core_command_view *v);

static bool point_connected(struct core *c, const struct lpoint *p)
{
    struct core_charger *ch = hmap_get_str(c->chargers, p->charger_id);
    return ch && ch->conn;
}

/* Sends purpose k's wanted value to the point's charger. */
static bool send_profile(struct core *c, struct lsite *s, struct lpoint *p, int k)
{
    struct ocpp_profile_spec spec = {
        .connector_id = p->connector,
        .stack_level = c->cfg.load_stack_level,
        .limit_da = p->s[k].want,
    };
    if (k == P_TX) {
        spec.purpose = OCPP_PROFILE_TX;
        spec.profile_id = PROFILE_ID_TX + p->connector;
        spec.transaction_id = p->tx_id;
    } else {
        spec.purpose = OCPP_PROFILE_TX_DEFAULT;
        spec.profile_id = PROFILE_ID_TX_DEFAULT + p->connector;
    }
    char payload[512];
    if (ocpp_profile_payload(payload, sizeof payload, &spec) < 0)
        return false;
    struct ticket *t = xcalloc(1, sizeof *t);
    str_copy(t->site, sizeof t->site, s->id);
    str_copy(t->charger, sizeof t->charger, p->charger_id);
    t->connector = p->connector;
    t->purpose = k;
    t->value = p->s[k].want;
    t->id = ++c->load->next_ticket;
    t->c = c;
    struct core_command_req req = {
        .charger_id = p->charger_id, .action = OCPP_ACTION_SET_CHARGING_PROFILE,
        .payload_json = payload, .origin = CORE_CMD_ORIGIN_LOAD,
    };
    char id[CORE_CMD_ID_LEN + 1];
    enum core_call_err err = core_command_submit(c, &req, on_profile_done, t, id, NULL);
    if (err != CORE_CALL_OK) {
        free(t);
        return false;
    }
    p->s[k].flying = t->value;
    p->s[k].ticket = t->id;
    p->s[k].stale = false;
    if (!s->unsettled_us)
        s->unsettled_us = mono_us(c);
    s->sends++;
    return true;
}

/*
 * The point leaves load management (its site no longer balances, or its
 * charger moved): the profiles the manager set there are cleared, so that
 * no connector is left held at what the last allocation gave it (0 A for a
 * paused session or a full site's idle connector).
 */
static void release_point(struct core *c, const struct lpoint *p)
{
    if (!point_connected(c, p))
        return;                     /* offline: a charger that comes back elsewhere gets new ones */
    for (int k = 0; k < P_N; k++) {
        const struct lsend *x = &p->s[k];
        if (x->acc == LOAD_UNKNOWN && x->flying == LOAD_UNKNOWN)
            continue;               /* nothing of ours is there */
        char payload[64];
        if (ocpp_clear_profile_payload(payload, sizeof payload,
                                       (k == P_TX ? PROFILE_ID_TX : PROFILE_ID_TX_DEFAULT) + p->connector) < 0)
            continue;
        struct core_command_req req = {
            .charger_id = p->charger_id, .action = OCPP_ACTION_CLEAR_CHARGING_PROFILE,
            .payload_json = payload, .origin = CORE_CMD_ORIGIN_LOAD,
        };
        char id[CORE_CMD_ID_LEN + 1];
        if (core_command_submit(c, &req, NULL, NULL, id, NULL) != CORE_CALL_OK)
            log_warn(p->charger_id, "load: connector %d keeps its profile %d (cannot queue the clear)",
                     p->connector, (k == P_TX ? PROFILE_ID_TX : PROFILE_ID_TX_DEFAULT) + p->connector);
    }
}

/* Whether purpose k of the point has something to send. */
static bool wants_send(const struct lpoint *p, int k)
{
    const struct lsend *x = &p->s[k];
    if (x->want == LOAD_UNKNOWN || x->flying != LOAD_UNKNOWN || x->failed)
        return false;
    if (k == P_TX && (!p->session_id || p->tx_id <= 0))
        return false;
    return x->acc != x->want || x->stale;
}

/*
 * Whether every profile the allocation wants is in force (accepted, or
 * given up on until the next round). The first round that leaves the site
 * unsettled starts the clock; settling logs how long it took and how many
 * profiles it sent: the figure of the load benchmark (docs/benchmarks.md).
 */
static void check_settled(struct core *c, struct lsite *s)
{
    for (struct lpoint *p = s->points; p; p = p->next) {
        if (p->gone_ms || !point_connected(c, p))
            continue;
        for (int k = 0; k < P_N; k++) {
            const struct lsend *x = &p->s[k];
            if (x->flying != LOAD_UNKNOWN)
                return;
            if (k == P_TX && (!p->session_id || p->tx_id <= 0))
                continue;
            if (x->want != LOAD_UNKNOWN && x->acc != x->want && !x->failed) {
                if (!s->unsettled_us)
                    s->unsettled_us = mono_us(c);
                return;
            }
        }
    }
    if (s->unsettled_us && s->sends) {
        int64_t us = mono_us(c) - s->unsettled_us;
        log_info(NULL, "load: site %s settled: %d profile%s sent and answered in %" PRId64 ".%03" PRId64 " ms",
                 s->id, s->sends, s->sends == 1 ? "" : "s", us / 1000, us % 1000);
    }
    s->unsettled_us = 0;
    s->sends = 0;
}

/*
 * Sends what the allocation wants, keeping the invariant: a change that
 * does not raise the site's accounted total goes at once; one that raises
 * it goes only when the total stays within the limit.
 */
static void site_apply(struct core *c, struct lsite *s, int32_t limit)
{
    int32_t total = site_total(c, s);
    for (int pass = 0; pass < 2; pass++) {
        for (struct lpoint *p = s->points; p; p = p->next) {
            if (p->gone_ms || !point_connected(c, p))
                continue;
            int32_t cap = charger_cap(c, p->charger_id);
            for (int k = 0; k < P_N; k++) {
                if (!wants_send(p, k))
                    continue;
                int32_t before = point_eff(p, cap);
                p->s[k].flying = p->s[k].want;          /* as if sent */
                int32_t after = point_eff(p, cap);
                p->s[k].flying = LOAD_UNKNOWN;
                int32_t delta = after - before;
                if (pass == 0 && delta > 0)
                    continue;                           /* increases in the second pass */
                if (pass == 1 && (delta <= 0 || (int64_t)total + delta > limit))
                    continue;
                if (send_profile(c, s, p, k))
                    total += delta > 0 ? delta : 0;
            }
        }
    }
    check_settled(c, s);
}

/* ---- the allocation table ---- */

/* Writes the site's table (site_load) and, when allocations changed, its load.allocation_changed. */
static void write_state(struct core *c, struct lsite *s)
{
    struct core_load_site_cfg cfg;
    bool balanced = core_site_load_cfg(c, s->id, &cfg) && cfg.enabled;
    if (s->claim != CLAIM_MINE)
        return;
    struct store_job *job = store_job_new(STORE_OP_LOAD_STATE);
    struct store_load_state *st = &job->in.load_state;
    str_copy(st->site_id, sizeof st->site_id, s->id);
    st->limit_da = balanced ? cfg.limit_da : -1;
    str_copy(st->strategy, sizeof st->strategy, !balanced ? "" : cfg.strategy == LOAD_STRATEGY_PRIORITY ? "priority" : "equal");
    st->at_ms = s->updated_ms ? s->updated_ms : core_now(c);
    st->changed = s->changed;
    st->rows = xcalloc(s->n_points + 1, sizeof *st->rows);
    for (const struct lpoint *p = s->points; p; p = p->next) {
        if (!p->session_id)
            continue;
        struct store_load_row *r = &st->rows[st->n++];
        str_copy(r->charger_id, sizeof r->charger_id, p->charger_id);
        r->session_id = p->session_id;
        r->connector_id = p->connector;
        r->alloc_da = p->s[P_TX].want;
        r->accepted_da = p->s[P_TX].acc != LOAD_UNKNOWN ? p->s[P_TX].acc : p->s[P_DEF].acc;
        r->measured_da = p->measured;
        r->since_ms = p->since_ms;
    }
    s->changed = false;
    s->writing = true;
    s->write_again = false;
    core_submit(c, job);
}

/* ---- the allocation ---- */

/*
 * The site's table is to be written again. An allocation or an acceptance
 * (urgent) goes at once unless a write is with the store, then right after
 * it; a measured draw waits for the next tick (at most one write a second
 * for a site whose sessions only report MeterValues).
 */
static void site_state_due(struct core *c, struct lsite *s, bool urgent)
{
    if (urgent && !s->writing) {
        s->write_ms = 0;
        write_state(c, s);
    } else if (urgent) {
        s->write_again = true;
    } else if (!s->write_ms) {
        s->write_ms = core_now(c);
    }
}

static void site_round(struct core *c, struct lsite *s)
{
    struct core_load_site_cfg cfg;
    if (s->claim != CLAIM_MINE || !core_site_load_cfg(c, s->id, &cfg) || !cfg.enabled)
        return;
    int64_t now = core_now(c);
    /* what the allocation cannot move: other nodes' chargers, points that refused, points gone */
    int64_t reserved = s->remote_da;
    size_t n = 0, m = 0;
    for (struct lpoint *p = s->points; p; p = p->next) {
        bool fixed = p->gone_ms || !point_connected(c, p) || p->s[P_DEF].failed || p->s[P_TX].failed;
        if (fixed)
            reserved += point_eff(p, charger_cap(c, p->charger_id));
        else if (p->session_id)
            n++;
        else
            m++;
    }
    struct load_session *ss = xcalloc(n + 1, sizeof *ss);
    struct load_idle *ii = xcalloc(m + 1, sizeof *ii);
    struct lpoint **sp = xcalloc(n + 1, sizeof *sp), **ip = xcalloc(m + 1, sizeof *ip);
    size_t a = 0, b = 0;
    for (struct lpoint *p = s->points; p; p = p->next) {
        if (p->gone_ms || !point_connected(c, p) || p->s[P_DEF].failed || p->s[P_TX].failed)
            continue;
        int32_t cap = charger_cap(c, p->charger_id);
        if (p->session_id) {
            sp[a] = p;
            ss[a++] = (struct load_session){
                .id = (uint64_t)p->session_id, .start_ms = p->start_ms, .priority = p->priority,
                .cap_da = cap, .measured_da = p->measured, .low_samples = p->low,
                .prev_da = p->s[P_TX].want,
            };
        } else {
            ip[b] = p;
            ii[b++] = (struct load_idle){ .id = (uint64_t)(uintptr_t)p, .cap_da = cap, .prev_da = p->s[P_DEF].want };
        }
    }
    int64_t limit = cfg.limit_da - reserved;
    struct load_params lp = {
        .limit_da = limit < 0 ? 0 : (int32_t)limit,
        .strategy = cfg.strategy,
        .min_da = cfg.min_da,
        .margin_da = c->cfg.load_margin_da,
        .hysteresis_da = HYSTERESIS_DA,
        .redistribute = cfg.redistribute,
    };
    load_allocate(&lp, ss, n, ii, m);
    for (size_t i = 0; i < n; i++) {
        struct lpoint *p = sp[i];
        if (p->s[P_TX].want != ss[i].alloc_da || p->paused != ss[i].paused) {
            p->s[P_TX].want = ss[i].alloc_da;
            p->paused = ss[i].paused;
            p->since_ms = now;
            s->changed = true;
        }
        p->s[P_DEF].want = 0;
    }
    for (size_t i = 0; i < m; i++) {
        struct lpoint *p = ip[i];
        if (p->s[P_DEF].want != ii[i].default_da) {
            p->s[P_DEF].want = ii[i].default_da;
            p->since_ms = now;
        }
    }
    free(ss);
    free(ii);
    free(sp);
    free(ip);
    s->updated_ms = now;
    site_apply(c, s, cfg.limit_da);
    if (s->changed)
        site_state_due(c, s, true);
}

/* ---- the claim ---- */

static void ask_claim(struct core *c, struct lsite *s)
{
    if (s->claim == CLAIM_ASKED)
        return;
    struct store_job *job = store_job_new(STORE_OP_LOAD_CLAIM);
    str_copy(job->in.load_claim.site_id, sizeof job->in.load_claim.site_id, s->id);
    s->claim = s->claim == CLAIM_MINE ? CLAIM_MINE : CLAIM_ASKED;
    s->claim_ms = core_now(c);
    core_submit(c, job);
}

static int64_t parse_i64(const char *v)
{
    return v ? strtoll(v, NULL, 10) : 0;
}

/*
 * The claim's answer: whether this node decides the site, and if so the
 * site's active sessions and the chargers another node holds (docs: the
 * columns of ocppgw_load_claim in sql/022_load.sql).
 */
void core_load_db_result(struct core *c, const struct store_job *job)
{
    if (job->op == STORE_OP_LOAD_STATE) {
        struct lsite *w = site_get(c, job->in.load_state.site_id);
        if (!w)
            return;
        w->writing = false;
        if (job->status != STORE_OK && !w->write_ms)
            w->write_ms = core_now(c) + 1000;   /* tried again in a second */
        if (w->write_again)
            site_state_due(c, w, true);
        return;
    }
    struct lsite *s = site_get(c, job->in.load_claim.site_id);
    if (!s)
        return;
    if (job->status != STORE_OK) {
        if (s->claim == CLAIM_ASKED)
            s->claim = CLAIM_NONE;  /* asked again at the next tick */
        return;
    }
    int nf = job->out.sql.nfields;
    char **v = job->out.sql.values;
    bool mine = false;
    int32_t remote = 0;
    for (int r = 0; r < job->out.sql.ntuples; r++) {
        char **row = v + (size_t)r * (size_t)nf;
        const char *kind = row[0] ? row[0] : "";
        if (strcmp(kind, "claimed") == 0) {
            mine = true;
        } else if (strcmp(kind, "remote") == 0 && row[2]) {
            remote += charger_cap(c, row[2]);
        } else if (strcmp(kind, "session") == 0 && row[2] && row[3]) {
            struct lpoint *p = point_ensure(c, s, row[2], (int)parse_i64(row[3]));
            if (!p->session_id) {
                p->session_id = parse_i64(row[1]);
                p->tx_id = (int32_t)parse_i64(row[4]);
                p->start_ms = parse_i64(row[5]);
                p->priority = (int32_t)parse_i64(row[6]);
                if (!point_connected(c, p))
                    p->gone_ms = core_now(c);
            }
        }
    }
    bool was_mine = s->claim == CLAIM_MINE;
    s->claim = mine ? CLAIM_MINE : CLAIM_OTHER;
    s->remote_da = remote;
    if (mine && !was_mine)
        log_info(NULL, "load: this node now decides site %s", s->id);
    else if (!mine && was_mine)
        log_warn(NULL, "load: site %s is decided by another node now", s->id);
    site_round(c, s);
}

/* ---- what the core tells the manager ---- */

static void on_profile_done(void *user, const struct core_command_view *v)
{
    struct ticket *t = user;
    struct core *c = t->c;
    struct lsite *s = c->load && !c->freeing ? site_get(c, t->site) : NULL;
    struct lpoint *p = s ? point_find(s, t->charger, t->connector) : NULL;
    if (!p || p->s[t->purpose].ticket != t->id || v->outcome == CORE_CMD_CANCELLED) {
        if (p && p->s[t->purpose].ticket == t->id)
            p->s[t->purpose].flying = LOAD_UNKNOWN;
        free(t);
        return;
    }
    struct lsend *x = &p->s[t->purpose];
    x->flying = LOAD_UNKNOWN;
    const char *why = NULL;
    if (v->outcome == CORE_CMD_ANSWERED && v->status && strcmp(v->status, "Accepted") == 0) {
        x->acc = t->value;
        x->failed = false;
        metrics_load_profile(METRICS_LOAD_ACCEPTED);
    } else if (v->outcome == CORE_CMD_ANSWERED || v->outcome == CORE_CMD_CALL_ERROR ||
               v->outcome == CORE_CMD_INVALID_ANSWER) {
        why = v->outcome == CORE_CMD_ANSWERED ? (v->status ? v->status : "Rejected")
                                              : core_cmd_outcome_name(v->outcome);
        metrics_load_profile(METRICS_LOAD_REJECTED);
    } else if (v->sent) {
        /* timeout, or gone with the CALL out: it may be in force; an increase counts from now */
        why = core_cmd_outcome_name(v->outcome);
        if (x->acc != LOAD_UNKNOWN && t->value > x->acc)
            x->acc = t->value;
        metrics_load_profile(METRICS_LOAD_UNANSWERED);
    }
    /* else it never reached the charger (gone before it was sent): nothing changed */
    if (why) {
        x->failed = true;
        log_warn(t->charger, "load: %s of %d.%d A on connector %d not in force (%s)",
                 t->purpose == P_TX ? "TxProfile" : "TxDefaultProfile", t->value / 10, t->value % 10,
                 t->connector, why);
        struct store_job *job = store_job_new(STORE_OP_LOAD_REJECTED);
        str_copy(job->charger_id, sizeof job->charger_id, t->charger);
        struct store_load_rejected *r = &job->in.load_rejected;
        str_copy(r->site_id, sizeof r->site_id, s->id);
        r->connector_id = t->connector;
        r->limit_da = t->value;
        r->session_id = t->purpose == P_TX ? p->session_id : 0;
        str_copy(r->purpose, sizeof r->purpose, t->purpose == P_TX ? "TxProfile" : "TxDefaultProfile");
        str_copy(r->outcome, sizeof r->outcome, why);
        str_copy(r->command_id, sizeof r->command_id, v->id);
        r->at_ms = core_now(c);
        core_submit(c, job);
    }
    free(t);
    site_state_due(c, s, true);
    if (why) {
        site_round(c, s);           /* the others make up for what this one keeps */
    } else {
        struct core_load_site_cfg cfg;
        if (core_site_load_cfg(c, s->id, &cfg) && cfg.enabled)
            site_apply(c, s, cfg.limit_da);
    }
}

void core_load_session_started(struct core *c, const char *charger_id, int connector_id, int64_t session_id,
                               int32_t tx_id, int64_t start_ms, int32_t priority)
{
    struct core_charger *ch = hmap_get_str(c->chargers, charger_id);
    struct core_load_site_cfg cfg;
    struct lsite *s = ch ? balanced_site_of(c, ch, &cfg) : NULL;
    if (!s)
        return;
    struct lpoint *p = point_ensure(c, s, charger_id, connector_id);
    p->session_id = session_id;
    p->tx_id = tx_id;
    p->start_ms = start_ms;
    p->priority = priority;
    p->measured = LOAD_UNKNOWN;
    p->low = 0;
    p->s[P_TX] = (struct lsend){ .acc = LOAD_UNKNOWN, .want = LOAD_UNKNOWN, .flying = LOAD_UNKNOWN };
    if (s->claim == CLAIM_NONE)
        ask_claim(c, s);
    site_round(c, s);
}

void core_load_session_stopped(struct core *c, const char *charger_id, int32_t tx_id)
{
    struct core_charger *ch = hmap_get_str(c->chargers, charger_id);
    struct core_load_site_cfg cfg;
    struct lsite *s = ch ? balanced_site_of(c, ch, &cfg) : NULL;
    if (!s)
        return;
    for (struct lpoint *p = s->points; p; p = p->next) {
        if (p->tx_id != tx_id || strcmp(p->charger_id, charger_id) != 0 || !p->session_id)
            continue;
        /* the TxProfile ends with the transaction: the connector runs on its default again */
        p->session_id = 0;
        p->tx_id = 0;
        p->paused = false;
        p->measured = LOAD_UNKNOWN;
        p->low = 0;
        p->s[P_TX] = (struct lsend){ .acc = LOAD_UNKNOWN, .want = LOAD_UNKNOWN, .flying = LOAD_UNKNOWN };
        s->changed = true;
        if (p->gone_ms)
            point_remove(s, p);
        break;
    }
    site_round(c, s);
}

/* The measured current of a MeterValues: Current.Import (the largest phase), else power / (V x phases). */
static int32_t measured_da(const struct ocpp_meter_values_req *m, const struct core_load_site_cfg *cfg)
{
    if (!m->n_values)
        return LOAD_UNKNOWN;
    const struct ocpp_meter_value *mv = &m->values[m->n_values - 1];
    double amps = -1, watts = -1;
    for (size_t i = 0; i < mv->n_sampled; i++) {
        const struct ocpp_sampled_value *sv = &mv->sampled[i];
        if (!sv->value || (sv->phase[0] && strncmp(sv->phase, "L", 1) != 0) || strchr(sv->phase, '-'))
            continue;               /* only L1, L2, L3 or no phase (not L1-N, L1-L2, N) */
        double x = strtod(sv->value, NULL);
        if (strcmp(sv->measurand, "Current.Import") == 0) {
            if (strcmp(sv->unit, "A") == 0 || !sv->unit[0])
                amps = x > amps ? x : amps;
        } else if (strcmp(sv->measurand, "Power.Active.Import") == 0 && !sv->phase[0]) {
            watts = strcmp(sv->unit, "kW") == 0 ? x * 1000 : x;
        }
    }
    if (amps < 0 && watts >= 0 && cfg->voltage > 0 && cfg->phases > 0)
        amps = watts / ((double)cfg->voltage * cfg->phases);
    if (amps < 0)
        return LOAD_UNKNOWN;
    return amps > 100000 ? 1000000 : (int32_t)(amps * 10);
}

void core_load_meter_values(struct core *c, const char *charger_id, const struct ocpp_meter_values_req *m)
{
    struct core_charger *ch = hmap_get_str(c->chargers, charger_id);
    struct core_load_site_cfg cfg;
    struct lsite *s = ch ? balanced_site_of(c, ch, &cfg) : NULL;
    struct lpoint *p = s ? point_find(s, charger_id, m->connector_id) : NULL;
    if (!p || !p->session_id)
        return;
    int32_t da = measured_da(m, &cfg);
    if (da == LOAD_UNKNOWN)
        return;
    p->measured = da;
    int32_t was = p->low;
    struct load_params lp = { .min_da = cfg.min_da, .margin_da = c->cfg.load_margin_da,
                              .redistribute = cfg.redistribute };
    int32_t alloc = p->s[P_TX].want;
    if (alloc != LOAD_UNKNOWN && load_draw_is_low(&lp, da, alloc))
        p->low = was + 1;
    else
        p->low = 0;
    site_state_due(c, s, false);
    /* redistribution changes when a session crosses two low samples, or rises back */
    if (cfg.redistribute && ((was < 2 && p->low >= 2) || (was >= 2 && p->low == 0)))
        site_round(c, s);
}

void core_load_connector_seen(struct core *c, struct core_charger *ch, int connector_id)
{
    if (connector_id <= 0)
        return;
    struct core_load_site_cfg cfg;
    struct lsite *s = balanced_site_of(c, ch, &cfg);
    if (!s)
        return;
    struct lpoint *p = point_find(s, ch->id, connector_id);
    if (p && !p->gone_ms)
        return;
    p = point_ensure(c, s, ch->id, connector_id);
    if (p->gone_ms) {
        /* back within the grace: chargers keep their profiles, but they are sent again */
        p->gone_ms = 0;
        for (int k = 0; k < P_N; k++)
            p->s[k].stale = p->s[k].acc != LOAD_UNKNOWN;
    }
    if (s->claim == CLAIM_NONE)
        ask_claim(c, s);
    else
        site_round(c, s);
}

void core_load_charger_offline(struct core *c, struct core_charger *ch)
{
    struct core_load_site_cfg cfg;
    struct lsite *s = balanced_site_of(c, ch, &cfg);
    if (!s)
        return;
    int64_t now = core_now(c);
    for (struct lpoint *p = s->points; p; p = p->next)
        if (strcmp(p->charger_id, ch->id) == 0 && !p->gone_ms)
            p->gone_ms = now;
    /* its allocation stays counted until its sessions end or the grace passes */
}

/* Points for the connectors a connected charger of a balanced site has reported. */
static bool charger_points(struct core *c, struct lsite *s, struct core_charger *ch)
{
    bool added = false;
    if (!ch->conn)
        return false;
    for (int i = 0; i < ch->n_connectors; i++) {
        int k = ch->connectors[i].connector_id;
        if (k <= 0 || point_find(s, ch->id, k))
            continue;
        point_ensure(c, s, ch->id, k);
        added = true;
    }
    return added;
}

struct site_scan {
    struct core *c;
    struct lsite *s;
    bool added;
};

static int scan_charger(void *ctx, const void *key, size_t klen, void *val)
{
    (void)key, (void)klen;
    struct site_scan *x = ctx;
    struct core_charger *ch = val;
    if (strcmp(ch->site_id, x->s->id) == 0 && charger_points(x->c, x->s, ch))
        x->added = true;
    return 0;
}

void core_load_on_site_changed(struct core *c, const char *site_id)
{
    struct core_load_site_cfg cfg;
    struct lsite *s = site_get(c, site_id);
    if (!core_site_load_cfg(c, site_id, &cfg) || !cfg.enabled) {
        if (!s)
            return;
        /* no longer balanced (or gone): its profiles cleared, the site forgotten */
        while (s->points) {
            release_point(c, s->points);
            point_remove(s, s->points);
        }
        s->changed = true;
        write_state(c, s);
        return;
    }
    if (!s) {
        /* balanced now: its chargers connected here become points */
        s = site_ensure(c, site_id);
        struct site_scan x = { c, s, false };
        hmap_foreach(c->chargers, scan_charger, &x);
        if (!s->n_points)
            return;
    }
    if (s->claim == CLAIM_NONE)
        ask_claim(c, s);
    else
        site_round(c, s);
}

struct charger_moved {
    struct core *c;
    struct core_charger *ch;
};

/* The charger's points on a site it is no longer on go, and that site is computed again. */
static int drop_moved(void *ctx, const void *key, size_t klen, void *val)
{
    (void)key, (void)klen;
    struct charger_moved *x = ctx;
    struct lsite *s = val;
    if (strcmp(s->id, x->ch->site_id) == 0)
        return 0;
    bool removed = false;
    for (struct lpoint *p = s->points, *next; p; p = next) {
        next = p->next;
        if (strcmp(p->charger_id, x->ch->id) == 0) {
            release_point(x->c, p);
            point_remove(s, p);
            removed = true;
        }
    }
    if (removed) {
        s->changed = true;
        site_round(x->c, s);
    }
    return 0;
}

void core_load_on_charger_changed(struct core *c, struct core_charger *ch)
{
    if (!c->load)
        return;
    struct charger_moved x = { c, ch };
    hmap_foreach(c->load->sites, drop_moved, &x);
    struct core_load_site_cfg cfg;
    struct lsite *s = balanced_site_of(c, ch, &cfg);
    if (!s)
        return;
    charger_points(c, s, ch);       /* moved here, or its cap changed */
    if (s->claim == CLAIM_NONE)
        ask_claim(c, s);
    else
        site_round(c, s);
}

/* ---- time ---- */

static int expire_site(void *ctx, const void *key, size_t klen, void *val)
{
    (void)key;
    (void)klen;
    struct core *c = ctx;
    struct lsite *s = val;
    int64_t now = core_now(c);
    bool removed = false;
    for (struct lpoint *p = s->points, *next; p; p = next) {
        next = p->next;
        if (p->gone_ms && now - p->gone_ms >= c->cfg.load_disconnect_grace_ms) {
            point_remove(s, p);
            removed = true;
        }
    }
    if (now - s->claim_ms >= c->cfg.load_interval_ms && s->n_points) {
        for (struct lpoint *p = s->points; p; p = p->next)
            for (int k = 0; k < P_N; k++)
                p->s[k].failed = false;         /* tried again in this round */
        ask_claim(c, s);                        /* the round follows its answer */
    } else if (removed) {
        s->changed = true;
        site_round(c, s);
    }
    if (s->write_ms && now >= s->write_ms && !s->writing) {
        s->write_ms = 0;
        write_state(c, s);
    }
    return 0;
}

void core_load_init(struct core *c)
{
    c->load = xcalloc(1, sizeof *c->load);
    c->load->sites = hmap_new();
}

static int free_site_entry(void *ctx, const void *key, size_t klen, void *val)
{
    (void)ctx, (void)key, (void)klen;
    struct lsite *s = val;
    while (s->points)
        point_remove(s, s->points);
    free(s);
    return 1;
}

void core_load_free(struct core *c)
{
    if (!c->load)
        return;
    hmap_foreach(c->load->sites, free_site_entry, NULL);
    hmap_free(c->load->sites);
    free(c->load);
    c->load = NULL;
}

void core_load_expire(struct core *c)
{
    if (c->load)
        hmap_foreach(c->load->sites, expire_site, c);
}

/* ---- /metrics ---- */

struct sites_ctx {
    struct core *c;
    struct core_site_load *out;
    size_t max, n;
};

static int collect_site(void *ctx, const void *key, size_t klen, void *val)
{
    (void)key, (void)klen;
    struct sites_ctx *x = ctx;
    struct lsite *s = val;
    struct core_load_site_cfg cfg;
    if (s->claim != CLAIM_MINE || !core_site_load_cfg(x->c, s->id, &cfg) || !cfg.enabled)
        return 0;
    if (x->n < x->max) {
        struct core_site_load *l = &x->out[x->n];
        *l = (struct core_site_load){ .site_id = s->id, .limit_da = cfg.limit_da,
                                      .accounted_da = site_total(x->c, s), .measured_da = -1 };
        for (const struct lpoint *p = s->points; p; p = p->next) {
            if (!p->session_id)
                continue;
            l->sessions++;
            if (p->s[P_TX].want > 0)
                l->allocated_da += p->s[P_TX].want;
            if (p->measured >= 0)
                l->measured_da = (l->measured_da < 0 ? 0 : l->measured_da) + p->measured;
        }
    }
    x->n++;
    return 0;
}

size_t core_load_sites(struct core *c, struct core_site_load *out, size_t max)
{
    struct sites_ctx x = { .c = c, .out = out, .max = max };
    if (c->load)
        hmap_foreach(c->load->sites, collect_site, &x);
    return x.n;
}
