/* The recording responder of the command tests (recorder.h). */
#include "recorder.h"

#include "it.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

struct it_recorder it_rec;

void it_rec_responder(void *user, struct sim_charger *c, const char *action, const char *payload,
                      struct sim_reply *out)
{
    (void)user;
    sim_answers_responder(&it_rec.ans, c, action, payload, out);
    if (it_rec.n < IT_REC_MAX) {
        struct it_rec_call *k = &it_rec.calls[it_rec.n];
        snprintf(k->charger, sizeof k->charger, "%s", sim_charger_id(c));
        snprintf(k->action, sizeof k->action, "%s", action);
        k->request = strdup(payload ? payload : "");
        k->answer = strdup(out->payload);
        k->kind = out->kind;
    }
    it_rec.n++;
}

void it_rec_reset(void)
{
    for (int i = 0; i < it_rec.n && i < IT_REC_MAX; i++) {
        free(it_rec.calls[i].request);
        free(it_rec.calls[i].answer);
    }
    memset(&it_rec, 0, sizeof it_rec);
    sim_answers_init(&it_rec.ans);
}

int it_rec_count(const char *action)
{
    int n = 0;
    for (int i = 0; i < it_rec.n && i < IT_REC_MAX; i++)
        n += strcmp(it_rec.calls[i].action, action) == 0;
    return n;
}

const struct it_rec_call *it_rec_last(const char *action)
{
    for (int i = (it_rec.n < IT_REC_MAX ? it_rec.n : IT_REC_MAX) - 1; i >= 0; i--)
        if (strcmp(it_rec.calls[i].action, action) == 0)
            return &it_rec.calls[i];
    fail_msg("the charger never got a %s CALL (%d CALLs seen)", action, it_rec.n);
    return NULL;
}

const char *it_rec_actions(const char *charger, char *buf, size_t cap)
{
    if (it_rec.n > IT_REC_MAX)
        fail_msg("%d CALLs seen, more than the %d the recorder keeps", it_rec.n, IT_REC_MAX);
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < it_rec.n; i++) {
        if (strcmp(it_rec.calls[i].charger, charger) != 0)
            continue;
        int w = snprintf(buf + at, cap - at, "%s%s", at ? "," : "", it_rec.calls[i].action);
        if (w < 0 || (size_t)w >= cap - at)
            break;
        at += (size_t)w;
    }
    return buf;
}

int it_rec_setup(void **state)
{
    it_rec_reset();
    int rc = it_test_setup(state);
    if (rc == 0)
        sim_set_default_responder(W.sim, it_rec_responder, NULL);
    return rc;
}

int it_rec_teardown(void **state)
{
    int rc = it_test_teardown(state);
    it_rec_reset();
    return rc;
}
