/*
 * libFuzzer driver: arbitrary bytes as one text message from a connected
 * charger, through ocpp_dispatch() into a real core with a fake I/O table
 * (no sockets, no database). Store jobs the core submits are completed at
 * once, alternately OK and UNAVAILABLE, so the answer paths run too.
 *
 *   make fuzz                 (60 s, corpus seeded from tests/fixtures/ocpp)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "core.h"
#include "ocpp.h"
#include "util.h"

static struct core *core;
static uint64_t conn;
static struct store_job *jobs;
static unsigned flip;

static int64_t f_now(void *ctx) { (void)ctx; return 1700000000000LL; }
static void f_send_text(void *ctx, uint64_t id, char *text, size_t len)
{
    (void)ctx, (void)id, (void)len;
    free(text);
}
static void f_close(void *ctx, uint64_t id, int code, const char *reason) { (void)ctx, (void)id, (void)code, (void)reason; }
static const struct ocpp_transport transport = { NULL, f_send_text, f_close };
static void f_send_conf(void *ctx, uint64_t id, const char *mid, const struct ocpp_conf *conf)
{
    (void)ctx;
    ocpp_send_conf(&transport, id, mid, conf);
}
static void f_send_error(void *ctx, uint64_t id, const char *mid, enum ocpp_err e, const char *d)
{
    (void)ctx;
    ocpp_send_error(&transport, id, mid, e, d);
}
static void f_send_call(void *ctx, uint64_t id, const char *mid, enum ocpp_action a, const char *p)
{
    (void)ctx;
    ocpp_send_call(&transport, id, mid, a, p);
}
static void f_submit(void *ctx, struct store_job *job)
{
    (void)ctx;
    job->next = jobs;
    jobs = job;
}
static void f_random(void *ctx, void *buf, size_t n)
{
    (void)ctx;
    memset(buf, 0x5a, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!core) {
        log_setup(LOG_ERROR, LOG_TEXT);
        ocpp_json_init();
        ocpp_schema_init();
        struct core_config cfg;
        core_config_defaults(&cfg);
        cfg.auto_register = true;
        struct core_io io = {
            .now_ms = f_now,
            .send_conf = f_send_conf,
            .send_error = f_send_error,
            .send_call = f_send_call,
            .close_conn = f_close,
            .db_submit = f_submit,
            .random = f_random,
        };
        core = core_new(&io, &cfg);
        static const struct core_peer plain = { .tls = false, .cert_cn = NULL };
        core_admit(core, "FUZZ-1", "127.0.0.1", NULL, NULL, &plain);
        conn = core_conn_open(core, "FUZZ-1", "127.0.0.1");
    }
    ocpp_dispatch(core, &transport, conn, (const char *)data, size);
    while (jobs) {
        struct store_job *job = jobs;
        jobs = job->next;
        job->next = NULL;
        job->status = (flip++ & 1) ? STORE_OK : STORE_ERR_UNAVAILABLE;
        core_on_db_result(core, job);
    }
    return 0;
}
