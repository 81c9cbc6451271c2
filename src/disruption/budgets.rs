//! Disruption budgets (disruption.md §4; `core: pkg/apis/v1/nodepool.go`, `Budget.IsActive`,
//! `Budget.GetAllowedDisruptions`, `NodePool.MustGetAllowedDisruptions`, and
//! `core: pkg/controllers/disruption/helpers.go`, `BuildDisruptionBudgetMapping`).
//!
//! Owns: compiling a NodePool's `spec.disruption.budgets` once, and answering "how many nodes
//! of this pool may the disruption loop disrupt for this reason at this simulated instant".
//! May not: count nodes (the caller passes `numNodes` and `disrupting`, §4 steps 1–2), read a
//! clock (times are simulated milliseconds since the scenario's `start`) or do I/O.
//!
//! Rules, as Karpenter applies them:
//! - A budget without `schedule`/`duration` is always active. A scheduled budget is active at
//!   `now` iff the first cron hit strictly after `now − duration` is at or before `now`: the
//!   window `[hit, hit + duration)` is half-open. Cron is evaluated in UTC.
//! - An active budget allows `Count(n)` = n nodes, or `Percent(p)` = ceil(numNodes × p / 100)
//!   nodes (so 0 nodes ⇒ 0); an inactive one does not limit.
//! - `allowed(reason)` is the minimum over the active budgets whose `reasons` is absent or
//!   lists the reason (an explicitly empty list matches no reason); with none it is unbounded.
//! - If any budget of the pool is invalid, the pool allows 0 for every reason (fail closed).
//! - `remaining = max(0, allowed − disrupting)`.
//!
//! Evaluation is cached: for each scheduled budget the last answer is kept together with the
//! span of time over which it is known not to change (up to the next window start or end), so
//! the 10-second disruption loop does no cron work on most calls.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Datelike, Utc};
use croner::Cron;

use crate::config::karpenter::cron_error;
use crate::config::{Budget, BudgetNodes, DisruptionReason, NodePool};
use crate::units::SimTime;

/// `allowed` when no active budget applies (Karpenter uses `math.MaxInt32`).
pub const UNBOUNDED: u32 = u32::MAX;

/// Chained window hits examined at most when extending a cached active span.
const MAX_CHAINED_HITS: usize = 64;

/// A disruption reason, as budgets and metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    Empty,
    Drifted,
    Underutilized,
}

impl Reason {
    /// Every reason, in Karpenter's declaration order.
    pub const ALL: [Reason; 3] = [Reason::Empty, Reason::Drifted, Reason::Underutilized];

    /// The name Karpenter uses (`reasons:` entries, the `reason` metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Empty => "Empty",
            Reason::Drifted => "Drifted",
            Reason::Underutilized => "Underutilized",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Reason::Empty => 1,
            Reason::Drifted => 2,
            Reason::Underutilized => 4,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<DisruptionReason> for Reason {
    fn from(r: DisruptionReason) -> Self {
        match r {
            DisruptionReason::Empty => Reason::Empty,
            DisruptionReason::Drifted => Reason::Drifted,
            DisruptionReason::Underutilized => Reason::Underutilized,
        }
    }
}

impl From<Reason> for DisruptionReason {
    fn from(r: Reason) -> Self {
        match r {
            Reason::Empty => DisruptionReason::Empty,
            Reason::Drifted => DisruptionReason::Drifted,
            Reason::Underutilized => DisruptionReason::Underutilized,
        }
    }
}

/// The compiled disruption budgets of one NodePool.
pub struct Budgets {
    /// The scenario's `start`, in epoch milliseconds (simulated time 0).
    start_ms: i64,
    rules: Vec<Rule>,
    /// Set when some budget is invalid: the pool then allows nothing (fail closed).
    invalid: Option<String>,
    /// One entry per rule; used only by scheduled rules.
    cache: Mutex<Vec<Span>>,
}

/// One compiled budget.
#[derive(Debug, Clone)]
struct Rule {
    nodes: BudgetNodes,
    /// Bit set of `Reason::bit`; all bits when `reasons` is absent.
    reasons: u8,
    schedule: Option<Schedule>,
}

/// A budget's `schedule` and `duration`.
#[derive(Debug, Clone)]
struct Schedule {
    cron: Cron,
    /// `duration` (0 when absent, as Karpenter's `lo.FromPtr` reads it).
    duration_ms: i64,
    /// The pattern matches no instant at all (`0 0 30 2 *`): always active (see
    /// [`Schedule::active_at`]), decided once because the search for a hit is long.
    never_matches: bool,
}

/// A cached answer: the schedule is `active` (or not) at every epoch millisecond of
/// `[from, until)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    from: i64,
    until: i64,
    active: bool,
}

impl Span {
    /// Contains no instant.
    const NONE: Span = Span {
        from: 0,
        until: 0,
        active: false,
    };

    fn contains(&self, t: i64) -> bool {
        self.from <= t && t < self.until
    }
}

impl Budgets {
    /// Compiles a NodePool's budget list. `start` is the UTC instant of simulated time 0.
    ///
    /// The list is taken as written: the config layer already substitutes Karpenter's CRD
    /// default (one `nodes: "10%"` budget) when `budgets` is omitted. An explicitly empty list
    /// (`budgets: []`) is not defaulted by the API server, so Karpenter then has no budget and
    /// disruption is unbounded; that is reproduced here.
    pub fn new(budgets: &[Budget], start: DateTime<Utc>) -> Budgets {
        let mut rules = Vec::with_capacity(budgets.len());
        let mut problems = Vec::new();
        for (i, b) in budgets.iter().enumerate() {
            match compile(b) {
                Ok(rule) => rules.push(rule),
                Err(msg) => problems.push(format!("budgets[{i}]: {msg}")),
            }
        }
        let invalid = (!problems.is_empty()).then(|| problems.join("; "));
        let cache = Mutex::new(vec![Span::NONE; rules.len()]);
        Budgets {
            start_ms: start.timestamp_millis(),
            rules,
            invalid,
            cache,
        }
    }

    /// Compiles `pool.spec.disruption.budgets`.
    pub fn for_pool(pool: &NodePool, start: DateTime<Utc>) -> Budgets {
        Budgets::new(&pool.spec.disruption.budgets, start)
    }

    /// Why the pool fails closed (allows 0 for every reason), if it does.
    pub fn invalid(&self) -> Option<&str> {
        self.invalid.as_deref()
    }

    /// Nodes the pool's budgets allow to be disrupting for `reason` at `now_ms` (simulated
    /// milliseconds since `start`), given `num_nodes` counted per §4 step 1 (managed,
    /// initialized, not `InstanceTerminating`). [`UNBOUNDED`] when no active budget applies.
    /// This is the value of `karpenter_nodepools_allowed_disruptions`.
    pub fn allowed(&self, now_ms: SimTime, num_nodes: u32, reason: Reason) -> u32 {
        self.evaluate(now_ms, num_nodes, reason, true)
    }

    /// Nodes the disruption loop may additionally start disrupting now:
    /// `max(0, allowed − disrupting)`, with `disrupting` counted per §4 step 2 (NotReady or
    /// marked for deletion, for any cause).
    pub fn remaining(
        &self,
        now_ms: SimTime,
        num_nodes: u32,
        disrupting: u32,
        reason: Reason,
    ) -> u32 {
        self.allowed(now_ms, num_nodes, reason)
            .saturating_sub(disrupting)
    }

    /// The earliest simulated time after `now_ms` at which a schedule window may open or
    /// close; the answers of [`Budgets::allowed`] for a fixed `num_nodes` are constant until
    /// then. It may be earlier than the real change (a conservative bound). `None` when no
    /// schedule can change the answers any more (unscheduled or fail-closed pools).
    pub fn next_change_ms(&self, now_ms: SimTime) -> Option<SimTime> {
        if self.invalid.is_some() {
            return None;
        }
        let t = self.epoch_ms(now_ms);
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next: Option<i64> = None;
        for (rule, span) in self.rules.iter().zip(cache.iter_mut()) {
            let Some(s) = &rule.schedule else { continue };
            if !span.contains(t) {
                *span = s.span_at(t);
            }
            if span.until != i64::MAX {
                next = Some(next.map_or(span.until, |n| n.min(span.until)));
            }
        }
        next.map(|u| u.saturating_sub(self.start_ms).max(0) as SimTime)
    }

    fn epoch_ms(&self, now_ms: SimTime) -> i64 {
        self.start_ms
            .saturating_add(i64::try_from(now_ms).unwrap_or(i64::MAX))
    }

    /// `allowed`, with (`cached`) or without the span cache.
    fn evaluate(&self, now_ms: SimTime, num_nodes: u32, reason: Reason, cached: bool) -> u32 {
        if self.invalid.is_some() {
            return 0;
        }
        let t = self.epoch_ms(now_ms);
        let bit = reason.bit();
        let mut allowed = UNBOUNDED;
        let mut cache = None;
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.reasons & bit == 0 {
                continue;
            }
            let active = match &rule.schedule {
                None => true,
                Some(s) if !cached => s.active_at(t),
                Some(s) => {
                    let spans = cache.get_or_insert_with(|| {
                        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
                    });
                    let span = &mut spans[i];
                    if !span.contains(t) {
                        *span = s.span_at(t);
                    }
                    span.active
                }
            };
            if active {
                allowed = allowed.min(rule.limit(num_nodes));
            }
        }
        allowed
    }
}

impl Default for Budgets {
    /// Karpenter's default for an omitted `budgets`: one `nodes: "10%"` budget for every
    /// reason. It has no schedule, so the `start` it is compiled with does not matter.
    fn default() -> Self {
        Budgets::new(&[Budget::default()], DateTime::UNIX_EPOCH)
    }
}

impl Clone for Budgets {
    fn clone(&self) -> Self {
        let spans = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Budgets {
            start_ms: self.start_ms,
            rules: self.rules.clone(),
            invalid: self.invalid.clone(),
            cache: Mutex::new(spans),
        }
    }
}

impl fmt::Debug for Budgets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budgets")
            .field("start_ms", &self.start_ms)
            .field("rules", &self.rules)
            .field("invalid", &self.invalid)
            .finish_non_exhaustive()
    }
}

impl Rule {
    /// The nodes this budget allows while active.
    fn limit(&self, num_nodes: u32) -> u32 {
        match self.nodes {
            BudgetNodes::Count(n) => n,
            // Rounded up, like Kubernetes' maxUnavailable: 5% of 10 nodes allows 1.
            BudgetNodes::Percent(p) => {
                let scaled = (u64::from(num_nodes) * u64::from(p)).div_ceil(100);
                u32::try_from(scaled).unwrap_or(u32::MAX)
            }
        }
    }
}

/// Compiles one budget, or says why it is invalid.
fn compile(b: &Budget) -> Result<Rule, String> {
    if let BudgetNodes::Percent(p) = b.nodes
        && p > 100
    {
        return Err(format!("nodes `{p}%` is above 100%"));
    }
    let reasons = match &b.reasons {
        None => Reason::ALL.iter().fold(0, |m, r| m | r.bit()),
        Some(list) => list.iter().fold(0, |m, r| m | Reason::from(*r).bit()),
    };
    let schedule = match (&b.schedule, b.duration_ms) {
        (None, None) => None,
        // Karpenter parses `TZ=UTC ` + an empty schedule: an error.
        (None, Some(_)) => return Err("`duration` is set without `schedule`".to_string()),
        (Some(s), d) => {
            let cron = parse_schedule(s)?;
            // croner searches up to the year 5000, and the Gregorian calendar repeats every
            // 400 years: no hit after 1970 means no hit ever.
            let never_matches = cron
                .find_next_occurrence(&DateTime::UNIX_EPOCH, false)
                .is_err();
            Some(Schedule {
                cron,
                duration_ms: i64::try_from(d.unwrap_or(0)).unwrap_or(i64::MAX),
                never_matches,
            })
        }
    };
    Ok(Rule {
        nodes: b.nodes,
        reasons,
        schedule,
    })
}

/// Parses a schedule the way the config validates it (5 cron fields or a macro), with the
/// macros expanded as robfig/cron (Karpenter's parser) expands them. A pattern croner accepts
/// but robfig/cron rejects (`L`, `W`, `#`, weekday 7, a wrapping range such as `tue-mon`) is
/// an error, as it is for Karpenter at run time.
fn parse_schedule(s: &str) -> Result<Cron, String> {
    let t = s.trim();
    if !t.starts_with('@') {
        robfig_check(t).map_err(|e| format!("`{s}` is not a valid cron schedule: {e}"))?;
    }
    if let Some((msg, _)) = cron_error(s) {
        return Err(msg);
    }
    let pattern = match t {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        other => other,
    };
    pattern
        .parse::<Cron>()
        .map_err(|e| format!("`{s}` is not a valid cron schedule: {e}"))
}

const MONTH_NAMES: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DOW_NAMES: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// robfig/cron v3's standard-parser field checks (`parser.go`, `getRange`): per field a
/// comma-separated list of `*`/`?`/`N`/`N-M`, each optionally `/step`, within the field's
/// bounds (weekday 0–6), with month and weekday names.
fn robfig_check(pattern: &str) -> Result<(), String> {
    let fields: Vec<&str> = pattern.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!("expected exactly 5 fields, found {}", fields.len()));
    }
    let bounds: [(u64, u64, u64, &[&str]); 5] = [
        (0, 59, 0, &[]),
        (0, 23, 0, &[]),
        (1, 31, 0, &[]),
        (1, 12, 1, MONTH_NAMES),
        (0, 6, 0, DOW_NAMES),
    ];
    for (field, (min, max, first_name, names)) in fields.iter().zip(bounds) {
        let number = |s: &str| -> Result<u64, String> {
            if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
                return Ok(first_name + i as u64);
            }
            // Go's strconv.Atoi: optional sign, decimal digits.
            let v: i64 = s
                .parse()
                .map_err(|_| format!("failed to parse int from {s}"))?;
            u64::try_from(v).map_err(|_| format!("negative number ({v}) not allowed: {s}"))
        };
        for expr in field.split(',').filter(|e| !e.is_empty()) {
            let mut range_step = expr.split('/');
            let range = range_step.next().unwrap_or("");
            let step = range_step.next();
            if range_step.next().is_some() {
                return Err(format!("too many slashes: {expr}"));
            }
            let parts: Vec<&str> = range.split('-').collect();
            let (start, mut end) = if parts[0] == "*" || parts[0] == "?" {
                (min, max)
            } else {
                let start = number(parts[0])?;
                match parts.len() {
                    1 => (start, start),
                    2 => (start, number(parts[1])?),
                    _ => return Err(format!("too many hyphens: {expr}")),
                }
            };
            if let Some(step) = step {
                let step = number_only(step)?;
                if parts.len() == 1 {
                    end = max;
                }
                if step == 0 {
                    return Err(format!("step of range should be a positive number: {expr}"));
                }
            }
            if start < min {
                return Err(format!(
                    "beginning of range ({start}) below minimum ({min}): {expr}"
                ));
            }
            if end > max {
                return Err(format!(
                    "end of range ({end}) above maximum ({max}): {expr}"
                ));
            }
            if start > end {
                return Err(format!(
                    "beginning of range ({start}) beyond end of range ({end}): {expr}"
                ));
            }
        }
    }
    Ok(())
}

/// A step: Go's strconv.Atoi, non-negative.
fn number_only(s: &str) -> Result<u64, String> {
    let v: i64 = s
        .parse()
        .map_err(|_| format!("failed to parse int from {s}"))?;
    u64::try_from(v).map_err(|_| format!("negative number ({v}) not allowed: {s}"))
}

impl Schedule {
    /// Karpenter's `IsActive`: the first hit strictly after `t − duration` is at or before `t`.
    fn active_at(&self, t: i64) -> bool {
        if self.never_matches {
            return true;
        }
        match next_hit_after(&self.cron, t.saturating_sub(self.duration_ms)) {
            Some(hit) => hit <= t,
            // robfig/cron returns the zero time when nothing matches, which is not after now.
            None => true,
        }
    }

    /// The answer at `t` and how long it is known to hold.
    fn span_at(&self, t: i64) -> Span {
        if self.never_matches {
            return Span {
                from: i64::MIN,
                until: i64::MAX,
                active: true,
            };
        }
        let d = self.duration_ms;
        let checkpoint = t.saturating_sub(d);
        match next_hit_after(&self.cron, checkpoint) {
            // No hit in the search horizon (zero-time quirk): active until the horizon moves
            // a year on.
            None => {
                let until = horizon_moves_at(checkpoint).map_or(i64::MAX, |c| c.saturating_add(d));
                Span {
                    from: t,
                    until: until.max(t.saturating_add(1)),
                    active: true,
                }
            }
            // Inactive until the hit opens the next window.
            Some(hit) if hit > t => Span {
                from: t,
                until: hit,
                active: false,
            },
            // Active through this window and any later one that starts before it closes.
            Some(mut hit) => {
                let mut until = hit.saturating_add(d);
                for _ in 0..MAX_CHAINED_HITS {
                    match next_hit_after(&self.cron, hit) {
                        Some(next) if next <= until => {
                            hit = next;
                            until = next.saturating_add(d);
                        }
                        _ => break,
                    }
                }
                Span {
                    from: t,
                    until,
                    active: true,
                }
            }
        }
    }
}

/// Where robfig/cron's `Next(after)` starts searching: the next whole second after `after`.
fn search_start(after: i64) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(after.div_euclid(1000).checked_add(1)?, 0)
}

/// The first cron hit strictly after epoch millisecond `after`, in epoch milliseconds; `None`
/// where robfig/cron's `Next` gives up (no hit through the fifth calendar year after the year
/// its search starts in) or the time is out of range.
fn next_hit_after(cron: &Cron, after: i64) -> Option<i64> {
    // Hits fall on whole seconds, so the first hit after `after` is the first at or after
    // the next whole second.
    let from = search_start(after)?;
    let hit = cron.find_next_occurrence(&from, true).ok()?;
    if hit.year() > from.year() + 5 {
        return None;
    }
    Some(hit.timestamp_millis())
}

/// The smallest search argument after `after` whose search starts in a later UTC year (so
/// robfig/cron's five-year horizon moves).
fn horizon_moves_at(after: i64) -> Option<i64> {
    let year = search_start(after)?.year();
    let next = chrono::NaiveDate::from_ymd_opt(year + 1, 1, 1)?.and_hms_opt(0, 0, 0)?;
    Some(next.and_utc().timestamp_millis() - 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, TimeDelta, TimeZone};

    const SEC: u64 = 1_000;
    const MIN: u64 = 60 * SEC;
    const HOUR: u64 = 60 * MIN;
    const DAY: u64 = 24 * HOUR;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    /// Monday 2024-01-01 00:00 UTC, the scenario default `start`.
    fn monday() -> DateTime<Utc> {
        utc(2024, 1, 1, 0, 0, 0)
    }

    fn pct(p: u8) -> Budget {
        Budget {
            nodes: BudgetNodes::Percent(p),
            ..Budget::default()
        }
    }

    fn count(n: u32) -> Budget {
        Budget {
            nodes: BudgetNodes::Count(n),
            ..Budget::default()
        }
    }

    fn scheduled(nodes: BudgetNodes, schedule: &str, duration_ms: u64) -> Budget {
        Budget {
            nodes,
            schedule: Some(schedule.to_string()),
            duration_ms: Some(duration_ms),
            reasons: None,
        }
    }

    fn with_reasons(mut b: Budget, reasons: &[DisruptionReason]) -> Budget {
        b.reasons = Some(reasons.to_vec());
        b
    }

    /// `allowed` for every reason, in `Reason::ALL` order.
    fn all(b: &Budgets, now_ms: u64, num_nodes: u32) -> [u32; 3] {
        Reason::ALL.map(|r| b.allowed(now_ms, num_nodes, r))
    }

    /// Active-ness of a single unconditional-nodes scheduled budget at `at`.
    fn active(schedule: &str, duration_ms: u64, at: DateTime<Utc>) -> bool {
        let b = Budgets::new(
            &[scheduled(BudgetNodes::Count(0), schedule, duration_ms)],
            at,
        );
        let cached = b.allowed(0, 10, Reason::Empty) == 0;
        let uncached = b.evaluate(0, 10, Reason::Empty, false) == 0;
        assert_eq!(cached, uncached, "{schedule} {duration_ms} at {at}");
        cached
    }

    #[test]
    fn reason_names_and_conversions() {
        assert_eq!(Reason::Empty.as_str(), "Empty");
        assert_eq!(Reason::Drifted.as_str(), "Drifted");
        assert_eq!(Reason::Underutilized.to_string(), "Underutilized");
        for r in [
            DisruptionReason::Empty,
            DisruptionReason::Drifted,
            DisruptionReason::Underutilized,
        ] {
            assert_eq!(DisruptionReason::from(Reason::from(r)), r);
        }
    }

    #[test]
    fn default_budget_is_ten_percent_rounded_up() {
        // karpenter: pkg/apis/v1/nodepool_default_test.go "should default the disruption stanza when undefined" (budgets = [{nodes: 10%}])
        let b = Budgets::new(&[Budget::default()], monday());
        assert_eq!(all(&b, 0, 10), [1, 1, 1]);
        // karpenter: pkg/apis/v1/nodepool.go GetAllowedDisruptions (5% of 10 nodes rounds up to 1)
        assert_eq!(b.allowed(0, 1, Reason::Empty), 1);
        assert_eq!(b.allowed(0, 11, Reason::Empty), 2);
        assert_eq!(b.allowed(0, 20, Reason::Empty), 2);
        // karpenter: pkg/apis/v1/nodepool.go GetAllowedDisruptions (intstr scaled value of 0 nodes is 0)
        assert_eq!(all(&b, 0, 0), [0, 0, 0]);
    }

    #[test]
    fn percentages_round_up() {
        // disruption.md §4 worked example: 19 nodes at 20% ⇒ ceil(3.8) = 4
        let b = Budgets::new(&[pct(20)], monday());
        assert_eq!(b.allowed(0, 19, Reason::Drifted), 4);
        // karpenter: pkg/controllers/disruption/emptiness_test.go "should only allow 3 empty nodes to be disrupted" (30% of 10)
        let b = Budgets::new(&[pct(30)], monday());
        assert_eq!(b.allowed(0, 10, Reason::Empty), 3);
        // karpenter: pkg/apis/v1/nodepool_budgets_test.go "should return the string value when a budget is active" (100% of 100)
        let b = Budgets::new(&[pct(100)], monday());
        assert_eq!(b.allowed(0, 100, Reason::Empty), 100);
        assert_eq!(b.allowed(0, 0, Reason::Empty), 0);
        // No overflow at the top of the range.
        assert_eq!(b.allowed(0, u32::MAX, Reason::Empty), u32::MAX);
    }

    #[test]
    fn count_budgets_ignore_the_node_count() {
        // karpenter: pkg/apis/v1/nodepool_budgets_test.go "should return the int value when a budget is active"
        let b = Budgets::new(&[count(10)], monday());
        assert_eq!(all(&b, 0, 100), [10, 10, 10]);
        assert_eq!(all(&b, 0, 3), [10, 10, 10]);
        assert_eq!(all(&b, 0, 0), [10, 10, 10]);
    }

    #[test]
    fn zero_budgets_block() {
        // karpenter: pkg/controllers/disruption/emptiness_test.go "should allow no empty nodes to be disrupted" (0%)
        let b = Budgets::new(&[pct(0)], monday());
        assert_eq!(all(&b, 0, 10), [0, 0, 0]);
        // karpenter: pkg/controllers/disruption/consolidation_test.go "should allow no nodes from each nodePool to be deleted" (nodes: "0")
        let b = Budgets::new(&[count(0)], monday());
        assert_eq!(all(&b, 0, 10), [0, 0, 0]);
        assert_eq!(b.remaining(0, 10, 0, Reason::Underutilized), 0);
    }

    #[test]
    fn explicitly_empty_budget_list_is_unbounded() {
        // karpenter: pkg/apis/v1/nodepool.go GetAllowedDisruptionsByReason (no budget ⇒ math.MaxInt32;
        // the CRD default applies only when `budgets` is omitted, which the config layer handles)
        let b = Budgets::new(&[], monday());
        assert_eq!(all(&b, 0, 10), [UNBOUNDED; 3]);
        assert_eq!(b.remaining(0, 10, 4, Reason::Empty), UNBOUNDED - 4);
        assert_eq!(b.next_change_ms(0), None);
    }

    #[test]
    fn seed_guide_business_hours_block_drift_and_consolidation_only() {
        // karpenter: pkg/apis/v1/nodepool.go IsActive (window [hit, hit+duration), UTC); seed guide budgets
        let b = Budgets::new(
            &[
                pct(20),
                with_reasons(
                    scheduled(BudgetNodes::Count(0), "0 9 * * mon-fri", 8 * HOUR),
                    &[DisruptionReason::Drifted, DisruptionReason::Underutilized],
                ),
            ],
            monday(),
        );
        let open = [2, 2, 2];
        let business = [2, 0, 0];
        // Monday (2024-01-01 is a Monday).
        assert_eq!(all(&b, 0, 10), open);
        assert_eq!(all(&b, 9 * HOUR - 1, 10), open);
        assert_eq!(all(&b, 9 * HOUR, 10), business, "active at exactly 09:00");
        assert_eq!(all(&b, 12 * HOUR, 10), business);
        assert_eq!(all(&b, 17 * HOUR - 1, 10), business);
        assert_eq!(all(&b, 17 * HOUR, 10), open, "inactive at exactly 17:00");
        // Friday 10:00 blocks, Saturday and Sunday 10:00 do not, next Monday 09:00 does.
        assert_eq!(all(&b, 4 * DAY + 10 * HOUR, 10), business);
        assert_eq!(all(&b, 5 * DAY + 10 * HOUR, 10), open);
        assert_eq!(all(&b, 6 * DAY + 10 * HOUR, 10), open);
        assert_eq!(all(&b, 7 * DAY + 9 * HOUR, 10), business);
        // The same schedule with numeric weekdays.
        let numeric = Budgets::new(
            &[scheduled(BudgetNodes::Count(0), "0 9 * * 1-5", 8 * HOUR)],
            monday(),
        );
        for t in (0..7 * DAY).step_by((30 * MIN) as usize) {
            assert_eq!(
                numeric.allowed(t, 10, Reason::Drifted) == 0,
                b.allowed(t, 10, Reason::Drifted) == 0,
                "t={t}"
            );
        }
    }

    #[test]
    fn karpenter_is_active_cases() {
        let june = utc(2000, 6, 15, 12, 30, 30);
        // karpenter: pkg/apis/v1/nodepool_budgets_test.go "should return that a schedule is active"
        assert!(active("* * * * *", HOUR, june));
        // karpenter: pkg/apis/v1/nodepool_budgets_test.go "should return that a schedule is inactive"
        assert!(!active("@yearly", HOUR, june));
        // karpenter: pkg/apis/v1/nodepool_budgets_test.go "should return that a schedule is active when the schedule hit is in the middle of the duration"
        assert!(active("@yearly", 24 * HOUR, utc(1000, 1, 1, 12, 0, 0)));
        // karpenter: pkg/apis/v1/nodepool_budgets_test.go "should return that a schedule is active when the duration is longer than the recurrence"
        assert!(active("@daily", 48 * HOUR, utc(2024, 1, 7, 0, 0, 0)));
        // karpenter: pkg/apis/v1/nodepool_budgets_test.go "should return that a schedule is inactive when the schedule hit is after the duration"
        assert!(!active("30 6 * * SUN", 6 * HOUR, utc(2024, 1, 7, 0, 0, 0)));
        // karpenter: pkg/apis/v1/nodepool_budgets_test.go "should always consider a schedule and time in UTC"
        // (time.Date(2000, June, 0, ...) in a +01:00 zone is 2000-05-30 23:00 UTC)
        let plus_one = FixedOffset::east_opt(3600).unwrap();
        let local = plus_one.with_ymd_and_hms(2000, 5, 31, 0, 0, 0).unwrap();
        assert!(!active("@daily", 30 * MIN, local.with_timezone(&Utc)));
        // ...whereas 2000-05-31 00:00 UTC itself is inside the window.
        assert!(active("@daily", 30 * MIN, utc(2000, 5, 31, 0, 0, 0)));
        // karpenter: pkg/apis/v1/nodepool_budgets_test.go "should return that a schedule is active when schedule and duration are nil"
        let b = Budgets::new(&[count(3)], june);
        assert_eq!(b.allowed(0, 100, Reason::Empty), 3);
    }

    #[test]
    fn window_is_half_open() {
        // karpenter: pkg/apis/v1/nodepool.go IsActive (!Next(now - duration).After(now); Next is strictly after)
        let hit = utc(2024, 1, 3, 0, 0, 0);
        assert!(!active("@daily", HOUR, hit - TimeDelta::milliseconds(1)));
        assert!(active("@daily", HOUR, hit));
        assert!(active(
            "@daily",
            HOUR,
            hit + TimeDelta::milliseconds(3_599_999)
        ));
        assert!(!active("@daily", HOUR, hit + TimeDelta::hours(1)));
        // A schedule without a duration never opens (config requires both; Karpenter reads 0).
        let b = Budgets::new(
            &[Budget {
                nodes: BudgetNodes::Count(0),
                schedule: Some("* * * * *".into()),
                duration_ms: None,
                reasons: None,
            }],
            monday(),
        );
        for t in [0, MIN, MIN + 1, 59 * SEC] {
            assert_eq!(b.allowed(t, 10, Reason::Empty), UNBOUNDED, "t={t}");
        }
    }

    #[test]
    fn macros() {
        // karpenter: pkg/apis/v1/nodepool.go Budget.Schedule pattern (@annually|@yearly|@monthly|@weekly|@daily|@midnight|@hourly)
        let mon = monday();
        for m in ["@daily", "@midnight"] {
            assert!(active(m, HOUR, mon), "{m}");
            assert!(active(m, HOUR, mon + TimeDelta::minutes(59)), "{m}");
            assert!(!active(m, HOUR, mon + TimeDelta::hours(1)), "{m}");
            assert!(active(m, HOUR, mon + TimeDelta::days(3)), "{m}");
        }
        // @weekly is Sunday 00:00: 2024-01-07.
        assert!(!active("@weekly", HOUR, mon));
        assert!(!active("@weekly", HOUR, utc(2024, 1, 6, 0, 0, 0)));
        assert!(active("@weekly", HOUR, utc(2024, 1, 7, 0, 30, 0)));
        // @hourly with 15 minutes.
        assert!(active("@hourly", 15 * MIN, utc(2024, 1, 1, 5, 14, 59)));
        assert!(!active("@hourly", 15 * MIN, utc(2024, 1, 1, 5, 15, 0)));
        // @monthly and @yearly/@annually open on the 1st / Jan 1st.
        assert!(active("@monthly", DAY, utc(2024, 2, 1, 23, 0, 0)));
        assert!(!active("@monthly", DAY, utc(2024, 2, 2, 0, 0, 0)));
        for m in ["@yearly", "@annually"] {
            assert!(active(m, DAY, mon), "{m}");
            assert!(!active(m, DAY, utc(2024, 1, 2, 0, 0, 0)), "{m}");
        }
    }

    /// The six budgets of Karpenter's `nodepool_budgets_test.go` fixture.
    fn karpenter_fixture() -> Vec<Budget> {
        use DisruptionReason::*;
        let every_minute = |n| scheduled(BudgetNodes::Count(n), "* * * * *", HOUR);
        vec![
            every_minute(10),
            every_minute(100),
            scheduled(BudgetNodes::Percent(100), "* * * * *", HOUR),
            with_reasons(every_minute(15), &[Drifted, Underutilized]),
            with_reasons(every_minute(5), &[Drifted]),
            with_reasons(
                scheduled(BudgetNodes::Count(0), "@weekly", HOUR),
                &[Underutilized, Drifted, Empty],
            ),
        ]
    }

    #[test]
    fn multiple_budgets_take_the_minimum() {
        let june = utc(2000, 6, 15, 12, 30, 30);
        // karpenter: pkg/apis/v1/nodepool_budgets_test.go "should get the minimum budget for each reason"
        let mut budgets = karpenter_fixture();
        budgets.push(with_reasons(
            scheduled(BudgetNodes::Count(4), "* * * * *", HOUR),
            &[DisruptionReason::Empty],
        ));
        let b = Budgets::new(&budgets, june);
        assert_eq!(b.allowed(0, 100, Reason::Empty), 4);
        assert_eq!(b.allowed(0, 100, Reason::Drifted), 5);
        assert_eq!(b.allowed(0, 100, Reason::Underutilized), 10);

        // karpenter: pkg/apis/v1/nodepool_budgets_test.go "should return 0 for all reasons if a budget is active for all reasons"
        let mut budgets = karpenter_fixture();
        budgets[5].schedule = Some("* * * * *".into());
        assert_eq!(all(&Budgets::new(&budgets, june), 0, 100), [0, 0, 0]);

        // karpenter: pkg/apis/v1/nodepool_budgets_test.go "should return MaxInt32 for all reasons when there are no active budgets"
        let mut budgets = karpenter_fixture();
        for b in &mut budgets {
            b.schedule = Some("@yearly".into());
        }
        assert_eq!(all(&Budgets::new(&budgets, june), 0, 100), [UNBOUNDED; 3]);

        // karpenter: pkg/apis/v1/nodepool_budgets_test.go "should ignore reason-defined budgets when inactive"
        let mut budgets = karpenter_fixture();
        budgets[3].schedule = Some("@yearly".into());
        budgets[4].schedule = Some("@yearly".into());
        assert_eq!(all(&Budgets::new(&budgets, june), 0, 100), [10, 10, 10]);

        // karpenter: pkg/apis/v1/nodepool_budgets_test.go "should return the budget for all disruption reasons when undefined"
        let b = Budgets::new(&karpenter_fixture()[..1], june);
        assert_eq!(all(&b, 0, 100), [10, 10, 10]);

        // Unscheduled: the smaller of a count and a percentage, depending on pool size.
        let b = Budgets::new(&[pct(10), count(3)], monday());
        assert_eq!(b.allowed(0, 10, Reason::Empty), 1);
        assert_eq!(b.allowed(0, 100, Reason::Empty), 3);
    }

    #[test]
    fn reasons_filter_budgets() {
        use DisruptionReason::*;
        // karpenter: pkg/apis/v1/nodepool.go GetAllowedDisruptionsByReason (Reasons == nil || contains reason)
        let b = Budgets::new(
            &[
                with_reasons(count(2), &[Empty]),
                with_reasons(count(1), &[Drifted, Underutilized]),
            ],
            monday(),
        );
        assert_eq!(all(&b, 0, 50), [2, 1, 1]);
        let b = Budgets::new(&[with_reasons(count(0), &[Underutilized])], monday());
        assert_eq!(all(&b, 0, 50), [UNBOUNDED, UNBOUNDED, 0]);
        // disruption.md §4 step 6: an explicitly empty `reasons: []` matches no reason.
        let b = Budgets::new(&[with_reasons(count(0), &[]), pct(10)], monday());
        assert_eq!(all(&b, 0, 50), [5, 5, 5]);
        let b = Budgets::new(&[with_reasons(count(0), &[])], monday());
        assert_eq!(all(&b, 0, 50), [UNBOUNDED; 3]);
    }

    #[test]
    fn invalid_budgets_fail_closed_for_every_reason() {
        use DisruptionReason::*;
        // karpenter: pkg/apis/v1/nodepool_budgets_test.go "should return zero values if a schedule is invalid"
        let bad = |s: &str| scheduled(BudgetNodes::Count(10), s, HOUR);
        let b = Budgets::new(&[bad("@wrongly")], monday());
        assert!(
            b.invalid().unwrap().contains("@wrongly"),
            "{:?}",
            b.invalid()
        );
        assert_eq!(all(&b, 0, 100), [0, 0, 0]);
        // karpenter: pkg/apis/v1/nodepool.go MustGetAllowedDisruptions (any budget error ⇒ 0 for every reason)
        let b = Budgets::new(
            &[pct(100), with_reasons(bad("61 * * * *"), &[Drifted])],
            monday(),
        );
        assert_eq!(all(&b, 0, 100), [0, 0, 0]);
        assert_eq!(b.remaining(0, 100, 0, Reason::Empty), 0);
        assert_eq!(b.next_change_ms(0), None);
        // Even a budget that applies to no reason, and at any time.
        let b = Budgets::new(&[pct(100), with_reasons(bad("0 9 * *"), &[])], monday());
        assert_eq!(all(&b, 3 * DAY, 100), [0, 0, 0]);
        // karpenter: pkg/apis/v1/nodepool_budgets_test.go "should return an error indicating why the cron fails to parse"
        let b = Budgets::new(&[bad("0 0 * * tue-mon")], monday());
        assert!(
            b.invalid()
                .unwrap()
                .contains("beginning of range (2) beyond end of range (1)"),
            "{:?}",
            b.invalid()
        );
        assert_eq!(all(&b, 0, 100), [0, 0, 0]);
        // Accepted by croner, rejected by robfig/cron (Karpenter's parser): fail closed.
        for s in [
            "0 0 * * 7",
            "0 0 L * *",
            "0 0 1W * *",
            "0 0 * * MON#2",
            "0 0 * * 5L",
            "60 * * * *",
        ] {
            let b = Budgets::new(&[bad(s)], monday());
            assert!(b.invalid().is_some(), "`{s}` should be invalid");
            assert_eq!(all(&b, 0, 100), [0, 0, 0], "`{s}`");
        }
        // ...while robfig/cron's own forms stay valid.
        for s in [
            "0 9 * * MON-FRI",
            "0 9 * * mon-fri",
            "*/15 * * * *",
            "0 0 ? * *",
            "0,30 8-18 * jan-mar,DEC 1-5",
            "0-59/10 0 1 * *",
        ] {
            let b = Budgets::new(&[bad(s)], monday());
            assert!(b.invalid().is_none(), "`{s}`: {:?}", b.invalid());
        }
        for s in ["", "@every 5m", "* * * * * *", "0 25 * * *", "@daily x"] {
            let b = Budgets::new(&[bad(s)], monday());
            assert!(b.invalid().is_some(), "`{s}` should be invalid");
            assert_eq!(all(&b, 0, 100), [0, 0, 0], "`{s}`");
        }
        // karpenter: pkg/apis/v1/nodepool_budgets_test.go "should return zero values if a nodes value is invalid"
        let b = Budgets::new(&[pct(150)], monday());
        assert!(b.invalid().is_some());
        assert_eq!(all(&b, 0, 100), [0, 0, 0]);
        // Karpenter parses `TZ=UTC ` for a duration without a schedule: an error.
        let b = Budgets::new(
            &[Budget {
                nodes: BudgetNodes::Count(5),
                schedule: None,
                duration_ms: Some(HOUR),
                reasons: None,
            }],
            monday(),
        );
        assert_eq!(all(&b, 0, 100), [0, 0, 0]);
    }

    #[test]
    fn schedule_that_never_matches_is_always_active() {
        // karpenter: pkg/apis/v1/nodepool.go IsActive (robfig/cron Next returns the zero time when
        // nothing matches within five years, and the zero time is not after now)
        let b = Budgets::new(
            &[scheduled(BudgetNodes::Count(0), "0 0 30 2 *", HOUR)],
            monday(),
        );
        assert!(b.invalid().is_none());
        for t in [0, 3 * HOUR, 40 * DAY, 400 * DAY] {
            assert_eq!(all(&b, t, 10), [0, 0, 0], "t={t}");
            assert_eq!(b.evaluate(t, 10, Reason::Empty, false), 0);
        }
        // Feb 29 (no 2100): active while the next one is more than five calendar years ahead
        // of `now − duration`, then a normal schedule again.
        let leap = "0 0 29 2 *";
        assert!(!active(leap, HOUR, monday()));
        assert!(active(leap, HOUR, utc(2024, 2, 29, 0, 30, 0)));
        assert!(!active(leap, HOUR, utc(2096, 2, 28, 23, 0, 0)));
        // From the end of the 2096 window on, the next hit (2104) is past the horizon.
        assert!(active(leap, HOUR, utc(2096, 2, 29, 1, 0, 0)));
        assert!(active(leap, HOUR, utc(2096, 3, 1, 0, 0, 0)));
        assert!(active(leap, HOUR, utc(2098, 12, 31, 23, 0, 0)));
        assert!(!active(leap, HOUR, utc(2099, 1, 1, 1, 0, 0)));
        assert!(active(leap, HOUR, utc(2104, 2, 29, 0, 59, 59)));
        // The cache crosses the instant the horizon reaches the hit: robfig/cron searches from
        // the next whole second after `now − 1h`, so the horizon moves to 2104 once that is
        // 2099-01-01 00:00:00, i.e. at now = 2099-01-01 00:59:59.
        let b = Budgets::new(
            &[scheduled(BudgetNodes::Count(0), leap, HOUR)],
            utc(2098, 12, 31, 0, 0, 0),
        );
        let edge = DAY + HOUR - SEC;
        let probes = (0..3 * DAY)
            .step_by((10 * MIN) as usize)
            .chain((edge - 1_500..edge + 1_500).step_by(250));
        for t in probes {
            assert_eq!(
                b.allowed(t, 10, Reason::Empty),
                b.evaluate(t, 10, Reason::Empty, false),
                "t={t}"
            );
        }
        assert_eq!(b.allowed(edge - 1, 10, Reason::Empty), 0);
        assert_eq!(b.allowed(edge, 10, Reason::Empty), UNBOUNDED);
        assert_eq!(b.next_change_ms(0), Some(edge));
    }

    #[test]
    fn worked_example_budgets() {
        // disruption.md §5.10 "Budgets." (40 nodes, 10% + business-hours 0 for Underutilized)
        let b = Budgets::new(
            &[
                pct(10),
                with_reasons(
                    scheduled(BudgetNodes::Count(0), "0 9 * * 1-5", 8 * HOUR),
                    &[DisruptionReason::Underutilized],
                ),
            ],
            monday(),
        );
        let ten = 10 * HOUR; // Monday 10:00 UTC
        assert_eq!(b.allowed(ten, 40, Reason::Underutilized), 0);
        assert_eq!(b.allowed(ten, 40, Reason::Empty), 4);
        assert_eq!(b.allowed(ten, 40, Reason::Drifted), 4);
        // 1 NotReady + 2 draining for expiry consume the budget whatever their cause.
        assert_eq!(b.remaining(ten, 40, 3, Reason::Empty), 1);
        assert_eq!(b.remaining(ten, 40, 3, Reason::Drifted), 1);
        assert_eq!(b.remaining(ten, 40, 3, Reason::Underutilized), 0);
    }

    #[test]
    fn disrupting_nodes_consume_the_budget() {
        // karpenter: pkg/controllers/disruption/suite_test.go "should consider not ready nodes to the disruption count"
        let b = Budgets::new(&[pct(100)], monday());
        assert_eq!(b.remaining(0, 10, 2, Reason::Empty), 8);
        // karpenter: pkg/controllers/disruption/suite_test.go "should not return a negative disruption value"
        let b = Budgets::new(&[pct(10)], monday());
        assert_eq!(b.remaining(0, 10, 10, Reason::Drifted), 0);
        // disruption.md §4 worked example: 10 nodes at the default 10%, one NotReady ⇒ 0.
        assert_eq!(b.remaining(0, 10, 1, Reason::Underutilized), 0);
        assert_eq!(b.remaining(0, 10, 0, Reason::Underutilized), 1);
        // karpenter: pkg/controllers/disruption/drift_test.go "should disrupt 3 nodes, taking into account commands in progress"
        let b = Budgets::new(&[pct(30)], monday());
        assert_eq!(b.remaining(0, 10, 0, Reason::Drifted), 3);
        assert_eq!(b.remaining(0, 10, 2, Reason::Drifted), 1);
        assert_eq!(b.remaining(0, 10, 5, Reason::Drifted), 0);
        // Unbounded stays unbounded-ish.
        let b = Budgets::new(&[], monday());
        assert_eq!(b.remaining(0, 10, 0, Reason::Empty), UNBOUNDED);
    }

    /// Scheduled budgets exercising windows that chain, overlap, gap and never match.
    fn cache_fixture() -> Vec<Budget> {
        use BudgetNodes::*;
        use DisruptionReason::*;
        vec![
            pct(25),
            with_reasons(scheduled(Count(0), "0 9 * * mon-fri", 8 * HOUR), &[Drifted]),
            with_reasons(scheduled(Count(1), "* * * * *", HOUR), &[Empty]),
            scheduled(Count(7), "@daily", 48 * HOUR),
            with_reasons(
                scheduled(Count(2), "30 6 * * SUN", 6 * HOUR),
                &[Underutilized],
            ),
            with_reasons(scheduled(Count(3), "*/7 * * * *", 3 * MIN), &[Empty]),
            with_reasons(scheduled(Count(4), "15 */2 * * *", 45 * MIN), &[Drifted]),
            with_reasons(scheduled(Count(5), "0 0 30 2 *", HOUR), &[Underutilized]),
            with_reasons(scheduled(Percent(50), "@hourly", 61 * MIN), &[Drifted]),
            with_reasons(scheduled(Count(6), "0 12 1 * *", 90 * MIN), &[Empty]),
        ]
    }

    #[test]
    fn cache_agrees_with_uncached_evaluation_over_a_week() {
        // A start that is not on a whole second, and steps on and off minute boundaries.
        let start = utc(2024, 1, 1, 0, 0, 0) + TimeDelta::milliseconds(250);
        let budgets = cache_fixture();
        // Each reason on its own instance, and one shared instance, so that the caches are
        // exercised both per reason and interleaved.
        let shared = Budgets::new(&budgets, start);
        for reason in Reason::ALL {
            let single = Budgets::new(&budgets, start);
            for step in 0..7 * 24 * 60 {
                for offset in [0, 750, 59_750] {
                    let t = step * MIN + offset;
                    let want = single.evaluate(t, 40, reason, false);
                    assert_eq!(single.allowed(t, 40, reason), want, "{reason} t={t}");
                    assert_eq!(shared.allowed(t, 40, reason), want, "{reason} t={t}");
                }
            }
        }
        // Going back in time recomputes instead of trusting a later span.
        let b = Budgets::new(&budgets, start);
        for step in (0..2 * 24 * 60).rev().step_by(7) {
            let t = step * MIN;
            for reason in Reason::ALL {
                assert_eq!(
                    b.allowed(t, 40, reason),
                    b.evaluate(t, 40, reason, false),
                    "{reason} t={t}"
                );
            }
        }
    }

    #[test]
    fn cache_spans_are_exact_at_boundaries() {
        // Every window edge of the seed-guide schedule over two weeks, probed on both sides.
        let b = Budgets::new(
            &[scheduled(
                BudgetNodes::Count(0),
                "0 9 * * mon-fri",
                8 * HOUR,
            )],
            monday(),
        );
        let mut edges = 0;
        let mut t = 0;
        loop {
            let next = b.next_change_ms(t).expect("a scheduled budget changes");
            assert!(next > t);
            if next >= 14 * DAY {
                break;
            }
            let before = b.allowed(next - 1, 10, Reason::Drifted);
            let at = b.allowed(next, 10, Reason::Drifted);
            assert_eq!(before, b.evaluate(next - 1, 10, Reason::Drifted, false));
            assert_eq!(at, b.evaluate(next, 10, Reason::Drifted, false));
            assert_ne!(before, at, "a real edge at {next}");
            let hour = (next % DAY) / HOUR;
            assert!(hour == 9 || hour == 17, "edge at {next}");
            edges += 1;
            t = next;
        }
        // Two weeks of weekdays: 10 openings and 10 closings.
        assert_eq!(edges, 20);
        // Unscheduled pools never change.
        assert_eq!(Budgets::new(&[pct(10)], monday()).next_change_ms(0), None);
    }

    #[test]
    fn cached_evaluation_is_cheap() {
        // 30 days of the 10-second loop × 3 reasons: at most one cron recomputation per window
        // edge (plus chained extensions), far fewer than calls.
        let b = Budgets::new(&cache_fixture()[..2], monday());
        let mut last = Span::NONE;
        let mut recomputed = 0;
        for t in (0..30 * DAY).step_by((10 * SEC) as usize) {
            for r in Reason::ALL {
                b.allowed(t, 40, r);
            }
            let span = b.cache.lock().unwrap()[1];
            if span != last {
                recomputed += 1;
                last = span;
            }
        }
        // 22 weekdays in January 2024 ⇒ 44 edges (+1 for the first evaluation).
        assert!(recomputed <= 45, "{recomputed} recomputations");
    }

    #[test]
    fn budgets_are_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Budgets>();
        let b = Budgets::new(&cache_fixture(), monday());
        let c = b.clone();
        assert_eq!(all(&b, 10 * HOUR, 40), all(&c, 10 * HOUR, 40));
        assert!(format!("{b:?}").contains("Budgets"));
    }
}
