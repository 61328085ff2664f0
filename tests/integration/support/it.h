/*
 * Common ground of the integration tests (tests/integration/it_*.c): the
 * cmocka headers in the order cmocka needs, the environment that
 * scripts/run-integration.sh exports, and small helpers every test file
 * uses (formatted strings, timestamps, polling with a deadline).
 *
 * The tests run the real build/ocppgw against a real private PostgreSQL.
 * Everything they check is what a user could check: the wire, the HTTP
 * status, the rows. Store writes of status and heartbeat data are
 * write-behind, so tests wait for rows with a generous deadline instead of
 * sleeping a fixed time.
 */
#ifndef OCPPGW_IT_H
#define OCPPGW_IT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

struct sim;

/* Generous deadlines (ms): nothing asserts on speed, only on eventually. */
#define IT_CALL_MS 10000        /* a reply to one CALL */
#define IT_WAIT_MS 20000        /* a write-behind row, a state change */

/* Value of an environment variable the runner exports; fails the test if unset. Borrowed. */
const char *it_env(const char *name);

/* printf into a new string (caller frees). */
char *it_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* UTC "YYYY-MM-DDTHH:MM:SSZ" of now + offset_s into buf (>= 32 bytes); returns buf. */
char *it_iso_time(char *buf, int64_t offset_s);

/* Milliseconds on the monotonic clock. */
int64_t it_now_ms(void);

/*
 * Polls fn(arg) until it returns true or timeout_ms passes; between polls it
 * services the simulator s (may be NULL) so its sockets stay alive. True if
 * fn became true.
 */
bool wait_until(struct sim *s, bool (*fn)(void *arg), void *arg, int timeout_ms);

/* Waits ms while servicing s (may be NULL). For retry pacing, never for assertions. */
void it_pause(struct sim *s, int ms);

/* Runs an openssl command line in dir (output appended to dir/openssl.log); fails the test if it fails. */
void it_openssl(const char *dir, const char *cmd);

/* s is 40 lower-case hex digits (a key the gateway made). */
bool it_is_hex40(const char *s);

/* A cmocka group of one test per case of a table, then other tests. */
struct it_case_group {
    const char *group;
    const char *prefix;                     /* a test's name is the prefix, then its case's name */
    const void *cases;                      /* ncases of size bytes; a test's *state is its case */
    size_t ncases, size;
    const char *(*name)(const void *c);     /* a case's name (borrowed) */
    CMUnitTestFunction fn;                  /* run for every case, between setup and teardown */
    CMFixtureFunction setup, teardown;
    const struct CMUnitTest *others;
    size_t nothers;
    CMFixtureFunction group_setup, group_teardown;
};
int it_run_case_group(const struct it_case_group *g);

/* A gateway-initiated action and a valid request of it (tests of the command route). */
struct it_action_case {
    const char *action;
    const char *payload;
};
/*
 * Runs group `group`: one test "test_action_<Action>" per case (fn, with the
 * case as *state, between setup and teardown), then the others.
 */
int it_run_action_group(const char *group, const struct it_action_case *cases, size_t ncases,
                        CMUnitTestFunction fn, CMFixtureFunction setup, CMFixtureFunction teardown,
                        const struct CMUnitTest *others, size_t nothers,
                        CMFixtureFunction group_setup, CMFixtureFunction group_teardown);

#endif
