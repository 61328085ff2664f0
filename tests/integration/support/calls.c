/*
 * OCPP exchanges for the integration tests on top of the simulator. See
 * calls.h.
 */
#include "calls.h"

#include "it.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sim *it_sim(int port)
{
    struct sim_options o = { .host = "127.0.0.1", .port = port, .max_chargers = 256, .quiet = true };
    struct sim *s = sim_new(&o);
    if (!s)
        fail_msg("sim_new failed for port %d", port);
    return s;
}

struct sim_charger *it_try_connect(struct sim *s, const struct sim_charger_opts *o, int *status,
                                   char *proto)
{
    int st = -1;
    char p[32] = "";                /* sim.h: >= 32 bytes, NUL-terminated */
    struct sim_charger *c = sim_connect(s, o, IT_CALL_MS, &st, p);
    if (status)
        *status = st;
    if (proto)
        memcpy(proto, p, sizeof p);
    return c;
}

struct sim_charger *it_connect(struct sim *s, const char *id, const char *password)
{
    struct sim_charger_opts o = { .id = id, .password = password };
    int status;
    char proto[64];
    struct sim_charger *c = it_try_connect(s, &o, &status, proto);
    if (!c)
        fail_msg("charger %s: websocket upgrade refused with HTTP %d", id, status);
    if (strcmp(proto, "ocpp1.6") != 0)
        fail_msg("charger %s: subprotocol selected \"%s\", expected \"ocpp1.6\"", id, proto);
    return c;
}

cJSON *it_parse(char *text)
{
    if (!text)
        return NULL;
    cJSON *f = cJSON_Parse(text);
    if (!f) {
        char shown[300];
        snprintf(shown, sizeof shown, "%s", text);
        free(text);
        fail_msg("the gateway sent a message that is not JSON: %s", shown);
    }
    free(text);
    return f;
}

static cJSON *expect_reply(char *text, const char *action)
{
    if (!text)
        fail_msg("%s: no reply within %d ms (or the socket closed)", action, IT_CALL_MS);
    return it_parse(text);
}

cJSON *it_call(struct sim_charger *c, const char *action, const char *payload)
{
    return expect_reply(sim_call(c, action, payload, IT_CALL_MS), action);
}

cJSON *it_call_id(struct sim_charger *c, const char *id, const char *action, const char *payload)
{
    return expect_reply(sim_call_id(c, id, action, payload, IT_CALL_MS), action);
}

int frame_type(const cJSON *f)
{
    if (!cJSON_IsArray(f) || !cJSON_IsNumber(cJSON_GetArrayItem(f, 0)))
        return -1;
    return cJSON_GetArrayItem(f, 0)->valueint;
}

const char *frame_id(const cJSON *f)
{
    return cJSON_IsArray(f) ? cJSON_GetStringValue(cJSON_GetArrayItem(f, 1)) : NULL;
}

const char *frame_error_code(const cJSON *f)
{
    return frame_type(f) == 4 ? cJSON_GetStringValue(cJSON_GetArrayItem(f, 2)) : NULL;
}

const char *frame_text(const cJSON *f)
{
    static char buf[600];
    if (!f)
        return "(nothing)";
    char *t = cJSON_PrintUnformatted(f);
    snprintf(buf, sizeof buf, "%s", t ? t : "?");
    free(t);
    return buf;
}

bool frame_is_callerror(const cJSON *f)
{
    return frame_type(f) == 4 && cJSON_GetArraySize(f) == 5 && cJSON_IsString(cJSON_GetArrayItem(f, 1)) &&
           cJSON_IsString(cJSON_GetArrayItem(f, 2)) && cJSON_IsString(cJSON_GetArrayItem(f, 3)) &&
           cJSON_IsObject(cJSON_GetArrayItem(f, 4));
}

const cJSON *frame_payload(const cJSON *f)
{
    return frame_type(f) == 3 ? cJSON_GetArrayItem(f, 2) : NULL;
}

/* Fails the test naming the exchange and what came back (f is freed first). */
static void fail_reply(cJSON *f, const char *action, const char *payload, const char *expected)
{
    char shown[600];
    snprintf(shown, sizeof shown, "%s", frame_text(f));
    cJSON_Delete(f);
    fail_msg("%s %s: expected %s, got %s", action, payload, expected, shown);
}

cJSON *it_ok(struct sim_charger *c, const char *action, const char *payload)
{
    cJSON *f = it_call(c, action, payload);
    const cJSON *p = frame_payload(f);
    if (!cJSON_IsObject(p))
        fail_reply(f, action, payload, "a CALLRESULT with an object payload");
    cJSON *out = cJSON_Duplicate(p, 1);
    cJSON_Delete(f);
    return out;
}

char *it_err(struct sim_charger *c, const char *action, const char *payload)
{
    cJSON *f = it_call(c, action, payload);
    if (!frame_is_callerror(f))
        fail_reply(f, action, payload, "a CALLERROR [4,id,code,description,{}]");
    char *out = strdup(frame_error_code(f));
    cJSON_Delete(f);
    return out;
}

cJSON *it_recv(struct sim_charger *c, int timeout_ms)
{
    return it_parse(sim_recv(c, timeout_ms));
}

cJSON *it_raw(struct sim_charger *c, const char *text, int timeout_ms)
{
    if (sim_send_text(c, text, strlen(text)) != 0)
        fail_msg("could not send on the websocket (closed?)");
    return it_recv(c, timeout_ms);
}

const char *js(const cJSON *o, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

int64_t ji(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : INT64_MIN;
}

const cJSON *jpath(const cJSON *o, const char *path)
{
    char key[128];
    const cJSON *cur = o;
    while (cur && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof key)
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        cur = cJSON_GetObjectItemCaseSensitive(cur, key);
        path += n + (dot ? 1 : 0);
    }
    return cur;
}

void it_boot(struct sim_charger *c)
{
    cJSON *p = it_ok(c, "BootNotification",
                     "{\"chargePointVendor\":\"ItVendor\",\"chargePointModel\":\"ItModel\"}");
    const char *st = js(p, "status");
    char got[32];
    snprintf(got, sizeof got, "%s", st ? st : "(none)");
    cJSON_Delete(p);
    if (strcmp(got, "Accepted") != 0)
        fail_msg("charger %s: BootNotification answered %s, expected Accepted", sim_charger_id(c), got);
}

struct sim_charger *it_connect_booted(struct sim *s, const char *id, const char *password)
{
    struct sim_charger *c = it_connect(s, id, password);
    it_boot(c);
    return c;
}

bool it_heartbeat_ok(struct sim_charger *c)
{
    char *text = sim_call(c, "Heartbeat", "{}", IT_CALL_MS);
    if (!text)
        return false;
    cJSON *f = cJSON_Parse(text);
    free(text);
    bool ok = frame_type(f) == 3 && js(frame_payload(f), "currentTime") != NULL;
    cJSON_Delete(f);
    return ok;
}

char *it_start_payload(int connector, const char *id_tag, int64_t meter_start, const char *timestamp)
{
    return it_strf("{\"connectorId\":%d,\"idTag\":\"%s\",\"meterStart\":%lld,\"timestamp\":\"%s\"}",
                   connector, id_tag, (long long)meter_start, timestamp);
}

int32_t it_start_accepted(struct sim_charger *c, int connector, const char *tag, int64_t meter, const char *ts)
{
    char *payload = it_start_payload(connector, tag, meter, ts);
    cJSON *p = it_ok(c, "StartTransaction", payload);
    free(payload);
    int64_t tx = ji(p, "transactionId");
    const char *st = cJSON_GetStringValue(jpath(p, "idTagInfo.status"));
    if (!st || strcmp(st, "Accepted") != 0 || tx <= 0)
        fail_msg("StartTransaction for %s not accepted", tag);
    cJSON_Delete(p);
    return (int32_t)tx;
}

struct sim_charger *it_connect_when_known(struct sim *s, const char *id, const char *password)
{
    struct sim_charger_opts o = { .id = id, .password = password };
    struct sim_charger *ch = NULL;
    int status = 0;
    for (int64_t end = it_now_ms() + IT_WAIT_MS; !ch && it_now_ms() < end;) {
        ch = it_try_connect(s, &o, &status, NULL);
        if (!ch)
            it_pause(s, 50);
    }
    if (!ch)
        fail_msg("%s never admitted with its key: last HTTP %d", id, status);
    return ch;
}
