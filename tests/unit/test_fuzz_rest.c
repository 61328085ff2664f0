/*
 * The REST fuzz target's inputs as a unit test (no libFuzzer): every input
 * a fuzzing run found a defect with (tests/fuzz/regressions/fuzz_rest/) and
 * the whole committed corpus (tests/fuzz/corpus/fuzz_rest/) go through the
 * same driver, tests/fuzz/fuzz_rest.c, which aborts on a reply or request it
 * does not expect. Under `make asan` UBSan is fatal, so undefined behaviour
 * fails the test too.
 *
 *   regressions/fuzz_rest/config-number-out-of-long-long-range
 *       PATCH /v1/chargers/{id}/configuration with a number outside long
 *       long's range: res_commands.c cast it to long long (undefined).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>

#include "../fuzz/fuzz_rest.c"

/* Runs every file of dir through the driver; the number run. */
static int replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static uint8_t buf[64 * 1024];
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, len);
        n++;
    }
    closedir(d);
    return n;
}

static void test_regressions(void **state)
{
    (void)state;
    assert_true(replay_dir("tests/fuzz/regressions/fuzz_rest") >= 1);
}

static void test_corpus(void **state)
{
    (void)state;
    assert_true(replay_dir("tests/fuzz/corpus/fuzz_rest") >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regressions),
        cmocka_unit_test(test_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
