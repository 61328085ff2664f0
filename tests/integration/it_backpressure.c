/*
 * A charger that never reads (issue 11): it keeps sending CALLs and never
 * reads the answers, so they back up in the gateway. With ocpp.outbox_max
 * the gateway holds at most that many bytes for it, then closes the
 * connection, stores the disconnect with its reason ("outbox full") and
 * logs it; a well-behaved charger on the same gateway is answered all along.
 */
#include "it.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sim.h>

#include "calls.h"
#include "db.h"
#include "fixture.h"
#include "gw.h"
#include "rawws.h"

/* far more than the gateway may hold: the kernel's buffers (a few MB) plus outbox_max */
#define MAX_CALLS 400000

static int group_setup(void **state)
{
    (void)state;
    db_add_charger("ibp-deaf", NULL, 0);
    db_add_charger("ibp-good", NULL, 0);
    struct gw_opts o = { .name = "it_backpressure", .ini = "[ocpp]\noutbox_max = 65536\n" };
    W.gw = gw_start(&o);
    return 0;
}

static void test_charger_that_never_reads_is_cut_at_the_outbox_bound(void **state)
{
    (void)state;
    struct sim_charger *good = it_connect(W.sim, "ibp-good", NULL);
    assert_non_null(good);
    int fd = raw_ws_open(gw_port(W.gw), "ibp-deaf", 4096);
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1, "SELECT count(*) FROM chargers WHERE id = 'ibp-deaf' AND connected"), 1);

    int sent = 0, good_answers = 0;
    bool cut = false;
    while (sent < MAX_CALLS) {
        char msg[64];
        int n = snprintf(msg, sizeof msg, "[2,\"h%d\",\"Heartbeat\",{}]", sent);
        /* the socket takes it at once unless the gateway stopped reading (it must not) */
        if (!raw_ws_send_text(fd, msg, (size_t)n, IT_CALL_MS)) {
            cut = true;
            break;
        }
        sent++;
        if (sent % 500 == 0) {
            /* the other charger is answered while the deaf one's answers pile up */
            assert_true(it_heartbeat_ok(good));
            good_answers++;
        }
    }
    if (!cut)
        fail_msg("%d CALLs sent without reading any answer and the gateway kept the connection", sent);
    close(fd);
    /* the disconnect is stored with its reason */
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1,
                                 "SELECT count(*) FROM chargers WHERE id = 'ibp-deaf' AND NOT connected"), 1);
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1,
                                 "SELECT count(*) FROM charger_events WHERE charger_id = 'ibp-deaf'"
                                 " AND kind = 'disconnected' AND detail LIKE 'outbox full%'"), 1);
    assert_true(gw_log_contains(W.gw, "outbox full"));
    /* and the well-behaved charger is still served */
    assert_int_equal(sim_state(good), SIM_OPEN);
    assert_true(it_heartbeat_ok(good));
    print_message("deaf charger cut after %d CALLs; the other answered %d times meanwhile\n", sent, good_answers);
    sim_disconnect(good);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_charger_that_never_reads_is_cut_at_the_outbox_bound, it_test_setup,
                                        it_test_teardown),
    };
    return cmocka_run_group_tests_name("it_backpressure", tests, group_setup, it_group_teardown);
}
