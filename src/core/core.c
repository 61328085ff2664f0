/*
 * The core's registry, admission and connection lifecycle, and its clock.
 *
 * Admission (core_admit) runs in the upgrade callback, before any websocket
 * exists, and only reads: it can never disturb the live connection of the
 * same id. core_conn_open then makes the new connection current, replacing
 * (and closing) any previous one. Connections are known by 64-bit ids that
 * are never reused; results for an id that is gone are dropped.
 *
 * Password checks use the stored PBKDF2 hash; a successful check leaves a
 * SHA-256 of (per-process random key, password) on the charger so that the
 * reconnect storm after a restart of the network costs one hash per charger,
 * not one PBKDF2 each time.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "metrics.h"
#include "secret.h"
#include "util.h"

static const char *const event_names[CORE_EV_COUNT] = {
    [CORE_EV_CHARGER_CONNECTED] = "charger.connected",
    [CORE_EV_CHARGER_DISCONNECTED] = "charger.disconnected",
    [CORE_EV_CHARGER_BOOTED] = "charger.booted",
    [CORE_EV_STATUS_CHANGED] = "connector.status_changed",
    [CORE_EV_SESSION_STARTED] = "session.started",
    [CORE_EV_SESSION_STOPPED] = "session.stopped",
    [CORE_EV_METER_VALUES] = "session.meter_values",
    [CORE_EV_DATA_TRANSFER] = "charger.data_transfer",
    [CORE_EV_FIRMWARE_STATUS] = "charger.firmware_status",
    [CORE_EV_DIAGNOSTICS_STATUS] = "charger.diagnostics_status",
    [CORE_EV_SECURITY] = "charger.security_event",
};

const char *core_event_name(enum core_event_kind k)
{
    return (k >= 0 && k < CORE_EV_COUNT) ? event_names[k] : "unknown";
}

void core_config_defaults(struct core_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->heartbeat_interval_s = 300;
    cfg->call_timeout_ms = 30000;
    cfg->call_queue_max = 16;
    cfg->last_seen_flush_ms = 5000;
    cfg->max_inflight_per_conn = 8;
    cfg->auth_fail_max = 100;
    cfg->auth_fail_window_ms = 60000;
    cfg->auth_block_ms = 60000;
    cfg->auth_fail_max_per_id = 10;
    cfg->auth_fail_window_per_id_ms = 60000;
    cfg->auth_fail_max_per_id_day = 100;
    cfg->remote_start_wait_ms = 10000;
    cfg->load_interval_ms = 60000;
    cfg->load_margin_da = 10;
    cfg->load_stack_level = 1;
    cfg->load_disconnect_grace_ms = 120000;
    cfg->load_charger_max_da = 320;
}

struct core *core_new(const struct core_io *io, const struct core_config *cfg)
{
    struct core *c = xcalloc(1, sizeof *c);
    c->io = *io;
    c->cfg = *cfg;
    if (cfg->data_transfer_vendors)
        c->dt_vendors = xstrdup(cfg->data_transfer_vendors);
    c->cfg.data_transfer_vendors = c->dt_vendors;
    c->chargers = hmap_new();
    c->tombstones = hmap_new();
    c->conns = hmap_new();
    c->throttle = hmap_new();
    c->commands = hmap_new();
    c->sites = hmap_new();
    c->next_conn_id = 1;
    c->io.random(c->io.ctx, c->process_key, sizeof c->process_key);
    c->next_flush_ms = core_now(c) + c->cfg.last_seen_flush_ms;
    core_load_init(c);
    return c;
}

static void pending_free_all(struct core_conn *conn)
{
    while (conn->pending) {
        struct core_pending *p = conn->pending;
        conn->pending = p->next;
        free(p);
    }
    conn->n_pending = 0;
}

static int free_conn_entry(void *ctx, const void *key, size_t klen, void *val)
{
    (void)ctx, (void)key, (void)klen;
    struct core_conn *conn = val;
    pending_free_all(conn);
    free(conn);
    return 1;
}

/* Shutdown: a charger is offline from here on, so a callback cannot queue a new call on it. */
static int detach_charger_entry(void *ctx, const void *key, size_t klen, void *val)
{
    (void)ctx, (void)key, (void)klen;
    struct core_charger *ch = val;
    ch->conn = NULL;
    return 0;
}

static int free_charger_entry(void *ctx, const void *key, size_t klen, void *val)
{
    (void)key, (void)klen;
    core_calls_fail_charger(ctx, val, CORE_CMD_CANCELLED);
    free(((struct core_charger *)val)->connectors);
    free(val);
    return 1;
}

static int free_plain_entry(void *ctx, const void *key, size_t klen, void *val)
{
    (void)ctx, (void)key, (void)klen;
    free(val);
    return 1;
}

void core_free(struct core *c)
{
    if (!c)
        return;
    /*
     * Detach first: the CANCELLED callbacks below may call back into the core
     * (core_command_submit), which must then see every charger offline rather
     * than a connection already freed.
     */
    c->freeing = true;
    hmap_foreach(c->chargers, detach_charger_entry, c);
    c->connected = 0;
    hmap_foreach(c->conns, free_conn_entry, c);
    hmap_foreach(c->chargers, free_charger_entry, c);
    hmap_foreach(c->throttle, free_plain_entry, c);
    core_cmds_free(c);
    core_load_free(c);
    core_sites_free(c);
    hmap_free(c->conns);
    hmap_free(c->chargers);
    hmap_free(c->tombstones);
    hmap_free(c->throttle);
    free(c->dt_vendors);
    free(c);
}

int64_t core_now(struct core *c)
{
    return c->io.now_ms(c->io.ctx);
}

void core_submit(struct core *c, struct store_job *job)
{
    c->jobs_out++;
    c->io.db_submit(c->io.ctx, job);
}

struct store_job *core_job(struct core *c, enum store_op op, const struct core_charger *ch,
                           uint64_t conn_id, const char *msg_id)
{
    struct store_job *job = store_job_new(op);
    job->conn_id = conn_id;
    if (msg_id)
        str_copy(job->msg_id, sizeof job->msg_id, msg_id);
    if (ch)
        str_copy(job->charger_id, sizeof job->charger_id, ch->id);
    job->received_ms = core_now(c);
    return job;
}

void core_emit(struct core *c, enum core_event_kind kind, const char *charger_id,
               int connector_id, int64_t session_id, int32_t transaction_id, const char *status,
               const char *detail)
{
    if (!c->io.emit)
        return;
    struct core_event ev = {
        .kind = kind,
        .charger_id = charger_id,
        .connector_id = connector_id,
        .session_id = session_id,
        .transaction_id = transaction_id,
        .status = status,
        .detail = detail,
        .at_ms = core_now(c),
    };
    c->io.emit(c->io.ctx, &ev);
}

void core_security_event(struct core *c, const char *charger_id, const char *kind,
                         const char *detail)
{
    log_warn_from("security event", charger_id, "security event %s: %s", kind, detail);
    struct store_job *job = store_job_new(STORE_OP_SECURITY_EVENT);
    str_copy(job->charger_id, sizeof job->charger_id, charger_id);
    str_copy(job->in.security_event.kind, sizeof job->in.security_event.kind, kind);
    str_copy(job->in.security_event.detail, sizeof job->in.security_event.detail, detail);
    job->received_ms = core_now(c);
    core_submit(c, job);
    core_emit(c, CORE_EV_SECURITY, charger_id, -1, 0, 0, kind, detail);
}

struct core_conn *core_conn_get(const struct core *c, uint64_t conn_id)
{
    return hmap_get_u64(c->conns, conn_id);
}

/* ---- registry ---- */

static enum ocpp_registration registration_parse(const char *s)
{
    if (strcmp(s, "Rejected") == 0)
        return OCPP_REG_REJECTED;
    if (strcmp(s, "Pending") == 0)
        return OCPP_REG_PENDING;
    return OCPP_REG_ACCEPTED;
}

static void conn_close(struct core *c, struct core_conn *conn, int code, const char *reason);
static void throttle_forget_charger(struct core *c, const char *id);

/* Whether the charger is admitted without any credentials (security profile 0, no key). */
static bool open_door(const struct core_charger *ch)
{
    return ch->security_profile == 0 && ch->auth_hash[0] == '\0';
}

/*
 * Why a row no longer admits the live connection of its charger, or NULL:
 * the connection was admitted under the old credentials (AuthorizationKey,
 * security profile) or registration, so a change to them ends it (1008) and
 * the next connection is checked against the row.
 */
static const char *change_ends_session(const struct core_charger *ch, const struct store_charger *row,
                                       enum ocpp_registration reg)
{
    if (strcmp(ch->auth_hash, row->auth_hash) != 0)
        return "authorization key changed";
    if (ch->security_profile != row->security_profile)
        return "security profile changed";
    if (reg == OCPP_REG_REJECTED && ch->registration != OCPP_REG_REJECTED)
        return "charger disabled";
    return NULL;
}

static void charger_forget(struct core *c, struct core_charger *ch)
{
    if (ch->conn) {
        log_info(ch->id, "charger removed from the database: closing its connection");
        conn_close(c, ch->conn, 1008, "charger removed");
    }
    core_calls_fail_charger(c, ch, CORE_CMD_DISCONNECTED);
    core_power_limit_forget(c, ch);
    if (open_door(ch))
        c->unauthenticated--;
    hmap_del_str(c->chargers, ch->id);
    free(ch->connectors);
    free(ch);
}

/* A new registry entry for id (no site, rated current and power limit unknown), in c->chargers. */
static struct core_charger *charger_new(struct core *c, const char *id)
{
    struct core_charger *ch = xcalloc(1, sizeof *ch);
    str_copy(ch->id, sizeof ch->id, id);
    ch->max_current_da = LOAD_NONE;
    ch->power_limit_da = LOAD_NONE;
    hmap_put_str(c->chargers, ch->id, ch);
    return ch;
}

/* The load management columns of a whole row (row->load_known); true if any changed. */
static bool take_load_fields(struct core_charger *ch, const struct store_charger *row)
{
    if (!row->load_known)
        return false;
    bool changed = strcmp(ch->site_id, row->site_id) != 0 || ch->max_current_da != row->max_current_da ||
                   ch->power_limit_da != row->power_limit_da;
    str_copy(ch->site_id, sizeof ch->site_id, row->site_id);
    ch->max_current_da = row->max_current_da;
    ch->power_limit_da = row->power_limit_da;
    return changed;
}

void core_charger_upsert(struct core *c, const struct store_charger *row)
{
    struct core_charger *ch = hmap_get_str(c->chargers, row->id);
    if (row->deleted) {
        if (ch)
            charger_forget(c, ch);
        hmap_put_str(c->tombstones, row->id, c);
        return;
    }
    hmap_del_str(c->tombstones, row->id);
    if (ch && row->version < ch->version) {
        /* read before a change this process applied already (a REST write's row): older, not applied */
        log_debug(ch->id, "charger row version %lld older than the one held (%lld): not applied",
                  (long long)row->version, (long long)ch->version);
        return;
    }
    enum ocpp_registration reg = registration_parse(row->registration);
    if (!ch) {
        ch = charger_new(c, row->id);
    } else {
        const char *why = ch->conn ? change_ends_session(ch, row, reg) : NULL;
        if (why) {
            log_info(ch->id, "%s: closing its connection", why);
            conn_close(c, ch->conn, 1008, why);
        }
        if (open_door(ch))
            c->unauthenticated--;
    }
    if (strcmp(ch->auth_hash, row->auth_hash) != 0 || ch->security_profile != row->security_profile)
        throttle_forget_charger(c, ch->id); /* new credentials: the long-term failure cap starts again */
    if (strcmp(ch->auth_hash, row->auth_hash) != 0) {
        ch->has_verified = false;
        str_copy(ch->auth_hash, sizeof ch->auth_hash, row->auth_hash);
    }
    ch->seq = ++c->registry_seq;
    ch->version = row->version;
    ch->security_profile = row->security_profile;
    ch->registration = reg;
    ch->auto_registered = false;
    if (open_door(ch))
        c->unauthenticated++;
    int32_t limit_before = ch->power_limit_da;
    if (take_load_fields(ch, row)) {
        if (ch->power_limit_da != limit_before && ch->conn)
            core_power_limit_changed(c, ch);
        core_load_on_charger_changed(c, ch);
    }
}

struct sync_ctx {
    struct hmap *seen;
    uint64_t mark;
    struct core_charger **gone;
    size_t n_gone;
};

static int collect_gone(void *ctx, const void *key, size_t klen, void *val)
{
    struct sync_ctx *s = ctx;
    const struct core_charger *ch = val;
    if (!hmap_get(s->seen, key, klen) && ch->seq <= s->mark)
        s->gone[s->n_gone++] = val;
    return 0;
}

/*
 * A notification's read of a charger row (STORE_OP_CHARGER_CHANGED) runs on
 * the OCPP store's connection; a REST delete commits on REST's and is
 * applied as soon as it commits. A read taken before that commit can reach
 * the loop after it, and would bring the deleted charger back until the
 * next read. So a read that would re-add an id deleted here is not applied:
 * the row is read again, after the delete (which has committed), and that
 * read decides. Returns true when the row was set aside so.
 */
bool core_charger_read_is_stale(struct core *c, const struct store_charger *row)
{
    if (row->deleted || hmap_get_str(c->chargers, row->id) || !hmap_del_str(c->tombstones, row->id))
        return false;
    struct store_job *job = store_job_new(STORE_OP_CHARGER_CHANGED);
    str_copy(job->charger_id, sizeof job->charger_id, row->id);
    c->io.db_submit(c->io.ctx, job);    /* not counted in jobs_out, as the store's own reads are not */
    log_debug(row->id, "charger row read before its deletion here: read again");
    return true;
}

uint64_t core_registry_mark(const struct core *c)
{
    return c->registry_seq;
}

/*
 * The snapshot was read after `mark` was taken: an entry changed since then
 * (a REST write this process committed, a notification, an auto-registered
 * connect) is newer than the snapshot, or its row was not committed yet when
 * the snapshot was read; it keeps what it has.
 */
void core_registry_sync(struct core *c, const struct store_charger *rows, size_t n, uint64_t mark)
{
    struct sync_ctx s = { hmap_new(), mark, NULL, 0 };
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        const struct core_charger *ch = hmap_get_str(c->chargers, rows[i].id);
        if (ch && ch->seq > mark)
            kept++;
        else
            core_charger_upsert(c, &rows[i]);
        hmap_put_str(s.seen, rows[i].id, (void *)&rows[i]);
    }
    s.gone = xcalloc(hmap_count(c->chargers) + 1, sizeof *s.gone);
    hmap_foreach(c->chargers, collect_gone, &s);
    for (size_t i = 0; i < s.n_gone; i++) {
        struct store_charger del = { .deleted = true };
        str_copy(del.id, sizeof del.id, s.gone[i]->id);
        core_charger_upsert(c, &del);
    }
    log_info(NULL, "charger registry reloaded: %zu chargers, %zu removed, %zu changed since the read kept",
             n, s.n_gone, kept);
    free(s.gone);
    hmap_free(s.seen);
}

size_t core_charger_count(const struct core *c)
{
    return hmap_count(c->chargers);
}

size_t core_connected_count(const struct core *c)
{
    return c->connected;
}

size_t core_unauthenticated_count(const struct core *c)
{
    return c->unauthenticated;
}

bool core_charger_connected(const struct core *c, const char *charger_id)
{
    struct core_charger *ch = hmap_get_str(c->chargers, charger_id);
    return ch && ch->conn;
}

int64_t core_charger_last_seen(const struct core *c, const char *charger_id)
{
    struct core_charger *ch = hmap_get_str(c->chargers, charger_id);
    return ch ? ch->last_seen_ms : 0;
}

/* ---- admission ---- */

/* The characters of core_charger_id_problem, any length from 1. */
static const char *path_id_problem(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n < 1)
        return "is empty";
    /* a dot segment: collapsed by every URL parser, so never addressable */
    if (strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return "is not allowed ('.' and '..' are path segments)";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)id[i];
        if (ch == ' ')
            return "has a space";
        if (ch < 0x20 || ch >= 0x7f)
            return "has a character that is not printable ASCII";
        if (ch == '/' || ch == ',' || ch == '%')
            return "has '/', ',' or '%'";
    }
    return NULL;
}

const char *core_charger_id_problem(const char *id)
{
    if (id && strlen(id) > OCPP_CHARGER_ID_MAX)
        return "is longer than 48 characters";
    return path_id_problem(id);
}

bool core_charger_id_valid(const char *id)
{
    return core_charger_id_problem(id) == NULL;
}

bool core_path_id_valid(const char *id)
{
    return path_id_problem(id) == NULL;
}

/*
 * Failed-auth throttling. Three scopes, so that one NAT'ed site is not
 * locked out by a neighbour and no id can be guessed slowly for ever:
 *
 *   address            "a <addr>"       auth_fail_max failures (any charger,
 *                                       unknown ids too) in auth_fail_window:
 *                                       the address is refused for auth_block.
 *                                       Generous (100): a site's chargers share it.
 *   address + charger  "p <addr> <id>"  auth_fail_max_per_id failures in
 *                                       auth_fail_window_per_id: that charger
 *                                       from that address is refused for
 *                                       auth_block; its neighbours are not.
 *   charger            "c <id>"         a token bucket of auth_fail_max_per_id_day
 *                                       failures per 24 h from all addresses;
 *                                       empty, the charger is refused from every
 *                                       address but the last one that passed
 *                                       its credential check (the charger itself,
 *                                       normally); a new key or profile refills it.
 *
 * The windows slide: the count is the current fixed window's failures plus
 * the previous window's weighted by how much of it still overlaps. Only
 * known chargers get per-charger entries, so their number is bounded by the
 * registry and the address limit; idle entries are pruned by core_expire.
 */
static void throttle_key(char *buf, size_t cap, char scope, const char *addr, const char *id)
{
    if (scope == 'a')
        snprintf(buf, cap, "a %s", addr);
    else if (scope == 'p')
        snprintf(buf, cap, "p %s %s", addr, id);
    else
        snprintf(buf, cap, "c %s", id);
}

static struct core_throttle *throttle_get(struct core *c, char scope, const char *addr, const char *id,
                                          bool create)
{
    char key[160];
    throttle_key(key, sizeof key, scope, addr, id);
    struct core_throttle *t = hmap_get_str(c->throttle, key);
    if (!t && create) {
        t = xcalloc(1, sizeof *t);
        t->win_start_ms = core_now(c);
        hmap_put_str(c->throttle, key, t);
    }
    return t;
}

/* Moves the sliding window up to now. */
static void window_roll(struct core_throttle *t, int64_t now, int64_t window)
{
    if (now - t->win_start_ms >= 2 * window) {
        t->prev_fails = t->cur_fails = 0;
        t->win_start_ms = now;
    } else if (now - t->win_start_ms >= window) {
        t->prev_fails = t->cur_fails;
        t->cur_fails = 0;
        t->win_start_ms += window;
    }
}

/* Failures in the sliding window ending now (after window_roll). */
static double window_count(const struct core_throttle *t, int64_t now, int64_t window)
{
    double elapsed = (double)(now - t->win_start_ms) / (double)window;
    if (elapsed > 1.0)
        elapsed = 1.0;
    return t->prev_fails * (1.0 - elapsed) + t->cur_fails;
}

/* One more failure in t's window; true if that reaches max (and t is blocked from now on). */
static bool window_fail(struct core *c, struct core_throttle *t, int64_t now, int max, int64_t window)
{
    window_roll(t, now, window);
    t->cur_fails++;
    if (max <= 0 || window_count(t, now, window) < (double)max || t->blocked_until_ms > now)
        return false;
    t->blocked_until_ms = now + c->cfg.auth_block_ms;
    return true;
}

/* Token bucket: refills rate_per_ms up to cap; an unstarted bucket is full. */
static void bucket_refill(struct core_throttle *t, int64_t now, double cap, double rate_per_ms)
{
    if (t->refilled_ms == 0)
        t->tokens = cap;
    else
        t->tokens += (double)(now - t->refilled_ms) * rate_per_ms;
    if (t->tokens > cap)
        t->tokens = cap;
    t->refilled_ms = now;
}

/*
 * Token bucket of connection attempts per IP: conn_rate_per_ip a second,
 * bursts of conn_burst_per_ip. The burst is what a site behind one NAT
 * needs when all its chargers reconnect after a restart (1,000 at once).
 */
static bool rate_take(struct core *c, struct core_throttle *t, int64_t now)
{
    bucket_refill(t, now, (double)c->cfg.conn_burst_per_ip, c->cfg.conn_rate_per_ip / 1000.0);
    if (t->tokens < 1.0)
        return false;
    t->tokens -= 1.0;
    return true;
}

#define DAY_MS (24.0 * 3600 * 1000)

/* The charger's long-term bucket: whether it still has a failure to give. */
static bool charger_cap_left(struct core *c, const char *id, int64_t now)
{
    int cap = c->cfg.auth_fail_max_per_id_day;
    struct core_throttle *t = cap > 0 ? throttle_get(c, 'c', NULL, id, false) : NULL;
    if (!t)
        return true;
    bucket_refill(t, now, cap, cap / DAY_MS);
    return t->tokens >= 1.0;
}

/* Counts a failed upgrade from addr (for charger_id; known: it is in the registry). */
static void throttle_fail(struct core *c, const char *addr, const char *charger_id, bool known)
{
    int64_t now = core_now(c);
    char detail[200];
    struct core_throttle *t = throttle_get(c, 'a', addr, NULL, true);
    if (window_fail(c, t, now, c->cfg.auth_fail_max, c->cfg.auth_fail_window_ms)) {
        snprintf(detail, sizeof detail, "address %s throttled after %d failures in %d s", addr,
                 c->cfg.auth_fail_max, c->cfg.auth_fail_window_ms / 1000);
        core_security_event(c, charger_id, "auth_throttled", detail);
    }
    if (!known)
        return;
    t = throttle_get(c, 'p', addr, charger_id, true);
    if (window_fail(c, t, now, c->cfg.auth_fail_max_per_id, c->cfg.auth_fail_window_per_id_ms)) {
        snprintf(detail, sizeof detail, "charger throttled from address %s after %d failures in %d s", addr,
                 c->cfg.auth_fail_max_per_id, c->cfg.auth_fail_window_per_id_ms / 1000);
        core_security_event(c, charger_id, "auth_throttled", detail);
    }
    int cap = c->cfg.auth_fail_max_per_id_day;
    if (cap > 0) {
        t = throttle_get(c, 'c', NULL, charger_id, true);
        bucket_refill(t, now, cap, cap / DAY_MS);
        t->tokens -= 1.0;
        if (t->tokens < 1.0 && t->tokens >= 0.0) {
            snprintf(detail, sizeof detail, "charger throttled from every address but its last good one"
                     " after %d failures in 24 h", cap);
            core_security_event(c, charger_id, "auth_throttled", detail);
        }
        if (t->tokens < 0.0)
            t->tokens = 0.0;
    }
}

/* Forgets the long-term failures of a charger (its credentials changed). */
static void throttle_forget_charger(struct core *c, const char *id)
{
    char key[160];
    throttle_key(key, sizeof key, 'c', NULL, id);
    free(hmap_get_str(c->throttle, key));
    hmap_del_str(c->throttle, key);
}

static bool password_ok(struct core *c, struct core_charger *ch, const char *password)
{
    unsigned char fast[32];
    secret_sha256_2(c->process_key, sizeof c->process_key, password, strlen(password), fast);
    if (ch->has_verified && secret_equal(fast, ch->verified, sizeof fast))
        return true;
    if (!secret_verify_password(ch->auth_hash, password))
        return false;
    memcpy(ch->verified, fast, sizeof fast);
    ch->has_verified = true;
    return true;
}

/* Why the credentials do not satisfy the charger's security profile, or NULL. */
static const char *credentials_problem(struct core *c, struct core_charger *ch, const char *user,
                                       const char *password, const struct core_peer *peer)
{
    if (ch->security_profile >= 2 && !peer->tls)
        return "security profile 2/3 requires the TLS listener";
    if (ch->security_profile == 3) {
        if (!peer->cert_cn)
            return "security profile 3 requires a verified client certificate";
        if (strcmp(peer->cert_cn, ch->id) != 0)
            return "client certificate CN is not the charge point id";
        return NULL;
    }
    if (ch->auth_hash[0] == '\0' && ch->security_profile == 0)
        return NULL;
    if (!password)
        return "no credentials";
    if (!user || strcmp(user, ch->id) != 0)
        return "user name is not the charge point id";
    if (ch->auth_hash[0] == '\0')
        return "no AuthorizationKey configured for this charger";
    if (!password_ok(c, ch, password))
        return "wrong password";
    return NULL;
}

enum core_admit core_admit(struct core *c, const char *charger_id, const char *remote_addr,
                           const char *user, const char *password, const struct core_peer *peer)
{
    if (!core_charger_id_valid(charger_id))
        return CORE_ADMIT_BAD_ID;
    int64_t now = core_now(c);
    struct core_throttle *t = throttle_get(c, 'a', remote_addr, NULL, c->cfg.conn_rate_per_ip > 0);
    if (t && t->blocked_until_ms > now) {
        metrics_auth_failure();
        metrics_auth_throttled(METRICS_THROTTLE_ADDRESS);
        log_warn_from(remote_addr, charger_id, "upgrade from %s refused: address throttled", remote_addr);
        return CORE_ADMIT_THROTTLED;
    }
    if (c->cfg.conn_rate_per_ip > 0 && !rate_take(c, t, now)) {
        log_warn_from(remote_addr, charger_id, "upgrade from %s refused: over %d connections per second",
                      remote_addr, c->cfg.conn_rate_per_ip);
        return CORE_ADMIT_THROTTLED;
    }
    struct core_charger *ch = hmap_get_str(c->chargers, charger_id);
    if (!ch) {
        if (c->cfg.auto_register)
            return CORE_ADMIT_OK;
        log_warn_from(remote_addr, charger_id, "upgrade from %s refused: unknown charger", remote_addr);
        throttle_fail(c, remote_addr, charger_id, false);
        return CORE_ADMIT_UNKNOWN;
    }
    struct core_throttle *pair = throttle_get(c, 'p', remote_addr, charger_id, false);
    if (pair && pair->blocked_until_ms > now) {
        metrics_auth_failure();
        metrics_auth_throttled(METRICS_THROTTLE_ADDRESS_CHARGER);
        log_warn_from(remote_addr, charger_id, "upgrade from %s refused: charger throttled from this address",
                      remote_addr);
        return CORE_ADMIT_THROTTLED;
    }
    if (!charger_cap_left(c, charger_id, now) && strcmp(ch->last_auth_addr, remote_addr) != 0) {
        metrics_auth_failure();
        metrics_auth_throttled(METRICS_THROTTLE_CHARGER);
        log_warn_from(remote_addr, charger_id, "upgrade from %s refused: charger throttled (24 h failure cap)",
                      remote_addr);
        return CORE_ADMIT_THROTTLED;
    }
    const char *why = credentials_problem(c, ch, user, password, peer);
    if (why) {
        metrics_auth_failure();
        char detail[160];
        snprintf(detail, sizeof detail, "upgrade from %s refused: %s", remote_addr, why);
        core_security_event(c, charger_id, "auth_failed", detail);
        throttle_fail(c, remote_addr, charger_id, true);
        return CORE_ADMIT_UNAUTHORIZED;
    }
    if (ch->security_profile > 0 || ch->auth_hash[0])
        str_copy(ch->last_auth_addr, sizeof ch->last_auth_addr, remote_addr);
    return CORE_ADMIT_OK;
}

/* ---- connections ---- */

static void conn_set_state(struct core_conn *conn, enum core_conn_state to)
{
    switch (conn->state) {
    case CORE_CONN_OPEN:
        if (to != CORE_CONN_CLOSED && to != CORE_CONN_REPLACED)
            abort();
        break;
    case CORE_CONN_REPLACED:
    case CORE_CONN_CLOSED:
    default:
        abort(); /* a connection leaves OPEN once */
    }
    conn->state = to;
}

/* Detaches conn from its charger and forgets it; the glue closes the socket. */
static void conn_forget(struct core *c, struct core_conn *conn)
{
    struct core_charger *ch = conn->charger;
    if (ch && ch->conn == conn) {
        ch->conn = NULL;
        c->connected--;
        core_calls_fail_charger(c, ch, CORE_CMD_DISCONNECTED);
        core_load_charger_offline(c, ch);
    }
    hmap_del_u64(c->conns, conn->id);
    pending_free_all(conn);
    free(conn);
}

static void store_disconnected(struct core *c, struct core_conn *conn, const char *reason)
{
    struct store_job *job = core_job(c, STORE_OP_CHARGER_DISCONNECTED, conn->charger, 0, NULL);
    str_copy(job->in.disconnected.reason, sizeof job->in.disconnected.reason, reason);
    job->in.disconnected.connected_ms = conn->opened_ms;
    core_submit(c, job);
    core_emit(c, CORE_EV_CHARGER_DISCONNECTED, conn->charger->id, -1, 0, 0, NULL, reason);
}

/* Closes a live connection from our side (removal of its charger). */
static void conn_close(struct core *c, struct core_conn *conn, int code, const char *reason)
{
    conn_set_state(conn, CORE_CONN_CLOSED);
    log_info(conn->charger->id, "disconnected: %s (closed with %d)", reason, code);
    c->io.close_conn(c->io.ctx, conn->id, code, reason);
    store_disconnected(c, conn, reason);
    conn_forget(c, conn);
}

uint64_t core_conn_open(struct core *c, const char *charger_id, const char *remote_addr)
{
    struct core_charger *ch = hmap_get_str(c->chargers, charger_id);
    bool created = false;
    if (!ch && !c->cfg.auto_register) {
        log_warn(charger_id, "connection from %s refused: charger removed during the upgrade", remote_addr);
        return 0;
    }
    if (!ch) {
        /* admitted by auto-registration: the row is created by the store job below */
        ch = charger_new(c, charger_id);
        ch->registration = OCPP_REG_ACCEPTED;
        ch->auto_registered = true;
        ch->seq = ++c->registry_seq;
        c->unauthenticated++;       /* profile 0 without a key, like its row */
        created = true;
        log_info(ch->id, "auto-registered on first connection from %s", remote_addr);
    }
    if (ch->conn) {
        struct core_conn *old = ch->conn;
        char detail[160];
        snprintf(detail, sizeof detail, "connection from %s replaced by an authenticated one from %s",
                 old->remote_addr, remote_addr);
        metrics_conn_replaced();
        conn_set_state(old, CORE_CONN_REPLACED);
        log_info(ch->id, "disconnected: replaced (%s)", detail);
        c->io.close_conn(c->io.ctx, old->id, 1008, "replaced by a new connection");
        conn_forget(c, old);
        core_security_event(c, ch->id, "connection_replaced", detail);
    }
    struct core_conn *conn = xcalloc(1, sizeof *conn);
    conn->id = c->next_conn_id++;
    conn->state = CORE_CONN_OPEN;
    conn->charger = ch;
    conn->opened_ms = core_now(c);
    str_copy(conn->remote_addr, sizeof conn->remote_addr, remote_addr);
    hmap_put_u64(c->conns, conn->id, conn);
    ch->conn = conn;
    ch->last_seen_ms = conn->opened_ms;
    ch->n_connectors = 0;           /* statuses of an earlier connection are not trusted */
    c->connected++;

    struct store_job *job = core_job(c, STORE_OP_CHARGER_CONNECTED, ch, 0, NULL);
    job->received_ms = conn->opened_ms; /* the disconnect matches on exactly this time */
    str_copy(job->in.connected.remote_addr, sizeof job->in.connected.remote_addr, remote_addr);
    job->in.connected.auto_register = created;
    core_submit(c, job);
    log_info(ch->id, "connected from %s", remote_addr);
    core_emit(c, CORE_EV_CHARGER_CONNECTED, ch->id, -1, 0, 0, NULL, remote_addr);
    return conn->id;
}

const char *core_conn_charger_id(const struct core *c, uint64_t conn_id)
{
    const struct core_conn *conn = hmap_get_u64(c->conns, conn_id);
    return conn && conn->charger ? conn->charger->id : NULL;
}

void core_conn_closed(struct core *c, uint64_t conn_id, const char *reason)
{
    struct core_conn *conn = core_conn_get(c, conn_id);
    if (!conn)
        return; /* replaced or closed by us already */
    conn_set_state(conn, CORE_CONN_CLOSED);
    if (!conn->disconnect_stored) {
        log_info(conn->charger->id, "disconnected: %s", reason ? reason : "closed");
        store_disconnected(c, conn, reason ? reason : "closed");
    }
    conn_forget(c, conn);
}

struct record_ctx {
    struct core *c;
    const char *reason;
    bool each;
    size_t n;
};

static int record_disconnect(void *ctx, const void *key, size_t klen, void *val)
{
    (void)key, (void)klen;
    struct record_ctx *r = ctx;
    struct core_conn *conn = val;
    if (!conn->disconnect_stored && conn->state != CORE_CONN_CLOSED) {
        conn->disconnect_stored = true;
        if (r->each)
            store_disconnected(r->c, conn, r->reason);
        else
            core_emit(r->c, CORE_EV_CHARGER_DISCONNECTED, conn->charger->id, -1, 0, 0, NULL, r->reason);
        r->n++;
    }
    return 0;
}

size_t core_record_disconnects(struct core *c, const char *reason, bool each)
{
    struct record_ctx r = { c, reason, each, 0 };
    hmap_foreach(c->conns, record_disconnect, &r);
    return r.n;
}

/* ---- time ---- */

static int flush_last_seen(void *ctx, const void *key, size_t klen, void *val)
{
    (void)key, (void)klen;
    struct store_job *job = ctx;
    struct core_charger *ch = val;
    if (!ch->last_seen_dirty)
        return 0;
    ch->last_seen_dirty = false;
    struct store_last_seen *it = &job->in.last_seen.items[job->in.last_seen.n++];
    str_copy(it->charger_id, sizeof it->charger_id, ch->id);
    it->at_ms = ch->last_seen_ms;
    return 0;
}

struct prune_ctx {
    struct core *c;
    int64_t now;
};

static int prune_throttle(void *ctx, const void *key, size_t klen, void *val)
{
    (void)klen;
    struct prune_ctx *p = ctx;
    struct core_throttle *t = val;
    const struct core_config *cfg = &p->c->cfg;
    if (t->blocked_until_ms > p->now)
        return 0;
    bool idle;
    if (((const char *)key)[0] == 'c') {
        int cap = cfg->auth_fail_max_per_id_day;
        bucket_refill(t, p->now, cap, cap / DAY_MS);
        idle = t->tokens >= (double)cap;
    } else {
        int64_t window = ((const char *)key)[0] == 'p' ? cfg->auth_fail_window_per_id_ms : cfg->auth_fail_window_ms;
        bool no_fails = (t->prev_fails == 0 && t->cur_fails == 0) || p->now - t->win_start_ms >= 2 * (int64_t)window;
        idle = no_fails && p->now - t->refilled_ms > 10000;
    }
    if (idle)
        free(t);
    return idle;
}

int core_expire(struct core *c)
{
    int64_t now = core_now(c);
    core_calls_expire(c, now);
    core_cmds_expire(c, now);
    core_load_expire(c);
    core_power_limit_expire(c, now);
    if (now >= c->next_flush_ms) {
        c->next_flush_ms = now + c->cfg.last_seen_flush_ms;
        struct store_job *job = store_job_new(STORE_OP_LAST_SEEN);
        job->in.last_seen.items = xcalloc(hmap_count(c->chargers) + 1, sizeof(struct store_last_seen));
        hmap_foreach(c->chargers, flush_last_seen, job);
        if (job->in.last_seen.n)
            core_submit(c, job);
        else
            store_job_free(job);
        struct prune_ctx p = { c, now };
        hmap_foreach(c->throttle, prune_throttle, &p);
    }
    int64_t next = c->next_flush_ms - now;
    if (c->inflight) {
        for (struct core_outcall *oc = c->inflight; oc; oc = oc->inflight_next)
            if (oc->deadline_ms - now < next)
                next = oc->deadline_ms - now;
    }
    int64_t cmd_next = core_cmds_next_deadline(c, now);
    if (cmd_next < next)
        next = cmd_next;
    if (next > 1000)
        next = 1000;
    return next < 0 ? 0 : (int)next;
}

size_t core_jobs_outstanding(const struct core *c)
{
    return c->jobs_out;
}
