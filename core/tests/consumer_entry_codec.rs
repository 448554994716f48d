//! One slice entry codec (`core/src/entry.rs`), seen from outside: what the
//! engine writes, the consumer reads back to the same endpoint data and a
//! restarted engine adopts; a respelled entry is the same endpoint to the
//! consumer but rewritten by adoption; and the rules that differ between a
//! CiliumEndpoint (engine input) and a slice entry (consumer) do exactly
//! what the codec's docs say.

mod common;

use common::*;
use sliceplane::config::{SliceMode, Source};
use sliceplane::consumer::Consumer;
use sliceplane::mirror::Mirror;
use sliceplane::model::*;
use sliceplane::plan::{Verb, WriteOp};
use sliceplane::{Engine, ErrorCode, WatchEvent};

fn port(name: &str, port: i64, protocol: &str) -> NamedPort {
    NamedPort {
        name: name.into(),
        port,
        protocol: protocol.into(),
    }
}

/// CiliumEndpoints with every part an entry carries, in several shapes.
fn ceps() -> Vec<CiliumEndpoint> {
    let mut a = cep("ns", "a", 1000, "10.0.0.1");
    let st = &mut a.status;
    st.networking.as_mut().unwrap().addressing[0].ipv6 = Some("fd00::1".into());
    st.encryption = Some(EncryptionSpec { key: 3 });
    // Unsorted, one without a protocol (TCP in a CiliumEndpoint).
    st.named_ports = vec![port("http", 80, ""), port("dns", 53, "UDP")];
    st.service_account = Some("web".into());

    let mut b = cep("ns", "b", 1001, "10.0.0.2");
    let net = b.status.networking.as_mut().unwrap();
    net.node = None;
    net.addressing[0] = AddressPair {
        ipv4: None,
        ipv6: Some("fd00::2".into()),
    };

    let mut c = cep("ns", "c", 1000, "10.0.0.3");
    c.status
        .networking
        .as_mut()
        .unwrap()
        .addressing
        .push(AddressPair {
            ipv4: Some("10.0.1.3".into()),
            ipv6: None,
        });
    c.status.service_account = Some(String::new());

    let mut d = cep("other", "d", 1002, "10.0.0.4");
    d.status.named_ports = vec![port("any", 7, "ANY"), port("ping", 1, "ICMP")];
    vec![a, b, c, d]
}

fn config() -> sliceplane::Config {
    common::config(Source::Ciliumendpoints, SliceMode::Fcfs, 100)
}

/// The engine's slices for `ceps`, as the API server holds them.
fn written(ceps: &[CiliumEndpoint]) -> (Engine, Mirror) {
    let mut e = Engine::new(config()).unwrap();
    e.initial_sync_done(0);
    for c in ceps {
        e.apply(&add(Object::CiliumEndpoint(c.clone())), 0).unwrap();
    }
    let mut m = Mirror::new();
    m.settle(&mut e, 0, 5).unwrap();
    (e, m)
}

/// A fresh engine that sees `slices` and `ceps`, synced: its first plan.
fn restart(slices: &[CiliumEndpointSlice], ceps: &[CiliumEndpoint]) -> Vec<(Verb, String)> {
    let mut e = Engine::new(config()).unwrap();
    for s in slices {
        e.apply(&add(Object::CiliumEndpointSlice(s.clone())), 0)
            .unwrap();
    }
    for c in ceps {
        e.apply(&add(Object::CiliumEndpoint(c.clone())), 0).unwrap();
    }
    e.initial_sync_done(0);
    e.flush(1_000_000)
        .iter()
        .map(|w| (w.op.verb(), w.op.name().to_string()))
        .collect()
}

#[test]
fn what_the_engine_writes_the_consumer_reads_and_a_restart_adopts() {
    let ceps = ceps();
    let (mut engine, mirror) = written(&ceps);
    let slices: Vec<CiliumEndpointSlice> = mirror.slices.values().cloned().collect();
    assert_eq!(slices.len(), 2);

    let mut consumer = Consumer::new();
    for s in &slices {
        consumer
            .apply(&WatchEvent::added(Object::CiliumEndpointSlice(s.clone())))
            .unwrap();
    }
    assert_eq!(consumer.counters().entries_skipped, 0);
    let snap = engine.publish();
    let mut seen = 0;
    for want in snap.endpoints() {
        let got = consumer
            .endpoint(&want.namespace, &want.name)
            .unwrap_or_else(|| panic!("{}/{} missing", want.namespace, want.name));
        assert_eq!(got.identity, want.identity, "{}", want.name);
        assert_eq!(got.data, want.data, "{}", want.name);
        assert_eq!(got.slice, want.slice, "{}", want.name);
        seen += 1;
    }
    assert_eq!(seen, 4);
    assert_eq!(consumer.counters().endpoints, 4);
    // The parts as read: sorted ports, TCP for the empty protocol, no
    // service account for the empty one, no node for b.
    let a = consumer.endpoint("ns", "a").unwrap();
    let ports: Vec<(String, u16, &str)> = a
        .data
        .named_ports
        .iter()
        .map(|p| (p.name.to_string(), p.port, p.protocol.as_str()))
        .collect();
    assert_eq!(
        ports,
        [
            ("dns".to_string(), 53, "UDP"),
            ("http".to_string(), 80, "TCP")
        ]
    );
    assert_eq!(a.data.encryption_key, 3);
    assert_eq!(a.data.service_account.as_deref(), Some("web"));
    assert_eq!(
        consumer.endpoint("ns", "c").unwrap().data.service_account,
        None
    );
    assert_eq!(consumer.endpoint("ns", "b").unwrap().data.node_ip, None);

    // A restart reads every entry as the endpoint's: nothing to write.
    assert_eq!(restart(&slices, &ceps), []);
}

#[test]
fn a_respelled_entry_is_the_same_endpoint_to_the_consumer_but_rewritten_by_adoption() {
    let ceps = ceps();
    let (_, mirror) = written(&ceps);
    let slices: Vec<CiliumEndpointSlice> = mirror.slices.values().cloned().collect();
    let i = slices.iter().position(|s| s.namespace == "ns").unwrap();
    let mut respelled = slices.clone();
    let entry = respelled[i]
        .endpoints
        .iter_mut()
        .find(|e| e.name == "a")
        .unwrap();
    entry.networking.addressing[0].ipv6 = Some("FD00::1".into());
    entry.named_ports.reverse();

    let mut consumer = Consumer::new();
    consumer
        .apply(&WatchEvent::added(Object::CiliumEndpointSlice(
            slices[i].clone(),
        )))
        .unwrap();
    let changes = consumer
        .apply(&WatchEvent::modified(Object::CiliumEndpointSlice(
            respelled[i].clone(),
        )))
        .unwrap();
    assert_eq!(changes, [], "the same values, spelled differently");
    assert_eq!(consumer.counters().entries_skipped, 0);

    assert_eq!(
        restart(&respelled, &ceps),
        [(Verb::Update, slices[i].metadata.name.clone())]
    );
}

/// An engine fed one CiliumEndpoint; its desired entry, or the error.
fn engine_reads(c: CiliumEndpoint) -> Result<CoreCiliumEndpoint, sliceplane::Error> {
    let mut e = Engine::new(config()).unwrap();
    e.initial_sync_done(0);
    e.apply(&add(Object::CiliumEndpoint(c)), 0)?;
    let plan = e.flush(0);
    let WriteOp::CreateSlice(s) = &plan.writes[0].op else {
        panic!("{plan:?}")
    };
    Ok(s.endpoints[0].clone())
}

/// A consumer fed one slice with one entry: the endpoint it holds, and
/// the message of the skipped entry's event if it skipped it.
fn consumer_reads(
    e: CoreCiliumEndpoint,
) -> (
    Option<std::sync::Arc<sliceplane::snapshot::EndpointView>>,
    Option<String>,
) {
    let mut c = Consumer::new();
    let mut s = CiliumEndpointSlice::new("ces-1", "ns");
    s.endpoints = vec![e];
    c.apply(&WatchEvent::added(Object::CiliumEndpointSlice(s)))
        .unwrap();
    let skipped = (c.counters().entries_skipped == 1).then(|| {
        let events = c.drain_events();
        assert_eq!(events.len(), 1, "{events:?}");
        events[0].message.clone()
    });
    (c.endpoint("ns", "a").cloned(), skipped)
}

fn entry() -> CoreCiliumEndpoint {
    CoreCiliumEndpoint {
        name: "a".into(),
        id: 1000,
        networking: EndpointNetworking {
            addressing: vec![AddressPair {
                ipv4: Some("10.0.0.1".into()),
                ipv6: None,
            }]
            .into(),
            node: Some("192.168.0.1".into()),
        },
        ..Default::default()
    }
}

#[test]
fn an_empty_protocol_is_tcp_in_a_cilium_endpoint_and_malformed_in_an_entry() {
    let mut c = cep("ns", "a", 1000, "10.0.0.1");
    c.status.named_ports = vec![port("http", 80, "")];
    assert_eq!(
        engine_reads(c).unwrap().named_ports,
        [port("http", 80, "TCP")]
    );

    let mut e = entry();
    e.named_ports = vec![port("http", 80, "")];
    let (held, skipped) = consumer_reads(e.clone());
    assert!(held.is_none());
    assert_eq!(
        skipped.as_deref(),
        Some(
            "[invalid_protocol] CiliumEndpointSlice ces-1 field endpoints[0].named-ports[0].protocol: \
             protocol \"\" is not one of TCP, UDP, SCTP, ICMP, ICMPV6, ANY"
        )
    );
    e.named_ports[0].protocol = "TCP".into();
    let (held, skipped) = consumer_reads(e);
    assert_eq!(skipped, None);
    assert_eq!(held.unwrap().data.named_ports[0].port, 80);
}

#[test]
fn a_service_account_is_validated_in_a_cilium_endpoint_and_verbatim_in_an_entry() {
    // Empty: none in a CiliumEndpoint, kept (empty) in an entry.
    let mut c = cep("ns", "a", 1000, "10.0.0.1");
    c.status.service_account = Some(String::new());
    assert_eq!(engine_reads(c.clone()).unwrap().service_account, None);
    let mut e = entry();
    e.service_account = Some(String::new());
    let (held, _) = consumer_reads(e.clone());
    assert_eq!(held.unwrap().data.service_account.as_deref(), Some(""));

    // Not a DNS-1123 subdomain: the engine rejects the CiliumEndpoint, the
    // consumer takes the entry's as it is.
    c.status.service_account = Some("Not_A_Name".into());
    let err = engine_reads(c).unwrap_err();
    assert_eq!(
        (err.code, err.field.as_str()),
        (ErrorCode::InvalidName, "status.service-account")
    );
    e.service_account = Some("Not_A_Name".into());
    let (held, skipped) = consumer_reads(e);
    assert_eq!(skipped, None);
    assert_eq!(
        held.unwrap().data.service_account.as_deref(),
        Some("Not_A_Name")
    );
}

#[test]
fn identity_zero_is_refused_from_a_cilium_endpoint_and_read_from_an_entry() {
    let err = engine_reads(cep("ns", "a", 0, "10.0.0.1")).unwrap_err();
    assert_eq!(
        (err.code, err.field.as_str()),
        (ErrorCode::InvalidValue, "status.identity.id")
    );
    let mut e = entry();
    e.id = 0;
    let (held, skipped) = consumer_reads(e);
    assert_eq!(skipped, None);
    assert_eq!(held.unwrap().identity, 0);
}

#[test]
fn a_bad_part_is_the_same_error_under_each_owner() {
    let mut c = cep("ns", "a", 1000, "10.0.0.1");
    c.status.named_ports = vec![port("http", 0, "TCP")];
    let err = engine_reads(c).unwrap_err();
    assert_eq!(
        err.to_string(),
        "[invalid_port] CiliumEndpoint ns/a field status.named-ports[0].port: port 0 is outside 1-65535"
    );
    let mut e = entry();
    e.named_ports = vec![port("http", 0, "TCP")];
    let (held, skipped) = consumer_reads(e);
    assert!(held.is_none());
    assert_eq!(
        skipped.as_deref(),
        Some(
            "[invalid_port] CiliumEndpointSlice ces-1 field endpoints[0].named-ports[0].port: port 0 is outside 1-65535"
        )
    );
}
