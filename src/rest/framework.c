/*
 * The framework's lifecycle: rest_init puts the parts together (the request
 * registry with the config and io in force, store routing, the key cache,
 * the dispatcher), rest_shutdown takes them apart, and the loop's entry
 * points live here: rest_tick (the key reload after the REST store
 * reconnects, last_used_at written behind, old idempotency records
 * deleted, claimed orphans swept; expired events are the retention job's,
 * src/store/retention_job.c) and rest_on_store_result (a key change
 * from NOTIFY to the key cache, every other job to its continuation).
 *
 * The top of src/rest/: it calls the parts, none of them calls it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework.h"
#include "rest_res.h"
#include "store_job.h"
#include "util.h"

#define RELOAD_RETRY_MS 5000
#define FLUSH_EVERY_MS 1000
#define CLEANUP_EVERY_MS (60 * 60 * 1000)
#define SWEEP_EVERY_MS 1000
#define STALE_EVERY_MS (60 * 1000)      /* at most; half of ocpp.stale_session_after if shorter */

static struct {
    bool store_was_ready;
    int64_t reload_at_ms, flush_at_ms, cleanup_at_ms, sweep_at_ms, stale_at_ms;
} T;

void rest_init(const struct rest_config *cfg, const struct rest_io *io)
{
    memset(&T, 0, sizeof T);
    rest_requests_init(cfg, io);
    rest_jobs_init();
    rest_auth_init(rest_dispatch_key_gone);
    rest_dispatch_init();
    res_event_stream_init(cfg->settings.stream_buffer, cfg->settings.stream_keepalive_s);
}

void rest_shutdown(void)
{
    if (!rest_running())
        return;
    rest_requests_free();           /* drops their key references first, and ends the streams */
    res_event_stream_shutdown();
    res_export_shutdown();          /* after the requests: their streams released their exports */
    rest_jobs_free();
    rest_dispatch_free();
    rest_auth_free();
    memset(&T, 0, sizeof T);
}

const char *rest_current_api_version(void)
{
    return rest_revision_current()->name;
}

void rest_keys_add(void *ctx, const struct store_apikey *row)
{
    (void)ctx;
    rest_auth_apply(row);
}

void rest_on_store_result(struct store_job *job)
{
    if (job->op == STORE_OP_APIKEY_CHANGED) {
        if (rest_running())
            rest_auth_apply(&job->out.apikey);
        store_job_free(job);
        return;
    }
    if (job->op == STORE_OP_EVENTS_NOTIFIED) {
        res_event_stream_notified(job->out.events_seq);
        store_job_free(job);
        return;
    }
    rest_jobs_complete(job);
}

/* ------------------------------------------------------------------ periodic */

static void keys_reloaded(struct rest_request *r, struct store_job *job)
{
    (void)r;
    if (job->status != STORE_OK || job->out.sql.nfields != REST_AUTH_ROW_COLUMNS) {
        log_warn(NULL, "rest: API key reload failed; retrying");
        T.store_was_ready = false;
        return;
    }
    rest_auth_reload_begin();
    for (int row = 0; row < job->out.sql.ntuples; row++)
        rest_auth_apply_row((const char *const *)job->out.sql.values +
                            (size_t)row * REST_AUTH_ROW_COLUMNS);
    rest_auth_reload_end();
    log_info(NULL, "rest: %zu API keys loaded", rest_auth_count());
}

/* last_used_at of the keys used since the last flush: one statement, written behind. */
static void flush_used(void)
{
    struct strbuf ids = STRBUF_INIT, ms = STRBUF_INIT;
    if (rest_auth_take_used(&ids, &ms)) {
        const char *params[] = { strbuf_str(&ids), strbuf_str(&ms) };
        rest_fw_sql(NULL, rest_auth_used_sql, 2, params, true, NULL);
    }
    strbuf_free(&ids);
    strbuf_free(&ms);
}

/*
 * Active sessions whose charger has been silent for ocpp.stale_session_after
 * are marked stale ('silent'): one idempotent statement on the REST store,
 * written behind, safe with several gateways on one database.
 */
static void mark_silent_sessions(int64_t now)
{
    int after_s = rest_settings(NULL)->stale_session_after_s;
    if (after_s <= 0)
        return;
    int64_t every = (int64_t)after_s * 500;
    if (every > STALE_EVERY_MS)
        every = STALE_EVERY_MS;
    if (every < 1000)
        every = 1000;
    T.stale_at_ms = now + every;
    char buf[16];
    snprintf(buf, sizeof buf, "%d", after_s);
    const char *params[] = { buf };
    rest_fw_sql(NULL, "SELECT ocppgw_mark_silent_sessions($1::integer)", 1, params, true, NULL);
}

void rest_tick(void)
{
    if (!rest_running())
        return;
    const struct rest_io *io = rest_io();
    int64_t now = io->now_ms(io->ctx);
    bool ready = io->store_ready(io->ctx);
    if (ready && !T.store_was_ready && now >= T.reload_at_ms) {
        /* notifications sent while the connection was down are lost: read every key again */
        T.reload_at_ms = now + RELOAD_RETRY_MS;
        T.store_was_ready = true;
        rest_fw_sql(NULL, rest_auth_reload_sql, 0, NULL, false, keys_reloaded);
    } else if (!ready) {
        T.store_was_ready = false;
    }
    if (now >= T.flush_at_ms) {
        T.flush_at_ms = now + FLUSH_EVERY_MS;
        flush_used();
    }
    if (ready && now >= T.cleanup_at_ms) {
        T.cleanup_at_ms = now + CLEANUP_EVERY_MS;
        rest_idem_cleanup();
    }
    if (ready && now >= T.stale_at_ms)
        mark_silent_sessions(now);
    res_event_stream_tick(ready);
    rest_streams_tick();
    if (now >= T.sweep_at_ms) {
        T.sweep_at_ms = now + SWEEP_EVERY_MS;
        rest_requests_sweep(now);
    }
}

void rest_on_exports(void)
{
    if (rest_running())
        res_exports_pump();
}
