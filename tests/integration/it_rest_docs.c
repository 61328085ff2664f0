/*
 * Integration: every curl example of docs/api.md, and README.md's tour,
 * runs as written against a fresh gateway and answers the status the page
 * says (2xx unless a "# answers NNN" comment names another). tests/docs_examples.sh does the
 * work with its own PostgreSQL cluster and gateway, the way `make run` sets
 * one up; this test runs it with the build under test, so the integrators'
 * page cannot drift from the API unnoticed.
 */
#include "it.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"

/* The lines of out that report a failed example, for the message (static buffer). */
static const char *failed_lines(const char *out)
{
    static char buf[2000];
    buf[0] = '\0';
    for (const char *line = out; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        if ((n > 7 && strncmp(line, "FAILED:", 7) == 0) || (n > 13 && strncmp(line, "docs_examples", 13) == 0) ||
            (n > 13 && strncmp(line, "docs examples", 13) == 0))
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%.*s\n", (int)n, line);
        line = nl ? nl + 1 : NULL;
    }
    return buf;
}

/* Runs tests/docs_examples.sh with these extra environment entries (NULL-terminated, at most 3). */
static void run_docs_examples(const char *const *extra)
{
    /* the examples use jq to pick ids: a machine without it is not set up (make deps installs it) */
    if (system("command -v jq >/dev/null 2>&1") != 0)
        fail_msg("jq is not installed: the docs examples need it (make deps installs it)");
    /* the build directory of the binary under test (build, build-asan, ...) */
    char bin[1024];
    snprintf(bin, sizeof bin, "%s", it_env("OCPPGW_BIN"));
    char *dir = dirname(bin);
    char build[1100];
    snprintf(build, sizeof build, "BUILD=%s", dir);
    const char *argv[] = { "tests/docs_examples.sh", NULL };
    const char *env[5] = { build, NULL };
    for (int i = 0; extra && extra[i] && i < 3; i++)
        env[i + 1] = extra[i];
    struct proc_result r;
    proc_run(argv, env, 180000, &r);
    /* stderr holds the failures and the summary; stdout the answers */
    if (r.status != 0) {
        char msg[4200];
        snprintf(msg, sizeof msg, "%s", failed_lines(r.err));
        snprintf(msg + strlen(msg), sizeof msg - strlen(msg), "%s", failed_lines(r.out));
        int st = r.status;
        proc_result_free(&r);
        fail_msg("tests/docs_examples.sh exited %d:\n%s", st, msg);
    }
    if (!strstr(r.out, "docs examples:") || !strstr(r.out, " 0 failed"))
        fail_msg("tests/docs_examples.sh printed no clean summary");
    proc_result_free(&r);
}

static void test_every_docs_example_runs(void **state)
{
    (void)state;
    run_docs_examples(NULL);
}

/*
 * Issue 10: README.md's five-minute tour, as a newcomer runs it: the demo
 * chargers started in the background, the tags made before they are used,
 * a remote start and stop, the demo stopped with SIGINT leaving no session
 * active, every variable defined before use, ids that do not collide with
 * docs/api.md's (which then run on the same gateway in the same way).
 */
static void test_readme_tour_runs(void **state)
{
    (void)state;
    const char *env[] = { "DOC=README.md#A five-minute tour|docs/api.md", NULL };
    run_docs_examples(env);
}

/* Issue 14: docs/load-management.md's "Try it", on a gateway of its own. */
static void test_load_management_page_runs(void **state)
{
    (void)state;
    const char *env[] = { "DOC=docs/load-management.md", NULL };
    run_docs_examples(env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_docs_example_runs),
        cmocka_unit_test(test_readme_tour_runs),
        cmocka_unit_test(test_load_management_page_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
