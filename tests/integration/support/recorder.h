/*
 * The charger's side of the command tests (it_commands, it_security_cmds):
 * the default responder of W.sim answers every gateway CALL as
 * it_rec.ans says (tests change it at will) and records the CALL, its
 * payload and the answer. it_rec_setup / it_rec_teardown are the per-test
 * fixtures that install and reset it.
 */
#ifndef OCPPGW_IT_RECORDER_H
#define OCPPGW_IT_RECORDER_H

#include <stddef.h>

#include <sim.h>

#define IT_REC_MAX 64
struct it_rec_call {
    char charger[64];
    char action[48];
    char *request;              /* the CALL's payload */
    char *answer;               /* CALLRESULT payload, or the CALLERROR code */
    enum sim_reply_kind kind;
};
struct it_recorder {
    struct sim_answers ans;     /* how the chargers answer */
    int n;                      /* CALLs seen (only the first IT_REC_MAX are kept) */
    struct it_rec_call calls[IT_REC_MAX];
};
extern struct it_recorder it_rec;

/* The responder itself (for another sim: sim_set_default_responder(s, it_rec_responder, NULL)). */
void it_rec_responder(void *user, struct sim_charger *c, const char *action, const char *payload,
                      struct sim_reply *out);
/* Forgets what was recorded; answers as sim_answers_init() says. */
void it_rec_reset(void);
/* How many CALLs of that action were recorded. */
int it_rec_count(const char *action);
/* The last CALL of that action; fails the test if there was none. */
const struct it_rec_call *it_rec_last(const char *action);
/*
 * The actions of the CALLs the charger of that id got, in the order it got
 * them, comma-separated ("Reset,ClearCache"), into buf; fails the test if
 * more CALLs were seen than the recorder keeps.
 */
const char *it_rec_actions(const char *charger, char *buf, size_t cap);
/* it_test_setup, then the recorder as W.sim's default responder. */
int it_rec_setup(void **state);
/* it_test_teardown, then it_rec_reset. */
int it_rec_teardown(void **state);

#endif
