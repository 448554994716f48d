package sliceplane

/*
#include "sliceplane.h"
*/
import "C"

import (
	"errors"
	"fmt"
)

// Error is an error from the library: the stable code (string and number),
// the object and field concerned, and a message.
type Error struct {
	// Code is the stable name, e.g. "invalid_ip", "null_argument", "panic".
	Code string
	// Number is the stable number, e.g. 205 (see the SP_* macros).
	Number uint32
	// Object is e.g. "Pod default/web-1"; empty when there is none.
	Object string
	// Field is a JSON path such as "status.podIPs[0].ip"; empty when none.
	Field   string
	Message string
}

func (e *Error) Error() string {
	s := "sliceplane: [" + e.Code + "]"
	if e.Object != "" {
		s += " " + e.Object
	}
	if e.Field != "" {
		s += " field " + e.Field
	}
	return s + ": " + e.Message
}

// Is reports whether target is an *Error with the same number, so that
// errors.Is(err, sliceplane.ErrInvalidIP) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Number == e.Number
}

func sentinel(number uint32) *Error {
	return &Error{Code: C.GoString(C.sp_result_name(C.uint32_t(number))), Number: number}
}

// Sentinels for errors.Is, one per stable code.
var (
	ErrMalformedInput    = sentinel(C.SP_MALFORMED_INPUT)
	ErrUnknownKind       = sentinel(C.SP_UNKNOWN_KIND)
	ErrUnknownEventType  = sentinel(C.SP_UNKNOWN_EVENT_TYPE)
	ErrMissingField      = sentinel(C.SP_MISSING_FIELD)
	ErrInvalidName       = sentinel(C.SP_INVALID_NAME)
	ErrInvalidLabelKey   = sentinel(C.SP_INVALID_LABEL_KEY)
	ErrInvalidLabelValue = sentinel(C.SP_INVALID_LABEL_VALUE)
	ErrInvalidIP         = sentinel(C.SP_INVALID_IP)
	ErrInvalidPort       = sentinel(C.SP_INVALID_PORT)
	ErrInvalidProtocol   = sentinel(C.SP_INVALID_PROTOCOL)
	ErrTooLarge          = sentinel(C.SP_TOO_LARGE)
	ErrInvalidValue      = sentinel(C.SP_INVALID_VALUE)
	ErrInvalidConfig     = sentinel(C.SP_INVALID_CONFIG)
	ErrUnknownOp         = sentinel(C.SP_UNKNOWN_OP)
	ErrInvalidPolicy     = sentinel(C.SP_INVALID_POLICY)
	ErrUnsupportedPolicy = sentinel(C.SP_UNSUPPORTED_POLICY)
	ErrInvalidProbe      = sentinel(C.SP_INVALID_PROBE)
	ErrNullArgument      = sentinel(C.SP_NULL_ARGUMENT)
	ErrInvalidUTF8       = sentinel(C.SP_INVALID_UTF8)
	ErrInvalidArgument   = sentinel(C.SP_INVALID_ARGUMENT)
	ErrPanic             = sentinel(C.SP_PANIC)
)

// ErrClosed is returned by every method of a handle after Close.
var ErrClosed = errors.New("sliceplane: handle is closed")

// takeError turns a result code and the error of the same call into a Go
// error, freeing the C error.
func takeError(rc C.uint32_t, e *C.sp_error) error {
	if rc == C.SP_OK {
		if e != nil {
			C.sp_error_free(e)
		}
		return nil
	}
	if e == nil {
		return &Error{
			Code:    C.GoString(C.sp_result_name(rc)),
			Number:  uint32(rc),
			Message: fmt.Sprintf("error %d", uint32(rc)),
		}
	}
	defer C.sp_error_free(e)
	return &Error{
		Code:    C.GoString(C.sp_error_code(e)),
		Number:  uint32(C.sp_error_number(e)),
		Object:  C.GoString(C.sp_error_object(e)),
		Field:   C.GoString(C.sp_error_field(e)),
		Message: C.GoString(C.sp_error_message(e)),
	}
}
