//! Source positions for YAML documents.
//!
//! `serde_yaml` reports a location only for the first error it meets, and a parsed
//! `serde_yaml::Value` carries none. To point every error at a line, this module scans the
//! source text once (block and flow collections, quoted, plain and block scalars, `---`
//! document markers) and records, for each dotted field path, where its key and its value
//! start. The scanner never fails: on input it does not understand it stops recording, and
//! lookups fall back to the nearest recorded ancestor.

use std::collections::BTreeMap;

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub col: usize,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: Pos,
    value: Option<Pos>,
}

/// Positions of the fields of one YAML document, keyed by dotted path.
#[derive(Debug, Clone, Default)]
pub struct PosIndex {
    map: BTreeMap<String, Entry>,
    start: Option<Pos>,
}

impl PosIndex {
    fn record(&mut self, path: &str, key: Pos, value: Option<Pos>) {
        if path.is_empty() {
            if self.start.is_none() {
                self.start = Some(key);
            }
            return;
        }
        self.map
            .entry(path.to_string())
            .or_insert(Entry { key, value });
    }

    /// Where the key of `path` starts, or the nearest recorded ancestor's key.
    pub fn key(&self, path: &str) -> Option<Pos> {
        let mut p = path;
        loop {
            if let Some(e) = self.map.get(p) {
                return Some(e.key);
            }
            match parent_path(p) {
                Some(pp) => p = pp,
                None => return self.start,
            }
        }
    }

    /// Where the value of `path` starts (its key when the value is empty), or the nearest
    /// recorded ancestor's key.
    pub fn value(&self, path: &str) -> Option<Pos> {
        match self.map.get(path) {
            Some(e) => Some(e.value.unwrap_or(e.key)),
            None => self.key(path),
        }
    }
}

/// The path with its last segment removed (`a.b[0]` → `a.b`, `a` → ``), or `None` for ``.
pub fn parent_path(p: &str) -> Option<&str> {
    if p.is_empty() {
        return None;
    }
    if p.ends_with(']') {
        // Find the matching '[' of the last bracket segment.
        if let Some(i) = p.rfind('[') {
            return Some(&p[..i]);
        }
    }
    match p.rfind('.') {
        Some(i) => Some(&p[..i]),
        None => Some(""),
    }
}

/// True when a key can be written bare in a dotted path.
fn is_simple_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Appends a mapping key to a path: `a` + `b` → `a.b`; keys with dots or slashes are
/// bracketed as kubectl does: `spec.limits` + `nvidia.com/gpu` → `spec.limits[nvidia.com/gpu]`.
pub fn join_key(parent: &str, key: &str) -> String {
    if is_simple_key(key) {
        if parent.is_empty() {
            key.to_string()
        } else {
            format!("{parent}.{key}")
        }
    } else {
        format!("{parent}[{key}]")
    }
}

/// Appends a sequence index to a path: `a` + 2 → `a[2]`.
pub fn join_index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// Scans `text` and returns one index per YAML document, in order.
pub fn scan(text: &str) -> Vec<PosIndex> {
    let lines: Vec<Vec<char>> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l).chars().collect())
        .collect();
    let budget = text.len().saturating_mul(8).saturating_add(10_000);
    let mut s = Scanner {
        lines,
        li: 0,
        ci: 0,
        docs: Vec::new(),
        cur: PosIndex::default(),
        budget,
        depth: 0,
    };
    s.run();
    s.docs
}

enum Stop {
    Eof,
    DocStart,
    DocEnd,
    Content,
}

struct Scanner {
    lines: Vec<Vec<char>>,
    li: usize,
    ci: usize,
    docs: Vec<PosIndex>,
    cur: PosIndex,
    budget: usize,
    depth: usize,
}

/// Deeper nesting is not indexed (libyaml refuses it anyway).
const MAX_DEPTH: usize = 200;

impl Scanner {
    fn tick(&mut self) -> bool {
        if self.budget == 0 {
            return false;
        }
        self.budget -= 1;
        true
    }

    fn pos(&self) -> Pos {
        Pos {
            line: self.li + 1,
            col: self.ci + 1,
        }
    }

    fn ch(&self) -> Option<char> {
        self.lines
            .get(self.li)
            .and_then(|l| l.get(self.ci))
            .copied()
    }

    fn ch_at(&self, off: usize) -> Option<char> {
        self.lines
            .get(self.li)
            .and_then(|l| l.get(self.ci + off))
            .copied()
    }

    fn eof(&self) -> bool {
        self.li >= self.lines.len()
    }

    fn next_line(&mut self) {
        self.li += 1;
        self.ci = 0;
    }

    fn at_eol(&self) -> bool {
        matches!(self.ch(), None | Some('#'))
    }

    fn is_marker_line(&self, li: usize, marker: &str) -> bool {
        let Some(l) = self.lines.get(li) else {
            return false;
        };
        let m: Vec<char> = marker.chars().collect();
        l.len() >= 3 && l[..3] == m[..] && l.get(3).is_none_or(|c| c.is_whitespace())
    }

    fn indent_of(&self, li: usize) -> usize {
        self.lines
            .get(li)
            .map_or(0, |l| l.iter().take_while(|c| **c == ' ').count())
    }

    fn line_blank(&self, li: usize) -> bool {
        self.lines.get(li).is_none_or(|l| {
            let t: Vec<&char> = l.iter().skip_while(|c| c.is_whitespace()).collect();
            t.is_empty() || *t[0] == '#'
        })
    }

    fn skip_spaces(&mut self) {
        while matches!(self.ch(), Some(' ' | '\t')) {
            self.ci += 1;
        }
    }

    /// Moves to the next content character, stopping at document markers.
    fn skip_blank(&mut self) -> Stop {
        loop {
            if !self.tick() || self.eof() {
                return Stop::Eof;
            }
            if self.ci == 0 {
                if self.is_marker_line(self.li, "---") {
                    return Stop::DocStart;
                }
                if self.is_marker_line(self.li, "...") {
                    return Stop::DocEnd;
                }
            }
            self.skip_spaces();
            if self.at_eol() {
                self.next_line();
                continue;
            }
            return Stop::Content;
        }
    }

    /// Like `skip_blank` but inside flow collections, where markers are not special.
    fn skip_flow_blank(&mut self) -> bool {
        loop {
            if !self.tick() || self.eof() {
                return false;
            }
            self.skip_spaces();
            if self.at_eol() {
                self.next_line();
                continue;
            }
            return true;
        }
    }

    fn run(&mut self) {
        let mut open = false;
        loop {
            match self.skip_blank() {
                Stop::Eof => {
                    if open {
                        self.docs.push(std::mem::take(&mut self.cur));
                    }
                    return;
                }
                Stop::DocStart => {
                    if open {
                        self.docs.push(std::mem::take(&mut self.cur));
                    }
                    open = true;
                    self.ci = 3;
                    self.skip_spaces();
                    // Skip a tag or anchor on the marker line; content there is a root node.
                    if !self.at_eol() {
                        let start = (self.li, self.ci);
                        self.node("", -1);
                        if (self.li, self.ci) == start {
                            self.next_line();
                        }
                    } else {
                        self.next_line();
                    }
                }
                Stop::DocEnd => {
                    if open {
                        self.docs.push(std::mem::take(&mut self.cur));
                    }
                    open = false;
                    self.next_line();
                }
                Stop::Content => {
                    open = true;
                    let start = (self.li, self.ci);
                    self.node("", -1);
                    if (self.li, self.ci) == start {
                        self.next_line();
                    }
                }
            }
        }
    }

    /// Parses the node whose first character is under the cursor.
    fn node(&mut self, path: &str, parent_indent: isize) {
        if !self.tick() || self.depth > MAX_DEPTH {
            self.budget = 0;
            return;
        }
        self.depth += 1;
        self.node_inner(path, parent_indent);
        self.depth -= 1;
    }

    fn node_inner(&mut self, path: &str, parent_indent: isize) {
        let p = self.pos();
        if path.is_empty() {
            self.cur.record("", p, Some(p));
        }
        let Some(c) = self.ch() else { return };
        let next_ws = self.ch_at(1).is_none_or(|c| c == ' ' || c == '\t');
        match c {
            '-' if next_ws => self.block_seq(path, self.ci),
            '{' | '[' => {
                self.flow(path);
                self.skip_spaces();
                if self.at_eol() {
                    self.next_line();
                }
            }
            '|' | '>' => {
                self.next_line();
                self.skip_more_indented(parent_indent);
            }
            '&' | '!' => {
                while self.ch().is_some_and(|c| !c.is_whitespace()) {
                    self.ci += 1;
                }
                self.skip_spaces();
                if self.at_eol() {
                    self.next_line();
                    if let Stop::Content = self.skip_blank() {
                        let col = self.ci as isize;
                        let is_seq = self.ch() == Some('-');
                        if col > parent_indent || (is_seq && col == parent_indent) {
                            self.node(path, parent_indent);
                        }
                    }
                } else {
                    self.node(path, parent_indent);
                }
            }
            _ => {
                if self.key_at().is_some() {
                    self.block_map(path, self.ci);
                } else {
                    self.scalar_rest();
                    self.next_line();
                    self.skip_more_indented(parent_indent);
                }
            }
        }
    }

    /// Skips the rest of a scalar on this line (following a quoted scalar across lines).
    fn scalar_rest(&mut self) {
        if let Some(q @ ('"' | '\'')) = self.ch() {
            self.ci += 1;
            self.skip_quoted(q);
        }
    }

    /// With the cursor just after an opening quote, moves just past the closing one.
    fn skip_quoted(&mut self, q: char) {
        loop {
            if !self.tick() || self.eof() {
                return;
            }
            match self.ch() {
                None => self.next_line(),
                Some('\\') if q == '"' => self.ci += 2,
                Some(c) if c == q => {
                    if q == '\'' && self.ch_at(1) == Some('\'') {
                        self.ci += 2;
                    } else {
                        self.ci += 1;
                        return;
                    }
                }
                Some(_) => self.ci += 1,
            }
        }
    }

    /// Skips following lines that are blank or indented deeper than `parent_indent`.
    fn skip_more_indented(&mut self, parent_indent: isize) {
        while !self.eof() && self.tick() {
            if self.is_marker_line(self.li, "---") || self.is_marker_line(self.li, "...") {
                return;
            }
            if self.line_blank(self.li) || self.indent_of(self.li) as isize > parent_indent {
                self.next_line();
            } else {
                return;
            }
        }
    }

    /// If a block mapping key starts under the cursor, its text and the index of its colon.
    fn key_at(&self) -> Option<(String, usize)> {
        let line = self.lines.get(self.li)?;
        let start = self.ci;
        let first = *line.get(start)?;
        let colon_ok = |j: usize| line.get(j + 1).is_none_or(|c| *c == ' ' || *c == '\t');
        if first == '"' || first == '\'' {
            let mut j = start + 1;
            let mut out = String::new();
            while j < line.len() {
                let c = line[j];
                if first == '"' && c == '\\' {
                    if let Some(n) = line.get(j + 1) {
                        out.push(match n {
                            'n' => '\n',
                            't' => '\t',
                            other => *other,
                        });
                    }
                    j += 2;
                    continue;
                }
                if c == first {
                    if first == '\'' && line.get(j + 1) == Some(&'\'') {
                        out.push('\'');
                        j += 2;
                        continue;
                    }
                    let mut k = j + 1;
                    while matches!(line.get(k), Some(' ' | '\t')) {
                        k += 1;
                    }
                    if line.get(k) == Some(&':') && colon_ok(k) {
                        return Some((out, k));
                    }
                    return None;
                }
                out.push(c);
                j += 1;
            }
            return None;
        }
        if matches!(
            first,
            '{' | '[' | '&' | '!' | '*' | '|' | '>' | '%' | '@' | '`' | '#' | '?'
        ) {
            return None;
        }
        let mut j = start;
        while j < line.len() {
            let c = line[j];
            if c == '#' && j > start && line[j - 1].is_whitespace() {
                return None;
            }
            if c == ':' && colon_ok(j) {
                let key: String = line[start..j].iter().collect();
                return Some((key.trim_end().to_string(), j));
            }
            j += 1;
        }
        None
    }

    fn block_map(&mut self, path: &str, col: usize) {
        loop {
            if !self.tick() {
                return;
            }
            let Some((key, colon)) = self.key_at() else {
                return;
            };
            let key_pos = self.pos();
            let kpath = join_key(path, &key);
            self.ci = colon + 1;
            self.skip_spaces();
            if self.at_eol() {
                self.next_line();
                match self.skip_blank() {
                    Stop::Content => {
                        let c = self.ci;
                        let is_seq = self.ch() == Some('-')
                            && self.ch_at(1).is_none_or(|c| c == ' ' || c == '\t');
                        if c > col || (c == col && is_seq) {
                            self.cur.record(&kpath, key_pos, Some(self.pos()));
                            self.node(&kpath, col as isize);
                        } else {
                            self.cur.record(&kpath, key_pos, None);
                        }
                    }
                    _ => {
                        self.cur.record(&kpath, key_pos, None);
                        return;
                    }
                }
            } else {
                self.cur.record(&kpath, key_pos, Some(self.pos()));
                self.node(&kpath, col as isize);
            }
            match self.skip_blank() {
                Stop::Content if self.ci == col => {}
                _ => return,
            }
        }
    }

    fn block_seq(&mut self, path: &str, col: usize) {
        let mut i = 0usize;
        loop {
            if !self.tick() {
                return;
            }
            let dash = self.pos();
            let ipath = join_index(path, i);
            self.ci += 1;
            self.skip_spaces();
            if self.at_eol() {
                self.next_line();
                match self.skip_blank() {
                    Stop::Content if self.ci > col => {
                        self.cur.record(&ipath, self.pos(), Some(self.pos()));
                        self.node(&ipath, col as isize);
                    }
                    Stop::Content => self.cur.record(&ipath, dash, None),
                    _ => {
                        self.cur.record(&ipath, dash, None);
                        return;
                    }
                }
            } else {
                self.cur.record(&ipath, self.pos(), Some(self.pos()));
                self.node(&ipath, col as isize);
            }
            i += 1;
            match self.skip_blank() {
                Stop::Content
                    if self.ci == col
                        && self.ch() == Some('-')
                        && self.ch_at(1).is_none_or(|c| c == ' ' || c == '\t') => {}
                _ => return,
            }
        }
    }

    /// Reads a flow scalar (quoted or plain) and returns its text.
    fn flow_scalar(&mut self) -> String {
        let mut out = String::new();
        match self.ch() {
            Some(q @ ('"' | '\'')) => {
                let (l0, c0) = (self.li, self.ci + 1);
                self.ci += 1;
                self.skip_quoted(q);
                if self.li == l0
                    && let Some(l) = self.lines.get(l0)
                {
                    let end = self.ci.saturating_sub(1).min(l.len());
                    if c0 <= end {
                        out = l[c0..end].iter().collect();
                    }
                }
                if q == '\'' {
                    out = out.replace("''", "'");
                }
            }
            _ => {
                while let Some(c) = self.ch() {
                    if matches!(c, ',' | '}' | ']' | '{' | '[') {
                        break;
                    }
                    if c == ':'
                        && self
                            .ch_at(1)
                            .is_none_or(|n| matches!(n, ' ' | '\t' | ',' | '}' | ']'))
                    {
                        break;
                    }
                    if c == '#' && out.ends_with([' ', '\t']) {
                        break;
                    }
                    out.push(c);
                    self.ci += 1;
                }
            }
        }
        out.trim().to_string()
    }

    fn flow(&mut self, path: &str) {
        if self.depth > MAX_DEPTH {
            self.budget = 0;
            return;
        }
        self.depth += 1;
        self.flow_inner(path);
        self.depth -= 1;
    }

    fn flow_inner(&mut self, path: &str) {
        let Some(open) = self.ch() else { return };
        self.ci += 1;
        let close = if open == '{' { '}' } else { ']' };
        let mut i = 0usize;
        loop {
            if !self.skip_flow_blank() {
                return;
            }
            let before = (self.li, self.ci);
            match self.ch() {
                Some(c) if c == close => {
                    self.ci += 1;
                    return;
                }
                Some(',') => {
                    self.ci += 1;
                    continue;
                }
                Some('}' | ']') => {
                    // Mismatched bracket: stop here.
                    self.ci += 1;
                    return;
                }
                _ => {}
            }
            if open == '{' {
                let key_pos = self.pos();
                let key = if matches!(self.ch(), Some('{' | '[')) {
                    self.flow("\u{0}");
                    String::new()
                } else {
                    self.flow_scalar()
                };
                let kpath = join_key(path, &key);
                self.skip_spaces();
                if self.ch() == Some(':') {
                    self.ci += 1;
                    if !self.skip_flow_blank() {
                        return;
                    }
                    if matches!(self.ch(), Some(',' | '}')) {
                        self.cur.record(&kpath, key_pos, None);
                    } else {
                        self.cur.record(&kpath, key_pos, Some(self.pos()));
                        self.flow_value(&kpath);
                    }
                } else {
                    self.cur.record(&kpath, key_pos, None);
                }
            } else {
                let ipath = join_index(path, i);
                self.cur.record(&ipath, self.pos(), Some(self.pos()));
                self.flow_value(&ipath);
                self.skip_spaces();
                if self.ch() == Some(':') {
                    // A single-pair mapping inside a flow sequence: skip its value.
                    self.ci += 1;
                    if !self.skip_flow_blank() {
                        return;
                    }
                    self.flow_value("\u{0}");
                }
                i += 1;
            }
            if (self.li, self.ci) == before {
                self.ci += 1;
            }
        }
    }

    fn flow_value(&mut self, path: &str) {
        // Skip anchors and tags before the value.
        while matches!(self.ch(), Some('&' | '!')) && self.tick() {
            while self.ch().is_some_and(|c| !c.is_whitespace() && c != ',') {
                self.ci += 1;
            }
            if !self.skip_flow_blank() {
                return;
            }
        }
        match self.ch() {
            Some('{' | '[') => self.flow(path),
            _ => {
                self.flow_scalar();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(idx: &PosIndex, path: &str) -> (usize, usize) {
        let p = idx.key(path).expect(path);
        (p.line, p.col)
    }

    #[test]
    fn block_and_flow() {
        let text = "\
# comment
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: default
spec:
  template:
    spec:
      requirements:
        - key: kubernetes.io/arch
          operator: In
          values: [\"amd64\"]
        - {key: a, operator: Gt, values: ['4']}
  limits:
    \"nvidia.com/gpu\": 100
  disruption:
    budgets:
    - nodes: \"20%\"
      reasons:
        - Drifted
    consolidateAfter: 1m
---
kind: EC2NodeClass
spec:
  userData: |
    #!/bin/bash
    key: not-a-key
  role: x
";
        let docs = scan(text);
        assert_eq!(docs.len(), 2);
        let d = &docs[0];
        assert_eq!(at(d, "kind"), (3, 1));
        assert_eq!(at(d, "metadata.name"), (5, 3));
        assert_eq!(at(d, "spec.template.spec.requirements[0]"), (10, 11));
        assert_eq!(
            at(d, "spec.template.spec.requirements[0].operator"),
            (11, 11)
        );
        assert_eq!(
            at(d, "spec.template.spec.requirements[0].values[0]"),
            (12, 20)
        );
        assert_eq!(
            at(d, "spec.template.spec.requirements[1].operator"),
            (13, 20)
        );
        assert_eq!(
            at(d, "spec.template.spec.requirements[1].values[0]"),
            (13, 43)
        );
        assert_eq!(at(d, "spec.limits[nvidia.com/gpu]"), (15, 5));
        assert_eq!(at(d, "spec.disruption.budgets[0].nodes"), (18, 7));
        assert_eq!(at(d, "spec.disruption.budgets[0].reasons[0]"), (20, 11));
        assert_eq!(at(d, "spec.disruption.consolidateAfter"), (21, 5));
        // Fallback to an ancestor.
        assert_eq!(at(d, "spec.disruption.budgets[0].missing"), (18, 7));
        let e = &docs[1];
        assert_eq!(at(e, "spec.role"), (28, 3));
        assert_eq!(at(e, "spec.userData"), (25, 3));
        let v = e.value("spec.userData").unwrap();
        assert_eq!((v.line, v.col), (25, 13));
    }

    #[test]
    fn multi_line_flow_and_list_root() {
        let text = "\
- name: web
  spec:
    topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: zone,
         labelSelector: {matchLabels: {app: web}}}
- name: db
";
        let docs = scan(text);
        assert_eq!(docs.len(), 1);
        let d = &docs[0];
        assert_eq!(at(d, "[0].name"), (1, 3));
        assert_eq!(
            at(
                d,
                "[0].spec.topologySpreadConstraints[0].labelSelector.matchLabels.app"
            ),
            (5, 40)
        );
        assert_eq!(at(d, "[1].name"), (6, 3));
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let deep = "[".repeat(100_000);
        let _ = scan(&deep);
        let deep = "{a: ".repeat(50_000);
        let _ = scan(&deep);
        let mut block = String::new();
        for i in 0..5_000 {
            block.push_str(&" ".repeat(i));
            block.push_str("- a:\n");
        }
        let _ = scan(&block);
    }

    #[test]
    fn doc_counting() {
        assert_eq!(scan("").len(), 0);
        assert_eq!(scan("# only a comment\n").len(), 0);
        assert_eq!(scan("a: 1\n").len(), 1);
        assert_eq!(scan("---\na: 1\n").len(), 1);
        assert_eq!(scan("# c\n---\na: 1\n---\nb: 2\n").len(), 2);
        assert_eq!(scan("a: 1\n---\n").len(), 2);
    }
}
