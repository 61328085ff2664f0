/*
 * Per-test simulator and optional second gateway; see fixture.h.
 */
#include "fixture.h"

#include "it.h"

#include <stdio.h>

#include "calls.h"
#include "gw.h"

struct it_world W;

int it_test_setup(void **state)
{
    (void)state;
    if (!W.gw)
        return -1;
    W.sim = it_sim(gw_port(W.gw));
    return 0;
}

int it_test_teardown(void **state)
{
    (void)state;
    if (W.sim2)
        sim_free(W.sim2);
    W.sim2 = NULL;
    int rc = 0;
    if (W.gw2 && gw_free(W.gw2) != 0)
        rc = -1; /* the second gateway did not exit cleanly (sanitizer, leak, crash) */
    W.gw2 = NULL;
    if (W.sim)
        sim_free(W.sim);
    W.sim = NULL;
    return rc;
}

int it_group_teardown(void **state)
{
    (void)state;
    int rc = 0;
    if (W.gw && gw_running(W.gw)) {
        int st = gw_stop(W.gw);
        if (st != 0) {
            fprintf(stderr, "gateway exited with status %d at the end (log %s)\n", st, gw_log_path(W.gw));
            rc = -1; /* a sanitizer report or leak in the gateway fails the group */
        }
    }
    if (gw_free(W.gw) != 0)
        rc = -1;
    W.gw = NULL;
    return rc;
}
