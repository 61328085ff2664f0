/*
 * The CSR signing thread (include/csr.h). Signing costs a public-key
 * verification and a signature (milliseconds with RSA keys), so it runs
 * here and never on the event loop: the loop submits a request under the
 * mutex and returns at once; this thread signs, puts the outcome on the
 * completion list and calls wake(), and the loop takes the list when it
 * wakes (for the gateway: lws_cancel_service() ->
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED, as for store results). The queue is
 * bounded: a charger fleet asking for certificates all at once gets quick
 * refusals past queue_max, not a growing backlog.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "csr.h"
#include "util.h"

struct csr_job {
    struct csr_job *next;
    char charger_id[64];
    char *csr_pem;
};

struct csr_signer {
    struct csr_ca *ca;
    char *org;
    int days;
    int queue_max;
    void (*wake)(void *ctx);
    void *wake_ctx;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct csr_job *head, *tail;    /* waiting to be signed */
    int queued;
    struct csr_signed *done_head, *done_tail;
    bool stop;
};

/* Under s->mu. */
static void push_done(struct csr_signer *s, struct csr_signed *d)
{
    if (s->done_tail)
        s->done_tail->next = d;
    else
        s->done_head = d;
    s->done_tail = d;
}

static void *run(void *arg)
{
    struct csr_signer *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->head && !s->stop)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->stop)
            break;
        struct csr_job *j = s->head;
        s->head = j->next;
        if (!s->head)
            s->tail = NULL;
        s->queued--;
        pthread_mutex_unlock(&s->mu);

        struct csr_signed *d = xcalloc(1, sizeof *d);
        str_copy(d->charger_id, sizeof d->charger_id, j->charger_id);
        csr_sign(s->ca, j->csr_pem, j->charger_id, s->org, s->days, &d->chain_pem, d->why, sizeof d->why);
        free(j->csr_pem);
        free(j);

        pthread_mutex_lock(&s->mu);
        push_done(s, d);
        pthread_mutex_unlock(&s->mu);
        if (s->wake)
            s->wake(s->wake_ctx);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

struct csr_signer *csr_signer_start(struct csr_ca *ca, const struct csr_signer_config *cfg)
{
    struct csr_signer *s = xcalloc(1, sizeof *s);
    s->ca = ca;
    s->org = cfg->org && cfg->org[0] ? xstrdup(cfg->org) : NULL;
    s->days = cfg->days > 0 ? cfg->days : 365;
    s->queue_max = cfg->queue_max > 0 ? cfg->queue_max : 64;
    s->wake = cfg->wake;
    s->wake_ctx = cfg->wake_ctx;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thread, NULL, run, s) != 0) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        csr_ca_free(ca);
        free(s->org);
        free(s);
        return NULL;
    }
    return s;
}

void csr_signer_submit(struct csr_signer *s, const char *charger_id, const char *csr_pem)
{
    pthread_mutex_lock(&s->mu);
    if (s->queued >= s->queue_max) {
        struct csr_signed *d = xcalloc(1, sizeof *d);
        str_copy(d->charger_id, sizeof d->charger_id, charger_id);
        str_copy(d->why, sizeof d->why, "too many certificate requests waiting: try again later");
        push_done(s, d);
        pthread_mutex_unlock(&s->mu);
        if (s->wake)
            s->wake(s->wake_ctx);
        return;
    }
    struct csr_job *j = xcalloc(1, sizeof *j);
    str_copy(j->charger_id, sizeof j->charger_id, charger_id);
    j->csr_pem = xstrdup(csr_pem);
    if (s->tail)
        s->tail->next = j;
    else
        s->head = j;
    s->tail = j;
    s->queued++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

struct csr_signed *csr_signer_take(struct csr_signer *s)
{
    pthread_mutex_lock(&s->mu);
    struct csr_signed *d = s->done_head;
    s->done_head = s->done_tail = NULL;
    pthread_mutex_unlock(&s->mu);
    return d;
}

void csr_signed_free(struct csr_signed *list)
{
    while (list) {
        struct csr_signed *next = list->next;
        free(list->chain_pem);
        free(list);
        list = next;
    }
}

void csr_signer_stop(struct csr_signer *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    while (s->head) {
        struct csr_job *j = s->head;
        s->head = j->next;
        free(j->csr_pem);
        free(j);
    }
    csr_signed_free(s->done_head);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    csr_ca_free(s->ca);
    free(s->org);
    free(s);
}
