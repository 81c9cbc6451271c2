//! Kubernetes name and label syntax, and Karpenter's label-key restrictions.

/// `karpenter.k8s.aws/*` keys the AWS NodePool CRD's CEL rule allows in requirements and
/// template labels (the well-known AWS keys plus `karpenter.k8s.aws/ec2nodeclass`).
const AWS_CEL_ALLOWED: &[&str] = &["karpenter.k8s.aws/ec2nodeclass"];

/// The stable key for a possibly deprecated label key (`NormalizedLabels`).
pub fn normalize_label(key: &str) -> &str {
    crate::labels::normalize_key(key)
}

/// Known values of well-known labels whose values are a closed set.
pub fn well_known_values(key: &str) -> Option<&'static [&'static str]> {
    match key {
        "karpenter.sh/capacity-type" => Some(&["on-demand", "spot", "reserved"]),
        "karpenter.k8s.aws/instance-tenancy" => Some(&["dedicated", "default"]),
        _ => None,
    }
}

fn label_domain(key: &str) -> &str {
    key.split_once('/').map_or("", |(d, _)| d)
}

/// Why a key may not be used in a NodePool requirement or template label (the NodePool
/// CRD's CEL rules, core and AWS), or `None`.
pub fn nodepool_key_restriction(key: &str) -> Option<String> {
    if key == "kubernetes.io/hostname" {
        return Some("label \"kubernetes.io/hostname\" is restricted".into());
    }
    if key == "karpenter.sh/nodepool" {
        return Some(
            "label \"karpenter.sh/nodepool\" is restricted (Karpenter sets it to the NodePool's name)"
                .into(),
        );
    }
    let domain = label_domain(key);
    if domain.ends_with("karpenter.sh") && key != "karpenter.sh/capacity-type" {
        return Some(format!(
            "label domain \"karpenter.sh\" is restricted: only karpenter.sh/capacity-type may be used, not {key}"
        ));
    }
    if domain.ends_with("karpenter.k8s.aws")
        && !crate::labels::is_well_known(key)
        && !AWS_CEL_ALLOWED.contains(&key)
    {
        return Some(format!(
            "label domain \"karpenter.k8s.aws\" is restricted: {key} is not a well-known label"
        ));
    }
    None
}

/// Why Karpenter would ignore a pod that selects on `key` (core `IsRestrictedLabel` with the
/// AWS restricted domains), or `None`.
pub fn pod_key_restriction(key: &str) -> Option<String> {
    let key = normalize_label(key);
    if crate::labels::is_well_known(key) {
        return None;
    }
    let domain = label_domain(key);
    for restricted in ["karpenter.sh", "karpenter.k8s.aws"] {
        if domain == restricted || domain.ends_with(&format!(".{restricted}")) {
            return Some(format!(
                "label {key} is in the restricted domain {restricted} and is not well-known"
            ));
        }
    }
    if key == "kubernetes.io/hostname" {
        return Some("label kubernetes.io/hostname is restricted".into());
    }
    None
}

fn is_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Checks a DNS-1123 subdomain (lowercase, `-` and `.`, at most 253 characters).
pub fn dns1123_subdomain_error(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("may not be empty".into());
    }
    if s.len() > 253 {
        return Some("must be no more than 253 characters".into());
    }
    let ok = s.split('.').all(|part| {
        let b = part.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
    });
    (!ok).then(|| {
        format!(
            "`{s}` is not a valid DNS-1123 subdomain: lowercase letters, digits, '-' and '.', \
             starting and ending with a letter or digit"
        )
    })
}

/// Checks a DNS-1123 label (a namespace name: lowercase, `-`, at most 63 characters).
pub fn dns1123_label_error(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-');
    (!ok).then(|| {
        format!(
            "`{s}` is not a valid DNS-1123 label: at most 63 lowercase letters, digits and '-', \
             starting and ending with a letter or digit"
        )
    })
}

/// Checks a qualified name (`prefix/name` or `name`), the syntax of label keys, annotation
/// keys and taint keys.
pub fn qualified_name_error(s: &str) -> Option<String> {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            return Some(format!("`{s}`: the prefix before '/' may not be empty"));
        }
        if dns1123_subdomain_error(p).is_some() {
            return Some(format!(
                "`{s}`: the prefix `{p}` must be a lowercase DNS subdomain"
            ));
        }
    }
    if name.is_empty() {
        return Some(format!("`{s}`: the name part may not be empty"));
    }
    if name.len() > 63 {
        return Some(format!(
            "`{s}`: the name part must be no more than 63 characters"
        ));
    }
    if !is_name_part(name) {
        return Some(format!(
            "`{s}` is not a valid qualified name: alphanumerics, '-', '_' or '.', starting and \
             ending with an alphanumeric, with an optional DNS-subdomain prefix and '/'"
        ));
    }
    None
}

/// Checks a label value (empty, or at most 63 alphanumerics, `-`, `_`, `.`, starting and
/// ending with an alphanumeric).
pub fn label_value_error(s: &str) -> Option<String> {
    if s.is_empty() {
        return None;
    }
    if s.len() > 63 {
        return Some(format!("`{s}` is longer than 63 characters"));
    }
    (!is_name_part(s)).then(|| {
        format!(
            "`{s}` is not a valid label value: alphanumerics, '-', '_' or '.', starting and \
             ending with an alphanumeric"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax() {
        assert!(qualified_name_error("kubernetes.io/arch").is_none());
        assert!(qualified_name_error("app").is_none());
        assert!(qualified_name_error("nvidia.com/gpu").is_none());
        assert!(qualified_name_error("Bad_Prefix/x").is_some());
        assert!(qualified_name_error("/x").is_some());
        assert!(qualified_name_error("x/").is_some());
        assert!(qualified_name_error("-x").is_some());
        assert!(label_value_error("").is_none());
        assert!(label_value_error("us-east-1a").is_none());
        assert!(label_value_error("a b").is_some());
        assert!(label_value_error("${CLUSTER_NAME}").is_some());
        assert!(dns1123_subdomain_error("default").is_none());
        assert!(dns1123_subdomain_error("Default").is_some());
        assert!(dns1123_label_error("kube-system").is_none());
    }

    #[test]
    fn restrictions() {
        assert!(nodepool_key_restriction("kubernetes.io/hostname").is_some());
        assert!(nodepool_key_restriction("karpenter.sh/nodepool").is_some());
        assert!(nodepool_key_restriction("karpenter.sh/capacity-type").is_none());
        assert!(nodepool_key_restriction("karpenter.sh/foo").is_some());
        assert!(nodepool_key_restriction("x.karpenter.sh/foo").is_some());
        assert!(nodepool_key_restriction("karpenter.k8s.aws/instance-family").is_none());
        assert!(nodepool_key_restriction("karpenter.k8s.aws/instance-famly").is_some());
        assert!(nodepool_key_restriction("team").is_none());
        assert!(pod_key_restriction("karpenter.sh/nodepool").is_none());
        assert!(pod_key_restriction("kubernetes.io/hostname").is_some());
        assert!(pod_key_restriction("karpenter.sh/foo").is_some());
        assert!(pod_key_restriction("beta.kubernetes.io/arch").is_none());
    }
}
