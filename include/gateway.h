/*
 * The glue (src/glue/): the running gateway process as the libwebsockets
 * code sees it. One context, one service thread, the core, the stores, and
 * the map from connection ids to websockets. src/glue/ is the only code
 * that calls lws; the composition root (src/app/serve.c) fills struct
 * gateway and hands it to gw_server_listen() / gw_server_run(). Callbacks
 * find it as the context's user pointer: there is no global.
 */
#ifndef OCPPGW_GATEWAY_H
#define OCPPGW_GATEWAY_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "ocpp.h"

struct lws;
struct lws_context;
struct lws_vhost;
struct core;
struct store;
struct hmap;
struct gw_server;
struct csr_signer;
struct webhooks;
struct store_exports;

/* A queued outgoing websocket message (LWS_PRE headroom before data). */
struct ws_frame {
    struct ws_frame *next;
    size_t len;
    unsigned char buf[];            /* LWS_PRE bytes, then len bytes of text */
};

/*
 * Per-connection data for every wsi of our protocols (lws allocates it,
 * zeroed). A websocket uses the ws fields; an HTTP request the http pointer.
 * Kept small: it is paid once per connected charger.
 */
struct gw_pss {
    uint64_t conn_id;               /* 0 until ESTABLISHED */
    struct ws_frame *out_head, *out_tail;
    size_t out_bytes;               /* queued in out_head..out_tail */
    char *rx;                       /* reassembly buffer, only while fragmented */
    size_t rx_len, rx_cap;
    int64_t heard_ms;               /* monotonic: the last frame the charger sent */
    int64_t ping_ms;                /* monotonic: when the unanswered ping was asked for; 0 none */
    uint16_t close_code;            /* nonzero: close at next WRITEABLE */
    uint16_t peer_code;             /* the close code the charger sent, if it did */
    uint8_t malformed_run;          /* consecutive malformed frames */
    uint8_t is_ws;
    uint8_t ping_due;               /* a ping to write at the next WRITEABLE */
    uint8_t why;                    /* enum ws_why: why the connection ends, for the log */
    uint8_t killed;                 /* being closed without a handshake: nothing more is written */
    uint8_t http_chunked;           /* a streaming HTTP reply goes out in chunks (else until close) */
    struct rest_request *http;      /* HTTP request state (src/rest) */
};

struct gateway {
    struct config cfg;
    struct lws_context *ctx;
    struct lws_vhost *ocpp_vhost;
    struct lws_vhost *api_vhost;    /* NULL when REST shares the OCPP listener */
    struct core *core;
    struct store *store;
    struct store *rest_store;       /* REST's own connection (src/rest); NULL once stopped */
    struct csr_signer *signer;      /* SignCertificate's CA thread; NULL without security.ca_cert */
    struct store_pricing *pricing;  /* the pricing job's thread (src/store/pricing_job.c) */
    struct store_utilization *utilization;  /* the utilization rollups' thread (src/store/utilization_job.c) */
    struct store_retention *retention; /* the retention job's thread (src/store/retention_job.c) */
    struct webhooks *webhooks;      /* the webhook delivery thread (src/webhook); NULL once stopped */
    struct store_exports *exports;  /* CSV / NDJSON export threads (src/store/export.c); NULL once stopped */
    struct hmap *ws_by_conn;        /* conn id -> struct lws * */
    struct ocpp_transport transport;
    struct gw_server *server;       /* the glue's own state (server_lws.c) */
    bool shutting_down;
    size_t ws_closes_unsent;        /* shutdown: close frames asked for and not yet written */
    int64_t started_ms;
    int max_connections;
};

/* ---- src/glue/server_lws.c: the context, its loop, start and shutdown ---- */

/*
 * Creates the libwebsockets context (on a libuv loop unless
 * server.event_loop = poll) with the gateway as its user pointer, and its
 * vhosts: OCPP, TLS (profiles 2 and 3) when server.tls_listen is set, REST
 * when server.api_listen is set. Call before the core exists, so a port in
 * use stops the start at once. false with a one-line reason in err (then
 * gw_server_destroy() still frees what was made).
 */
bool gw_server_listen(struct gateway *g, char *err, size_t cap);
/*
 * Serves until SIGTERM/SIGINT (systemd READY, STOPPING, WATCHDOG), then
 * shuts down in order: commands cancelled (their REST clients answered),
 * in-flight database answers sent (up to 10 s), websockets closed with 1001
 * (up to 3 s). g->core, g->store and g->rest_store must be running;
 * chargers and keys are for the start-up line.
 */
void gw_server_run(struct gateway *g, size_t chargers, size_t keys);
/* After the stores stopped: destroys the context (CLOSED callbacks reach the core) and the glue's state. */
void gw_server_destroy(struct gateway *g);
/* store_config.wake: a store has completions for the loop (any thread). */
void gw_store_wake(void *ctx);

/* ---- src/glue/ws_lws.c: OCPP websockets ---- */
void ws_init(struct gateway *g);
/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: 0 allow, 1 refused (answer written), -1 drop. */
int ws_confirm_upgrade(struct gateway *g, struct lws *wsi);
/* Writes a refusal of an upgrade (status, one optional header "Name:" value); returns 1. */
int ws_refuse(struct lws *wsi, int status, const char *hdr_name, const char *hdr_value);
/* Websocket callback reasons. */
int ws_callback(struct gateway *g, struct lws *wsi, int reason, struct gw_pss *pss, void *in,
                size_t len);
/* Asks every websocket to close with code (1001 at shutdown); returns how many close frames that asks for. */
size_t ws_close_all(struct gateway *g, int code);
/*
 * Once a second from the tick: pings chargers silent for ocpp.ping_interval
 * and drops those silent ocpp.ping_timeout after their ping. One walk over
 * the connections instead of lws's per-connection validity timers, each a
 * linear insert into lws 4.1.6's sorted timer list (N² for N chargers).
 */
void ws_sweep(struct gateway *g, int64_t now_ms);
size_t ws_open_count(const struct gateway *g);

/* ---- src/glue/http_lws.c: REST over HTTP ---- */
/* Starts the REST framework over g (config, REST store); before the loop. */
void http_init(struct gateway *g);
/* Frees every REST request and job context; after the REST store stopped and the context is gone. */
void http_shutdown(void);
int http_callback(struct lws *wsi, int reason, struct gw_pss *pss, void *in, size_t len);
/* Writes a complete response with status, JSON/text body and the standard headers. */
int http_reply(struct lws *wsi, int status, const char *content_type, const char *body,
               size_t len, const char *extra_headers[][2]);

#endif
