//! Tests of the config module: the seed manifests, error locations, defaults, and a
//! no-panic property test over random and mutated YAML.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;
use crate::units::MaybeNever;

const SEED_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/seed-manifests");

fn seed(name: &str) -> (String, PathBuf) {
    let p = Path::new(SEED_DIR).join(name);
    (std::fs::read_to_string(&p).expect("seed manifest"), p)
}

fn manifests(text: &str) -> Result<(Vec<NodePool>, Vec<EC2NodeClass>), ConfigErrors> {
    parse_manifests(text, Path::new("np.yaml"))
}

/// The single error of `text`, asserting there is exactly one.
fn one_error(text: &str) -> ConfigError {
    let errs = manifests(text).expect_err("should fail");
    assert_eq!(errs.len(), 1, "expected one error, got:\n{errs}");
    errs.0.into_iter().next().unwrap()
}

const NODEPOOL: &str = "\
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: general
spec:
  template:
    spec:
      requirements:
        - key: kubernetes.io/arch
          operator: In
          values: [\"amd64\"]
      nodeClassRef:
        group: karpenter.k8s.aws
        kind: EC2NodeClass
        name: default
  limits:
    cpu: 1000
  disruption:
    consolidationPolicy: WhenEmptyOrUnderutilized
    consolidateAfter: 30s
";

#[test]
fn seed_manifests_load_unchanged() {
    let (t, p) = seed("01-ec2nodeclass-default.yaml");
    let (pools, classes) = parse_manifests(&t, &p).unwrap();
    assert!(pools.is_empty());
    assert_eq!(classes.len(), 1);
    let c = &classes[0];
    assert_eq!(c.name, "default");
    assert_eq!(c.spec.ami_family, Some(AmiFamily::AL2023));
    assert_eq!(
        c.spec.role.as_deref(),
        Some("KarpenterNodeRole-${CLUSTER_NAME}")
    );
    assert_eq!(
        c.spec.subnet_selector_terms[0].tags["karpenter.sh/discovery"],
        "${CLUSTER_NAME}"
    );
    assert_eq!(
        c.spec.ami_selector_terms[0].alias.as_deref(),
        Some("al2023@latest")
    );

    let (t, p) = seed("02-nodepool-default.yaml");
    let (pools, _) = parse_manifests(&t, &p).unwrap();
    let np = &pools[0];
    assert_eq!(np.name, "default");
    let ts = &np.spec.template.spec;
    assert_eq!(ts.requirements.len(), 3);
    assert_eq!(
        ts.requirements[2].values,
        ["m5.large", "m5.xlarge", "m5.2xlarge"]
    );
    assert_eq!(ts.node_class_ref.name, "default");
    assert_eq!(ts.expire_after, MaybeNever::After(720 * 3_600_000));
    assert_eq!(np.spec.limits["cpu"], 1_000_000);
    assert_eq!(
        np.spec.disruption.consolidation_policy,
        ConsolidationPolicy::WhenEmptyOrUnderutilized
    );
    assert_eq!(
        np.spec.disruption.consolidate_after,
        MaybeNever::After(30_000)
    );
    assert_eq!(
        np.spec.disruption.budgets,
        vec![Budget::default()],
        "default budget is 10%"
    );

    let (t, p) = seed("03-nodepool-production.yaml");
    let (pools, _) = parse_manifests(&t, &p).unwrap();
    let np = &pools[0];
    let r = &np.spec.template.spec.requirements;
    assert_eq!(r[3].operator, Operator::Gt);
    assert_eq!(r[3].values, ["4"]);
    assert_eq!(r[4].operator, Operator::Lt);
    let b = &np.spec.disruption.budgets;
    assert_eq!(b.len(), 2);
    assert_eq!(b[0].nodes, BudgetNodes::Percent(20));
    assert_eq!(b[1].nodes, BudgetNodes::Count(0));
    assert_eq!(b[1].schedule.as_deref(), Some("0 9 * * mon-fri"));
    assert_eq!(b[1].duration_ms, Some(8 * 3_600_000));
    assert_eq!(
        b[1].reasons,
        Some(vec![
            DisruptionReason::Drifted,
            DisruptionReason::Underutilized
        ])
    );
    assert_eq!(np.spec.limits["memory"], 1000 * (1i64 << 30) * 1000);

    let (t, p) = seed("04-nodepools-weighted.yaml");
    let (pools, _) = parse_manifests(&t, &p).unwrap();
    assert_eq!(pools.len(), 2);
    assert_eq!(
        (pools[0].name.as_str(), pools[0].spec.weight),
        ("reserved", Some(100))
    );
    assert_eq!(
        (pools[1].name.as_str(), pools[1].spec.weight),
        ("general", Some(10))
    );

    let (t, p) = seed("05-nodepool-gpu.yaml");
    let (pools, classes) = parse_manifests(&t, &p).unwrap();
    assert_eq!(pools[0].spec.template.spec.taints[0].key, "nvidia.com/gpu");
    assert_eq!(
        pools[0].spec.template.spec.taints[0].effect,
        TaintEffect::NoSchedule
    );
    assert_eq!(pools[0].spec.template.spec.taints[0].value, None);
    assert_eq!(pools[0].spec.limits["nvidia.com/gpu"], 100_000);
    assert_eq!(classes[0].name, "gpu-nodeclass");

    let (t, p) = seed("06-ec2nodeclass-custom-ami.yaml");
    let (_, classes) = parse_manifests(&t, &p).unwrap();
    let c = &classes[0];
    assert_eq!(c.spec.ami_family, Some(AmiFamily::Custom));
    assert!(
        c.spec
            .user_data
            .as_deref()
            .unwrap()
            .contains("bootstrap.sh ${CLUSTER_NAME}")
    );
    assert_eq!(
        c.spec.ami_selector_terms[0].tags["Name"],
        "my-org-eks-worker-ami"
    );
}

#[test]
fn every_seed_file_loads() {
    let mut n = 0;
    for entry in std::fs::read_dir(SEED_DIR).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "yaml") {
            let t = std::fs::read_to_string(&p).unwrap();
            if let Err(e) = parse_manifests(&t, &p) {
                panic!("{} failed:\n{e}", p.display());
            }
            n += 1;
        }
    }
    assert_eq!(n, 6);
}

#[test]
fn unknown_key_has_file_line_and_suggestion() {
    let text = NODEPOOL.replace("consolidationPolicy:", "consolidationPolicyy:");
    let e = one_error(&text);
    assert_eq!(e.file, PathBuf::from("np.yaml"));
    assert_eq!((e.line, e.column), (Some(19), Some(5)));
    assert_eq!(e.field, "spec.disruption.consolidationPolicyy");
    assert_eq!(e.suggestion.as_deref(), Some("consolidationPolicy"));
    assert_eq!(
        e.to_string(),
        "np.yaml:19:5: spec.disruption.consolidationPolicyy: unknown field `consolidationPolicyy` \
         (did you mean `consolidationPolicy`?)"
    );
}

#[test]
fn unknown_enum_value_suggests() {
    let text = NODEPOOL.replace("WhenEmptyOrUnderutilized", "WhenEmptyOrUnderUtilised");
    let e = one_error(&text);
    assert_eq!((e.line, e.column), (Some(19), Some(26)));
    assert_eq!(e.field, "spec.disruption.consolidationPolicy");
    assert_eq!(e.suggestion.as_deref(), Some("WhenEmptyOrUnderutilized"));
    // v1.14's Balanced policy is accepted.
    let text = NODEPOOL.replace("WhenEmptyOrUnderutilized", "Balanced");
    let (p, _) = manifests(&text).unwrap();
    assert_eq!(
        p[0].spec.disruption.consolidation_policy,
        ConsolidationPolicy::Balanced
    );
}

#[test]
fn bad_quantity() {
    let e = one_error(&NODEPOOL.replace("cpu: 1000", "cpu: 10 cores"));
    assert_eq!((e.line, e.column), (Some(17), Some(10)));
    assert_eq!(e.field, "spec.limits.cpu");
    assert!(
        e.message.contains("not a Kubernetes quantity"),
        "{}",
        e.message
    );
}

#[test]
fn bad_duration() {
    let e = one_error(&NODEPOOL.replace("consolidateAfter: 30s", "consolidateAfter: 30 seconds"));
    assert_eq!((e.line, e.column), (Some(20), Some(23)));
    assert_eq!(e.field, "spec.disruption.consolidateAfter");
    let e = one_error(&NODEPOOL.replace("consolidateAfter: 30s", "consolidateAfter: 1.5h"));
    assert_eq!(e.line, Some(20));
    let e = one_error(&NODEPOOL.replace("consolidateAfter: 30s", "consolidateAfter: never"));
    assert_eq!(e.suggestion.as_deref(), Some("Never"));
    let (p, _) =
        manifests(&NODEPOOL.replace("consolidateAfter: 30s", "consolidateAfter: Never")).unwrap();
    assert_eq!(p[0].spec.disruption.consolidate_after, MaybeNever::Never);
}

#[test]
fn restricted_hostname_requirement() {
    let e = one_error(&NODEPOOL.replace("key: kubernetes.io/arch", "key: kubernetes.io/hostname"));
    assert_eq!((e.line, e.column), (Some(9), Some(16)));
    assert_eq!(e.field, "spec.template.spec.requirements[0].key");
    assert!(e.message.contains("restricted"), "{}", e.message);
    let e = one_error(&NODEPOOL.replace(
        "key: kubernetes.io/arch",
        "key: karpenter.k8s.aws/instance-famly",
    ));
    assert_eq!(e.line, Some(9));
    let e = one_error(&NODEPOOL.replace("key: kubernetes.io/arch", "key: karpenter.sh/nodepool"));
    assert_eq!(e.line, Some(9));
}

#[test]
fn unknown_operator() {
    let e = one_error(&NODEPOOL.replace("operator: In", "operator: Equals"));
    assert_eq!((e.line, e.column), (Some(10), Some(21)));
    assert_eq!(e.field, "spec.template.spec.requirements[0].operator");
    assert_eq!(e.suggestion.as_deref(), Some("In"));
}

#[test]
fn gt_needs_an_integer() {
    let text = NODEPOOL
        .replace(
            "key: kubernetes.io/arch",
            "key: karpenter.k8s.aws/instance-cpu",
        )
        .replace("operator: In", "operator: Gt")
        .replace("[\"amd64\"]", "[\"abc\"]");
    let e = one_error(&text);
    assert_eq!((e.line, e.column), (Some(11), Some(20)));
    assert_eq!(e.field, "spec.template.spec.requirements[0].values[0]");
    let text = text.replace("[\"abc\"]", "[\"1\", \"2\"]");
    let e = one_error(&text);
    assert_eq!(e.line, Some(11));
    assert!(e.message.contains("single positive integer"));
}

#[test]
fn budget_percent_over_100_is_rejected() {
    let text = NODEPOOL.replace(
        "    consolidateAfter: 30s\n",
        "    consolidateAfter: 30s\n    budgets:\n      - nodes: \"150%\"\n",
    );
    let e = one_error(&text);
    assert_eq!((e.line, e.column), (Some(22), Some(16)));
    assert_eq!(e.field, "spec.disruption.budgets[0].nodes");
    for ok in ["0", "100%", "5", "0%", "99%"] {
        assert!(super::karpenter::parse_budget_nodes(ok).is_some(), "{ok}");
    }
    for bad in ["150%", "101%", "-1", "1.5", "%", "010%", "abc", ""] {
        assert!(super::karpenter::parse_budget_nodes(bad).is_none(), "{bad}");
    }
    // schedule without duration
    let text = NODEPOOL.replace(
        "    consolidateAfter: 30s\n",
        "    consolidateAfter: 30s\n    budgets:\n      - nodes: \"0\"\n        schedule: \"@daily\"\n",
    );
    let e = one_error(&text);
    assert_eq!(e.line, Some(22));
    assert!(e.message.contains("'schedule' must be set with 'duration'"));
    let text = NODEPOOL.replace(
        "    consolidateAfter: 30s\n",
        "    consolidateAfter: 30s\n    budgets:\n      - {nodes: \"0\", schedule: \"0 9 * *\", duration: 30s}\n",
    );
    let errs = manifests(&text).unwrap_err();
    assert_eq!(errs.len(), 2, "{errs}");
    assert!(errs.iter().all(|e| e.line == Some(22)));
}

#[test]
fn several_errors_in_one_file() {
    let text = NODEPOOL
        .replace("operator: In", "operator: Equals")
        .replace("cpu: 1000", "cpu: lots")
        .replace("consolidationPolicy:", "consolidationPolicyy:");
    let errs = manifests(&text).unwrap_err();
    let lines: Vec<Option<usize>> = errs.iter().map(|e| e.line).collect();
    assert_eq!(lines, [Some(10), Some(17), Some(19)], "{errs}");
}

#[test]
fn other_kinds_and_versions() {
    let e = one_error("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n");
    assert_eq!(e.line, Some(2));
    assert!(e.message.contains("Deployment"));
    let e = one_error(&NODEPOOL.replace("karpenter.sh/v1", "karpenter.sh/v1beta1"));
    assert_eq!(e.line, Some(1));
    assert_eq!(e.suggestion.as_deref(), Some("karpenter.sh/v1"));
    let e = one_error(&NODEPOOL.replace("kind: NodePool", "kind: Nodepool"));
    assert_eq!(e.suggestion.as_deref(), Some("NodePool"));
}

#[test]
fn nodeclass_rules() {
    let base = seed("01-ec2nodeclass-default.yaml").0;
    let e = one_error(&base.replace("  role: KarpenterNodeRole-${CLUSTER_NAME}\n", ""));
    assert!(
        e.message
            .contains("exactly one of ['role', 'instanceProfile']")
    );
    let e = one_error(&base.replace("al2023@latest", "al2024@latest"));
    assert_eq!(e.line, Some(16));
    assert_eq!(e.suggestion.as_deref(), Some("al2023@latest"));
    let e = one_error(&base.replace("amiFamily: AL2023", "amiFamily: Bottlerocket"));
    assert_eq!(e.line, Some(7));
    let (_, c) = manifests(&base.replace("  amiFamily: AL2023\n", "")).unwrap();
    assert_eq!(c[0].effective_ami_family(), AmiFamily::AL2023);
    let kubelet = base.clone()
        + "  kubelet:\n    maxPods: 110\n    systemReserved: {cpu: 100m, memory: 100Mi}\n    evictionHard: {memory.available: 5%}\n    containerLogMaxSize: 10Mi\n";
    let (_, c) = manifests(&kubelet).unwrap();
    let k = c[0].spec.kubelet.as_ref().unwrap();
    assert_eq!(k.max_pods, Some(110));
    assert_eq!(k.system_reserved["cpu"], 100);
    assert!(k.other.contains_key("containerLogMaxSize"));
    let e = one_error(&kubelet.replace("maxPods", "maxPod"));
    assert_eq!(e.suggestion.as_deref(), Some("maxPods"));
    assert_eq!(e.line, Some(18));
}

#[test]
fn flow_style_requirement_lines() {
    let text = NODEPOOL.replace(
        "        - key: kubernetes.io/arch\n          operator: In\n          values: [\"amd64\"]\n",
        "        - {key: kubernetes.io/arch, operator: In, values: [amd64]}\n        - {key: team, operator: Exists, values: [a]}\n",
    );
    let e = one_error(&text);
    assert_eq!(e.line, Some(10));
    assert_eq!(e.field, "spec.template.spec.requirements[1].values");
}

const TEMPLATES: &str = "\
- name: web
  metadata: {labels: {app: web}, annotations: {karpenter.sh/do-not-disrupt: \"true\"}}
  spec:
    containers:
      - name: app
        resources: {requests: {cpu: 500m, memory: 1Gi}}
        ports: [{containerPort: 8080, hostPort: 8080}]
    initContainers:
      - {name: proxy, restartPolicy: Always, resources: {requests: {cpu: 100m}}}
      - {name: migrate, resources: {requests: {cpu: \"2\"}}}
    affinity:
      nodeAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          nodeSelectorTerms:
            - matchExpressions: [{key: kubernetes.io/arch, operator: In, values: [arm64]}]
        preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 50
            preference: {matchExpressions: [{key: karpenter.sh/capacity-type, operator: In, values: [spot]}]}
      podAntiAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector: {matchLabels: {app: web}}
            topologyKey: kubernetes.io/hostname
    topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule,
         labelSelector: {matchLabels: {app: web}}}
    tolerations: [{key: dedicated, operator: Equal, value: web, effect: NoSchedule}]
    priorityClassName: high
    terminationGracePeriodSeconds: 60
- name: batch
  spec:
    containers: [{name: job, resources: {limits: {cpu: 1, memory: 2Gi}}}]
";

#[test]
fn template_round_trips_its_data() {
    let t = parse_templates(TEMPLATES, Path::new("templates.yaml")).unwrap();
    assert_eq!(t.len(), 2);
    let web = &t[0];
    assert_eq!(web.name, "web");
    assert_eq!(web.metadata.labels["app"], "web");
    assert_eq!(
        web.metadata.annotations["karpenter.sh/do-not-disrupt"],
        "true"
    );
    let s = &web.spec;
    assert_eq!(
        s.host_ports(),
        vec![("0.0.0.0".to_string(), 8080, Protocol::Tcp)]
    );
    let na = s.affinity.as_ref().unwrap().node_affinity.as_ref().unwrap();
    assert_eq!(na.required[0].match_expressions[0].values, ["arm64"]);
    assert_eq!(na.preferred[0].weight, 50);
    let anti = s
        .affinity
        .as_ref()
        .unwrap()
        .pod_anti_affinity
        .as_ref()
        .unwrap();
    assert_eq!(anti.required[0].topology_key, "kubernetes.io/hostname");
    assert_eq!(
        anti.required[0]
            .label_selector
            .as_ref()
            .unwrap()
            .match_labels["app"],
        "web"
    );
    let tsc = &s.topology_spread_constraints[0];
    assert_eq!(tsc.max_skew, 1);
    assert_eq!(tsc.topology_key, "topology.kubernetes.io/zone");
    assert_eq!(tsc.when_unsatisfiable, WhenUnsatisfiable::DoNotSchedule);
    assert_eq!(
        tsc.label_selector.as_ref().unwrap().match_labels["app"],
        "web"
    );
    assert_eq!(s.tolerations[0].key.as_deref(), Some("dedicated"));
    assert_eq!(s.tolerations[0].effect, Some(TaintEffect::NoSchedule));
    assert_eq!(s.priority_class_name.as_deref(), Some("high"));
    assert_eq!(s.termination_grace_period_seconds, Some(60));
    // Sidecar semantics: max(500m app + 100m sidecar, 2000m init + 100m sidecar) = 2100m.
    let r = s.effective_requests();
    assert_eq!(r["cpu"], 2100);
    assert_eq!(r["memory"], (1i64 << 30) * 1000);
    assert!(s.karpenter_ignore_reason().is_none());
    // Limits default the requests.
    assert_eq!(t[1].spec.effective_requests()["cpu"], 1000);
}

#[test]
fn effective_requests_semantics() {
    let spec = |y: &str| {
        let v: serde_yaml::Value = serde_yaml::from_str(y).unwrap();
        parse_pod_spec_value(&v, Path::new("t")).unwrap()
    };
    // Init container larger than the app: the init wins.
    let s = spec(
        "{containers: [{name: a, resources: {requests: {cpu: 1}}}], initContainers: [{name: i, resources: {requests: {cpu: 3}}}]}",
    );
    assert_eq!(s.effective_requests()["cpu"], 3000);
    // Sidecars started before an init container add to it; later ones do not.
    let s = spec(
        "{containers: [{name: a, resources: {requests: {cpu: 1}}}], initContainers: [
           {name: s1, restartPolicy: Always, resources: {requests: {cpu: 1}}},
           {name: i, resources: {requests: {cpu: 3}}},
           {name: s2, restartPolicy: Always, resources: {requests: {cpu: 1}}}],
          overhead: {cpu: 250m}}",
    );
    // app sum = 1 + 1 + 1 = 3; init step = 3 + 1 = 4; max = 4; + overhead.
    assert_eq!(s.effective_requests()["cpu"], 4250);
    // Pod-level requests replace the container sum.
    let s = spec(
        "{containers: [{name: a, resources: {requests: {cpu: 1}}}], resources: {requests: {cpu: 2}}}",
    );
    assert_eq!(s.effective_requests()["cpu"], 2000);
    // hostNetwork defaults hostPort.
    let s = spec(
        "{hostNetwork: true, containers: [{name: a, ports: [{containerPort: 53, protocol: UDP}]}]}",
    );
    assert_eq!(
        s.host_ports(),
        vec![("0.0.0.0".to_string(), 53, Protocol::Udp)]
    );
}

#[test]
fn kubectl_get_pod_yaml_spec_loads() {
    let text = "\
- name: from-cluster
  metadata:
    name: web-7d4b9c-abcde
    namespace: shop
    generateName: web-7d4b9c-
    uid: 0b0f1c2a-1111-2222-3333-444455556666
    resourceVersion: \"123456\"
    creationTimestamp: \"2024-05-01T10:00:00Z\"
    labels: {app: web, pod-template-hash: 7d4b9c}
    ownerReferences:
      - {apiVersion: apps/v1, kind: ReplicaSet, name: web-7d4b9c, uid: abc, controller: true, blockOwnerDeletion: true}
  spec:
    containers:
      - name: app
        image: nginx:1.27
        imagePullPolicy: IfNotPresent
        command: [nginx]
        args: [-g, daemon off;]
        env: [{name: A, value: b}, {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
        ports: [{containerPort: 80, name: http, protocol: TCP}]
        resources: {requests: {cpu: 250m, memory: 64Mi}, limits: {memory: 128Mi}}
        volumeMounts: [{name: kube-api-access, mountPath: /var/run/secrets, readOnly: true}]
        livenessProbe: {httpGet: {path: /, port: 80}}
        securityContext: {runAsNonRoot: true}
        terminationMessagePath: /dev/termination-log
        terminationMessagePolicy: File
    dnsPolicy: ClusterFirst
    enableServiceLinks: true
    nodeName: ip-10-0-1-2.ec2.internal
    preemptionPolicy: PreemptLowerPriority
    priority: 0
    restartPolicy: Always
    schedulerName: default-scheduler
    securityContext: {fsGroup: 2000}
    serviceAccount: default
    serviceAccountName: default
    terminationGracePeriodSeconds: 30
    tolerations:
      - {effect: NoExecute, key: node.kubernetes.io/not-ready, operator: Exists, tolerationSeconds: 300}
      - {effect: NoExecute, key: node.kubernetes.io/unreachable, operator: Exists, tolerationSeconds: 300}
    volumes:
      - name: kube-api-access
        projected: {defaultMode: 420, sources: [{serviceAccountToken: {expirationSeconds: 3607, path: token}}]}
";
    let t = parse_templates(text, Path::new("t.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let s = &t[0].spec;
    assert_eq!(t[0].metadata.namespace.as_deref(), Some("shop"));
    assert_eq!(s.containers[0].requests["memory"], 64 * 1024 * 1024 * 1000);
    assert_eq!(s.containers[0].limits["memory"], 128 * 1024 * 1024 * 1000);
    assert_eq!(s.tolerations.len(), 2);
    assert_eq!(s.tolerations[0].toleration_seconds, Some(300));
    assert_eq!(s.priority, Some(0));
    // A key that is no Kubernetes field is an error, with a suggestion.
    let bad = text.replace("imagePullPolicy:", "imagePulPolicy:");
    let errs = parse_templates(&bad, Path::new("t.yaml")).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs}");
    assert_eq!(errs.0[0].line, Some(16));
    assert_eq!(errs.0[0].suggestion.as_deref(), Some("imagePullPolicy"));
    assert_eq!(errs.0[0].field, "[0].spec.containers[0].imagePulPolicy");
}

#[test]
fn pod_restricted_labels_are_kept_not_rejected() {
    let t = parse_templates(
        "- name: pinned\n  spec:\n    nodeSelector: {kubernetes.io/hostname: node-1}\n    containers: [{name: a}]\n",
        Path::new("t.yaml"),
    )
    .unwrap();
    assert_eq!(t[0].spec.node_selector["kubernetes.io/hostname"], "node-1");
    assert!(t[0].spec.karpenter_ignore_reason().is_some());
    // But Kubernetes' own rules still apply.
    let errs = parse_templates(
        "- name: bad\n  spec:\n    containers: [{name: a}]\n    tolerations: [{key: k, operator: Exists, value: v}]\n    topologySpreadConstraints: [{maxSkew: 0, topologyKey: zone, whenUnsatisfiable: Maybe}]\n",
        Path::new("t.yaml"),
    )
    .unwrap_err();
    assert_eq!(errs.len(), 3, "{errs}");
    assert!(errs.iter().any(|e| e.line == Some(4)));
    assert!(errs.iter().filter(|e| e.line == Some(5)).count() == 2);
}

const DAEMONSETS: &str = "\
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: node-exporter, namespace: monitoring}
spec:
  selector: {matchLabels: {app: node-exporter}}
  updateStrategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 1}}
  template:
    metadata: {labels: {app: node-exporter}}
    spec:
      hostNetwork: true
      containers:
        - name: exporter
          image: prom/node-exporter
          resources: {requests: {cpu: 100m, memory: 180Mi}}
          ports: [{containerPort: 9100}]
      tolerations: [{operator: Exists}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: aws-node, namespace: kube-system}
spec:
  selector: {matchLabels: {k8s-app: aws-node}}
  template:
    metadata: {labels: {k8s-app: aws-node}}
    spec:
      containers: [{name: aws-node, resources: {requests: {cpu: 25m}}}]
";

const PDBS: &str = "\
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: shop}
spec:
  minAvailable: \"80%\"
  selector: {matchLabels: {app: web}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: db}
spec:
  maxUnavailable: 1
  selector:
    matchExpressions: [{key: app, operator: In, values: [db]}]
  unhealthyPodEvictionPolicy: AlwaysAllow
";

#[test]
fn daemonsets_and_pdbs() {
    let ds = parse_daemonsets(DAEMONSETS, Path::new("ds.yaml")).unwrap();
    assert_eq!(ds.len(), 2);
    assert_eq!(ds[0].spec.effective_requests()["cpu"], 100);
    assert_eq!(ds[0].spec.host_ports().len(), 1);
    assert_eq!(ds[1].metadata.namespace.as_deref(), Some("kube-system"));
    let bad = DAEMONSETS.replace(
        "k8s-app: aws-node}}\n  template:\n    metadata: {labels: {k8s-app: aws-node}}",
        "k8s-app: aws-node}}\n  template:\n    metadata: {labels: {k8s-app: other}}",
    );
    let errs = parse_daemonsets(&bad, Path::new("ds.yaml")).unwrap_err();
    assert_eq!(errs.0[0].line, Some(22));
    assert!(errs.0[0].message.contains("does not match"));

    let p = parse_pdbs(PDBS, Path::new("pdbs.yaml")).unwrap();
    assert_eq!(p[0].min_available, Some(IntOrPercent::Percent(80)));
    assert_eq!(p[0].namespace, "shop");
    assert_eq!(p[1].max_unavailable, Some(IntOrPercent::Int(1)));
    assert_eq!(p[1].namespace, "default");
    assert_eq!(
        p[1].unhealthy_pod_eviction_policy,
        Some(UnhealthyPodEvictionPolicy::AlwaysAllow)
    );
    let both = PDBS.replace(
        "  maxUnavailable: 1\n",
        "  maxUnavailable: 1\n  minAvailable: 2\n",
    );
    let errs = parse_pdbs(&both, Path::new("pdbs.yaml")).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs.0[0].line, Some(12));
    let errs = parse_pdbs(
        &PDBS.replace(
            "policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: db}",
            "policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: db}",
        ),
        Path::new("p"),
    )
    .unwrap_err();
    assert_eq!(errs.0[0].line, Some(8));
}

/// Writes a scenario folder and returns the scenario path.
fn scenario_dir(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let p = dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
    }
    let s = dir.path().join("scenario.yaml");
    (dir, s)
}

const SCENARIO: &str = "\
name: web-diurnal
seed: 42
duration: 48h
zones: [us-east-1a, us-east-1b, us-east-1c]
nodepools:
  - nodepools/general.yaml
workload:
  pods: traces/web.csv
  templates: templates.yaml
  daemonsets: daemonsets.yaml
  pdbs: pdbs.yaml
existing_nodes:
  - {instance_type: m5.large, count: 2, capacity_type: on-demand, labels: {role: system}}
interruptions:
  model: spot-advisor
  notice: 2m
karpenter:
  feature_gates: {SpotToSpotConsolidation: true}
  launch_latency: {distribution: lognormal, median: 40s, p90: 70s}
changes:
  - at: 24h
    nodeclasses:
      - {name: default, set: {spec.amiSelectorTerms: [{alias: al2023@v20251201}]}}
    nodepools:
      - {name: general, set: {spec.disruption.budgets: [{nodes: \"1\"}]}}
variants:
  - name: when-empty
    nodepools:
      - {name: general, set: {spec.disruption.consolidationPolicy: WhenEmpty}}
  - name: spot-heavy
    interruptions: {rate_multiplier: 3}
";

fn full_files() -> Vec<(&'static str, String)> {
    let np = NODEPOOL.to_string() + "---\n" + &seed("01-ec2nodeclass-default.yaml").0;
    vec![
        ("scenario.yaml", SCENARIO.to_string()),
        ("nodepools/general.yaml", np),
        (
            "traces/web.csv",
            "arrival,cpu,memory\n0,1,1Gi\n".to_string(),
        ),
        ("templates.yaml", TEMPLATES.to_string()),
        ("daemonsets.yaml", DAEMONSETS.to_string()),
        ("pdbs.yaml", PDBS.to_string()),
    ]
}

fn write(files: &[(&'static str, String)]) -> (tempfile::TempDir, PathBuf) {
    let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (*a, b.as_str())).collect();
    scenario_dir(&refs)
}

#[test]
fn load_full_scenario() {
    let (dir, path) = write(&full_files());
    let l = load_scenario(&path).unwrap_or_else(|e| panic!("{e}"));
    let s = &l.scenario;
    assert_eq!(s.name, "web-diurnal");
    assert_eq!(s.seed, 42);
    assert_eq!(s.duration_ms, Some(48 * 3_600_000));
    assert_eq!(s.start.to_rfc3339(), "2024-01-01T00:00:00+00:00");
    assert_eq!(s.region, "us-east-1");
    assert_eq!(s.nodepools, vec![dir.path().join("nodepools/general.yaml")]);
    assert_eq!(s.workload.pods, Some(dir.path().join("traces/web.csv")));
    assert_eq!(s.existing_nodes[0].count, 2);
    assert_eq!(s.interruptions.model, InterruptionModel::SpotAdvisor);
    assert_eq!(s.interruptions.rate_multiplier, 1.0);
    assert!(s.karpenter.feature_gate("SpotToSpotConsolidation"));
    assert!(s.karpenter.feature_gate("ReservedCapacity"));
    assert_eq!(s.karpenter.batch_idle_duration_ms, 1000);
    assert_eq!(s.karpenter.batch_max_duration_ms, 10_000);
    assert_eq!(s.karpenter.pod_startup_ms, 5000);
    assert_eq!(s.kube_scheduler.scoring, Scoring::LeastAllocated);
    assert_eq!(s.changes[0].at_ms, 24 * 3_600_000);
    assert_eq!(s.changes[0].nodeclasses[0].name, "default");
    assert_eq!(l.nodepools.len(), 1);
    assert_eq!(l.nodeclasses.len(), 1);
    assert_eq!(l.templates.len(), 2);
    assert_eq!(l.daemonsets.len(), 2);
    assert_eq!(l.pdbs.len(), 2);

    let v = l.variant("when-empty").unwrap();
    assert_eq!(
        v.nodepools[0].spec.disruption.consolidation_policy,
        ConsolidationPolicy::WhenEmpty
    );
    let v = l.variant("spot-heavy").unwrap();
    assert_eq!(v.scenario.interruptions.rate_multiplier, 3.0);
    assert_eq!(
        v.scenario.interruptions.model,
        InterruptionModel::SpotAdvisor,
        "merged over the base"
    );
    let (p, c) = apply_object_edits(
        &l.nodepools,
        &l.nodeclasses,
        &s.changes[0].nodepools,
        &s.changes[0].nodeclasses,
        &path,
    )
    .unwrap();
    assert_eq!(p[0].spec.disruption.budgets[0].nodes, BudgetNodes::Count(1));
    assert_eq!(
        c[0].spec.ami_selector_terms[0].alias.as_deref(),
        Some("al2023@v20251201")
    );
}

#[test]
fn scenario_defaults() {
    let s = parse_scenario(
        "name: x\nduration: 1h\nnodepools: np.yaml\n",
        Path::new("s.yaml"),
        Path::new("/d"),
    )
    .unwrap();
    assert_eq!(s.seed, 0);
    assert_eq!(s.region, "us-east-1");
    assert_eq!(s.zones, None);
    assert_eq!(s.nodepools, vec![PathBuf::from("/d/np.yaml")]);
    assert_eq!(s.interruptions, Interruptions::default());
    assert_eq!(s.interruptions.model, InterruptionModel::None);
    assert_eq!(s.interruptions.notice_ms, 120_000);
    assert_eq!(s.karpenter, KarpenterSettings::default());
    assert_eq!(
        s.karpenter.launch_latency,
        LaunchLatency {
            distribution: LatencyDistribution::Lognormal,
            median_ms: 40_000,
            p90_ms: 70_000
        }
    );
    assert_eq!(s.catalog, CatalogPaths::default());
}

#[test]
fn scenario_errors_are_located() {
    let text = "\
name: x
duration: 1h
nodepools: np.yaml
karpenter:
  batch_idle_duraton: 2s
  feature_gates: {SpotToSpotConsolidaton: true}
kube_scheduler: {scoring: MostAlocated}
interruptions: {model: constant, insufficient_capacity: 2}
zones: [us-west-2a]
";
    let errs = parse_scenario(text, Path::new("s.yaml"), Path::new("/d")).unwrap_err();
    let got: Vec<(Option<usize>, &str, Option<&str>)> = errs
        .iter()
        .map(|e| (e.line, e.field.as_str(), e.suggestion.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                Some(5),
                "karpenter.batch_idle_duraton",
                Some("batch_idle_duration")
            ),
            (
                Some(6),
                "karpenter.feature_gates.SpotToSpotConsolidaton",
                Some("SpotToSpotConsolidation")
            ),
            (Some(7), "kube_scheduler.scoring", Some("MostAllocated")),
            (Some(8), "interruptions.model", None),
            (Some(8), "interruptions.insufficient_capacity", None),
            (Some(9), "zones[0]", None),
        ],
        "{errs}"
    );
}

#[test]
fn missing_file_names_scenario_line() {
    let mut files = full_files();
    files.retain(|(n, _)| *n != "templates.yaml");
    let (dir, path) = write(&files);
    let errs = load_scenario(&path).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs}");
    let e = &errs.0[0];
    assert_eq!(e.file, path);
    assert_eq!((e.line, e.column), (Some(9), Some(14)));
    assert_eq!(e.field, "workload.templates");
    assert!(
        e.message
            .contains(&dir.path().join("templates.yaml").display().to_string())
    );
}

#[test]
fn errors_are_collected_across_files() {
    let mut files = full_files();
    for (name, text) in files.iter_mut() {
        match *name {
            "scenario.yaml" => *text = text.replace("seed: 42", "seeed: 42"),
            "nodepools/general.yaml" => *text = text.replace("operator: In", "operator: Equals"),
            "templates.yaml" => *text = text.replace("maxSkew: 1", "maxSkw: 1"),
            "daemonsets.yaml" => *text = text.replace("cpu: 25m", "cpu: 25q"),
            "pdbs.yaml" => *text = text.replace("minAvailable: \"80%\"", "minAvailable: \"180%\""),
            _ => {}
        }
    }
    let (_dir, path) = write(&files);
    let errs = load_scenario(&path).unwrap_err();
    let by_file: Vec<(String, Option<usize>)> = errs
        .iter()
        .map(|e| {
            (
                e.file.file_name().unwrap().to_string_lossy().into_owned(),
                e.line,
            )
        })
        .collect();
    assert_eq!(
        by_file,
        vec![
            ("scenario.yaml".into(), Some(2)),
            ("general.yaml".into(), Some(10)),
            ("templates.yaml".into(), Some(24)),
            ("templates.yaml".into(), Some(24)),
            ("daemonsets.yaml".into(), Some(26)),
            ("pdbs.yaml".into(), Some(5)),
        ],
        "{errs}"
    );
}

#[test]
fn bad_edits_point_at_the_scenario() {
    let mut files = full_files();
    files[0].1 = files[0].1.replace(
        "spec.disruption.consolidationPolicy: WhenEmpty",
        "spec.disruption.consolidationPolicy: WhenEmty",
    );
    files[0].1 = files[0]
        .1
        .replace("{name: default, set", "{name: defualt, set");
    let (_dir, path) = write(&files);
    let errs = load_scenario(&path).unwrap_err();
    assert_eq!(errs.len(), 2, "{errs}");
    assert_eq!(errs.0[0].line, Some(23));
    assert_eq!(errs.0[0].suggestion.as_deref(), Some("default"));
    assert_eq!(errs.0[1].line, Some(29));
    assert_eq!(errs.0[1].suggestion.as_deref(), Some("WhenEmpty"));
    assert!(
        errs.0[1].message.contains("NodePool `general`"),
        "{}",
        errs.0[1]
    );
}

#[test]
fn variant_sections_are_checked_merged() {
    let mut files = full_files();
    files[0].1 = files[0].1.replace(
        "interruptions: {rate_multiplier: 3}",
        "interruptions: {model: constant}",
    );
    let (_dir, path) = write(&files);
    let errs = load_scenario(&path).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs}");
    assert_eq!(errs.0[0].line, Some(31));
    assert_eq!(errs.0[0].field, "variants[1].interruptions.model");
    let mut files = full_files();
    files[0].1 = files[0].1.replace(
        "interruptions: {rate_multiplier: 3}",
        "interruptions: {rate_multiplyer: 3}",
    );
    let (_dir, path) = write(&files);
    let errs = load_scenario(&path).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs}");
    assert_eq!(errs.0[0].line, Some(31));
    assert_eq!(errs.0[0].suggestion.as_deref(), Some("rate_multiplier"));
}

#[test]
fn missing_nodeclass_is_reported() {
    let mut files = full_files();
    files[1].1 = NODEPOOL.replace("name: default", "name: defaults");
    let (_dir, path) = write(&files);
    let errs = load_scenario(&path).unwrap_err();
    let e = errs
        .iter()
        .find(|e| e.message.contains("references EC2NodeClass"))
        .expect("reported");
    assert_eq!(e.line, Some(15));
}

// ---------------------------------------------------------------- no panics

const ALL_SEEDS: &[&str] = &[
    "01-ec2nodeclass-default.yaml",
    "02-nodepool-default.yaml",
    "03-nodepool-production.yaml",
    "04-nodepools-weighted.yaml",
    "05-nodepool-gpu.yaml",
    "06-ec2nodeclass-custom-ami.yaml",
];

fn corpus() -> Vec<String> {
    let mut c: Vec<String> = ALL_SEEDS.iter().map(|n| seed(n).0).collect();
    c.push(SCENARIO.to_string());
    c.push(TEMPLATES.to_string());
    c.push(DAEMONSETS.to_string());
    c.push(PDBS.to_string());
    c
}

fn feed_all(text: &str) {
    let p = Path::new("fuzz.yaml");
    let _ = parse_manifests(text, p);
    let _ = parse_templates(text, p);
    let _ = parse_daemonsets(text, p);
    let _ = parse_pdbs(text, p);
    let _ = parse_scenario(text, p, Path::new("/nonexistent"));
    let _ = super::pos::scan(text);
}

const FRAGMENTS: &[&str] = &[
    ":", "- ", "{", "}", "[", "]", "\"", "'", "|", ">", "#", "&a ", "*a", "!!str ", "---\n",
    "...\n", "\n", "  ", "\t", "key: ", "null", "~", "-1", "1e999", "<<: *a\n", "?", ",", "é",
    "\\", "%", "@", "`",
];

#[test]
fn pathological_inputs_do_not_panic() {
    feed_all(&"[".repeat(100_000));
    feed_all(&"- ".repeat(50_000));
    feed_all(&"a: &x ".repeat(20_000));
    feed_all("a: &a [*a, *a]\nb: *a\n");
    feed_all("\u{feff}apiVersion: karpenter.sh/v1\r\nkind: NodePool\r\n");
    feed_all("? complex\n: key\n");
    feed_all("--- |\n  text\n--- >\n  more\n");
}

proptest! {
    #[test]
    fn random_text_never_panics(s in "\\PC{0,200}") {
        feed_all(&s);
    }

    #[test]
    fn mutated_inputs_never_panic(
        which in 0usize..10,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..4, 0usize..FRAGMENTS.len(), 0usize..8), 1..6),
    ) {
        let corpus = corpus();
        let mut text: Vec<char> = corpus[which % corpus.len()].chars().collect();
        for (idx, op, frag, len) in edits {
            let at = idx.index(text.len() + 1);
            match op {
                0 => { let f: Vec<char> = FRAGMENTS[frag].chars().collect(); text.splice(at..at, f); }
                1 => { let end = (at + len).min(text.len()); text.drain(at..end); }
                2 => { if at < text.len() { let c = text[at]; text.insert(at, c); } }
                _ => { let end = (at + len).min(text.len()); let dup: Vec<char> = text[at..end].to_vec(); text.splice(at..at, dup); }
            }
        }
        let s: String = text.into_iter().collect();
        feed_all(&s);
    }

    #[test]
    fn apply_edit_never_panics(path in "[a-z.\\[\\]0-9/]{0,30}") {
        let v: serde_yaml::Value = serde_yaml::from_str(NODEPOOL).unwrap();
        let _ = apply_edit(&v, &path, &serde_yaml::Value::Null);
    }
}
