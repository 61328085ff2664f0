/*
 * Helpers shared by every integration test: environment, strings, clocks,
 * polling with a deadline. See it.h.
 */
#include "it.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim.h"

const char *it_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        fail_msg("environment variable %s is not set (run through scripts/run-integration.sh)", name);
    return v;
}

char *it_strf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    return s;
}

char *it_iso_time(char *buf, int64_t offset_s)
{
    time_t t = time(NULL) + (time_t)offset_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

int64_t it_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void it_pause(struct sim *s, int ms)
{
    if (s) {
        int64_t end = it_now_ms() + ms;
        for (int64_t left = ms; left > 0; left = end - it_now_ms())
            sim_service(s, left > 50 ? 50 : (int)left);
        return;
    }
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

bool wait_until(struct sim *s, bool (*fn)(void *arg), void *arg, int timeout_ms)
{
    int64_t end = it_now_ms() + timeout_ms;
    for (;;) {
        if (fn(arg))
            return true;
        if (it_now_ms() >= end)
            return false;
        it_pause(s, 100);
    }
}

int it_run_case_group(const struct it_case_group *g)
{
    struct CMUnitTest *tests = calloc(g->ncases + g->nothers, sizeof *tests);
    char (*names)[96] = calloc(g->ncases ? g->ncases : 1, sizeof *names);
    if (!tests || !names)
        abort();
    for (size_t i = 0; i < g->ncases; i++) {
        const void *c = (const char *)g->cases + i * g->size;
        snprintf(names[i], sizeof names[i], "%s%s", g->prefix, g->name(c));
        tests[i] = (struct CMUnitTest){ .name = names[i], .test_func = g->fn, .setup_func = g->setup,
                                        .teardown_func = g->teardown, .initial_state = (void *)c };
    }
    for (size_t i = 0; i < g->nothers; i++)
        tests[g->ncases + i] = g->others[i];
    int rc = _cmocka_run_group_tests(g->group, tests, g->ncases + g->nothers, g->group_setup, g->group_teardown);
    free(names);
    free(tests);
    return rc;
}

static const char *action_name(const void *c)
{
    return ((const struct it_action_case *)c)->action;
}

int it_run_action_group(const char *group, const struct it_action_case *cases, size_t ncases,
                        CMUnitTestFunction fn, CMFixtureFunction setup, CMFixtureFunction teardown,
                        const struct CMUnitTest *others, size_t nothers,
                        CMFixtureFunction group_setup, CMFixtureFunction group_teardown)
{
    const struct it_case_group g = { .group = group, .prefix = "test_action_", .cases = cases, .ncases = ncases,
                                     .size = sizeof *cases, .name = action_name, .fn = fn, .setup = setup,
                                     .teardown = teardown, .others = others, .nothers = nothers,
                                     .group_setup = group_setup, .group_teardown = group_teardown };
    return it_run_case_group(&g);
}

bool it_is_hex40(const char *s)
{
    if (!s || strlen(s) != 40)
        return false;
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s) || isupper((unsigned char)*s))
            return false;
    return true;
}

void it_openssl(const char *dir, const char *cmd)
{
    char *full = it_strf("cd '%s' && (%s) >>openssl.log 2>&1", dir, cmd);
    int rc = system(full);
    free(full);
    if (rc != 0)
        fail_msg("openssl step failed (see %s/openssl.log): %s", dir, cmd);
}
