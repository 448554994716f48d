// Package sliceplane is the Go binding of the sliceplane engine, over its C
// ABI (include/sliceplane.h, libsliceplane.a) with cgo.
//
// Linking: the package links the static library the workspace builds at
// target/release/libsliceplane.a (run `cargo build -p sliceplane-c
// --release` first; bindings-c/test.sh does). To link another build, point
// CGO_LDFLAGS at it and build with the tag sliceplane_external, e.g.
//
//	CGO_LDFLAGS="-L/opt/sliceplane/lib -lsliceplane -lm -ldl -lpthread" go build -tags sliceplane_external
//
// Objects cross the boundary as Kubernetes JSON ([]byte in,
// json.RawMessage out); bulk calls (ApplyJSONLines) take a whole batch in
// one crossing. Errors are *Error values carrying the core's stable code,
// returned from the same C call (no thread-local state, so goroutines
// migrating between OS threads are safe).
//
// Every handle has Close; finalizers free forgotten handles as a safety net
// only. Use after Close returns ErrClosed. An Engine is safe for concurrent
// use: calls are serialized by a mutex (read-only calls share a read lock).
package sliceplane

/*
#cgo CFLAGS: -I${SRCDIR}/../include
#include <stdlib.h>
#include "sliceplane.h"
*/
import "C"

import "unsafe"

// Version is the library version, "MAJOR.MINOR.PATCH".
func Version() string { return C.GoString(C.sp_version()) }

// HeaderVersion is the version of the header the package was compiled against.
func HeaderVersion() (major, minor, patch int) {
	return int(C.SLICEPLANE_VERSION_MAJOR), int(C.SLICEPLANE_VERSION_MINOR), int(C.SLICEPLANE_VERSION_PATCH)
}

// cbytes gives a pointer and length for passing b to C for the duration of
// one call (cgo pins it; the library never keeps it).
func cbytes(b []byte) (*C.uint8_t, C.size_t) {
	if len(b) == 0 {
		return nil, 0
	}
	return (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(b))), C.size_t(len(b))
}

// takeBuffer copies a library buffer into Go memory and frees it.
func takeBuffer(b *C.sp_buffer) []byte {
	defer C.sp_buffer_free(b)
	if b.data == nil {
		return nil
	}
	out := make([]byte, int(b.len))
	copy(out, unsafe.Slice((*byte)(unsafe.Pointer(b.data)), int(b.len)))
	return out
}
