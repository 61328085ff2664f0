/*
 * Charger simulator on libwebsockets' client side. One struct sim is one lws
 * client context on the calling thread; it holds any number of simulated
 * chargers. The API is synchronous for tests (sim_call waits for the answer
 * by servicing the loop) and also has a non-blocking form for the load
 * generator (sim_send_call + sim_poll).
 *
 * Used by the integration tests (tests/integration/) and by the benchmark
 * load generator (tests/sim/ocppsim.c, `make bench`).
 */
#ifndef OCPPGW_SIM_H
#define OCPPGW_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sim;
struct sim_charger;

struct sim_options {
    const char *host;               /* "127.0.0.1" */
    int port;
    int max_chargers;               /* expected chargers: warns if the fd limit cannot hold them
                                       (the lws fd table is the whole RLIMIT_NOFILE) */
    bool quiet;                     /* no lws logging */
    /* wss:// (security profiles 2 and 3): every charger of this sim uses TLS */
    bool tls;
    const char *tls_ca;             /* CA that must have signed the server certificate (NULL: any) */
    const char *tls_cert;           /* client certificate (PEM) presented to the server, or NULL */
    const char *tls_key;            /* its private key */
};

/* NULL on failure (message on stderr). Raises RLIMIT_NOFILE soft to hard. */
struct sim *sim_new(const struct sim_options *o);
/* Closes every charger and frees. */
void sim_free(struct sim *s);

struct sim_charger_opts {
    const char *id;                 /* charge point id (put in the path as is) */
    const char *path;               /* full request path; overrides "/ocpp/<id>" when set */
    const char *password;           /* HTTP Basic password (user = id); NULL = no header */
    const char *basic_user;         /* override the Basic user name (NULL = id) */
    const char *subprotocols;       /* offered list, default "ocpp1.6"; "" = offer none */
    const char *source_addr;        /* bind to this local address (e.g. "127.0.0.7"); NULL = any */
    size_t rx_max;                  /* largest message accepted (default 1 MiB) */
};

/*
 * Connects and waits until the websocket is open or refused. Returns the
 * charger, or NULL if refused; *http_status (optional) receives the HTTP
 * status of a refused upgrade (400, 401, 404, 429, ...), 101 on success, or
 * 0 when the server dropped TCP / closed without a status.
 * On success *selected_protocol (optional, >= 32 bytes) receives the
 * subprotocol the server selected ("" if none).
 */
struct sim_charger *sim_connect(struct sim *s, const struct sim_charger_opts *o, int timeout_ms,
                                int *http_status, char *selected_protocol);

/* Start a connection without waiting (load generator); poll sim_state(). */
struct sim_charger *sim_connect_async(struct sim *s, const struct sim_charger_opts *o);

enum sim_state { SIM_CONNECTING, SIM_OPEN, SIM_REFUSED, SIM_CLOSED };
enum sim_state sim_state(const struct sim_charger *c);
/* Close code the server sent (1000, 1008, 1009, ...), 0 if none / still open. */
int sim_close_code(const struct sim_charger *c);
const char *sim_charger_id(const struct sim_charger *c);

/* Sends one text message as is (for malformed-frame tests). 0 or -1 if not open. */
int sim_send_text(struct sim_charger *c, const char *text, size_t len);
/* Sends a message split into `fragments` websocket frames (continuations). */
int sim_send_fragmented(struct sim_charger *c, const char *text, size_t len, int fragments);

/*
 * Sends [2,"<generated id>","action",payload] and waits for the CALLRESULT or
 * CALLERROR with that id. Returns the whole reply frame text (malloc'd,
 * caller frees) or NULL on timeout / close. Other messages that arrive
 * meanwhile are queued for sim_recv (server CALLs go to the responder).
 */
char *sim_call(struct sim_charger *c, const char *action, const char *payload_json, int timeout_ms);

/* Same with a caller-chosen unique id (for duplicate-id / long-id tests). */
char *sim_call_id(struct sim_charger *c, const char *id, const char *action,
                  const char *payload_json, int timeout_ms);

/* Next queued or arriving text message (malloc'd), or NULL on timeout / close. */
char *sim_recv(struct sim_charger *c, int timeout_ms);

/* Waits until the server closes the connection; true if it did within timeout. */
bool sim_wait_closed(struct sim_charger *c, int timeout_ms);

/* Closes from our side (close frame 1000) and frees the charger. */
void sim_disconnect(struct sim_charger *c);

/*
 * Answers CALLs from the gateway. The responder gets the action and payload
 * and returns what to do; by default every CALL is answered with "{}".
 */
enum sim_reply_kind {
    SIM_REPLY_RESULT,               /* CALLRESULT with payload */
    SIM_REPLY_ERROR,                /* CALLERROR with payload as error code */
    SIM_REPLY_SILENCE,              /* never answer */
    SIM_REPLY_DISCONNECT            /* drop the connection */
};
struct sim_reply {
    enum sim_reply_kind kind;
    char payload[4096];             /* JSON payload, or the error code */
    int delay_ms;                   /* answer after this delay */
};
typedef void (*sim_responder)(void *user, struct sim_charger *c, const char *action,
                              const char *payload_json, struct sim_reply *out);
void sim_set_responder(struct sim_charger *c, sim_responder fn, void *user);
/* Count of CALLs received from the gateway so far, and the last one's action. */
int sim_calls_received(const struct sim_charger *c);

/* ---- non-blocking form for the load generator ---- */

/* Sends a CALL without waiting; the answer is counted by sim_poll. 0 or -1. */
int sim_send_call(struct sim_charger *c, const char *action, const char *payload_json);
/* Whether a CALL sent with sim_send_call is still unanswered. */
bool sim_call_outstanding(const struct sim_charger *c);
/*
 * Services the loop for at most timeout_ms, returning early once answers are
 * there. For each answer to a sim_send_call, calls on_reply (may be NULL)
 * with the latency in microseconds (monotonic clock, from sim_send_call to
 * the arrival of the answer) and whether it was a CALLRESULT. on_reply may
 * call sim_send_call, sim_last_reply and sim_disconnect.
 */
void sim_poll(struct sim *s, int timeout_ms,
              void (*on_reply)(void *user, struct sim_charger *c, int64_t latency_us, bool ok),
              void *user);

/* Services the loop for timeout_ms (answers server CALLs, handles pings). */
void sim_service(struct sim *s, int timeout_ms);

/* ---- additions (tests/sim/sim.c) ---- */

/* Connections this sim can hold: the lws fd table (RLIMIT_NOFILE raised to
 * the hard limit, minus a reserve) minus the fds already open. */
int sim_connection_ceiling(const struct sim *s);

/* The HTTP status of the upgrade: 101 once open, the refusal's status
 * (400, 401, 404, 429, ...), 0 for no HTTP answer (TCP refused or dropped). */
int sim_http_status(const struct sim_charger *c);
/* Subprotocol the server selected ("" if none or not open yet). Borrowed. */
const char *sim_selected_protocol(const struct sim_charger *c);
/* Why a connection failed or ended, as lws or the sim worded it ("" if
 * none), e.g. "HS: ws upgrade response not 101". Borrowed. */
const char *sim_error(const struct sim_charger *c);
/* True if the server sent a close frame (sim_close_code then holds its code,
 * 1005 for an empty one); false for a plain TCP drop. */
bool sim_close_frame_received(const struct sim_charger *c);
/* Reason text of the server's close frame ("" if none). Borrowed. */
const char *sim_close_reason(const struct sim_charger *c);

/* Sends a close frame with `code` (0 = 1000) and `reason` (may be NULL) once
 * the outbox is flushed, waits up to 2 s for the close to finish. The
 * charger stays allocated (state SIM_CLOSED); free it with sim_disconnect. */
void sim_close(struct sim_charger *c, int code, const char *reason);
/* Closes TCP with no close frame (a charger losing power); the charger stays
 * allocated. Waits up to 2 s until lws has closed the socket. */
void sim_drop(struct sim_charger *c);

/* Responder for chargers connected from now on (a gateway CALL may arrive
 * before sim_connect returns, too early for sim_set_responder). */
void sim_set_default_responder(struct sim *s, sim_responder fn, void *user);

/* Action and payload of the last CALL received from the gateway (NULL if
 * none). Borrowed, valid until the next CALL arrives. */
const char *sim_last_call_action(const struct sim_charger *c);
const char *sim_last_call_payload(const struct sim_charger *c);
/* Also put gateway CALLs (already answered by the responder) into the queue
 * that sim_recv reads. Off by default. */
void sim_set_queue_calls(struct sim_charger *c, bool on);

/* Forgets the outstanding sim_send_call (a late answer then goes to the
 * sim_recv queue); lets the load generator count a timeout and go on. */
void sim_cancel_call(struct sim_charger *c);
/* Whole text of the last answer to a sim_send_call (NULL if none). Borrowed,
 * valid until the next answer or sim_disconnect. Lets on_reply read e.g. a
 * transactionId. */
const char *sim_last_reply(const struct sim_charger *c);

#endif
