//! `report.html`: one self-contained page per run (no network, no external file): the key
//! figures of `summary.json`, the plots inlined as `<svg>`, the costs per NodePool and per
//! namespace, and a bounded sample of the decisions.
//!
//! Owns: [`DecisionSample`] (what of the decision stream the page shows, kept while it
//! streams) and the page's markup. May not: touch files or read the clock: the same inputs
//! give the same bytes. Every string from the user's files is escaped.

use crate::plot::Plot;
use serde_json::Value;
use std::collections::BTreeMap;

/// How many of the largest-saving disruptions the page lists.
pub const TOP_SAVINGS: usize = 20;
/// How many of the first launches the page lists.
pub const FIRST_LAUNCHES: usize = 10;
/// How many of the first failed, blocked or interrupted decisions the page lists.
pub const FIRST_PROBLEMS: usize = 20;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// What of the decision stream the page shows, in bounded memory: the count per kind, the
/// largest-saving disruptions, the first launches and the first problems (failures,
/// blocked disruptions, rollbacks, Spot interruptions).
#[derive(Debug, Clone, Default)]
pub struct DecisionSample {
    counts: BTreeMap<String, u64>,
    /// (saving per hour, arrival order, decision), at most [`TOP_SAVINGS`].
    top: Vec<(f64, u64, Value)>,
    launches: Vec<Value>,
    problems: Vec<Value>,
    seen: u64,
}

/// A decision's saving per hour, when it is a disruption that states one.
fn saving(d: &Value) -> Option<f64> {
    if d.get("kind")?.as_str()? != "disruption" {
        return None;
    }
    d.get("savings_per_hour")
        .or_else(|| d.get("estimated_savings_per_hour"))
        .and_then(Value::as_f64)
        .filter(|s| s.is_finite())
}

fn is_problem(kind: &str) -> bool {
    kind.ends_with("-failed")
        || kind.ends_with("-blocked")
        || kind.ends_with("-rolled-back")
        || kind == "spot-interruption"
}

impl DecisionSample {
    /// Takes one decision (in stream order).
    pub fn push(&mut self, d: &Value) {
        let seq = self.seen;
        self.seen += 1;
        let kind = d.get("kind").and_then(Value::as_str).unwrap_or("(no kind)");
        match self.counts.get_mut(kind) {
            Some(n) => *n += 1,
            None => {
                self.counts.insert(kind.to_string(), 1);
            }
        }
        if kind == "launch" && self.launches.len() < FIRST_LAUNCHES {
            self.launches.push(d.clone());
        }
        if is_problem(kind) && self.problems.len() < FIRST_PROBLEMS {
            self.problems.push(d.clone());
        }
        if let Some(s) = saving(d) {
            if self.top.len() < TOP_SAVINGS {
                self.top.push((s, seq, d.clone()));
            } else if let Some(min) = self
                .top
                .iter_mut()
                // The smallest saving, the latest among equals: an earlier decision stays.
                .min_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)))
                && s > min.0
            {
                *min = (s, seq, d.clone());
            }
        }
    }

    /// How many decisions were taken.
    pub fn total(&self) -> u64 {
        self.seen
    }

    /// The largest-saving disruptions, largest first (earlier first among equals).
    fn top_sorted(&self) -> Vec<&(f64, u64, Value)> {
        let mut v: Vec<_> = self.top.iter().collect();
        v.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        v
    }
}

/// Seconds as `12.5 s` and, from a minute on, `(1h02m03s)`.
fn time_text(secs: f64) -> String {
    if secs < 60.0 {
        return format!("{secs} s");
    }
    let t = secs.floor() as u64;
    format!(
        "{secs} s ({}h{:02}m{:02}s)",
        t / 3600,
        (t / 60) % 60,
        t % 60
    )
}

/// A compact one-line rendering of a JSON value: lists longer than 6 show their first 5.
fn compact(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        Value::Array(a) => {
            let mut parts: Vec<String> = a.iter().take(5).map(compact).collect();
            if a.len() > 6 {
                parts.push(format!("… {} more", a.len() - 5));
            } else if a.len() == 6 {
                parts.push(compact(&a[5]));
            }
            format!("[{}]", parts.join(", "))
        }
        Value::Object(o) => {
            let parts: Vec<String> = o
                .iter()
                .map(|(k, v)| format!("{k}: {}", compact(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        other => other.to_string(),
    }
}

/// A decision as a table row: time, kind, and its other fields.
fn decision_row(d: &Value) -> String {
    let time = d.get("time").and_then(Value::as_f64).unwrap_or(0.0);
    let kind = d.get("kind").and_then(Value::as_str).unwrap_or("");
    let details: Vec<String> = d
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| *k != "time" && *k != "kind")
                .map(|(k, v)| format!("<b>{}</b>: {}", escape(k), escape(&compact(v))))
                .collect()
        })
        .unwrap_or_default();
    format!(
        "<tr><td class=\"num\">{}</td><td class=\"kind\">{}</td><td>{}</td></tr>\n",
        escape(&time_text(time)),
        escape(kind),
        details.join("; ")
    )
}

fn decision_table(out: &mut String, heading: &str, empty: &str, rows: &[&Value]) {
    out.push_str(&format!("<h3>{}</h3>\n", escape(heading)));
    if rows.is_empty() {
        out.push_str(&format!("<p class=\"muted\">{}</p>\n", escape(empty)));
        return;
    }
    out.push_str("<table class=\"decisions\"><thead><tr><th>time</th><th>kind</th><th>details</th></tr></thead><tbody>\n");
    for d in rows {
        out.push_str(&decision_row(d));
    }
    out.push_str("</tbody></table>\n");
}

fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

fn num(v: &Value, path: &str) -> f64 {
    get(v, path).and_then(Value::as_f64).unwrap_or(0.0)
}

fn int(v: &Value, path: &str) -> u64 {
    get(v, path).and_then(Value::as_u64).unwrap_or(0)
}

fn money(x: f64) -> String {
    format!("${x:.2}")
}

/// A cost table (name, cost, share of the total), largest first, names breaking ties.
fn cost_table(out: &mut String, heading: &str, col: &str, map: Option<&Value>) {
    out.push_str(&format!("<h2>{}</h2>\n", escape(heading)));
    let mut rows: Vec<(&str, f64)> = map
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.as_str(), v.as_f64().unwrap_or(0.0)))
                .collect()
        })
        .unwrap_or_default();
    if rows.is_empty() {
        out.push_str("<p class=\"muted\">nothing was spent</p>\n");
        return;
    }
    rows.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    let total: f64 = rows.iter().map(|r| r.1).sum();
    out.push_str(&format!(
        "<table><thead><tr><th>{}</th><th>cost</th><th>share</th></tr></thead><tbody>\n",
        escape(col)
    ));
    for (k, v) in rows {
        let share = if total > 0.0 { 100.0 * v / total } else { 0.0 };
        out.push_str(&format!(
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{share:.1}%</td></tr>\n",
            escape(k),
            money(v)
        ));
    }
    out.push_str("</tbody></table>\n");
}

const STYLE: &str = "
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif;
  margin: 0; padding: 1.5rem; color: #222; background: #fafafa; line-height: 1.4; }
main { max-width: 920px; margin: 0 auto; }
h1 { font-size: 1.6rem; margin: 0 0 .2rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .6rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
h3 { font-size: 1.05rem; margin: 1.2rem 0 .4rem; }
.muted { color: #666; }
table { border-collapse: collapse; background: #fff; margin: .4rem 0; font-size: .92rem; }
th, td { border: 1px solid #ddd; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
table.decisions td { word-break: break-word; }
table.decisions td.kind { white-space: nowrap; word-break: normal; }
figure.plot { margin: 1rem 0; background: #fff; border: 1px solid #ddd; padding: .4rem; }
figure.plot svg { display: block; width: 100%; height: auto; }
figcaption { font-size: .85rem; color: #555; margin-top: .3rem; }
nav a { margin-right: .8rem; }
footer { margin-top: 2rem; font-size: .8rem; color: #777; }
";

/// Records script errors and, once loaded, each plot's rendered size into `#render-check`
/// (read by the headless-browser test; harmless for people).
const SCRIPT: &str = "
(function () {
  var errors = [];
  function note(m) { errors.push(String(m)); }
  window.addEventListener('error', function (e) {
    note('error: ' + (e.message || (e.target && e.target.tagName) || 'unknown'));
  }, true);
  window.addEventListener('unhandledrejection', function (e) { note('rejection: ' + e.reason); });
  document.addEventListener('securitypolicyviolation', function (e) {
    note('blocked: ' + e.violatedDirective + ' ' + e.blockedURI);
  });
  var consoleError = console.error;
  console.error = function () {
    note('console: ' + Array.prototype.join.call(arguments, ' '));
    return consoleError.apply(console, arguments);
  };
  window.addEventListener('load', function () {
    var out = [];
    var figs = document.querySelectorAll('figure.plot');
    for (var i = 0; i < figs.length; i++) {
      var svg = figs[i].querySelector('svg');
      var r = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
      // The drawn data: the union of the boxes of the series' lines and areas.
      var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      var series = svg ? svg.querySelectorAll('polyline, polygon, path') : [];
      for (var j = 0; j < series.length; j++) {
        try {
          var b = series[j].getBBox();
          x0 = Math.min(x0, b.x); y0 = Math.min(y0, b.y);
          x1 = Math.max(x1, b.x + b.width); y1 = Math.max(y1, b.y + b.height);
        } catch (e) { note('getBBox: ' + e); }
      }
      var dw = series.length ? Math.round(x1 - x0) : 0, dh = series.length ? Math.round(y1 - y0) : 0;
      var shapes = svg ? svg.querySelectorAll('polyline, polygon, path, rect, line, circle, text').length : 0;
      out.push(figs[i].getAttribute('data-file') + ' ' + Math.round(r.width) + 'x' + Math.round(r.height)
        + ' data ' + dw + 'x' + dh + ' shapes ' + shapes);
    }
    var el = document.getElementById('render-check');
    el.setAttribute('data-plots', out.join(';'));
    el.setAttribute('data-errors', errors.join(' | '));
    el.setAttribute('data-done', 'yes');
  });
})();
";

/// The whole page. `summary` is the run's `summary.json`; `plots` are drawn by
/// [`crate::plot::run_plots`] and also written beside the page.
pub fn report_html(summary: &Value, plots: &[Plot], decisions: &DecisionSample) -> String {
    let name = summary.get("name").and_then(Value::as_str).unwrap_or("");
    let mut o = String::new();
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    o.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // Nothing may be loaded from anywhere: the page is complete as it is.
    o.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n");
    o.push_str(&format!(
        "<title>karpsim report: {}</title>\n<style>{STYLE}</style>\n<script>{SCRIPT}</script>\n</head>\n<body>\n<main>\n",
        escape(name)
    ));
    o.push_str(&format!("<h1>karpsim run: {}</h1>\n", escape(name)));
    o.push_str(&format!(
        "<p class=\"muted\">seed {}, {:.1} simulated hours, {} events</p>\n",
        int(summary, "seed"),
        num(summary, "simulated_seconds") / 3600.0,
        int(summary, "events_processed")
    ));
    o.push_str("<nav><a href=\"#figures\">figures</a><a href=\"#plots\">plots</a><a href=\"#costs\">costs</a><a href=\"#decisions\">decisions</a></nav>\n");

    // Key figures.
    o.push_str("<h2 id=\"figures\">Summary</h2>\n<table><tbody>\n");
    let mut row = |k: &str, v: String| {
        o.push_str(&format!(
            "<tr><th>{}</th><td class=\"num\">{}</td></tr>\n",
            escape(k),
            escape(&v)
        ));
    };
    row("total cost", money(num(summary, "cost.total")));
    row("on-demand cost", money(num(summary, "cost.on_demand")));
    row("spot cost", money(num(summary, "cost.spot")));
    if num(summary, "cost.reserved") > 0.0 {
        row("reserved cost", money(num(summary, "cost.reserved")));
    }
    row(
        "pods (scheduled / never scheduled)",
        format!(
            "{} ({} / {})",
            int(summary, "pods.total"),
            int(summary, "pods.scheduled"),
            int(summary, "pods.never_scheduled")
        ),
    );
    row("evictions", int(summary, "pods.evicted").to_string());
    row(
        "pending latency p50 / p90 / p99 / max",
        format!(
            "{:.1} s / {:.1} s / {:.1} s / {:.1} s",
            num(summary, "latency.pending_p50"),
            num(summary, "latency.pending_p90"),
            num(summary, "latency.pending_p99"),
            num(summary, "latency.pending_max")
        ),
    );
    row(
        "nodes launched / peak",
        format!(
            "{} / {}",
            int(summary, "nodes.launched"),
            int(summary, "nodes.peak")
        ),
    );
    let reasons = [
        "empty",
        "underutilized",
        "drifted",
        "expired",
        "interrupted",
    ];
    row(
        "nodes terminated: empty / underutilized / drifted / expired / interrupted",
        reasons
            .iter()
            .map(|r| int(summary, &format!("nodes.terminated_by_reason.{r}")).to_string())
            .collect::<Vec<_>>()
            .join(" / "),
    );
    row(
        "Spot interruptions / insufficient-capacity errors",
        format!(
            "{} / {}",
            int(summary, "spot.interruptions"),
            int(summary, "spot.insufficient_capacity_errors")
        ),
    );
    row(
        "utilization cpu / memory (requested over allocatable)",
        format!(
            "{:.1}% / {:.1}%",
            100.0 * num(summary, "utilization.cpu_requested_over_allocatable"),
            100.0 * num(summary, "utilization.memory_requested_over_allocatable")
        ),
    );
    o.push_str("</tbody></table>\n");

    // Plots.
    o.push_str("<h2 id=\"plots\">Plots</h2>\n");
    for p in plots {
        o.push_str(&format!(
            "<figure class=\"plot\" data-file=\"{}\">\n{}<figcaption>{} (<a href=\"{}\">{}</a>)</figcaption>\n</figure>\n",
            escape(p.file),
            p.svg.trim_end(),
            escape(&p.title),
            escape(p.file),
            escape(p.file)
        ));
    }

    // Costs.
    o.push_str("<div id=\"costs\"></div>\n");
    cost_table(
        &mut o,
        "Cost by NodePool",
        "NodePool",
        get(summary, "cost.by_nodepool"),
    );
    cost_table(
        &mut o,
        "Cost by namespace",
        "namespace",
        get(summary, "cost.by_namespace"),
    );

    // Decisions.
    o.push_str(&format!(
        "<h2 id=\"decisions\">Decisions</h2>\n<p class=\"muted\">{} decisions in total; every one is in <a href=\"decisions.jsonl\">decisions.jsonl</a>.</p>\n",
        decisions.total()
    ));
    if !decisions.counts.is_empty() {
        o.push_str("<table><thead><tr><th>kind</th><th>count</th></tr></thead><tbody>\n");
        for (k, n) in &decisions.counts {
            o.push_str(&format!(
                "<tr><td>{}</td><td class=\"num\">{n}</td></tr>\n",
                escape(k)
            ));
        }
        o.push_str("</tbody></table>\n");
    }
    let top: Vec<&Value> = decisions.top_sorted().into_iter().map(|t| &t.2).collect();
    decision_table(
        &mut o,
        &format!("Largest-saving disruptions (up to {TOP_SAVINGS})"),
        "no disruption happened",
        &top,
    );
    let launches: Vec<&Value> = decisions.launches.iter().collect();
    decision_table(
        &mut o,
        &format!("First launches (up to {FIRST_LAUNCHES})"),
        "no node was launched",
        &launches,
    );
    let problems: Vec<&Value> = decisions.problems.iter().collect();
    decision_table(
        &mut o,
        &format!(
            "First failures, blocked disruptions and Spot interruptions (up to {FIRST_PROBLEMS})"
        ),
        "none",
        &problems,
    );

    o.push_str("<h2>Files</h2>\n<p><a href=\"summary.json\">summary.json</a>, <a href=\"summary.md\">summary.md</a>, <a href=\"nodes.csv\">nodes.csv</a>, <a href=\"pods.csv\">pods.csv</a>, <a href=\"timeline.csv\">timeline.csv</a>, <a href=\"decisions.jsonl\">decisions.jsonl</a></p>\n");
    o.push_str(&format!(
        "<footer>karpsim {}: the same inputs and seed give this same page.</footer>\n",
        env!("CARGO_PKG_VERSION")
    ));
    o.push_str("<output id=\"render-check\" hidden></output>\n</main>\n</body>\n</html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>\u{7}"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt; "
        );
    }

    #[test]
    fn the_sample_stays_bounded_and_keeps_the_largest_savings_in_order() {
        let mut s = DecisionSample::default();
        for i in 0..1000u64 {
            s.push(&json!({"time": i, "kind": "disruption", "savings_per_hour": (i % 100) as f64}));
            s.push(&json!({"time": i, "kind": "launch", "nodeclaim": format!("n{i}")}));
            s.push(&json!({"time": i, "kind": "launch-failed"}));
        }
        assert_eq!(s.total(), 3000);
        assert_eq!(s.counts["disruption"], 1000);
        assert_eq!(s.top.len(), TOP_SAVINGS);
        let top = s.top_sorted();
        // 99 occurs 10 times (at 99, 199, ...) and 98 ten times: the earliest of each first.
        assert!(top[..10].iter().all(|t| t.0 == 99.0));
        assert!(top[10..].iter().all(|t| t.0 == 98.0));
        assert_eq!(top[0].2["time"], 99);
        assert_eq!(top[9].2["time"], 999);
        assert_eq!(s.launches.len(), FIRST_LAUNCHES);
        assert_eq!(s.launches[0]["nodeclaim"], "n0");
        assert_eq!(s.problems.len(), FIRST_PROBLEMS);
    }

    #[test]
    fn user_names_are_escaped_in_the_page() {
        let summary = json!({
            "name": "<script>alert(1)</script>",
            "cost": {"total": 1.0, "by_namespace": {"<b>ns</b>": 1.0}, "by_nodepool": {"p&q": 1.0}},
        });
        let mut d = DecisionSample::default();
        d.push(&json!({"time": 1.5, "kind": "launch", "nodepool": "<img src=x>"}));
        let page = report_html(&summary, &[], &d);
        assert!(!page.contains("<script>alert"));
        assert!(!page.contains("<b>ns</b>"));
        assert!(!page.contains("<img"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("p&amp;q"));
    }

    #[test]
    fn compact_values_are_short() {
        assert_eq!(compact(&json!([1, 2, 3, 4, 5, 6])), "[1, 2, 3, 4, 5, 6]");
        assert_eq!(
            compact(&json!([1, 2, 3, 4, 5, 6, 7])),
            "[1, 2, 3, 4, 5, … 2 more]"
        );
        assert_eq!(compact(&json!({"a": "x", "b": null})), "{a: x, b: -}");
        assert_eq!(time_text(12.5), "12.5 s");
        assert_eq!(time_text(3723.0), "3723 s (1h02m03s)");
    }
}
