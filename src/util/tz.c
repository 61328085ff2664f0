/*
 * Time zones by name from the system tz database (include/tz.h).
 *
 * Why our own reader: libc's localtime_r()/mktime() convert with the one
 * process-wide zone of TZ (tzset() is global state, so switching TZ per call
 * races with every other thread and with the log's timestamps); ICU carries
 * its own copy of the data (updated with ICU, not with tzdata); the C++ date
 * library needs a C++ runtime; GLib's GTimeZone would do, at the price of
 * GLib (docs/architecture.md, "Dependencies and why"). A TZif file is small
 * and its format fixed (RFC 8536), so the gateway reads it.
 *
 * A zone is one allocation, immutable once parsed: the transitions (64-bit
 * from the version 2+ block; the 32-bit block only for a version 1 file),
 * the UTC offset of each transition's type, and the footer's POSIX TZ rule,
 * which gives the offset after the last transition. Debian's tzdata files are
 * "fat" today (transitions written out to 2037), "slim" ones (zic -b slim,
 * the default upstream) stop at the last change of rules (1996 for
 * Europe/Berlin), so the footer is what answers for 2026; both kinds are
 * tested. Files with leap seconds (the "right/" zones) are refused: their
 * times are not POSIX times.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hmap.h"
#include "tz.h"
#include "util.h"

#define TZ_FILE_MAX (1 << 20)
/* the offsets RFC 8536 allows: -25:59:59 .. +25:59:59 */
#define OFFSET_LIMIT 93599
/* instants beyond this (about 31 million years) are answered as at it */
#define TIME_LIMIT INT64_C(1000000000000000)

/* ---------------------------------------------------------------- calendar */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int64_t tz_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

int64_t tz_local_seconds(int64_t y, int m, int d, int h, int mi, int s)
{
    return tz_days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + s;
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_len(int64_t y, int m)
{
    static const int len[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && is_leap(y) ? 29 : len[m - 1];
}

/* ---------------------------------------------------------------- the zone */

/* A day of the footer rule: Jn (1..365, no Feb 29), n (0..365), or Mm.w.d. */
struct rule_date {
    enum { RD_JULIAN1, RD_JULIAN0, RD_MWD } kind;
    int n, m, w, d;
    int32_t secs; /* wall-clock time of the change, -167h..167h */
};

struct rule {
    int32_t std_off, dst_off; /* seconds east of UTC */
    bool has_dst;
    struct rule_date start, end;
};

struct tz {
    char name[65];
    size_t n_trans;
    const int64_t *trans;   /* ascending */
    const uint8_t *trans_type;
    size_t n_types;
    const int32_t *type_off;
    bool has_rule;
    struct rule rule;
};

/* ---------------------------------------------------------------- footer rule */

static bool is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A zone abbreviation: 3+ letters, or <...> of letters, digits, + and -. */
static const char *parse_abbr(const char *s)
{
    size_t n = 0;
    if (*s == '<') {
        for (s++; *s && *s != '>'; s++, n++)
            if (!is_alpha(*s) && !is_digit(*s) && *s != '+' && *s != '-')
                return NULL;
        return *s == '>' && n >= 3 ? s + 1 : NULL;
    }
    for (; is_alpha(*s); s++)
        n++;
    return n >= 3 ? s : NULL;
}

/* [+-]h[h[h]][:mm[:ss]], hours at most max_h; seconds into *out. */
static const char *parse_hms(const char *s, int max_h, int32_t *out)
{
    int sign = 1;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    int h = 0, n = 0;
    for (; is_digit(*s) && n < 3; s++, n++)
        h = h * 10 + (*s - '0');
    if (n == 0 || h > max_h)
        return NULL;
    int32_t v = h * 3600;
    for (int part = 0; part < 2 && *s == ':'; part++) {
        if (!is_digit(s[1]) || !is_digit(s[2]))
            return NULL;
        int x = (s[1] - '0') * 10 + (s[2] - '0');
        if (x > 59)
            return NULL;
        v += part == 0 ? x * 60 : x;
        s += 3;
    }
    *out = sign * v;
    return s;
}

static const char *parse_int(const char *s, int lo, int hi, int *out)
{
    int v = 0, n = 0;
    for (; is_digit(*s) && n < 3; s++, n++)
        v = v * 10 + (*s - '0');
    if (n == 0 || v < lo || v > hi)
        return NULL;
    *out = v;
    return s;
}

static const char *parse_rule_date(const char *s, struct rule_date *rd)
{
    if (*s == 'J') {
        rd->kind = RD_JULIAN1;
        s = parse_int(s + 1, 1, 365, &rd->n);
    } else if (*s == 'M') {
        rd->kind = RD_MWD;
        if (!(s = parse_int(s + 1, 1, 12, &rd->m)) || *s != '.' || !(s = parse_int(s + 1, 1, 5, &rd->w)) ||
            *s != '.')
            return NULL;
        s = parse_int(s + 1, 0, 6, &rd->d);
    } else {
        rd->kind = RD_JULIAN0;
        s = parse_int(s, 0, 365, &rd->n);
    }
    if (!s)
        return NULL;
    rd->secs = 7200;
    if (*s == '/')
        s = parse_hms(s + 1, 167, &rd->secs);
    return s;
}

/* A POSIX TZ string as zic writes it in footers (with the RFC 8536 extensions). */
static bool parse_rule(const char *s, struct rule *r)
{
    int32_t off;
    memset(r, 0, sizeof *r);
    if (!(s = parse_abbr(s)) || !(s = parse_hms(s, 24, &off)))
        return false;
    r->std_off = -off;
    if (*s == '\0')
        return true;
    if (!(s = parse_abbr(s)))
        return false;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*s != ',' && *s != '\0') {
        if (!(s = parse_hms(s, 24, &off)))
            return false;
        r->dst_off = -off;
    }
    if (*s == '\0') /* the POSIX default: the US rules */
        s = ",M3.2.0,M11.1.0";
    if (*s != ',' || !(s = parse_rule_date(s + 1, &r->start)) || *s != ',' ||
        !(s = parse_rule_date(s + 1, &r->end)))
        return false;
    return *s == '\0';
}

/* The local seconds of the rule date's change in year y. */
static int64_t rule_date_local(const struct rule_date *rd, int64_t y)
{
    int64_t day;
    switch (rd->kind) {
    case RD_JULIAN1:
        day = tz_days_from_civil(y, 1, 1) + rd->n - 1 + (is_leap(y) && rd->n >= 60);
        break;
    case RD_JULIAN0:
        day = tz_days_from_civil(y, 1, 1) + rd->n;
        break;
    case RD_MWD:
    default: {
        int64_t first = tz_days_from_civil(y, rd->m, 1);
        int wd_first = (int)(((first + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday; 0 = Sunday */
        day = first + (rd->d - wd_first + 7) % 7 + (int64_t)(rd->w - 1) * 7;
        while (day - first >= month_len(y, rd->m))
            day -= 7;
        break;
    }
    }
    return day * 86400 + rd->secs;
}

/*
 * The rule's changes in years y0..y0+n-1, in order: for each, the instant
 * and the offset from then on. Ties (a change of one year at the instant of
 * the next year's, as in all-year summer time "J365/25") keep the later
 * year's last.
 */
struct rule_event {
    int64_t at;
    int32_t off;
};

static size_t rule_events(const struct rule *r, int64_t y0, int n, struct rule_event *ev)
{
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        int64_t y = y0 + i;
        struct rule_event a = { rule_date_local(&r->start, y) - r->std_off, r->dst_off };
        struct rule_event b = { rule_date_local(&r->end, y) - r->dst_off, r->std_off };
        ev[k++] = a.at <= b.at ? a : b;
        ev[k++] = a.at <= b.at ? b : a;
    }
    /* insertion sort, stable: equal instants stay in year order */
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0 && ev[j - 1].at > ev[j].at; j--) {
            struct rule_event t = ev[j];
            ev[j] = ev[j - 1];
            ev[j - 1] = t;
        }
    return k;
}

static int64_t year_of(int64_t local)
{
    int64_t y;
    int m, d;
    tz_civil_from_days(floor_div(local, 86400), &y, &m, &d);
    return y;
}

static int32_t rule_offset_at(const struct rule *r, int64_t t)
{
    if (!r->has_dst)
        return r->std_off;
    struct rule_event ev[8];
    size_t n = rule_events(r, year_of(t + r->std_off) - 2, 4, ev);
    int32_t off = r->std_off;
    for (size_t i = 0; i < n && ev[i].at <= t; i++)
        off = ev[i].off;
    return off;
}

static int64_t rule_next(const struct rule *r, int64_t t)
{
    if (!r->has_dst)
        return INT64_MAX;
    struct rule_event ev[8];
    size_t n = rule_events(r, year_of(t + r->std_off) - 1, 4, ev);
    for (size_t i = 0; i < n; i++)
        if (ev[i].at > t)
            return ev[i].at;
    return INT64_MAX;
}

/* ---------------------------------------------------------------- TZif */

struct tzif_header {
    char version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

#define TZIF_HEADER_LEN 44

static bool read_header(const uint8_t *p, size_t len, struct tzif_header *h)
{
    if (len < TZIF_HEADER_LEN || memcmp(p, "TZif", 4) != 0)
        return false;
    h->version = (char)p[4];
    if (h->version != 0 && h->version < '2')
        return false;
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    /* bounds that keep the sizes below from overflowing (zic's own limits are far lower) */
    return h->timecnt <= 1u << 20 && h->typecnt <= 256 && h->charcnt <= 1u << 16 && h->leapcnt <= 1u << 16 &&
           h->isutcnt <= 256 && h->isstdcnt <= 256;
}

static size_t block_len(const struct tzif_header *h, size_t tsize)
{
    return h->timecnt * tsize + h->timecnt + h->typecnt * 6 + h->charcnt + h->leapcnt * (tsize + 4) +
           h->isstdcnt + h->isutcnt;
}

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* The zone of one data block (tsize 4 or 8), with no rule yet; NULL if malformed. */
static struct tz *parse_block(const uint8_t *p, const struct tzif_header *h, size_t tsize)
{
    if (h->typecnt == 0 || h->charcnt == 0 || h->leapcnt != 0 || (h->isstdcnt && h->isstdcnt != h->typecnt) ||
        (h->isutcnt && h->isutcnt != h->typecnt))
        return NULL;
    size_t off_trans = align8(sizeof(struct tz));
    size_t off_types = off_trans + h->timecnt * sizeof(int64_t);
    size_t off_idx = off_types + h->typecnt * sizeof(int32_t);
    uint8_t *mem = xcalloc(1, off_idx + h->timecnt + 1);
    struct tz *z = (struct tz *)mem;
    int64_t *trans = (int64_t *)(mem + off_trans);
    int32_t *type_off = (int32_t *)(mem + off_types);
    uint8_t *trans_type = mem + off_idx;

    const uint8_t *q = p;
    for (uint32_t i = 0; i < h->timecnt; i++, q += tsize) {
        trans[i] = tsize == 4 ? (int64_t)(int32_t)be32(q) : (int64_t)be64(q);
        if (i > 0 && trans[i] <= trans[i - 1])
            goto bad;
    }
    for (uint32_t i = 0; i < h->timecnt; i++, q++) {
        if (*q >= h->typecnt)
            goto bad;
        trans_type[i] = *q;
    }
    for (uint32_t i = 0; i < h->typecnt; i++, q += 6) {
        int32_t utoff = (int32_t)be32(q);
        if (utoff < -OFFSET_LIMIT || utoff > OFFSET_LIMIT || q[4] > 1 || q[5] >= h->charcnt)
            goto bad;
        type_off[i] = utoff;
    }
    z->n_trans = h->timecnt;
    z->trans = trans;
    z->trans_type = trans_type;
    z->n_types = h->typecnt;
    z->type_off = type_off;
    return z;
bad:
    free(mem);
    return NULL;
}

struct tz *tz_parse(const char *name, const void *data, size_t len)
{
    const uint8_t *p = data;
    struct tzif_header h;
    if (!p || !read_header(p, len, &h))
        return NULL;
    size_t tsize = 4;
    if (h.version >= '2') { /* skip the 32-bit block for the 64-bit one */
        size_t skip = TZIF_HEADER_LEN + block_len(&h, 4);
        if (skip > len || !read_header(p + skip, len - skip, &h))
            return NULL;
        p += skip;
        len -= skip;
        tsize = 8;
    }
    size_t blen = block_len(&h, tsize);
    if (TZIF_HEADER_LEN + blen > len)
        return NULL;
    struct tz *z = parse_block(p + TZIF_HEADER_LEN, &h, tsize);
    if (!z)
        return NULL;
    snprintf(z->name, sizeof z->name, "%s", name ? name : "");
    if (tsize == 8) { /* the footer: "\n" POSIX-TZ "\n" (empty: no rule) */
        const char *f = (const char *)p + TZIF_HEADER_LEN + blen;
        size_t flen = len - TZIF_HEADER_LEN - blen;
        const char *nl = flen >= 2 && f[0] == '\n' ? memchr(f + 1, '\n', flen - 1) : NULL;
        char rule[128];
        if (!nl || (size_t)(nl - f - 1) >= sizeof rule) {
            free(z);
            return NULL;
        }
        memcpy(rule, f + 1, (size_t)(nl - f - 1));
        rule[nl - f - 1] = '\0';
        if (rule[0]) {
            if (!parse_rule(rule, &z->rule)) {
                free(z);
                return NULL;
            }
            z->has_rule = true;
        }
    }
    return z;
}

void tz_free(struct tz *z)
{
    free(z);
}

const char *tz_name(const struct tz *z)
{
    return z ? z->name : "UTC";
}

/* ---------------------------------------------------------------- files */

const char *tz_dir(void)
{
    const char *d = getenv("OCPPGW_ZONEINFO");
    return d && *d ? d : "/usr/share/zoneinfo";
}

/* The name's characters and components (no "", ".", ".." component: no way out of tz_dir). */
static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64 || name[0] == '/' || name[n - 1] == '/')
        return false;
    for (const char *s = name; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '/' ||
              *s == '_' || *s == '-' || *s == '+' || *s == '.'))
            return false;
    for (const char *c = name; c; c = strchr(c, '/') ? strchr(c, '/') + 1 : NULL) {
        size_t len = strcspn(c, "/");
        if (len == 0 || c[0] == '.')
            return false;
    }
    return true;
}

struct tz *tz_load(const char *name)
{
    if (!name || !name_ok(name))
        return NULL;
    char path[512];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", tz_dir(), name) >= sizeof path)
        return NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct tz *z = NULL;
    uint8_t *buf = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < TZIF_HEADER_LEN || st.st_size > TZ_FILE_MAX)
        goto out;
    size_t len = (size_t)st.st_size, got = 0;
    buf = xmalloc(len);
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r <= 0)
            goto out;
        got += (size_t)r;
    }
    z = tz_parse(name, buf, len);
out:
    free(buf);
    close(fd);
    return z;
}

bool tz_exists(const char *name)
{
    /* through the cache: REST validates zones on the event loop, which reads a zone's file once */
    return tz_get(name) != NULL;
}

/* ---------------------------------------------------------------- cache */

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hmap *cache; /* name -> struct tz * (owned) */

const struct tz *tz_get(const char *name)
{
    if (!name)
        return NULL;
    pthread_mutex_lock(&cache_lock);
    if (!cache)
        cache = hmap_new();
    struct tz *z = hmap_get_str(cache, name);
    if (!z && (z = tz_load(name)))
        hmap_put_str(cache, name, z);
    pthread_mutex_unlock(&cache_lock);
    return z;
}

void tz_cache_clear(void)
{
    pthread_mutex_lock(&cache_lock);
    if (cache) {
        hmap_clear_free(cache); /* a zone is one allocation */
        hmap_free(cache);
        cache = NULL;
    }
    pthread_mutex_unlock(&cache_lock);
}

/* ---------------------------------------------------------------- conversions */

static int64_t clamp_time(int64_t t)
{
    return t < -TIME_LIMIT ? -TIME_LIMIT : t > TIME_LIMIT ? TIME_LIMIT : t;
}

/* The index of the last transition at or before t (t >= trans[0]). */
static size_t last_at_or_before(const struct tz *z, int64_t t)
{
    size_t lo = 0, hi = z->n_trans; /* trans[lo] <= t < trans[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

int32_t tz_offset_at(const struct tz *z, int64_t utc)
{
    if (!z)
        return 0;
    int64_t t = clamp_time(utc);
    if (z->n_trans == 0)
        return z->has_rule ? rule_offset_at(&z->rule, t) : z->type_off[0];
    if (t < z->trans[0])
        return z->type_off[0]; /* RFC 8536 3.2: type 0 before the first transition */
    if (z->has_rule && t >= z->trans[z->n_trans - 1])
        return rule_offset_at(&z->rule, t);
    return z->type_off[z->trans_type[last_at_or_before(z, t)]];
}

int64_t tz_next_transition(const struct tz *z, int64_t utc)
{
    if (!z || utc >= TIME_LIMIT)
        return INT64_MAX;
    int64_t t = clamp_time(utc);
    if (z->n_trans > 0 && t < z->trans[z->n_trans - 1])
        return t < z->trans[0] ? z->trans[0] : z->trans[last_at_or_before(z, t) + 1];
    return z->has_rule ? rule_next(&z->rule, t) : INT64_MAX;
}

int64_t tz_utc_to_local(const struct tz *z, int64_t utc)
{
    return utc + tz_offset_at(z, utc);
}

int64_t tz_local_to_utc(const struct tz *z, int64_t local, enum tz_local_kind *kind)
{
    /*
     * Every instant the clock could show `local` at lies within the largest
     * offsets of it; walk the pieces of constant offset over that span and
     * keep each instant L - o that falls inside its own piece, and the first
     * gap (a change the wall clock jumps over `local` at).
     */
    int64_t lo = local - OFFSET_LIMIT - 1, hi = local + OFFSET_LIMIT + 1;
    int64_t t = lo, found = 0, gap = 0;
    int n_found = 0;
    bool in_gap = false;
    int32_t o = tz_offset_at(z, t);
    for (int guard = 0; guard < 64; guard++) {
        int64_t nx = tz_next_transition(z, t);
        int64_t u = local - o;
        if (u >= t && u < nx && n_found++ == 0)
            found = u;
        if (nx > hi)
            break;
        int32_t o2 = tz_offset_at(z, nx);
        if (!in_gap && n_found == 0 && local - o >= nx && local - o2 < nx) {
            in_gap = true;
            gap = local - o;
        }
        t = nx;
        o = o2;
    }
    enum tz_local_kind k = TZ_LOCAL_EXACT;
    int64_t r = local - tz_offset_at(z, local);
    if (n_found > 0) {
        k = n_found > 1 ? TZ_LOCAL_OVERLAP : TZ_LOCAL_EXACT;
        r = found;
    } else if (in_gap) {
        k = TZ_LOCAL_GAP;
        r = gap;
    }
    if (kind)
        *kind = k;
    return r;
}

bool tz_format_iso8601(const struct tz *z, int64_t utc, char *buf, size_t cap)
{
    int32_t off = tz_offset_at(z, utc);
    int64_t local = utc + off, y;
    int mo, d;
    tz_civil_from_days(floor_div(local, 86400), &y, &mo, &d);
    if (y < 0 || y > 9999 || cap < TZ_ISO8601_LEN) {
        if (cap)
            buf[0] = '\0';
        return false;
    }
    int64_t sod = local - floor_div(local, 86400) * 86400;
    int32_t a = off < 0 ? -off : off;
    char offs[16];
    if (a % 60)
        snprintf(offs, sizeof offs, "%c%02d:%02d:%02d", off < 0 ? '-' : '+', a / 3600, a / 60 % 60, a % 60);
    else
        snprintf(offs, sizeof offs, "%c%02d:%02d", off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d%s", (int)y, mo, d, (int)(sod / 3600), (int)(sod / 60 % 60),
             (int)(sod % 60), offs);
    return true;
}
