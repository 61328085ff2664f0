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
/* A websocket replaced by an authenticated duplicate. */
void metrics_conn_replaced(void);
/* Store: one committed batch of n jobs that took commit_us from send to commit. */
void metrics_batch(size_t n, int64_t commit_us);
/* Store: a batch failed (connection lost or statement error). */
void metrics_batch_failed(void);
/* Store: jobs failed fast because the database was down or the queue full. */
void metrics_store_rejected(void);

/* Gauges the renderer asks for at render time. */
struct metrics_gauges {
    size_t connected_chargers;
    size_t known_chargers;
    size_t db_queue_depth;
    int db_up;
};

/* Renders everything; returns malloc'd text, caller frees. */
char *metrics_render(const struct metrics_gauges *g);

#endif
