package realtime

import (
	"encoding/json"
	"sync"
	"time"
)

// presenceState is a topic's presence: for each key, the metas tracked
// under it, by their phx_ref. Entries come from this instance's joins and,
// through the bus, from other instances.
type presenceState struct {
	mu      sync.Mutex
	entries map[string]map[string]presenceEntry // key → ref → entry
}

type presenceEntry struct {
	instance string // the instance whose client tracks it
	join     *Join  // the local join, nil for a remote entry
	meta     json.RawMessage
}

// metaJSON renders a meta as Phoenix does: the payload's fields plus
// phx_ref.
func metaJSON(ref string, meta json.RawMessage) json.RawMessage {
	obj := map[string]json.RawMessage{}
	_ = json.Unmarshal(meta, &obj)
	r, _ := json.Marshal(ref)
	obj["phx_ref"] = r
	b, _ := json.Marshal(obj)
	return b
}

type presenceMetas struct {
	Metas []json.RawMessage `json:"metas"`
}

type presenceDiff struct {
	Joins  map[string]presenceMetas `json:"joins"`
	Leaves map[string]presenceMetas `json:"leaves"`
}

func (h *Hub) presenceFor(topic string) *presenceState {
	h.mu.Lock()
	defer h.mu.Unlock()
	ps := h.presence[topic]
	if ps == nil {
		ps = &presenceState{entries: map[string]map[string]presenceEntry{}}
		h.presence[topic] = ps
	}
	return ps
}

// put adds or replaces an entry and returns the diff.
func (ps *presenceState) put(key, ref string, e presenceEntry, replaces string) presenceDiff {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	d := presenceDiff{Joins: map[string]presenceMetas{}, Leaves: map[string]presenceMetas{}}
	if old, ok := ps.entries[key][replaces]; ok && replaces != "" {
		delete(ps.entries[key], replaces)
		d.Leaves[key] = presenceMetas{Metas: []json.RawMessage{metaJSON(replaces, old.meta)}}
	}
	if ps.entries[key] == nil {
		ps.entries[key] = map[string]presenceEntry{}
	}
	if _, known := ps.entries[key][ref]; known && len(d.Leaves) == 0 {
		// A resync repeats entries already known: nothing changed.
		ps.entries[key][ref] = e
		return d
	}
	ps.entries[key][ref] = e
	d.Joins[key] = presenceMetas{Metas: []json.RawMessage{metaJSON(ref, e.meta)}}
	return d
}

// remove deletes the entries match selects and returns the diff.
func (ps *presenceState) remove(match func(key, ref string, e presenceEntry) bool) presenceDiff {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	d := presenceDiff{Joins: map[string]presenceMetas{}, Leaves: map[string]presenceMetas{}}
	for key, refs := range ps.entries {
		for ref, e := range refs {
			if match(key, ref, e) {
				delete(refs, ref)
				m := d.Leaves[key]
				m.Metas = append(m.Metas, metaJSON(ref, e.meta))
				d.Leaves[key] = m
			}
		}
		if len(refs) == 0 {
			delete(ps.entries, key)
		}
	}
	return d
}

func (d presenceDiff) empty() bool { return len(d.Joins) == 0 && len(d.Leaves) == 0 }

// Track records j's presence with meta and tells the topic, here and on
// the other instances.
func (h *Hub) Track(j *Join, meta json.RawMessage) {
	if len(meta) == 0 || meta[0] != '{' {
		meta = json.RawMessage(`{}`)
	}
	ref := randomID()[:20]
	j.conn.mu.Lock()
	old := j.presenceRef
	j.presenceRef = ref
	j.conn.mu.Unlock()
	d := h.presenceFor(j.Topic).put(j.PresenceKey, ref, presenceEntry{instance: h.instance, join: j, meta: meta}, old)
	h.sendPresenceDiff(j.Topic, d)
	h.publish(busMessage{Kind: busTrack, Topic: j.Topic, Key: j.PresenceKey, Ref: ref, Replaces: old, Meta: meta})
}

// Untrack removes j's presence and tells the topic.
func (h *Hub) Untrack(j *Join) {
	j.conn.mu.Lock()
	ref := j.presenceRef
	j.presenceRef = ""
	j.conn.mu.Unlock()
	if ref == "" {
		return
	}
	h.mu.RLock()
	ps := h.presence[j.Topic]
	h.mu.RUnlock()
	if ps == nil {
		return
	}
	d := ps.remove(func(_, r string, _ presenceEntry) bool { return r == ref })
	h.sendPresenceDiff(j.Topic, d)
	h.publish(busMessage{Kind: busUntrack, Topic: j.Topic, Ref: ref})
}

// remoteTrack and remoteUntrack apply another instance's presence events.
func (h *Hub) remoteTrack(m busMessage) {
	h.touchInstance(m.Instance)
	d := h.presenceFor(m.Topic).put(m.Key, m.Ref, presenceEntry{instance: m.Instance, meta: m.Meta}, m.Replaces)
	h.sendPresenceDiff(m.Topic, d)
}

func (h *Hub) remoteUntrack(m busMessage) {
	h.mu.RLock()
	ps := h.presence[m.Topic]
	h.mu.RUnlock()
	if ps == nil {
		return
	}
	h.sendPresenceDiff(m.Topic, ps.remove(func(_, r string, e presenceEntry) bool { return r == m.Ref && e.instance == m.Instance }))
}

// dropInstance removes every presence of an instance that went silent.
func (h *Hub) dropInstance(instance string) {
	h.mu.RLock()
	topics := make(map[string]*presenceState, len(h.presence))
	for t, ps := range h.presence {
		topics[t] = ps
	}
	h.mu.RUnlock()
	for topic, ps := range topics {
		h.sendPresenceDiff(topic, ps.remove(func(_, _ string, e presenceEntry) bool { return e.instance == instance }))
	}
}

// localPresence lists this instance's entries of a topic, for a sync.
func (h *Hub) localPresence(topic string) []busMessage {
	h.mu.RLock()
	ps := h.presence[topic]
	h.mu.RUnlock()
	if ps == nil {
		return nil
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var out []busMessage
	for key, refs := range ps.entries {
		for ref, e := range refs {
			if e.join != nil {
				out = append(out, busMessage{Kind: busTrack, Topic: topic, Key: key, Ref: ref, Meta: e.meta})
			}
		}
	}
	return out
}

// PresenceState is the topic's full presence, as sent after a join.
func (h *Hub) PresenceState(topic string) json.RawMessage {
	h.mu.RLock()
	ps := h.presence[topic]
	h.mu.RUnlock()
	state := map[string]presenceMetas{}
	if ps != nil {
		ps.mu.Lock()
		for key, refs := range ps.entries {
			var metas []json.RawMessage
			for ref, e := range refs {
				metas = append(metas, metaJSON(ref, e.meta))
			}
			state[key] = presenceMetas{Metas: metas}
		}
		ps.mu.Unlock()
	}
	b, _ := json.Marshal(state)
	return b
}

func (h *Hub) sendPresenceDiff(topic string, d presenceDiff) {
	if d.empty() {
		return
	}
	payload, err := json.Marshal(d)
	if err != nil {
		return
	}
	for _, j := range h.members(topic) {
		if j.PresenceEnabled && j.mayRead {
			j.conn.send(Message{Topic: topic, Event: "presence_diff", JoinRef: j.JoinRef, Payload: payload})
		}
	}
}

func (h *Hub) members(topic string) []*Join {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]*Join, 0, len(h.topics[topic]))
	for j := range h.topics[topic] {
		out = append(out, j)
	}
	return out
}

// Broadcast sends a client's message to the topic's members here and on
// the other instances (the sender too when it asked for self). It reports
// false when the sender may not send on this private channel.
func (h *Hub) Broadcast(from *Join, msg BroadcastMessage) bool {
	if !from.maySend {
		return false
	}
	h.deliverBroadcast(from.Topic, msg, from)
	h.publish(busMessage{Kind: busBroadcast, Topic: from.Topic, Event: msg.Event, Payload: msg.Payload, Binary: msg.Binary})
	return true
}

// BroadcastTopic sends a server-side message to a topic, on every
// instance.
func (h *Hub) BroadcastTopic(topic string, msg BroadcastMessage) {
	h.deliverBroadcast(topic, msg, nil)
	h.publish(busMessage{Kind: busBroadcast, Topic: topic, Event: msg.Event, Payload: msg.Payload, Binary: msg.Binary})
}

// deliverBroadcast hands msg to this instance's members of topic, except
// the sender unless it asked for its own messages.
func (h *Hub) deliverBroadcast(topic string, msg BroadcastMessage, from *Join) {
	start := time.Now()
	members := h.members(topic)
	to := members[:0]
	// Members with the same join reference receive the same bytes,
	// encoded once.
	m := msg
	frames := map[string]*Message{}
	msgs := make([]*Message, 0, len(members))
	for _, j := range members {
		if (j == from && !from.Self) || !j.mayRead {
			continue
		}
		f := frames[j.JoinRef]
		if f == nil {
			f = &Message{Topic: j.Topic, Event: "broadcast", JoinRef: j.JoinRef, Broadcast: &m, frame: &sharedFrame{}}
			frames[j.JoinRef] = f
		}
		to, msgs = append(to, j), append(msgs, f)
	}
	h.metrics.out(fanOut(len(to), func(i int, written *int) { to[i].conn.sendCounting(*msgs[i], written) }))
	h.metrics.observeFanout(start)
}
