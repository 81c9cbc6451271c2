//! Plots: the report's SVG charts (plotters, SVG backend, no font files), for one run and for
//! a comparison (one line per variant).
//!
//! Owns: downsampling the per-minute timeline to at most [`MAX_POINTS`] points as it streams
//! in ([`TimelineSeries`]), the pending-latency CDF points ([`latency_cdf`]) and drawing
//! `cost.svg`, `nodes.svg`, `pending.svg` and `latency-cdf.svg`. May not: touch files (the
//! report module writes what it returns) or read the clock: the same inputs give the same
//! bytes.

use crate::engine::TimelineRow;
use plotters::prelude::*;

/// At most this many points per plotted series: a 30-day run (43,200 one-minute samples) is
/// averaged over 32-minute intervals, so the SVGs stay small.
pub const MAX_POINTS: usize = 2000;

/// How many points the latency CDF keeps (quantiles, evenly spaced in rank).
pub const CDF_POINTS: usize = 1000;

/// The plot files of a run report and of a comparison, in the order the reports list them.
pub const PLOT_FILES: [&str; 4] = ["cost.svg", "nodes.svg", "pending.svg", "latency-cdf.svg"];

const WIDTH: u32 = 860;
const HEIGHT: u32 = 380;

/// Colours (a colour-blind-friendly qualitative palette), used in order.
const PALETTE: [RGBColor; 10] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0xff, 0x9d, 0xa7),
    RGBColor(0x9c, 0x75, 0x5f),
    RGBColor(0xba, 0xb0, 0xac),
];

/// One point of a downsampled timeline: `n` consecutive samples summed (or their peak).
#[derive(Debug, Clone, PartialEq)]
struct Bucket {
    /// Time of the first sample.
    t0_ms: u64,
    n: u32,
    /// Sums of the cost rate of on-demand, Spot and reserved nodes.
    cost: [f64; 3],
    /// Sums of the node count per NodePool (`RunSummary::nodepools` order).
    nodes: Vec<u64>,
    pending_max: u32,
}

impl Bucket {
    fn absorb(&mut self, o: &Bucket) {
        self.n += o.n;
        for (a, b) in self.cost.iter_mut().zip(o.cost) {
            *a += b;
        }
        if self.nodes.len() < o.nodes.len() {
            self.nodes.resize(o.nodes.len(), 0);
        }
        for (a, b) in self.nodes.iter_mut().zip(&o.nodes) {
            *a += b;
        }
        self.pending_max = self.pending_max.max(o.pending_max);
    }

    fn mean(&self, sum: f64) -> f64 {
        sum / f64::from(self.n.max(1))
    }
}

/// The timeline a run's plots need, downsampled while it streams: consecutive samples are
/// grouped `width` at a time, and whenever more than [`MAX_POINTS`] groups exist, neighbours
/// are merged and `width` doubles. Costs and node counts are averaged over a group (so the
/// area under the cost curve stays the money spent); pending pods keep the group's peak (so a
/// short backlog stays visible).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TimelineSeries {
    width: u32,
    buckets: Vec<Bucket>,
    last_ms: u64,
}

impl TimelineSeries {
    /// Adds one timeline sample (samples come in time order).
    pub fn push(&mut self, row: &TimelineRow) {
        self.width = self.width.max(1);
        self.last_ms = row.time_ms;
        let b = Bucket {
            t0_ms: row.time_ms,
            n: 1,
            cost: [
                row.cost_per_hour_on_demand,
                row.cost_per_hour_spot,
                row.cost_per_hour_reserved,
            ],
            nodes: row
                .nodes_by_nodepool
                .iter()
                .map(|n| u64::from(*n))
                .collect(),
            pending_max: row.pending_pods,
        };
        match self.buckets.last_mut() {
            Some(last) if last.n < self.width => last.absorb(&b),
            _ => self.buckets.push(b),
        }
        if self.buckets.len() > MAX_POINTS {
            let old = std::mem::take(&mut self.buckets);
            for pair in old.chunks(2) {
                let mut b = pair[0].clone();
                if let Some(o) = pair.get(1) {
                    b.absorb(o);
                }
                self.buckets.push(b);
            }
            self.width *= 2;
        }
    }

    /// How many points the plots draw.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no sample was pushed.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// How many one-minute samples each point summarizes.
    pub fn samples_per_point(&self) -> u32 {
        self.width.max(1)
    }

    fn times(&self) -> impl Iterator<Item = u64> + '_ {
        self.buckets.iter().map(|b| b.t0_ms)
    }

    /// Mean cost rate per capacity type (on-demand, Spot, reserved) per point.
    fn cost(&self, k: usize) -> impl Iterator<Item = f64> + '_ {
        self.buckets.iter().map(move |b| b.mean(b.cost[k]).max(0.0))
    }

    fn cost_total(&self) -> impl Iterator<Item = f64> + '_ {
        self.buckets
            .iter()
            .map(|b| b.mean(b.cost.iter().sum::<f64>()).max(0.0))
    }

    /// Mean nodes of NodePool `k` per point.
    fn nodes(&self, k: usize) -> impl Iterator<Item = f64> + '_ {
        self.buckets
            .iter()
            .map(move |b| b.mean(b.nodes.get(k).copied().unwrap_or(0) as f64))
    }

    fn nodes_total(&self) -> impl Iterator<Item = f64> + '_ {
        self.buckets
            .iter()
            .map(|b| b.mean(b.nodes.iter().sum::<u64>() as f64))
    }

    fn pending(&self) -> impl Iterator<Item = f64> + '_ {
        self.buckets.iter().map(|b| f64::from(b.pending_max))
    }

    fn pools(&self) -> usize {
        self.buckets
            .iter()
            .map(|b| b.nodes.len())
            .max()
            .unwrap_or(0)
    }
}

/// The pending-latency CDF of sorted latencies in ms: at most [`CDF_POINTS`] + 1 points
/// (seconds, fraction of the pods that ran), evenly spaced in rank, always with the first and
/// the last.
pub fn latency_cdf(sorted_ms: &[u64]) -> Vec<(f64, f64)> {
    let n = sorted_ms.len();
    if n == 0 {
        return Vec::new();
    }
    let k = CDF_POINTS.min(n);
    let mut out = Vec::with_capacity(k + 1);
    let mut last = usize::MAX;
    for i in 0..=k {
        // Rank (1-based) of the i-th quantile point: 1 … n.
        let rank = 1 + (i * (n - 1)) / k.max(1);
        if rank == last {
            continue;
        }
        last = rank;
        out.push((sorted_ms[rank - 1] as f64 / 1000.0, rank as f64 / n as f64));
    }
    out
}

/// What a run's plots are drawn from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunPlotData {
    pub timeline: TimelineSeries,
    /// `RunSummary::nodepools`.
    pub nodepools: Vec<String>,
    /// From [`latency_cdf`].
    pub cdf: Vec<(f64, f64)>,
}

/// One drawn plot.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    /// File name (one of [`PLOT_FILES`]).
    pub file: &'static str,
    pub title: String,
    /// A complete `<svg>` document.
    pub svg: String,
}

/// Time axis unit chosen from the span: minutes up to 3 h, hours up to 3 days, else days.
#[derive(Clone, Copy)]
struct TimeUnit {
    ms: f64,
    name: &'static str,
}

fn time_unit(span_ms: u64) -> TimeUnit {
    if span_ms <= 3 * 3_600_000 {
        TimeUnit {
            ms: 60_000.0,
            name: "minutes",
        }
    } else if span_ms <= 72 * 3_600_000 {
        TimeUnit {
            ms: 3_600_000.0,
            name: "hours",
        }
    } else {
        TimeUnit {
            ms: 86_400_000.0,
            name: "days",
        }
    }
}

/// Text for a plot: control characters (which SVG cannot hold) become spaces.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// An axis label: at most 3 significant decimals, no trailing zeros.
fn axis_number(v: f64) -> String {
    let s = if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" { "0".into() } else { s }
}

/// One series of a chart.
struct Line {
    label: String,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

enum Kind {
    /// Filled areas, each drawn on top of the ones before it (stacked).
    Stacked,
    Lines,
}

struct Chart<'a> {
    title: &'a str,
    x_desc: String,
    y_desc: &'a str,
    kind: Kind,
    series: Vec<Line>,
    /// Shown in the middle when there is nothing to draw.
    empty_note: &'a str,
    /// Fixed y range top (the CDF's 1.0), else from the data.
    y_max: Option<f64>,
}

fn draw(c: &Chart) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let x_max = c
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .fold(0.0f64, f64::max);
        let x_max = if x_max > 0.0 { x_max } else { 1.0 };
        let y_top = c
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0f64, f64::max);
        let y_max = c
            .y_max
            .unwrap_or(if y_top > 0.0 { y_top * 1.08 } else { 1.0 });
        let mut chart = ChartBuilder::on(&root)
            .caption(clean(c.title), ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(clean(&c.x_desc))
            .y_desc(c.y_desc)
            .x_labels(10)
            .y_labels(8)
            .x_label_formatter(&|v| axis_number(*v))
            .y_label_formatter(&|v| axis_number(*v))
            .max_light_lines(0)
            .bold_line_style(RGBColor(0xe4, 0xe4, 0xe4))
            .draw()
            .map_err(|e| e.to_string())?;
        let has_data = c.series.iter().any(|s| !s.points.is_empty());
        if !has_data {
            root.draw(&Text::new(
                clean(c.empty_note),
                ((WIDTH / 2) as i32 - 120, (HEIGHT / 2) as i32),
                ("sans-serif", 16)
                    .into_font()
                    .color(&RGBColor(0x66, 0x66, 0x66)),
            ))
            .map_err(|e| e.to_string())?;
        }
        for s in c.series.iter().filter(|s| !s.points.is_empty()) {
            let color = s.color;
            let anno = match c.kind {
                Kind::Stacked => chart
                    .draw_series(
                        AreaSeries::new(s.points.iter().copied(), 0.0, color.mix(0.85))
                            .border_style(color.stroke_width(1)),
                    )
                    .map_err(|e| e.to_string())?,
                Kind::Lines => chart
                    .draw_series(LineSeries::new(
                        s.points.iter().copied(),
                        color.stroke_width(2),
                    ))
                    .map_err(|e| e.to_string())?,
            };
            anno.label(clean(&s.label)).legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled())
            });
        }
        // A legend names layers or lines; a lone line needs none (the axis names it).
        let legend = matches!(c.kind, Kind::Stacked) || c.series.len() > 1;
        if has_data && legend {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(0xaa, 0xaa, 0xaa))
                .label_font(("sans-serif", 13))
                .draw()
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Stacked areas from layers listed bottom first: each area reaches the sum of its layer and
/// the ones below; drawn top first so every layer shows.
fn stack(layers: Vec<(String, RGBColor, Vec<f64>)>, xs: &[f64]) -> Vec<Line> {
    let mut acc = vec![0.0; xs.len()];
    let mut lines = Vec::new();
    for (label, color, ys) in layers {
        for (a, y) in acc.iter_mut().zip(&ys) {
            *a += y;
        }
        lines.push(Line {
            label,
            color,
            points: xs.iter().copied().zip(acc.iter().copied()).collect(),
        });
    }
    lines.reverse();
    lines
}

fn interval_note(t: &TimelineSeries) -> String {
    match t.samples_per_point() {
        1 => String::new(),
        n => format!(" (each point: {n}-minute interval)"),
    }
}

/// The four plots of one run.
pub fn run_plots(name: &str, d: &RunPlotData) -> Result<Vec<Plot>, String> {
    let t = &d.timeline;
    let unit = time_unit(t.last_ms);
    let xs: Vec<f64> = t.times().map(|ms| ms as f64 / unit.ms).collect();
    let x_desc = format!("simulated time ({}){}", unit.name, interval_note(t));
    let mut plots = Vec::new();

    let types = ["on-demand", "spot", "reserved"];
    let layers: Vec<(String, RGBColor, Vec<f64>)> = (0..3)
        .map(|k| {
            (
                types[k].to_string(),
                PALETTE[k],
                t.cost(k).collect::<Vec<_>>(),
            )
        })
        .filter(|(_, _, ys)| ys.iter().any(|y| *y > 0.0))
        .collect();
    let title = format!("{name}: cost rate by capacity type");
    plots.push(Plot {
        file: PLOT_FILES[0],
        svg: draw(&Chart {
            title: &title,
            x_desc: x_desc.clone(),
            y_desc: "USD per hour",
            kind: Kind::Stacked,
            series: stack(layers, &xs),
            empty_note: "no node ran during the simulation",
            y_max: None,
        })?,
        title,
    });

    // Existing nodes (the last entry) at the bottom: the static capacity Karpenter adds to.
    let pools = t.pools().max(d.nodepools.len());
    let order = (pools.saturating_sub(1)..pools).chain(0..pools.saturating_sub(1));
    let layers: Vec<(String, RGBColor, Vec<f64>)> = order
        .map(|k| {
            let label = d
                .nodepools
                .get(k)
                .cloned()
                .unwrap_or_else(|| format!("nodepool {k}"));
            (
                label,
                PALETTE[k % PALETTE.len()],
                t.nodes(k).collect::<Vec<_>>(),
            )
        })
        .filter(|(_, _, ys)| ys.iter().any(|y| *y > 0.0))
        .collect();
    let title = format!("{name}: nodes by NodePool");
    plots.push(Plot {
        file: PLOT_FILES[1],
        svg: draw(&Chart {
            title: &title,
            x_desc: x_desc.clone(),
            y_desc: "nodes",
            kind: Kind::Stacked,
            series: stack(layers, &xs),
            empty_note: "no node ran during the simulation",
            y_max: None,
        })?,
        title,
    });

    let title = format!("{name}: pending pods");
    plots.push(Plot {
        file: PLOT_FILES[2],
        svg: draw(&Chart {
            title: &title,
            x_desc: x_desc.clone(),
            y_desc: if t.samples_per_point() > 1 {
                "pending pods (peak of interval)"
            } else {
                "pending pods"
            },
            kind: Kind::Lines,
            series: vec![Line {
                label: "pending pods".into(),
                color: PALETTE[3],
                points: xs.iter().copied().zip(t.pending()).collect(),
            }],
            empty_note: "no timeline sample",
            y_max: None,
        })?,
        title,
    });

    let title = format!("{name}: pod pending latency (CDF)");
    plots.push(Plot {
        file: PLOT_FILES[3],
        svg: draw(&Chart {
            title: &title,
            x_desc: "pending latency, arrival to Running (seconds)".into(),
            y_desc: "fraction of pods that ran",
            kind: Kind::Lines,
            series: vec![Line {
                label: "pods".into(),
                color: PALETTE[0],
                points: d.cdf.clone(),
            }],
            empty_note: "no pod ran during the simulation",
            y_max: Some(1.0),
        })?,
        title,
    });
    Ok(plots)
}

/// The four plots of a comparison: one line per run (base first), by total cost rate, total
/// nodes, pending pods and pending latency.
pub fn compare_plots(name: &str, runs: &[(String, &RunPlotData)]) -> Result<Vec<Plot>, String> {
    let span = runs
        .iter()
        .map(|(_, d)| d.timeline.last_ms)
        .max()
        .unwrap_or(0);
    let unit = time_unit(span);
    let width = runs
        .iter()
        .map(|(_, d)| d.timeline.samples_per_point())
        .max()
        .unwrap_or(1);
    let x_desc = format!(
        "simulated time ({}){}",
        unit.name,
        if width > 1 {
            format!(" (each point: up to {width}-minute interval)")
        } else {
            String::new()
        }
    );
    let lines = |f: &dyn Fn(&TimelineSeries) -> Vec<f64>| -> Vec<Line> {
        runs.iter()
            .enumerate()
            .map(|(i, (n, d))| Line {
                label: n.clone(),
                color: PALETTE[i % PALETTE.len()],
                points: d
                    .timeline
                    .times()
                    .map(|ms| ms as f64 / unit.ms)
                    .zip(f(&d.timeline))
                    .collect(),
            })
            .collect()
    };
    let mut plots = Vec::new();
    let specs: [(&str, &str, Vec<Line>); 3] = [
        (
            "cost rate",
            "USD per hour",
            lines(&|t| t.cost_total().collect()),
        ),
        ("nodes", "nodes", lines(&|t| t.nodes_total().collect())),
        (
            "pending pods",
            if width > 1 {
                "pending pods (peak of interval)"
            } else {
                "pending pods"
            },
            lines(&|t| t.pending().collect()),
        ),
    ];
    for (i, (what, y_desc, series)) in specs.into_iter().enumerate() {
        let title = format!("{name}: {what} per variant");
        plots.push(Plot {
            file: PLOT_FILES[i],
            svg: draw(&Chart {
                title: &title,
                x_desc: x_desc.clone(),
                y_desc,
                kind: Kind::Lines,
                series,
                empty_note: "no timeline sample",
                y_max: None,
            })?,
            title,
        });
    }
    let title = format!("{name}: pod pending latency (CDF) per variant");
    plots.push(Plot {
        file: PLOT_FILES[3],
        svg: draw(&Chart {
            title: &title,
            x_desc: "pending latency, arrival to Running (seconds)".into(),
            y_desc: "fraction of pods that ran",
            kind: Kind::Lines,
            series: runs
                .iter()
                .enumerate()
                .map(|(i, (n, d))| Line {
                    label: n.clone(),
                    color: PALETTE[i % PALETTE.len()],
                    points: d.cdf.clone(),
                })
                .collect(),
            empty_note: "no pod ran during the simulation",
            y_max: Some(1.0),
        })?,
        title,
    });
    Ok(plots)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(minute: u64, cost: f64, pools: Vec<u32>, pending: u32) -> TimelineRow {
        TimelineRow {
            time_ms: minute * 60_000,
            nodes_on_demand: pools.iter().sum(),
            nodes_spot: 0,
            nodes_reserved: 0,
            nodes_not_ready: 0,
            cost_per_hour: cost,
            cost_per_hour_on_demand: cost,
            cost_per_hour_spot: 0.0,
            cost_per_hour_reserved: 0.0,
            nodes_by_nodepool: pools,
            pending_pods: pending,
            cpu_requested_millis: 0,
            cpu_allocatable_millis: 0,
            memory_requested_bytes: 0,
            memory_allocatable_bytes: 0,
        }
    }

    #[test]
    fn a_month_of_minutes_is_downsampled_to_at_most_max_points_keeping_the_money() {
        let mut t = TimelineSeries::default();
        let minutes = 43_200u64;
        let mut sum = 0.0;
        for m in 0..minutes {
            let cost = (m % 97) as f64 * 0.25;
            sum += cost;
            // A one-minute backlog of 500 pods at minute 12,345 must stay visible.
            t.push(&row(
                m,
                cost,
                vec![(m % 7) as u32, 1],
                if m == 12_345 { 500 } else { 0 },
            ));
        }
        assert!(
            t.len() <= MAX_POINTS && t.len() > MAX_POINTS / 2,
            "{}",
            t.len()
        );
        assert_eq!(t.samples_per_point(), 32);
        // Means weighted by how many samples each point holds give back the total.
        let back: f64 = t
            .buckets
            .iter()
            .map(|b| b.mean(b.cost[0]) * f64::from(b.n))
            .sum();
        assert!((back - sum).abs() < 1e-6 * sum, "{back} vs {sum}");
        assert_eq!(t.pending().fold(0.0, f64::max), 500.0);
        assert_eq!(
            t.buckets.iter().map(|b| u64::from(b.n)).sum::<u64>(),
            minutes
        );
        // Points are in time order, evenly spaced.
        let times: Vec<u64> = t.times().collect();
        assert!(times.windows(2).all(|w| w[1] - w[0] == 32 * 60_000));
    }

    #[test]
    fn short_runs_keep_every_sample() {
        let mut t = TimelineSeries::default();
        for m in 0..61 {
            t.push(&row(m, 1.0, vec![2, 0], 3));
        }
        assert_eq!(t.len(), 61);
        assert_eq!(t.samples_per_point(), 1);
        assert_eq!(t.nodes_total().collect::<Vec<_>>(), vec![2.0; 61]);
    }

    #[test]
    fn cdf_keeps_first_last_and_is_monotone() {
        let ms: Vec<u64> = (0..100_000u64).map(|i| i * i / 1000).collect();
        let cdf = latency_cdf(&ms);
        assert!(cdf.len() <= CDF_POINTS + 1);
        assert_eq!(cdf.first().copied(), Some((0.0, 1.0 / 100_000.0)));
        assert_eq!(cdf.last().copied(), Some((ms[99_999] as f64 / 1000.0, 1.0)));
        assert!(cdf.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 < w[1].1));
        assert_eq!(latency_cdf(&[]), vec![]);
        assert_eq!(latency_cdf(&[1500]), vec![(1.5, 1.0)]);
        assert_eq!(latency_cdf(&[1000, 2000]), vec![(1.0, 0.5), (2.0, 1.0)]);
    }

    #[test]
    fn axis_numbers_are_short() {
        assert_eq!(axis_number(0.0), "0");
        assert_eq!(axis_number(0.5), "0.5");
        assert_eq!(axis_number(12.25), "12.2");
        assert_eq!(axis_number(1234.5), "1234");
        assert_eq!(axis_number(-0.001), "0");
    }

    #[test]
    fn plots_escape_names_and_draw_without_data() {
        let d = RunPlotData {
            timeline: TimelineSeries::default(),
            nodepools: vec!["a<b&\"c\"".into()],
            cdf: Vec::new(),
        };
        let plots = run_plots("x<y>\u{1}", &d).unwrap();
        assert_eq!(plots.len(), 4);
        for p in &plots {
            assert!(p.svg.starts_with("<svg "), "{}", p.file);
            assert!(p.svg.trim_end().ends_with("</svg>"), "{}", p.file);
            assert!(!p.svg.contains("x<y"), "{}", p.file);
            assert!(!p.svg.contains('\u{1}'), "{}", p.file);
        }
        assert!(plots[0].svg.contains("x&lt;y&gt;"));
    }
}
