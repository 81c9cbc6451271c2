//! The pod-trace CSV reader (scenario-format.md section 2.1).
//!
//! [`TraceReader`] validates the header once, then yields one [`TraceRow`] per CSV record,
//! reusing a single `csv::StringRecord`, so a trace of any length is read in bounded memory.
//!
//! Cell syntax accepted (surrounding whitespace is ignored in every cell):
//! - `arrival`, `duration`: non-negative finite decimal seconds (`12`, `12.5`, `1e3`), rounded to
//!   the nearest millisecond; an empty `duration` means "until the end of the run".
//! - `namespace`: a DNS label; empty means `default`.
//! - `cpu`, `memory`: Kubernetes quantities, zero or more; empty means "not given" (only allowed
//!   when templates may supply requests).
//! - `gpu`: a non-negative integer count. `priority`: a 32-bit signed integer.
//! - `labels`, `node_selector`: `k=v;k2=v2`, keys and values in Kubernetes label syntax; empty
//!   entries (`a=b;`) are ignored; a key may appear once per cell.
//! - `tolerations`: entries separated by `;`, each one of
//!   `key=value:Effect` (operator Equal), `key:Effect` (operator Exists), `:Effect` (every key
//!   with that effect), `key=value` (Equal, every effect) or `key` (Exists, every effect).
//!   Effects are `NoSchedule`, `PreferNoSchedule` or `NoExecute`. Not accepted: a bare `:`,
//!   an empty effect after `:`, or a value without a key.
//! - `do_not_disrupt`: `true` or `false` (any letter case); empty means `false`.

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::labels::{
    LABEL_KEY_SYNTAX, LABEL_VALUE_SYNTAX, is_valid_dns_label, is_valid_label_key,
    is_valid_label_value,
};
use crate::units::{QuantityError, parse_quantity_milli};

/// The namespace of a row whose `namespace` cell is empty or absent.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The taint effects a toleration may name.
pub const TAINT_EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// Largest time accepted, in milliseconds (2^53: every smaller integer is exact in an `f64`).
const MAX_TIME_MS: f64 = 9_007_199_254_740_992.0;

/// Longest excerpt of a bad value quoted in an error message.
const MAX_SHOWN_VALUE: usize = 120;

/// One column of the pod trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TraceColumn {
    Arrival,
    Duration,
    Namespace,
    Owner,
    Cpu,
    Memory,
    Gpu,
    Template,
    Priority,
    Labels,
    NodeSelector,
    Tolerations,
    DoNotDisrupt,
}

const NUM_COLUMNS: usize = 13;

/// The trace column names, in the contract's order.
pub const TRACE_COLUMNS: [&str; NUM_COLUMNS] = [
    "arrival",
    "duration",
    "namespace",
    "owner",
    "cpu",
    "memory",
    "gpu",
    "template",
    "priority",
    "labels",
    "node_selector",
    "tolerations",
    "do_not_disrupt",
];

impl TraceColumn {
    /// Every column, in the contract's order.
    pub const ALL: [TraceColumn; NUM_COLUMNS] = [
        TraceColumn::Arrival,
        TraceColumn::Duration,
        TraceColumn::Namespace,
        TraceColumn::Owner,
        TraceColumn::Cpu,
        TraceColumn::Memory,
        TraceColumn::Gpu,
        TraceColumn::Template,
        TraceColumn::Priority,
        TraceColumn::Labels,
        TraceColumn::NodeSelector,
        TraceColumn::Tolerations,
        TraceColumn::DoNotDisrupt,
    ];

    /// The header name of the column.
    pub fn as_str(self) -> &'static str {
        TRACE_COLUMNS[self as usize]
    }

    /// Looks a header name up (exact match).
    pub fn parse(name: &str) -> Option<TraceColumn> {
        TRACE_COLUMNS
            .iter()
            .position(|c| *c == name)
            .map(|i| TraceColumn::ALL[i])
    }
}

impl fmt::Display for TraceColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One toleration from the `tolerations` column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TraceToleration {
    /// `None` tolerates every key (only with `operator_exists`).
    pub key: Option<String>,
    /// Operator `Exists` (`true`) or `Equal` (`false`).
    pub operator_exists: bool,
    /// The value for operator `Equal`; `None` for `Exists`.
    pub value: Option<String>,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`; `None` tolerates every effect.
    pub effect: Option<String>,
}

impl TraceToleration {
    /// Kubernetes' `Toleration.ToleratesTaint`: does this toleration tolerate a taint with this
    /// key, value and effect?
    pub fn tolerates(&self, taint_key: &str, taint_value: &str, taint_effect: &str) -> bool {
        if self.effect.as_deref().is_some_and(|e| e != taint_effect)
            || self.key.as_deref().is_some_and(|k| k != taint_key)
        {
            return false;
        }
        if self.operator_exists {
            true
        } else {
            self.value.as_deref().unwrap_or("") == taint_value
        }
    }
}

/// One row of the pod trace, exactly as the CSV gives it (no template merged in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceRow {
    /// 1-based line in the file where the record starts.
    pub line: u64,
    /// 0-based data row number (the header is not counted).
    pub index: u64,
    /// Creation time, milliseconds since the start of the simulation.
    pub arrival_ms: u64,
    /// Run time once Running, milliseconds; `None` runs until the end of the simulation.
    pub duration_ms: Option<u64>,
    /// Defaults to [`DEFAULT_NAMESPACE`].
    pub namespace: String,
    pub owner: Option<String>,
    /// cpu request in millicores.
    pub cpu_milli: Option<i64>,
    /// memory request in milli-bytes (as [`crate::resources::Resources`] stores it).
    pub memory_milli: Option<i64>,
    /// `nvidia.com/gpu` request, a count (not a milli-value).
    pub gpu: Option<i64>,
    pub template: Option<String>,
    pub priority: Option<i32>,
    pub labels: Vec<(String, String)>,
    pub node_selector: Vec<(String, String)>,
    pub tolerations: Vec<TraceToleration>,
    pub do_not_disrupt: bool,
}

/// Why a trace could not be read. Every variant names the file; all but `Io` name the line.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{file}:{line}: the trace is empty; its first line must be a header naming the columns \
         (at least `arrival`, `cpu` and `memory`)"
    )]
    Empty { file: String, line: u64 },
    #[error(
        "{file}:{line}: unknown column `{column}`{}; the trace columns are {}",
        suggestion_hint(.suggestion, .column),
        TRACE_COLUMNS.join(", ")
    )]
    UnknownColumn {
        file: String,
        line: u64,
        column: String,
        suggestion: Option<&'static str>,
    },
    #[error("{file}:{line}: column `{column}` appears more than once in the header")]
    DuplicateColumn {
        file: String,
        line: u64,
        column: String,
    },
    #[error("{file}:{line}: the header has no column `{column}`{reason}")]
    MissingColumn {
        file: String,
        line: u64,
        column: &'static str,
        reason: &'static str,
    },
    #[error("{file}:{line}: {problem}")]
    Header {
        file: String,
        line: u64,
        problem: String,
    },
    #[error("{file}:{line}: this row has {found} fields but the header has {expected} columns")]
    FieldCount {
        file: String,
        line: u64,
        expected: usize,
        found: usize,
    },
    #[error("{file}:{line}: column {column}: {value:?} {expected}")]
    Value {
        file: String,
        line: u64,
        column: &'static str,
        /// The offending cell, or the offending entry of a list cell (shortened when long).
        value: String,
        expected: String,
    },
    #[error("{file}:{line}: {problem}")]
    Csv {
        file: String,
        line: u64,
        problem: String,
    },
}

fn suggestion_hint(suggestion: &Option<&'static str>, column: &str) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None if column.parse::<f64>().is_ok() => {
            " (the first line looks like data: the trace needs a header row)".to_string()
        }
        None => String::new(),
    }
}

impl TraceError {
    /// The file (or reader name) the error is in.
    pub fn file(&self) -> &str {
        match self {
            TraceError::Io { file, .. }
            | TraceError::Empty { file, .. }
            | TraceError::UnknownColumn { file, .. }
            | TraceError::DuplicateColumn { file, .. }
            | TraceError::MissingColumn { file, .. }
            | TraceError::Header { file, .. }
            | TraceError::FieldCount { file, .. }
            | TraceError::Value { file, .. }
            | TraceError::Csv { file, .. } => file,
        }
    }

    /// The 1-based line of the error, when known.
    pub fn line(&self) -> Option<u64> {
        match self {
            TraceError::Io { .. } => None,
            TraceError::Empty { line, .. }
            | TraceError::UnknownColumn { line, .. }
            | TraceError::DuplicateColumn { line, .. }
            | TraceError::MissingColumn { line, .. }
            | TraceError::Header { line, .. }
            | TraceError::FieldCount { line, .. }
            | TraceError::Value { line, .. }
            | TraceError::Csv { line, .. } => Some(*line),
        }
    }

    /// The column the error is about, when it is about one.
    pub fn column(&self) -> Option<&str> {
        match self {
            TraceError::UnknownColumn { column, .. }
            | TraceError::DuplicateColumn { column, .. } => Some(column),
            TraceError::MissingColumn { column, .. } | TraceError::Value { column, .. } => {
                Some(column)
            }
            _ => None,
        }
    }
}

/// Streams the rows of a pod trace. Construct with [`TraceReader::open`] or
/// [`TraceReader::from_reader`] (both validate the header), then iterate.
///
/// Iteration continues after a malformed row (each yields its own error) so that
/// `karpsim validate` can report every problem; it stops after an I/O error.
pub struct TraceReader {
    name: String,
    csv: csv::Reader<LineTracker<Box<dyn Read + Send>>>,
    record: csv::StringRecord,
    /// Field index of each column present in the header.
    cols: [Option<usize>; NUM_COLUMNS],
    /// Number of header columns.
    width: usize,
    requests_optional: bool,
    next_index: u64,
    max_arrival_ms: Option<u64>,
    unsorted: bool,
    done: bool,
}

impl fmt::Debug for TraceReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceReader")
            .field("name", &self.name)
            .field("columns", &self.columns().collect::<Vec<_>>())
            .field("rows_read", &self.next_index)
            .finish_non_exhaustive()
    }
}

impl TraceReader {
    /// Opens a trace file and validates its header. `requests_optional` is true when templates
    /// may supply the requests: then the `cpu` and `memory` columns and cells may be absent.
    pub fn open(path: &Path, requests_optional: bool) -> Result<TraceReader, TraceError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| TraceError::Io {
            file: name.clone(),
            source,
        })?;
        TraceReader::from_reader(&name, file, requests_optional)
    }

    /// Reads a trace from any reader; `name` stands for the file in error messages.
    pub fn from_reader(
        name: &str,
        r: impl Read + Send + 'static,
        requests_optional: bool,
    ) -> Result<TraceReader, TraceError> {
        let csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(LineTracker::new(Box::new(r) as Box<dyn Read + Send>));
        let mut reader = TraceReader {
            name: name.to_string(),
            csv,
            record: csv::StringRecord::new(),
            cols: [None; NUM_COLUMNS],
            width: 0,
            requests_optional,
            next_index: 0,
            max_arrival_ms: None,
            unsorted: false,
            done: false,
        };
        reader.read_header()?;
        Ok(reader)
    }

    fn read_header(&mut self) -> Result<(), TraceError> {
        let got = match self.csv.read_record(&mut self.record) {
            Ok(got) => got,
            Err(e) => return Err(self.csv_error(e)),
        };
        let line = self.record_line();
        if !got || self.record.iter().all(|f| f.trim().is_empty()) {
            return Err(TraceError::Empty {
                file: self.name.clone(),
                line,
            });
        }
        let header = &self.record;
        for (i, raw) in header.iter().enumerate() {
            let name = raw.trim();
            if name.is_empty() {
                return Err(TraceError::Header {
                    file: self.name.clone(),
                    line,
                    problem: format!(
                        "header column {} has no name (is there a stray comma?)",
                        i + 1
                    ),
                });
            }
            let Some(col) = TraceColumn::parse(name) else {
                return Err(TraceError::UnknownColumn {
                    file: self.name.clone(),
                    line,
                    column: name.to_string(),
                    suggestion: closest_column(name),
                });
            };
            if self.cols[col as usize].is_some() {
                return Err(TraceError::DuplicateColumn {
                    file: self.name.clone(),
                    line,
                    column: name.to_string(),
                });
            }
            self.cols[col as usize] = Some(i);
        }
        self.width = header.len();
        let mut required = vec![(TraceColumn::Arrival, "")];
        if !self.requests_optional {
            let why = " (cpu and memory requests are required when no pod templates are given \
                       to supply them)";
            required.push((TraceColumn::Cpu, why));
            required.push((TraceColumn::Memory, why));
        }
        for (col, reason) in required {
            if self.cols[col as usize].is_none() {
                return Err(TraceError::MissingColumn {
                    file: self.name.clone(),
                    line,
                    column: col.as_str(),
                    reason,
                });
            }
        }
        Ok(())
    }

    /// The file (or reader name) this trace is read from.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The columns the header names, in header order.
    pub fn columns(&self) -> impl Iterator<Item = TraceColumn> + '_ {
        let mut present: Vec<(usize, TraceColumn)> = TraceColumn::ALL
            .iter()
            .filter_map(|c| self.cols[*c as usize].map(|i| (i, *c)))
            .collect();
        present.sort_unstable();
        present.into_iter().map(|(_, c)| c)
    }

    /// True when the header has this column.
    pub fn has_column(&self, col: TraceColumn) -> bool {
        self.cols[col as usize].is_some()
    }

    /// Number of data records read so far (malformed ones included).
    pub fn rows_read(&self) -> u64 {
        self.next_index
    }

    /// True once a row arrived earlier than a row before it: the trace is not sorted by
    /// `arrival` and cannot be simulated as a stream (see [`read_all_sorted`]).
    pub fn saw_unsorted(&self) -> bool {
        self.unsorted
    }

    /// The latest arrival among the rows read so far.
    pub fn max_arrival_ms(&self) -> Option<u64> {
        self.max_arrival_ms
    }

    /// Reads the remaining rows and sorts them stably by arrival (rows keep their `index` and
    /// `line`). Holds the whole trace in memory; stops at the first error.
    pub fn collect_sorted(self) -> Result<Vec<TraceRow>, TraceError> {
        let mut rows = self.collect::<Result<Vec<_>, _>>()?;
        rows.sort_by_key(|r| r.arrival_ms);
        Ok(rows)
    }

    /// The 1-based line where the record just read starts. (csv's own `Position::line` counts
    /// blank lines skipped before the record and, in CRLF files, lags by one.)
    fn record_line(&mut self) -> u64 {
        let start = self
            .record
            .position()
            .map_or_else(|| self.csv.position().byte(), |p| p.byte());
        self.csv.get_mut().line_at(start)
    }

    fn csv_error(&mut self, e: csv::Error) -> TraceError {
        let start = e
            .position()
            .map_or_else(|| self.csv.position().byte(), |p| p.byte());
        let line = self.csv.get_mut().line_at(start);
        let text = e.to_string();
        match e.into_kind() {
            csv::ErrorKind::Io(source) => TraceError::Io {
                file: self.name.clone(),
                source,
            },
            csv::ErrorKind::Utf8 { err, .. } => {
                let column = self
                    .column_at(err.field())
                    .map_or(String::new(), |c| format!(" (column {c})"));
                TraceError::Csv {
                    file: self.name.clone(),
                    line,
                    problem: format!(
                        "field {}{column} is not valid UTF-8 (at byte {})",
                        err.field() + 1,
                        err.valid_up_to()
                    ),
                }
            }
            _ => TraceError::Csv {
                file: self.name.clone(),
                line,
                problem: text,
            },
        }
    }

    fn column_at(&self, field: usize) -> Option<TraceColumn> {
        TraceColumn::ALL
            .iter()
            .copied()
            .find(|c| self.cols[*c as usize] == Some(field))
    }

    /// Parses the current record.
    fn parse_record(&self, index: u64, line: u64) -> Result<TraceRow, TraceError> {
        let rec = &self.record;
        if rec.len() != self.width {
            return Err(TraceError::FieldCount {
                file: self.name.clone(),
                line,
                expected: self.width,
                found: rec.len(),
            });
        }
        let cell = |c: TraceColumn| -> &str {
            match self.cols[c as usize] {
                Some(i) => rec.get(i).unwrap_or("").trim(),
                None => "",
            }
        };
        let fail = |c: TraceColumn, value: &str, expected: String| TraceError::Value {
            file: self.name.clone(),
            line,
            column: c.as_str(),
            value: shorten(value),
            expected,
        };
        let wrap =
            |c: TraceColumn| move |(value, expected): (String, String)| fail(c, &value, expected);

        let arrival_s = cell(TraceColumn::Arrival);
        let arrival_ms = if arrival_s.is_empty() {
            return Err(fail(
                TraceColumn::Arrival,
                arrival_s,
                "is empty (every row needs an arrival time: seconds since the start of the \
                 simulation, e.g. 12.5)"
                    .to_string(),
            ));
        } else {
            parse_seconds(arrival_s)
                .map_err(|why| fail(TraceColumn::Arrival, arrival_s, why.to_string()))?
        };

        let duration_s = cell(TraceColumn::Duration);
        let duration_ms = if duration_s.is_empty() {
            None
        } else {
            Some(
                parse_seconds(duration_s)
                    .map_err(|why| fail(TraceColumn::Duration, duration_s, why.to_string()))?,
            )
        };

        let ns = cell(TraceColumn::Namespace);
        let namespace = if ns.is_empty() {
            DEFAULT_NAMESPACE.to_string()
        } else if is_valid_dns_label(ns) {
            ns.to_string()
        } else {
            return Err(fail(
                TraceColumn::Namespace,
                ns,
                "is not a valid namespace (a DNS label: at most 63 lowercase alphanumerics or \
                 `-`, starting and ending with an alphanumeric)"
                    .to_string(),
            ));
        };

        let owner = non_empty(cell(TraceColumn::Owner));
        let template = non_empty(cell(TraceColumn::Template));

        let cpu_milli = self.parse_request(TraceColumn::Cpu, cell(TraceColumn::Cpu), &fail)?;
        let memory_milli =
            self.parse_request(TraceColumn::Memory, cell(TraceColumn::Memory), &fail)?;

        let gpu_s = cell(TraceColumn::Gpu);
        let gpu = if gpu_s.is_empty() {
            None
        } else {
            match gpu_s.parse::<u32>() {
                Ok(n) => Some(i64::from(n)),
                Err(_) => {
                    return Err(fail(
                        TraceColumn::Gpu,
                        gpu_s,
                        "is not a GPU count (expected a non-negative integer such as 1)"
                            .to_string(),
                    ));
                }
            }
        };

        let prio_s = cell(TraceColumn::Priority);
        let priority = if prio_s.is_empty() {
            None
        } else {
            match prio_s.parse::<i32>() {
                Ok(p) => Some(p),
                Err(_) => {
                    return Err(fail(
                        TraceColumn::Priority,
                        prio_s,
                        format!(
                            "is not a pod priority (expected an integer from {} to {})",
                            i32::MIN,
                            i32::MAX
                        ),
                    ));
                }
            }
        };

        let labels = parse_pairs(cell(TraceColumn::Labels)).map_err(wrap(TraceColumn::Labels))?;
        let node_selector = parse_pairs(cell(TraceColumn::NodeSelector))
            .map_err(wrap(TraceColumn::NodeSelector))?;
        let tolerations = parse_tolerations(cell(TraceColumn::Tolerations))
            .map_err(wrap(TraceColumn::Tolerations))?;

        let dnd = cell(TraceColumn::DoNotDisrupt);
        let do_not_disrupt = if dnd.is_empty() || dnd.eq_ignore_ascii_case("false") {
            false
        } else if dnd.eq_ignore_ascii_case("true") {
            true
        } else {
            return Err(fail(
                TraceColumn::DoNotDisrupt,
                dnd,
                "is not a boolean (expected true, false or an empty cell)".to_string(),
            ));
        };

        Ok(TraceRow {
            line,
            index,
            arrival_ms,
            duration_ms,
            namespace,
            owner,
            cpu_milli,
            memory_milli,
            gpu,
            template,
            priority,
            labels,
            node_selector,
            tolerations,
            do_not_disrupt,
        })
    }

    fn parse_request(
        &self,
        col: TraceColumn,
        s: &str,
        fail: &dyn Fn(TraceColumn, &str, String) -> TraceError,
    ) -> Result<Option<i64>, TraceError> {
        if s.is_empty() {
            if self.requests_optional {
                return Ok(None);
            }
            return Err(fail(
                col,
                s,
                format!(
                    "is empty (a {col} request is required when no pod templates are given to \
                     supply it; e.g. {})",
                    if col == TraceColumn::Cpu {
                        "250m or 2"
                    } else {
                        "512Mi or 2Gi"
                    }
                ),
            ));
        }
        match parse_quantity_milli(s) {
            Ok(v) if v < 0 => Err(fail(
                col,
                s,
                "is negative (requests must be zero or more)".to_string(),
            )),
            Ok(v) => Ok(Some(v)),
            Err(QuantityError::Overflow(_)) => Err(fail(col, s, "is too large".to_string())),
            Err(_) => Err(fail(
                col,
                s,
                "is not a Kubernetes quantity (expected a number with an optional suffix, e.g. \
                 250m, 2, 512Mi, 1Gi, 1e3)"
                    .to_string(),
            )),
        }
    }
}

impl Iterator for TraceReader {
    type Item = Result<TraceRow, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.csv.read_record(&mut self.record) {
            Ok(true) => {}
            Ok(false) => {
                self.done = true;
                return None;
            }
            Err(e) => {
                if e.is_io_error() {
                    self.done = true;
                } else {
                    self.next_index += 1;
                }
                return Some(Err(self.csv_error(e)));
            }
        }
        let index = self.next_index;
        self.next_index += 1;
        let line = self.record_line();
        let row = self.parse_record(index, line);
        if let Ok(r) = &row {
            match self.max_arrival_ms {
                Some(max) if r.arrival_ms < max => self.unsorted = true,
                Some(max) if r.arrival_ms == max => {}
                _ => self.max_arrival_ms = Some(r.arrival_ms),
            }
        }
        Some(row)
    }
}

/// Reads a whole trace and sorts it stably by arrival: for traces that are not sorted and so
/// cannot be streamed. Holds every row in memory; stops at the first error.
pub fn read_all_sorted(path: &Path, requests_optional: bool) -> Result<Vec<TraceRow>, TraceError> {
    TraceReader::open(path, requests_optional)?.collect_sorted()
}

/// Wraps the input to remember where its line breaks are, so that the line where a record
/// starts can be told exactly (`\n`, `\r\n` and a lone `\r` each end a line). Holds only the
/// breaks from the current record on: bounded by the csv buffer plus the longest record.
struct LineTracker<R> {
    inner: R,
    /// Bytes read from `inner` so far.
    offset: u64,
    /// Offsets of the `\r` and `\n` bytes not yet pruned, each with whether it ends a line
    /// (the `\r` of a `\r\n` does not).
    breaks: VecDeque<(u64, bool)>,
    /// Number of line ends pruned from `breaks`.
    lines_before: u64,
    /// Whether the last byte read was a `\r`.
    last_was_cr: bool,
}

impl<R: Read> LineTracker<R> {
    fn new(inner: R) -> LineTracker<R> {
        LineTracker {
            inner,
            offset: 0,
            breaks: VecDeque::new(),
            lines_before: 0,
            last_was_cr: false,
        }
    }

    /// The 1-based line of the first byte at or after `start` that is not part of a run of
    /// blank-line bytes (`\r`, `\n`): where a record read from `start` really begins. Forgets
    /// breaks before `start`, so calls must come with non-decreasing `start`.
    fn line_at(&mut self, start: u64) -> u64 {
        while let Some(&(at, ends_line)) = self.breaks.front() {
            if at >= start {
                break;
            }
            self.lines_before += u64::from(ends_line);
            self.breaks.pop_front();
        }
        let mut lines = self.lines_before;
        for (k, &(at, ends_line)) in self.breaks.iter().enumerate() {
            if at != start + k as u64 {
                break;
            }
            lines += u64::from(ends_line);
        }
        lines + 1
    }
}

impl<R: Read> Read for LineTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for (i, &b) in buf[..n].iter().enumerate() {
            match b {
                b'\n' => {
                    if self.last_was_cr
                        && let Some(cr) = self.breaks.back_mut()
                    {
                        cr.1 = false;
                    }
                    self.breaks.push_back((self.offset + i as u64, true));
                    self.last_was_cr = false;
                }
                b'\r' => {
                    self.breaks.push_back((self.offset + i as u64, true));
                    self.last_was_cr = true;
                }
                _ => self.last_was_cr = false,
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// `s` cut to [`MAX_SHOWN_VALUE`] characters for an error message.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(MAX_SHOWN_VALUE) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Non-negative finite decimal seconds → milliseconds, rounded to the nearest.
fn parse_seconds(s: &str) -> Result<u64, &'static str> {
    let v: f64 = s
        .parse()
        .map_err(|_| "is not a number of seconds (expected a non-negative decimal such as 12.5)")?;
    if !v.is_finite() {
        return Err(
            "is not a finite number of seconds (expected a non-negative decimal such as 12.5)",
        );
    }
    if v < 0.0 {
        return Err(
            "is negative (expected seconds since the start of the simulation, zero or more)",
        );
    }
    let ms = (v * 1000.0).round();
    if ms > MAX_TIME_MS {
        return Err("is too large (at most about 9e12 seconds)");
    }
    Ok(ms as u64)
}

/// `k=v;k2=v2` → pairs. Errors carry (offending entry, what was expected).
fn parse_pairs(cell: &str) -> Result<Vec<(String, String)>, (String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    if cell.is_empty() {
        return Ok(out);
    }
    for entry in cell.split(';') {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let Some((k, v)) = entry.split_once('=') else {
            return Err((
                entry.to_string(),
                "is not a key=value pair (expected k=v;k2=v2)".to_string(),
            ));
        };
        let (k, v) = (k.trim(), v.trim());
        if !is_valid_label_key(k) {
            return Err((
                k.to_string(),
                format!("is not a valid label key ({LABEL_KEY_SYNTAX})"),
            ));
        }
        if !is_valid_label_value(v) {
            return Err((
                v.to_string(),
                format!("is not a valid label value for key `{k}` ({LABEL_VALUE_SYNTAX})"),
            ));
        }
        if out.iter().any(|(ok, _)| ok == k) {
            return Err((
                k.to_string(),
                "is given more than once (each key may appear once per cell)".to_string(),
            ));
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

const TOLERATION_FORMS: &str = "expected key=value:Effect, key:Effect, :Effect, key=value or key, \
     separated by `;`";

/// The `tolerations` cell → tolerations. Errors carry (offending entry, what was expected).
fn parse_tolerations(cell: &str) -> Result<Vec<TraceToleration>, (String, String)> {
    let mut out = Vec::new();
    if cell.is_empty() {
        return Ok(out);
    }
    for entry in cell.split(';') {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let bad = |why: &str| {
            (
                entry.to_string(),
                format!("is not a toleration: {why} ({TOLERATION_FORMS})"),
            )
        };
        let (selector, effect) = match entry.split_once(':') {
            None => (entry, None),
            Some((sel, eff)) => {
                let eff = eff.trim();
                if eff.contains(':') {
                    return Err(bad("more than one `:`"));
                }
                if eff.is_empty() {
                    return Err(bad("no effect after `:`"));
                }
                let Some(known) = TAINT_EFFECTS.iter().find(|e| **e == eff) else {
                    let hint = closest(eff, &TAINT_EFFECTS)
                        .map_or(String::new(), |s| format!("did you mean `{s}`? "));
                    return Err((
                        eff.to_string(),
                        format!(
                            "is not a taint effect ({hint}expected NoSchedule, PreferNoSchedule \
                             or NoExecute)"
                        ),
                    ));
                };
                (sel.trim(), Some(known.to_string()))
            }
        };
        let (key, value) = match selector.split_once('=') {
            None => (selector, None),
            Some((k, v)) => (k.trim(), Some(v.trim())),
        };
        if key.is_empty() {
            if value.is_some() {
                return Err(bad("a value needs a key"));
            }
            if effect.is_none() {
                return Err(bad("empty"));
            }
            out.push(TraceToleration {
                key: None,
                operator_exists: true,
                value: None,
                effect,
            });
            continue;
        }
        if !is_valid_label_key(key) {
            return Err((
                key.to_string(),
                format!("is not a valid toleration key ({LABEL_KEY_SYNTAX})"),
            ));
        }
        if let Some(v) = value
            && !is_valid_label_value(v)
        {
            return Err((
                v.to_string(),
                format!("is not a valid toleration value for key `{key}` ({LABEL_VALUE_SYNTAX})"),
            ));
        }
        out.push(TraceToleration {
            key: Some(key.to_string()),
            operator_exists: value.is_none(),
            value: value.map(str::to_string),
            effect,
        });
    }
    Ok(out)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `input` (ignoring case, `-` vs `_`), when it is plausibly a typo:
/// within a third of the longer name's length (at least 2), or one a prefix of the other.
fn closest(input: &str, candidates: &[&'static str]) -> Option<&'static str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let input_n = norm(input);
    if input_n.is_empty() {
        return None;
    }
    let mut best: Option<(usize, &'static str)> = None;
    for &c in candidates {
        let c_n = norm(c);
        let d = edit_distance(&input_n, &c_n);
        let close = d <= (input_n.len().max(c_n.len()) / 3).max(2)
            || (input_n.len() >= 3 && (c_n.starts_with(&input_n) || input_n.starts_with(&c_n)));
        if close && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

fn closest_column(input: &str) -> Option<&'static str> {
    closest(input, &TRACE_COLUMNS)
}
