/*
 * What the session cost tests share (it_session_cost, it_receipts): making a
 * tariff, a charger's CALLs that must succeed, waiting for the pricing job,
 * and checking a cost breakdown line against hand-computed values.
 */
#ifndef OCPPGW_IT_COST_H
#define OCPPGW_IT_COST_H

#include <stdint.h>

#include <cJSON.h>

#include "sim.h"

/* How long the pricing job may take to price a session (it runs about once a second). */
#define COST_PRICED_WAIT_MS 20000

/* POST /v1/tariffs with body on the gateway at port: 201, a Tariff. */
void cost_make_tariff(int port, const char *key, const char *body);
/* A CALL the gateway must answer with a CALLRESULT; payload is freed. */
void cost_call(struct sim_charger *c, const char *action, char *payload);
/* StopTransaction of tx (reason Local) at ts. */
void cost_stop(struct sim_charger *c, int32_t tx, int meter_stop, const char *ts);
/* Waits until the session of tx is priced (cost_state final); its id (caller frees). */
char *cost_wait_priced(int32_t tx);
/* o's member key is the number want. */
void cost_check_num(const cJSON *o, const char *key, double want);
/* Line i of a breakdown is these; from and to are checked unless from is NULL. */
void cost_check_line(const cJSON *lines, int i, const char *component, double quantity, const char *unit,
                     double unit_price, double amount, const char *from, const char *to);

#endif
