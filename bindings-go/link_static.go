//go:build !sliceplane_external

package sliceplane

/*
#cgo LDFLAGS: ${SRCDIR}/../target/release/libsliceplane.a -lm -ldl -lpthread
*/
import "C"
