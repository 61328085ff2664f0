/*
 * Process metrics in Prometheus text format. Counters are plain atomics so
 * the store thread and the loop can both count without locks; rendering
 * happens on the loop thread for GET /metrics.
 */
#ifndef OCPPGW_METRICS_H
#define OCPPGW_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "ocpp_msg.h"

enum metrics_frame_result { METRICS_OK, METRICS_CALLERROR, METRICS_RESULT_COUNT };
enum metrics_dir { METRICS_IN, METRICS_OUT, METRICS_DIR_COUNT };

/* A frame of that action (OCPP_ACTION_NONE: unparsable) in/out, answered ok or with a CALLERROR. */
void metrics_frame(enum metrics_dir dir, enum ocpp_action a, enum metrics_frame_result r);
/* A CALLERROR sent with that code. */
void metrics_callerror(enum ocpp_err e);
/* An upgrade refused for bad credentials or throttled. */
void metrics_auth_failure(void);
/* Which failed-auth throttle refused an upgrade (core_admit). */
enum metrics_throttle {
    METRICS_THROTTLE_ADDRESS,           /* too many failures from one address, any charger */
    METRICS_THROTTLE_ADDRESS_CHARGER,   /* too many failures from one address for one charger */
    METRICS_THROTTLE_CHARGER,           /* the charger's long-term failure cap, any address */
    METRICS_THROTTLE_COUNT
};
/* An upgrade refused by that throttle (also counted by metrics_auth_failure). */
void metrics_auth_throttled(enum metrics_throttle t);
/* A websocket replaced by an authenticated duplicate. */
void metrics_conn_replaced(void);
/* Store: one committed batch of n jobs that took commit_us from send to commit. */
void metrics_batch(size_t n, int64_t commit_us);
/* Store: a batch failed (connection lost or statement error). */
void metrics_batch_failed(void);
/* Store: jobs failed fast because the database was down or the queue full. */
void metrics_store_rejected(void);

/* Why presence marked chargers disconnected that no gateway held any more. */
enum metrics_presence_reason {
    METRICS_PRESENCE_RESTART,       /* left by an earlier run of this node (kill -9), cleared at start */
    METRICS_PRESENCE_NODE_LOST,     /* held by another node whose heartbeat stopped */
    METRICS_PRESENCE_REASON_COUNT
};
/* Presence: n chargers marked disconnected by this process, for that reason. */
void metrics_presence_cleared(enum metrics_presence_reason r, size_t n);
/* Presence: a node whose heartbeat stopped was declared lost by this process. */
void metrics_presence_node_lost(void);
/* Presence: n chargers this node took back after another node had declared it lost. */
void metrics_presence_resumed(size_t n);

/* How a profile of the load manager ended (src/core/core_load.c). */
enum metrics_load_outcome {
    METRICS_LOAD_ACCEPTED,          /* the charger answered Accepted: in force */
    METRICS_LOAD_REJECTED,          /* Rejected, a CALLERROR or an invalid answer: not in force */
    METRICS_LOAD_UNANSWERED,        /* no answer (timeout, gone with the CALL out): may be in force */
    METRICS_LOAD_OUTCOME_COUNT
};
void metrics_load_profile(enum metrics_load_outcome o);

/* How a command (gateway-initiated CALL asked for through REST) ended. */
enum metrics_cmd_outcome {
    METRICS_CMD_ACCEPTED,           /* answered, status Accepted (or Unlocked) */
    METRICS_CMD_REJECTED,           /* answered, another status */
    METRICS_CMD_ANSWERED,           /* answered, no status field */
    METRICS_CMD_CALL_ERROR,
    METRICS_CMD_TIMEOUT,
    METRICS_CMD_DISCONNECTED,
    METRICS_CMD_INVALID_ANSWER,
    METRICS_CMD_CANCELLED,
    METRICS_CMD_OFFLINE,            /* refused: charger not connected */
    METRICS_CMD_QUEUE_FULL,         /* refused: its queue is full */
    METRICS_CMD_OUTCOME_COUNT
};
/*
 * A command of action a ended with o; answer_us is the charger's own time
 * (CALL sent to answer received), < 0 when there was no answer.
 */
void metrics_command(enum ocpp_action a, enum metrics_cmd_outcome o, int64_t answer_us);

/*
 * What the gateway added to a synchronous command's REST round trip: from the
 * request's first byte to its reply being ready, minus the charger's answer
 * time and the wait in the charger's queue (remote starts with a session wait
 * and configuration PATCHes are not counted).
 */
void metrics_command_overhead(int64_t us);

/* Raw rows the retention job deletes, by kind (src/store/retention_job.c). */
enum metrics_retention_kind {
    METRICS_RET_EVENTS,
    METRICS_RET_METER_VALUES,
    METRICS_RET_METER_MESSAGES,
    METRICS_RET_STATUS_HISTORY,
    METRICS_RET_CHARGER_EVENTS,
    METRICS_RET_SECURITY_EVENTS,
    METRICS_RET_DATA_TRANSFERS,
    METRICS_RET_ORPHAN_STOPS,
    METRICS_RET_COMMANDS,
    METRICS_RET_AUDIT_LOG,
    METRICS_RET_KIND_COUNT
};
/* The label of kind k: its table's name ("meter_values"). */
const char *metrics_retention_kind_name(enum metrics_retention_kind k);
/* n rows of kind k deleted by this process (ocppgw_retention_deleted_rows_total{kind}). */
void metrics_retention_deleted(enum metrics_retention_kind k, uint64_t n);

/* Gauges the renderer asks for at render time. */
/* One balanced site's currents (0.1 A; measured -1 = unknown). */
struct metrics_site_load {
    const char *site_id;
    int32_t limit_da, allocated_da, accounted_da, measured_da;
};

struct metrics_gauges {
    size_t connected_chargers;
    size_t known_chargers;
    size_t db_queue_depth;
    int db_up;
    size_t commands_live;           /* commands in memory (pending or being recorded) */
    size_t unauthenticated_chargers; /* known chargers admitted without credentials (profile 0) */
    const struct metrics_site_load *sites; /* the balanced sites this gateway decides */
    size_t n_sites;
};

/* Renders everything; returns malloc'd text, caller frees. */
char *metrics_render(const struct metrics_gauges *g);

/* How an export (src/store/export.c) ended, and the rows it wrote. */
enum metrics_export_outcome {
    METRICS_EXPORT_COMPLETED,       /* every row went to the loop */
    METRICS_EXPORT_ABANDONED,       /* the client left (or shutdown) before the end: stopped early */
    METRICS_EXPORT_FAILED,          /* the database refused or went away */
    METRICS_EXPORT_OUTCOME_COUNT
};
void metrics_export(enum metrics_export_outcome o, uint64_t rows);
/* Bytes of export text queued for clients (all exports): +delta when a chunk is queued, -delta when taken or dropped. */
void metrics_export_queued(int64_t delta);

#endif
