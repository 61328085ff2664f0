/*
 * Charger simulator on libwebsockets' client side. One struct sim is one lws
 * client context on the calling thread; it holds any number of simulated
 * chargers. The API is synchronous for tests (sim_call waits for the answer
 * by servicing the loop) and also has a non-blocking form for the load
 * generator (sim_send_call + sim_poll).
 *
 * Gateway CALLs go to a responder; sim_answers_responder (tests/sim/answers.c,
 * "ready-made answers" below) answers the 19 gateway-initiated OCPP 1.6
 * actions and the 7 of the Security Extension like a consistent charger, with StartTransaction/StopTransaction
 * follow-ups whose answers the sim consumes itself.
 *
 * Used by the integration tests (tests/integration/) and by the benchmark
 * load generator (tests/sim/ocppsim.c, `make bench`; `--mode serve` answers
 * the gateway's commands).
 */
#ifndef OCPPGW_SIM_H
#define OCPPGW_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profiles.h"

struct sim;
struct sim_charger;

struct sim_options {
    const char *host;               /* "127.0.0.1" */
    int port;
    int max_chargers;               /* expected chargers: warns if the fd limit cannot hold them
                                       (the lws fd table is the whole RLIMIT_NOFILE) */
    bool quiet;                     /* no lws logging */
    /*
     * A close frame from the server is recorded (sim_close_code, ...) and
     * the TCP connection dropped at once, without echoing the close. For
     * the load generator only: lws 4.1.6 arms a 3 s timeout for each echo
     * in its one sorted timer list (a linear walk per insert), so thousands
     * of closes at once (a gateway restart) would stall the simulator for
     * seconds. Off: the close is echoed, as RFC 6455 says.
     */
    bool close_without_echo;
    /*
     * lws on a libuv loop of the sim's own (epoll) instead of its poll(2)
     * loop, which walks every socket on each wake-up: for thousands of
     * connections (the load generator). Falls back to poll, with a line on
     * stderr, if lws's libuv plugin cannot be loaded.
     */
    bool event_loop_uv;
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
 * A ready-made responder for the 26 gateway-initiated OCPP 1.6 actions is
 * sim_answers_responder (below).
 */
enum sim_reply_kind {
    SIM_REPLY_RESULT,               /* CALLRESULT with payload */
    SIM_REPLY_ERROR,                /* CALLERROR with payload as error code */
    SIM_REPLY_SILENCE,              /* never answer */
    SIM_REPLY_DISCONNECT            /* drop the connection */
};
/* Something to do on a charger later; arg is the caller's, freed with
 * free() by the sim after fn returns. fn may send (sim_send_call_cb,
 * sim_after) but must not free the charger. */
typedef void (*sim_then_fn)(struct sim_charger *c, void *arg);
struct sim_reply {
    enum sim_reply_kind kind;
    char payload[16384];            /* JSON payload, or the error code */
    int delay_ms;                   /* answer after this delay */
    /* Optional, RESULT and ERROR only: run then(c, then_arg) once the answer
     * is in the outbox (after delay_ms), or then_delay_ms after that. The
     * sim takes ownership of then_arg (malloc'd; free()d after the hook, or
     * without running it when the answer is never sent: silence, disconnect,
     * connection gone, charger freed). */
    sim_then_fn then;
    void *then_arg;
    int then_delay_ms;
};
typedef void (*sim_responder)(void *user, struct sim_charger *c, const char *action,
                              const char *payload_json, struct sim_reply *out);
void sim_set_responder(struct sim_charger *c, sim_responder fn, void *user);
/* Count of CALLs received from the gateway so far, and the last one's action. */
int sim_calls_received(const struct sim_charger *c);
/* Count of gateway CALLs received so far with this action (exact name). */
int sim_calls_received_action(const struct sim_charger *c, const char *action);
/*
 * Gateway CALLs outstanding now, and the most ever outstanding at once on
 * this connection. A CALL is outstanding from its arrival until the sim puts
 * its answer (CALLRESULT or CALLERROR, after any delay_ms) into the outbox.
 * A CALL answered with silence is not counted (it never will be answered);
 * a delayed disconnect counts until the drop; a closed connection has 0.
 * With delay_ms > 0, a second CALL arriving before the first is answered
 * makes the max 2: proof that the gateway broke one-CALL-at-a-time.
 */
int sim_calls_outstanding(const struct sim_charger *c);
int sim_calls_outstanding_max(const struct sim_charger *c);

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

/* ---- helpers for responders that act on their own (tests/sim/answers.c) ---- */

/* Calls fn(c, arg) from the loop delay_ms from now (0: the next time the
 * loop runs); only while the loop is serviced (sim_service, sim_call, ...).
 * Takes ownership of arg (free()d after fn, or unrun if the charger is freed
 * first). */
void sim_after(struct sim_charger *c, int delay_ms, sim_then_fn fn, void *arg);

/*
 * Answer to a sim_send_call_cb CALL: ok and the CALLRESULT payload (JSON
 * text), or !ok and the CALLERROR's error code. Borrowed for the call. arg
 * is the one given to sim_send_call_cb; the sim frees it afterwards.
 */
typedef void (*sim_answer_fn)(struct sim_charger *c, void *arg, bool ok, const char *payload_json);
/*
 * Sends a CALL of the charger's own (a follow-up such as StartTransaction)
 * whose answer is consumed internally: it goes to fn (may be NULL), never to
 * sim_call, sim_poll or sim_recv, so a test waiting there is not disturbed.
 * Ids are "sim-<n>", apart from sim_call's. Any number may be outstanding.
 * Takes ownership of arg (malloc'd, free()d after fn, or when the connection
 * closes with the CALL unanswered, or at once on failure). 0, or -1 if not
 * open. Callable from a responder's then hook and from sim_after.
 */
int sim_send_call_cb(struct sim_charger *c, const char *action, const char *payload_json, sim_answer_fn fn,
                     void *arg);

/* One pointer of per-charger state for a helper module (answers.c keeps its
 * state here). Takes ownership: free_fn(data) runs when the charger is freed
 * or the data replaced. */
void sim_set_charger_data(struct sim_charger *c, void *data, void (*free_fn)(void *data));
void *sim_charger_data(const struct sim_charger *c);

/* ---- ready-made answers to the gateway's CALLs (tests/sim/answers.c) ----
 *
 * sim_answers_responder answers each of the 19 gateway-initiated OCPP 1.6
 * actions (and the 7 of the Security Extension) like a small, consistent charger, with payloads valid against the
 * official .conf schemas:
 *
 *   struct sim_answers a;
 *   sim_answers_init(&a);                      // everything ACCEPT, no delay
 *   sim_answers_set(&a, "Reset", SIM_ANSWER_REJECT);
 *   sim_set_default_responder(s, sim_answers_responder, &a);   // or per charger:
 *   sim_set_responder(c, sim_answers_responder, &a);
 *
 * `a` is borrowed and read at every CALL (change it between CALLs at will);
 * it must outlive the chargers that use it. The charger's own state (its
 * configuration keys, local list version, meter, known transactions,
 * counters) lives with the charger and starts fresh on each connection.
 *
 * SIM_ANSWER_ACCEPT, the positive answer:
 *   status "Accepted" for RemoteStartTransaction, RemoteStopTransaction,
 *   Reset, ChangeAvailability, ClearCache, TriggerMessage, ReserveNow,
 *   CancelReservation, SendLocalList;
 *   SetChargingProfile "Accepted" or "Rejected", ClearChargingProfile
 *   "Accepted" or "Unknown", as the charger's profiles say (Smart Charging,
 *   below);
 *   UnlockConnector {"status":"Unlocked"};
 *   DataTransfer {"status":"Accepted"} plus "data" echoing the request's;
 *   SendLocalList also makes its listVersion the charger's;
 *   GetLocalListVersion {"listVersion":N}: the last accepted SendLocalList's
 *   (0 before any);
 *   GetConfiguration: configurationKey entries {key, readonly, value} from
 *   the charger's table (all keys when the request names none), names it
 *   does not know in unknownKey (at most 100 reported);
 *   ChangeConfiguration: a known writable key with a valid value (integer
 *   keys: digits; boolean keys: "true"/"false") is changed, so a later
 *   GetConfiguration shows it, "Accepted"; a read-only key or an invalid
 *   value "Rejected"; an unknown key "NotSupported";
 *   GetCompositeSchedule {"status":"Accepted", connectorId (the request's),
 *   scheduleStart (now), chargingSchedule {duration (the request's),
 *   chargingRateUnit (the request's, default "A"), one period: 0 s, the
 *   connector's limit now (no profile: the charger's max_current), in A or
 *   W (A * 230 * 3), 3 phases}};
 *   UpdateFirmware {}; GetDiagnostics {"fileName":"diag-<charger id>.log"}.
 *   Security Extension (white paper edition 3): CertificateSigned,
 *   ExtendedTriggerMessage, SignedUpdateFirmware "Accepted"; GetLog
 *   "Accepted" with filename "diag-|security-<charger id>-<requestId>.log";
 *   InstallCertificate keeps the certificate in the charger's list (at most
 *   8, else "Failed"; the same PEM twice is one entry) with made-up hash data
 *   (SHA256, FNV hex of the PEM, serial 1, 2, ...); GetInstalledCertificateIds
 *   lists those of the asked type ("NotFound" and no list when none);
 *   DeleteCertificate removes the one whose four hash fields match
 *   ("Accepted"), else "NotFound". ChangeConfiguration SecurityProfile (a
 *   key starting at "0") takes 0..3 but never a lower value than the
 *   current one ("Rejected").
 * SIM_ANSWER_REJECT, the negative answer: "Rejected"; UnlockConnector
 *   "UnlockFailed"; SendLocalList "Failed"; ClearChargingProfile "Unknown".
 *   The four whose .conf has no status (UpdateFirmware, GetConfiguration,
 *   GetLocalListVersion, GetDiagnostics) answer as for ACCEPT.
 *   Security Extension: "Rejected"; DeleteCertificate "Failed";
 *   GetInstalledCertificateIds "NotFound"; SignedUpdateFirmware
 *   "InvalidCertificate".
 * SIM_ANSWER_CALLERROR: CALLERROR with callerror_code (default
 *   "NotSupported").
 * SIM_ANSWER_SILENCE: no answer; SIM_ANSWER_DISCONNECT: drop TCP (after
 *   delay_ms if set).
 * SIM_ANSWER_INVALID: a CALLRESULT the action's .conf schema refuses:
 *   {"status":"Maybe"} where there is a status (the 7 of the Security
 *   Extension too); GetConfiguration
 *   {"configurationKey":"HeartbeatInterval"} (not an array);
 *   GetLocalListVersion {} (listVersion missing); UpdateFirmware
 *   {"status":"Accepted"} (no property allowed); GetDiagnostics
 *   {"fileName":42}.
 * Any other action (not one of the 26): CALLERROR "NotImplemented", or
 *   callerror_code with CALLERROR, or silence / disconnect when those are
 *   the behaviour.
 *
 * Follow-ups (a.followups, default on), sent with sim_send_call_cb after the
 * answer went out plus a.followup_delay_ms (default 0: right after it):
 *   - after "Accepted" to RemoteStartTransaction: StartTransaction
 *     {connectorId: the request's or 1, idTag: the request's, meterStart:
 *     the charger's meter register (Wh), timestamp: now}; the transactionId
 *     of the gateway's answer is remembered with the connector;
 *   - after "Accepted" to RemoteStopTransaction of a transaction it
 *     remembers (and is not already stopping): StopTransaction
 *     {transactionId, idTag, meterStop > meterStart, timestamp: now,
 *     reason: "Remote"}; the transaction is forgotten.
 * Their answers are consumed internally (see sim_send_call_cb).
 */
enum sim_answer {
    SIM_ANSWER_DEFAULT,             /* in per_action: use `behaviour` */
    SIM_ANSWER_ACCEPT,
    SIM_ANSWER_REJECT,
    SIM_ANSWER_CALLERROR,
    SIM_ANSWER_SILENCE,
    SIM_ANSWER_DISCONNECT,
    SIM_ANSWER_INVALID
};
#define SIM_ANSWERS_ACTIONS 26        /* 19 of 1.6, 7 of the Security Extension */

/* How MeterValues report Current.Import (sim_answers_meter_values_payload). */
enum sim_current_values {
    SIM_CURRENT_PHASES,                     /* three values, phase L1, L2, L3 (the default) */
    SIM_CURRENT_SINGLE,                     /* one value without a phase */
    SIM_CURRENT_BOTH                        /* the three and the one */
};

struct sim_profile_event;
/* Called after every SetChargingProfile / ClearChargingProfile a charger
 * received (applied or not), from inside the responder, before the answer
 * is sent: it may read any charger's state (sim_answers_effective_limit,
 * ...) but must not send, service the loop or free a charger. ev is
 * borrowed for the call. */
typedef void (*sim_profile_hook)(void *user, struct sim_charger *c, const struct sim_profile_event *ev);

struct sim_answers {
    enum sim_answer behaviour;              /* for every action: SIM_ANSWER_ACCEPT */
    /* per action, indexed as sim_answers_action_name() lists them (set with
     * sim_answers_set); SIM_ANSWER_DEFAULT = use behaviour */
    enum sim_answer per_action[SIM_ANSWERS_ACTIONS];
    int delay_ms;                           /* every answer (and disconnect) this late: 0 */
    char callerror_code[32];                /* for SIM_ANSWER_CALLERROR: "NotSupported" */
    bool followups;                         /* StartTransaction / StopTransaction: true */
    int followup_delay_ms;                  /* after the answer went out: 0 */
    /* Smart Charging (below); each charger takes these when the responder
     * first runs on it, unless a per-charger setter came first */
    int connectors;                         /* connectors per charger, 1..SIM_PROFILE_CONNECTORS: 1 */
    double max_current;                     /* A per phase a charger draws at most: 32 */
    double demand;                          /* A per phase the EV on each connector wants: 32 */
    enum sim_current_values current_values; /* SIM_CURRENT_PHASES */
    sim_profile_hook on_profile;            /* NULL */
    void *on_profile_user;
};

/* Defaults as noted above. */
void sim_answers_init(struct sim_answers *a);
/* Behaviour for one action (exact OCPP name); SIM_ANSWER_DEFAULT restores
 * the default. -1 if the action is not one of the 26. */
int sim_answers_set(struct sim_answers *a, const char *action, enum sim_answer b);
/* The 26 action names in index order (sorted), NULL past the end. Static. */
const char *sim_answers_action_name(int i);
/* "accept" "reject" "callerror" "silence" "disconnect" "invalid" (and
 * "default") <-> enum; parse returns false for anything else. */
bool sim_answer_parse(const char *name, enum sim_answer *out);
const char *sim_answer_name(enum sim_answer b);

/* The responder; user is a struct sim_answers * (borrowed). */
void sim_answers_responder(void *user, struct sim_charger *c, const char *action, const char *payload_json,
                           struct sim_reply *out);

/* What the answers did on one connection (all 0 if sim_answers_responder
 * never ran on it). "answered" counts CALLRESULTs from the gateway; a
 * CALLERROR counts in followup_errors. */
struct sim_answers_stats {
    int starts_sent, starts_answered;       /* StartTransaction follow-ups */
    int stops_sent, stops_answered;         /* StopTransaction follow-ups */
    int followup_errors;
    int starts_failed;                      /* StartTransactions answered with a CALLERROR (in followup_errors too) */
    int last_transaction_id;                /* from the last answered StartTransaction follow-up, 0 = none */
    int transactions_open;                  /* started by a remote start, not stopped yet */
    int list_version;
    int profiles_received;                  /* SetChargingProfile CALLs, whatever the answer */
    int profiles_accepted;                  /* of those, answered Accepted (applied) */
    int clears_received;                    /* ClearChargingProfile CALLs */
    int meter_values_sent, meter_values_answered;   /* sim_answers_send_meter_values */
};
void sim_answers_get_stats(const struct sim_charger *c, struct sim_answers_stats *out);
/* Shorthand for stats.last_transaction_id. */
int sim_answers_last_transaction_id(const struct sim_charger *c);
/* Current value of a configuration key in the charger's table (NULL if the
 * key is unknown or the answers never ran). Borrowed, valid until the next
 * CALL. */
const char *sim_answers_config_value(const struct sim_charger *c, const char *key);
/* Security Extension: CertificateSigned is answered "Accepted" (REJECT:
 * "Rejected") and its certificateChain kept: the last one received (NULL if
 * none). Borrowed, valid until the next CertificateSigned. */
const char *sim_answers_certificate_chain(const struct sim_charger *c);

/*
 * A charger that charges on its own (ocppsim --mode demo), on top of the
 * answers' transaction list, so that a RemoteStopTransaction stops these
 * transactions too:
 *  - sim_answers_start_transaction: StartTransaction {connectorId, idTag,
 *    meterStart: the charger's register, timestamp: now}, like a card at
 *    the reader; the answer's transactionId is remembered (local = true)
 *    with the answer's idTagInfo.status. 0 if sent.
 *  - sim_answers_stop_transaction: StopTransaction of a remembered
 *    transaction (meterStop as for a remote stop) with this reason (NULL:
 *    "Local"); forgotten at once. 0 if sent, -1 if unknown or stopping.
 *  - sim_answers_transactions: the remembered transactions not stopping
 *    (at most max), with the meter register now (2 Wh a second since the
 *    start). Returns how many.
 */
struct sim_answers_tx {
    int transaction_id;
    int connector;
    int meter_wh;                           /* the register now */
    bool local;                             /* started by sim_answers_start_transaction */
    char id_tag[21];
    char auth[16];                          /* idTagInfo.status the gateway answered ("" if none) */
};
int sim_answers_start_transaction(struct sim_charger *c, int connector, const char *id_tag);
int sim_answers_stop_transaction(struct sim_charger *c, int tx_id, const char *reason);
int sim_answers_transactions(const struct sim_charger *c, struct sim_answers_tx *out, int max);

/* ---- Smart Charging and what the charger draws (tests/sim/charging.c) ----
 *
 * With the positive behaviour, SetChargingProfile and ClearChargingProfile
 * act on the charger's profiles as OCPP 1.6 section 3.13 says (the rules,
 * refusals included, in tests/sim/profiles.h): SetChargingProfile answers
 * "Accepted" and installs the profile, or "Rejected" and changes nothing
 * (e.g. a TxProfile with no transaction on its connector); a request
 * missing a required field gets CALLERROR FormationViolation.
 * ClearChargingProfile answers "Accepted" if it removed a profile, else
 * "Unknown". A TxProfile ends with its transaction (StopTransaction). A
 * profile the behaviour refuses (reject, callerror, silence, disconnect,
 * invalid) is not applied. A profile takes effect when it is received
 * (before any delay_ms of its answer). GetCompositeSchedule reports the
 * limit in force now as one period (the charger's max_current when no
 * profile limits it).
 *
 * Each connector with a transaction draws, per phase on 3 phases at 230 V,
 * min(demand, max_current, effective limit); a limit of 0 suspends it. The
 * energy register integrates that draw over time (so a transaction's
 * meterStop and MeterValues follow the limits it was given).
 *
 * Every SetChargingProfile / ClearChargingProfile received is recorded in
 * order with the answer given and each connector's effective limit after
 * it: the simulator's own record of what it was told, for checking the
 * gateway's load management.
 */
struct sim_profile_event {
    int64_t t_us;                           /* time_mono_us() when received */
    bool set;                               /* SetChargingProfile, else ClearChargingProfile */
    bool applied;                           /* Set: installed; Clear: removed at least one */
    char answer[16];                        /* "Accepted" "Rejected" "Unknown", or "CALLERROR" "silence"
                                               "disconnect" "invalid" */
    char why[64];                           /* why refused ("" if applied) */
    int connector;                          /* the request's connectorId, -1 if absent */
    int profile_id;                         /* chargingProfileId (Clear: id), -1 if absent */
    int purpose;                            /* enum sim_profile_purpose, -1 if absent */
    int stack_level;                        /* -1 if absent */
    int transaction_id;                     /* Set: the profile's transactionId, 0 if absent */
    double limit;                           /* Set: the first period's limit in unit, -1 if none */
    char unit[2];                           /* Set: "A" or "W" ("" if none) */
    int phases;                             /* Set: the first period's numberPhases, 0 if absent */
    int nperiods;
    int connectors;                         /* limits[0..connectors] are meaningful */
    double limits[SIM_PROFILE_CONNECTORS + 1];  /* each connector's effective limit after, as
                                                   sim_answers_effective_limit */
};
/* Copies the first min(max, n) events received on this connection into out
 * and returns n (0 if the answers never ran). */
int sim_answers_profile_log(const struct sim_charger *c, struct sim_profile_event *out, int max);
/* Event i (0-based) or NULL. Borrowed, valid until the next event. */
const struct sim_profile_event *sim_answers_profile_event(const struct sim_charger *c, int i);
/* The limit in A per phase the charger's profiles set on connector now
 * (connector 0: the ChargePointMaxProfile's), or a negative value when no
 * profile limits it (it may then draw its max_current). */
double sim_answers_effective_limit(const struct sim_charger *c, int connector);
/* The charger's own maximum, A per phase (what it may draw with no profile). */
double sim_answers_max_current(const struct sim_charger *c);
/* What the connector draws now, A per phase (0 without a transaction). */
double sim_answers_draw(const struct sim_charger *c, int connector);
/* Per-charger settings (they win over struct sim_answers' defaults):
 * connectors 1..SIM_PROFILE_CONNECTORS; the charger's own maximum; the EV's
 * demand on one connector (0: every connector). */
void sim_answers_set_connectors(struct sim_charger *c, int connectors);
void sim_answers_set_max_current(struct sim_charger *c, double amps);
void sim_answers_set_demand(struct sim_charger *c, int connector, double amps);
void sim_answers_set_current_values(struct sim_charger *c, enum sim_current_values how);
/*
 * MeterValues of the transaction on connector now: {connectorId,
 * transactionId, meterValue: [{timestamp, sampledValue: [
 * Energy.Active.Import.Register (Wh, the register), Power.Active.Import
 * (W = A * 230 * 3), Current.Import (A, as current_values says)]}]}, all
 * with context Sample.Periodic. The payload is written to buf (-1 if it does
 * not fit or the connector has no transaction); send_meter_values sends it
 * with sim_send_call_cb (its answer consumed, counted in the stats). 0 on
 * success.
 */
int sim_answers_meter_values_payload(struct sim_charger *c, int connector, char *buf, size_t cap);
int sim_answers_send_meter_values(struct sim_charger *c, int connector);

/* ---- the Security Extension, charger-initiated (tests/sim/security.c) ---- */

/*
 * A PEM PKCS#10 CSR as a charger makes for SignCertificate: a fresh P-256
 * key, subject O=org and CN=cn (either NULL: left out), signed with that
 * key. Caller frees; *key_pem (optional) receives the key (caller frees).
 * NULL if OpenSSL fails.
 */
char *sim_csr_new(const char *cn, const char *org, char **key_pem);
/*
 * The four CALLs, as sim_call (the reply frame, caller frees, NULL on
 * timeout). timestamp NULL: now; tech_info NULL and request_id < 0: left
 * out.
 */
char *sim_security_event(struct sim_charger *c, const char *type, const char *timestamp,
                         const char *tech_info, int timeout_ms);
char *sim_sign_certificate(struct sim_charger *c, const char *csr_pem, int timeout_ms);
char *sim_signed_firmware_status(struct sim_charger *c, const char *status, int request_id, int timeout_ms);
char *sim_log_status(struct sim_charger *c, const char *status, int request_id, int timeout_ms);

#endif
