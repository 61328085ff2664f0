/*
 * Ready-made answers of a simulated charger to the gateway's CALLs: the 19
 * gateway-initiated OCPP 1.6 actions and the 7 of the Security Extension, answered as a small consistent charger
 * would (API and behaviours in sim.h, "ready-made answers").
 *
 * One sorted table describes every action: its positive and negative
 * status, an optional function that fills in the rest of a positive answer
 * from the charger's state, and a CALLRESULT payload the action's .conf
 * schema refuses. sim_answers_responder picks the behaviour (per action,
 * else the default), and for a positive answer runs the table entry.
 *
 * State that must persist between CALLs (configuration keys, local list
 * version, meter register, transactions started by a remote start, counters)
 * hangs off the charger through sim_set_charger_data, so one struct
 * sim_answers can serve a whole fleet. Follow-ups (StartTransaction after a
 * remote start, StopTransaction after a remote stop) go out through the
 * reply's then hook, i.e. only once the answer itself is in the outbox, and
 * are sent with sim_send_call_cb so that their answers come back here and
 * never reach a test waiting in sim_call or sim_recv.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cJSON.h>

#include "charging.h"
#include "sim.h"
#include "util.h"

#define ANS_MAGIC           0x616e7377u         /* "answ": the charger data is ours */
#define ANS_TX_MAX          16                  /* transactions remembered per charger */
#define ANS_UNKNOWN_MAX     100                 /* unknownKey entries reported */
#define ANS_METER_START_WH  10000
#define ANS_CERTS_MAX       8                   /* certificates installed per charger */

enum key_type { KEY_STRING, KEY_INT, KEY_BOOL };

static const struct key_default {
    const char *key;
    const char *value;
    bool readonly;
    enum key_type type;
} key_defaults[] = {
    { "AuthorizeRemoteTxRequests", "false", false, KEY_BOOL },
    { "ChargeProfileMaxStackLevel", "8", true, KEY_INT },
    { "ClockAlignedDataInterval", "0", false, KEY_INT },
    { "ConnectionTimeOut", "60", false, KEY_INT },
    { "GetConfigurationMaxKeys", "50", true, KEY_INT },
    { "HeartbeatInterval", "300", false, KEY_INT },
    { "LocalAuthListEnabled", "true", false, KEY_BOOL },
    { "LocalAuthListMaxLength", "100", true, KEY_INT },
    { "LocalPreAuthorize", "false", false, KEY_BOOL },
    { "MeterValueSampleInterval", "60", false, KEY_INT },
    { "MeterValuesSampledData", "Energy.Active.Import.Register", false, KEY_STRING },
    { "NumberOfConnectors", "1", true, KEY_INT },
    { "SecurityProfile", "0", false, KEY_INT },  /* Security Extension: only ever raised */
    { "SupportedFeatureProfiles",
      "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger", true,
      KEY_STRING },
    { "WebSocketPingInterval", "60", false, KEY_INT },
};
#define ANS_KEYS (sizeof key_defaults / sizeof key_defaults[0])

struct ans_tx {
    int tx_id;
    int connector;
    int meter_start;
    char id_tag[21];
    int64_t started_ms;
    bool stopping;                              /* a StopTransaction is on its way */
    bool local;                                 /* started by sim_answers_start_transaction */
    char auth[16];                              /* idTagInfo.status of the StartTransaction answer */
};

/* An installed certificate (InstallCertificate), by its CertificateHashDataType. */
struct ans_cert {
    char type[32];                              /* CentralSystemRootCertificate, ManufacturerRootCertificate */
    char name_hash[17], key_hash[17];           /* FNV-1a of the PEM text, hex: stable per certificate */
    char serial[17];
};

/* Per-charger state (sim_charger_data). */
struct ans_state {
    uint32_t magic;
    char *values[ANS_KEYS];                     /* current value of key_defaults[i] */
    int meter_wh;
    struct ans_tx tx[ANS_TX_MAX];
    int ntx;
    struct sim_answers_stats stats;
    struct ans_cert certs[ANS_CERTS_MAX];
    int ncerts;
    int cert_serial;                            /* the last serial number given out */
    char *certificate_chain;                    /* the last CertificateSigned's, NULL = none */
    struct chg *chg;                            /* profiles, draw, energy (tests/sim/charging.c) */
};

/* What a positive answer's filler works with. */
struct ans_ctx {
    const struct sim_answers *a;
    struct sim_charger *c;
    struct ans_state *st;
    const cJSON *req;                           /* the CALL's payload (an object, maybe empty) */
    cJSON *res;                                 /* the answer being built */
    struct sim_reply *out;                      /* for the then hook */
    const char *error;                          /* set by a filler: answer CALLERROR with this code */
};

struct action_spec {
    const char *name;
    const char *accept_status;                  /* NULL: the .conf has no status, or fill sets it */
    const char *reject_status;                  /* NULL: REJECT answers as ACCEPT */
    void (*fill)(struct ans_ctx *x);            /* rest of the positive answer, or NULL */
    const char *invalid;                        /* a payload the .conf schema refuses */
};

#define STATUS_MAYBE "{\"status\":\"Maybe\"}"

/* ------------------------------------------------------------ state */

static void state_free(void *p)
{
    struct ans_state *st = p;
    for (size_t i = 0; i < ANS_KEYS; i++)
        free(st->values[i]);
    free(st->certificate_chain);
    chg_free(st->chg);
    free(st);
}

/* The charger's state, made on first use; NULL if the data slot holds
 * something else. */
static struct ans_state *state_of(struct sim_charger *c)
{
    struct ans_state *st = sim_charger_data(c);
    if (st)
        return st->magic == ANS_MAGIC ? st : NULL;
    st = xcalloc(1, sizeof *st);
    st->magic = ANS_MAGIC;
    for (size_t i = 0; i < ANS_KEYS; i++)
        st->values[i] = xstrdup(key_defaults[i].value);
    st->meter_wh = ANS_METER_START_WH;
    st->chg = chg_new();
    sim_set_charger_data(c, st, state_free);
    return st;
}

static const struct ans_state *state_peek(const struct sim_charger *c)
{
    const struct ans_state *st = sim_charger_data(c);
    return st && st->magic == ANS_MAGIC ? st : NULL;
}

struct chg *ans_charging(struct sim_charger *c)
{
    struct ans_state *st = state_of(c);
    return st ? st->chg : NULL;
}

const struct chg *ans_charging_peek(const struct sim_charger *c)
{
    const struct ans_state *st = state_peek(c);
    return st ? st->chg : NULL;
}

static int key_index(const char *key)
{
    for (size_t i = 0; i < ANS_KEYS; i++)
        if (!strcmp(key_defaults[i].key, key))
            return (int)i;
    return -1;
}

static struct ans_tx *tx_find(struct ans_state *st, int tx_id)
{
    for (int i = 0; i < st->ntx; i++)
        if (st->tx[i].tx_id == tx_id)
            return &st->tx[i];
    return NULL;
}

/* Forgets t; its TxProfiles end with it. */
static void tx_remove(struct ans_state *st, struct ans_tx *t)
{
    chg_tx_ended(st->chg, t->connector, t->tx_id);
    int i = (int)(t - st->tx);
    memmove(&st->tx[i], &st->tx[i + 1], sizeof *t * (size_t)(st->ntx - i - 1));
    st->ntx--;
}

/* ------------------------------------------------------------ small helpers */

static void iso_now(char *buf, size_t cap)
{
    int64_t ms = time_now_ms();
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, cap - n, ".%03dZ", (int)(ms % 1000));
}

static const char *req_string(const cJSON *req, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool req_int(const cJSON *req, const char *name, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, name);
    if (!cJSON_IsNumber(v))
        return false;
    *out = v->valueint;
    return true;
}

static void set_payload(struct sim_reply *out, const char *json)
{
    out->kind = SIM_REPLY_RESULT;
    snprintf(out->payload, sizeof out->payload, "%s", json);
}

static void set_error(struct sim_reply *out, const char *code)
{
    out->kind = SIM_REPLY_ERROR;
    snprintf(out->payload, sizeof out->payload, "%s", code);
}

/* Sends a follow-up CALL built as cJSON (consumed); true if it went out. */
static bool send_followup(struct sim_charger *c, const char *action, cJSON *payload, sim_answer_fn fn,
                          void *arg)
{
    char *text = cJSON_PrintUnformatted(payload);
    cJSON_Delete(payload);
    int rc = sim_send_call_cb(c, action, text, fn, arg);
    cJSON_free(text);
    return rc == 0;
}

/* ------------------------------------------------------------ follow-ups */

struct start_arg {
    int connector;
    char id_tag[21];
    int meter_start;
    bool local;                                 /* the charger's own start, not a remote start */
};

static void start_answered(struct sim_charger *c, void *arg, bool ok, const char *payload_json)
{
    struct ans_state *st = state_of(c);
    const struct start_arg *sa = arg;
    if (!st)
        return;
    if (!ok) {
        st->stats.followup_errors++;
        st->stats.starts_failed++;
        return;
    }
    st->stats.starts_answered++;
    cJSON *j = cJSON_Parse(payload_json);
    int tx_id;
    if (req_int(j, "transactionId", &tx_id)) {
        if (st->ntx == ANS_TX_MAX)              /* forget the oldest */
            tx_remove(st, &st->tx[0]);
        struct ans_tx *t = &st->tx[st->ntx++];
        memset(t, 0, sizeof *t);
        t->tx_id = tx_id;
        t->connector = sa->connector;
        t->meter_start = sa->meter_start;
        memcpy(t->id_tag, sa->id_tag, sizeof t->id_tag);
        t->started_ms = time_now_ms();
        t->local = sa->local;
        chg_tx_started(st->chg, t->connector, tx_id, t->started_ms);
        const cJSON *info = cJSON_GetObjectItemCaseSensitive(j, "idTagInfo");
        str_copy(t->auth, sizeof t->auth, req_string(info, "status") ? req_string(info, "status") : "");
        st->stats.last_transaction_id = tx_id;
    }
    cJSON_Delete(j);
}

/* StartTransaction on req's connector with req's tag, from the charger's meter register. */
static bool send_start(struct sim_charger *c, struct ans_state *st, const struct start_arg *req)
{
    struct start_arg *sa = xmalloc(sizeof *sa);
    *sa = *req;
    sa->meter_start = st->meter_wh;
    char ts[40];
    iso_now(ts, sizeof ts);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "connectorId", sa->connector);
    cJSON_AddStringToObject(p, "idTag", sa->id_tag);
    cJSON_AddNumberToObject(p, "meterStart", sa->meter_start);
    cJSON_AddStringToObject(p, "timestamp", ts);
    if (!send_followup(c, "StartTransaction", p, start_answered, sa))
        return false;
    st->stats.starts_sent++;
    return true;
}

/* Then hook of an accepted RemoteStartTransaction: arg is a struct start_arg. */
static void start_followup(struct sim_charger *c, void *arg)
{
    struct ans_state *st = state_of(c);
    if (st)
        send_start(c, st, arg);
}

static void stop_answered(struct sim_charger *c, void *arg, bool ok, const char *payload_json)
{
    struct ans_state *st = state_of(c);
    (void)arg;
    (void)payload_json;
    if (!st)
        return;
    if (ok)
        st->stats.stops_answered++;
    else
        st->stats.followup_errors++;
}

/* The meter register during a transaction: its start plus what it drew
 * (tests/sim/charging.c). */
static int tx_meter(const struct ans_state *st, const struct ans_tx *t)
{
    return t->meter_start + (int)chg_tx_energy_wh(st->chg, t->connector, t->tx_id);
}

/* StopTransaction of t (forgotten at once), with this reason. */
static bool send_stop(struct sim_charger *c, struct ans_state *st, struct ans_tx *t, const char *reason)
{
    /* at least 10 Wh, and never below what MeterValues reported */
    int meter_stop = tx_meter(st, t) + 10;
    if (meter_stop > st->meter_wh)
        st->meter_wh = meter_stop;
    char ts[40];
    iso_now(ts, sizeof ts);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "transactionId", t->tx_id);
    if (t->id_tag[0])
        cJSON_AddStringToObject(p, "idTag", t->id_tag);
    cJSON_AddNumberToObject(p, "meterStop", meter_stop);
    cJSON_AddStringToObject(p, "timestamp", ts);
    cJSON_AddStringToObject(p, "reason", reason);
    tx_remove(st, t);
    if (!send_followup(c, "StopTransaction", p, stop_answered, NULL))
        return false;
    st->stats.stops_sent++;
    return true;
}

/* Then hook of an accepted RemoteStopTransaction: arg is the int tx id. */
static void stop_followup(struct sim_charger *c, void *arg)
{
    struct ans_state *st = state_of(c);
    struct ans_tx *t = st ? tx_find(st, *(const int *)arg) : NULL;
    if (t)
        send_stop(c, st, t, "Remote");
}

/* ------------------------------------------------------------ positive answers */

static void fill_remote_start(struct ans_ctx *x)
{
    if (!x->a->followups)
        return;
    struct start_arg *sa = xcalloc(1, sizeof *sa);
    if (!req_int(x->req, "connectorId", &sa->connector) || sa->connector <= 0)
        sa->connector = 1;
    const char *tag = req_string(x->req, "idTag");
    str_copy(sa->id_tag, sizeof sa->id_tag, tag ? tag : "");
    x->out->then = start_followup;
    x->out->then_arg = sa;
    x->out->then_delay_ms = x->a->followup_delay_ms;
}

static void fill_remote_stop(struct ans_ctx *x)
{
    int tx_id;
    struct ans_tx *t;
    if (!x->a->followups || !req_int(x->req, "transactionId", &tx_id) || !(t = tx_find(x->st, tx_id)) ||
        t->stopping)
        return;
    t->stopping = true;
    int *arg = xmalloc(sizeof *arg);
    *arg = tx_id;
    x->out->then = stop_followup;
    x->out->then_arg = arg;
    x->out->then_delay_ms = x->a->followup_delay_ms;
}

static bool valid_value(enum key_type type, const char *v)
{
    switch (type) {
    case KEY_INT:
        if (!*v || strlen(v) > 9)
            return false;
        for (const char *p = v; *p; p++)
            if (*p < '0' || *p > '9')
                return false;
        return true;
    case KEY_BOOL:
        return !strcasecmp(v, "true") || !strcasecmp(v, "false");
    case KEY_STRING:
        return strlen(v) <= 500;
    }
    return false;
}

static void fill_change_configuration(struct ans_ctx *x)
{
    const char *key = req_string(x->req, "key"), *value = req_string(x->req, "value");
    int i = key ? key_index(key) : -1;
    const char *status;
    if (i < 0) {
        status = "NotSupported";
    } else if (key_defaults[i].readonly || !value || !valid_value(key_defaults[i].type, value)) {
        status = "Rejected";
    } else if (!strcmp(key, "SecurityProfile") &&
               (atoi(value) > 3 || atoi(value) < atoi(x->st->values[i]))) {
        status = "Rejected";                    /* no such profile, or a downgrade (white paper) */
    } else {
        free(x->st->values[i]);
        x->st->values[i] = xstrdup(key_defaults[i].type == KEY_BOOL
                                       ? (!strcasecmp(value, "true") ? "true" : "false")
                                       : value);
        status = "Accepted";
    }
    cJSON_AddStringToObject(x->res, "status", status);
}

static void add_key(cJSON *list, const struct ans_state *st, int i)
{
    cJSON *k = cJSON_CreateObject();
    cJSON_AddStringToObject(k, "key", key_defaults[i].key);
    cJSON_AddBoolToObject(k, "readonly", key_defaults[i].readonly);
    cJSON_AddStringToObject(k, "value", st->values[i]);
    cJSON_AddItemToArray(list, k);
}

static void fill_get_configuration(struct ans_ctx *x)
{
    cJSON *keys = cJSON_AddArrayToObject(x->res, "configurationKey");
    const cJSON *asked = cJSON_GetObjectItemCaseSensitive(x->req, "key");
    if (!cJSON_IsArray(asked) || cJSON_GetArraySize(asked) == 0) {
        for (size_t i = 0; i < ANS_KEYS; i++)
            add_key(keys, x->st, (int)i);
        return;
    }
    cJSON *unknown = NULL;
    int nunknown = 0;
    const cJSON *k;
    cJSON_ArrayForEach(k, asked) {
        if (!cJSON_IsString(k))
            continue;
        int i = key_index(k->valuestring);
        if (i >= 0) {
            add_key(keys, x->st, i);
        } else if (nunknown < ANS_UNKNOWN_MAX) {
            char name[51];
            str_copy(name, sizeof name, k->valuestring);
            if (!unknown)
                unknown = cJSON_AddArrayToObject(x->res, "unknownKey");
            cJSON_AddItemToArray(unknown, cJSON_CreateString(name));
            nunknown++;
        }
    }
}

static void fill_data_transfer(struct ans_ctx *x)
{
    const char *data = req_string(x->req, "data");
    if (data)
        cJSON_AddStringToObject(x->res, "data", data);
}

static void fill_send_local_list(struct ans_ctx *x)
{
    int v;
    if (req_int(x->req, "listVersion", &v))
        x->st->stats.list_version = v;
}

static void fill_local_list_version(struct ans_ctx *x)
{
    cJSON_AddNumberToObject(x->res, "listVersion", x->st->stats.list_version);
}

static void fill_composite_schedule(struct ans_ctx *x)
{
    int connector = 0, duration = 3600;
    req_int(x->req, "connectorId", &connector);
    req_int(x->req, "duration", &duration);
    const char *unit = req_string(x->req, "chargingRateUnit");
    bool watts = unit && !strcmp(unit, "W");
    char ts[40];
    iso_now(ts, sizeof ts);
    cJSON_AddNumberToObject(x->res, "connectorId", connector);
    cJSON_AddStringToObject(x->res, "scheduleStart", ts);
    cJSON *sched = cJSON_AddObjectToObject(x->res, "chargingSchedule");
    cJSON_AddNumberToObject(sched, "duration", duration);
    cJSON_AddStringToObject(sched, "startSchedule", ts);
    cJSON_AddStringToObject(sched, "chargingRateUnit", watts ? "W" : "A");
    cJSON *periods = cJSON_AddArrayToObject(sched, "chargingSchedulePeriod");
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "startPeriod", 0);
    double amps = chg_schedule_limit(x->st->chg, connector);
    cJSON_AddNumberToObject(p, "limit", watts ? (double)(int)(amps * 230 * 3) : (double)(int)(amps * 10) / 10);
    cJSON_AddNumberToObject(p, "numberPhases", 3);
    cJSON_AddItemToArray(periods, p);
}

static void fill_set_charging_profile(struct ans_ctx *x)
{
    const char *status = chg_on_set(x->st->chg, x->a, x->c, x->req, &x->error);
    if (status)
        cJSON_AddStringToObject(x->res, "status", status);
}

static void fill_clear_charging_profile(struct ans_ctx *x)
{
    cJSON_AddStringToObject(x->res, "status", chg_on_clear(x->st->chg, x->a, x->c, x->req));
}

static void fill_get_diagnostics(struct ans_ctx *x)
{
    char name[256];
    snprintf(name, sizeof name, "diag-%.240s.log", sim_charger_id(x->c));
    cJSON_AddStringToObject(x->res, "fileName", name);
}

/* ---- the Security Extension (white paper edition 3) ---- */

static void fnv_hex(const char *text, uint64_t seed, char out[17])
{
    uint64_t h = 1469598103934665603ull ^ seed;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static void add_hash_data(cJSON *to, const struct ans_cert *k)
{
    cJSON *h = cJSON_CreateObject();
    cJSON_AddStringToObject(h, "hashAlgorithm", "SHA256");
    cJSON_AddStringToObject(h, "issuerNameHash", k->name_hash);
    cJSON_AddStringToObject(h, "issuerKeyHash", k->key_hash);
    cJSON_AddStringToObject(h, "serialNumber", k->serial);
    cJSON_AddItemToArray(to, h);
}

/* InstallCertificate: kept (once per PEM text) until DeleteCertificate; "Failed" when full. */
static void fill_install_certificate(struct ans_ctx *x)
{
    const char *type = req_string(x->req, "certificateType"), *pem = req_string(x->req, "certificate");
    struct ans_cert k = { 0 };
    str_copy(k.type, sizeof k.type, type ? type : "");
    fnv_hex(pem ? pem : "", 1, k.name_hash);
    fnv_hex(pem ? pem : "", 2, k.key_hash);
    for (int i = 0; i < x->st->ncerts; i++) {
        if (!strcmp(x->st->certs[i].name_hash, k.name_hash) && !strcmp(x->st->certs[i].type, k.type)) {
            cJSON_AddStringToObject(x->res, "status", "Accepted");
            return;
        }
    }
    if (x->st->ncerts == ANS_CERTS_MAX) {
        cJSON_AddStringToObject(x->res, "status", "Failed");
        return;
    }
    snprintf(k.serial, sizeof k.serial, "%X", ++x->st->cert_serial);
    x->st->certs[x->st->ncerts++] = k;
    cJSON_AddStringToObject(x->res, "status", "Accepted");
}

/* GetInstalledCertificateIds: the installed ones of that type, or NotFound. */
static void fill_installed_ids(struct ans_ctx *x)
{
    const char *type = req_string(x->req, "certificateType");
    cJSON *list = NULL;
    for (int i = 0; i < x->st->ncerts; i++) {
        if (type && !strcmp(x->st->certs[i].type, type)) {
            if (!list)
                list = cJSON_AddArrayToObject(x->res, "certificateHashData");
            add_hash_data(list, &x->st->certs[i]);
        }
    }
    cJSON_AddStringToObject(x->res, "status", list ? "Accepted" : "NotFound");
}

/* DeleteCertificate: Accepted when all four hash fields name an installed one, else NotFound. */
static void fill_delete_certificate(struct ans_ctx *x)
{
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(x->req, "certificateHashData");
    const char *name = req_string(h, "issuerNameHash"), *key = req_string(h, "issuerKeyHash");
    const char *serial = req_string(h, "serialNumber"), *alg = req_string(h, "hashAlgorithm");
    for (int i = 0; name && key && serial && alg && !strcmp(alg, "SHA256") && i < x->st->ncerts; i++) {
        struct ans_cert *k = &x->st->certs[i];
        if (!strcmp(k->name_hash, name) && !strcmp(k->key_hash, key) && !strcmp(k->serial, serial)) {
            memmove(k, k + 1, sizeof *k * (size_t)(x->st->ncerts - i - 1));
            x->st->ncerts--;
            cJSON_AddStringToObject(x->res, "status", "Accepted");
            return;
        }
    }
    cJSON_AddStringToObject(x->res, "status", "NotFound");
}

static void fill_get_log(struct ans_ctx *x)
{
    int request_id = 0;
    req_int(x->req, "requestId", &request_id);
    const char *type = req_string(x->req, "logType");
    char name[256];
    snprintf(name, sizeof name, "%s-%.200s-%d.log", type && !strcmp(type, "SecurityLog") ? "security" : "diag",
             sim_charger_id(x->c), request_id);
    cJSON_AddStringToObject(x->res, "filename", name);
}

/* Security Extension: the chain is kept for the test to check (sim_answers_certificate_chain). */
static void fill_certificate_signed(struct ans_ctx *x)
{
    const char *chain = req_string(x->req, "certificateChain");
    free(x->st->certificate_chain);
    x->st->certificate_chain = chain ? xstrdup(chain) : NULL;
}

/* Sorted by name (strcmp) for bsearch; sim_answers_init checks. */
static const struct action_spec actions[SIM_ANSWERS_ACTIONS] = {
    { "CancelReservation", "Accepted", "Rejected", NULL, STATUS_MAYBE },
    { "CertificateSigned", "Accepted", "Rejected", fill_certificate_signed, STATUS_MAYBE },
    { "ChangeAvailability", "Accepted", "Rejected", NULL, STATUS_MAYBE },
    { "ChangeConfiguration", NULL, "Rejected", fill_change_configuration, STATUS_MAYBE },
    { "ClearCache", "Accepted", "Rejected", NULL, STATUS_MAYBE },
    { "ClearChargingProfile", NULL, "Unknown", fill_clear_charging_profile, STATUS_MAYBE },
    { "DataTransfer", "Accepted", "Rejected", fill_data_transfer, STATUS_MAYBE },
    { "DeleteCertificate", NULL, "Failed", fill_delete_certificate, STATUS_MAYBE },
    { "ExtendedTriggerMessage", "Accepted", "Rejected", NULL, STATUS_MAYBE },
    { "GetCompositeSchedule", "Accepted", "Rejected", fill_composite_schedule, STATUS_MAYBE },
    { "GetConfiguration", NULL, NULL, fill_get_configuration, "{\"configurationKey\":\"HeartbeatInterval\"}" },
    { "GetDiagnostics", NULL, NULL, fill_get_diagnostics, "{\"fileName\":42}" },
    { "GetInstalledCertificateIds", NULL, "NotFound", fill_installed_ids, STATUS_MAYBE },
    { "GetLocalListVersion", NULL, NULL, fill_local_list_version, "{}" },
    { "GetLog", "Accepted", "Rejected", fill_get_log, STATUS_MAYBE },
    { "InstallCertificate", NULL, "Rejected", fill_install_certificate, STATUS_MAYBE },
    { "RemoteStartTransaction", "Accepted", "Rejected", fill_remote_start, STATUS_MAYBE },
    { "RemoteStopTransaction", "Accepted", "Rejected", fill_remote_stop, STATUS_MAYBE },
    { "ReserveNow", "Accepted", "Rejected", NULL, STATUS_MAYBE },
    { "Reset", "Accepted", "Rejected", NULL, STATUS_MAYBE },
    { "SendLocalList", "Accepted", "Failed", fill_send_local_list, STATUS_MAYBE },
    { "SetChargingProfile", NULL, "Rejected", fill_set_charging_profile, STATUS_MAYBE },
    { "SignedUpdateFirmware", "Accepted", "InvalidCertificate", NULL, STATUS_MAYBE },
    { "TriggerMessage", "Accepted", "Rejected", NULL, STATUS_MAYBE },
    { "UnlockConnector", "Unlocked", "UnlockFailed", NULL, STATUS_MAYBE },
    { "UpdateFirmware", NULL, NULL, NULL, "{\"status\":\"Accepted\"}" },
};

static int spec_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct action_spec *)elem)->name);
}

static const struct action_spec *find_action(const char *name)
{
    return bsearch(name, actions, SIM_ANSWERS_ACTIONS, sizeof actions[0], spec_cmp);
}

/* ------------------------------------------------------------ API */

void sim_answers_init(struct sim_answers *a)
{
    for (int i = 1; i < SIM_ANSWERS_ACTIONS; i++)
        if (strcmp(actions[i - 1].name, actions[i].name) >= 0)
            abort();                            /* the table must stay sorted */
    memset(a, 0, sizeof *a);
    a->behaviour = SIM_ANSWER_ACCEPT;
    strcpy(a->callerror_code, "NotSupported");
    a->followups = true;
    a->connectors = 1;
    a->max_current = 32;
    a->demand = 32;
}

int sim_answers_set(struct sim_answers *a, const char *action, enum sim_answer b)
{
    const struct action_spec *spec = find_action(action);
    if (!spec)
        return -1;
    a->per_action[spec - actions] = b;
    return 0;
}

const char *sim_answers_action_name(int i)
{
    return i >= 0 && i < SIM_ANSWERS_ACTIONS ? actions[i].name : NULL;
}

static const char *const answer_names[] = { "default", "accept", "reject", "callerror",
                                            "silence", "disconnect", "invalid" };

bool sim_answer_parse(const char *name, enum sim_answer *out)
{
    for (size_t i = 0; i < sizeof answer_names / sizeof answer_names[0]; i++) {
        if (!strcmp(name, answer_names[i])) {
            *out = (enum sim_answer)i;
            return true;
        }
    }
    return false;
}

const char *sim_answer_name(enum sim_answer b)
{
    return (size_t)b < sizeof answer_names / sizeof answer_names[0] ? answer_names[b] : "?";
}

void sim_answers_responder(void *user, struct sim_charger *c, const char *action, const char *payload_json,
                           struct sim_reply *out)
{
    const struct sim_answers *a = user;
    const struct action_spec *spec = find_action(action);
    enum sim_answer b = spec && a->per_action[spec - actions] != SIM_ANSWER_DEFAULT
                            ? a->per_action[spec - actions]
                            : a->behaviour;
    out->delay_ms = a->delay_ms;
    struct ans_state *st = state_of(c);
    if (st)
        chg_defaults(st->chg, a);
    bool profile_call = !strcmp(action, "SetChargingProfile") || !strcmp(action, "ClearChargingProfile");
    if (profile_call && st && b != SIM_ANSWER_DEFAULT && b != SIM_ANSWER_ACCEPT) {
        const char *answer = b == SIM_ANSWER_REJECT ? spec->reject_status : sim_answer_name(b);
        chg_on_refused(st->chg, a, c, action[0] == 'S', payload_json,
                       b == SIM_ANSWER_CALLERROR ? "CALLERROR" : answer);
    }

    switch (b) {
    case SIM_ANSWER_SILENCE:
        out->kind = SIM_REPLY_SILENCE;
        return;
    case SIM_ANSWER_DISCONNECT:
        out->kind = SIM_REPLY_DISCONNECT;
        return;
    case SIM_ANSWER_CALLERROR:
        set_error(out, a->callerror_code[0] ? a->callerror_code : "NotSupported");
        return;
    case SIM_ANSWER_DEFAULT:
    case SIM_ANSWER_ACCEPT:
    case SIM_ANSWER_REJECT:
    case SIM_ANSWER_INVALID:
        break;
    }
    if (!spec) {
        set_error(out, "NotImplemented");
        return;
    }
    if (b == SIM_ANSWER_INVALID) {
        set_payload(out, spec->invalid);
        return;
    }
    if (b == SIM_ANSWER_REJECT && spec->reject_status) {
        snprintf(out->payload, sizeof out->payload, "{\"status\":\"%s\"}", spec->reject_status);
        out->kind = SIM_REPLY_RESULT;
        return;
    }

    if (!st) {
        set_error(out, "InternalError");
        return;
    }
    cJSON *req = cJSON_Parse(payload_json ? payload_json : "{}");
    if (!cJSON_IsObject(req)) {
        cJSON_Delete(req);
        req = cJSON_CreateObject();
    }
    struct ans_ctx x = { .a = a, .c = c, .st = st, .req = req, .res = cJSON_CreateObject(), .out = out };
    if (spec->accept_status)
        cJSON_AddStringToObject(x.res, "status", spec->accept_status);
    if (spec->fill)
        spec->fill(&x);
    out->kind = SIM_REPLY_RESULT;
    if (x.error) {
        set_error(out, x.error);
        free(out->then_arg);
        out->then = NULL;
        out->then_arg = NULL;
    } else if (!cJSON_PrintPreallocated(x.res, out->payload, (int)sizeof out->payload, 0)) {
        set_error(out, "InternalError");        /* cannot happen within the caps above */
        free(out->then_arg);
        out->then = NULL;
        out->then_arg = NULL;
    }
    cJSON_Delete(x.res);
    cJSON_Delete(req);
}

void sim_answers_get_stats(const struct sim_charger *c, struct sim_answers_stats *out)
{
    const struct ans_state *st = state_peek(c);
    memset(out, 0, sizeof *out);
    if (!st)
        return;
    *out = st->stats;
    out->transactions_open = st->ntx;
    chg_stats(st->chg, out);
}

int sim_answers_last_transaction_id(const struct sim_charger *c)
{
    const struct ans_state *st = state_peek(c);
    return st ? st->stats.last_transaction_id : 0;
}

const char *sim_answers_config_value(const struct sim_charger *c, const char *key)
{
    const struct ans_state *st = state_peek(c);
    int i = key_index(key);
    return st && i >= 0 ? st->values[i] : NULL;
}

const char *sim_answers_certificate_chain(const struct sim_charger *c)
{
    const struct ans_state *st = state_peek(c);
    return st ? st->certificate_chain : NULL;
}

int sim_answers_start_transaction(struct sim_charger *c, int connector, const char *id_tag)
{
    struct ans_state *st = state_of(c);
    if (!st || connector <= 0)
        return -1;
    struct start_arg sa = { .connector = connector, .local = true };
    str_copy(sa.id_tag, sizeof sa.id_tag, id_tag ? id_tag : "");
    return send_start(c, st, &sa) ? 0 : -1;
}

int sim_answers_stop_transaction(struct sim_charger *c, int tx_id, const char *reason)
{
    struct ans_state *st = state_of(c);
    struct ans_tx *t = st ? tx_find(st, tx_id) : NULL;
    if (!t || t->stopping)
        return -1;
    return send_stop(c, st, t, reason && *reason ? reason : "Local") ? 0 : -1;
}

int sim_answers_transactions(const struct sim_charger *c, struct sim_answers_tx *out, int max)
{
    const struct ans_state *st = state_peek(c);
    int n = 0;
    for (int i = 0; st && i < st->ntx && n < max; i++) {
        const struct ans_tx *t = &st->tx[i];
        if (t->stopping)
            continue;
        out[n] = (struct sim_answers_tx){ .transaction_id = t->tx_id, .connector = t->connector,
                                          .meter_wh = tx_meter(st, t), .local = t->local };
        str_copy(out[n].id_tag, sizeof out[n].id_tag, t->id_tag);
        str_copy(out[n].auth, sizeof out[n].auth, t->auth);
        n++;
    }
    return n;
}
