/*
 * ocppsim: the load generator behind `make bench`, also handy by hand.
 *
 *   ocppsim --host 127.0.0.1 --port P --chargers N --mode heartbeat|metervalues|sessions|connect|serve
 *           --duration S [--meter-values 3] [--prefix BENCH-] [--password PW] [--sources 127.0.0.2-127.0.0.254]
 *           [--source-addrs N] [--ramp R] [--boot] [--timeout MS] [--interval MS] [--quiet]
 *           [--event-loop poll|uv]
 *           serve: [--answer accept|reject|callerror|silence|disconnect|invalid]
 *           [--answer-delay MS] [--answer-error CODE] [--followup-delay MS]
 *           [--no-followups] [--verbose] [--sign-certificate ORG]
 *           [--reconnect-min-ms 1000] [--reconnect-max-ms 30000] [--max-connecting 512]
 *
 * Phases, one after the other, all on one sim (tests/sim/sim.c):
 *  1. connect N chargers (ids PREFIX000001 ...), at most R new ones per
 *     second, round-robin over the source addresses so that many
 *     connections do not exhaust one address's ephemeral ports, and under
 *     the gateway's per-IP upgrade rate; 429s and dropped upgrades are
 *     retried a few times; prints "CONNECTED ..." on stdout when done, which
 *     scripts/bench.sh waits for before it measures memory;
 *  2. --boot: one BootNotification each;
 *  3. metervalues: one StartTransaction each, whose transactionId the
 *     MeterValues then carry;
 *  4. for --duration seconds, exactly one CALL outstanding per charger
 *     (Heartbeat, or MeterValues with a fresh timestamp and energy reading
 *     so that no two are alike), or with --interval one CALL per charger
 *     per interval (a fleet at a fixed rate, for latency without queueing),
 *     or, for mode connect, idle connections. Mode sessions: each charger
 *     loops StartTransaction, --meter-values MeterValues (3), StopTransaction
 *     on connector 1, one CALL outstanding; StopTransaction's latencies also
 *     go into a histogram of their own (RESULT's stops=, stop_p50_ms=,
 *     stop_p99_ms=, stop_max_ms=: a session's durable end, answered after
 *     COMMIT).
 * Latencies go into a log-linear histogram (0.2 % resolution). The last line
 * of stdout is machine-readable: "RESULT key=value ...".
 *
 * Mode serve is the other direction, a fleet for trying the gateway's
 * commands by hand or benchmarking them: after the connect phase (and
 * --boot), each charger sends StatusNotification Available for connector 1,
 * then answers the gateway's CALLs with the ready-made answers of
 * tests/sim/answers.c (--answer, --answer-delay; StartTransaction and
 * StopTransaction follow a remote start / stop unless --no-followups) until
 * SIGINT/SIGTERM or --duration (default 0 = forever). A charger the gateway
 * closes (or that --answer disconnect drops), or that the connect phase gave
 * up on, reconnects as real chargers do: after a random delay in [0, D] (full
 * jitter), D starting at --reconnect-min-ms and doubling with each failed
 * attempt up to --reconnect-max-ms, starting over after a connection that
 * lasted --reconnect-max-ms; it boots again with --boot and sends its
 * StatusNotification again. A charger is "served" once booted and its
 * StatusNotification answered; each time all N are served (the first time,
 * and again after any lost its connection: a gateway restart) a line
 * "SERVED chargers=N at_ms=... since_first_close_ms=... refused=... failed=...
 * errors=..." says when, and what the chargers saw go wrong meanwhile
 * (scripts/restart-bench.sh reads it). Two limits of the generator, not of
 * a fleet, keep it from stalling in such a storm (lws 4.1.6 keeps all
 * timers in one sorted list, a linear walk per insert): at most
 * --max-connecting (MAX_CONNECTING) reconnects in flight, and a close
 * frame from the gateway answered by closing TCP at once
 * (sim_options.close_without_echo). The
 * last line is
 * "RESULT calls=N starts=N stops=N ..." (gateway CALLs received, StartTransaction
 * and StopTransaction follow-ups sent).
 *
 * Mode demo is for people trying the gateway (README.md's tour): by
 * default 3 chargers, DEMO-1 ... DEMO-3 (prefix and a plain number), two
 * connectors each. Each boots, reports both connectors Available, then
 * charges on connector 1 on its own: StartTransaction with --id-tag,
 * MeterValues every --interval ms (5 s), StopTransaction (reason Local)
 * after --session seconds (60), --pause seconds (20) idle, and again.
 * Connector 2 is left for the gateway's commands, answered as in mode serve
 * (a remote start / stop there sends its StartTransaction /
 * StopTransaction); every session, the demo's own and the remote ones, gets
 * StatusNotification Charging / Available and MeterValues. A session whose
 * idTag the gateway answers other than Accepted is stopped at once (reason
 * DeAuthorized), as a real charger would, with a hint on stderr. On
 * SIGINT/SIGTERM every open session is stopped (StopTransaction, reason
 * Local, answered) before the chargers disconnect, so nothing stays
 * active. With --sign-certificate ORG each
 * charger then asks for its certificate (OCPP 1.6 Security Extension:
 * SignCertificate with a fresh P-256 key's CSR, CN = its id, O = ORG) and
 * answers the gateway's CertificateSigned; "certificates=N" counts the
 * chargers that got one.
 *
 * Smart Charging, for the load management tests and benchmark: in modes
 * serve and demo the chargers are OCPP 1.6 Smart Charging chargers
 * (tests/sim/charging.c: profiles applied, draw under the limits, energy
 * integrated, MeterValues with Current.Import). In mode serve,
 * --random-sessions, --meter-interval and --profile-log make the fleet
 * charge on its own and log every profile it receives (tests/sim/fleet.c),
 * --demand and --max-current shape what it draws, --seed makes it
 * repeatable; the RESULT line adds profiles=N profiles_accepted=N clears=N
 * meter_values=N sessions_started=N sessions_stopped=N ....
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "fleet.h"
#include "sim.h"
#include "simopts.h"
#include "util.h"

#define MAX_CONNECTING   512       /* upgrades in flight at once */
#define CONNECT_RETRIES  5
#define PROGRESS_US      1000000
#define DEMO_CONNECTORS  2         /* demo: connector 1 charges on its own, 2 waits for commands */
#define DEMO_TX_MAX      16

enum mode { MODE_HEARTBEAT, MODE_METERVALUES, MODE_CONNECT, MODE_SERVE, MODE_DEMO, MODE_SESSIONS };
static const char *const mode_names[] = { "heartbeat", "metervalues", "connect", "serve", "demo", "sessions" };
#define MODES ((int)(sizeof mode_names / sizeof mode_names[0]))

struct options {
    const char *host;
    int port;
    int chargers;
    enum mode mode;
    double duration;
    const char *prefix;
    const char *password;
    const char *sources;
    int source_addrs;              /* --source-addrs: use only the first N source addresses (0 = all) */
    double ramp;                   /* new connections per second, 0 = default */
    bool boot;
    int timeout_ms;                /* per CALL */
    int interval_ms;               /* 0: next CALL at once; else one per interval per charger */
    bool quiet;
    /* serve */
    enum sim_answer answer;
    int answer_delay_ms;
    const char *answer_error;      /* CALLERROR code for --answer callerror */
    const char *answer_for[16];    /* --answer-for ACTION=BEHAVIOUR, in order */
    int nanswer_for;
    int followup_delay_ms;
    bool no_followups;
    bool verbose;                  /* one line per gateway CALL on stderr */
    int reconnect_min_ms;          /* back-off after a close or failed connect: first delay in [0, min] */
    int reconnect_max_ms;          /* doubling up to this; reset after a connection stayed up this long */
    bool uv;                       /* --event-loop uv: lws on libuv (epoll) instead of poll(2) */
    int max_connecting;            /* serve: reconnects in flight at most (--max-connecting) */
    const char *csr_org;           /* --sign-certificate: O of the CSR each charger sends */
    /* serve: a fleet that charges (tests/sim/fleet.c) */
    double mean_on_s, mean_off_s;  /* --random-sessions MEAN_ON_S:MEAN_OFF_S (0: none) */
    int meter_interval_ms;         /* --meter-interval: MeterValues during sessions (0: none) */
    const char *profile_log;       /* --profile-log FILE */
    double demand_lo, demand_hi;   /* --demand A or A-B (0: 32) */
    double max_current;            /* --max-current A (0: 32) */
    enum sim_current_values current_values;     /* --current-values phases|single|both */
    bool seeded;
    unsigned long long seed;       /* --seed */
    /* demo */
    const char *id_tag;            /* --id-tag: the tag of the demo's own sessions */
    int session_s;                 /* --session: how long the demo's own sessions last */
    int pause_s;                   /* --pause: between them */
    /* sessions */
    int meter_values;              /* --meter-values: MeterValues per session */
};

enum phase { PH_WAIT, PH_CONNECTING, PH_OPEN, PH_DEAD };

struct bench_charger {
    struct sim_charger *c;
    enum phase phase;
    char id[64];
    int tries;
    int64_t retry_at_us;
    int64_t sent_us;               /* when the outstanding CALL went out */
    int64_t next_us;               /* --interval: when the next CALL is due */
    bool outstanding;
    int64_t tx_id;                 /* 0 = none */
    double energy_wh;
    int serve_step;                /* serve: 1 BootNotification out, 2 StatusNotification out,
                                      3 SignCertificate out */
    bool rejoin;                   /* serve: closed during the run, to reconnect at retry_at_us */
    int backoff_n;                 /* serve: failed attempts since the last lasting connection */
    int64_t opened_us;             /* serve: when the current connection opened */
    int64_t greet_at_us;           /* serve: greeting step serve_step to send again then (0: none) */
    bool served;                   /* serve: booted (with --boot) and its StatusNotification answered */
    /* demo (see demo_tick) */
    bool demo_busy;                /* a CALL of the demo's is waiting for its answer */
    bool booted;
    char reported[DEMO_CONNECTORS + 1][16];     /* the last StatusNotification per connector */
    int seen_tx[DEMO_CONNECTORS + 1];           /* the transaction last seen per connector */
    int64_t next_mv_us[DEMO_CONNECTORS + 1];    /* the next MeterValues per connector */
    int64_t next_cycle_us;         /* connector 1: when the own session starts, or stops */
    int64_t start_sent_us;         /* the own StartTransaction went out, no transaction yet (0: none) */
    bool told_invalid;             /* the hint about an unknown idTag was printed */
    /* sessions: 0 StartTransaction next, 1..meter_values MeterValues, then StopTransaction */
    int sess_step;
    const char *sess_action;       /* the outstanding CALL's action */
};

/* ---- latency histogram: exact below 1024 us, then 512 buckets per octave ---- */
#define HIST_BUCKETS (1024 + 40 * 512)

struct hist {
    uint64_t n[HIST_BUCKETS];
    uint64_t count;
    int64_t max_us;
    double sum_us;
};

static int hist_index(int64_t v)
{
    if (v < 0)
        v = 0;
    if (v < 1024)
        return (int)v;
    int msb = 63 - __builtin_clzll((unsigned long long)v);
    int shift = msb - 9;
    int i = 1024 + (shift - 1) * 512 + (int)((v >> shift) - 512);
    return i < HIST_BUCKETS ? i : HIST_BUCKETS - 1;
}

static int64_t hist_value(int i)
{
    if (i < 1024)
        return i;
    int shift = (i - 1024) / 512 + 1;
    int64_t m = (i - 1024) % 512 + 512;
    return (m << shift) + ((int64_t)1 << (shift - 1));    /* bucket middle */
}

static void hist_add(struct hist *h, int64_t us)
{
    h->n[hist_index(us)]++;
    h->count++;
    h->sum_us += (double)us;
    if (us > h->max_us)
        h->max_us = us;
}

static double hist_pct_ms(const struct hist *h, double pct)
{
    if (!h->count)
        return 0;
    uint64_t rank = (uint64_t)(pct / 100.0 * (double)h->count + 0.5), seen = 0;
    if (rank < 1)
        rank = 1;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        seen += h->n[i];
        if (seen >= rank) {
            int64_t v = hist_value(i);
            return (double)(v < h->max_us ? v : h->max_us) / 1000.0;
        }
    }
    return (double)h->max_us / 1000.0;
}

/* ---- state ---- */

/* What a well-behaved charger sees going wrong (mode serve). */
struct seen {
    int refused_429, refused_503, refused_other;    /* upgrades answered with an HTTP status */
    int failed;                    /* connects with no HTTP answer: TCP refused, reset, dropped, timed out */
    uint64_t callerrors;           /* CALLERRORs to the charger's own CALLs */
    uint64_t timeouts;             /* its CALLs unanswered within --timeout */
    int boot_rejected;             /* BootNotification answered other than Accepted */
    int closed;                    /* open connections closed by the gateway (or lost) */
    int dropped;                   /* of those, without a close frame */
    int reconnects;                /* connections opened again after a close */
};

struct bench {
    struct options o;
    struct sim *s;
    struct bench_charger *bc;
    char **sources;
    int nsources;

    int connected, refused, closed_during_run;
    int refused_by_status[6];      /* 0, 4xx: 401, 404, 429, other 4xx, 5xx */
    uint64_t callerrors, timeouts, sent;
    uint64_t phase_ok, phase_err;  /* boot / start rounds */
    bool measuring;                /* run window: count answers */
    bool sending;                  /* send a new CALL after each answer */
    struct hist h;
    uint64_t msgs;
    const char *action;
    struct hist h_stop;            /* sessions: StopTransaction only */
    uint64_t stops;

    /* serve: the answers, and what chargers that are gone had counted */
    struct sim_answers answers;
    uint64_t calls, calls_by_action[SIM_ANSWERS_ACTIONS];
    struct sim_answers_stats fu;   /* summed; last_transaction_id etc. unused */
    int max_outstanding;
    int reconnects;
    int certificates;              /* chargers that received a CertificateSigned */
    /* serve: what a charger could see going wrong, in total and since the
     * last time every charger was served (see served_check) */
    struct seen tot, ep;
    int served;                    /* chargers served now */
    int served_reports;            /* SERVED lines printed */
    bool served_dropped;           /* a served charger lost its connection since the last SERVED line */
    int64_t first_close_ms;        /* wall clock of the first close since then (0: none) */
    int rejoin_from;               /* serve_rejoin: where the next pass starts connecting */
    struct { char what[112]; int n; } why[8];   /* why connects failed since the last SERVED line */
    int nwhy;
    int64_t start_ms;
    /* serve: sessions, MeterValues and the profile log (NULL without those options) */
    struct fleet *fleet;
    FILE *profile_log;
    int stopped_at_exit;           /* sessions stopped at the end (demo, serve --random-sessions) */
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ocppsim --host HOST --port PORT --chargers N\n"
            "               --mode heartbeat|metervalues|sessions|connect|serve|demo [--meter-values 3]\n"
            "               --duration SECONDS [--prefix BENCH-] [--password PW]\n"
            "               [--sources 127.0.0.2-127.0.0.254[,ADDR...]] [--source-addrs N]\n"
            "               [--ramp PER_SECOND] [--boot] [--timeout MS] [--interval MS] [--quiet]\n"
            "               [--event-loop poll|uv]\n"
            "       serve:  [--answer accept|reject|callerror|silence|disconnect|invalid]\n"
            "               [--answer-delay MS] [--answer-error CODE] [--followup-delay MS]\n"
            "               [--no-followups] [--verbose] [--answer-for ACTION=BEHAVIOUR ...]\n"
            "               [--sign-certificate ORG] [--reconnect-min-ms 1000] [--reconnect-max-ms 30000]\n"
            "               [--max-connecting 512] [--random-sessions MEAN_ON_S:MEAN_OFF_S] [--id-tag TAG]\n"
            "               [--meter-interval MS] [--demand A|A-B] [--max-current A]\n"
            "               [--current-values phases|single|both] [--profile-log FILE] [--seed N]\n"
            "       demo:   [--chargers 3] [--prefix DEMO-] [--id-tag DEMO-TAG] [--session 60]\n"
            "               [--pause 20] [--interval 5000] [--password PW] [--quiet]\n"
            "Connects N simulated chargers and keeps one CALL outstanding on each for the\n"
            "duration (mode connect: holds them idle); with --interval, each charger sends\n"
            "one CALL per interval instead (a fleet at a given rate, for latency).\n"
            "Mode serve: each charger sends StatusNotification Available (after --boot), then\n"
            "answers the gateway's CALLs as --answer says (default accept: the positive\n"
            "answer; reject: the negative one; invalid: one the .conf schema refuses) after\n"
            "--answer-delay, sends StartTransaction / StopTransaction after an accepted\n"
            "remote start / stop (after --followup-delay; not with --no-followups), and\n"
            "--answer-for sets one action's behaviour (repeatable, e.g.\n"
            "ChangeConfiguration=reject for a refused security profile upgrade), and\n"
            "reconnects when closed, until SIGINT/SIGTERM or --duration (default 0 = forever).\n"
            "Reconnecting is what real chargers do: after a close, a refused upgrade or a failed\n"
            "connect, a charger waits a random time in [0, D] (full jitter), D starting at\n"
            "--reconnect-min-ms (1000) and doubling with each failure up to --reconnect-max-ms\n"
            "(30000); D starts over once a connection has stayed open for --reconnect-max-ms.\n"
            "(The simulator keeps at most --max-connecting (512) reconnects in flight, due ones\n"
            "waiting for a slot, and answers a close frame by closing TCP at once, without echoing\n"
            "it: libwebsockets 4.1.6 makes either cost the generator quadratic time in a storm.)\n"
            "Each time every charger is served (booted with --boot, StatusNotification answered),\n"
            "first and again after any lost its connection, a line goes to stdout:\n"
            "  SERVED chargers=N at_ms=UNIX_MS since_first_close_ms=X refused=R failed=F errors=E ...\n"
            "(since_first_close_ms -1: nobody had lost a connection; since_start_ms is there too),\n"
            "counting since the previous SERVED line what a charger sees going wrong: upgrades\n"
            "refused with an HTTP status (refused_429, refused_503, refused_other), connects that\n"
            "failed without one (failed), and errors = CALLERRORs + timeouts + boots not Accepted.\n"
            "--sources spreads the chargers round-robin over source addresses (loopback aliases);\n"
            "--source-addrs N uses only the first N of them (without --sources: 127.0.0.2 on).\n"
            "--event-loop uv runs libwebsockets on libuv (epoll) instead of its poll(2) loop, which\n"
            "walks every socket on each wake-up: for many thousands of connections.\n"
            "--sign-certificate ORG: each charger then sends SignCertificate (a CSR with CN = its\n"
            "id, O = ORG) and keeps the chain of the gateway's CertificateSigned.\n"
            "Smart Charging (serve, demo): chargers apply SetChargingProfile / ClearChargingProfile\n"
            "as OCPP 1.6 says (tests/sim/profiles.h) and draw, on 3 phases at 230 V, the least of\n"
            "their limit, --max-current (32 A) and the EV's demand: --demand A, or A-B for a value\n"
            "drawn per charger (seeded). --random-sessions ON:OFF (serve): once served, each\n"
            "charger idles a random time (mean OFF s), charges on connector 1 with --id-tag\n"
            "(StartTransaction, StatusNotification Charging, SuspendedEVSE at 0 A) for a random time\n"
            "(mean ON s), stops (StopTransaction Local, Available), and again; at the end every\n"
            "open session is stopped. --meter-interval MS:\n"
            "MeterValues every MS during every session (energy register, Power.Active.Import,\n"
            "Current.Import per phase, or as --current-values says). --profile-log FILE: one JSON\n"
            "line per profile CALL received: t_ms (from the start), charger, action, connector,\n"
            "profileId, purpose, stackLevel, limit, unit, transactionId, answer, applied,\n"
            "maxCurrent, limits (each connector's effective limit after it, null = none).\n"
            "--seed N makes sessions, demands and back-off repeatable (default: time and pid).\n"
            "Mode demo, for trying the gateway by hand: chargers DEMO-1, DEMO-2, ... with two\n"
            "connectors each boot, report their connectors Available, then charge on connector 1\n"
            "on their own (a session of --session seconds with --id-tag, a MeterValues every\n"
            "--interval ms, then --pause seconds idle, and again) and answer the gateway's\n"
            "commands like mode serve (connector 2 is free for a remote start). Ctrl-C (SIGINT,\n"
            "SIGTERM) stops every session with a StopTransaction before disconnecting.\n"
            "Last stdout line: RESULT key=value ... (serve: RESULT calls=N starts=N stops=N ...\n"
            "profiles=N profiles_accepted=N clears=N sessions_started=N sessions_stopped=N\n"
            "meter_values=N ...)\n");
}


static bool parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        { "host", required_argument, NULL, 'h' },
        { "port", required_argument, NULL, 'p' },
        { "chargers", required_argument, NULL, 'n' },
        { "mode", required_argument, NULL, 'm' },
        { "duration", required_argument, NULL, 'd' },
        { "prefix", required_argument, NULL, 'x' },
        { "password", required_argument, NULL, 'w' },
        { "sources", required_argument, NULL, 's' },
        { "ramp", required_argument, NULL, 'r' },
        { "boot", no_argument, NULL, 'b' },
        { "timeout", required_argument, NULL, 't' },
        { "interval", required_argument, NULL, 'i' },
        { "quiet", no_argument, NULL, 'q' },
        { "answer", required_argument, NULL, 'a' },
        { "answer-delay", required_argument, NULL, 'D' },
        { "answer-error", required_argument, NULL, 'E' },
        { "answer-for", required_argument, NULL, 'A' },
        { "followup-delay", required_argument, NULL, 'F' },
        { "no-followups", no_argument, NULL, 'N' },
        { "verbose", no_argument, NULL, 'v' },
        { "sign-certificate", required_argument, NULL, 'C' },
        { "reconnect-min-ms", required_argument, NULL, 'R' },
        { "reconnect-max-ms", required_argument, NULL, 'M' },
        { "source-addrs", required_argument, NULL, 'Z' },
        { "event-loop", required_argument, NULL, 'L' },
        { "max-connecting", required_argument, NULL, 'X' },
        { "id-tag", required_argument, NULL, 'T' },
        { "session", required_argument, NULL, 'S' },
        { "pause", required_argument, NULL, 'P' },
        { "random-sessions", required_argument, NULL, 1000 },
        { "meter-interval", required_argument, NULL, 1001 },
        { "profile-log", required_argument, NULL, 1002 },
        { "demand", required_argument, NULL, 1003 },
        { "max-current", required_argument, NULL, 1004 },
        { "seed", required_argument, NULL, 1005 },
        { "current-values", required_argument, NULL, 1006 },
        { "meter-values", required_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'H' },
        { NULL, 0, NULL, 0 },
    };
    *o = (struct options){ .host = "127.0.0.1", .mode = MODE_HEARTBEAT, .duration = -1,
                           .timeout_ms = 30000, .answer = SIM_ANSWER_ACCEPT, .id_tag = "DEMO-TAG",
                           .session_s = 60, .pause_s = 20, .reconnect_min_ms = 1000,
                           .reconnect_max_ms = 30000, .max_connecting = MAX_CONNECTING, .meter_values = 3 };
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'h': o->host = optarg; break;
        case 'p':
            if (!simopt_int(optarg, 1, 65535, &o->port))
                goto bad;
            break;
        case 'n':
            if (!simopt_int(optarg, 1, 1000000, &o->chargers))
                goto bad;
            break;
        case 'm': {
            int i;
            for (i = 0; i < MODES && strcmp(optarg, mode_names[i]); i++)
                ;
            if (i == MODES)
                goto bad;
            o->mode = (enum mode)i;
            break;
        }
        case 'd':
            o->duration = strtod(optarg, NULL);     /* 0 only for serve: checked below */
            if (!(o->duration >= 0 && o->duration < 86400 * 366))
                goto bad;
            break;
        case 'x': o->prefix = optarg; break;
        case 'w': o->password = optarg; break;
        case 's': o->sources = optarg; break;
        case 'r':
            o->ramp = strtod(optarg, NULL);     /* "500" or "500/s" */
            if (!(o->ramp > 0))
                goto bad;
            break;
        case 'b': o->boot = true; break;
        case 't':
            if (!simopt_int(optarg, 1, 3600000, &o->timeout_ms))
                goto bad;
            break;
        case 'i':
            if (!simopt_int(optarg, 1, 3600000, &o->interval_ms))
                goto bad;
            break;
        case 'q': o->quiet = true; break;
        case 'a':
            if (!sim_answer_parse(optarg, &o->answer) || o->answer == SIM_ANSWER_DEFAULT)
                goto bad;
            break;
        case 'D':
            if (!simopt_int(optarg, 0, 3600000, &o->answer_delay_ms))
                goto bad;
            break;
        case 'E':
            if (!*optarg || strlen(optarg) >= sizeof ((struct sim_answers *)0)->callerror_code)
                goto bad;
            o->answer_error = optarg;
            break;
        case 'A': {
            struct sim_answers probe;
            const char *eq = strchr(optarg, '=');
            char action[64];
            enum sim_answer b;
            sim_answers_init(&probe);
            if (!eq || (size_t)(eq - optarg) >= sizeof action || o->nanswer_for == 16 ||
                !sim_answer_parse(eq + 1, &b))
                goto bad;
            snprintf(action, sizeof action, "%.*s", (int)(eq - optarg), optarg);
            if (sim_answers_set(&probe, action, b) != 0)
                goto bad;
            o->answer_for[o->nanswer_for++] = optarg;
            break;
        }
        case 'F':
            if (!simopt_int(optarg, 0, 3600000, &o->followup_delay_ms))
                goto bad;
            break;
        case 'N': o->no_followups = true; break;
        case 'v': o->verbose = true; break;
        case 'C':
            if (!*optarg)
                goto bad;
            o->csr_org = optarg;
            break;
        case 'T':
            if (!*optarg || strlen(optarg) > 20)
                goto bad;
            o->id_tag = optarg;
            break;
        case 'V':
            if (!simopt_int(optarg, 0, 1000, &o->meter_values))
                goto bad;
            break;
        case 'S':
            if (!simopt_int(optarg, 1, 86400, &o->session_s))
                goto bad;
            break;
        case 'P':
            if (!simopt_int(optarg, 1, 86400, &o->pause_s))
                goto bad;
            break;
        case 'R':
            if (!simopt_int(optarg, 1, 3600000, &o->reconnect_min_ms))
                goto bad;
            break;
        case 'M':
            if (!simopt_int(optarg, 1, 3600000, &o->reconnect_max_ms))
                goto bad;
            break;
        case 'Z':
            if (!simopt_int(optarg, 1, 65536, &o->source_addrs))
                goto bad;
            break;
        case 'X':
            if (!simopt_int(optarg, 1, 1000000, &o->max_connecting))
                goto bad;
            break;
        case 'L':
            if (strcmp(optarg, "uv") && strcmp(optarg, "poll"))
                goto bad;
            o->uv = !strcmp(optarg, "uv");
            break;
        case 1000: {
            char *end;
            o->mean_on_s = strtod(optarg, &end);
            if (*end != ':' || !(o->mean_on_s > 0))
                goto bad;
            o->mean_off_s = strtod(end + 1, &end);
            if (*end || !(o->mean_off_s > 0))
                goto bad;
            break;
        }
        case 1001:
            if (!simopt_int(optarg, 1, 3600000, &o->meter_interval_ms))
                goto bad;
            break;
        case 1002:
            if (!*optarg)
                goto bad;
            o->profile_log = optarg;
            break;
        case 1003: {
            char *end;
            o->demand_lo = o->demand_hi = strtod(optarg, &end);
            if (*end == '-')
                o->demand_hi = strtod(end + 1, &end);
            if (*end || !(o->demand_lo >= 0) || !(o->demand_hi >= o->demand_lo) || o->demand_hi > 1000)
                goto bad;
            break;
        }
        case 1004: {
            char *end;
            o->max_current = strtod(optarg, &end);
            if (*end || !(o->max_current > 0 && o->max_current <= 1000))
                goto bad;
            break;
        }
        case 1005: {
            char *end;
            o->seed = strtoull(optarg, &end, 10);
            if (*end || !*optarg)
                goto bad;
            o->seeded = true;
            break;
        }
        case 1006:
            if (!strcmp(optarg, "phases"))
                o->current_values = SIM_CURRENT_PHASES;
            else if (!strcmp(optarg, "single"))
                o->current_values = SIM_CURRENT_SINGLE;
            else if (!strcmp(optarg, "both"))
                o->current_values = SIM_CURRENT_BOTH;
            else
                goto bad;
            break;
        case 'H': usage(stdout); exit(0);
        default: goto bad;
        }
        continue;
bad:
        if (ch != '?')
            fprintf(stderr, "ocppsim: bad value: %s\n", optarg ? optarg : "");
        usage(stderr);
        return false;
    }
    if (optind < argc || !o->port) {
        fprintf(stderr, "ocppsim: %s\n", optind < argc ? "unexpected argument" : "--port is required");
        usage(stderr);
        return false;
    }
    bool serves = o->mode == MODE_SERVE || o->mode == MODE_DEMO;
    if (!o->chargers)
        o->chargers = o->mode == MODE_DEMO ? 3 : 1;
    if (!o->prefix)
        o->prefix = o->mode == MODE_DEMO ? "DEMO-" : "BENCH-";
    if (o->mode == MODE_DEMO) {
        o->boot = true;
        o->verbose = !o->quiet;         /* one line per gateway CALL: what the tour sends shows */
        if (!o->interval_ms)
            o->interval_ms = 5000;      /* one MeterValues per session every 5 s */
    }
    if (o->reconnect_max_ms < o->reconnect_min_ms) {
        fprintf(stderr, "ocppsim: --reconnect-max-ms %d is below --reconnect-min-ms %d\n", o->reconnect_max_ms,
                o->reconnect_min_ms);
        usage(stderr);
        return false;
    }
    if (o->source_addrs && !o->sources)
        o->sources = "127.0.0.2-127.0.0.254";
    if (o->duration < 0) {
        o->duration = serves ? 0 : 10;
    } else if (!serves && !(o->duration > 0 && o->duration < 86400)) {
        fprintf(stderr, "ocppsim: bad value: --duration %g (0 < S < 86400, 0 = forever only for serve)\n",
                o->duration);
        usage(stderr);
        return false;
    }
    return true;
}

static void add_source(void *ctx, struct in_addr a)
{
    struct bench *b = ctx;
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a, buf, sizeof buf);
    b->sources = xrealloc(b->sources, sizeof *b->sources * (size_t)(b->nsources + 1));
    b->sources[b->nsources++] = xstrdup(buf);
}

/* "A-B" IPv4 ranges and single addresses, comma separated. */
static bool parse_sources(struct bench *b, const char *spec)
{
    return simopt_sources("ocppsim", spec, add_source, b);
}

static void iso_now(char *buf, size_t cap)
{
    int64_t ms = time_now_ms();
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, cap - n, ".%03dZ", (int)(ms % 1000));
}

static void log_progress(const struct bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_progress(const struct bench *b, const char *fmt, ...)
{
    if (b->o.quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("ocppsim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Charger i's id: PREFIX and six digits (BENCH-000001), or for the demo a
 * plain number (DEMO-1). */
static void charger_id(const struct bench *b, int i, char *buf, size_t cap)
{
    snprintf(buf, cap, b->o.mode == MODE_DEMO ? "%s%d" : "%s%06d", b->o.prefix, i + 1);
}

/* ---- phase 1: connect ---- */

static void start_connect(struct bench *b, int i)
{
    struct bench_charger *x = &b->bc[i];
    struct sim_charger_opts co = {
        .id = x->id,
        .password = b->o.password,
        .source_addr = b->nsources ? b->sources[i % b->nsources] : NULL,
    };
    x->c = sim_connect_async(b->s, &co);
    x->phase = PH_CONNECTING;
    x->tries++;
}

static int status_slot(int st)
{
    switch (st) {
    case 0: return 0;
    case 401: return 1;
    case 404: return 2;
    case 429: return 3;
    default: return st >= 500 ? 5 : 4;
    }
}

/* ---- what a charger sees going wrong, and the reconnect back-off (mode serve) ---- */

enum seen_kind { SEEN_CALLERROR, SEEN_TIMEOUT, SEEN_BOOT_REJECTED, SEEN_CLOSED, SEEN_DROPPED, SEEN_RECONNECT };

static void seen_add(struct seen *v, enum seen_kind k)
{
    switch (k) {
    case SEEN_CALLERROR: v->callerrors++; break;
    case SEEN_TIMEOUT: v->timeouts++; break;
    case SEEN_BOOT_REJECTED: v->boot_rejected++; break;
    case SEEN_CLOSED: v->closed++; break;
    case SEEN_DROPPED: v->dropped++; break;
    case SEEN_RECONNECT: v->reconnects++; break;
    }
}

/* Counts in the totals and in the current episode (since the last SERVED line). */
static void seen_note(struct bench *b, enum seen_kind k)
{
    seen_add(&b->tot, k);
    seen_add(&b->ep, k);
}

/* A connect that did not open: its HTTP status, 0 for no HTTP answer at all. */
static void seen_refusal(struct bench *b, int status)
{
    struct seen *v[2] = { &b->tot, &b->ep };
    for (int k = 0; k < 2; k++) {
        if (status == 429)
            v[k]->refused_429++;
        else if (status == 503)
            v[k]->refused_503++;
        else if (status)
            v[k]->refused_other++;
        else
            v[k]->failed++;
    }
}

/* Counts the reason of a failed connect (lws's or the sim's words, with the HTTP status). */
static void seen_why(struct bench *b, int status, const char *error)
{
    char what[112];
    snprintf(what, sizeof what, "HTTP %d, %s", status, error && *error ? error : "?");
    int i;
    for (i = 0; i < b->nwhy && strcmp(b->why[i].what, what); i++)
        ;
    if (i == b->nwhy) {
        if (b->nwhy == (int)(sizeof b->why / sizeof b->why[0]))
            i = b->nwhy - 1;        /* full: the last slot takes the rest */
        else
            snprintf(b->why[b->nwhy++].what, sizeof b->why[0].what, "%s", what);
    }
    b->why[i].n++;
}

static int seen_refused(const struct seen *v)
{
    return v->refused_429 + v->refused_503 + v->refused_other;
}

static uint64_t seen_errors(const struct seen *v)
{
    return v->callerrors + v->timeouts + (uint64_t)v->boot_rejected;
}

/*
 * Exponential back-off with full jitter: the n-th retry (n = 0 first) waits
 * a random time in [0, min(max, min * 2^n)] ms. Returns microseconds.
 */
static int64_t backoff_us(const struct options *o, int n)
{
    return simopt_backoff_us(o->reconnect_min_ms, o->reconnect_max_ms, n, (double)rand() / ((double)RAND_MAX + 1.0));
}

/*
 * SERVED: every charger is served, the first time or again after some lost
 * their connection; with what went wrong since the previous line. Then the
 * episode starts over.
 */
static void served_report(struct bench *b)
{
    int64_t now = time_now_ms();
    const struct seen *e = &b->ep;
    int64_t since_close = b->first_close_ms ? now - b->first_close_ms : -1;
    printf("SERVED chargers=%d at_ms=%" PRId64 " since_first_close_ms=%" PRId64 " since_start_ms=%" PRId64
           " episode=%d refused=%d refused_429=%d refused_503=%d refused_other=%d failed=%d errors=%" PRIu64
           " callerrors=%" PRIu64 " timeouts=%" PRIu64 " boot_rejected=%d closed=%d dropped=%d reconnects=%d\n",
           b->o.chargers, now, since_close, now - b->start_ms, b->served_reports, seen_refused(e), e->refused_429,
           e->refused_503, e->refused_other, e->failed, seen_errors(e), e->callerrors, e->timeouts,
           e->boot_rejected, e->closed, e->dropped, e->reconnects);
    fflush(stdout);
    if (since_close >= 0)
        log_progress(b, "all %d served at %" PRId64 " (since first close: %" PRId64 " ms), refused upgrades %d, "
                        "failed connects %d, errors %" PRIu64, b->o.chargers, now, since_close, seen_refused(e),
                     e->failed, seen_errors(e));
    else
        log_progress(b, "all %d served at %" PRId64 " (since start: %" PRId64 " ms), refused upgrades %d, "
                        "failed connects %d, errors %" PRIu64, b->o.chargers, now, now - b->start_ms,
                     seen_refused(e), e->failed, seen_errors(e));
    if (b->nwhy) {                  /* diagnostics, on stderr even with --quiet */
        fprintf(stderr, "ocppsim: SERVED episode %d: connects that failed, by reason:", b->served_reports);
        for (int i = 0; i < b->nwhy; i++)
            fprintf(stderr, "%s %d x (%s)", i ? "," : "", b->why[i].n, b->why[i].what);
        fputc('\n', stderr);
        b->nwhy = 0;
    }
    b->ep = (struct seen){ 0 };
    b->served_dropped = false;
    b->first_close_ms = 0;
    b->served_reports++;
}

/* A charger became served, or stopped being (its connection closed). */
static void set_served(struct bench *b, struct bench_charger *x, bool on)
{
    if (x->served == on)
        return;
    x->served = on;
    b->served += on ? 1 : -1;
    if (!on)
        b->served_dropped = true;
    else if (b->served == b->o.chargers && (b->served_reports == 0 || b->served_dropped))
        served_report(b);
}

static void connect_all(struct bench *b)
{
    int n = b->o.chargers, next = 0, connecting = 0, done = 0;
    int *pending = xmalloc(sizeof *pending * MAX_CONNECTING);
    int npending = 0;
    double ramp = b->o.ramp;
    if (ramp <= 0) {                /* stay under the gateway's default 50 upgrades/s per IP */
        ramp = 40.0 * (b->nsources ? b->nsources : 1);
        if (ramp > 2000)
            ramp = 2000;
    }
    int64_t t0 = time_mono_us(), last_progress = t0;
    int64_t deadline = t0 + (int64_t)((n / ramp + 60.0) * 1e6);
    int started = 0;                /* first attempts + retries, paced by the ramp */
    int *retry = xmalloc(sizeof *retry * (size_t)n);
    int nretry = 0;

    while (done < n && !interrupted) {
        int64_t now = time_mono_us();
        if (now > deadline)
            break;
        /* start new attempts within the ramp and the in-flight cap */
        int64_t allowed = (int64_t)((double)(now - t0) / 1e6 * ramp) + 1;
        while (connecting < MAX_CONNECTING && started < allowed) {
            int i = -1;
            if (nretry && b->bc[retry[0]].retry_at_us <= now) {
                i = retry[0];
                memmove(retry, retry + 1, sizeof *retry * (size_t)--nretry);
            } else if (next < n) {
                i = next++;
            } else {
                break;
            }
            start_connect(b, i);
            pending[npending++] = i;
            connecting++;
            started++;
        }
        sim_service(b->s, 5);
        for (int k = 0; k < npending;) {
            struct bench_charger *x = &b->bc[pending[k]];
            enum sim_state st = sim_state(x->c);
            if (st == SIM_CONNECTING) {
                k++;
                continue;
            }
            pending[k] = pending[--npending];
            connecting--;
            if (st == SIM_OPEN) {
                x->phase = PH_OPEN;
                x->opened_us = now;
                b->connected++;
                done++;
                continue;
            }
            int code = sim_http_status(x->c);
            seen_refusal(b, code);
            seen_why(b, code, sim_error(x->c));
            if ((code == 429 || code == 0 || code >= 500) && x->tries <= CONNECT_RETRIES) {
                sim_disconnect(x->c);
                x->c = NULL;
                x->phase = PH_WAIT;
                x->retry_at_us = now + 1000000 * x->tries;
                retry[nretry++] = (int)(x - b->bc);
                continue;
            }
            if (b->refused < 5)
                log_progress(b, "%s refused: HTTP %d (%s)", x->id, code, sim_error(x->c));
            b->refused++;
            b->refused_by_status[status_slot(code)]++;
            x->phase = PH_DEAD;
            done++;
        }
        if (now - last_progress >= PROGRESS_US) {
            last_progress = now;
            log_progress(b, "connecting: %d open, %d refused, %d in flight, %d to retry, %d not started",
                         b->connected, b->refused, connecting, nretry, n - next);
        }
    }
    /* whatever is still in flight or waiting for a retry has failed */
    for (int k = 0; k < npending; k++) {
        b->bc[pending[k]].phase = PH_DEAD;
        b->refused++;
        b->refused_by_status[0]++;
    }
    for (int k = 0; k < nretry; k++) {
        b->bc[retry[k]].phase = PH_DEAD;
        b->refused++;
        b->refused_by_status[status_slot(sim_http_status(b->bc[retry[k]].c))]++;
    }
    double secs = (double)(time_mono_us() - t0) / 1e6;
    printf("CONNECTED connected=%d refused=%d seconds=%.1f\n", b->connected, b->refused, secs);
    fflush(stdout);
    log_progress(b, "connected %d of %d in %.1f s (%.0f/s)", b->connected, n, secs,
                 secs > 0 ? b->connected / secs : 0);
    free(pending);
    free(retry);
}

/* ---- CALLs ---- */

static void payload_for(struct bench *b, struct bench_charger *x, const char *action, char *buf, size_t cap)
{
    char ts[40];
    iso_now(ts, sizeof ts);
    if (!strcmp(action, "BootNotification")) {
        snprintf(buf, cap, "{\"chargePointVendor\":\"ocppgw-bench\",\"chargePointModel\":\"ocppsim\","
                           "\"chargePointSerialNumber\":\"%s\",\"firmwareVersion\":\"1.0\"}", x->id);
    } else if (!strcmp(action, "StartTransaction")) {
        snprintf(buf, cap, "{\"connectorId\":1,\"idTag\":\"%.20s\",\"meterStart\":%.0f,\"timestamp\":\"%s\"}",
                 x->id, x->energy_wh, ts);
    } else if (!strcmp(action, "StopTransaction")) {
        snprintf(buf, cap, "{\"transactionId\":%" PRId64 ",\"meterStop\":%.0f,\"timestamp\":\"%s\","
                           "\"reason\":\"Local\"}", x->tx_id, x->energy_wh, ts);
    } else if (!strcmp(action, "StatusNotification")) {
        snprintf(buf, cap, "{\"connectorId\":1,\"errorCode\":\"NoError\",\"status\":\"Available\","
                           "\"timestamp\":\"%s\"}", ts);
    } else if (!strcmp(action, "MeterValues")) {
        x->energy_wh += 1.0 + (double)(rand() % 100) / 10.0;
        char tx[32] = "";
        if (x->tx_id)
            snprintf(tx, sizeof tx, ",\"transactionId\":%" PRId64, x->tx_id);
        snprintf(buf, cap,
                 "{\"connectorId\":1%s,\"meterValue\":[{\"timestamp\":\"%s\",\"sampledValue\":["
                 "{\"value\":\"%.1f\",\"measurand\":\"Energy.Active.Import.Register\",\"unit\":\"Wh\"},"
                 "{\"value\":\"%d\",\"measurand\":\"Power.Active.Import\",\"unit\":\"W\"}]}]}",
                 tx, ts, x->energy_wh, 7000 + rand() % 4000);
    } else {
        snprintf(buf, cap, "{}");
    }
    (void)b;
}

static bool send_action(struct bench *b, struct bench_charger *x, const char *action)
{
    char payload[1024];
    payload_for(b, x, action, payload, sizeof payload);
    if (sim_send_call(x->c, action, payload) != 0)
        return false;
    x->outstanding = true;
    x->sent_us = time_mono_us();
    b->sent++;
    return true;
}

static int64_t reply_tx_id(const char *reply);

/* mode sessions: the action of the charger's step */
static const char *session_action(const struct bench *b, const struct bench_charger *x)
{
    if (x->sess_step == 0)
        return "StartTransaction";
    return x->sess_step <= b->o.meter_values ? "MeterValues" : "StopTransaction";
}

static void send_one(struct bench *b, struct bench_charger *x)
{
    if (b->o.mode == MODE_SESSIONS && b->sending) {
        x->sess_action = session_action(b, x);
        send_action(b, x, x->sess_action);
        return;
    }
    send_action(b, x, b->action);
}

/* mode sessions: the answer to x's CALL moves it on (a refused start is tried again) */
static void session_step(struct bench *b, struct bench_charger *x, bool ok, int64_t latency_us)
{
    const char *a = x->sess_action;
    x->sess_action = NULL;
    if (!a)
        return;
    if (!strcmp(a, "StartTransaction")) {
        x->tx_id = ok ? reply_tx_id(sim_last_reply(x->c)) : 0;
        x->sess_step = x->tx_id ? 1 : 0;
    } else if (!strcmp(a, "StopTransaction")) {
        if (b->measuring) {
            hist_add(&b->h_stop, latency_us);
            b->stops++;
        }
        x->tx_id = 0;
        x->sess_step = 0;
    } else {
        x->sess_step++;
    }
}

static int64_t reply_tx_id(const char *reply)
{
    int64_t id = 0;
    cJSON *j = reply ? cJSON_Parse(reply) : NULL;
    cJSON *p = cJSON_GetArrayItem(j, 2);
    cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "transactionId");
    if (cJSON_IsNumber(t) && t->valuedouble > 0)
        id = (int64_t)t->valuedouble;
    cJSON_Delete(j);
    return id;
}

/* Whether the answer frame to a BootNotification says "Accepted". */
static bool boot_accepted(const char *reply)
{
    cJSON *j = reply ? cJSON_Parse(reply) : NULL;
    cJSON *st = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(j, 2), "status");
    bool ok = cJSON_IsString(st) && !strcmp(st->valuestring, "Accepted");
    cJSON_Delete(j);
    return ok;
}

static struct bench_charger *find_bc(struct bench *b, struct sim_charger *c);

static void on_reply(void *user, struct sim_charger *c, int64_t latency_us, bool ok)
{
    struct bench *b = user;
    struct bench_charger *x = find_bc(b, c);
    if (!x)
        return;
    x->outstanding = false;
    if (b->o.mode == MODE_SESSIONS && x->sess_action)
        session_step(b, x, ok, latency_us);
    else if (!strcmp(b->action, "StartTransaction") && ok)
        x->tx_id = reply_tx_id(sim_last_reply(c));
    if (!strcmp(b->action, "BootNotification")) {
        x->booted = ok && boot_accepted(sim_last_reply(c));
        if (!ok)
            seen_note(b, SEEN_CALLERROR);
        else if (!x->booted)
            seen_note(b, SEEN_BOOT_REJECTED);
    }
    if (ok)
        b->phase_ok++;
    else
        b->phase_err++;
    if (b->measuring) {
        hist_add(&b->h, latency_us);
        b->msgs++;
        if (!ok)
            b->callerrors++;
    }
    if (b->sending) {
        if (b->o.interval_ms)
            x->next_us = x->sent_us + (int64_t)b->o.interval_ms * 1000;
        else
            send_one(b, x);
    }
}

/* --interval: sends the CALLs that are due; scans every charger, so at most
 * every 5 ms. */
static void send_due(struct bench *b)
{
    static int64_t last;
    int64_t now = time_mono_us();
    if (!b->o.interval_ms || now - last < 5000)
        return;
    last = now;
    for (int i = 0; i < b->o.chargers; i++) {
        struct bench_charger *x = &b->bc[i];
        if (x->phase == PH_OPEN && !x->outstanding && x->next_us && x->next_us <= now)
            send_one(b, x);
    }
}

/* The charger's index travels in its id: PREFIX + digits. */
static struct bench_charger *find_bc(struct bench *b, struct sim_charger *c)
{
    const char *id = sim_charger_id(c);
    size_t pl = strlen(b->o.prefix);
    if (strncmp(id, b->o.prefix, pl))
        return NULL;
    long i = strtol(id + pl, NULL, 10) - 1;
    if (i < 0 || i >= b->o.chargers || b->bc[i].c != c)
        return NULL;
    return &b->bc[i];
}

/* Counts chargers the server closed; they stay out of every later round. */
static void reap_closed(struct bench *b)
{
    for (int i = 0; i < b->o.chargers; i++) {
        struct bench_charger *x = &b->bc[i];
        if (x->phase == PH_OPEN && sim_state(x->c) != SIM_OPEN) {
            x->phase = PH_DEAD;
            x->outstanding = false;
            b->closed_during_run++;
            if (b->closed_during_run <= 5)
                log_progress(b, "%s closed by the gateway (close code %d%s)", x->id, sim_close_code(x->c),
                             sim_close_frame_received(x->c) ? "" : ", TCP drop");
        }
    }
}

/* Expires CALLs unanswered past --timeout; returns how many are still out. */
static int expire_calls(struct bench *b, bool resend)
{
    int64_t now = time_mono_us(), limit = (int64_t)b->o.timeout_ms * 1000;
    int out = 0;
    for (int i = 0; i < b->o.chargers; i++) {
        struct bench_charger *x = &b->bc[i];
        if (!x->outstanding)
            continue;
        if (now - x->sent_us > limit) {
            sim_cancel_call(x->c);
            x->outstanding = false;
            b->timeouts++;
            seen_note(b, SEEN_TIMEOUT);
            b->phase_err++;
            if (resend && b->o.interval_ms)
                x->next_us = now;
            else if (resend)
                send_one(b, x);
        }
        out += x->outstanding;
    }
    return out;
}

/* One CALL per open charger, all at once; waits for every answer. */
static void round_all(struct bench *b, const char *action)
{
    b->action = action;
    b->phase_ok = b->phase_err = 0;
    b->sending = false;
    b->measuring = false;
    int64_t t0 = time_mono_us();
    for (int i = 0; i < b->o.chargers; i++)
        if (b->bc[i].phase == PH_OPEN)
            send_one(b, &b->bc[i]);
    int64_t last = t0;
    for (;;) {
        sim_poll(b->s, 50, on_reply, b);
        int64_t now = time_mono_us();
        if (now - last >= 200000 || interrupted) {
            last = now;
            reap_closed(b);
            if (!expire_calls(b, false) || interrupted)
                break;
        }
    }
    log_progress(b, "%s: %" PRIu64 " answered, %" PRIu64 " failed, %.1f s", action, b->phase_ok,
                 b->phase_err, (double)(time_mono_us() - t0) / 1e6);
}

static void run_load(struct bench *b, const char *action)
{
    b->action = action;
    b->sending = true;
    b->measuring = true;
    int64_t t0 = time_mono_us(), end = t0 + (int64_t)(b->o.duration * 1e6);
    int64_t last_check = t0, last_progress = t0;
    uint64_t last_msgs = 0;
    for (int i = 0; i < b->o.chargers; i++) {
        if (b->bc[i].phase != PH_OPEN)
            continue;
        if (b->o.interval_ms)           /* spread the first CALLs over one interval */
            b->bc[i].next_us = t0 + 1 + (int64_t)b->o.interval_ms * 1000 * i / b->o.chargers;
        else
            send_one(b, &b->bc[i]);
    }
    while (!interrupted) {
        int64_t now = time_mono_us();
        if (now >= end)
            break;
        int left_ms = (int)((end - now) / 1000);
        int slice = b->o.interval_ms ? 5 : 50;
        sim_poll(b->s, left_ms < slice ? (left_ms > 0 ? left_ms : 1) : slice, on_reply, b);
        send_due(b);
        now = time_mono_us();
        if (now - last_check >= 200000) {
            last_check = now;
            reap_closed(b);
            expire_calls(b, true);
        }
        if (now - last_progress >= PROGRESS_US) {
            log_progress(b, "t=%.0fs msgs=%" PRIu64 " rate=%.0f/s p50=%.2fms p99=%.2fms errors=%" PRIu64
                            " timeouts=%" PRIu64,
                         (double)(now - t0) / 1e6, b->msgs,
                         (double)(b->msgs - last_msgs) * 1e6 / (double)(now - last_progress),
                         hist_pct_ms(&b->h, 50), hist_pct_ms(&b->h, 99), b->callerrors, b->timeouts);
            last_progress = now;
            last_msgs = b->msgs;
        }
    }
    b->measuring = false;
    b->sending = false;
    double secs = (double)(time_mono_us() - t0) / 1e6;
    b->o.duration = secs;           /* the actual window, for the rate */
    /* let the last answers arrive so that closing does not look like a drop */
    int64_t drain_end = time_mono_us() + 2000000;
    while (time_mono_us() < drain_end && expire_calls(b, false))
        sim_poll(b->s, 50, on_reply, b);
}

static void hold(struct bench *b)
{
    int64_t t0 = time_mono_us(), end = t0 + (int64_t)(b->o.duration * 1e6), last = t0;
    while (!interrupted && time_mono_us() < end) {
        sim_service(b->s, 200);
        int64_t now = time_mono_us();
        if (now - last >= 5 * PROGRESS_US) {
            last = now;
            reap_closed(b);
            log_progress(b, "holding: %d open, %d closed by the gateway", b->connected - b->closed_during_run,
                         b->closed_during_run);
        }
    }
    reap_closed(b);
}

/* ---- mode serve ---- */

static void serve_responder(void *user, struct sim_charger *c, const char *action, const char *payload_json,
                            struct sim_reply *out)
{
    struct bench *b = user;
    sim_answers_responder(&b->answers, c, action, payload_json, out);
    if (!b->o.verbose)
        return;
    const char *what = out->kind == SIM_REPLY_SILENCE      ? "(silence)"
                       : out->kind == SIM_REPLY_DISCONNECT ? "(disconnect)"
                       : out->kind == SIM_REPLY_ERROR      ? "CALLERROR "
                                                           : "";
    fprintf(stderr, "ocppsim: %s <- %s %s -> %s%s%s\n", sim_charger_id(c), action, payload_json, what,
            out->kind == SIM_REPLY_RESULT || out->kind == SIM_REPLY_ERROR ? out->payload : "",
            out->then ? " (then a follow-up)" : "");
}

/* Adds what one connection counted to the totals (before it is freed, and
 * at the end). */
static void tally(struct bench *b, struct bench_charger *x)
{
    if (!x->c)
        return;
    b->calls += (uint64_t)sim_calls_received(x->c);
    for (int i = 0; i < SIM_ANSWERS_ACTIONS; i++)
        b->calls_by_action[i] += (uint64_t)sim_calls_received_action(x->c, sim_answers_action_name(i));
    struct sim_answers_stats st;
    sim_answers_get_stats(x->c, &st);
    b->fu.starts_sent += st.starts_sent;
    b->fu.starts_answered += st.starts_answered;
    b->fu.stops_sent += st.stops_sent;
    b->fu.stops_answered += st.stops_answered;
    b->fu.followup_errors += st.followup_errors;
    b->fu.profiles_received += st.profiles_received;
    b->fu.profiles_accepted += st.profiles_accepted;
    b->fu.clears_received += st.clears_received;
    b->fu.meter_values_sent += st.meter_values_sent;
    b->fu.meter_values_answered += st.meter_values_answered;
    b->certificates += sim_answers_certificate_chain(x->c) != NULL;
    if (sim_calls_outstanding_max(x->c) > b->max_outstanding)
        b->max_outstanding = sim_calls_outstanding_max(x->c);
}

/* --sign-certificate: SignCertificate with a CSR for this charger (CN its id, O the option's). */
static bool send_sign_certificate(struct bench *b, struct bench_charger *x)
{
    char *csr = sim_csr_new(x->id, b->o.csr_org, NULL);
    if (!csr)
        return false;
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "csr", csr);
    char *text = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);
    free(csr);
    bool ok = text && sim_send_call(x->c, "SignCertificate", text) == 0;
    cJSON_free(text);
    if (ok) {
        x->outstanding = true;
        x->sent_us = time_mono_us();
        b->sent++;
    }
    return ok;
}

/* Sends greeting step 1 (BootNotification), 2 (StatusNotification
 * Available) or 3 (SignCertificate); on success it is the one outstanding. */
static void greet_send(struct bench *b, struct bench_charger *x, int step)
{
    bool sent = step == 1   ? send_action(b, x, "BootNotification")
                : step == 2 ? send_action(b, x, "StatusNotification")
                            : send_sign_certificate(b, x);
    x->serve_step = step;
    x->greet_at_us = sent ? 0 : time_mono_us() + (int64_t)b->o.reconnect_min_ms * 1000;
}

/* A charger just open: boots (with --boot, unless it has), then says it is Available. */
static void serve_greet(struct bench *b, struct bench_charger *x)
{
    if (b->o.mode == MODE_DEMO)
        return;                     /* demo_tick greets */
    greet_send(b, x, b->o.boot && !x->booted ? 1 : 2);
}

/*
 * The answer to a greeting step. The charger is served once it is booted
 * (with --boot) and its StatusNotification answered; a step answered with a
 * CALLERROR, or a BootNotification not Accepted, goes again after
 * --reconnect-min-ms (a timeout: at once, see serve_rejoin).
 */
static void serve_on_reply(void *user, struct sim_charger *c, int64_t latency_us, bool ok)
{
    struct bench *b = user;
    struct bench_charger *x = find_bc(b, c);
    (void)latency_us;
    if (!x)
        return;
    x->outstanding = false;
    if (ok)
        b->phase_ok++;
    else
        b->phase_err++;
    if (!ok)
        seen_note(b, SEEN_CALLERROR);
    int64_t again = time_mono_us() + (int64_t)b->o.reconnect_min_ms * 1000;
    switch (x->serve_step) {
    case 1:
        x->booted = ok && boot_accepted(sim_last_reply(c));
        if (x->booted) {
            greet_send(b, x, 2);
        } else {
            if (ok)
                seen_note(b, SEEN_BOOT_REJECTED);
            x->greet_at_us = again;
        }
        break;
    case 2:
        if (!ok) {
            x->greet_at_us = again;
            break;
        }
        set_served(b, x, true);
        if (b->o.csr_org)
            greet_send(b, x, 3);
        else
            x->serve_step = 0;
        break;
    default:
        x->serve_step = 0;
        break;
    }
}

/*
 * Chargers the gateway closed are counted, freed and reconnected after the
 * back-off (backoff_us); reconnections that open are greeted, refused or
 * failed ones counted and tried again after a longer back-off. The back-off
 * starts over when the connection that closed had lasted --reconnect-max-ms.
 * A greeting step whose answer timed out (or is due again) is sent.
 *
 * At most --max-connecting (MAX_CONNECTING) upgrades are in flight: a
 * limit of the generator, not of a fleet. lws 4.1.6 inserts each connecting
 * wsi's timeout into one sorted list (lws_dll2_add_sorted, a linear walk),
 * so 19,000 attempts at once cost the simulator quadratic time, and while
 * it walks, its loop answers nothing (seen: connects timing out by the
 * thousand, pongs missed, gateway ping timeouts).
 */
static void serve_rejoin(struct bench *b)
{
    int64_t now = time_mono_us();
    int connecting = 0;
    for (int i = 0; i < b->o.chargers; i++) {
        struct bench_charger *x = &b->bc[i];
        if (x->phase == PH_OPEN && sim_state(x->c) != SIM_OPEN) {
            b->closed_during_run++;
            bool frame = sim_close_frame_received(x->c);
            seen_note(b, SEEN_CLOSED);
            if (!frame)
                seen_note(b, SEEN_DROPPED);
            if (!b->first_close_ms)
                b->first_close_ms = time_now_ms();
            if (b->closed_during_run <= 5 || b->o.verbose)
                log_progress(b, "%s closed (close code %d%s), reconnecting", x->id, sim_close_code(x->c),
                             frame ? "" : ", TCP drop");
            tally(b, x);
            sim_disconnect(x->c);
            set_served(b, x, false);
            if (b->fleet)
                fleet_gone(b->fleet, i);
            int n = now - x->opened_us >= (int64_t)b->o.reconnect_max_ms * 1000 ? 0 : x->backoff_n;
            *x = (struct bench_charger){ .phase = PH_WAIT, .rejoin = true, .backoff_n = n + 1,
                                         .retry_at_us = now + backoff_us(&b->o, n) };
            charger_id(b, i, x->id, sizeof x->id);
        } else if (x->phase == PH_CONNECTING && x->rejoin) {
            enum sim_state st = sim_state(x->c);
            if (st == SIM_OPEN) {
                x->phase = PH_OPEN;
                x->opened_us = now;
                b->reconnects++;
                seen_note(b, SEEN_RECONNECT);
                serve_greet(b, x);
            } else if (st != SIM_CONNECTING) {
                seen_refusal(b, sim_http_status(x->c));
                seen_why(b, sim_http_status(x->c), sim_error(x->c));
                sim_disconnect(x->c);
                x->c = NULL;
                x->phase = PH_WAIT;
                x->retry_at_us = now + backoff_us(&b->o, x->backoff_n++);
            }
        } else if (x->phase == PH_OPEN && x->serve_step && !x->outstanding && x->greet_at_us <= now) {
            greet_send(b, x, x->serve_step);
        }
        connecting += x->phase == PH_CONNECTING;
    }
    /* the attempts that are due, --max-connecting in flight at most, round
     * robin from where the last pass stopped */
    int n = b->o.chargers;
    for (int k = 0; k < n && connecting < b->o.max_connecting; k++) {
        int i = (b->rejoin_from + k) % n;
        struct bench_charger *x = &b->bc[i];
        if (x->phase == PH_WAIT && x->rejoin && x->retry_at_us <= now) {
            start_connect(b, i);
            connecting++;
            b->rejoin_from = (i + 1) % n;
        }
    }
}

static int demo_stop_sessions(struct bench *b);

/*
 * Serves until SIGINT/SIGTERM or --duration: greets the open chargers (those
 * whose boot round failed boot again), puts those the connect phase gave up
 * on into the back-off like closed ones, and keeps reconnecting.
 */
static void serve(struct bench *b)
{
    b->phase_ok = b->phase_err = 0;
    int64_t t0 = time_mono_us(), end = b->o.duration > 0 ? t0 + (int64_t)(b->o.duration * 1e6) : INT64_MAX;
    for (int i = 0; i < b->o.chargers; i++) {
        struct bench_charger *x = &b->bc[i];
        if (x->phase == PH_OPEN) {
            serve_greet(b, x);
        } else {
            if (x->c)
                sim_disconnect(x->c);
            *x = (struct bench_charger){ .phase = PH_WAIT, .rejoin = true, .backoff_n = 1,
                                         .retry_at_us = t0 + backoff_us(&b->o, 0) };
            charger_id(b, i, x->id, sizeof x->id);
        }
    }
    int64_t last_check = t0, last_progress = t0;
    while (!interrupted && time_mono_us() < end) {
        sim_poll(b->s, 50, serve_on_reply, b);
        int64_t now = time_mono_us();
        if (now - last_check >= 50000) {
            last_check = now;
            expire_calls(b, false);
            serve_rejoin(b);
            for (int i = 0; b->fleet && i < b->o.chargers; i++) {
                struct bench_charger *x = &b->bc[i];
                if (x->phase == PH_OPEN)
                    fleet_tick(b->fleet, i, x->c, x->served, now);
            }
        }
        /* every 5 s, every second while not all are served */
        if (now - last_progress >= (b->served < b->o.chargers ? 1 : 5) * PROGRESS_US) {
            last_progress = now;
            uint64_t calls = b->calls;
            int open = 0, connecting = 0;
            for (int i = 0; i < b->o.chargers; i++) {
                if (b->bc[i].phase == PH_OPEN) {
                    open++;
                    calls += (uint64_t)sim_calls_received(b->bc[i].c);
                }
                connecting += b->bc[i].phase == PH_CONNECTING;
            }
            log_progress(b, "serving: %d open, %d served, %d connecting, %" PRIu64 " gateway CALLs so far, "
                            "%d reconnects, %d failed connects", open, b->served, connecting, calls, b->reconnects,
                         b->tot.failed + seen_refused(&b->tot));
        }
    }
    if (b->fleet && b->o.mean_on_s > 0)
        b->stopped_at_exit = demo_stop_sessions(b);     /* nothing left open in the gateway */
    b->o.duration = (double)(time_mono_us() - t0) / 1e6;
    for (int i = 0; i < b->o.chargers; i++) {
        struct bench_charger *x = &b->bc[i];
        tally(b, x);
        if (x->phase == PH_OPEN && sim_state(x->c) != SIM_OPEN) {
            x->phase = PH_DEAD;
            b->closed_during_run++;
        }
    }
}


/* ---- mode demo ---- */

struct demo_arg {
    struct bench *b;
    bool boot;
};

static void demo_answered(struct sim_charger *c, void *arg, bool ok, const char *payload_json)
{
    struct demo_arg *a = arg;
    struct bench_charger *x = find_bc(a->b, c);
    if (!x)
        return;
    x->demo_busy = false;
    if (a->boot) {
        x->booted = true;           /* Pending or Rejected: the gateway says why in its log */
        if (!ok || !strstr(payload_json, "\"Accepted\""))
            log_progress(a->b, "%s: BootNotification answered %s", x->id, ok ? payload_json : "with a CALLERROR");
    }
}

/* One CALL of the demo's own; the next waits for its answer. */
static bool demo_send(struct bench *b, struct bench_charger *x, const char *action, const char *payload, bool boot)
{
    struct demo_arg *a = xmalloc(sizeof *a);
    *a = (struct demo_arg){ .b = b, .boot = boot };
    if (sim_send_call_cb(x->c, action, payload, demo_answered, a) != 0)
        return false;
    x->demo_busy = true;
    b->sent++;
    return true;
}

static void demo_status(struct bench *b, struct bench_charger *x, int connector, const char *status)
{
    char ts[40], payload[256];
    iso_now(ts, sizeof ts);
    snprintf(payload, sizeof payload,
             "{\"connectorId\":%d,\"errorCode\":\"NoError\",\"status\":\"%s\",\"timestamp\":\"%s\"}", connector,
             status, ts);
    if (demo_send(b, x, "StatusNotification", payload, false))
        str_copy(x->reported[connector], sizeof x->reported[connector], status);
}

/* MeterValues of the charger's model: energy, power and current under its charging profiles. */
static void demo_meter_values(struct bench *b, struct bench_charger *x, const struct sim_answers_tx *t)
{
    char payload[2048];
    if (sim_answers_meter_values_payload(x->c, t->connector, payload, sizeof payload) == 0)
        demo_send(b, x, "MeterValues", payload, false);
}

/*
 * One step of a demo charger, at most one CALL: boot; a StatusNotification
 * where a connector's state changed (Charging while it has a transaction,
 * else Available); start or stop connector 1's own session when due (or
 * stop it at once when its idTag was not accepted); a MeterValues that is
 * due. Transactions are those of the answers (tests/sim/answers.c), so the
 * remote ones count too.
 */
static void demo_tick(struct bench *b, struct bench_charger *x, int64_t now)
{
    if (x->phase != PH_OPEN || sim_state(x->c) != SIM_OPEN || x->demo_busy)
        return;
    if (!x->booted) {
        char payload[256];
        snprintf(payload, sizeof payload,
                 "{\"chargePointVendor\":\"ocppgw-demo\",\"chargePointModel\":\"ocppsim\","
                 "\"chargePointSerialNumber\":\"%s\",\"firmwareVersion\":\"1.0\"}", x->id);
        demo_send(b, x, "BootNotification", payload, true);
        return;
    }
    struct sim_answers_tx tx[DEMO_TX_MAX];
    int n = sim_answers_transactions(x->c, tx, DEMO_TX_MAX);
    const struct sim_answers_tx *on[DEMO_CONNECTORS + 1] = { NULL };
    for (int i = 0; i < n; i++)
        if (tx[i].connector >= 1 && tx[i].connector <= DEMO_CONNECTORS && !on[tx[i].connector])
            on[tx[i].connector] = &tx[i];
    for (int k = 1; k <= DEMO_CONNECTORS; k++) {
        int id = on[k] ? on[k]->transaction_id : 0;
        if (id != x->seen_tx[k]) {
            if (x->seen_tx[k])
                log_progress(b, "%s connector %d: session of transaction %d stopped", x->id, k, x->seen_tx[k]);
            if (id) {
                log_progress(b, "%s connector %d: session started, transaction %d, idTag %s (%s)%s", x->id, k, id,
                             on[k]->id_tag, on[k]->auth[0] ? on[k]->auth : "?",
                             on[k]->local ? "" : ", by a remote start");
            }
            x->seen_tx[k] = id;
            x->next_mv_us[k] = now + (int64_t)b->o.interval_ms * 1000;
        }
        const char *want = !on[k] ? "Available" : sim_answers_effective_limit(x->c, k) == 0 ? "SuspendedEVSE"
                                                                                         : "Charging";
        if (strcmp(x->reported[k], want) != 0) {
            demo_status(b, x, k, want);
            return;
        }
    }
    const struct sim_answers_tx *own = on[1] && on[1]->local ? on[1] : NULL;
    if (own) {
        x->start_sent_us = 0;
        if (own->auth[0] && strcmp(own->auth, "Accepted") != 0) {
            if (!x->told_invalid)
                log_progress(b, "%s: the gateway answered idTag %s %s, so the session stops (DeAuthorized); make it "
                             "known with POST /v1/tokens {\"idTag\": \"%s\"}", x->id, own->id_tag, own->auth,
                             own->id_tag);
            x->told_invalid = true;
            sim_answers_stop_transaction(x->c, own->transaction_id, "DeAuthorized");
            x->next_cycle_us = now + (int64_t)b->o.pause_s * 1000000;
            return;
        }
        if (now >= x->next_cycle_us) {
            sim_answers_stop_transaction(x->c, own->transaction_id, "Local");
            x->next_cycle_us = now + (int64_t)b->o.pause_s * 1000000;
            return;
        }
    } else if (!on[1]) {
        if (x->start_sent_us && now - x->start_sent_us > 30 * 1000000LL)
            x->start_sent_us = 0;   /* no answer: try again at the next turn */
        if (!x->start_sent_us && now >= x->next_cycle_us &&
            sim_answers_start_transaction(x->c, 1, b->o.id_tag) == 0) {
            x->start_sent_us = now;
            x->next_cycle_us = now + (int64_t)b->o.session_s * 1000000;
            return;
        }
    }
    for (int k = 1; k <= DEMO_CONNECTORS; k++) {
        if (on[k] && now >= x->next_mv_us[k]) {
            x->next_mv_us[k] = now + (int64_t)b->o.interval_ms * 1000;
            demo_meter_values(b, x, on[k]);
            return;
        }
    }
}

/*
 * Stops the charger's open sessions (adding them to *stopped); true once
 * nothing is left to wait for: every StartTransaction answered (a session
 * it opens is stopped on the next call) and every StopTransaction answered,
 * or the charger is gone.
 */
static bool demo_stop_charger(struct bench *b, struct bench_charger *x, int *stopped)
{
    if (x->phase != PH_OPEN || sim_state(x->c) != SIM_OPEN)
        return true;
    struct sim_answers_tx tx[DEMO_TX_MAX];
    int n = sim_answers_transactions(x->c, tx, DEMO_TX_MAX);
    for (int k = 0; k < n; k++) {
        if (sim_answers_stop_transaction(x->c, tx[k].transaction_id, "Local") == 0) {
            log_progress(b, "%s connector %d: stopping the session of transaction %d", x->id, tx[k].connector,
                         tx[k].transaction_id);
            (*stopped)++;
        }
    }
    struct sim_answers_stats st;
    sim_answers_get_stats(x->c, &st);
    return st.starts_answered + st.starts_failed >= st.starts_sent &&
           st.stops_answered + (st.followup_errors - st.starts_failed) >= st.stops_sent;
}

/* SIGINT/SIGTERM: every open session stopped, and the stops answered (10 s at most). */
static int demo_stop_sessions(struct bench *b)
{
    int stopped = 0;
    int64_t deadline = time_mono_us() + 10 * 1000000LL;
    for (;;) {
        bool done = true;
        for (int i = 0; i < b->o.chargers; i++)
            done &= demo_stop_charger(b, &b->bc[i], &stopped);
        if (done || time_mono_us() > deadline)
            break;
        sim_poll(b->s, 50, NULL, b);
    }
    return stopped;
}

static void demo(struct bench *b)
{
    int64_t t0 = time_mono_us(), end = b->o.duration > 0 ? t0 + (int64_t)(b->o.duration * 1e6) : INT64_MAX;
    for (int i = 0; i < b->o.chargers; i++)     /* the first sessions start a second apart */
        b->bc[i].next_cycle_us = t0 + 1000000LL * i;
    log_progress(b, "demo: %d charger%s (%s ... %s), connector 1 charges on its own, connector 2 waits for a "
                    "remote start; Ctrl-C stops the sessions and exits",
                 b->o.chargers, b->o.chargers == 1 ? "" : "s", b->bc[0].id, b->bc[b->o.chargers - 1].id);
    int64_t last_check = t0;
    while (!interrupted && time_mono_us() < end) {
        sim_poll(b->s, 50, NULL, b);
        int64_t now = time_mono_us();
        for (int i = 0; i < b->o.chargers; i++)
            demo_tick(b, &b->bc[i], now);
        if (now - last_check >= 200000) {
            last_check = now;
            serve_rejoin(b);
        }
    }
    int stopped = demo_stop_sessions(b);
    b->o.duration = (double)(time_mono_us() - t0) / 1e6;
    int open = 0;
    for (int i = 0; i < b->o.chargers; i++) {
        struct bench_charger *x = &b->bc[i];
        open += x->phase == PH_OPEN && sim_state(x->c) == SIM_OPEN;
        tally(b, x);
    }
    log_progress(b, "demo: stopped %d session%s, disconnecting", stopped, stopped == 1 ? "" : "s");
    printf("RESULT mode=demo chargers=%d connected=%d open_end=%d calls=%" PRIu64 " starts=%d stops=%d "
           "stops_answered=%d stops_at_exit=%d reconnects=%d duration_s=%.1f\n",
           b->o.chargers, b->connected, open, b->calls, b->fu.starts_sent, b->fu.stops_sent, b->fu.stops_answered,
           stopped, b->reconnects, b->o.duration);
    fflush(stdout);
}

static void serve_report(struct bench *b, int open_end, double cpu)
{
    struct fleet_counts fk = { 0 };
    if (b->fleet)
        fleet_counts(b->fleet, &fk);
    printf("mode        serve, answer %s, delay %d ms, follow-ups %s\n", sim_answer_name(b->o.answer),
           b->o.answer_delay_ms, b->o.no_followups ? "off" : "on");
    printf("chargers    %d asked, %d connected, %d refused, %d open at the end, %d closed and %d "
           "reconnected during the run\n",
           b->o.chargers, b->connected, b->refused, open_end, b->closed_during_run, b->reconnects);
    printf("calls       %" PRIu64 " from the gateway in %.1f s", b->calls, b->o.duration);
    const char *sep = ":";
    for (int i = 0; i < SIM_ANSWERS_ACTIONS; i++) {
        if (b->calls_by_action[i]) {
            printf("%s %s %" PRIu64, sep, sim_answers_action_name(i), b->calls_by_action[i]);
            sep = ",";
        }
    }
    printf("\noutstanding at most %d gateway CALLs at once on one charger\n", b->max_outstanding);
    printf("seen        %d served at the end, all served %d time%s; upgrades refused %d (429 %d, 503 %d, other "
           "%d), connects failed %d, CALLERROR %" PRIu64 ", timeouts %" PRIu64 ", boots not accepted %d\n",
           b->served, b->served_reports, b->served_reports == 1 ? "" : "s", seen_refused(&b->tot),
           b->tot.refused_429, b->tot.refused_503, b->tot.refused_other, b->tot.failed, b->tot.callerrors,
           b->tot.timeouts, b->tot.boot_rejected);
    printf("follow-ups  StartTransaction %d sent, %d answered; StopTransaction %d sent, %d answered; "
           "%d CALLERROR\n",
           b->fu.starts_sent, b->fu.starts_answered, b->fu.stops_sent, b->fu.stops_answered,
           b->fu.followup_errors);
    printf("charging    SetChargingProfile %d received, %d accepted; ClearChargingProfile %d; MeterValues %d sent, "
           "%d answered; sessions %d started, %d stopped, %d starts failed\n",
           b->fu.profiles_received, b->fu.profiles_accepted, b->fu.clears_received, b->fu.meter_values_sent,
           b->fu.meter_values_answered, fk.sessions_started, fk.sessions_stopped, fk.starts_failed);
    printf("RESULT calls=%" PRIu64 " starts=%d stops=%d mode=serve chargers=%d connected=%d refused=%d "
           "open_end=%d closed=%d reconnects=%d starts_answered=%d stops_answered=%d followup_errors=%d "
           "max_outstanding=%d greetings_ok=%" PRIu64 " greetings_failed=%" PRIu64 " duration_s=%.1f sim_cpu_s=%.1f"
           " certificates=%d served=%d served_lines=%d upgrades_refused=%d refused_429=%d refused_503=%d"
           " connects_failed=%d errors=%" PRIu64 " callerrors=%" PRIu64 " timeouts=%" PRIu64 " boot_rejected=%d"
           " profiles=%d profiles_accepted=%d clears=%d meter_values=%d meter_values_answered=%d"
           " sessions_started=%d sessions_stopped=%d sessions_start_failed=%d stops_at_exit=%d seed=%llu\n",
           b->calls, b->fu.starts_sent, b->fu.stops_sent, b->o.chargers, b->connected, b->refused, open_end,
           b->closed_during_run, b->reconnects, b->fu.starts_answered, b->fu.stops_answered,
           b->fu.followup_errors, b->max_outstanding, b->phase_ok, b->phase_err, b->o.duration, cpu,
           b->certificates, b->served, b->served_reports, seen_refused(&b->tot), b->tot.refused_429,
           b->tot.refused_503, b->tot.failed, seen_errors(&b->tot), b->tot.callerrors, b->tot.timeouts,
           b->tot.boot_rejected, b->fu.profiles_received, b->fu.profiles_accepted, b->fu.clears_received,
           b->fu.meter_values_sent, b->fu.meter_values_answered, fk.sessions_started, fk.sessions_stopped,
           fk.starts_failed, b->stopped_at_exit, b->o.seed);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct bench *b = xcalloc(1, sizeof *b);
    int rc = 1;
    if (!parse_options(argc, argv, &b->o))
        goto out;
    if (b->o.sources && !parse_sources(b, b->o.sources))
        goto out;
    if (b->o.source_addrs > b->nsources) {
        fprintf(stderr, "ocppsim: --source-addrs %d: --sources has only %d addresses\n", b->o.source_addrs,
                b->nsources);
        goto out;
    }
    while (b->o.source_addrs && b->nsources > b->o.source_addrs)
        free(b->sources[--b->nsources]);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    if (!b->o.seeded)
        b->o.seed = (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 16);
    srand((unsigned)b->o.seed);
    b->start_ms = time_now_ms();

    /* serve: a gateway restart closes every charger at once (see close_without_echo) */
    struct sim_options so = { .host = b->o.host, .port = b->o.port, .max_chargers = b->o.chargers,
                              .quiet = b->o.quiet || b->o.mode == MODE_DEMO,
                              .close_without_echo = b->o.mode == MODE_SERVE, .event_loop_uv = b->o.uv };
    b->s = sim_new(&so);
    if (!b->s)
        goto out;
    b->bc = xcalloc((size_t)b->o.chargers, sizeof *b->bc);
    for (int i = 0; i < b->o.chargers; i++)
        charger_id(b, i, b->bc[i].id, sizeof b->bc[i].id);
    if (b->o.mode == MODE_SERVE || b->o.mode == MODE_DEMO) {   /* before connecting: a CALL may come at once */
        sim_answers_init(&b->answers);
        b->answers.behaviour = b->o.answer;
        b->answers.delay_ms = b->o.answer_delay_ms;
        if (b->o.answer_error)
            snprintf(b->answers.callerror_code, sizeof b->answers.callerror_code, "%s", b->o.answer_error);
        for (int i = 0; i < b->o.nanswer_for; i++) {
            const char *eq = strchr(b->o.answer_for[i], '=');
            char action[64];
            enum sim_answer how = SIM_ANSWER_DEFAULT;
            snprintf(action, sizeof action, "%.*s", (int)(eq - b->o.answer_for[i]), b->o.answer_for[i]);
            sim_answer_parse(eq + 1, &how);
            sim_answers_set(&b->answers, action, how); /* checked when parsed */
        }
        b->answers.followups = !b->o.no_followups;
        b->answers.followup_delay_ms = b->o.followup_delay_ms;
        b->answers.connectors = b->o.mode == MODE_DEMO ? DEMO_CONNECTORS : 1;
        if (b->o.max_current > 0)
            b->answers.max_current = b->o.max_current;
        if (b->o.demand_hi > 0)
            b->answers.demand = b->o.demand_lo;
        b->answers.current_values = b->o.current_values;
        if (b->o.mode == MODE_SERVE && (b->o.mean_on_s > 0 || b->o.meter_interval_ms || b->o.profile_log ||
                                        b->o.demand_hi > b->o.demand_lo)) {
            if (b->o.profile_log && !(b->profile_log = fopen(b->o.profile_log, "w"))) {
                perror(b->o.profile_log);
                goto out;
            }
            struct fleet_opts fo = { .mean_on_s = b->o.mean_on_s, .mean_off_s = b->o.mean_off_s,
                                     .meter_interval_ms = b->o.meter_interval_ms, .id_tag = b->o.id_tag,
                                     .demand_lo = b->o.demand_lo, .demand_hi = b->o.demand_hi,
                                     .max_current = b->o.max_current, .seed = b->o.seed,
                                     .profile_log = b->profile_log };
            b->fleet = fleet_new(&fo, b->o.chargers);
            b->answers.on_profile = fleet_profile_hook;
            b->answers.on_profile_user = b->fleet;
        }
        sim_set_default_responder(b->s, serve_responder, b);
    }

    connect_all(b);
    if (b->o.mode == MODE_DEMO) {       /* boots itself, reconnections too */
        demo(b);
        rc = b->connected == 0;
        goto out;
    }
    if (b->o.boot && !interrupted)
        round_all(b, "BootNotification");
    int start_failed = 0;
    if (b->o.mode == MODE_METERVALUES && !interrupted) {
        round_all(b, "StartTransaction");
        for (int i = 0; i < b->o.chargers; i++)
            start_failed += b->bc[i].phase == PH_OPEN && !b->bc[i].tx_id;
    }
    if (!interrupted) {
        if (b->o.mode == MODE_SERVE)
            serve(b);
        else if (b->o.mode == MODE_CONNECT)
            hold(b);
        else
            run_load(b, b->o.mode == MODE_HEARTBEAT ? "Heartbeat"
                        : b->o.mode == MODE_SESSIONS ? "Sessions" : "MeterValues");
    }
    int open_end = 0;
    for (int i = 0; i < b->o.chargers; i++)
        open_end += b->bc[i].phase == PH_OPEN;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    if (b->o.mode == MODE_SERVE) {
        serve_report(b, open_end, cpu);
        rc = b->connected == 0;
        goto out;
    }

    double rate = b->o.mode == MODE_CONNECT ? 0 : (double)b->msgs / b->o.duration;
    printf("mode        %s\n", mode_names[b->o.mode]);
    printf("chargers    %d asked, %d connected, %d refused (no answer %d, 401 %d, 404 %d, 429 %d, "
           "other 4xx %d, 5xx %d), %d open at the end\n",
           b->o.chargers, b->connected, b->refused, b->refused_by_status[0], b->refused_by_status[1],
           b->refused_by_status[2], b->refused_by_status[3], b->refused_by_status[4],
           b->refused_by_status[5], open_end);
    if (b->o.mode != MODE_CONNECT) {
        printf("messages    %" PRIu64 " in %.1f s = %.0f/s\n", b->msgs, b->o.duration, rate);
        printf("latency     p50 %.2f ms, p99 %.2f ms, max %.2f ms, mean %.2f ms\n", hist_pct_ms(&b->h, 50),
               hist_pct_ms(&b->h, 99), (double)b->h.max_us / 1000.0,
               b->h.count ? b->h.sum_us / (double)b->h.count / 1000.0 : 0);
        if (b->o.mode == MODE_SESSIONS)
            printf("stops       %" PRIu64 " StopTransaction: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", b->stops,
                   hist_pct_ms(&b->h_stop, 50), hist_pct_ms(&b->h_stop, 99), (double)b->h_stop.max_us / 1000.0);
        printf("errors      %" PRIu64 " CALLERROR, %" PRIu64 " timeouts (> %d ms)%s\n", b->callerrors,
               b->timeouts, b->o.timeout_ms,
               start_failed ? ", some StartTransactions gave no transactionId" : "");
    }
    printf("RESULT mode=%s chargers=%d connected=%d refused=%d open_end=%d closed=%d msgs=%" PRIu64
           " duration_s=%.1f rate=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f callerrors=%" PRIu64
           " timeouts=%" PRIu64 " start_failed=%d sim_cpu_s=%.1f",
           mode_names[b->o.mode], b->o.chargers, b->connected, b->refused, open_end, b->closed_during_run,
           b->msgs, b->o.duration, rate, hist_pct_ms(&b->h, 50), hist_pct_ms(&b->h, 99),
           (double)b->h.max_us / 1000.0, b->callerrors, b->timeouts, start_failed, cpu);
    if (b->o.mode == MODE_SESSIONS)     /* the StopTransactions alone */
        printf(" stops=%" PRIu64 " stop_p50_ms=%.2f stop_p99_ms=%.2f stop_max_ms=%.2f", b->stops,
               hist_pct_ms(&b->h_stop, 50), hist_pct_ms(&b->h_stop, 99), (double)b->h_stop.max_us / 1000.0);
    putchar('\n');
    fflush(stdout);
    rc = b->connected == 0 || (b->o.mode != MODE_CONNECT && b->msgs == 0) ? 1 : 0;
out:
    if (b->s)
        sim_free(b->s);
    fleet_free(b->fleet);
    if (b->profile_log)
        fclose(b->profile_log);
    for (int i = 0; i < b->nsources; i++)
        free(b->sources[i]);
    free(b->sources);
    free(b->bc);
    free(b);
    return rc;
}
