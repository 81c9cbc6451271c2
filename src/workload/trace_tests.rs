//! Tests of the pod-trace reader (public API only).

use std::io::{Cursor, Read};

use proptest::prelude::*;

use super::*;
use crate::resources::{GIB_MILLI, MIB_MILLI};

fn reader(text: &str, requests_optional: bool) -> Result<TraceReader, TraceError> {
    TraceReader::from_reader(
        "traces/web.csv",
        Cursor::new(text.as_bytes().to_vec()),
        requests_optional,
    )
}

fn rows(text: &str) -> Vec<Result<TraceRow, TraceError>> {
    reader(text, false).expect("header is valid").collect()
}

fn one_row(text: &str) -> Result<TraceRow, TraceError> {
    let mut all = rows(text);
    assert_eq!(all.len(), 1, "expected exactly one row");
    all.pop().unwrap()
}

fn row_err(text: &str) -> TraceError {
    one_row(text).expect_err("row should be rejected")
}

fn header_err(text: &str, requests_optional: bool) -> TraceError {
    reader(text, requests_optional).expect_err("header should be rejected")
}

fn tol(
    key: Option<&str>,
    exists: bool,
    value: Option<&str>,
    effect: Option<&str>,
) -> TraceToleration {
    TraceToleration {
        key: key.map(str::to_string),
        operator_exists: exists,
        value: value.map(str::to_string),
        effect: effect.map(str::to_string),
    }
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn every_column_parsed_in_any_order() {
    let text = "\
do_not_disrupt,tolerations,node_selector,labels,priority,template,gpu,memory,cpu,owner,namespace,duration,arrival
true,dedicated=gpu:NoSchedule;spot:NoExecute;:PreferNoSchedule,karpenter.sh/capacity-type=spot;topology.kubernetes.io/zone=us-east-1a,app=web;tier=,1000,web-tpl,2,1.5Gi,250m,web-deploy,team-a,3600.5,123.456
";
    let row = one_row(text).unwrap();
    assert_eq!(
        row,
        TraceRow {
            line: 2,
            index: 0,
            arrival_ms: 123_456,
            duration_ms: Some(3_600_500),
            namespace: "team-a".to_string(),
            owner: Some("web-deploy".to_string()),
            cpu_milli: Some(250),
            memory_milli: Some(GIB_MILLI + GIB_MILLI / 2),
            gpu: Some(2),
            template: Some("web-tpl".to_string()),
            priority: Some(1000),
            labels: pairs(&[("app", "web"), ("tier", "")]),
            node_selector: pairs(&[
                ("karpenter.sh/capacity-type", "spot"),
                ("topology.kubernetes.io/zone", "us-east-1a"),
            ]),
            tolerations: vec![
                tol(Some("dedicated"), false, Some("gpu"), Some("NoSchedule")),
                tol(Some("spot"), true, None, Some("NoExecute")),
                tol(None, true, None, Some("PreferNoSchedule")),
            ],
            do_not_disrupt: true,
        }
    );
    let r = reader(text, false).unwrap();
    assert_eq!(r.columns().count(), 13);
    assert_eq!(r.columns().next(), Some(TraceColumn::DoNotDisrupt));
    assert!(r.has_column(TraceColumn::Gpu));
}

#[test]
fn defaults_for_absent_and_empty_cells() {
    let text = "arrival,cpu,memory,duration,namespace,owner,gpu,template,priority,labels,node_selector,tolerations,do_not_disrupt\n\
                7,1,512Mi,,,,,,,,,,\n";
    let row = one_row(text).unwrap();
    assert_eq!(row.arrival_ms, 7000);
    assert_eq!(row.cpu_milli, Some(1000));
    assert_eq!(row.memory_milli, Some(512 * MIB_MILLI));
    assert_eq!(row.duration_ms, None);
    assert_eq!(row.namespace, DEFAULT_NAMESPACE);
    assert_eq!(row.owner, None);
    assert_eq!(row.gpu, None);
    assert_eq!(row.template, None);
    assert_eq!(row.priority, None);
    assert!(row.labels.is_empty() && row.node_selector.is_empty() && row.tolerations.is_empty());
    assert!(!row.do_not_disrupt);

    let row = one_row("arrival,cpu,memory\n 1.5 , 500m ,1Gi\n").unwrap();
    assert_eq!(
        (row.arrival_ms, row.cpu_milli, row.memory_milli),
        (1500, Some(500), Some(GIB_MILLI))
    );
    assert_eq!(row.namespace, "default");
}

#[test]
fn times_round_to_the_nearest_millisecond() {
    for (s, ms) in [
        ("0", 0),
        ("-0", 0),
        ("123.456", 123_456),
        ("3600.5", 3_600_500),
        ("0.0004", 0),
        ("0.0006", 1),
        ("1e3", 1_000_000),
        (".25", 250),
        ("86400", 86_400_000),
        ("59.9999", 60_000),
    ] {
        let row = one_row(&format!("arrival,duration,cpu,memory\n{s},{s},1,1Gi\n")).unwrap();
        assert_eq!(row.arrival_ms, ms, "{s}");
        assert_eq!(row.duration_ms, Some(ms), "{s}");
    }
    for bad in [
        "-1", "-0.5", "NaN", "nan", "inf", "-inf", "1e400", "abc", "1,5", "12s", "1e20",
    ] {
        let text = format!("arrival,cpu,memory\n\"{bad}\",1,1Gi\n");
        let e = row_err(&text);
        assert_eq!(e.column(), Some("arrival"), "{bad}: {e}");
        let text = format!("arrival,duration,cpu,memory\n1,\"{bad}\",1,1Gi\n");
        let e = row_err(&text);
        assert_eq!(e.column(), Some("duration"), "{bad}: {e}");
    }
    let e = row_err("arrival,cpu,memory\n,1,1Gi\n");
    assert_eq!(e.column(), Some("arrival"));
    assert!(e.to_string().contains("is empty"), "{e}");
}

#[test]
fn header_errors_name_the_column_and_suggest() {
    let e = header_err("arrival,durration,cpu,memory\n", false);
    assert!(
        matches!(&e, TraceError::UnknownColumn { column, suggestion: Some("duration"), line: 1, .. } if column == "durration")
    );
    let msg = e.to_string();
    assert!(
        msg.starts_with("traces/web.csv:1: unknown column `durration` (did you mean `duration`?)"),
        "{msg}"
    );
    assert!(
        msg.contains("node_selector"),
        "lists the valid columns: {msg}"
    );

    for (typo, want) in [
        ("CPU", Some("cpu")),
        ("cpus", Some("cpu")),
        ("mem", Some("memory")),
        ("node-selector", Some("node_selector")),
        ("nodeSelector", Some("node_selector")),
        ("doNotDisrupt", Some("do_not_disrupt")),
        ("arrival_time", Some("arrival")),
        ("toleration", Some("tolerations")),
        ("label", Some("labels")),
        ("zzzzzzzz", None),
    ] {
        match header_err(&format!("arrival,cpu,memory,{typo}\n"), false) {
            TraceError::UnknownColumn { suggestion, .. } => assert_eq!(suggestion, want, "{typo}"),
            other => panic!("{typo}: {other}"),
        }
    }

    let e = header_err("arrival,cpu,memory,cpu\n", false);
    assert!(
        matches!(&e, TraceError::DuplicateColumn { column, .. } if column == "cpu"),
        "{e}"
    );
    assert!(
        e.to_string().contains("`cpu` appears more than once"),
        "{e}"
    );

    let e = header_err("cpu,memory\n", false);
    assert!(
        matches!(
            e,
            TraceError::MissingColumn {
                column: "arrival",
                ..
            }
        ),
        "{e}"
    );
    let e = header_err("arrival,memory\n", false);
    assert!(
        matches!(e, TraceError::MissingColumn { column: "cpu", .. }),
        "{e}"
    );
    let e = header_err("arrival,cpu\n", false);
    assert!(
        matches!(
            e,
            TraceError::MissingColumn {
                column: "memory",
                ..
            }
        ),
        "{e}"
    );
    let e = header_err("cpu,memory\n", true);
    assert!(
        matches!(
            e,
            TraceError::MissingColumn {
                column: "arrival",
                ..
            }
        ),
        "{e}"
    );

    assert!(matches!(header_err("", false), TraceError::Empty { .. }));
    assert!(matches!(header_err("\n\n", true), TraceError::Empty { .. }));
    let e = header_err("arrival,cpu,,memory\n", false);
    assert!(e.to_string().contains("header column 3 has no name"), "{e}");
    let e = header_err("1.5,250m,1Gi\n", false);
    assert!(e.to_string().contains("looks like data"), "{e}");
    // A UTF-8 byte-order mark before the header is fine.
    assert!(reader("\u{feff}arrival,cpu,memory\n1,1,1\n", false).is_ok());
}

#[test]
fn requests_optional_allows_missing_cpu_and_memory() {
    let mut r = reader("arrival,template\n5,web\n", true).unwrap();
    let row = r.next().unwrap().unwrap();
    assert_eq!((row.cpu_milli, row.memory_milli), (None, None));
    assert_eq!(row.template.as_deref(), Some("web"));

    let row = reader("arrival,cpu,memory,template\n5,,,web\n", true)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!((row.cpu_milli, row.memory_milli), (None, None));

    let e = row_err("arrival,cpu,memory\n5,,1Gi\n");
    assert_eq!(e.column(), Some("cpu"));
    assert!(e.to_string().contains("required"), "{e}");
}

#[test]
fn row_errors_carry_the_line_number() {
    // Line 3-4: one record whose quoted owner spans two lines; the bad row is on line 5.
    let text = "arrival,owner,cpu,memory\n\
                1,web,250m,1Gi\n\
                2,\"multi\nline\",250m,1Gi\n\
                3,web,2x,1Gi\n\
                4,web,1,1Gi\n";
    let all = rows(text);
    assert_eq!(all.len(), 4);
    assert_eq!(all[0].as_ref().unwrap().line, 2);
    let multi = all[1].as_ref().unwrap();
    assert_eq!((multi.line, multi.index), (3, 1));
    assert_eq!(multi.owner.as_deref(), Some("multi\nline"));
    let e = all[2].as_ref().unwrap_err();
    assert_eq!(e.line(), Some(5));
    assert_eq!(
        e.to_string(),
        "traces/web.csv:5: column cpu: \"2x\" is not a Kubernetes quantity (expected a number \
         with an optional suffix, e.g. 250m, 2, 512Mi, 1Gi, 1e3)"
    );
    // Reading continues after a bad row.
    let last = all[3].as_ref().unwrap();
    assert_eq!((last.line, last.index, last.arrival_ms), (6, 3, 4000));
}

#[test]
fn line_numbers_with_blank_lines_and_any_line_ending() {
    for eol in ["\n", "\r\n", "\r"] {
        // Lines: 1 header, 2 row, 3-4 blank, 5 row, 6-7 one quoted record, 8 blank, 9 row.
        let text = [
            "arrival,owner",
            "1,a",
            "",
            "",
            "2,b",
            "3,\"x",
            "y\"",
            "",
            "4,c",
        ]
        .join(eol);
        let got: Vec<(u64, u64)> = reader(&text, true)
            .unwrap()
            .map(|r| {
                let r = r.unwrap();
                (r.line, r.index)
            })
            .collect();
        assert_eq!(got, vec![(2, 0), (5, 1), (6, 2), (9, 3)], "{eol:?}");
        // Errors on such lines carry the same numbers.
        let text = ["arrival,owner", "", "x,a", "", "y,b"].join(eol) + eol;
        let lines: Vec<_> = reader(&text, true)
            .unwrap()
            .map(|r| r.unwrap_err().line())
            .collect();
        assert_eq!(lines, vec![Some(3), Some(5)], "{eol:?}");
    }
    // Blank lines before the header.
    let r = reader("\n\narrival,cpu,memory,owner\n1,1,1,a\n", false).unwrap();
    assert_eq!(r.map(|r| r.unwrap().line).collect::<Vec<_>>(), vec![4]);
    let e = header_err("\n\narrival,cpus,memory\n", false);
    assert_eq!(e.line(), Some(3));
}

#[test]
fn malformed_cells_are_rejected() {
    let h =
        "arrival,cpu,memory,gpu,priority,labels,node_selector,tolerations,do_not_disrupt,namespace";
    let cases: &[(&str, &str, &str)] = &[
        ("1,1,1Gi,,,,,,,,", "", "fields"),
        ("1,1,1Gi,,,,,,", "", "fields"),
        ("1,-1,1Gi,,,,,,,", "cpu", "negative"),
        ("1,1,-1Gi,,,,,,,", "memory", "negative"),
        ("1,1,1GB,,,,,,,", "memory", "not a Kubernetes quantity"),
        ("1,99999999999999999999E,1Gi,,,,,,,", "cpu", "too large"),
        ("1,1,1Gi,1.5,,,,,,", "gpu", "GPU count"),
        ("1,1,1Gi,-1,,,,,,", "gpu", "GPU count"),
        ("1,1,1Gi,500m,,,,,,", "gpu", "GPU count"),
        ("1,1,1Gi,,3000000000,,,,,", "priority", "priority"),
        ("1,1,1Gi,,high,,,,,", "priority", "priority"),
        ("1,1,1Gi,,,app,,,,", "labels", "key=value"),
        ("1,1,1Gi,,,-app=web,,,,", "labels", "label key"),
        ("1,1,1Gi,,,app=we b,,,,", "labels", "label value"),
        ("1,1,1Gi,,,a=b;a=c,,,,", "labels", "more than once"),
        ("1,1,1Gi,,,,zone=a/b,,,", "node_selector", "label value"),
        (
            "1,1,1Gi,,,,,k=v:NoSchedul,,",
            "tolerations",
            "did you mean `NoSchedule`",
        ),
        (
            "1,1,1Gi,,,,,k:noschedule,,",
            "tolerations",
            "did you mean `NoSchedule`",
        ),
        (
            "1,1,1Gi,,,,,k=v:NoSchedule:x,,",
            "tolerations",
            "more than one",
        ),
        ("1,1,1Gi,,,,,:,,", "tolerations", "no effect"),
        ("1,1,1Gi,,,,,k:,,", "tolerations", "no effect"),
        ("1,1,1Gi,,,,,=v:NoSchedule,,", "tolerations", "needs a key"),
        (
            "1,1,1Gi,,,,,bad key:NoSchedule,,",
            "tolerations",
            "toleration key",
        ),
        ("1,1,1Gi,,,,,k=v v,,", "tolerations", "toleration value"),
        ("1,1,1Gi,,,,,,yes,", "do_not_disrupt", "boolean"),
        ("1,1,1Gi,,,,,,1,", "do_not_disrupt", "boolean"),
        ("1,1,1Gi,,,,,,,Team_A", "namespace", "namespace"),
    ];
    for (row, column, needle) in cases {
        let e = row_err(&format!("{h}\n{row}\n"));
        let msg = e.to_string();
        assert!(msg.starts_with("traces/web.csv:2: "), "{row}: {msg}");
        if column.is_empty() {
            assert!(matches!(e, TraceError::FieldCount { .. }), "{row}: {msg}");
        } else {
            assert_eq!(e.column(), Some(*column), "{row}: {msg}");
        }
        assert!(msg.contains(needle), "{row}: {msg}");
    }
    // The bad entry, not the whole cell, is quoted.
    let e = row_err(&format!("{h}\n1,1,1Gi,,,app=web;-x=y,,,,\n"));
    assert!(
        matches!(&e, TraceError::Value { value, .. } if value == "-x"),
        "{e}"
    );
    // Long values are shortened in messages.
    let long = "x".repeat(500);
    let e = row_err(&format!("arrival,cpu,memory\n{long},1,1\n"));
    assert!(e.to_string().len() < 400, "{e}");
}

#[test]
fn accepted_cell_variants() {
    let h = "arrival,cpu,memory,gpu,priority,labels,do_not_disrupt";
    let row = one_row(&format!("{h}\n0,0,0,0,-5,a=b;;c=d;,TRUE\n")).unwrap();
    assert_eq!(
        (row.cpu_milli, row.memory_milli, row.gpu, row.priority),
        (Some(0), Some(0), Some(0), Some(-5))
    );
    assert_eq!(row.labels, pairs(&[("a", "b"), ("c", "d")]));
    assert!(row.do_not_disrupt);
    let row = one_row(&format!("{h}\n0,1,1,,,,False\n")).unwrap();
    assert!(!row.do_not_disrupt);
}

#[test]
fn toleration_forms() {
    let cell =
        "dedicated=gpu:NoSchedule; spot:NoExecute ;:PreferNoSchedule;team=a;example.com/batch";
    let row = one_row(&format!("arrival,cpu,memory,tolerations\n1,1,1Gi,{cell}\n")).unwrap();
    assert_eq!(
        row.tolerations,
        vec![
            tol(Some("dedicated"), false, Some("gpu"), Some("NoSchedule")),
            tol(Some("spot"), true, None, Some("NoExecute")),
            tol(None, true, None, Some("PreferNoSchedule")),
            tol(Some("team"), false, Some("a"), None),
            tol(Some("example.com/batch"), true, None, None),
        ]
    );
    let t = &row.tolerations;
    assert!(t[0].tolerates("dedicated", "gpu", "NoSchedule"));
    assert!(!t[0].tolerates("dedicated", "cpu", "NoSchedule"));
    assert!(!t[0].tolerates("dedicated", "gpu", "NoExecute"));
    assert!(t[1].tolerates("spot", "anything", "NoExecute"));
    assert!(!t[1].tolerates("spot", "anything", "NoSchedule"));
    assert!(t[2].tolerates("any/key", "v", "PreferNoSchedule"));
    assert!(!t[2].tolerates("any/key", "v", "NoSchedule"));
    assert!(t[3].tolerates("team", "a", "NoExecute") && !t[3].tolerates("team", "b", "NoSchedule"));
    assert!(t[4].tolerates("example.com/batch", "", "NoSchedule"));
    // `key=` is Equal with the empty value.
    let row = one_row("arrival,cpu,memory,tolerations\n1,1,1Gi,k=:NoSchedule\n").unwrap();
    assert_eq!(
        row.tolerations,
        vec![tol(Some("k"), false, Some(""), Some("NoSchedule"))]
    );
    assert!(row.tolerations[0].tolerates("k", "", "NoSchedule"));
}

#[test]
fn sortedness_is_tracked() {
    let mut r = reader("arrival,cpu,memory\n1,1,1\n1,1,1\n2,1,1\n", false).unwrap();
    assert_eq!(r.by_ref().filter(|x| x.is_ok()).count(), 3);
    assert!(!r.saw_unsorted());
    assert_eq!(r.max_arrival_ms(), Some(2000));

    let mut r = reader("arrival,cpu,memory\n5,1,1\n3,1,1\n9,1,1\n", false).unwrap();
    r.next().unwrap().unwrap();
    assert!(!r.saw_unsorted());
    r.next().unwrap().unwrap();
    assert!(r.saw_unsorted());
    r.next().unwrap().unwrap();
    assert!(r.saw_unsorted());
    assert_eq!(r.rows_read(), 3);
}

#[test]
fn read_all_sorted_is_stable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    std::fs::write(&path, "arrival,owner\n5,a\n3,b\n5,c\n1,d\n3,e\n").unwrap();
    let rows = read_all_sorted(&path, true).unwrap();
    let order: Vec<_> = rows
        .iter()
        .map(|r| (r.arrival_ms / 1000, r.owner.clone().unwrap(), r.index))
        .collect();
    let want: Vec<_> = [
        (1, "d", 3),
        (3, "b", 1),
        (3, "e", 4),
        (5, "a", 0),
        (5, "c", 2),
    ]
    .iter()
    .map(|(a, o, i)| (*a, o.to_string(), *i))
    .collect();
    assert_eq!(order, want);

    std::fs::write(&path, "arrival,owner\n5,a\nx,b\n").unwrap();
    let e = read_all_sorted(&path, true).unwrap_err();
    assert_eq!(e.line(), Some(3));
    assert!(e.file().ends_with("t.csv"));

    let missing = dir.path().join("nope.csv");
    let e = TraceReader::open(&missing, false).unwrap_err();
    assert!(matches!(e, TraceError::Io { .. }));
    assert!(e.to_string().contains("nope.csv"), "{e}");
}

#[test]
fn invalid_utf8_is_an_error_with_a_line() {
    let mut bytes = b"arrival,owner,cpu,memory\n1,ok,1,1\n2,".to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe]);
    bytes.extend_from_slice(b",1,1\n3,ok,1,1\n");
    let all: Vec<_> = TraceReader::from_reader("bin.csv", Cursor::new(bytes), false)
        .unwrap()
        .collect();
    assert_eq!(all.len(), 3);
    let e = all[1].as_ref().unwrap_err();
    assert_eq!(e.line(), Some(3));
    assert!(e.to_string().contains("column owner"), "{e}");
    assert!(all[2].is_ok());
    assert_eq!(all[2].as_ref().unwrap().index, 2);
}

/// Hands out one byte per read, so every line break falls on a read boundary.
struct Trickle<R>(R);

impl<R: Read> Read for Trickle<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let k = out.len().min(1);
        self.0.read(&mut out[..k])
    }
}

/// Produces a sorted trace of `n` rows on the fly, so neither the input nor the rows are ever
/// held in memory.
struct GeneratedTrace {
    next: u64,
    n: u64,
    buf: Vec<u8>,
    pos: usize,
}

impl GeneratedTrace {
    fn new(n: u64) -> GeneratedTrace {
        GeneratedTrace {
            next: 0,
            n,
            buf: b"arrival,duration,cpu,memory,owner,labels\n".to_vec(),
            pos: 0,
        }
    }
}

impl Read for GeneratedTrace {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        use std::io::Write;
        while self.pos == self.buf.len() {
            if self.next == self.n {
                return Ok(0);
            }
            self.buf.clear();
            self.pos = 0;
            let i = self.next;
            writeln!(
                self.buf,
                "{}.{:03},{}.5,{}m,{}Mi,job-{},app=a{}",
                i / 10,
                i % 10 * 100,
                3600 + i % 7,
                100 + i % 900,
                64 + i % 4096,
                i % 50,
                i % 3
            )?;
            self.next += 1;
        }
        let k = out.len().min(self.buf.len() - self.pos);
        out[..k].copy_from_slice(&self.buf[self.pos..self.pos + k]);
        self.pos += k;
        Ok(k)
    }
}

#[test]
fn streams_a_large_trace() {
    const N: u64 = 200_000;
    let mut r = TraceReader::from_reader("gen.csv", GeneratedTrace::new(N), false).unwrap();
    let mut count = 0u64;
    let mut cpu_sum = 0i64;
    for row in r.by_ref() {
        let row = row.unwrap();
        assert_eq!(row.index, count);
        assert_eq!(row.line, count + 2);
        cpu_sum += row.cpu_milli.unwrap();
        count += 1;
    }
    assert_eq!(count, N);
    assert_eq!(r.rows_read(), N);
    assert!(!r.saw_unsorted());
    assert_eq!(r.max_arrival_ms(), Some((N - 1) * 100));
    assert_eq!(cpu_sum, (0..N).map(|i| 100 + (i % 900) as i64).sum::<i64>());
}

/// `cargo test --release --lib workload -- --ignored --nocapture` prints the parse rate.
#[test]
#[ignore]
fn parse_one_million_rows_timing() {
    let mut text = String::from("arrival,duration,cpu,memory\n");
    for _ in 0..1_000_000 {
        text.push_str("123.456,3600.5,500m,1024Mi\n");
    }
    let start = std::time::Instant::now();
    let r = TraceReader::from_reader("perf.csv", Cursor::new(text.into_bytes()), false).unwrap();
    let mut n = 0;
    for row in r {
        row.unwrap();
        n += 1;
    }
    let took = start.elapsed();
    assert_eq!(n, 1_000_000);
    eprintln!("1M rows in {took:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(
        header in prop_oneof![
            Just(String::new()),
            Just("arrival,cpu,memory\n".to_string()),
            Just("arrival,duration,namespace,owner,cpu,memory,gpu,template,priority,labels,node_selector,tolerations,do_not_disrupt\n".to_string()),
            "[a-z_,]{0,40}\n",
        ],
        body in "[-0-9a-zA-Z.,;:=/\"\n\r \t_\u{feff}é]{0,300}",
        optional in any::<bool>(),
    ) {
        let text = format!("{header}{body}");
        if let Ok(r) = reader(&text, optional) {
            let mut n = 0usize;
            for item in r {
                if let Err(e) = item {
                    let _ = e.to_string();
                }
                n += 1;
                prop_assert!(n <= text.len() + 1, "iteration does not end");
            }
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), optional in any::<bool>()) {
        let mut input = b"arrival,cpu,memory,labels,tolerations\n".to_vec();
        input.extend_from_slice(&bytes);
        let r = TraceReader::from_reader("bytes.csv", Cursor::new(input), optional).unwrap();
        let mut n = 0usize;
        for item in r {
            if let Err(e) = item {
                let _ = e.to_string();
            }
            n += 1;
            prop_assert!(n <= bytes.len() + 1, "iteration does not end");
        }
    }

    #[test]
    fn line_numbers_match_a_naive_count(
        owners in proptest::collection::vec("[a-z]{0,3}(\n[a-z]{0,2}){0,2}", 1..20),
        blanks in proptest::collection::vec(0usize..3, 20),
        crlf in any::<bool>(),
        trickle in any::<bool>(),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut text = format!("arrival,owner{eol}");
        let mut line = 2u64;
        let mut want = Vec::new();
        for (i, owner) in owners.iter().enumerate() {
            for _ in 0..blanks[i] {
                text.push_str(eol);
                line += 1;
            }
            want.push(line);
            let owner = owner.replace('\n', eol);
            text.push_str(&format!("{i},\"{owner}\"{eol}"));
            line += 1 + owner.matches('\n').count() as u64;
        }
        let got: Vec<u64> = if trickle {
            TraceReader::from_reader("t.csv", Trickle(Cursor::new(text.into_bytes())), true)
                .unwrap()
                .map(|r| r.unwrap().line)
                .collect()
        } else {
            reader(&text, true).unwrap().map(|r| r.unwrap().line).collect()
        };
        prop_assert_eq!(got, want);
    }

    #[test]
    fn valid_rows_round_trip(
        arrival_ms in 0u64..10_000_000_000,
        cpu in 0i64..100_000,
        mem_mi in 0i64..1_000_000,
        gpu in proptest::option::of(0u32..16),
        prio in any::<i32>(),
    ) {
        let gpu_s = gpu.map_or(String::new(), |g| g.to_string());
        let text = format!(
            "arrival,cpu,memory,gpu,priority\n{}.{:03},{cpu}m,{mem_mi}Mi,{gpu_s},{prio}\n",
            arrival_ms / 1000,
            arrival_ms % 1000
        );
        let row = one_row(&text).unwrap();
        prop_assert_eq!(row.arrival_ms, arrival_ms);
        prop_assert_eq!(row.cpu_milli, Some(cpu));
        prop_assert_eq!(row.memory_milli, Some(mem_mi * MIB_MILLI));
        prop_assert_eq!(row.gpu, gpu.map(i64::from));
        prop_assert_eq!(row.priority, Some(prio));
    }
}
