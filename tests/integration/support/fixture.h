/*
 * The per-file world of an integration test: the gateway the file's group
 * set-up started and a fresh simulator per test, plus room for a second
 * gateway (and its simulator) that a single test starts with another
 * configuration. The per-test teardown frees the simulators and the second
 * gateway even when the test failed half-way.
 */
#ifndef OCPPGW_IT_FIXTURE_H
#define OCPPGW_IT_FIXTURE_H

struct gw;
struct sim;

struct it_world {
    struct gw *gw;          /* the file's gateway (group set-up / teardown) */
    struct sim *sim;        /* per test, connected to gw's port */
    struct gw *gw2;         /* optional, per test */
    struct sim *sim2;       /* optional, per test */
};
extern struct it_world W;

/* cmocka per-test set-up and teardown on W. */
int it_test_setup(void **state);
int it_test_teardown(void **state);
/* cmocka group teardown: stops W.gw. */
int it_group_teardown(void **state);

#endif
