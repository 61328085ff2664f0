/*
 * The fake io for core unit tests (see core_fakes.h): every callback the core
 * makes lands in an array of struct core_fake, and submitted store jobs wait
 * there until the test completes them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_fakes.h"
#include "util.h"

#define PUSH(f, arr, n)                                                                  \
    (((f)->n >= CORE_FAKE_MAX) ? (fprintf(stderr, "core_fake: too many " #arr "\n"),    \
                                  abort(), &(f)->arr[0])                                 \
                               : &(f)->arr[(f)->n++])

/* Copies an optional borrowed string; records whether it was there. */
static bool copy_opt(char *dst, size_t cap, const char *src)
{
    dst[0] = '\0';
    if (!src)
        return false;
    str_copy(dst, cap, src);
    return true;
}

static int64_t fake_now(void *ctx)
{
    struct core_fake *f = ctx;
    return f->now_ms;
}

static void fake_send_conf(void *ctx, uint64_t conn_id, const char *msg_id,
                           const struct ocpp_conf *conf)
{
    struct core_fake *f = ctx;
    struct core_fake_conf *r = PUSH(f, confs, n_confs);
    r->conn_id = conn_id;
    str_copy(r->msg_id, sizeof r->msg_id, msg_id);
    r->conf = *conf;
}

static void fake_send_error(void *ctx, uint64_t conn_id, const char *msg_id, enum ocpp_err err,
                            const char *description)
{
    struct core_fake *f = ctx;
    struct core_fake_error *r = PUSH(f, errors, n_errors);
    r->conn_id = conn_id;
    str_copy(r->msg_id, sizeof r->msg_id, msg_id);
    r->err = err;
    copy_opt(r->description, sizeof r->description, description);
}

static void fake_send_call(void *ctx, uint64_t conn_id, const char *msg_id, enum ocpp_action action,
                           const char *payload_json)
{
    struct core_fake *f = ctx;
    struct core_fake_call *r = PUSH(f, calls, n_calls);
    r->conn_id = conn_id;
    str_copy(r->msg_id, sizeof r->msg_id, msg_id);
    r->action = action;
    str_copy(r->payload, sizeof r->payload, payload_json);
}

static void fake_close_conn(void *ctx, uint64_t conn_id, int ws_code, const char *reason)
{
    struct core_fake *f = ctx;
    struct core_fake_close *r = PUSH(f, closes, n_closes);
    r->conn_id = conn_id;
    r->code = ws_code;
    copy_opt(r->reason, sizeof r->reason, reason);
}

static void fake_db_submit(void *ctx, struct store_job *job)
{
    struct core_fake *f = ctx;
    *PUSH(f, jobs, n_jobs) = job;
}

static void fake_emit(void *ctx, const struct core_event *ev)
{
    struct core_fake *f = ctx;
    struct core_fake_event *r = PUSH(f, events, n_events);
    r->kind = ev->kind;
    copy_opt(r->charger_id, sizeof r->charger_id, ev->charger_id);
    r->connector_id = ev->connector_id;
    r->session_id = ev->session_id;
    r->transaction_id = ev->transaction_id;
    r->has_status = copy_opt(r->status, sizeof r->status, ev->status);
    r->has_detail = copy_opt(r->detail, sizeof r->detail, ev->detail);
    r->at_ms = ev->at_ms;
}

static uint32_t next_random(struct core_fake *f)
{
    if (f->script_at < f->n_script)
        return f->script[f->script_at++];
    uint32_t x = f->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    f->rng = x;
    return x;
}

static void fake_random(void *ctx, void *buf, size_t n)
{
    struct core_fake *f = ctx;
    unsigned char *p = buf;
    while (n > 0) {
        uint32_t r = next_random(f);
        size_t k = n < sizeof r ? n : sizeof r;
        memcpy(p, &r, k);
        p += k;
        n -= k;
    }
}

void core_fake_init(struct core_fake *f, int64_t start_ms)
{
    memset(f, 0, sizeof *f);
    f->now_ms = start_ms;
    f->rng = 0x9e3779b9u;
}

void core_fake_fini(struct core_fake *f)
{
    for (size_t i = 0; i < f->n_jobs; i++)
        store_job_free(f->jobs[i]);
    f->n_jobs = 0;
}

struct core_io core_fake_io(struct core_fake *f)
{
    struct core_io io = {
        .ctx = f,
        .now_ms = fake_now,
        .send_conf = fake_send_conf,
        .send_error = fake_send_error,
        .send_call = fake_send_call,
        .close_conn = fake_close_conn,
        .db_submit = fake_db_submit,
        .emit = fake_emit,
        .random = fake_random,
    };
    return io;
}

void core_fake_clear(struct core_fake *f)
{
    f->n_confs = f->n_errors = f->n_calls = f->n_closes = f->n_events = 0;
}

void core_fake_advance(struct core_fake *f, int64_t ms)
{
    f->now_ms += ms;
}

void core_fake_script_random(struct core_fake *f, const uint32_t *vals, size_t n)
{
    if (n > sizeof f->script / sizeof f->script[0])
        abort();
    memcpy(f->script, vals, n * sizeof *vals);
    f->n_script = n;
    f->script_at = 0;
}

size_t core_fake_job_count(const struct core_fake *f, enum store_op op)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n_jobs; i++)
        n += f->jobs[i]->op == op;
    return n;
}

static size_t job_index(const struct core_fake *f, enum store_op op, size_t nth)
{
    for (size_t i = 0; i < f->n_jobs; i++)
        if (f->jobs[i]->op == op && nth-- == 0)
            return i;
    return SIZE_MAX;
}

struct store_job *core_fake_job(const struct core_fake *f, enum store_op op, size_t nth)
{
    size_t i = job_index(f, op, nth);
    return i == SIZE_MAX ? NULL : f->jobs[i];
}

struct store_job *core_fake_take(struct core_fake *f, enum store_op op)
{
    size_t i = job_index(f, op, 0);
    if (i == SIZE_MAX)
        return NULL;
    struct store_job *job = f->jobs[i];
    memmove(&f->jobs[i], &f->jobs[i + 1], (f->n_jobs - i - 1) * sizeof f->jobs[0]);
    f->n_jobs--;
    return job;
}

void core_fake_complete(struct core *c, struct store_job *job, enum store_status status)
{
    job->status = status;
    core_on_db_result(c, job);
}

size_t core_fake_event_count(const struct core_fake *f, enum core_event_kind kind)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n_events; i++)
        n += f->events[i].kind == kind;
    return n;
}

const struct core_fake_event *core_fake_event(const struct core_fake *f, enum core_event_kind kind,
                                              size_t nth)
{
    for (size_t i = 0; i < f->n_events; i++)
        if (f->events[i].kind == kind && nth-- == 0)
            return &f->events[i];
    return NULL;
}

size_t core_fake_sends_to(const struct core_fake *f, uint64_t conn_id)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n_confs; i++)
        n += f->confs[i].conn_id == conn_id;
    for (size_t i = 0; i < f->n_errors; i++)
        n += f->errors[i].conn_id == conn_id;
    for (size_t i = 0; i < f->n_calls; i++)
        n += f->calls[i].conn_id == conn_id;
    return n;
}

const struct core_fake_conf *core_fake_conf_for(const struct core_fake *f, uint64_t conn_id,
                                                const char *msg_id)
{
    for (size_t i = 0; i < f->n_confs; i++)
        if (f->confs[i].conn_id == conn_id && strcmp(f->confs[i].msg_id, msg_id) == 0)
            return &f->confs[i];
    return NULL;
}

const struct core_fake_error *core_fake_error_for(const struct core_fake *f, uint64_t conn_id,
                                                  const char *msg_id)
{
    for (size_t i = 0; i < f->n_errors; i++)
        if (f->errors[i].conn_id == conn_id && strcmp(f->errors[i].msg_id, msg_id) == 0)
            return &f->errors[i];
    return NULL;
}

enum core_admit core_fake_admit(struct core *c, const char *charger_id, const char *remote_addr,
                                const char *user, const char *password)
{
    static const struct core_peer plain = { .tls = false, .cert_cn = NULL };
    return core_admit(c, charger_id, remote_addr, user, password, &plain);
}

void core_fake_result(struct core *c, uint64_t conn_id, const char *msg_id,
                      const char *payload_json, const char *status)
{
    struct core_answer a = { .payload_json = payload_json, .status = status };
    core_on_call_result(c, conn_id, msg_id, &a);
}

void core_fake_record(struct core_fake_cmd *r, const struct core_command_view *v)
{
    r->n++;
    copy_opt(r->id, sizeof r->id, v->id);
    copy_opt(r->charger_id, sizeof r->charger_id, v->charger_id);
    r->action = v->action;
    copy_opt(r->payload, sizeof r->payload, v->payload_json);
    r->state = v->state;
    r->outcome = v->outcome;
    r->sent = v->sent;
    r->has_response = copy_opt(r->response, sizeof r->response, v->response_json);
    r->has_status = copy_opt(r->status, sizeof r->status, v->status);
    r->has_error_code = copy_opt(r->error_code, sizeof r->error_code, v->error_code);
    r->has_error_description = copy_opt(r->error_description, sizeof r->error_description,
                                        v->error_description);
    r->session_id = v->session_id;
    r->transaction_id = v->transaction_id;
    r->api_key_id = v->api_key_id;
    r->has_request_id = copy_opt(r->request_id, sizeof r->request_id, v->request_id);
    r->created_ms = v->created_ms;
    r->sent_ms = v->sent_ms;
    r->answered_ms = v->answered_ms;
    r->completed_ms = v->completed_ms;
}

void core_fake_command_cb(void *user, const struct core_command_view *v)
{
    core_fake_record(user, v);
}

enum core_call_err core_fake_command(struct core *c, const char *charger_id, enum ocpp_action a,
                                     const char *payload_json, struct core_fake_cmd *rec,
                                     char *out_id)
{
    struct core_command_req req = {
        .charger_id = charger_id,
        .action = a,
        .payload_json = payload_json,
    };
    return core_command_submit(c, &req, rec ? core_fake_command_cb : NULL, rec, out_id, NULL);
}

bool core_fake_find(struct core *c, const char *id, struct core_fake_cmd *out)
{
    memset(out, 0, sizeof *out);
    return core_command_find(c, id, core_fake_command_cb, out);
}
