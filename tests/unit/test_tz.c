/*
 * Time zones by name (src/util/tz.c) against the real tz database of the
 * machine: the 2026 changes of Europe/Berlin, America/New_York and
 * Australia/Lord_Howe (half an hour), Asia/Kolkata (+05:30, no changes
 * since 1945), UTC, dates past 2038 (the footer's rule), a slim file
 * (tests/fixtures/tz/slim/Europe/Berlin, made with `zic -b slim` from
 * Debian's tzdata 2025b: no transition after 1996), version 1 and
 * malformed files built here, unknown names, local times in gaps and
 * overlaps, and TZ=America/Los_Angeles in the environment changing nothing.
 * glibc is the oracle where it can be one (the test sets TZ, which the
 * module under test must never read): every zone of the database at every
 * transition and at a stride from 1900 to 2150, and footer rules given to
 * glibc as TZ strings.
 */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "tz.h"

#define H 3600
#define M 60

/* A UTC instant from its date and time (tz_local_seconds is UTC's wall clock). */
static int64_t utc(int64_t y, int mo, int d, int h, int mi, int s)
{
    return tz_local_seconds(y, mo, d, h, mi, s);
}

static const struct tz *zone(const char *name)
{
    const struct tz *z = tz_get(name);
    if (!z)
        print_error("zone %s did not load from %s\n", name, tz_dir());
    assert_non_null(z);
    return z;
}

static void assert_iso(const struct tz *z, int64_t t, const char *want)
{
    char buf[TZ_ISO8601_LEN];
    assert_true(tz_format_iso8601(z, t, buf, sizeof buf));
    assert_string_equal(buf, want);
}

/* ---------------------------------------------------------------- calendar */

static void test_civil_calendar(void **state)
{
    (void)state;
    assert_int_equal(tz_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(tz_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(tz_days_from_civil(2000, 3, 1), 11017); /* 30 years = 10957 days, + Jan 31 + Feb 29 */
    assert_int_equal(tz_days_from_civil(2026, 3, 29), 20541);
    assert_int_equal(utc(2038, 1, 19, 3, 14, 8), INT64_C(2147483648));
    for (int64_t d = -800000; d <= 800000; d += 97) {
        int64_t y;
        int m, dd;
        tz_civil_from_days(d, &y, &m, &dd);
        assert_int_equal(tz_days_from_civil(y, m, dd), d);
    }
}

/* ---------------------------------------------------------------- offsets at instants */

struct offset_case {
    const char *zone;
    int64_t at;
    int32_t offset;
    const char *iso; /* the wall clock at `at` */
};

static void check_offsets(void)
{
    const struct offset_case cases[] = {
        /* Berlin springs forward at 2026-03-29 01:00Z: 02:00 CET becomes 03:00 CEST */
        { "Europe/Berlin", utc(2026, 3, 29, 0, 59, 59), 1 * H, "2026-03-29T01:59:59+01:00" },
        { "Europe/Berlin", utc(2026, 3, 29, 1, 0, 0), 2 * H, "2026-03-29T03:00:00+02:00" },
        /* ... and falls back at 2026-10-25 01:00Z: 03:00 CEST becomes 02:00 CET */
        { "Europe/Berlin", utc(2026, 10, 25, 0, 59, 59), 2 * H, "2026-10-25T02:59:59+02:00" },
        { "Europe/Berlin", utc(2026, 10, 25, 1, 0, 0), 1 * H, "2026-10-25T02:00:00+01:00" },
        { "Europe/Berlin", utc(2026, 7, 1, 12, 0, 0), 2 * H, "2026-07-01T14:00:00+02:00" },
        /* New York: 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z); 2026-11-01 02:00 EDT -> 01:00 EST (06:00Z) */
        { "America/New_York", utc(2026, 3, 8, 6, 59, 59), -5 * H, "2026-03-08T01:59:59-05:00" },
        { "America/New_York", utc(2026, 3, 8, 7, 0, 0), -4 * H, "2026-03-08T03:00:00-04:00" },
        { "America/New_York", utc(2026, 11, 1, 5, 59, 59), -4 * H, "2026-11-01T01:59:59-04:00" },
        { "America/New_York", utc(2026, 11, 1, 6, 0, 0), -5 * H, "2026-11-01T01:00:00-05:00" },
        /* Lord Howe: half an hour of summer time. 2026-04-05 02:00 +11 -> 01:30 +10:30 (2026-04-04 15:00Z);
           2026-10-04 02:00 +10:30 -> 02:30 +11 (2026-10-03 15:30Z) */
        { "Australia/Lord_Howe", utc(2026, 4, 4, 14, 59, 59), 11 * H, "2026-04-05T01:59:59+11:00" },
        { "Australia/Lord_Howe", utc(2026, 4, 4, 15, 0, 0), 10 * H + 30 * M, "2026-04-05T01:30:00+10:30" },
        { "Australia/Lord_Howe", utc(2026, 10, 3, 15, 29, 59), 10 * H + 30 * M, "2026-10-04T01:59:59+10:30" },
        { "Australia/Lord_Howe", utc(2026, 10, 3, 15, 30, 0), 11 * H, "2026-10-04T02:30:00+11:00" },
        /* Kolkata: +05:30 all year */
        { "Asia/Kolkata", utc(2026, 1, 1, 0, 0, 0), 5 * H + 30 * M, "2026-01-01T05:30:00+05:30" },
        { "Asia/Kolkata", utc(2026, 7, 1, 0, 0, 0), 5 * H + 30 * M, "2026-07-01T05:30:00+05:30" },
        { "UTC", utc(2026, 3, 29, 1, 0, 0), 0, "2026-03-29T01:00:00+00:00" },
        /* past 2038, from the footer's rule: the last Sunday of March 2100 is the 28th,
           of October the 31st; 2099-03-08 is New York's second Sunday of March */
        { "Europe/Berlin", utc(2100, 3, 28, 0, 59, 59), 1 * H, "2100-03-28T01:59:59+01:00" },
        { "Europe/Berlin", utc(2100, 3, 28, 1, 0, 0), 2 * H, "2100-03-28T03:00:00+02:00" },
        { "Europe/Berlin", utc(2100, 10, 31, 1, 0, 0), 1 * H, "2100-10-31T02:00:00+01:00" },
        { "America/New_York", utc(2099, 3, 8, 7, 0, 0), -4 * H, "2099-03-08T03:00:00-04:00" },
        { "America/New_York", utc(2099, 3, 8, 6, 59, 59), -5 * H, "2099-03-08T01:59:59-05:00" },
        { "Australia/Lord_Howe", utc(2040, 1, 1, 0, 0, 0), 11 * H, "2040-01-01T11:00:00+11:00" },
        /* Berlin's local mean time before 1893: +00:53:28 */
        { "Europe/Berlin", utc(1880, 1, 1, 0, 0, 0), 53 * M + 28, "1880-01-01T00:53:28+00:53:28" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct tz *z = zone(cases[i].zone);
        if (tz_offset_at(z, cases[i].at) != cases[i].offset)
            print_error("case %zu: %s\n", i, cases[i].iso);
        assert_int_equal(tz_offset_at(z, cases[i].at), cases[i].offset);
        assert_int_equal(tz_utc_to_local(z, cases[i].at), cases[i].at + cases[i].offset);
        assert_iso(z, cases[i].at, cases[i].iso);
    }
}

static void test_offsets_at_instants(void **state)
{
    (void)state;
    check_offsets();
}

static void test_next_transition(void **state)
{
    (void)state;
    const struct tz *berlin = zone("Europe/Berlin");
    assert_int_equal(tz_next_transition(berlin, utc(2026, 1, 1, 0, 0, 0)), utc(2026, 3, 29, 1, 0, 0));
    assert_int_equal(tz_next_transition(berlin, utc(2026, 3, 29, 0, 59, 59)), utc(2026, 3, 29, 1, 0, 0));
    /* strictly after: from the instant of a change, the next one */
    assert_int_equal(tz_next_transition(berlin, utc(2026, 3, 29, 1, 0, 0)), utc(2026, 10, 25, 1, 0, 0));
    assert_int_equal(tz_next_transition(berlin, utc(2099, 12, 1, 0, 0, 0)), utc(2100, 3, 28, 1, 0, 0));
    assert_int_equal(tz_next_transition(zone("Australia/Lord_Howe"), utc(2026, 1, 1, 0, 0, 0)),
                     utc(2026, 4, 4, 15, 0, 0));
    /* no change after 1945 in Kolkata, none ever in UTC or in the NULL zone */
    assert_int_equal(tz_next_transition(zone("Asia/Kolkata"), utc(2026, 1, 1, 0, 0, 0)), INT64_MAX);
    assert_int_equal(tz_next_transition(zone("UTC"), utc(2026, 1, 1, 0, 0, 0)), INT64_MAX);
    assert_int_equal(tz_next_transition(NULL, 0), INT64_MAX);
    assert_int_equal(tz_offset_at(NULL, utc(2026, 3, 29, 1, 0, 0)), 0);
    assert_string_equal(tz_name(berlin), "Europe/Berlin");
    assert_string_equal(tz_name(NULL), "UTC");
}

/* ---------------------------------------------------------------- local to UTC */

struct local_case {
    const char *zone;
    int64_t local;
    enum tz_local_kind kind;
    int64_t at;
    const char *iso;
};

static void check_local_to_utc(void)
{
    const struct local_case cases[] = {
        /* 02:30 never shows on 2026-03-29 in Berlin: taken with the offset before (+01:00), 01:30Z,
           which the clock shows as 03:30 */
        { "Europe/Berlin", tz_local_seconds(2026, 3, 29, 2, 30, 0), TZ_LOCAL_GAP, utc(2026, 3, 29, 1, 30, 0),
          "2026-03-29T03:30:00+02:00" },
        { "Europe/Berlin", tz_local_seconds(2026, 3, 29, 2, 0, 0), TZ_LOCAL_GAP, utc(2026, 3, 29, 1, 0, 0),
          "2026-03-29T03:00:00+02:00" },
        { "Europe/Berlin", tz_local_seconds(2026, 3, 29, 1, 59, 59), TZ_LOCAL_EXACT, utc(2026, 3, 29, 0, 59, 59),
          "2026-03-29T01:59:59+01:00" },
        { "Europe/Berlin", tz_local_seconds(2026, 3, 29, 3, 0, 0), TZ_LOCAL_EXACT, utc(2026, 3, 29, 1, 0, 0),
          "2026-03-29T03:00:00+02:00" },
        /* 02:30 shows twice on 2026-10-25: the earlier, in summer time (00:30Z) */
        { "Europe/Berlin", tz_local_seconds(2026, 10, 25, 2, 30, 0), TZ_LOCAL_OVERLAP, utc(2026, 10, 25, 0, 30, 0),
          "2026-10-25T02:30:00+02:00" },
        { "Europe/Berlin", tz_local_seconds(2026, 10, 25, 2, 0, 0), TZ_LOCAL_OVERLAP, utc(2026, 10, 25, 0, 0, 0),
          "2026-10-25T02:00:00+02:00" },
        { "Europe/Berlin", tz_local_seconds(2026, 10, 25, 3, 0, 0), TZ_LOCAL_EXACT, utc(2026, 10, 25, 2, 0, 0),
          "2026-10-25T03:00:00+01:00" },
        { "Europe/Berlin", tz_local_seconds(2026, 10, 25, 1, 59, 59), TZ_LOCAL_EXACT, utc(2026, 10, 24, 23, 59, 59),
          "2026-10-25T01:59:59+02:00" },
        /* the same past 2038 (footer) */
        { "Europe/Berlin", tz_local_seconds(2100, 3, 28, 2, 30, 0), TZ_LOCAL_GAP, utc(2100, 3, 28, 1, 30, 0),
          "2100-03-28T03:30:00+02:00" },
        { "Europe/Berlin", tz_local_seconds(2100, 10, 31, 2, 30, 0), TZ_LOCAL_OVERLAP, utc(2100, 10, 31, 0, 30, 0),
          "2100-10-31T02:30:00+02:00" },
        /* New York: 02:30 on 2026-03-08 is a gap (07:30Z, shown 03:30-04:00), 01:30 on 2026-11-01 twice */
        { "America/New_York", tz_local_seconds(2026, 3, 8, 2, 30, 0), TZ_LOCAL_GAP, utc(2026, 3, 8, 7, 30, 0),
          "2026-03-08T03:30:00-04:00" },
        { "America/New_York", tz_local_seconds(2026, 11, 1, 1, 30, 0), TZ_LOCAL_OVERLAP, utc(2026, 11, 1, 5, 30, 0),
          "2026-11-01T01:30:00-04:00" },
        /* Lord Howe: a 30-minute gap and a 30-minute overlap */
        { "Australia/Lord_Howe", tz_local_seconds(2026, 10, 4, 2, 15, 0), TZ_LOCAL_GAP, utc(2026, 10, 3, 15, 45, 0),
          "2026-10-04T02:45:00+11:00" },
        { "Australia/Lord_Howe", tz_local_seconds(2026, 4, 5, 1, 45, 0), TZ_LOCAL_OVERLAP,
          utc(2026, 4, 4, 14, 45, 0), "2026-04-05T01:45:00+11:00" },
        { "Australia/Lord_Howe", tz_local_seconds(2026, 4, 5, 2, 0, 0), TZ_LOCAL_EXACT, utc(2026, 4, 4, 15, 30, 0),
          "2026-04-05T02:00:00+10:30" },
        { "Asia/Kolkata", tz_local_seconds(2026, 3, 29, 2, 30, 0), TZ_LOCAL_EXACT, utc(2026, 3, 28, 21, 0, 0),
          "2026-03-29T02:30:00+05:30" },
        { "UTC", tz_local_seconds(2026, 3, 29, 2, 30, 0), TZ_LOCAL_EXACT, utc(2026, 3, 29, 2, 30, 0),
          "2026-03-29T02:30:00+00:00" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct tz *z = zone(cases[i].zone);
        enum tz_local_kind kind = (enum tz_local_kind)-1;
        int64_t at = tz_local_to_utc(z, cases[i].local, &kind);
        if (at != cases[i].at || kind != cases[i].kind)
            print_error("case %zu (%s): got %lld kind %d\n", i, cases[i].iso, (long long)at, (int)kind);
        assert_int_equal(at, cases[i].at);
        assert_int_equal(kind, cases[i].kind);
        assert_iso(z, at, cases[i].iso);
    }
}

static void test_local_to_utc_gaps_and_overlaps(void **state)
{
    (void)state;
    check_local_to_utc();
    /* every wall-clock minute of Berlin's two 2026 change days: exact ones round-trip */
    const struct tz *z = zone("Europe/Berlin");
    int gaps = 0, overlaps = 0;
    for (int day = 0; day < 2; day++)
        for (int64_t l = tz_local_seconds(2026, day ? 10 : 3, day ? 25 : 29, 0, 0, 0), n = 0; n < 24 * 60;
             n++, l += 60) {
            enum tz_local_kind kind;
            int64_t at = tz_local_to_utc(z, l, &kind);
            if (kind == TZ_LOCAL_GAP) {
                gaps++;
                assert_int_equal(tz_utc_to_local(z, at), l + H); /* shown an hour later */
            } else {
                overlaps += kind == TZ_LOCAL_OVERLAP;
                assert_int_equal(tz_utc_to_local(z, at), l);
            }
        }
    assert_int_equal(gaps, 60);     /* 02:00..02:59 on 29 March */
    assert_int_equal(overlaps, 60); /* 02:00..02:59 on 25 October */
}

/* ---------------------------------------------------------------- TZ of the process */

static void test_tz_environment_changes_nothing(void **state)
{
    (void)state;
    const char *old = getenv("TZ");
    char *saved = old ? strdup(old) : NULL;
    setenv("TZ", "America/Los_Angeles", 1);
    tzset();
    tz_cache_clear(); /* load again with TZ set, too */
    check_offsets();
    check_local_to_utc();
    struct tz *z = tz_load("Europe/Berlin");
    assert_non_null(z);
    assert_int_equal(tz_offset_at(z, utc(2026, 7, 1, 0, 0, 0)), 2 * H);
    tz_free(z);
    if (saved)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
    free(saved);
}

/* ---------------------------------------------------------------- names and files */

static void test_unknown_and_refused_names(void **state)
{
    (void)state;
    const char *bad[] = {
        "", "Europe/Nowhere", "europe/berlin_x", "../etc/passwd", "/etc/localtime", "Europe/../UTC", "./UTC",
        "Europe//Berlin", "Europe/Berlin/", "Europe/Berlin ", "zone.tab", "iso3166.tab", "Europe",
        "right/Europe/Berlin", /* leap seconds: not POSIX time */
        "Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 65 characters */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (tz_exists(bad[i]))
            print_error("accepted: '%s'\n", bad[i]);
        assert_false(tz_exists(bad[i]));
        assert_null(tz_load(bad[i]));
        assert_null(tz_get(bad[i]));
    }
    assert_false(tz_exists(NULL));
    assert_null(tz_get(NULL));
    const char *good[] = { "UTC", "Etc/UTC", "Etc/GMT+5", "Europe/Berlin", "America/Argentina/Buenos_Aires",
                           "Asia/Kolkata", "Australia/Lord_Howe", "posix/Europe/Berlin" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(tz_exists(good[i]));
    /* Etc/GMT+5 is five hours WEST (POSIX signs) */
    assert_int_equal(tz_offset_at(zone("Etc/GMT+5"), 0), -5 * H);
}

static void test_cache_answers_one_zone_per_name(void **state)
{
    (void)state;
    const struct tz *a = tz_get("Europe/Berlin"), *b = tz_get("Europe/Berlin");
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, tz_get("America/New_York"));
    tz_cache_clear();
    assert_non_null(tz_get("Europe/Berlin"));
}

#define THREADS 4
#define PROBES 2000
static const char *const thread_zones[4] = { "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
                                             "Asia/Kolkata" };
static int32_t expected_offset[4][PROBES];

static int64_t probe_time(int i)
{
    return utc(2026, 1, 1, 0, 0, 0) + (int64_t)i * 4 * H + 59;
}

/* Each thread loads the zones through the cache, in its own order, and checks every probe. */
static void *thread_main(void *arg)
{
    intptr_t bad = 0;
    for (int i = 0; i < PROBES; i++) {
        int k = (int)((i + (intptr_t)arg) % 4);
        const struct tz *z = tz_get(thread_zones[k]);
        if (!z || tz_offset_at(z, probe_time(i)) != expected_offset[k][i] ||
            tz_utc_to_local(z, probe_time(i)) != probe_time(i) + expected_offset[k][i])
            bad++;
    }
    return (void *)bad;
}

static void test_threads_share_zones(void **state)
{
    (void)state;
    for (int k = 0; k < 4; k++) {
        struct tz *z = tz_load(thread_zones[k]);
        assert_non_null(z);
        for (int i = 0; i < PROBES; i++)
            expected_offset[k][i] = tz_offset_at(z, probe_time(i));
        tz_free(z);
    }
    tz_cache_clear();
    pthread_t th[THREADS];
    for (intptr_t i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, thread_main, (void *)i), 0);
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(th[i], &r);
        assert_int_equal((intptr_t)r, 0);
    }
}

/* ---------------------------------------------------------------- files built here */

struct tzif_spec {
    char version; /* 0 or '2' */
    size_t n_trans;
    const int64_t *trans;
    const uint8_t *idx;
    size_t n_types;
    const int32_t *offs;
    const char *footer; /* version 2: the rule */
    uint32_t leapcnt;   /* > 0 writes that many zero leap records */
};

static void put32(uint8_t **p, uint32_t v)
{
    (*p)[0] = (uint8_t)(v >> 24), (*p)[1] = (uint8_t)(v >> 16), (*p)[2] = (uint8_t)(v >> 8), (*p)[3] = (uint8_t)v;
    *p += 4;
}

static uint8_t *put_block(uint8_t *p, const struct tzif_spec *s, int tsize)
{
    memcpy(p, "TZif", 4);
    p[4] = (uint8_t)s->version;
    memset(p + 5, 0, 15);
    p += 20;
    put32(&p, 0), put32(&p, 0), put32(&p, s->leapcnt); /* isut, isstd, leap */
    put32(&p, (uint32_t)s->n_trans), put32(&p, (uint32_t)s->n_types), put32(&p, 4);
    for (size_t i = 0; i < s->n_trans; i++) {
        if (tsize == 8)
            put32(&p, (uint32_t)((uint64_t)s->trans[i] >> 32));
        put32(&p, (uint32_t)s->trans[i]);
    }
    for (size_t i = 0; i < s->n_trans; i++)
        *p++ = s->idx[i];
    for (size_t i = 0; i < s->n_types; i++) {
        put32(&p, (uint32_t)s->offs[i]);
        *p++ = 0;
        *p++ = 0;
    }
    memcpy(p, "ABC", 4);
    p += 4;
    for (uint32_t i = 0; i < s->leapcnt; i++) {
        memset(p, 0, (size_t)tsize + 4);
        p += tsize + 4;
    }
    return p;
}

/* A TZif file of the spec in buf; its length. */
static size_t build_tzif(const struct tzif_spec *s, uint8_t *buf)
{
    uint8_t *p = put_block(buf, s, 4);
    if (s->version >= '2') {
        p = put_block(p, s, 8);
        p += sprintf((char *)p, "\n%s\n", s->footer ? s->footer : "");
    }
    return (size_t)(p - buf);
}

static void test_version_1_file(void **state)
{
    (void)state;
    /* +01:00 until 2000-01-01Z, +02:00 until 2010-01-01Z, +01:00 after: no footer in version 1 */
    const int64_t trans[] = { utc(2000, 1, 1, 0, 0, 0), utc(2010, 1, 1, 0, 0, 0) };
    const uint8_t idx[] = { 1, 0 };
    const int32_t offs[] = { 1 * H, 2 * H };
    struct tzif_spec s = { 0, 2, trans, idx, 2, offs, NULL, 0 };
    uint8_t buf[512];
    size_t len = build_tzif(&s, buf);
    struct tz *z = tz_parse("Test/V1", buf, len);
    assert_non_null(z);
    assert_string_equal(tz_name(z), "Test/V1");
    assert_int_equal(tz_offset_at(z, utc(1999, 12, 31, 23, 59, 59)), 1 * H);
    assert_int_equal(tz_offset_at(z, utc(2000, 1, 1, 0, 0, 0)), 2 * H);
    assert_int_equal(tz_offset_at(z, utc(2009, 12, 31, 23, 59, 59)), 2 * H);
    assert_int_equal(tz_offset_at(z, utc(2010, 1, 1, 0, 0, 0)), 1 * H);
    assert_int_equal(tz_offset_at(z, utc(2200, 1, 1, 0, 0, 0)), 1 * H);
    assert_int_equal(tz_next_transition(z, utc(2005, 1, 1, 0, 0, 0)), utc(2010, 1, 1, 0, 0, 0));
    assert_int_equal(tz_next_transition(z, utc(2010, 1, 1, 0, 0, 0)), INT64_MAX);
    tz_free(z);
    /* every shorter prefix is refused */
    for (size_t n = 0; n < len; n++)
        assert_null(tz_parse("x", buf, n));
}

static void test_malformed_files_are_refused(void **state)
{
    (void)state;
    const int64_t trans[] = { 0, 1000 };
    const uint8_t idx[] = { 1, 0 };
    const uint8_t bad_idx[] = { 1, 2 };
    const int64_t backwards[] = { 1000, 0 };
    const int32_t offs[] = { 0, H };
    const int32_t huge[] = { 0, 26 * H };
    const struct tzif_spec ok = { '2', 2, trans, idx, 2, offs, "CET-1CEST,M3.5.0,M10.5.0/3", 0 };
    uint8_t buf[1024];
    size_t len = build_tzif(&ok, buf);
    struct tz *z = tz_parse("ok", buf, len);
    assert_non_null(z);
    tz_free(z);
    for (size_t n = 0; n < len; n++) /* the footer's closing newline included */
        assert_null(tz_parse("x", buf, n));

    struct tzif_spec s = ok;
    s.idx = bad_idx;
    assert_null(tz_parse("x", buf, build_tzif(&s, buf)));
    s = ok;
    s.trans = backwards;
    assert_null(tz_parse("x", buf, build_tzif(&s, buf)));
    s = ok;
    s.offs = huge;
    assert_null(tz_parse("x", buf, build_tzif(&s, buf)));
    s = ok;
    s.leapcnt = 1;
    assert_null(tz_parse("x", buf, build_tzif(&s, buf)));
    s = ok;
    s.n_types = 0;
    s.n_trans = 0;
    assert_null(tz_parse("x", buf, build_tzif(&s, buf)));
    s = ok;
    s.version = '1';
    assert_null(tz_parse("x", buf, build_tzif(&s, buf)));
    const char *footers[] = { "CE", "CET", "CET-1CEST,M3.5.0", "CET-1CEST,M13.5.0,M10.5.0", "CET-1CEST,M3.6.0,M10.5.0",
                              "CET-1CEST,M3.5.7,M10.5.0", "CET-1CEST,J0,J365", "CET-1CEST,366,0",
                              "CET-1CEST,M3.5.0/168,M10.5.0", "CET-25", "CET-1:60", "<+1>-1", "CET-1CEST,M3.5.0,M10.5.0x",
                              "CET-1 " };
    for (size_t i = 0; i < sizeof footers / sizeof footers[0]; i++) {
        s = ok;
        s.footer = footers[i];
        if (tz_parse("x", buf, build_tzif(&s, buf)))
            print_error("footer accepted: '%s'\n", footers[i]);
        assert_null(tz_parse("x", buf, build_tzif(&s, buf)));
    }
    memcpy(buf, "TZiF", 4);
    assert_null(tz_parse("x", buf, len));
    assert_null(tz_parse("x", NULL, 0));
}

/* A version 2 file with no transition: only the footer's rule, for every instant. */
static struct tz *rule_zone(const char *rule)
{
    const int32_t offs[] = { 0 };
    struct tzif_spec s = { '2', 0, NULL, NULL, 1, offs, rule, 0 };
    uint8_t buf[512];
    return tz_parse(rule, buf, build_tzif(&s, buf));
}

/* The offset glibc gives at t for the TZ string or file `tzspec`. */
static long glibc_offset(const char *tzspec, int64_t t)
{
    setenv("TZ", tzspec, 1);
    tzset();
    time_t tt = (time_t)t;
    struct tm tm;
    assert_non_null(localtime_r(&tt, &tm));
    return tm.tm_gmtoff;
}

static void restore_tz(const char *saved)
{
    if (saved)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
}

static void test_footer_rules_agree_with_glibc(void **state)
{
    (void)state;
    const char *rules[] = {
        "CET-1CEST,M3.5.0,M10.5.0/3",         /* Europe/Berlin */
        "EST5EDT,M3.2.0,M11.1.0",             /* America/New_York */
        "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", /* Australia/Lord_Howe: southern, half an hour */
        "IST-1GMT0,M10.5.0,M3.5.0/1",         /* Europe/Dublin: "summer" is the standard time */
        "<-02>2<-01>,M3.5.0/-1,M10.5.0/0",    /* America/Nuuk: a negative time of day */
        "XXX0YYY,J60/0,J300/0",               /* Jn: never Feb 29 */
        "XXX0YYY,59/0,299/0",                 /* n: zero-based, Feb 29 counts */
        "<+0545>-5:45",                       /* no summer time */
        "AAA3BBB,M2.5.6/26,M11.1.0/-2:30",    /* a fifth week that is the last, times past midnight */
        "NZST-12NZDT,M9.5.0,M4.1.0/3",        /* Pacific/Auckland */
    };
    const char *old = getenv("TZ");
    char *saved = old ? strdup(old) : NULL;
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        struct tz *z = rule_zone(rules[i]);
        if (!z)
            print_error("refused: %s\n", rules[i]);
        assert_non_null(z);
        /* both sides of every change from 2020 to 2105, and a stride */
        int changes = 0;
        for (int64_t t = utc(2020, 1, 1, 0, 0, 0); t < utc(2105, 1, 1, 0, 0, 0); t = tz_next_transition(z, t)) {
            for (int64_t d = -1; d <= 0; d++)
                if (tz_offset_at(z, t + d) != glibc_offset(rules[i], t + d)) {
                    print_error("%s at %lld: %d, glibc %ld\n", rules[i], (long long)(t + d),
                                tz_offset_at(z, t + d), glibc_offset(rules[i], t + d));
                    fail();
                }
            changes++;
        }
        for (int64_t t = utc(1990, 1, 1, 0, 0, 0); t < utc(2200, 1, 1, 0, 0, 0); t += 86400 * 5 + 3 * H + 17)
            assert_int_equal(tz_offset_at(z, t), glibc_offset(rules[i], t));
        assert_true(changes >= (strchr(rules[i], ',') ? 85 * 2 - 2 : 1));
        tz_free(z);
    }
    restore_tz(saved);
    free(saved);

    /*
     * Summer time all year, RFC 8536's example: it starts on 1 January at
     * 00:00 EST and ends on 31 December at 25:00 EDT, the instant the next
     * start comes. glibc picks the year by UTC and answers EST for the
     * evening of 31 December (EDT is still in force: 2019-12-31 20:00-04:00).
     */
    struct tz *z = rule_zone("EST5EDT4,0/0,J365/25");
    assert_non_null(z);
    for (int64_t t = utc(2019, 12, 31, 0, 0, 0); t < utc(2030, 1, 2, 0, 0, 0); t += 6 * H + 1)
        assert_int_equal(tz_offset_at(z, t), -4 * H);
    assert_int_equal(tz_offset_at(z, utc(2020, 1, 1, 0, 0, 0)), -4 * H);
    assert_int_equal(tz_offset_at(z, utc(2020, 1, 1, 5, 0, 0)), -4 * H);
    tz_free(z);
}

/* ---------------------------------------------------------------- the whole database against glibc */

/* a/b into buf (b alone if a is empty) */
static void join(char *buf, size_t cap, const char *a, const char *b)
{
    int n = snprintf(buf, cap, "%s%s%s", a, *a ? "/" : "", b);
    assert_true(n > 0 && (size_t)n < cap);
}

struct walk {
    int zones, refused, instants;
};

static void compare_zone(const char *dir, const char *name, struct walk *w)
{
    struct tz *z = tz_load(name);
    char path[1024];
    join(path, sizeof path, dir, name);
    if (!z) {
        /* only the leap-second zones and files that are not TZif */
        FILE *f = fopen(path, "rb");
        char magic[4] = { 0 };
        if (f) {
            if (fread(magic, 1, 4, f) != 4)
                magic[0] = 0;
            fclose(f);
        }
        if (memcmp(magic, "TZif", 4) == 0 && strncmp(name, "right/", 6) != 0)
            print_error("zone %s refused\n", name);
        assert_true(memcmp(magic, "TZif", 4) != 0 || strncmp(name, "right/", 6) == 0);
        w->refused++;
        return;
    }
    w->zones++;
    char spec[1100];
    assert_true((size_t)snprintf(spec, sizeof spec, ":%s", path) < sizeof spec);
    int64_t from = utc(1900, 1, 1, 0, 0, 0), to = utc(2150, 1, 1, 0, 0, 0);
    for (int64_t t = from; t < to; t = tz_next_transition(z, t)) {
        for (int64_t d = -1; d <= 0; d++) {
            if (t + d < from)
                continue;
            long g = glibc_offset(spec, t + d);
            if (tz_offset_at(z, t + d) != g) {
                print_error("%s at %lld: %d, glibc %ld\n", name, (long long)(t + d), tz_offset_at(z, t + d), g);
                fail();
            }
            w->instants++;
        }
    }
    for (int64_t t = from; t < to; t += 86400 * 61 + 7 * H + 11) {
        if (tz_offset_at(z, t) != glibc_offset(spec, t)) {
            print_error("%s at %lld: %d, glibc %ld\n", name, (long long)t, tz_offset_at(z, t), glibc_offset(spec, t));
            fail();
        }
        w->instants++;
    }
    tz_free(z);
}

static void walk_dir(const char *root, const char *rel, struct walk *w)
{
    char path[1024];
    join(path, sizeof path, root, rel);
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || (!*rel && (!strcmp(e->d_name, "posix") || !strcmp(e->d_name, "right"))))
            continue;
        char sub[1024], full[1024];
        join(sub, sizeof sub, rel, e->d_name);
        join(full, sizeof full, root, sub);
        struct stat st;
        if (stat(full, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            walk_dir(root, sub, w);
        else if (S_ISREG(st.st_mode))
            compare_zone(root, sub, w);
    }
    closedir(d);
}

static void test_every_zone_agrees_with_glibc(void **state)
{
    (void)state;
    const char *old = getenv("TZ");
    char *saved = old ? strdup(old) : NULL;
    struct walk w = { 0, 0, 0 };
    walk_dir(tz_dir(), "", &w);
    restore_tz(saved);
    free(saved);
    print_message("%d zones, %d instants compared with glibc; %d files refused\n", w.zones, w.instants, w.refused);
    assert_true(w.zones >= 300);
    assert_null(tz_load("right/UTC"));
}

/* ---------------------------------------------------------------- a slim file */

static void test_slim_file_uses_its_footer(void **state)
{
    (void)state;
    const char *old = getenv("OCPPGW_ZONEINFO");
    char *saved = old ? strdup(old) : NULL;
    const char *dirs[] = { "tests/fixtures/tz/slim", "../tests/fixtures/tz/slim", "../../tests/fixtures/tz/slim" };
    struct tz *slim = NULL;
    for (size_t i = 0; i < 3 && !slim; i++) {
        setenv("OCPPGW_ZONEINFO", dirs[i], 1);
        slim = tz_load("Europe/Berlin");
    }
    if (saved)
        setenv("OCPPGW_ZONEINFO", saved, 1);
    else
        unsetenv("OCPPGW_ZONEINFO");
    free(saved);
    if (!slim)
        print_error("tests/fixtures/tz/slim/Europe/Berlin not found (run from the top of the tree)\n");
    assert_non_null(slim);
    const struct tz *fat = zone("Europe/Berlin");
    /* 2026's changes come from the footer alone: the file's last transition is in 1996 */
    assert_int_equal(tz_next_transition(slim, utc(2026, 1, 1, 0, 0, 0)), utc(2026, 3, 29, 1, 0, 0));
    assert_int_equal(tz_offset_at(slim, utc(2026, 3, 29, 1, 0, 0)), 2 * H);
    enum tz_local_kind k;
    assert_int_equal(tz_local_to_utc(slim, tz_local_seconds(2026, 10, 25, 2, 30, 0), &k), utc(2026, 10, 25, 0, 30, 0));
    assert_int_equal(k, TZ_LOCAL_OVERLAP);
    /* the slim and the fat file agree on both sides of every change from 1970 to 2100 */
    int changes = 0;
    for (int64_t t = utc(1970, 1, 1, 0, 0, 0); t < utc(2100, 1, 1, 0, 0, 0); t = tz_next_transition(fat, t), changes++) {
        assert_int_equal(tz_offset_at(slim, t - 1), tz_offset_at(fat, t - 1));
        assert_int_equal(tz_offset_at(slim, t), tz_offset_at(fat, t));
        if (tz_offset_at(fat, t - 1) != tz_offset_at(fat, t))
            assert_int_equal(tz_next_transition(slim, t - 1), t);
    }
    assert_true(changes > 2 * (2100 - 1980) - 4);
    tz_free(slim);
}

static int group_teardown(void **state)
{
    (void)state;
    tz_cache_clear();
    return 0;
}

int main(void)
{
    unsetenv("TZ");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_civil_calendar),
        cmocka_unit_test(test_offsets_at_instants),
        cmocka_unit_test(test_next_transition),
        cmocka_unit_test(test_local_to_utc_gaps_and_overlaps),
        cmocka_unit_test(test_tz_environment_changes_nothing),
        cmocka_unit_test(test_unknown_and_refused_names),
        cmocka_unit_test(test_cache_answers_one_zone_per_name),
        cmocka_unit_test(test_threads_share_zones),
        cmocka_unit_test(test_version_1_file),
        cmocka_unit_test(test_malformed_files_are_refused),
        cmocka_unit_test(test_footer_rules_agree_with_glibc),
        cmocka_unit_test(test_every_zone_agrees_with_glibc),
        cmocka_unit_test(test_slim_file_uses_its_footer),
    };
    return cmocka_run_group_tests(tests, NULL, group_teardown);
}
