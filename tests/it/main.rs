//! karpsim's single integration-test binary (one link of the library, one process).

mod attribution;
mod budget_props;
mod check;
mod cli;
mod conformance;
mod disruption;
mod drift;
mod engine;
mod explain;
mod generate;
mod html;
mod import;
mod plots;
mod progress;

/// Running the built `karpsim` binary.
mod proc {
    use std::path::Path;
    use std::process::Command;

    const BIN: &str = env!("CARGO_BIN_EXE_karpsim");

    /// What one karpsim process did.
    pub struct Out {
        pub code: Option<i32>,
        pub stdout: String,
        pub stderr: String,
    }

    /// Runs karpsim in `cwd`; a panic is a test failure whatever the exit code.
    pub fn karpsim(cwd: &Path, args: &[&str]) -> Out {
        let o = Command::new(BIN)
            .args(args)
            .current_dir(cwd)
            .output()
            .expect("spawning karpsim");
        let out = Out {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        };
        assert!(
            !out.stderr.contains("panicked"),
            "karpsim {args:?} panicked:\n{}",
            out.stderr
        );
        out
    }

    /// Runs karpsim and requires exit 0.
    pub fn ok(cwd: &Path, args: &[&str]) -> Out {
        let o = karpsim(cwd, args);
        assert_eq!(
            o.code,
            Some(0),
            "karpsim {args:?}:\n{}{}",
            o.stdout,
            o.stderr
        );
        o
    }
}
mod scenarios;
mod spot;
mod spot_prices;
mod sweep;

/// The EC2NodeClass the engine and disruption tests share (the seed guide's, with a test
/// cluster name).
/// A `karpenter.sh/v1` NodePool `name` on EC2NodeClass `class`: `requirements` are lines of the
/// requirement list (8-space indent), `tspec` lines at `spec.template.spec` level and `spec`
/// lines at `spec` level (disruption, weight, ...). The one NodePool shape the test files share.
fn nodepool_yaml(name: &str, class: &str, requirements: &str, tspec: &str, spec: &str) -> String {
    format!(
        "apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: {name}
spec:
  template:
    spec:
      requirements:
{requirements}
      nodeClassRef: {{group: karpenter.k8s.aws, kind: EC2NodeClass, name: {class}}}
{tspec}{spec}"
    )
}

/// The requirement lines limiting a NodePool to instance types `types` and capacity types
/// `caps` (comma-separated YAML flow lists).
fn types_and_caps(types: &str, caps: &str) -> String {
    format!(
        "        - {{key: node.kubernetes.io/instance-type, operator: In, values: [{types}]}}
        - {{key: karpenter.sh/capacity-type, operator: In, values: [{caps}]}}"
    )
}

/// Writes a scenario into `dir` and runs it in memory: `np.yaml` holds `docs` (NodePool and
/// EC2NodeClass documents), `trace.csv` the trace, `pdbs.yaml` the optional PDBs, and `s.yaml`
/// is `head` (name, seed, duration, ...) plus the files and `extra` top-level YAML.
fn run_scenario_files(
    dir: &std::path::Path,
    docs: &str,
    trace: &str,
    pdbs: Option<&str>,
    head: &str,
    extra: &str,
) -> (karpsim::engine::RunSummary, karpsim::engine::MemoryRecorder) {
    std::fs::write(dir.join("np.yaml"), docs).unwrap();
    std::fs::write(dir.join("trace.csv"), trace).unwrap();
    let pdb_line = match pdbs {
        Some(p) => {
            std::fs::write(dir.join("pdbs.yaml"), p).unwrap();
            ", pdbs: pdbs.yaml"
        }
        None => "",
    };
    let path = dir.join("s.yaml");
    std::fs::write(
        &path,
        format!("{head}nodepools: np.yaml\nworkload: {{pods: trace.csv{pdb_line}}}\n{extra}"),
    )
    .unwrap();
    let p = karpsim::cli::prepare(&path).unwrap_or_else(|e| panic!("prepare failed: {e:?}"));
    karpsim::cli::simulate_in_memory(&p, &p.compiled.setup).unwrap()
}

const NODECLASS: &str = "apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata:
  name: default
spec:
  amiFamily: AL2023
  role: KarpenterNodeRole-test
  subnetSelectorTerms:
    - tags: {karpenter.sh/discovery: test}
  securityGroupSelectorTerms:
    - tags: {karpenter.sh/discovery: test}
  amiSelectorTerms:
    - alias: al2023@latest
";
