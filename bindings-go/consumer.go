package sliceplane

/*
#include "sliceplane.h"
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
)

// Consumer is the node agent's view of CiliumEndpointSlices (DESIGN.md
// §7): it takes slice watch events, reports endpoint upserts and deletes,
// and publishes snapshots. Safe for concurrent use (calls are serialized);
// snapshots and readers it hands out need none of its locking.
type Consumer struct {
	mu sync.RWMutex
	h  *C.sp_consumer
}

// EndpointChange is one endpoint change a watch event made.
type EndpointChange struct {
	// Op is "upsert" (Old nil for an add) or "delete" (New nil).
	Op  string    `json:"op"`
	Old *Endpoint `json:"old"`
	New *Endpoint `json:"new"`
	// Index is the event's index in an ApplyJSONLines batch (0 for ApplyJSON).
	Index int `json:"index"`
}

// ConsumerCounters are what the consumer did and holds.
type ConsumerCounters struct {
	EventsApplied  uint64 `json:"eventsApplied"`
	EventsRejected uint64 `json:"eventsRejected"`
	Upserts        uint64 `json:"upserts"`
	Deletes        uint64 `json:"deletes"`
	SlicesSeen     uint64 `json:"slicesSeen"`
	// StaleDeletes are deletes from a slice that was not the endpoint's current copy.
	StaleDeletes uint64 `json:"staleDeletes"`
	Slices       int    `json:"slices"`
	Endpoints    int    `json:"endpoints"`
	IPCacheSize  int    `json:"ipCacheSize"`
}

// NewConsumer builds a consumer; maxPerSlice is the slice size its
// fragmentation figures assume (0: 100).
func NewConsumer(maxPerSlice uint32) (*Consumer, error) {
	var h *C.sp_consumer
	var e *C.sp_error
	if err := takeError(C.sp_consumer_new(C.uint32_t(maxPerSlice), &h, &e), e); err != nil {
		return nil, err
	}
	c := &Consumer{h: h}
	runtime.SetFinalizer(c, (*Consumer).Close)
	return c, nil
}

// ConsumerOptions configures NewConsumerWithOptions.
type ConsumerOptions struct {
	// MaxPerSlice is the slice size the fragmentation figures assume (0: 100).
	MaxPerSlice uint32
	// SharedIPRelease is what happens to the IP-cache entry of an IP two
	// live endpoints claim when its owner goes: "handover" (the default when
	// empty: the remaining claimant takes it) or "cilium" (the entry is
	// removed, as Cilium's agent does). Another value is an *Error with code
	// "invalid_value".
	SharedIPRelease string
}

// NewConsumerWithOptions builds a consumer with the given options.
func NewConsumerWithOptions(o ConsumerOptions) (*Consumer, error) {
	var h *C.sp_consumer
	var e *C.sp_error
	p, n := cbytes([]byte(o.SharedIPRelease))
	rc := C.sp_consumer_new_with_options(C.uint32_t(o.MaxPerSlice), p, n, &h, &e)
	if err := takeError(rc, e); err != nil {
		return nil, err
	}
	c := &Consumer{h: h}
	runtime.SetFinalizer(c, (*Consumer).Close)
	return c, nil
}

// Close frees the consumer. Closing twice is a no-op.
func (c *Consumer) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.h != nil {
		C.sp_consumer_free(c.h)
		c.h = nil
		runtime.SetFinalizer(c, nil)
	}
	return nil
}

func (c *Consumer) write(f func(h *C.sp_consumer) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.h == nil {
		return ErrClosed
	}
	return f(c.h)
}

func (c *Consumer) read(f func(h *C.sp_consumer) error) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.h == nil {
		return ErrClosed
	}
	return f(c.h)
}

func decode(raw []byte, out any) error {
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("sliceplane: decoding library output: %w", err)
	}
	return nil
}

// SetNow sets the consumer's clock (ms; used for event times).
func (c *Consumer) SetNow(nowMs uint64) error {
	return c.write(func(h *C.sp_consumer) error {
		var e *C.sp_error
		return takeError(C.sp_consumer_set_now(h, C.uint64_t(nowMs), &e), e)
	})
}

// ApplyJSON applies one CiliumEndpointSlice watch event and returns the
// endpoint changes it made. A rejected event changes nothing.
func (c *Consumer) ApplyJSON(event []byte) ([]EndpointChange, error) {
	var raw []byte
	err := c.write(func(h *C.sp_consumer) error {
		var b C.sp_buffer
		var e *C.sp_error
		p, n := cbytes(event)
		if err := takeError(C.sp_consumer_apply_json(h, p, n, &b, &e), e); err != nil {
			return err
		}
		raw = takeBuffer(&b)
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []EndpointChange
	return out, decode(raw, &out)
}

// ApplyJSONLines applies a batch of watch events in one crossing (read as
// for Engine.ApplyJSONLines): the changes of every event in order (with
// Index), and the events rejected (nil when none).
func (c *Consumer) ApplyJSONLines(lines []byte) ([]EndpointChange, []Rejected, error) {
	var rawC, rawR []byte
	err := c.write(func(h *C.sp_consumer) error {
		var bc, br C.sp_buffer
		var e *C.sp_error
		p, n := cbytes(lines)
		if err := takeError(C.sp_consumer_apply_json_lines(h, p, n, &bc, &br, &e), e); err != nil {
			return err
		}
		rawC, rawR = takeBuffer(&bc), takeBuffer(&br)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	var changes []EndpointChange
	if err := decode(rawC, &changes); err != nil {
		return nil, nil, err
	}
	if string(rawR) == "[]" {
		return changes, nil, nil
	}
	var rej []Rejected
	return changes, rej, decode(rawR, &rej)
}

// Publish publishes a snapshot of what the consumer holds (O(changes)).
func (c *Consumer) Publish() (*Snapshot, error) {
	var s *Snapshot
	err := c.write(func(h *C.sp_consumer) error {
		var sh *C.sp_snapshot
		var e *C.sp_error
		if err := takeError(C.sp_consumer_publish(h, &sh, &e), e); err != nil {
			return err
		}
		s = newSnapshot(sh)
		return nil
	})
	return s, err
}

// SnapshotReader is a reader of the consumer's published snapshots.
func (c *Consumer) SnapshotReader() (*SnapshotReader, error) {
	var r *SnapshotReader
	err := c.read(func(h *C.sp_consumer) error {
		var rh *C.sp_snapshot_reader
		var e *C.sp_error
		if err := takeError(C.sp_consumer_snapshot_reader(h, &rh, &e), e); err != nil {
			return err
		}
		r = newSnapshotReader(rh)
		return nil
	})
	return r, err
}

// Counters are what the consumer did and holds.
func (c *Consumer) Counters() (ConsumerCounters, error) {
	var raw []byte
	err := c.read(func(h *C.sp_consumer) error {
		var b C.sp_buffer
		var e *C.sp_error
		if err := takeError(C.sp_consumer_counters(h, &b, &e), e); err != nil {
			return err
		}
		raw = takeBuffer(&b)
		return nil
	})
	var v ConsumerCounters
	if err != nil {
		return v, err
	}
	return v, decode(raw, &v)
}

// DrainEvents returns the events recorded since the last drain.
func (c *Consumer) DrainEvents() ([]Event, error) {
	var raw []byte
	err := c.write(func(h *C.sp_consumer) error {
		var b C.sp_buffer
		var e *C.sp_error
		if err := takeError(C.sp_consumer_drain_events(h, &b, &e), e); err != nil {
			return err
		}
		raw = takeBuffer(&b)
		return nil
	})
	if err != nil {
		return nil, err
	}
	var v []Event
	return v, decode(raw, &v)
}
