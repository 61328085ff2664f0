/*
 * Configuration: defaults, then the INI file (libinih), then environment
 * variables, then command-line flags (main.c applies those). Every key is in
 * docs/configuration.md.
 */
#ifndef OCPPGW_CONFIG_H
#define OCPPGW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct config {
    char listen[128];
    char api_listen[128];           /* "" = REST on the OCPP listener */
    char tls_listen[128];           /* "" = no TLS listener (security profiles 2 and 3) */
    char *tls_cert, *tls_key;       /* PEM files, owned */
    char *tls_ca;                   /* CA for client certificates (profile 3), owned, may be NULL */
    int max_connections;            /* 0 = from RLIMIT_NOFILE */
    char event_loop[8];             /* "uv" (epoll via libuv) or "poll" (lws's own) */
    char *db_url;                   /* owned */
    int db_batch_max;
    int db_queue_max;
    bool auto_register;
    bool require_subprotocol;
    int heartbeat_interval;
    int ping_interval;
    int ping_timeout;
    int call_timeout;
    int call_queue;                 /* queued commands per charger behind the one in flight */
    int remote_start_wait;          /* seconds a remote start waits for its StartTransaction */
    int load_stack_level;           /* stackLevel of the gateway's charging profiles (load.stack_level, 1) */
    int stale_session_after;        /* seconds of charger silence before an active session is stale; 0 = never */
    int max_frame;
    int outbox_max;                 /* bytes queued for one websocket before it is closed */
    bool authorize_concurrent_tx;
    char *data_transfer_vendors;    /* owned, may be NULL */
    int auth_fail_max;
    int auth_fail_window;
    int auth_block;
    int auth_fail_max_per_id;       /* failures per IP for one charger (ocpp.auth_fail_max_per_id) */
    int auth_fail_window_per_id;    /* seconds */
    int auth_fail_max_per_id_day;   /* failures per charger per 24 h, any IP; 0 = no cap */
    int conn_rate_per_ip;
    int conn_burst_per_ip;
    int password_iterations;
    char log_level[8];
    char log_format[8];
    int rest_max_body;              /* bytes of a REST request body */
    int rest_rate_per_second;       /* per API key (token bucket rate) */
    int rest_rate_burst;            /* per API key (bucket size) */
    char *rest_cors_origins;        /* owned; comma list or "*"; NULL = no CORS */
    int rest_statement_timeout;     /* seconds a REST query may run (503 QUERY_TIMEOUT); 0 = no limit */
    int rest_statement_cache;       /* REST statement shapes kept prepared per process (LRU) */
    char *ca_cert, *ca_key;         /* CA that signs chargers' CSRs (SignCertificate), owned, may be NULL */
    char *organization;             /* the O a charger's CSR must carry, owned, may be NULL */
    int cert_days;                  /* validity of the certificates the CA issues */
    char node_id[65];               /* cluster.node_id; "" = derived (config_node_id) */
    int cluster_heartbeat_interval; /* seconds between the node row's heartbeats */
    int events_retention;           /* events.retention: seconds events are kept; 0 = forever */
    bool events_retention_given;    /* events.retention was set (it and retention.events must agree) */
    int events_session_update_interval; /* seconds between two session.updated of one session */
    int events_stream_buffer;       /* bytes waiting for one event stream's client before it is cut */
    int events_stream_keepalive;    /* seconds between an event stream's keepalive comments */
    int webhooks_timeout;           /* seconds for a delivery's 2xx */
    int webhooks_concurrency;       /* deliveries in flight per endpoint (per gateway) */
    bool webhooks_allow_private;    /* deliver to loopback/private/link-local destinations too */
    char webhooks_retry_schedule[256]; /* "" = events.md's; seconds, comma-separated (tests shorten it) */
    int webhooks_disable_after;     /* seconds of failures only before an endpoint is disabled */
    int load_interval;              /* seconds between two periodic rounds of a balanced site */
    int load_margin;                /* A a session drawing less keeps above its draw */
    int load_disconnect_grace;      /* seconds an offline charger's allocation is kept */
    int load_charger_max_current;   /* A per phase of a charger without maxCurrent */
    char receipts_prefix[65];       /* receipts.prefix; "" = the node id (config_receipt_prefix) */
    int tariffs_idle_power_w;       /* W (0 to 1000000): power at or below it is not charging (session cost) */
    /* retention.*: days raw rows are kept (docs/configuration.md); 0 = never deleted */
    int retention_meter_values;     /* meter_values, meter_messages */
    int retention_status_history;   /* status_history, charger_events, security_events, data_transfers, orphan_stops */
    int retention_events;           /* events; -1 = not given (events.retention applies) */
    int retention_commands;         /* commands (ended ones) */
    int retention_audit_log;        /* audit_log (default never) */
};

#define RETENTION_DAYS_MAX 36500

void config_defaults(struct config *c);
/* Loads FILE over the current values; false with a one-line reason in err. */
bool config_load_file(struct config *c, const char *path, char *err, size_t errcap);
/* Applies DATABASE_URL, OCPPGW_LISTEN, OCPPGW_API_LISTEN, OCPPGW_LOG_LEVEL. */
void config_apply_env(struct config *c);
/* Sets one "section.key" to a value; false with reason if unknown or bad. */
bool config_set(struct config *c, const char *section, const char *key, const char *value,
                char *err, size_t errcap);
/* Checks the whole configuration; false with reason. */
bool config_validate(const struct config *c, char *err, size_t errcap);
void config_free(struct config *c);
/* Seconds events are kept: retention.events in days if given, else events.retention (0 = forever). */
int config_events_retention_s(const struct config *c);

/*
 * This process's node id (presence: several gateways on one database):
 * cluster.node_id when set, else "<hostname>:<port of server.listen>",
 * which is the same across restarts of one service and unique per host
 * (one process can listen on a port). Characters outside A-Z a-z 0-9 . _ -
 * of the host name become '-', and it is cut to fit 64 characters. Writes
 * at most cap bytes (65 hold any id).
 */
void config_node_id(const struct config *c, char *buf, size_t cap);
/* Whether s is a valid node id: 1 to 64 of A-Z a-z 0-9 . _ : - */
bool config_node_id_valid(const char *s);
/*
 * The prefix of this gateway's receipt numbers (sql/019): receipts.prefix
 * when set, else the node id (config_node_id). Same characters and length
 * as a node id. Writes at most cap bytes (65 hold any).
 */
void config_receipt_prefix(const struct config *c, char *buf, size_t cap);

/* Splits "ADDR:PORT" / "[v6]:PORT"; false if malformed. */
bool config_split_listen(const char *s, char *addr, size_t acap, int *port);

#endif
