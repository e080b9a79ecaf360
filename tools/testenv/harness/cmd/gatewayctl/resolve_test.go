package main

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2025, 8, 11, 13, 44, 5, 0, time.UTC)

func set(ns, name string, created time.Time, ls ...Listener) ListenerSet {
	return ListenerSet{Namespace: ns, Name: name, Created: created, Listeners: ls}
}

func accepted(r Result, key string) string {
	for _, c := range r.Sets[key].Conditions {
		if c.Type == "Accepted" {
			return c.Status + "/" + c.Reason
		}
	}
	return "none"
}

func listener(r Result, key, name string) map[string]string {
	out := map[string]string{}
	for _, l := range r.Sets[key].Listeners {
		if l.Name == name {
			for _, c := range l.Conditions {
				out[c.Type] = c.Status + "/" + c.Reason
			}
		}
	}
	return out
}

// The scenarios of GEP-1713's conformance section and its conflict examples.
func TestGEP1713Scenarios(t *testing.T) {
	tcp := func(name string, port int64) Listener { return Listener{Name: name, Port: port, Protocol: "TCP"} }
	https := func(name, host string) Listener {
		return Listener{Name: name, Port: 443, Protocol: "HTTPS", Hostname: host}
	}
	labels := map[string]map[string]string{"allowed": {"team": "kafka"}, "other": {"team": "web"}}
	cases := []struct {
		name     string
		gw       Gateway
		sets     []ListenerSet
		want     map[string]string
		listener map[string]map[string]string // key|listener -> condition -> status/reason
		attached int
	}{
		{name: "allowedListeners not specified", gw: Gateway{Namespace: "infra", Name: "gw"},
			sets: []ListenerSet{set("infra", "ls", t0, tcp("a", 9092))},
			want: map[string]string{"infra/ls": "False/NotAllowed"}},
		{name: "from None", gw: Gateway{Namespace: "infra", Name: "gw", From: "None"},
			sets: []ListenerSet{set("infra", "ls", t0, tcp("a", 9092))},
			want: map[string]string{"infra/ls": "False/NotAllowed"}},
		{name: "from Same", gw: Gateway{Namespace: "infra", Name: "gw", From: "Same"},
			sets: []ListenerSet{set("infra", "ls-allowed", t0, tcp("a", 9092)), set("other", "ls-not-allowed", t0, tcp("b", 9093))},
			want: map[string]string{"infra/ls-allowed": "True/Accepted", "other/ls-not-allowed": "False/NotAllowed"}, attached: 1},
		{name: "from Selector", gw: Gateway{Namespace: "infra", Name: "gw", From: "Selector", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "kafka"}}},
			sets: []ListenerSet{set("allowed", "ls-allowed", t0, tcp("a", 9092)), set("other", "ls-not-allowed", t0, tcp("b", 9093))},
			want: map[string]string{"allowed/ls-allowed": "True/Accepted", "other/ls-not-allowed": "False/NotAllowed"}, attached: 1},
		{name: "selector expressions", gw: Gateway{Namespace: "infra", Name: "gw", From: "Selector", Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "NotIn", Values: []string{"web"}}, {Key: "team", Operator: "Exists"}}}},
			sets: []ListenerSet{set("allowed", "a", t0, tcp("a", 9092)), set("other", "b", t0, tcp("b", 9093)), set("unlabelled", "c", t0, tcp("c", 9094))},
			want: map[string]string{"allowed/a": "True/Accepted", "other/b": "False/NotAllowed", "unlabelled/c": "False/NotAllowed"}, attached: 1},
		{name: "only listener conflicts with the Gateway's protocol", gw: Gateway{Namespace: "infra", Name: "gw", From: "All", Listeners: []Listener{{Name: "gw-8080", Port: 8080, Protocol: "HTTP"}}},
			sets:     []ListenerSet{set("u", "ls", t0, tcp("ls-8080", 8080))},
			want:     map[string]string{"u/ls": "False/ListenersNotValid"},
			listener: map[string]map[string]string{"u/ls|ls-8080": {"Accepted": "False/PortUnavailable", "Programmed": "False/PortUnavailable", "Conflicted": "True/ProtocolConflict"}}},
		{name: "one listener conflicts, others valid", gw: Gateway{Namespace: "infra", Name: "gw", From: "All", Listeners: []Listener{{Name: "gw-8080", Port: 8080, Protocol: "HTTP"}}},
			sets: []ListenerSet{set("u", "ls", t0, tcp("ls-8080", 8080), tcp("ls-9092", 9092))},
			want: map[string]string{"u/ls": "True/Accepted"}, attached: 1,
			listener: map[string]map[string]string{"u/ls|ls-8080": {"Conflicted": "True/ProtocolConflict"}, "u/ls|ls-9092": {"Accepted": "True/Accepted", "Conflicted": "False/NoConflicts"}}},
		{name: "two sets: the older wins", gw: Gateway{Namespace: "infra", Name: "gw", From: "All"},
			sets: []ListenerSet{set("user01", "listenerset1", t0.Add(2*time.Hour), https("myapp", "www.something.tld")), set("user02", "listenerset2", t0, https("myapp", "www.something.tld"))},
			want: map[string]string{"user02/listenerset2": "True/Accepted", "user01/listenerset1": "False/ListenersNotValid"}, attached: 1,
			listener: map[string]map[string]string{"user01/listenerset1|myapp": {"Conflicted": "True/HostnameConflict"}}},
		{name: "same age: by namespace/name", gw: Gateway{Namespace: "infra", Name: "gw", From: "All"},
			sets: []ListenerSet{set("b", "x", t0, tcp("l", 9092)), set("a", "x", t0, tcp("l", 9092))},
			want: map[string]string{"a/x": "True/Accepted", "b/x": "False/ListenersNotValid"}, attached: 1},
		{name: "the parent Gateway's listener wins over a set", gw: Gateway{Namespace: "infra", Name: "gw", From: "All", Listeners: []Listener{https("foo", "www.something.tld")}},
			sets: []ListenerSet{set("user01", "user-listenerset", t0, https("myapp", "www.something.tld"))},
			want: map[string]string{"user01/user-listenerset": "False/ListenersNotValid"}},
		{name: "names may repeat across sets; hostnames tell HTTPS apart", gw: Gateway{Namespace: "infra", Name: "gw", From: "All", Listeners: []Listener{https("foo", "a.example.com")}},
			sets: []ListenerSet{set("u1", "s", t0, https("l", "b.example.com")), set("u2", "s", t0.Add(time.Minute), https("l", "c.example.com"), Listener{Name: "t", Port: 443, Protocol: "TLS", Hostname: "d.example.com"})},
			want: map[string]string{"u1/s": "True/Accepted", "u2/s": "True/Accepted"}, attached: 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Resolve(c.gw, c.sets, labels)
			got := map[string]string{}
			for k := range r.Sets {
				got[k] = accepted(r, k)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Accepted: got %v, want %v", got, c.want)
			}
			if r.Attached != c.attached {
				t.Fatalf("attached: got %d, want %d", r.Attached, c.attached)
			}
			for k, want := range c.listener {
				var key, name string
				for i := range k {
					if k[i] == '|' {
						key, name = k[:i], k[i+1:]
					}
				}
				have := listener(r, key, name)
				for typ, w := range want {
					if have[typ] != w {
						t.Fatalf("%s %s: got %v, want %s=%s", key, name, have, typ, w)
					}
				}
			}
		})
	}
}

// An accepted listener is programmed only after the data plane's delay; the set follows its listeners.
func TestAListenerIsProgrammedOnlyAfterTheDelay(t *testing.T) {
	tcp := Listener{Name: "l", Port: 9092, Protocol: "TCP"}
	res := Resolve(Gateway{Namespace: "infra", Name: "gw", From: "All"}, []ListenerSet{set("infra", "ls", time.Now(), tcp)}, nil)
	st := res.Sets["infra/ls"]
	now := time.Now()
	programmed := func(cs []Condition) string {
		for _, c := range cs {
			if c.Type == "Programmed" {
				return c.Status + "/" + c.Reason
			}
		}
		return ""
	}
	for _, tc := range []struct {
		since     map[string]time.Time
		want, set string
	}{
		{nil, "False/Pending", "False/Pending"}, // just accepted
		{map[string]time.Time{"l": now.Add(-time.Second)}, "False/Pending", "False/Pending"},
		{map[string]time.Time{"l": now.Add(-2 * time.Second)}, "True/Programmed", "True/Programmed"},
	} {
		got := Program(st, tc.since, now, 2*time.Second)
		if l := programmed(got.Listeners[0].Conditions); l != tc.want {
			t.Fatalf("accepted since %v: listener Programmed %s, want %s", tc.since, l, tc.want)
		}
		if s := programmed(got.Conditions); s != tc.set {
			t.Fatalf("accepted since %v: set Programmed %s, want %s", tc.since, s, tc.set)
		}
	}
	if programmed(st.Listeners[0].Conditions) != "True/Programmed" {
		t.Fatal("Program must not change the status it was given")
	}
}
