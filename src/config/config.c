/*
 * Configuration loading. One table describes every key (section, name, type,
 * where it lives in struct config, bounds), so the INI reader, the
 * environment and the validator share it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "config.h"
#include "util.h"

enum key_type { K_STR, K_STRP, K_INT, K_BOOL, K_DAYS };

struct key {
    const char *section, *name;
    enum key_type type;
    size_t offset;
    size_t size;        /* K_STR buffer size */
    long min, max;      /* K_INT bounds */
};

#define STR(sec, nm, field) { sec, nm, K_STR, offsetof(struct config, field), sizeof(((struct config *)0)->field), 0, 0 }
#define STRP(sec, nm, field) { sec, nm, K_STRP, offsetof(struct config, field), 0, 0, 0 }
#define INT(sec, nm, field, lo, hi) { sec, nm, K_INT, offsetof(struct config, field), 0, lo, hi }
#define BOOL(sec, nm, field) { sec, nm, K_BOOL, offsetof(struct config, field), 0, 0, 0 }
/* whole days, or "never" (= 0, as is 0) */
#define DAYS(sec, nm, field) { sec, nm, K_DAYS, offsetof(struct config, field), 0, 0, RETENTION_DAYS_MAX }

static const struct key keys[] = {
    STR("server", "listen", listen),
    STR("server", "api_listen", api_listen),
    INT("server", "max_connections", max_connections, 0, 10000000),
    STR("server", "tls_listen", tls_listen),
    STR("server", "event_loop", event_loop),
    STRP("server", "tls_cert", tls_cert),
    STRP("server", "tls_key", tls_key),
    STRP("server", "tls_ca", tls_ca),
    STRP("database", "url", db_url),
    INT("database", "batch_max", db_batch_max, 1, 100000),
    INT("database", "queue_max", db_queue_max, 16, 100000000),
    BOOL("ocpp", "auto_register", auto_register),
    BOOL("ocpp", "require_subprotocol", require_subprotocol),
    INT("ocpp", "heartbeat_interval", heartbeat_interval, 1, 86400),
    INT("ocpp", "ping_interval", ping_interval, 1, 86400),
    INT("ocpp", "ping_timeout", ping_timeout, 1, 86400),
    INT("ocpp", "call_timeout", call_timeout, 1, 3600),
    INT("ocpp", "call_queue", call_queue, 1, 1000),
    INT("ocpp", "remote_start_wait", remote_start_wait, 0, 600),
    INT("load", "stack_level", load_stack_level, 0, 100),
    INT("ocpp", "stale_session_after", stale_session_after, 0, 31536000),
    INT("ocpp", "max_frame", max_frame, 512, 16 * 1024 * 1024),
    INT("ocpp", "outbox_max", outbox_max, 4096, 1024 * 1024 * 1024),
    BOOL("ocpp", "authorize_concurrent_tx", authorize_concurrent_tx),
    STRP("ocpp", "data_transfer_vendors", data_transfer_vendors),
    INT("ocpp", "auth_fail_max", auth_fail_max, 1, 1000000),
    INT("ocpp", "auth_fail_window", auth_fail_window, 1, 86400),
    INT("ocpp", "auth_block", auth_block, 1, 86400),
    INT("ocpp", "auth_fail_max_per_id", auth_fail_max_per_id, 1, 1000000),
    INT("ocpp", "auth_fail_window_per_id", auth_fail_window_per_id, 1, 86400),
    INT("ocpp", "auth_fail_max_per_id_day", auth_fail_max_per_id_day, 0, 1000000),
    INT("ocpp", "conn_rate_per_ip", conn_rate_per_ip, 1, 1000000),
    INT("ocpp", "conn_burst_per_ip", conn_burst_per_ip, 1, 1000000),
    INT("ocpp", "password_iterations", password_iterations, 1000, 10000000),
    STR("log", "level", log_level),
    STR("log", "format", log_format),
    INT("rest", "max_body", rest_max_body, 1024, 64 * 1024 * 1024),
    INT("rest", "rate_per_second", rest_rate_per_second, 1, 1000000),
    INT("rest", "rate_burst", rest_rate_burst, 1, 10000000),
    STRP("rest", "cors_origins", rest_cors_origins),
    INT("rest", "statement_timeout", rest_statement_timeout, 0, 3600),
    INT("rest", "statement_cache", rest_statement_cache, 16, 100000),
    STRP("security", "ca_cert", ca_cert),
    STRP("security", "ca_key", ca_key),
    STRP("security", "organization", organization),
    INT("security", "cert_days", cert_days, 1, 3650),
    STR("cluster", "node_id", node_id),
    INT("cluster", "heartbeat_interval", cluster_heartbeat_interval, 1, 3600),
    INT("events", "retention", events_retention, 0, 10 * 365 * 86400),
    INT("events", "session_update_interval", events_session_update_interval, 1, 86400),
    INT("events", "stream_buffer", events_stream_buffer, 4096, 1024 * 1024 * 1024),
    INT("events", "stream_keepalive", events_stream_keepalive, 1, 3600),
    INT("webhooks", "timeout", webhooks_timeout, 1, 300),
    INT("webhooks", "concurrency", webhooks_concurrency, 1, 1000),
    BOOL("webhooks", "allow_private", webhooks_allow_private),
    STR("webhooks", "retry_schedule", webhooks_retry_schedule),
    INT("webhooks", "disable_after", webhooks_disable_after, 60, 365 * 86400),
    INT("load", "interval", load_interval, 1, 86400),
    INT("load", "margin", load_margin, 0, 100),
    INT("load", "disconnect_grace", load_disconnect_grace, 0, 86400),
    INT("load", "charger_max_current", load_charger_max_current, 1, 2000),
    STR("receipts", "prefix", receipts_prefix),
    INT("tariffs", "idle_power_w", tariffs_idle_power_w, 0, 1000000),
    DAYS("retention", "meter_values", retention_meter_values),
    DAYS("retention", "status_history", retention_status_history),
    DAYS("retention", "events", retention_events),
    DAYS("retention", "commands", retention_commands),
    DAYS("retention", "audit_log", retention_audit_log),
};

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof *c);
    strcpy(c->listen, "0.0.0.0:8080");
    strcpy(c->event_loop, "uv");
    c->db_batch_max = 512;
    c->db_queue_max = 100000;
    c->require_subprotocol = true;
    c->heartbeat_interval = 300;
    c->ping_interval = 60;
    c->ping_timeout = 30;
    c->call_timeout = 30;
    c->call_queue = 16;
    c->remote_start_wait = 10;
    c->load_stack_level = 1;
    c->stale_session_after = 86400;
    c->max_frame = 65536;
    c->outbox_max = 1024 * 1024;
    c->auth_fail_max = 100;
    c->auth_fail_window = 60;
    c->auth_block = 60;
    c->auth_fail_max_per_id = 10;
    c->auth_fail_window_per_id = 60;
    c->auth_fail_max_per_id_day = 100;
    c->conn_rate_per_ip = 200;
    c->conn_burst_per_ip = 2000;
    c->password_iterations = 2000;
    strcpy(c->log_level, "info");
    strcpy(c->log_format, "text");
    c->rest_max_body = 1024 * 1024;
    c->rest_rate_per_second = 20;
    c->rest_rate_burst = 100;
    c->rest_statement_timeout = 5;
    c->rest_statement_cache = 256;
    c->cert_days = 365;
    c->cluster_heartbeat_interval = 10;
    c->events_retention = 7 * 86400;
    c->load_interval = 60;
    c->load_margin = 1;
    c->load_disconnect_grace = 120;
    c->load_charger_max_current = 32;
    c->events_session_update_interval = 60;
    c->events_stream_buffer = 1024 * 1024;
    c->events_stream_keepalive = 15;
    c->webhooks_timeout = 10;
    c->webhooks_concurrency = 64;
    c->webhooks_disable_after = 5 * 86400;
    c->tariffs_idle_power_w = 100;      /* PRICING_IDLE_POWER_W_DEFAULT (sites-and-tariffs.md) */
    c->retention_meter_values = 400;
    c->retention_status_history = 400;
    c->retention_events = -1;           /* not given: events.retention (7 days) */
    c->retention_commands = 90;
    c->retention_audit_log = 0;         /* never */
}

void config_free(struct config *c)
{
    free(c->db_url);
    free(c->data_transfer_vendors);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->tls_ca);
    free(c->rest_cors_origins);
    free(c->ca_cert);
    free(c->ca_key);
    free(c->organization);
    c->ca_cert = c->ca_key = c->organization = NULL;
    c->tls_cert = c->tls_key = c->tls_ca = NULL;
    c->rest_cors_origins = NULL;
    c->db_url = NULL;
    c->data_transfer_vendors = NULL;
}

static bool parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1"))
        *out = true;
    else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "0"))
        *out = false;
    else
        return false;
    return true;
}

bool config_set(struct config *c, const char *section, const char *name, const char *value,
                char *err, size_t errcap)
{
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const struct key *k = &keys[i];
        if (strcmp(k->section, section) != 0 || strcmp(k->name, name) != 0)
            continue;
        void *field = (char *)c + k->offset;
        switch (k->type) {
        case K_STR:
            if (!str_copy(field, k->size, value)) {
                snprintf(err, errcap, "%s.%s: value too long", section, name);
                return false;
            }
            return true;
        case K_STRP:
            free(*(char **)field);
            *(char **)field = value[0] ? xstrdup(value) : NULL;
            return true;
        case K_INT: {
            char *end;
            errno = 0;
            long v = strtol(value, &end, 10);
            if (errno || end == value || *end || v < k->min || v > k->max) {
                snprintf(err, errcap, "%s.%s: expected an integer from %ld to %ld, got '%s'",
                         section, name, k->min, k->max, value);
                return false;
            }
            *(int *)field = (int)v;
            if (field == (void *)&c->events_retention)
                c->events_retention_given = true;
            return true;
        }
        case K_DAYS: {
            bool never = strcmp(value, "never") == 0;
            char *end = NULL;
            errno = 0;
            long v = never ? 0 : strtol(value, &end, 10);
            if (!never && (errno || end == value || *end || v < k->min || v > k->max)) {
                snprintf(err, errcap, "%s.%s: expected whole days from %ld to %ld or never, got '%s'",
                         section, name, k->min, k->max, value);
                return false;
            }
            *(int *)field = (int)v;
            return true;
        }
        case K_BOOL:
            if (!parse_bool(value, field)) {
                snprintf(err, errcap, "%s.%s: expected true or false, got '%s'", section, name,
                         value);
                return false;
            }
            return true;
        }
    }
    snprintf(err, errcap, "unknown key %s.%s", section, name);
    return false;
}

struct ini_ctx {
    struct config *c;
    const char *path;
    char *err;
    size_t errcap;
    int line;
    bool failed;
};

static int on_ini_entry(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *ctx = user;
    char why[256];
    if (!config_set(ctx->c, section, name, value, why, sizeof why)) {
        snprintf(ctx->err, ctx->errcap, "%s: %s", ctx->path, why);
        ctx->failed = true;
        return 0;
    }
    return 1;
}

bool config_load_file(struct config *c, const char *path, char *err, size_t errcap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errcap, "cannot read config file %s: %s", path, strerror(errno));
        return false;
    }
    struct ini_ctx ctx = { c, path, err, errcap, 0, false };
    int r = ini_parse_file(f, on_ini_entry, &ctx);
    fclose(f);
    if (r != 0) {
        if (!ctx.failed)
            snprintf(err, errcap, "%s: syntax error at line %d", path, r);
        else {
            char tmp[512];
            snprintf(tmp, sizeof tmp, "%s (line %d)", err, r);
            str_copy(err, errcap, tmp);
        }
        return false;
    }
    return true;
}

void config_apply_env(struct config *c)
{
    const char *v;
    char err[256];
    if ((v = getenv("DATABASE_URL")) && *v)
        config_set(c, "database", "url", v, err, sizeof err);
    if ((v = getenv("OCPPGW_LISTEN")) && *v)
        config_set(c, "server", "listen", v, err, sizeof err);
    if ((v = getenv("OCPPGW_API_LISTEN")) && *v)
        config_set(c, "server", "api_listen", v, err, sizeof err);
    if ((v = getenv("OCPPGW_LOG_LEVEL")) && *v)
        config_set(c, "log", "level", v, err, sizeof err);
}

bool config_split_listen(const char *s, char *addr, size_t acap, int *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return false;
    size_t alen = (size_t)(colon - s);
    const char *a = s;
    if (a[0] == '[') {
        if (alen < 3 || a[alen - 1] != ']')
            return false;
        a++;
        alen -= 2;
    }
    if (alen + 1 > acap)
        return false;
    memcpy(addr, a, alen);
    addr[alen] = '\0';
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || p < 0 || p > 65535)
        return false;
    *port = (int)p;
    return true;
}

static bool node_char(char ch, bool colon)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '_' || ch == '-' || (colon && ch == ':');
}

bool config_node_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (; *s; s++)
        if (!node_char(*s, true))
            return false;
    return true;
}

void config_node_id(const struct config *c, char *buf, size_t cap)
{
    if (c->node_id[0]) {
        str_copy(buf, cap, c->node_id);
        return;
    }
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        strcpy(host, "localhost");
    host[sizeof host - 1] = '\0';
    for (char *p = host; *p; p++)
        if (!node_char(*p, false))
            *p = '-';
    char addr[128];
    int port = 0;
    config_split_listen(c->listen, addr, sizeof addr, &port);
    char tail[8];
    snprintf(tail, sizeof tail, ":%d", port);
    size_t keep = 64 - strlen(tail);
    if (strlen(host) > keep)
        host[keep] = '\0';
    snprintf(buf, cap, "%s%s", host, tail);
}

void config_receipt_prefix(const struct config *c, char *buf, size_t cap)
{
    if (c->receipts_prefix[0])
        str_copy(buf, cap, c->receipts_prefix);
    else
        config_node_id(c, buf, cap);
}

/* "*", or origins "http[s]://host[:port]" separated by commas (spaces allowed). */
static bool cors_origins_valid(const char *list)
{
    bool any = false;
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ", ");
        if (!n)
            break;
        bool star = n == 1 && *p == '*';
        bool http = (n > 7 && strncmp(p, "http://", 7) == 0) || (n > 8 && strncmp(p, "https://", 8) == 0);
        if (!star && (!http || memchr(p + 8, '/', n - 8)))
            return false;
        any = true;
        p += n;
    }
    return any;
}

bool config_validate(const struct config *c, char *err, size_t errcap)
{
    char addr[128];
    int port;
    enum log_level lvl;
    enum log_format fmt;
    if (c->retention_events >= 0 && c->events_retention_given &&
        (long)c->retention_events * 86400 != (long)c->events_retention) {
        snprintf(err, errcap, "retention.events (%d days) and events.retention (%d s) disagree: give one of them",
                 c->retention_events, c->events_retention);
        return false;
    }
    if (!config_split_listen(c->listen, addr, sizeof addr, &port)) {
        snprintf(err, errcap, "server.listen: expected ADDR:PORT, got '%s'", c->listen);
        return false;
    }
    if (c->api_listen[0] && !config_split_listen(c->api_listen, addr, sizeof addr, &port)) {
        snprintf(err, errcap, "server.api_listen: expected ADDR:PORT, got '%s'", c->api_listen);
        return false;
    }
    if (c->tls_listen[0] && !config_split_listen(c->tls_listen, addr, sizeof addr, &port)) {
        snprintf(err, errcap, "server.tls_listen: expected ADDR:PORT, got '%s'", c->tls_listen);
        return false;
    }
    if (c->tls_listen[0] && (!c->tls_cert || !c->tls_key)) {
        snprintf(err, errcap, "server.tls_listen needs server.tls_cert and server.tls_key");
        return false;
    }
    if (!c->ca_cert != !c->ca_key) {
        snprintf(err, errcap, "security.ca_cert and security.ca_key go together: set both or neither");
        return false;
    }
    if (c->ca_cert && (!c->organization || !c->organization[0])) {
        snprintf(err, errcap, "security.ca_cert needs security.organization (the O of chargers' CSRs)");
        return false;
    }
    if (strcmp(c->event_loop, "uv") != 0 && strcmp(c->event_loop, "poll") != 0) {
        snprintf(err, errcap, "server.event_loop: expected uv or poll, got '%s'", c->event_loop);
        return false;
    }
    if (!c->db_url) {
        snprintf(err, errcap, "no database: set database.url, DATABASE_URL or --db");
        return false;
    }
    if (!log_level_parse(c->log_level, &lvl)) {
        snprintf(err, errcap, "log.level: expected debug, info, warn or error, got '%s'",
                 c->log_level);
        return false;
    }
    if (c->rest_cors_origins && !cors_origins_valid(c->rest_cors_origins)) {
        snprintf(err, errcap, "rest.cors_origins: expected \"*\" or a comma list of origins"
                 " (http://host[:port] or https://...), got '%s'", c->rest_cors_origins);
        return false;
    }
    if (c->node_id[0] && !config_node_id_valid(c->node_id)) {
        snprintf(err, errcap, "cluster.node_id: expected 1 to 64 of A-Z a-z 0-9 . _ : -, got '%s'",
                 c->node_id);
        return false;
    }
    if (c->receipts_prefix[0] && !config_node_id_valid(c->receipts_prefix)) {
        snprintf(err, errcap, "receipts.prefix: expected 1 to 64 of A-Z a-z 0-9 . _ : -, got '%s'",
                 c->receipts_prefix);
        return false;
    }
    if (!log_format_parse(c->log_format, &fmt)) {
        snprintf(err, errcap, "log.format: expected text or json, got '%s'", c->log_format);
        return false;
    }
    return true;
}

int config_events_retention_s(const struct config *c)
{
    if (c->retention_events >= 0)
        return c->retention_events * 86400;
    return c->events_retention;
}
