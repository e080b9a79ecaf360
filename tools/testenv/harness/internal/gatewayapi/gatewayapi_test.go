package gatewayapi

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestListenersParentAndProgrammed(t *testing.T) {
	ls := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"namespace": "streaming", "name": "events-external"},
		"spec": map[string]any{
			"parentRef": map[string]any{"name": "shared", "namespace": "infra"},
			"listeners": []any{
				map[string]any{"name": "events-0", "port": int64(9100), "protocol": "TCP"},
				map[string]any{"name": "events-1", "port": int64(9101), "protocol": "TLS", "hostname": "b1.example.com"},
			},
		},
		"status": map[string]any{"listeners": []any{
			map[string]any{"name": "events-0", "conditions": []any{map[string]any{"type": "Accepted", "status": "True"},
				map[string]any{"type": "Programmed", "status": "True"}}},
			map[string]any{"name": "events-1", "conditions": []any{map[string]any{"type": "Accepted", "status": "False"}}},
			map[string]any{"name": "events-2", "conditions": []any{map[string]any{"type": "Accepted", "status": "True"},
				map[string]any{"type": "Programmed", "status": "False"}}},
		}},
	}}
	want := []Listener{{Name: "events-0", Port: 9100, Protocol: "TCP"}, {Name: "events-1", Port: 9101, Protocol: "TLS", Hostname: "b1.example.com"}}
	if got := Listeners(ls.Object); !reflect.DeepEqual(got, want) {
		t.Fatalf("listeners %v", got)
	}
	if got := Parent(ls); got != "infra/shared" {
		t.Fatalf("parent %q", got)
	}
	// Accepted but not yet programmed (events-2) is not served.
	if got := Programmed(ls.Object); !reflect.DeepEqual(got, map[string]bool{"events-0": true}) {
		t.Fatalf("programmed %v", got)
	}
	// Its own namespace when the ref names none; nothing when the parent is not a Gateway.
	_ = unstructured.SetNestedField(ls.Object, "", "spec", "parentRef", "namespace")
	if got := Parent(ls); got != "streaming/shared" {
		t.Fatalf("parent %q", got)
	}
	_ = unstructured.SetNestedField(ls.Object, "Mesh", "spec", "parentRef", "kind")
	if got := Parent(ls); got != "" {
		t.Fatalf("parent %q", got)
	}
}
