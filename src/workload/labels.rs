//! Kubernetes name syntax: label keys and values, DNS labels and subdomains.
//!
//! These mirror `k8s.io/apimachinery/pkg/util/validation` (`IsQualifiedName`,
//! `IsValidLabelValue`, `IsDNS1123Label`, `IsDNS1123Subdomain`) so that a trace or template is
//! rejected exactly when `kubectl apply` would reject the same labels.

/// What a valid label key looks like, for error messages.
pub const LABEL_KEY_SYNTAX: &str = "a label key is an optional DNS subdomain prefix and `/` \
     followed by a name of at most 63 characters of alphanumerics, `-`, `_` or `.`, starting and \
     ending with an alphanumeric";

/// What a valid label value looks like, for error messages.
pub const LABEL_VALUE_SYNTAX: &str = "a label value is empty or at most 63 characters of \
     alphanumerics, `-`, `_` or `.`, starting and ending with an alphanumeric";

// The checks themselves live in `config::labels` (one implementation for manifests and
// traces); these are the boolean forms the trace reader uses.

/// A DNS-1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters (namespace names).
pub fn is_valid_dns_label(s: &str) -> bool {
    crate::config::labels::dns1123_label_error(s).is_none()
}

/// A DNS-1123 subdomain: dot-separated lowercase labels, at most 253 characters in all.
pub fn is_valid_dns_subdomain(s: &str) -> bool {
    crate::config::labels::dns1123_subdomain_error(s).is_none()
}

/// True when `key` is a valid Kubernetes label key (also the syntax of taint and toleration
/// keys): `name` or `prefix/name`, where `prefix` is a DNS subdomain of at most 253 characters
/// and `name` is at most 63 characters matching `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`.
pub fn is_valid_label_key(key: &str) -> bool {
    crate::config::labels::qualified_name_error(key).is_none()
}

/// True when `value` is a valid Kubernetes label value: empty, or at most 63 characters
/// matching `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`.
pub fn is_valid_label_value(value: &str) -> bool {
    crate::config::labels::label_value_error(value).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys() {
        for ok in [
            "app",
            "a",
            "A9",
            "app.kubernetes.io/name",
            "karpenter.sh/nodepool",
            "node.kubernetes.io/instance-type",
            "topology.kubernetes.io/zone",
            "x_y.z-w",
            "example.com/Some_Name",
            &"a".repeat(63),
            &format!(
                "{}/n",
                [
                    "a".repeat(63),
                    "b".repeat(63),
                    "c".repeat(63),
                    "d".repeat(61)
                ]
                .join(".")
            ),
        ] {
            assert!(is_valid_label_key(ok), "{ok}");
        }
        for bad in [
            "",
            "-app",
            "app-",
            "_a",
            "a b",
            "a/b/c",
            "/name",
            "prefix/",
            "Example.com/name",
            "ex_ample.com/name",
            "a..b/name",
            "é",
            &"a".repeat(64),
            &format!(
                "{}/n",
                [
                    "a".repeat(63),
                    "b".repeat(63),
                    "c".repeat(63),
                    "d".repeat(62)
                ]
                .join(".")
            ),
        ] {
            assert!(!is_valid_label_key(bad), "{bad}");
        }
    }

    #[test]
    fn label_values() {
        for ok in ["", "web", "v1.2.3", "a_b-c", "0", &"z".repeat(63)] {
            assert!(is_valid_label_value(ok), "{ok}");
        }
        for bad in ["-", "a/b", "a b", "a-", ".a", &"z".repeat(64), "a=b", "a:b"] {
            assert!(!is_valid_label_value(bad), "{bad}");
        }
    }

    #[test]
    fn dns_labels() {
        assert!(is_valid_dns_label("default"));
        assert!(is_valid_dns_label("kube-system"));
        assert!(is_valid_dns_label("0ns"));
        assert!(!is_valid_dns_label("Default"));
        assert!(!is_valid_dns_label("a.b"));
        assert!(!is_valid_dns_label("-a"));
        assert!(!is_valid_dns_label(""));
        assert!(is_valid_dns_subdomain("a.b-c.d"));
        assert!(!is_valid_dns_subdomain("a..b"));
    }
}
