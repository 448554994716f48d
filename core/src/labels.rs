//! Security labels: which of a pod's labels make up its identity, and the
//! canonical key that names a label set.
//!
//! The rules follow Cilium's label filter (DESIGN.md §3): patterns are
//! regular expressions that must match at the start of the key, optionally
//! qualified by a source (`k8s:app`). A label is kept when no exclusion
//! matches it (and the user has not added includes of their own), or when
//! the longest match of an include is longer than the shortest match of an
//! exclusion. Lengths are the length of the matched text, as in Cilium.
// Every public item documented (lib.rs may still allow otherwise).
#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Source of the labels the engine derives from Kubernetes objects.
pub const SOURCE_K8S: &str = "k8s";
/// Source of reserved identities' labels.
pub const SOURCE_RESERVED: &str = "reserved";

/// The label naming a pod's namespace.
pub const LABEL_POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
/// Prefix of the labels copied from the namespace.
pub const LABEL_NAMESPACE_PREFIX: &str = "io.cilium.k8s.namespace.labels.";
/// The label naming a pod's service account.
pub const LABEL_SERVICE_ACCOUNT: &str = "io.cilium.k8s.policy.serviceaccount";
/// The label naming the cluster.
pub const LABEL_CLUSTER: &str = "io.cilium.k8s.policy.cluster";
/// Pod labels under this prefix are dropped: only Cilium may set them.
pub const CILIUM_K8S_PREFIX: &str = "io.cilium.k8s";

/// One label: `source:key=value`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Label {
    /// Where the label comes from, e.g. `k8s`, `reserved`.
    pub source: String,
    /// The key.
    pub key: String,
    /// The value (may be empty).
    pub value: String,
}

impl Label {
    /// A label from its parts.
    pub fn new(source: &str, key: &str, value: &str) -> Self {
        Label {
            source: source.to_string(),
            key: key.to_string(),
            value: value.to_string(),
        }
    }
    /// A `k8s` label.
    pub fn k8s(key: &str, value: &str) -> Self {
        Label::new(SOURCE_K8S, key, value)
    }

    /// Parses `source:key=value` (also `key=value`, taken as source `k8s`,
    /// and `source:key`, with an empty value).
    pub fn parse(s: &str) -> Label {
        let (kv, value) = match s.split_once('=') {
            Some((kv, v)) => (kv, v),
            None => (s, ""),
        };
        match kv.split_once(':') {
            Some((src, key)) => Label::new(src, key, value),
            None => Label::new(SOURCE_K8S, kv, value),
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}={}", self.source, self.key, self.value)
    }
}

/// A set of labels, one per key, kept sorted by key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LabelSet {
    labels: Vec<Label>,
}

impl LabelSet {
    /// An empty set.
    pub fn new() -> Self {
        LabelSet::default()
    }

    /// Builds a set; a later label replaces an earlier one with the same key.
    pub fn from_labels(labels: impl IntoIterator<Item = Label>) -> Self {
        let mut set = LabelSet::new();
        for l in labels {
            set.insert(l);
        }
        set
    }

    /// Adds a label; one with the same key is replaced.
    pub fn insert(&mut self, label: Label) {
        match self
            .labels
            .binary_search_by(|l| l.key.as_str().cmp(&label.key))
        {
            Ok(i) => self.labels[i] = label,
            Err(i) => self.labels.insert(i, label),
        }
    }

    /// The label with `key`.
    pub fn get(&self, key: &str) -> Option<&Label> {
        self.labels
            .binary_search_by(|l| l.key.as_str().cmp(key))
            .ok()
            .map(|i| &self.labels[i])
    }

    /// The labels, in key order.
    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.labels.iter()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// None at all.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The canonical key: labels sorted by key, each `source:key=value;`.
    pub fn canonical_key(&self) -> String {
        let mut out = String::with_capacity(
            self.labels
                .iter()
                .map(|l| l.source.len() + l.key.len() + l.value.len() + 3)
                .sum(),
        );
        for l in &self.labels {
            out.push_str(&l.source);
            out.push(':');
            out.push_str(&l.key);
            out.push('=');
            out.push_str(&l.value);
            out.push(';');
        }
        out
    }

    /// Parses a canonical key back into a set. Inverse of [`canonical_key`]
    /// for keys and values without `;`.
    ///
    /// [`canonical_key`]: LabelSet::canonical_key
    pub fn from_canonical_key(key: &str) -> LabelSet {
        LabelSet::from_labels(key.split(';').filter(|s| !s.is_empty()).map(Label::parse))
    }

    /// `source:key` → value, the CiliumIdentity `security-labels` map.
    pub fn security_labels(&self) -> BTreeMap<String, String> {
        self.labels
            .iter()
            .map(|l| {
                // Not `format!`: written once per identity created, and the
                // formatting machinery costs more than the copies.
                let mut sk = String::with_capacity(l.source.len() + 1 + l.key.len());
                sk.push_str(&l.source);
                sk.push(':');
                sk.push_str(&l.key);
                (sk, l.value.clone())
            })
            .collect()
    }

    /// key → value of the `k8s`-sourced labels (CiliumIdentity `metadata.labels`).
    pub fn k8s_labels(&self) -> BTreeMap<String, String> {
        self.labels
            .iter()
            .filter(|l| l.source == SOURCE_K8S)
            .map(|l| (l.key.clone(), l.value.clone()))
            .collect()
    }

    /// Reads a CiliumIdentity `security-labels` map back into a set.
    pub fn from_security_labels(map: &BTreeMap<String, String>) -> LabelSet {
        LabelSet::from_labels(map.iter().map(|(sk, v)| match sk.split_once(':') {
            Some((src, key)) => Label::new(src, key, v),
            None => Label::new(SOURCE_K8S, sk, v),
        }))
    }
}

/// One filter pattern: optional source, anchored regular expression.
#[derive(Debug, Clone)]
struct Pattern {
    source: Option<String>,
    regex: Regex,
    /// Written `!regex`: an exclusion, wherever it is listed.
    exclude: bool,
}

impl Pattern {
    /// Parses `[source:][!]regex` as Cilium's `parseLabelPrefix` does: the
    /// part before the first ':' is the source (empty: any source), a
    /// leading `!` after it marks an exclusion, the rest must be non-empty.
    fn parse(spec: &str, field: &str) -> Result<Pattern> {
        let (source, expr) = match spec.split_once(':') {
            Some((src, expr)) => ((!src.is_empty()).then(|| src.to_string()), expr),
            None => (None, spec),
        };
        let (exclude, expr) = match expr.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, expr),
        };
        if expr.is_empty() {
            return Err(Error::config(
                field,
                format!("pattern {spec:?} has an empty regular expression"),
            ));
        }
        let regex = Regex::new(&format!("^(?:{expr})")).map_err(|e| {
            Error::config(
                field,
                format!("pattern {spec:?} is not a valid regular expression: {e}"),
            )
        })?;
        Ok(Pattern {
            source,
            regex,
            exclude,
        })
    }

    /// Length of the match at the start of the key, if the pattern matches.
    fn match_len(&self, source: &str, key: &str) -> Option<usize> {
        if let Some(s) = &self.source
            && s != source
        {
            return None;
        }
        self.regex.find(key).map(|m| m.end())
    }
}

/// Cilium v1.20's default inclusions (`pkg/labelsfilter/filter.go`).
pub const DEFAULT_INCLUDES: &[&str] = &[
    "reserved:.*",
    r"io\.kubernetes\.pod\.namespace",
    r"io\.cilium\.k8s\.namespace\.labels",
    r"app\.kubernetes\.io",
    r"io\.cilium\.k8s\.policy\.cluster",
    r"io\.cilium\.k8s\.policy\.serviceaccount",
];

/// Cilium v1.20's default exclusions. `topology.kubernetes.io` is new in
/// v1.20: Kubernetes 1.35 copies a node's zone and region labels onto its
/// pods, which would otherwise split one workload into one identity per zone.
pub const DEFAULT_EXCLUDES: &[&str] = &[
    r"io\.kubernetes",
    r"kubernetes\.io",
    r"statefulset\.kubernetes\.io/pod-name",
    r"apps\.kubernetes\.io/pod-index",
    r"batch\.kubernetes\.io/job-completion-index",
    r"batch\.kubernetes\.io/controller-uid",
    r".*beta\.kubernetes\.io",
    r"k8s\.io",
    r"pod-template-generation",
    r"pod-template-hash",
    r"controller-revision-hash",
    r"controller-uid",
    r"annotation.*",
    r"etcd_node",
    r"topology\.kubernetes\.io",
];

/// Decides which labels are identity-relevant.
#[derive(Debug, Clone)]
pub struct LabelFilter {
    includes: Vec<Pattern>,
    excludes: Vec<Pattern>,
    /// Set once the user adds an include of their own: then a label must
    /// match some include to be kept.
    user_includes: bool,
}

impl LabelFilter {
    /// Cilium's defaults plus the user's patterns, each `[source:]regex`.
    ///
    /// An include written `[source:]!regex` is an exclusion, as in Cilium's
    /// `--labels` list, so that list can be copied verbatim into
    /// `include`; a `!` on an exclude changes nothing. Empty entries are
    /// skipped, as Cilium skips them. Only a real include switches the
    /// filter to "a label must match some include".
    pub fn new(user_includes: &[String], user_excludes: &[String]) -> Result<LabelFilter> {
        let mut includes = Vec::new();
        let mut excludes = Vec::new();
        for p in DEFAULT_INCLUDES {
            includes.push(Pattern::parse(p, "labelFilter")?);
        }
        for p in DEFAULT_EXCLUDES {
            excludes.push(Pattern::parse(&format!("!{p}"), "labelFilter")?);
        }
        let mut user_include = false;
        for (i, p) in user_includes.iter().enumerate() {
            if p.is_empty() {
                continue;
            }
            let pattern = Pattern::parse(p, &format!("identity.labelFilter.include[{i}]"))?;
            if pattern.exclude {
                excludes.push(pattern);
            } else {
                user_include = true;
                includes.push(pattern);
            }
        }
        for (i, p) in user_excludes.iter().enumerate() {
            if p.is_empty() {
                continue;
            }
            let field = format!("identity.labelFilter.exclude[{i}]");
            let mut pattern = Pattern::parse(p, &field)?;
            pattern.exclude = true;
            excludes.push(pattern);
        }
        Ok(LabelFilter {
            includes,
            excludes,
            user_includes: user_include,
        })
    }

    /// Cilium's default filter.
    pub fn default_filter() -> LabelFilter {
        // The defaults are constants known to compile.
        LabelFilter::new(&[], &[]).unwrap_or_else(|_| LabelFilter {
            includes: Vec::new(),
            excludes: Vec::new(),
            user_includes: false,
        })
    }

    /// Whether a label is identity-relevant.
    pub fn keeps(&self, source: &str, key: &str) -> bool {
        let included = self
            .includes
            .iter()
            .filter_map(|p| p.match_len(source, key))
            .max()
            .unwrap_or(0);
        let ignored = self
            .excludes
            .iter()
            .filter_map(|p| p.match_len(source, key))
            .filter(|&n| n > 0)
            .min()
            .unwrap_or(0);
        (!self.user_includes && ignored == 0) || included > ignored
    }
}

/// Interns strings so that equal values share one allocation.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    map: hashbrown::HashSet<Arc<str>>,
}

impl Interner {
    /// The shared copy of `s`.
    pub fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.map.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.map.insert(a.clone());
        a
    }
    /// How many.
    pub fn len(&self) -> usize {
        self.map.len()
    }
    /// None at all.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// What the identity of a pod is made of, before filtering.
pub struct PodLabelInputs<'a> {
    /// The pod's namespace.
    pub namespace: &'a str,
    /// The pod's labels.
    pub pod_labels: &'a BTreeMap<String, String>,
    /// The namespace's labels, when known.
    pub namespace_labels: Option<&'a BTreeMap<String, String>>,
    /// The pod's service account ("" for none).
    pub service_account: &'a str,
    /// The cluster name (`identity.clusterName`).
    pub cluster_name: &'a str,
}

/// The security labels of a pod (DESIGN.md §3), filtered and sorted.
pub fn pod_security_labels(filter: &LabelFilter, input: &PodLabelInputs<'_>) -> LabelSet {
    security_labels_of(
        |_, key| filter.keeps(SOURCE_K8S, key),
        input
            .pod_labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
        input,
    )
}

/// [`pod_security_labels`] with the pod's labels as `(key, value)` pairs in
/// key order instead of `rest.pod_labels` (which is not read; any subset
/// that keeps every identity-relevant label gives the same set, so
/// pre-filtered labels may be passed) and the filter's verdicts
/// remembered in `memo`.
pub fn pod_security_labels_memo<'a>(
    filter: &LabelFilter,
    memo: &mut KeepMemo,
    pod_labels: impl Iterator<Item = (&'a str, &'a str)>,
    rest: &PodLabelInputs<'_>,
) -> LabelSet {
    security_labels_of(|_, key| memo.keeps(filter, key), pod_labels, rest)
}

/// The one rule behind both: pod labels (without Cilium's own prefix),
/// the namespace's labels, namespace, service account and cluster, a
/// later label replacing an earlier one with the same key; only the
/// labels `keeps` (source, key) says are identity-relevant.
fn security_labels_of<'a>(
    mut keeps: impl FnMut(&str, &str) -> bool,
    pod_labels: impl Iterator<Item = (&'a str, &'a str)>,
    input: &PodLabelInputs<'_>,
) -> LabelSet {
    let mut set = LabelSet::new();
    let mut add = |key: &str, value: &str| {
        if keeps(SOURCE_K8S, key) {
            set.insert(Label::k8s(key, value));
        }
    };
    for (k, v) in pod_labels {
        if k.starts_with(CILIUM_K8S_PREFIX) {
            continue;
        }
        add(k, v);
    }
    if let Some(ns_labels) = input.namespace_labels {
        let mut key = String::from(LABEL_NAMESPACE_PREFIX);
        for (k, v) in ns_labels {
            key.truncate(LABEL_NAMESPACE_PREFIX.len());
            key.push_str(k);
            add(&key, v);
        }
    }
    add(LABEL_POD_NAMESPACE, input.namespace);
    if !input.service_account.is_empty() {
        add(LABEL_SERVICE_ACCOUNT, input.service_account);
    }
    add(LABEL_CLUSTER, input.cluster_name);
    // Kept for as long as the identity: no room beyond its labels.
    set.labels.shrink_to_fit();
    set
}

/// Whether a pod label is kept (the `k8s`-sourced key is all the filter
/// looks at): pods of a cluster use few distinct keys, so each key's
/// verdict is computed once. Bounded: forgets everything at
/// [`KeepMemo::MAX`] keys.
#[derive(Debug, Clone, Default)]
pub struct KeepMemo {
    verdicts: hashbrown::HashMap<Box<str>, bool>,
}

impl KeepMemo {
    /// Keys remembered at most.
    pub const MAX: usize = 4096;

    /// `filter.keeps(SOURCE_K8S, key)`, remembered.
    pub fn keeps(&mut self, filter: &LabelFilter, key: &str) -> bool {
        if let Some(&v) = self.verdicts.get(key) {
            return v;
        }
        let v = filter.keeps(SOURCE_K8S, key);
        if self.verdicts.len() >= Self::MAX {
            self.verdicts.clear();
        }
        self.verdicts.insert(Box::from(key), v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keeps(f: &LabelFilter, key: &str) -> bool {
        f.keeps(SOURCE_K8S, key)
    }

    #[test]
    fn default_filter_matches_cilium() {
        let f = LabelFilter::default_filter();
        assert!(keeps(&f, "app"));
        assert!(keeps(&f, "job-name"), "job-name is not excluded by default");
        assert!(keeps(&f, "io.kubernetes.pod.namespace"));
        assert!(keeps(&f, "io.cilium.k8s.namespace.labels.team"));
        assert!(keeps(
            &f,
            "io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name"
        ));
        assert!(keeps(&f, "app.kubernetes.io/name"));
        assert!(keeps(&f, "io.cilium.k8s.policy.cluster"));
        assert!(keeps(&f, "io.cilium.k8s.policy.serviceaccount"));
        assert!(!keeps(&f, "io.kubernetes.container.name"));
        assert!(!keeps(&f, "kubernetes.io/hostname"));
        assert!(!keeps(&f, "statefulset.kubernetes.io/pod-name"));
        assert!(!keeps(&f, "apps.kubernetes.io/pod-index"));
        assert!(!keeps(&f, "batch.kubernetes.io/job-completion-index"));
        assert!(!keeps(&f, "batch.kubernetes.io/controller-uid"));
        assert!(!keeps(&f, "failure-domain.beta.kubernetes.io/zone"));
        assert!(!keeps(&f, "k8s.io/foo"));
        assert!(!keeps(&f, "pod-template-generation"));
        assert!(!keeps(&f, "pod-template-hash"));
        assert!(!keeps(&f, "controller-revision-hash"));
        assert!(!keeps(&f, "annotation.foo"));
        assert!(!keeps(&f, "controller-uid"));
        assert!(!keeps(&f, "etcd_node"));
        // Dots are literal: PR #18693.
        assert!(keeps(&f, "k8sXio/foo"));
        // Anchored at the start.
        assert!(keeps(&f, "my-pod-template-hash"));
    }

    fn filter(includes: &[&str], excludes: &[&str]) -> LabelFilter {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        LabelFilter::new(&own(includes), &own(excludes)).unwrap()
    }

    /// `(source, key)` pairs whose verdict must be `kept`.
    #[track_caller]
    fn check_table(f: &LabelFilter, table: &[(&str, &str, bool)]) {
        for &(source, key, kept) in table {
            assert_eq!(f.keeps(source, key), kept, "{source}:{key}");
        }
    }

    /// The facts of Cilium v1.20's `TestDefaultFilterLabels`
    /// (`pkg/labelsfilter/filter_test.go`): the default list, no user
    /// patterns.
    #[test]
    fn cilium_default_filter_table() {
        let k = SOURCE_K8S;
        check_table(
            &LabelFilter::default_filter(),
            &[
                (k, "io.kubernetes.container.hash", false),
                (k, "io.kubernetes.container.name", false),
                (k, "io.kubernetes.container.restartCount", false),
                (k, "io.kubernetes.container.terminationMessagePath", false),
                (k, "io.kubernetes.pod.name", false),
                (k, "io.kubernetes.pod.namespace", true),
                (k, "app.kubernetes.io", true),
                (k, "kubernetes.io.foo", false),
                (k, "beta.kubernetes.io.foo", false),
                (k, "annotation.kubectl.kubernetes.io", false),
                (k, "annotation.hello", false),
                (k, "annotation.cilium-identity", false),
                (k, "io.kubernetes.pod.terminationGracePeriod", false),
                (k, "io.kubernetes.pod.uid", false),
                (k, "ioXkubernetes", true),
                (k, "ignore", true),
                (k, "ignorE", true),
                (k, "annotation.kubernetes.io/config.seen", false),
                (k, "controller-revision-hash", false),
                (k, "statefulset.kubernetes.io/pod-name", false),
                (k, "batch.kubernetes.io/job-completion-index", false),
                (k, "apps.kubernetes.io/pod-index", false),
                (k, "io.cilium.k8s.policy.cluster", true),
                (k, "io.cilium.k8s.policy.serviceaccount", true),
                (k, "topology.kubernetes.io/zone", false),
                (k, "topology.kubernetes.io/region", false),
                (k, "id.lizards", true),
                (k, "id.lizards.k8s", true),
                (SOURCE_RESERVED, "host", true),
            ],
        );
    }

    /// Cilium's `TestFilterLabels`: user patterns `:!ignor[eE]` (an
    /// exclusion for any source), `id.*` and `foo` turn on the whitelist;
    /// the default includes, `io.cilium.k8s.policy.serviceaccount` among
    /// them, still count.
    #[test]
    fn cilium_user_patterns_table() {
        let k = SOURCE_K8S;
        let f = filter(&[":!ignor[eE]", "id.*", "foo"], &[]);
        check_table(
            &f,
            &[
                (k, "id.lizards", true),
                (k, "id.lizards.k8s", true),
                (k, "io.kubernetes.pod.namespace", true),
                (k, "app.kubernetes.io", true),
                (k, "foo2.lizards.k8s", true),
                (k, "io.cilium.k8s.policy.cluster", true),
                (k, "io.cilium.k8s.policy.serviceaccount", true),
                // `foo` must match at the start of the key.
                (k, "lizards.foo.lizards.k8s", false),
                (k, "ignore", false),
                (k, "ignorE", false),
                (k, "io.kubernetes.container.hash", false),
                (k, "io.kubernetes.pod.name", false),
                (k, "kubernetes.io.foo", false),
                (k, "beta.kubernetes.io.foo", false),
                (k, "annotation.hello", false),
                (k, "controller-revision-hash", false),
            ],
        );
        // The empty source applies to every source.
        assert!(!f.keeps("container", "ignore"));
    }

    /// Cilium's `TestFilterLabelsDocExample`.
    #[test]
    fn cilium_doc_example_table() {
        let k = SOURCE_K8S;
        let f = filter(
            &[
                "k8s:io.kubernetes.pod.namespace",
                "k8s:k8s-app",
                "k8s:app",
                "k8s:name",
                "k8s:kind$",
                "k8s:other$",
            ],
            &[],
        );
        check_table(
            &f,
            &[
                (k, "io.cilium.k8s.namespace.labels", true),
                (k, "k8s-app-team", true),
                (k, "app-production", true),
                (k, "name-defined", true),
                (k, "kind", true),
                (k, "other", true),
                (SOURCE_RESERVED, "host", true),
                (k, "io.kubernetes.pod.namespace", true),
                (k, "io.cilium.k8s.policy.cluster", true),
                (k, "io.cilium.k8s.policy.serviceaccount", true),
                // Source-qualified patterns do not apply to other sources.
                ("cni", "k8s-app-role", false),
                // `kind$` is anchored at the end too.
                (k, "kinds", false),
                (k, "team", false),
            ],
        );
    }

    /// The `--labels` cases of Cilium's
    /// `TestParseLabelPrefixCfgReservedLabelWarning`: labels
    /// `reserved:host`, `k8s:my-label`, `k8s:some-label`.
    #[test]
    fn cilium_flag_cases_table() {
        let cases: &[(&str, [bool; 3])] = &[
            ("k8s:my-label", [true, true, false]),
            ("k8s:my-", [true, true, false]),
            ("k8s:my-.*label", [true, true, false]),
            ("k8s:!my-label", [true, false, true]),
            ("k8s:!my-", [true, false, true]),
            ("k8s:!my-.*label", [true, false, true]),
            ("reserved:.*", [true, false, false]),
            ("reserved:!.*", [false, true, true]),
        ];
        for (spec, [host, my, some]) in cases {
            let f = filter(&[spec], &[]);
            assert_eq!(
                [
                    f.keeps(SOURCE_RESERVED, "host"),
                    f.keeps(SOURCE_K8S, "my-label"),
                    f.keeps(SOURCE_K8S, "some-label"),
                ],
                [*host, *my, *some],
                "{spec}"
            );
        }
        // The same exclusions given as excludes, with or without the `!`.
        for spec in ["k8s:my-label", "k8s:!my-label"] {
            let f = filter(&[], &[spec]);
            assert!(!f.keeps(SOURCE_K8S, "my-label"), "{spec}");
            assert!(f.keeps(SOURCE_K8S, "some-label"), "{spec}");
        }
    }

    #[test]
    fn empty_patterns_are_skipped_and_empty_regexes_refused() {
        let f = filter(&[""], &[""]);
        assert!(
            keeps(&f, "team"),
            "an empty entry does not turn on the whitelist"
        );
        for spec in ["k8s:", "k8s:!", "!"] {
            let e = LabelFilter::new(&[spec.to_string()], &[]).unwrap_err();
            assert_eq!(e.code, crate::error::ErrorCode::InvalidConfig, "{spec}");
            assert_eq!(e.field, "identity.labelFilter.include[0]");
        }
    }

    #[test]
    fn pods_differing_only_by_zone_share_security_labels() {
        let ns: BTreeMap<String, String> = [(
            "kubernetes.io/metadata.name".to_string(),
            "shop".to_string(),
        )]
        .into();
        let key = |zone: &str| {
            let pod: BTreeMap<String, String> = [
                ("app", "web"),
                ("topology.kubernetes.io/zone", zone),
                ("topology.kubernetes.io/region", "eu-west-1"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            pod_security_labels(
                &LabelFilter::default_filter(),
                &PodLabelInputs {
                    namespace: "shop",
                    pod_labels: &pod,
                    namespace_labels: Some(&ns),
                    service_account: "web",
                    cluster_name: "default",
                },
            )
            .canonical_key()
        };
        assert_eq!(key("eu-west-1a"), key("eu-west-1b"));
        assert!(!key("eu-west-1a").contains("topology"));
    }

    #[test]
    fn user_include_turns_on_whitelist() {
        let f = LabelFilter::new(&["k8s:app".to_string()], &[]).unwrap();
        assert!(keeps(&f, "app"));
        assert!(
            keeps(&f, "application"),
            "prefix regex matches at the start"
        );
        assert!(!keeps(&f, "team"));
        // Default includes still count.
        assert!(keeps(&f, "io.kubernetes.pod.namespace"));
        // Source-qualified: does not apply to other sources.
        assert!(!f.keeps("container", "app"));
    }

    #[test]
    fn longest_include_beats_shorter_exclude() {
        let f = LabelFilter::new(&[], &["k8s:team".to_string()]).unwrap();
        assert!(!keeps(&f, "team"));
        assert!(!keeps(&f, "team-name"));
        let f =
            LabelFilter::new(&["k8s:team-name".to_string()], &["k8s:team".to_string()]).unwrap();
        assert!(keeps(&f, "team-name"));
        assert!(!keeps(&f, "team"));
    }

    #[test]
    fn bad_pattern_is_config_error() {
        let e = LabelFilter::new(&["(".to_string()], &[]).unwrap_err();
        assert_eq!(e.code, crate::error::ErrorCode::InvalidConfig);
        assert_eq!(e.field, "identity.labelFilter.include[0]");
    }

    #[test]
    fn canonical_key_is_sorted_with_trailing_semicolons() {
        let s = LabelSet::from_labels([
            Label::k8s("b", "2"),
            Label::k8s("a", "1"),
            Label::k8s("c", ""),
        ]);
        assert_eq!(s.canonical_key(), "k8s:a=1;k8s:b=2;k8s:c=;");
        assert_eq!(LabelSet::from_canonical_key(&s.canonical_key()), s);
    }

    #[test]
    fn pod_labels_get_namespace_sa_cluster_and_drop_cilium_prefix() {
        let pod: BTreeMap<String, String> = [
            ("app", "web"),
            ("pod-template-hash", "abc"),
            ("io.cilium.k8s.policy.cluster", "spoofed"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let ns: BTreeMap<String, String> = [("kubernetes.io/metadata.name", "shop"), ("team", "a")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let set = pod_security_labels(
            &LabelFilter::default_filter(),
            &PodLabelInputs {
                namespace: "shop",
                pod_labels: &pod,
                namespace_labels: Some(&ns),
                service_account: "web-sa",
                cluster_name: "default",
            },
        );
        assert_eq!(
            set.canonical_key(),
            "k8s:app=web;\
             k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=shop;\
             k8s:io.cilium.k8s.namespace.labels.team=a;\
             k8s:io.cilium.k8s.policy.cluster=default;\
             k8s:io.cilium.k8s.policy.serviceaccount=web-sa;\
             k8s:io.kubernetes.pod.namespace=shop;"
        );
    }
}
