// Package main plays a Gateway controller's part for ListenerSets (GEP-1713), as the e2e control
// plane has no Gateway data plane: for each Gateway that `scripts/testenv.sh gateway` gave an
// address, it writes the status of the ListenerSets whose parentRef names it (attachment per the
// Gateway's spec.allowedListeners; listener conflicts across the merged list, by precedence) and the
// Gateway's status.attachedListenerSets. Nothing here routes traffic.
package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"kafka-advertiser/testenv/harness/internal/gatewayapi"
)

// Listener is the part of a Gateway or ListenerSet listener that conflicts are judged on.
type Listener = gatewayapi.Listener

// Gateway is a parent Gateway: its own listeners and whom it lets attach ListenerSets.
type Gateway struct {
	Namespace, Name string
	Listeners       []Listener
	// From is spec.allowedListeners.namespaces.from ("" means the default, None).
	From     string
	Selector *metav1.LabelSelector
}

// ListenerSet is a ListenerSet naming a Gateway as its parent.
type ListenerSet struct {
	Namespace, Name string
	Created         time.Time
	Listeners       []Listener
}

// Condition is one status condition (lastTransitionTime and observedGeneration are added on write).
type Condition struct {
	Type, Status, Reason, Message string
}

// ListenerStatus is one entry of a ListenerSet's status.listeners.
type ListenerStatus struct {
	Name       string
	Conditions []Condition
}

// SetStatus is what a ListenerSet's status should say.
type SetStatus struct {
	Conditions []Condition
	Listeners  []ListenerStatus
}

// Result is the status of every ListenerSet of one Gateway, by namespace/name, and how many attached.
type Result struct {
	Sets     map[string]SetStatus
	Attached int
}

// matches: apimachinery's evaluator (the one the API server and every controller use); no selector,
// or one that does not parse, selects nothing.
func matches(s *metav1.LabelSelector, l map[string]string) bool {
	if s == nil {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(s)
	return err == nil && sel.Matches(labels.Set(l))
}

// Allowed reports whether the Gateway lets ListenerSets of namespace ns attach.
func Allowed(gw Gateway, ns string, nsLabels map[string]map[string]string) bool {
	switch gw.From {
	case "All":
		return true
	case "Same":
		return ns == gw.Namespace
	case "Selector":
		return matches(gw.Selector, nsLabels[ns])
	default: // None, or unset
		return false
	}
}

// Ordered returns ListenerSets in GEP-1713 precedence: oldest first, then by namespace/name.
func Ordered(sets []ListenerSet) []ListenerSet {
	out := append([]ListenerSet(nil), sets...)
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name
	})
	return out
}

// conflict says why listener l cannot join the listeners already accepted, if it cannot: the same
// port with another protocol (ProtocolConflict), or the same protocol and hostname on a port where
// the protocol cannot tell them apart (HostnameConflict; TCP and UDP never can).
func conflict(l Listener, accepted []Listener) (string, bool) {
	for _, a := range accepted {
		if a.Port != l.Port {
			continue
		}
		if !strings.EqualFold(a.Protocol, l.Protocol) && !(tlsFamily(a.Protocol) && tlsFamily(l.Protocol)) {
			return "ProtocolConflict", true
		}
		switch strings.ToUpper(l.Protocol) {
		case "TCP", "UDP":
			return "HostnameConflict", true
		default:
			if strings.EqualFold(a.Hostname, l.Hostname) {
				return "HostnameConflict", true
			}
		}
	}
	return "", false
}

// tlsFamily: HTTPS and TLS listeners may share a port, told apart by SNI.
func tlsFamily(p string) bool {
	return strings.EqualFold(p, "HTTPS") || strings.EqualFold(p, "TLS")
}

// Resolve judges every ListenerSet attached to gw: allowed or not, and each listener against the
// merged list (the Gateway's own first, then the sets in precedence order).
func Resolve(gw Gateway, sets []ListenerSet, nsLabels map[string]map[string]string) Result {
	accepted := append([]Listener(nil), gw.Listeners...)
	res := Result{Sets: map[string]SetStatus{}}
	for _, s := range Ordered(sets) {
		key := s.Namespace + "/" + s.Name
		if !Allowed(gw, s.Namespace, nsLabels) {
			msg := fmt.Sprintf("Gateway %s/%s does not allow ListenerSets from this namespace (spec.allowedListeners)", gw.Namespace, gw.Name)
			res.Sets[key] = SetStatus{Conditions: []Condition{
				{"Accepted", "False", "NotAllowed", msg}, {"Programmed", "False", "NotAllowed", msg}}}
			continue
		}
		st, valid := SetStatus{}, 0
		for _, l := range s.Listeners {
			if why, bad := conflict(l, accepted); bad {
				msg := "the listener conflicts with another listener attached to the same Gateway"
				st.Listeners = append(st.Listeners, ListenerStatus{l.Name, []Condition{
					{"Accepted", "False", "PortUnavailable", msg}, {"Programmed", "False", "PortUnavailable", msg},
					{"Conflicted", "True", why, msg}}})
				continue
			}
			accepted = append(accepted, l)
			valid++
			st.Listeners = append(st.Listeners, ListenerStatus{l.Name, []Condition{
				{"Accepted", "True", "Accepted", "testenv"}, {"Programmed", "True", "Programmed", "testenv"},
				{"Conflicted", "False", "NoConflicts", "testenv"}}})
		}
		if valid == 0 {
			msg := "no listener of the ListenerSet is valid"
			st.Conditions = []Condition{{"Accepted", "False", "ListenersNotValid", msg}, {"Programmed", "False", "ListenersNotValid", msg}}
		} else {
			st.Conditions = []Condition{{"Accepted", "True", "Accepted", "testenv"}, {"Programmed", "True", "Programmed", "testenv"}}
			res.Attached++
		}
		res.Sets[key] = st
	}
	return res
}

// Program plays the data plane's delay: a listener the Gateway's controller accepted is programmed
// (Programmed True) only `delay` after it was accepted, as a real data plane takes time to take the
// new configuration; until then its Programmed is False (Pending), and so is the set's while none of
// its listeners is programmed. acceptedSince: when each listener's Accepted=True began (absent: now).
func Program(st SetStatus, acceptedSince map[string]time.Time, now time.Time, delay time.Duration) SetStatus {
	out := SetStatus{Conditions: append([]Condition(nil), st.Conditions...)}
	programmed := 0
	for _, l := range st.Listeners {
		cs := append([]Condition(nil), l.Conditions...)
		since, ok := acceptedSince[l.Name]
		if !ok {
			since = now
		}
		for i, c := range cs {
			if c.Type != "Programmed" || c.Status != "True" {
				continue
			}
			if now.Sub(since) < delay {
				cs[i] = Condition{"Programmed", "False", "Pending", "testenv: the data plane is being programmed"}
			} else {
				programmed++
			}
		}
		out.Listeners = append(out.Listeners, ListenerStatus{l.Name, cs})
	}
	for i, c := range out.Conditions {
		if c.Type == "Programmed" && c.Status == "True" && programmed == 0 {
			out.Conditions[i] = Condition{"Programmed", "False", "Pending", "testenv: no listener is programmed yet"}
		}
	}
	return out
}
