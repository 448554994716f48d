package sliceplane

/*
#cgo noescape sp_snapshot_identity_of_ip
#cgo nocallback sp_snapshot_identity_of_ip
#cgo noescape sp_snapshot_reader_identity_of_ip
#cgo nocallback sp_snapshot_reader_identity_of_ip
#cgo noescape sp_snapshot_identity_of_ip_str
#cgo nocallback sp_snapshot_identity_of_ip_str
#include "sliceplane.h"
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"unsafe"
)

// Snapshot is an immutable point-in-time view of endpoints, slices,
// identities and the IP cache (DESIGN.md §6). It shares nothing mutable
// with the Engine or Consumer that published it: use it from any
// goroutine, concurrently, without the engine's lock, and after the engine
// is closed. Close it when done (a finalizer is only a safety net).
type Snapshot struct {
	mu sync.RWMutex
	h  *C.sp_snapshot
}

// SnapshotReader loads the latest published snapshot without locks and
// without making the writer wait. Like a Snapshot it is independent of the
// engine's lock: any goroutine may use it while the engine's owner applies
// events and publishes.
type SnapshotReader struct {
	mu sync.RWMutex
	h  *C.sp_snapshot_reader
}

// Endpoint is one endpoint as a snapshot shows it, the shape every
// binding returns (core/src/wire/view.rs).
type Endpoint struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Identity  uint32 `json:"identity"`
	// NodeIP is empty when unknown.
	NodeIP        string   `json:"nodeIp"`
	EncryptionKey uint8    `json:"encryptionKey"`
	Slice         string   `json:"slice"`
	IPs           []string `json:"ips"`
	// NamedPorts are the endpoint's named ports, sorted by name.
	NamedPorts []NamedPort `json:"namedPorts"`
	// ServiceAccount is empty when unknown.
	ServiceAccount string `json:"serviceAccount"`
}

// NamedPort is one named port of an endpoint.
type NamedPort struct {
	Name string `json:"name"`
	Port uint16 `json:"port"`
	// Protocol is "TCP", "UDP", "SCTP", ...
	Protocol string `json:"protocol"`
}

// SliceView is one slice as a snapshot shows it.
type SliceView struct {
	Name      string   `json:"name"`
	Namespace string   `json:"namespace"`
	Endpoints []string `json:"endpoints"`
}

// Fragmentation is the slice count against the ideal (⌈endpoints / max per slice⌉).
type Fragmentation struct {
	Slices int `json:"slices"`
	Ideal  int `json:"ideal"`
}

// Ratio is Slices / Ideal (1 when both are 0, +Inf when only Ideal is).
func (f Fragmentation) Ratio() float64 {
	if f.Ideal == 0 {
		if f.Slices == 0 {
			return 1
		}
		return float64(f.Slices) / 0 // +Inf
	}
	return float64(f.Slices) / float64(f.Ideal)
}

// SnapshotCounts are a snapshot's sizes.
type SnapshotCounts struct {
	Version uint64 `json:"version"`
	// Endpoints, Slices, Identities (in use), Namespaces, IPs (IP cache entries).
	Endpoints     int           `json:"endpoints"`
	Slices        int           `json:"slices"`
	Identities    int           `json:"identities"`
	Namespaces    int           `json:"namespaces"`
	IPs           int           `json:"ips"`
	MaxPerSlice   uint32        `json:"maxPerSlice"`
	Fragmentation Fragmentation `json:"fragmentation"`
}

func newSnapshot(h *C.sp_snapshot) *Snapshot {
	s := &Snapshot{h: h}
	runtime.SetFinalizer(s, (*Snapshot).Close)
	return s
}

func newSnapshotReader(h *C.sp_snapshot_reader) *SnapshotReader {
	r := &SnapshotReader{h: h}
	runtime.SetFinalizer(r, (*SnapshotReader).Close)
	return r
}

// Close frees the snapshot. Closing twice is a no-op.
func (s *Snapshot) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h != nil {
		C.sp_snapshot_free(s.h)
		s.h = nil
		runtime.SetFinalizer(s, nil)
	}
	return nil
}

func (s *Snapshot) read(f func(h *C.sp_snapshot) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.h == nil {
		return ErrClosed
	}
	return f(s.h)
}

// Version increases by one with every publish (0 after Close).
func (s *Snapshot) Version() uint64 {
	var v uint64
	_ = s.read(func(h *C.sp_snapshot) error {
		v = uint64(C.sp_snapshot_version(h))
		return nil
	})
	return v
}

// ip16 is ip as 16 bytes (IPv4 as ::ffff:a.b.c.d, which the library reads as IPv4).
func ip16(ip netip.Addr) ([16]byte, error) {
	if !ip.IsValid() {
		return [16]byte{}, &Error{Code: ErrInvalidIP.Code, Number: ErrInvalidIP.Number, Field: "ip", Message: "invalid netip.Addr"}
	}
	return ip.Unmap().As16(), nil
}

// IdentityOfIP is IP → identity in O(1); ok is false when the IP is not
// known. It allocates nothing.
func (s *Snapshot) IdentityOfIP(ip netip.Addr) (id uint32, ok bool, err error) {
	b, err := ip16(ip)
	if err != nil {
		return 0, false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.h == nil {
		return 0, false, ErrClosed
	}
	var cid C.uint32_t
	var found C.bool
	var e *C.sp_error
	if err := takeError(C.sp_snapshot_identity_of_ip(s.h, (*C.uint8_t)(unsafe.Pointer(&b[0])), &cid, &found, &e), e); err != nil {
		return 0, false, err
	}
	return uint32(cid), bool(found), nil
}

// IdentityOfIPString is IdentityOfIP with the IP as text; text that is not
// an IP gives ErrInvalidIP.
func (s *Snapshot) IdentityOfIPString(ip string) (id uint32, ok bool, err error) {
	err = s.read(func(h *C.sp_snapshot) error {
		var cid C.uint32_t
		var found C.bool
		var e *C.sp_error
		p, n := cbytes(unsafe.Slice(unsafe.StringData(ip), len(ip)))
		if err := takeError(C.sp_snapshot_identity_of_ip_str(h, p, n, &cid, &found, &e), e); err != nil {
			return err
		}
		id, ok = uint32(cid), bool(found)
		return nil
	})
	return id, ok, err
}

// foundCall runs a found/not-found buffer call and decodes the JSON into out.
func (s *Snapshot) foundCall(out any, call func(h *C.sp_snapshot, found *C.bool, b *C.sp_buffer, e **C.sp_error) C.uint32_t) (bool, error) {
	var raw []byte
	var ok bool
	err := s.read(func(h *C.sp_snapshot) error {
		var found C.bool
		var b C.sp_buffer
		var e *C.sp_error
		if err := takeError(call(h, &found, &b, &e), e); err != nil {
			return err
		}
		ok = bool(found)
		raw = takeBuffer(&b)
		return nil
	})
	if err != nil || !ok {
		return false, err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return false, fmt.Errorf("sliceplane: decoding library output: %w", err)
	}
	return true, nil
}

// bufferCall runs a buffer-returning call and decodes the JSON into out.
func (s *Snapshot) bufferCall(out any, call func(h *C.sp_snapshot, b *C.sp_buffer, e **C.sp_error) C.uint32_t) error {
	var raw []byte
	err := s.read(func(h *C.sp_snapshot) error {
		var b C.sp_buffer
		var e *C.sp_error
		if err := takeError(call(h, &b, &e), e); err != nil {
			return err
		}
		raw = takeBuffer(&b)
		return nil
	})
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("sliceplane: decoding library output: %w", err)
	}
	return nil
}

// LookupIP is IP → the endpoint owning it, in O(1); ok is false when the
// IP is not known. Text that is not an IP gives ErrInvalidIP.
func (s *Snapshot) LookupIP(ip string) (ep Endpoint, ok bool, err error) {
	ok, err = s.foundCall(&ep, func(h *C.sp_snapshot, found *C.bool, b *C.sp_buffer, e **C.sp_error) C.uint32_t {
		p, n := cbytes([]byte(ip))
		return C.sp_snapshot_lookup_ip(h, p, n, found, b, e)
	})
	return ep, ok, err
}

// Endpoint is the endpoint namespace/name; ok is false when there is none.
func (s *Snapshot) Endpoint(namespace, name string) (ep Endpoint, ok bool, err error) {
	ok, err = s.foundCall(&ep, func(h *C.sp_snapshot, found *C.bool, b *C.sp_buffer, e **C.sp_error) C.uint32_t {
		np, nn := cbytes([]byte(namespace))
		p, n := cbytes([]byte(name))
		return C.sp_snapshot_endpoint(h, np, nn, p, n, found, b, e)
	})
	return ep, ok, err
}

// IdentityLabels are the labels of identity id (JSON); ok is false when
// the snapshot does not know id.
func (s *Snapshot) IdentityLabels(id uint32) (labels json.RawMessage, ok bool, err error) {
	ok, err = s.foundCall(&labels, func(h *C.sp_snapshot, found *C.bool, b *C.sp_buffer, e **C.sp_error) C.uint32_t {
		return C.sp_snapshot_identity_labels(h, C.uint32_t(id), found, b, e)
	})
	return labels, ok, err
}

// Endpoints are the endpoints of namespace ("" for all), by namespace and name.
func (s *Snapshot) Endpoints(namespace string) ([]Endpoint, error) {
	var v []Endpoint
	err := s.bufferCall(&v, func(h *C.sp_snapshot, b *C.sp_buffer, e **C.sp_error) C.uint32_t {
		p, n := cbytes([]byte(namespace))
		return C.sp_snapshot_endpoints_json(h, p, n, b, e)
	})
	return v, err
}

// Slices are the slices of namespace ("" for all), by name.
func (s *Snapshot) Slices(namespace string) ([]SliceView, error) {
	var v []SliceView
	err := s.bufferCall(&v, func(h *C.sp_snapshot, b *C.sp_buffer, e **C.sp_error) C.uint32_t {
		p, n := cbytes([]byte(namespace))
		return C.sp_snapshot_slices_json(h, p, n, b, e)
	})
	return v, err
}

// Counts are the snapshot's sizes and fragmentation.
func (s *Snapshot) Counts() (SnapshotCounts, error) {
	var v SnapshotCounts
	err := s.bufferCall(&v, func(h *C.sp_snapshot, b *C.sp_buffer, e **C.sp_error) C.uint32_t {
		return C.sp_snapshot_counts_json(h, b, e)
	})
	return v, err
}

// Close frees the reader. Closing twice is a no-op. Snapshots loaded from
// it stay valid.
func (r *SnapshotReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.h != nil {
		C.sp_snapshot_reader_free(r.h)
		r.h = nil
		runtime.SetFinalizer(r, nil)
	}
	return nil
}

// Load returns the latest published snapshot (an O(1) shared reference).
func (r *SnapshotReader) Load() (*Snapshot, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.h == nil {
		return nil, ErrClosed
	}
	var h *C.sp_snapshot
	var e *C.sp_error
	if err := takeError(C.sp_snapshot_reader_load(r.h, &h, &e), e); err != nil {
		return nil, err
	}
	return newSnapshot(h), nil
}

// Version is the version of the latest published snapshot (0 after Close).
func (r *SnapshotReader) Version() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.h == nil {
		return 0
	}
	return uint64(C.sp_snapshot_reader_version(r.h))
}

// IdentityOfIP is IP → identity on the latest published snapshot, without
// making a Snapshot. It allocates nothing.
func (r *SnapshotReader) IdentityOfIP(ip netip.Addr) (id uint32, ok bool, err error) {
	b, err := ip16(ip)
	if err != nil {
		return 0, false, err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.h == nil {
		return 0, false, ErrClosed
	}
	var cid C.uint32_t
	var found C.bool
	var e *C.sp_error
	if err := takeError(C.sp_snapshot_reader_identity_of_ip(r.h, (*C.uint8_t)(unsafe.Pointer(&b[0])), &cid, &found, &e), e); err != nil {
		return 0, false, err
	}
	return uint32(cid), bool(found), nil
}
