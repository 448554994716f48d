//! Emitted CiliumEndpointSlice and CiliumIdentity JSON validates against the
//! real CRD schemas in `shared/schemas/` (DESIGN.md §3, §4).

mod common;

use common::*;
use regex::Regex;
use serde_json::{Value, json};
use sliceplane::config::{SliceMode, Source};
use sliceplane::mirror::Mirror;
use sliceplane::model::{
    AddressPair, CiliumEndpoint, ContainerPort, Object, Pod, PodIp, WatchEvent,
};
use sliceplane::plan::{Verb, WriteOp, WritePlan};
use sliceplane::{Config, Engine};

const CES_CRD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/schemas/ciliumendpointslices.yaml"
);
const CID_CRD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/schemas/ciliumidentities.yaml"
);

/// `spec.versions[0].schema.openAPIV3Schema` of a CRD file, as JSON, with
/// the OpenAPI-only `x-kubernetes-*` keys stripped.
fn crd_schema(path: &str) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let crd: Value = serde_yaml_ng::from_str(&text).unwrap();
    let mut s = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone();
    assert!(s.is_object(), "{path}: no openAPIV3Schema");
    strip_x_kubernetes(&mut s);
    s
}

fn strip_x_kubernetes(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with("x-kubernetes-"));
            m.values_mut().for_each(strip_x_kubernetes);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_x_kubernetes),
        _ => {}
    }
}

/// The schema made strict: every object with declared `properties` rejects
/// undeclared keys (the API server would silently prune them). `extra`
/// names fields newer Cilium releases add to an endpoint entry.
fn strict(v: &mut Value, extra: &[&str]) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Object(props)) = m.get_mut("properties") {
                if props.contains_key("networking") && props.contains_key("id") {
                    for f in extra {
                        props.insert((*f).to_string(), json!({ "type": "string" }));
                    }
                }
                m.insert("additionalProperties".into(), Value::Bool(false));
            }
            m.values_mut().for_each(|x| strict(x, extra));
        }
        Value::Array(a) => a.iter_mut().for_each(|x| strict(x, extra)),
        _ => {}
    }
}

struct Schemas {
    ces: jsonschema::Validator,
    ces_strict: jsonschema::Validator,
    cid: jsonschema::Validator,
    cid_strict: jsonschema::Validator,
}

impl Schemas {
    fn load() -> Schemas {
        let ces = crd_schema(CES_CRD);
        let cid = crd_schema(CID_CRD);
        let mut ces_s = ces.clone();
        strict(&mut ces_s, &["service-account", "pod-uid"]);
        let mut cid_s = cid.clone();
        strict(&mut cid_s, &[]);
        Schemas {
            ces: jsonschema::validator_for(&ces).unwrap(),
            ces_strict: jsonschema::validator_for(&ces_s).unwrap(),
            cid: jsonschema::validator_for(&cid).unwrap(),
            cid_strict: jsonschema::validator_for(&cid_s).unwrap(),
        }
    }
}

fn assert_valid(v: &jsonschema::Validator, what: &str, obj: &Value) {
    let errors: Vec<String> = v
        .iter_errors(obj)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what} invalid: {errors:?}\n{obj:#}");
}

fn name_re() -> Regex {
    Regex::new(r"^ces-[bcdfghjklmnpqrstvwxyz2456789]{9}-[bcdfghjklmnpqrstvwxyz2456789]{5}$")
        .unwrap()
}

/// Checks every op of a plan; returns (slice writes, identity creates, emptied updates, deletes).
fn check_plan(s: &Schemas, plan: &WritePlan) -> (usize, usize, usize, usize) {
    let re = name_re();
    let (mut slices, mut ids, mut emptied, mut deletes) = (0, 0, 0, 0);
    for w in &plan.writes {
        let obj = w.op.object_json();
        // The line format carries the same object.
        assert_eq!(w.to_json()["object"], obj);
        match &w.op {
            WriteOp::CreateSlice(_) | WriteOp::UpdateSlice(_) => {
                slices += 1;
                assert_valid(&s.ces, "CiliumEndpointSlice", &obj);
                assert_valid(&s.ces_strict, "CiliumEndpointSlice (strict)", &obj);
                assert_eq!(obj["apiVersion"], "cilium.io/v2alpha1");
                assert_eq!(obj["kind"], "CiliumEndpointSlice");
                let name = obj["metadata"]["name"].as_str().unwrap();
                assert!(re.is_match(name), "slice name {name}");
                let eps = obj
                    .get("endpoints")
                    .and_then(Value::as_array)
                    .unwrap_or_else(|| panic!("endpoints missing: {obj}"));
                if eps.is_empty() {
                    assert_eq!(w.op.verb(), Verb::Update, "only updates empty a slice");
                    emptied += 1;
                }
                for e in eps {
                    let id = e["id"].as_i64().unwrap();
                    assert!(id >= 256, "identity {id}");
                    assert!(!e["networking"]["addressing"].as_array().unwrap().is_empty());
                    assert!(e["encryption"].is_object());
                    assert!(e["named-ports"].is_array());
                }
            }
            WriteOp::CreateIdentity(_) => {
                ids += 1;
                assert_valid(&s.cid, "CiliumIdentity", &obj);
                assert_valid(&s.cid_strict, "CiliumIdentity (strict)", &obj);
                assert_eq!(obj["apiVersion"], "cilium.io/v2");
                assert_eq!(obj["kind"], "CiliumIdentity");
                let name = obj["metadata"]["name"].as_str().unwrap();
                let n: u32 = name.parse().unwrap_or_else(|_| panic!("name {name}"));
                assert!((256..=65_535).contains(&n));
                let sl = obj["security-labels"].as_object().unwrap();
                assert!(!sl.is_empty());
                assert!(sl.keys().all(|k| k.contains(':')), "{sl:?}");
            }
            WriteOp::DeleteSlice { .. } | WriteOp::DeleteIdentity { .. } => {
                deletes += 1;
                let m = obj.as_object().unwrap();
                let keys: Vec<&str> = m.keys().map(String::as_str).collect();
                assert_eq!(keys, ["apiVersion", "kind", "metadata"], "{obj}");
                let meta = m["metadata"].as_object().unwrap();
                assert!(meta.contains_key("name"));
                assert!(
                    meta.keys()
                        .all(|k| ["name", "uid", "resourceVersion"].contains(&k.as_str())),
                    "delete carries more than metadata: {obj}"
                );
                if let WriteOp::DeleteSlice { name, .. } = &w.op {
                    assert!(re.is_match(name));
                }
            }
        }
    }
    (slices, ids, emptied, deletes)
}

fn rich_pod(i: u32) -> Pod {
    let ns = format!("team-{}", i % 7);
    let mut p = pod(
        &ns,
        &format!("pod-{i}"),
        &format!("app{}", i % 5),
        &format!("node-{}", i % 4),
        &ip(i),
    );
    if i.is_multiple_of(3) {
        // Dual-stack.
        p.status.pod_ips.push(PodIp {
            ip: format!("fd00::{:x}", i + 1),
        });
    }
    let c = &mut p.spec.containers[0];
    if i.is_multiple_of(2) {
        c.ports.push(ContainerPort {
            name: Some("dns".into()),
            container_port: 53,
            protocol: Some("UDP".into()),
        });
    }
    if i.is_multiple_of(5) {
        c.ports.push(ContainerPort {
            name: Some("sctp-x".into()),
            container_port: 9000,
            protocol: Some("SCTP".into()),
        });
        c.ports.push(ContainerPort {
            name: None,
            container_port: 9001,
            protocol: Some("TCP".into()),
        });
    }
    if i.is_multiple_of(11) {
        p.spec.service_account_name = Some(format!("sa-{}", i % 3));
    }
    p
}

fn flush_all(s: &Schemas, e: &mut Engine, m: &mut Mirror, now: &mut u64) -> [usize; 4] {
    let mut tot = [0; 4];
    for _ in 0..200 {
        *now += 10_000;
        let plan = e.flush(*now);
        if plan.is_empty() {
            return tot;
        }
        let (a, b, c, d) = check_plan(s, &plan);
        for (t, x) in tot.iter_mut().zip([a, b, c, d]) {
            *t += x;
        }
        m.apply_plan(e, &plan, *now).unwrap();
    }
    panic!("no convergence");
}

fn pods_config(mode: SliceMode) -> Config {
    let mut c = config(Source::Pods, mode, 40);
    c.write.empty_before_delete_threshold = 1;
    c
}

#[test]
fn pods_mode_writes_validate_against_the_crds() {
    let s = Schemas::load();
    for mode in [SliceMode::Fcfs, SliceMode::Identity] {
        let mut e = Engine::new(pods_config(mode)).unwrap();
        e.initial_sync_done(0);
        let mut m = Mirror::new();
        let mut now = 0;
        for n in 0..7 {
            let ns = format!("team-{n}");
            let nsobj = namespace(&ns, &[("tier", if n % 2 == 0 { "front" } else { "back" })]);
            e.apply(&WatchEvent::added(Object::Namespace(nsobj)), now)
                .unwrap();
        }
        for n in 0..4 {
            let node = cilium_node(&format!("node-{n}"), &format!("192.168.0.{}", n + 1), n);
            e.apply(&WatchEvent::added(Object::CiliumNode(node)), now)
                .unwrap();
        }
        let pods: Vec<Pod> = (0..300).map(rich_pod).collect();
        for p in &pods {
            e.apply(&WatchEvent::added(Object::Pod(p.clone())), now)
                .unwrap();
        }
        let [slices, ids, _, _] = flush_all(&s, &mut e, &mut m, &mut now);
        assert!(slices >= 300 / 40, "{mode:?}: {slices} slice writes");
        assert!(
            ids >= 35,
            "7 namespaces x 5 apps, plus service accounts: {ids}"
        );
        // Everything in the mirror validates too.
        for sl in m.slices.values() {
            assert_valid(
                &s.ces_strict,
                "stored slice",
                &serde_json::to_value(sl).unwrap(),
            );
        }
        for id in m.identities.values() {
            assert_valid(
                &s.cid_strict,
                "stored identity",
                &serde_json::to_value(id).unwrap(),
            );
        }
        // Dual-stack and named ports made it into the slices.
        let all: Vec<Value> = m
            .slices
            .values()
            .map(|x| serde_json::to_value(x).unwrap())
            .collect();
        let text = serde_json::to_string(&all).unwrap();
        assert!(text.contains("\"ipv6\":\"fd00::1\""), "dual-stack missing");
        assert!(
            text.contains("\"protocol\":\"SCTP\""),
            "named ports missing"
        );

        // Updates: relabel some pods.
        for p in pods.iter().step_by(4) {
            let mut p = p.clone();
            p.metadata.labels.insert("app".into(), "moved".into());
            e.apply(&WatchEvent::modified(Object::Pod(p)), now).unwrap();
        }
        let [slices, _, _, _] = flush_all(&s, &mut e, &mut m, &mut now);
        assert!(slices > 0);

        // Empty a namespace: slices are emptied (threshold 1) and then deleted.
        for p in pods
            .iter()
            .filter(|p| p.metadata.namespace.as_deref() == Some("team-3"))
        {
            e.apply(&WatchEvent::deleted(Object::Pod(p.clone())), now)
                .unwrap();
        }
        let [_, _, emptied, deletes] = flush_all(&s, &mut e, &mut m, &mut now);
        assert!(emptied > 0, "{mode:?}: no emptied update");
        assert!(deletes >= emptied, "{mode:?}: emptied slices are deleted");
        assert!(m.slices.values().all(|x| x.namespace != "team-3"));
        // Identity deletes after the grace period.
        now += 16 * 60 * 1000;
        let [_, _, _, deletes] = flush_all(&s, &mut e, &mut m, &mut now);
        assert!(deletes > 0, "{mode:?}: no identity delete");
        assert_eq!(e.desired_slices(), m.slices_without_meta());
    }
}

#[test]
fn cilium_endpoint_slices_validate_dual_stack() {
    let s = Schemas::load();
    let mut e = Engine::new(config(Source::Ciliumendpoints, SliceMode::Fcfs, 3)).unwrap();
    e.initial_sync_done(0);
    let mut m = Mirror::new();
    let mut now = 0;
    let ceps: Vec<CiliumEndpoint> = (0..20)
        .map(|i| {
            let mut c = cep(
                &format!("ns{}", i % 2),
                &format!("c{i}"),
                300 + i as i64 % 4,
                &ip(i),
            );
            if i.is_multiple_of(2) {
                let net = c.status.networking.as_mut().unwrap();
                net.addressing.push(AddressPair {
                    ipv4: None,
                    ipv6: Some(format!("fd00::{:x}", i + 1).into()),
                });
            }
            c
        })
        .collect();
    for c in &ceps {
        e.apply(&WatchEvent::added(Object::CiliumEndpoint(c.clone())), now)
            .unwrap();
    }
    let [slices, ids, _, _] = flush_all(&s, &mut e, &mut m, &mut now);
    assert_eq!(slices, 8, "two namespaces of 10, max 3: 4 slices each");
    assert_eq!(ids, 0, "no identities in ciliumendpoints mode");
    for sl in m.slices.values() {
        let v = serde_json::to_value(sl).unwrap();
        assert_valid(&s.ces_strict, "stored slice", &v);
    }
}

#[test]
fn schemas_reject_what_they_should() {
    // The validators are real: a slice without endpoints, or with a string id, fails.
    let s = Schemas::load();
    let bad = json!({"apiVersion": "cilium.io/v2alpha1", "kind": "CiliumEndpointSlice",
        "metadata": {"name": "x"}, "namespace": "ns"});
    assert!(!s.ces.is_valid(&bad));
    let bad = json!({"metadata": {"name": "x"}, "endpoints": [{"id": "7", "networking": {"addressing": []}}]});
    assert!(!s.ces.is_valid(&bad));
    let bad = json!({"metadata": {"name": "x"}, "endpoints": [{"id": 7, "bogus": 1}]});
    assert!(s.ces.is_valid(&bad) && !s.ces_strict.is_valid(&bad));
    let bad = json!({"metadata": {"name": "300"}});
    assert!(!s.cid.is_valid(&bad), "security-labels is required");
}
