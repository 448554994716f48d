package sliceplane

/*
#include "sliceplane.h"
*/
import "C"

import (
	"encoding/json"
	"runtime"
	"sync"
)

// Config is a validated engine configuration (DESIGN.md §9). Immutable;
// safe for concurrent use.
type Config struct {
	mu sync.RWMutex
	h  *C.sp_config
}

func wrapConfig(h *C.sp_config) *Config {
	c := &Config{h: h}
	runtime.SetFinalizer(c, (*Config).Close)
	return c
}

// NewDefaultConfig is Cilium's default behaviour.
func NewDefaultConfig() (*Config, error) {
	var h *C.sp_config
	var e *C.sp_error
	if err := takeError(C.sp_config_new_default(&h, &e), e); err != nil {
		return nil, err
	}
	return wrapConfig(h), nil
}

// NewConfigFromYAML parses and validates YAML (JSON is YAML too). Empty
// text gives the default.
func NewConfigFromYAML(yaml []byte) (*Config, error) {
	var h *C.sp_config
	var e *C.sp_error
	p, n := cbytes(yaml)
	if err := takeError(C.sp_config_from_yaml(p, n, &h, &e), e); err != nil {
		return nil, err
	}
	return wrapConfig(h), nil
}

// NewConfigFromJSON parses and validates JSON.
func NewConfigFromJSON(js []byte) (*Config, error) {
	var h *C.sp_config
	var e *C.sp_error
	p, n := cbytes(js)
	if err := takeError(C.sp_config_from_json(p, n, &h, &e), e); err != nil {
		return nil, err
	}
	return wrapConfig(h), nil
}

// JSON is the whole configuration with defaults filled in.
func (c *Config) JSON() (json.RawMessage, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.h == nil {
		return nil, ErrClosed
	}
	var b C.sp_buffer
	var e *C.sp_error
	if err := takeError(C.sp_config_to_json(c.h, &b, &e), e); err != nil {
		return nil, err
	}
	return takeBuffer(&b), nil
}

// Close frees the config. Engines built from it keep their own copy.
// Closing twice is a no-op.
func (c *Config) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.h != nil {
		C.sp_config_free(c.h)
		c.h = nil
		runtime.SetFinalizer(c, nil)
	}
	return nil
}
