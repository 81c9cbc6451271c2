//! Kubernetes types shared by Karpenter manifests, pod specs, DaemonSets and PDBs:
//! object metadata, taints, tolerations, node selector requirements and label selectors.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::labels::{
    dns1123_label_error, dns1123_subdomain_error, label_value_error, nodepool_key_restriction,
    qualified_name_error, well_known_values,
};
use super::pos::{join_index, join_key};
use super::walk::{At, Ctx, Obj};

/// A node selector operator (Kubernetes' six plus Karpenter's `Gte`/`Lte`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
    Gte,
    Lte,
}

impl Operator {
    /// The manifest spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::In => "In",
            Operator::NotIn => "NotIn",
            Operator::Exists => "Exists",
            Operator::DoesNotExist => "DoesNotExist",
            Operator::Gt => "Gt",
            Operator::Lt => "Lt",
            Operator::Gte => "Gte",
            Operator::Lte => "Lte",
        }
    }

    /// True for the integer comparison operators.
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            Operator::Gt | Operator::Lt | Operator::Gte | Operator::Lte
        )
    }
}

const OPERATORS: &[(&str, Operator)] = &[
    ("In", Operator::In),
    ("NotIn", Operator::NotIn),
    ("Exists", Operator::Exists),
    ("DoesNotExist", Operator::DoesNotExist),
    ("Gt", Operator::Gt),
    ("Lt", Operator::Lt),
    ("Gte", Operator::Gte),
    ("Lte", Operator::Lte),
];

/// Spellings people try that map to a real operator, for the suggestion.
const OPERATOR_ALIASES: &[(&str, &str)] = &[
    ("equal", "In"),
    ("equals", "In"),
    ("eq", "In"),
    ("=", "In"),
    ("==", "In"),
    ("notequal", "NotIn"),
    ("notequals", "NotIn"),
    ("ne", "NotIn"),
    ("!=", "NotIn"),
    ("exist", "Exists"),
    ("notexists", "DoesNotExist"),
    ("doesnotexists", "DoesNotExist"),
    (">", "Gt"),
    ("<", "Lt"),
    (">=", "Gte"),
    ("<=", "Lte"),
    ("greaterthan", "Gt"),
    ("lessthan", "Lt"),
];

/// A node selector requirement (NodePool `requirements`, pod node affinity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSelectorRequirement {
    pub key: String,
    pub operator: Operator,
    pub values: Vec<String>,
    /// Karpenter's `minValues` (NodePool requirements only).
    pub min_values: Option<u32>,
}

/// A taint effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl TaintEffect {
    /// The manifest spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }
}

pub(crate) const TAINT_EFFECTS: &[(&str, TaintEffect)] = &[
    ("NoSchedule", TaintEffect::NoSchedule),
    ("PreferNoSchedule", TaintEffect::PreferNoSchedule),
    ("NoExecute", TaintEffect::NoExecute),
];

/// A node taint.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Taint {
    pub key: String,
    pub value: Option<String>,
    pub effect: TaintEffect,
}

/// A toleration operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TolerationOperator {
    Equal,
    Exists,
}

/// A pod toleration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toleration {
    /// `None` (empty key) matches every key; the operator is then `Exists`.
    pub key: Option<String>,
    pub operator: TolerationOperator,
    pub value: Option<String>,
    /// `None` matches every effect.
    pub effect: Option<TaintEffect>,
    pub toleration_seconds: Option<i64>,
}

/// A label selector operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// One `matchExpressions` entry of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSelectorRequirement {
    pub key: String,
    pub operator: SelectorOperator,
    pub values: Vec<String>,
}

/// A Kubernetes label selector. An empty selector matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    pub match_labels: BTreeMap<String, String>,
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

impl LabelSelector {
    /// True when `labels` satisfies every term.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|e| {
                let got = labels.get(&e.key);
                match e.operator {
                    SelectorOperator::In => got.is_some_and(|g| e.values.contains(g)),
                    SelectorOperator::NotIn => got.is_none_or(|g| !e.values.contains(g)),
                    SelectorOperator::Exists => got.is_some(),
                    SelectorOperator::DoesNotExist => got.is_none(),
                }
            })
    }
}

/// The parts of `metadata` karpsim reads. Every other `ObjectMeta` key is accepted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectMeta {
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// `ObjectMeta` keys read by karpsim.
const META_KEYS: &[&str] = &["name", "namespace", "labels", "annotations"];
/// `ObjectMeta` keys accepted and ignored.
pub const META_IGNORED: &[&str] = &[
    "generateName",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// An integer or a percentage (`intstr.IntOrString` as PDBs use it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntOrPercent {
    Int(i64),
    Percent(u32),
}

/// How strictly a node selector requirement is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReqFlavor {
    /// NodePool `requirements`: Karpenter's CRD CEL rules and webhook validation.
    NodePool,
    /// Pod node affinity: Kubernetes API validation only.
    Pod,
}

/// Reads a Kubernetes metadata block. Label keys and values and annotation keys are checked.
pub(crate) fn parse_meta(ctx: &mut Ctx, v: &Value, path: &str, require_name: bool) -> ObjectMeta {
    let o = ctx.obj_ignoring(v, path, META_KEYS, META_IGNORED);
    let name = if require_name {
        ctx.req_string(&o, "name")
    } else {
        ctx.string(&o, "name")
    };
    if let Some(n) = &name
        && !n.is_empty()
        && let Some(e) = dns1123_subdomain_error(n)
    {
        ctx.err(&o.path("name"), e);
    }
    let namespace = ctx.string(&o, "namespace");
    if let Some(ns) = &namespace
        && let Some(e) = dns1123_label_error(ns)
    {
        ctx.err(&o.path("namespace"), e);
    }
    let labels = parse_labels(ctx, &o, "labels");
    let annotations = ctx.str_map(&o, "annotations");
    for k in annotations.keys() {
        if let Some(e) = qualified_name_error(k) {
            ctx.error(&join_key(&o.path("annotations"), k), At::Key, e, None);
        }
    }
    ObjectMeta {
        name,
        namespace,
        labels,
        annotations,
    }
}

/// Reads a label map, checking key and value syntax.
pub(crate) fn parse_labels(ctx: &mut Ctx, o: &Obj, key: &str) -> BTreeMap<String, String> {
    let labels = ctx.str_map(o, key);
    let base = o.path(key);
    for (k, v) in &labels {
        let p = join_key(&base, k);
        if let Some(e) = qualified_name_error(k) {
            ctx.error(&p, At::Key, format!("invalid label key: {e}"), None);
        }
        if let Some(e) = label_value_error(v) {
            ctx.err(&p, format!("invalid label value: {e}"));
        }
    }
    labels
}

fn parse_operator(ctx: &mut Ctx, v: &Value, path: &str) -> Option<Operator> {
    let s = match v {
        Value::String(s) => s.clone(),
        other => {
            return ctx.v_enum(other, path, OPERATORS);
        }
    };
    if let Some((_, op)) = OPERATORS.iter().find(|(n, _)| *n == s) {
        return Some(*op);
    }
    let lower = s.to_ascii_lowercase();
    let sugg = OPERATOR_ALIASES
        .iter()
        .find(|(a, _)| *a == lower)
        .map(|(_, o)| o.to_string())
        .or_else(|| super::error::closest(&s, OPERATORS.iter().map(|(n, _)| *n)));
    ctx.error(
        path,
        At::Value,
        format!(
            "unsupported operator `{s}`: expected one of In, NotIn, Exists, DoesNotExist, Gt, Lt, Gte, Lte"
        ),
        sugg,
    );
    None
}

/// Reads a node selector requirement and applies the checks of its flavor.
pub(crate) fn parse_requirement(
    ctx: &mut Ctx,
    v: &Value,
    path: &str,
    flavor: ReqFlavor,
) -> Option<NodeSelectorRequirement> {
    let keys: &[&str] = match flavor {
        ReqFlavor::NodePool => &["key", "operator", "values", "minValues"],
        ReqFlavor::Pod => &["key", "operator", "values"],
    };
    let o = ctx.obj(v, path, keys);
    o.map?;
    let key = ctx.req_string(&o, "key");
    let operator = match o.get("operator") {
        Some(v) => parse_operator(ctx, v, &o.path("operator")),
        None => {
            ctx.missing(&o, "operator");
            None
        }
    };
    let values = ctx.str_list(&o, "values");
    let min_values = ctx.int(&o, "minValues", 1, 50).map(|n| n as u32);
    let vpath = o.path("values");
    let item_path = if o.has("values") {
        vpath.clone()
    } else {
        o.path.clone()
    };

    if let Some(k) = &key {
        if let Some(e) = qualified_name_error(k) {
            ctx.err(&o.path("key"), format!("invalid label key: {e}"));
        } else if flavor == ReqFlavor::NodePool
            && let Some(e) = nodepool_key_restriction(k)
        {
            ctx.err(&o.path("key"), e);
        }
    }
    if flavor == ReqFlavor::NodePool {
        for (i, val) in values.iter().enumerate() {
            if let Some(e) = label_value_error(val) {
                ctx.err(&join_index(&vpath, i), format!("invalid value: {e}"));
            }
        }
    }
    let operator = operator?;
    match operator {
        Operator::In => {
            if values.is_empty() {
                ctx.err(
                    &item_path,
                    "requirements with operator 'In' must have a value defined",
                );
            }
            if let Some(m) = min_values
                && values.len() < m as usize
            {
                ctx.err(
                    &o.path("minValues"),
                    format!(
                        "minValues is {m} but only {} value(s) are listed: requirements with 'minValues' \
                         must have at least that many values",
                        values.len()
                    ),
                );
            }
            if flavor == ReqFlavor::NodePool
                && let Some(k) = &key
                && let Some(known) = well_known_values(k)
                && !values.is_empty()
            {
                let valid = values
                    .iter()
                    .filter(|v| known.contains(&v.as_str()))
                    .count();
                if valid == 0 {
                    let sugg = values
                        .iter()
                        .find_map(|v| super::error::closest(v, known.iter().copied()));
                    ctx.error(
                        &vpath,
                        At::Value,
                        format!(
                            "no valid values for {k}: expected one of {}",
                            known.join(", ")
                        ),
                        sugg,
                    );
                } else if let Some(m) = min_values
                    && valid < m as usize
                {
                    ctx.err(
                        &vpath,
                        format!("only {valid} valid value(s) for {k}, minValues is {m}"),
                    );
                }
            }
        }
        Operator::NotIn => {
            if flavor == ReqFlavor::Pod && values.is_empty() {
                ctx.err(&item_path, "operator NotIn must have at least one value");
            }
        }
        Operator::Exists | Operator::DoesNotExist => {
            if !values.is_empty() {
                ctx.err(
                    &vpath,
                    format!("operator {} must not have values", operator.as_str()),
                );
            }
        }
        op => {
            if values.len() != 1 {
                ctx.err(
                    &item_path,
                    format!(
                        "operator {} must have a single positive integer value",
                        op.as_str()
                    ),
                );
            } else if flavor == ReqFlavor::NodePool {
                let ok =
                    values[0].parse::<i64>().is_ok_and(|n| n >= 0) && !values[0].starts_with('+');
                if !ok {
                    ctx.err(
                        &join_index(&vpath, 0),
                        format!(
                            "`{}` is not valid: operator {} must have a single positive integer value",
                            values[0],
                            op.as_str()
                        ),
                    );
                }
            } else if values[0].parse::<i64>().is_err() {
                ctx.err(
                    &join_index(&vpath, 0),
                    format!(
                        "`{}` is not valid: operator {} needs an integer value",
                        values[0],
                        op.as_str()
                    ),
                );
            }
        }
    }
    if min_values.is_some() && operator != Operator::In && flavor == ReqFlavor::NodePool {
        // Allowed by the CRD, but only meaningful with In; keep it.
    }
    Some(NodeSelectorRequirement {
        key: key?,
        operator,
        values,
        min_values,
    })
}

/// Reads a taint (NodePool `taints`/`startupTaints`, existing nodes).
pub(crate) fn parse_taint(ctx: &mut Ctx, v: &Value, path: &str) -> Option<Taint> {
    let o = ctx.obj(v, path, &["key", "value", "effect", "timeAdded"]);
    o.map?;
    let key = ctx.req_string(&o, "key");
    if let Some(k) = &key
        && let Some(e) = qualified_name_error(k)
    {
        ctx.err(&o.path("key"), format!("invalid taint key: {e}"));
    }
    let value = ctx.string(&o, "value").filter(|s| !s.is_empty());
    if let Some(val) = &value
        && let Some(e) = qualified_name_error(val)
    {
        ctx.err(&o.path("value"), format!("invalid taint value: {e}"));
    }
    let effect = match o.get("effect") {
        Some(v) => ctx.v_enum(v, &o.path("effect"), TAINT_EFFECTS),
        None => {
            ctx.missing(&o, "effect");
            None
        }
    };
    Some(Taint {
        key: key?,
        value,
        effect: effect?,
    })
}

/// Checks duplicate key/effect pairs over a NodePool's taints and startup taints.
pub(crate) fn check_duplicate_taints(ctx: &mut Ctx, groups: &[(&str, &[Taint])]) {
    let mut seen: Vec<(&str, TaintEffect)> = Vec::new();
    for (path, taints) in groups {
        for (i, t) in taints.iter().enumerate() {
            if seen.contains(&(t.key.as_str(), t.effect)) {
                ctx.err(
                    &join_index(path, i),
                    format!(
                        "duplicate taint Key/Effect pair {}={}",
                        t.key,
                        t.effect.as_str()
                    ),
                );
            } else {
                seen.push((t.key.as_str(), t.effect));
            }
        }
    }
}

/// Reads a pod toleration with Kubernetes' validation.
pub(crate) fn parse_toleration(ctx: &mut Ctx, v: &Value, path: &str) -> Option<Toleration> {
    let o = ctx.obj(
        v,
        path,
        &["key", "operator", "value", "effect", "tolerationSeconds"],
    );
    o.map?;
    let key = ctx.string(&o, "key").filter(|k| !k.is_empty());
    let operator = ctx
        .enumv(
            &o,
            "operator",
            &[
                ("Equal", TolerationOperator::Equal),
                ("Exists", TolerationOperator::Exists),
            ],
        )
        .unwrap_or(TolerationOperator::Equal);
    let value = ctx.string(&o, "value").filter(|s| !s.is_empty());
    let effect = ctx.enumv(&o, "effect", TAINT_EFFECTS);
    let toleration_seconds = ctx.int(&o, "tolerationSeconds", i64::MIN, i64::MAX);
    if let Some(k) = &key
        && let Some(e) = qualified_name_error(k)
    {
        ctx.err(&o.path("key"), format!("invalid toleration key: {e}"));
    }
    if key.is_none() && operator != TolerationOperator::Exists && o.has("operator") {
        ctx.err(
            &o.path("operator"),
            "operator must be Exists when `key` is empty",
        );
    } else if key.is_none() && !o.has("operator") {
        ctx.err(
            &o.path,
            "operator must be Exists when `key` is empty (set operator: Exists)",
        );
    }
    match operator {
        TolerationOperator::Exists if value.is_some() => {
            ctx.err(
                &o.path("value"),
                "value must be empty when operator is Exists",
            );
        }
        TolerationOperator::Equal => {
            if let Some(val) = &value
                && let Some(e) = label_value_error(val)
            {
                ctx.err(&o.path("value"), format!("invalid toleration value: {e}"));
            }
        }
        _ => {}
    }
    if toleration_seconds.is_some() && effect != Some(TaintEffect::NoExecute) {
        ctx.err(
            &o.path("effect"),
            "effect must be NoExecute when tolerationSeconds is set",
        );
    }
    Some(Toleration {
        key,
        operator,
        value,
        effect,
        toleration_seconds,
    })
}

/// Reads a label selector with Kubernetes' validation.
pub(crate) fn parse_label_selector(ctx: &mut Ctx, v: &Value, path: &str) -> LabelSelector {
    let o = ctx.obj(v, path, &["matchLabels", "matchExpressions"]);
    let match_labels = parse_labels(ctx, &o, "matchLabels");
    let match_expressions = ctx.list(&o, "matchExpressions", |c, v, p| {
        let e = c.obj(v, p, &["key", "operator", "values"]);
        e.map?;
        let key = c.req_string(&e, "key");
        if let Some(k) = &key
            && let Some(err) = qualified_name_error(k)
        {
            c.err(&e.path("key"), format!("invalid label key: {err}"));
        }
        let operator = match e.get("operator") {
            Some(v) => c.v_enum(
                v,
                &e.path("operator"),
                &[
                    ("In", SelectorOperator::In),
                    ("NotIn", SelectorOperator::NotIn),
                    ("Exists", SelectorOperator::Exists),
                    ("DoesNotExist", SelectorOperator::DoesNotExist),
                ],
            ),
            None => {
                c.missing(&e, "operator");
                None
            }
        };
        let values = c.str_list(&e, "values");
        let vp = if e.has("values") {
            e.path("values")
        } else {
            e.path.clone()
        };
        match operator? {
            SelectorOperator::In | SelectorOperator::NotIn if values.is_empty() => {
                c.err(&vp, "operators In and NotIn need at least one value");
            }
            SelectorOperator::Exists | SelectorOperator::DoesNotExist if !values.is_empty() => {
                c.err(
                    &vp,
                    "operators Exists and DoesNotExist must not have values",
                );
            }
            _ => {}
        }
        for (i, val) in values.iter().enumerate() {
            if let Some(err) = label_value_error(val) {
                c.err(
                    &join_index(&e.path("values"), i),
                    format!("invalid value: {err}"),
                );
            }
        }
        Some(LabelSelectorRequirement {
            key: key?,
            operator: operator?,
            values,
        })
    });
    LabelSelector {
        match_labels,
        match_expressions,
    }
}

/// Reads an int-or-percent (`3`, `"3"`, `"50%"`).
pub(crate) fn parse_int_or_percent(ctx: &mut Ctx, v: &Value, path: &str) -> Option<IntOrPercent> {
    match v {
        Value::Number(_) => ctx
            .v_int(v, path, 0, i32::MAX as i64)
            .map(IntOrPercent::Int),
        Value::String(s) => {
            if let Some(p) = s.strip_suffix('%') {
                match p.parse::<u32>() {
                    Ok(n) => return Some(IntOrPercent::Percent(n)),
                    Err(_) => {
                        ctx.err(
                            path,
                            format!("`{s}` is not a valid percentage (such as 50%)"),
                        );
                        return None;
                    }
                }
            }
            match s.parse::<i64>() {
                Ok(n) if n >= 0 => Some(IntOrPercent::Int(n)),
                _ => {
                    ctx.err(
                        path,
                        format!("`{s}` must be a non-negative integer or a percentage such as 50%"),
                    );
                    None
                }
            }
        }
        other => {
            ctx.err(
                path,
                format!(
                    "expected an integer or a percentage, got {}",
                    super::walk::type_name(other)
                ),
            );
            None
        }
    }
}
