/*
 * OCPP 1.6 Smart Charging as a charger keeps it: the charging profiles it
 * has accepted (SetChargingProfile), clearing them (ClearChargingProfile),
 * and the limit that follows for each connector at a given instant
 * (section 3.13 of the 1.6 specification). Pure: no socket, no JSON, no
 * clock (every call is given "now"), so that tests/unit/test_sim_profiles.c
 * can check it; tests/sim/answers.c parses the CALLs into these structs and
 * keeps one struct sim_profiles per simulated charger.
 *
 * Rules, as the simulator applies them:
 *  - SetChargingProfile is refused (SIM_PROFILE_REJECTED, with a reason)
 *    when: the connector is not 0..connectors; a ChargePointMaxProfile is
 *    not for connector 0; a TxProfile is for connector 0, or its connector
 *    has no transaction running, or it names another transactionId; the
 *    stackLevel is outside 0..SIM_PROFILE_STACK_MAX; the schedule has no
 *    period or more than SIM_PROFILE_PERIODS, periods not in increasing
 *    startPeriod order, a negative limit or numberPhases outside 1..3; a
 *    Recurring profile lacks its recurrencyKind or startSchedule.
 *  - An accepted profile replaces any profile with the same
 *    chargingProfileId, and any with the same connector, purpose and
 *    stackLevel. A TxProfile is bound to the transaction running when it
 *    was set and removed when that transaction ends (sim_profiles_tx_ended).
 *  - ClearChargingProfile: by id (the other fields then ignored), else every
 *    profile matching all the filters given (none given: all).
 *  - The limit of connector k >= 1 at now: the TxProfile of its running
 *    transaction if one is in force, else a TxDefaultProfile for k, else a
 *    TxDefaultProfile for connector 0; within each, the highest stackLevel
 *    whose schedule has a period in force at now (a profile outside its
 *    validFrom/validTo, before its start, after its duration, or before its
 *    first startPeriod is not in force, and the next lower stackLevel
 *    applies). The result is then capped by the ChargePointMaxProfile in
 *    force, if any. Limits in W become A as W / (230 V * numberPhases),
 *    numberPhases 3 when absent. Connector 0's limit is the
 *    ChargePointMaxProfile's alone.
 *  - The start of a schedule: Absolute, its startSchedule (or, without one,
 *    when the profile was accepted); Relative, the start of the connector's
 *    transaction (without one, now: the first period applies); Recurring,
 *    its startSchedule repeated every day (Daily) or week (Weekly).
 */
#ifndef OCPPGW_SIM_PROFILES_H
#define OCPPGW_SIM_PROFILES_H

#include <stdbool.h>
#include <stdint.h>

#define SIM_PROFILE_PERIODS     24      /* chargingSchedulePeriod entries at most */
#define SIM_PROFILE_STACK_MAX   8       /* the ChargeProfileMaxStackLevel key's value */
#define SIM_PROFILES_MAX        64      /* profiles installed per charger */
#define SIM_PROFILE_CONNECTORS  8       /* connectors per charger at most (1..8) */
#define SIM_PROFILE_VOLTAGE     230.0

enum sim_profile_purpose { SIM_PURPOSE_CHARGE_POINT_MAX, SIM_PURPOSE_TX_DEFAULT, SIM_PURPOSE_TX };
enum sim_profile_kind { SIM_KIND_ABSOLUTE, SIM_KIND_RECURRING, SIM_KIND_RELATIVE };
enum sim_recurrency { SIM_RECUR_NONE, SIM_RECUR_DAILY, SIM_RECUR_WEEKLY };

struct sim_profile_period {
    int start_s;                        /* startPeriod: seconds from the schedule's start */
    double limit;                       /* A or W as the schedule's unit says */
    int phases;                         /* numberPhases, 0 = absent (3) */
};

/* One chargingProfile (csChargingProfiles) with the connector it was set on. */
struct sim_profile {
    int id;                             /* chargingProfileId */
    int connector;
    int transaction_id;                 /* 0: none given; a TxProfile gets its transaction's when accepted */
    int stack_level;
    enum sim_profile_purpose purpose;
    enum sim_profile_kind kind;
    enum sim_recurrency recurrency;
    bool watts;                         /* chargingRateUnit W (else A) */
    bool has_start;
    int64_t start_ms;                   /* startSchedule, Unix ms */
    int duration_s;                     /* 0 = no duration */
    int64_t valid_from_ms, valid_to_ms; /* 0 = absent */
    int64_t accepted_ms;                /* set by sim_profiles_set */
    int nperiods;
    struct sim_profile_period periods[SIM_PROFILE_PERIODS];
};

/* A connector's transaction as the profiles need it (tx_id 0: none). */
struct sim_profile_tx {
    int tx_id;
    int64_t started_ms;                 /* Unix ms */
};

struct sim_profiles {
    int connectors;                     /* 1..SIM_PROFILE_CONNECTORS */
    int n;
    struct sim_profile p[SIM_PROFILES_MAX];
};

void sim_profiles_init(struct sim_profiles *ps, int connectors);

/*
 * SetChargingProfile: checks p against the rules above given the
 * transaction running on p->connector (tx, may be NULL or tx_id 0 = none),
 * and installs it (a copy) at now_ms. Returns true if accepted; else false
 * with *why (optional) set to a static reason.
 */
bool sim_profiles_set(struct sim_profiles *ps, const struct sim_profile *p, const struct sim_profile_tx *tx,
                      int64_t now_ms, const char **why);

/* ClearChargingProfile filters: a field < 0 (purpose: < 0 as int) is absent. */
struct sim_profile_filter {
    int id;
    int connector;
    int purpose;                        /* enum sim_profile_purpose or -1 */
    int stack_level;
};
/* Removes the matching profiles; returns how many (0: the answer is Unknown). */
int sim_profiles_clear(struct sim_profiles *ps, const struct sim_profile_filter *f);

/* The transaction on this connector ended: its TxProfiles go. Returns how many. */
int sim_profiles_tx_ended(struct sim_profiles *ps, int connector, int tx_id);

/*
 * The limit in A for connector (0..connectors) at now_ms, the connector's
 * transaction given as tx (NULL or tx_id 0: none), or a negative value when
 * no profile limits it (the charger's own maximum applies).
 */
double sim_profiles_limit(const struct sim_profiles *ps, int connector, const struct sim_profile_tx *tx,
                          int64_t now_ms);

/* "ChargePointMaxProfile" "TxDefaultProfile" "TxProfile" <-> enum; parse false for anything else. */
const char *sim_profile_purpose_name(enum sim_profile_purpose p);
bool sim_profile_purpose_parse(const char *s, enum sim_profile_purpose *out);

#endif
