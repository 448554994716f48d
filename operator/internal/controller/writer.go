package controller

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"sliceplane.example/sliceplane"
)

// Resources the operator reads or writes.
var (
	GVRCiliumEndpoint      = schema.GroupVersionResource{Group: "cilium.io", Version: "v2", Resource: "ciliumendpoints"}
	GVRCiliumEndpointSlice = schema.GroupVersionResource{Group: "cilium.io", Version: "v2alpha1", Resource: "ciliumendpointslices"}
	GVRCiliumIdentity      = schema.GroupVersionResource{Group: "cilium.io", Version: "v2", Resource: "ciliumidentities"}
	GVRCiliumNode          = schema.GroupVersionResource{Group: "cilium.io", Version: "v2", Resource: "ciliumnodes"}
	GVRPod                 = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	GVRNamespace           = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	GVRNode                = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
)

// WatchedResources are the resources the operator lists and watches for an
// endpoint source ("ciliumendpoints" or "pods"), in the order they are
// started. deploy/ grants exactly list and watch on these.
//
// Both sources watch CiliumNodes: the engine picks the write rate-limit
// step from the number of CiliumNodes it has seen (Cilium's CES controller
// does the same in both of its modes). With the ciliumendpoints source a
// CiliumNode changes only that count (each CiliumEndpoint carries its own
// node IP and encryption key), never a slice. Every object of the initial
// List, CiliumNodes included, is applied before InitialSyncDone, so the
// first writes already run at the step of the cluster's size.
func WatchedResources(source string) ([]schema.GroupVersionResource, error) {
	switch source {
	case "ciliumendpoints":
		return []schema.GroupVersionResource{GVRCiliumNode, GVRCiliumEndpoint, GVRCiliumEndpointSlice}, nil
	case "pods":
		return []schema.GroupVersionResource{GVRNamespace, GVRNode, GVRCiliumNode, GVRPod, GVRCiliumIdentity, GVRCiliumEndpointSlice}, nil
	}
	return nil, errors.New(`source must be "ciliumendpoints" or "pods", got "` + source + `"`)
}

// KubeAPI is the part of the Kubernetes API the operator writes to.
type KubeAPI interface {
	Write(ctx context.Context, op sliceplane.Op) sliceplane.Outcome
}

// DynamicAPI sends each planned write with client-go's dynamic client:
// create, update (carrying metadata.resourceVersion), delete with uid /
// resourceVersion preconditions, and maps the answer to an Outcome.
//
// After a successful create or update it compares the object the server
// answered with (after CRD validation and pruning) with the one sent,
// outside metadata: a difference means the installed CRD schema is older
// than what the engine writes (it prunes fields), and is counted in the
// metrics (sliceplane_operator_pruned_writes_total) and logged once.
type DynamicAPI struct {
	Client dynamic.Interface
	// REST, when set, sends creates and updates with the engine's JSON as
	// it is, instead of the dynamic client encoding the object again (for
	// a 100-entry slice that encoding was a tenth of the operator's CPU).
	// It must speak JSON to the same API server as Client, e.g.
	// rest.UnversionedRESTClientForConfigAndClient(dynamic.ConfigFor(cfg), httpClient)
	// with the dynamic client's HTTP client and rate limiter. Nil: Client.
	REST    rest.Interface
	Metrics *Metrics
	// OnPruned is called for the first pruned write (nil: ignored).
	OnPruned func(sent, stored []byte)

	once sync.Once
}

func gvrOf(kind string) (schema.GroupVersionResource, bool) {
	switch kind {
	case "CiliumEndpointSlice":
		return GVRCiliumEndpointSlice, true
	case "CiliumIdentity":
		return GVRCiliumIdentity, true
	}
	return schema.GroupVersionResource{}, false
}

// OutcomeOf maps an API error to the engine's outcome.
func OutcomeOf(err error) sliceplane.Outcome {
	switch {
	case err == nil:
		return sliceplane.Success("", "")
	case apierrors.IsConflict(err):
		return sliceplane.Conflict()
	case apierrors.IsNotFound(err):
		return sliceplane.NotFound()
	case apierrors.IsAlreadyExists(err):
		return sliceplane.AlreadyExists()
	}
	return sliceplane.Failed(err.Error())
}

// ErrorReason is the label of sliceplane_operator_api_errors_total for err:
// the API status reason (Conflict, NotFound, ServiceUnavailable, ...), or
// ClientTimeout / Canceled for a write the operator abandoned, or Unknown
// for transport errors.
func ErrorReason(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "ClientTimeout"
	case errors.Is(err, context.Canceled):
		return "Canceled"
	}
	if r := apierrors.ReasonForError(err); r != metav1.StatusReasonUnknown {
		return string(r)
	}
	return "Unknown"
}

// Write sends one planned write and returns its outcome.
func (d *DynamicAPI) Write(ctx context.Context, op sliceplane.Op) sliceplane.Outcome {
	gvr, ok := gvrOf(op.Kind)
	if !ok {
		return sliceplane.Failed("unknown kind " + op.Kind)
	}
	res := d.Client.Resource(gvr)
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(op.Object); err != nil {
		return sliceplane.Failed("decode planned object: " + err.Error())
	}
	start := time.Now()
	var got *unstructured.Unstructured
	var err error
	switch op.Op {
	case "create", "update":
		if d.REST != nil {
			got, err = d.sendRaw(ctx, gvr, op)
		} else if op.Op == "create" {
			got, err = res.Create(ctx, obj, metav1.CreateOptions{})
		} else {
			got, err = res.Update(ctx, obj, metav1.UpdateOptions{})
		}
	case "delete":
		pre := metav1.Preconditions{}
		if uid := obj.GetUID(); uid != "" {
			pre.UID = &uid
		}
		if rv := obj.GetResourceVersion(); rv != "" {
			pre.ResourceVersion = &rv
		}
		err = res.Delete(ctx, op.Name, metav1.DeleteOptions{Preconditions: &pre})
	default:
		return sliceplane.Failed("unknown op " + op.Op)
	}
	d.Metrics.ObserveWrite(op.Op, time.Since(start), err)
	if err != nil {
		return OutcomeOf(err)
	}
	if got == nil { // delete
		return sliceplane.Success("", "")
	}
	d.checkStored(op, obj, got)
	return sliceplane.Success(got.GetResourceVersion(), string(got.GetUID()))
}

// sendRaw is the dynamic client's Create or Update (same verb, path and
// JSON body, the answer decoded the same way), with the planned bytes as
// the body.
func (d *DynamicAPI) sendRaw(ctx context.Context, gvr schema.GroupVersionResource, op sliceplane.Op) (*unstructured.Unstructured, error) {
	var req *rest.Request
	if op.Op == "create" {
		req = d.REST.Post().AbsPath("/apis", gvr.Group, gvr.Version, gvr.Resource)
	} else {
		req = d.REST.Put().AbsPath("/apis", gvr.Group, gvr.Version, gvr.Resource, op.Name)
	}
	raw, err := req.SetHeader("Content-Type", "application/json").Body([]byte(op.Object)).Do(ctx).Raw()
	if err != nil {
		return nil, err
	}
	got := &unstructured.Unstructured{}
	if err := got.UnmarshalJSON(raw); err != nil {
		return nil, err
	}
	return got, nil
}

// sameOutsideMetadata reports whether the object sent and the one the
// server answered with are equal outside metadata. Both are the dynamic
// client's decoding (UnstructuredJSONScheme: integers as int64), so they
// compare as decoded: no re-encoding of the answer and no second decoding
// of either (for a 100-entry slice those were most of the operator's CPU
// per write).
func sameOutsideMetadata(sent, stored map[string]any) bool {
	n := 0
	for k, v := range sent {
		if k == "metadata" {
			continue
		}
		n++
		w, ok := stored[k]
		if !ok || !jsonEqual(v, w) {
			return false
		}
	}
	for k := range stored {
		if k != "metadata" {
			n--
		}
	}
	return n == 0
}

// jsonEqual is reflect.DeepEqual for decoded JSON values (maps, slices,
// strings, int64, float64, bool, nil), without reflection: several times
// cheaper on a 100-entry slice. Other types fall back to reflect.DeepEqual.
func jsonEqual(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) || (a == nil) != (b == nil) {
			return false
		}
		for k, v := range a {
			w, ok := b[k]
			if !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) || (a == nil) != (b == nil) {
			return false
		}
		for i := range a {
			if !jsonEqual(a[i], b[i]) {
				return false
			}
		}
		return true
	case string:
		b, ok := b.(string)
		return ok && a == b
	case int64:
		b, ok := b.(int64)
		return ok && a == b
	case float64:
		b, ok := b.(float64)
		return ok && a == b
	case bool:
		b, ok := b.(bool)
		return ok && a == b
	case nil:
		return b == nil
	}
	return reflect.DeepEqual(a, b)
}

func (d *DynamicAPI) checkStored(op sliceplane.Op, sent, got *unstructured.Unstructured) {
	pruned := !sameOutsideMetadata(sent.Object, got.Object)
	d.Metrics.StoredChecked(pruned)
	if pruned && d.OnPruned != nil {
		d.once.Do(func() {
			back, err := got.MarshalJSON()
			if err != nil {
				back = []byte(err.Error())
			}
			d.OnPruned(op.Object, back)
		})
	}
}
