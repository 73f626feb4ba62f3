package realtime

import (
	"encoding/json"
	"sync"
)

// presenceState is a topic's presence: for each key, the metas of the
// connections tracking under it.
type presenceState struct {
	mu sync.Mutex
	// entries by key, then by the tracking join.
	entries map[string]map[*Join]presenceMeta
}

type presenceMeta struct {
	ref  string
	meta json.RawMessage // the tracked payload (an object)
}

// metaJSON renders a meta as Phoenix does: the payload's fields plus
// phx_ref.
func (m presenceMeta) metaJSON() json.RawMessage {
	obj := map[string]json.RawMessage{}
	_ = json.Unmarshal(m.meta, &obj)
	ref, _ := json.Marshal(m.ref)
	obj["phx_ref"] = ref
	b, _ := json.Marshal(obj)
	return b
}

type presenceMetas struct {
	Metas []json.RawMessage `json:"metas"`
}

// Track records j's presence with meta and tells the topic.
func (h *Hub) Track(j *Join, meta json.RawMessage) {
	if len(meta) == 0 || meta[0] != '{' {
		meta = json.RawMessage(`{}`)
	}
	ps := h.presenceFor(j.Topic)
	ps.mu.Lock()
	if ps.entries[j.PresenceKey] == nil {
		ps.entries[j.PresenceKey] = map[*Join]presenceMeta{}
	}
	old, had := ps.entries[j.PresenceKey][j]
	m := presenceMeta{ref: randomID()[:20], meta: meta}
	ps.entries[j.PresenceKey][j] = m
	ps.mu.Unlock()

	diff := map[string]map[string]presenceMetas{"joins": {j.PresenceKey: {Metas: []json.RawMessage{m.metaJSON()}}}, "leaves": {}}
	if had {
		diff["leaves"][j.PresenceKey] = presenceMetas{Metas: []json.RawMessage{old.metaJSON()}}
	}
	h.presenceDiff(j.Topic, diff)
}

// Untrack removes j's presence and tells the topic.
func (h *Hub) Untrack(j *Join) { h.untrack(j) }

func (h *Hub) untrack(j *Join) {
	h.mu.RLock()
	ps := h.presence[j.Topic]
	h.mu.RUnlock()
	if ps == nil {
		return
	}
	ps.mu.Lock()
	old, had := ps.entries[j.PresenceKey][j]
	if had {
		delete(ps.entries[j.PresenceKey], j)
		if len(ps.entries[j.PresenceKey]) == 0 {
			delete(ps.entries, j.PresenceKey)
		}
	}
	ps.mu.Unlock()
	if had {
		h.presenceDiff(j.Topic, map[string]map[string]presenceMetas{"joins": {}, "leaves": {j.PresenceKey: {Metas: []json.RawMessage{old.metaJSON()}}}})
	}
}

func (h *Hub) presenceFor(topic string) *presenceState {
	h.mu.Lock()
	defer h.mu.Unlock()
	ps := h.presence[topic]
	if ps == nil {
		ps = &presenceState{entries: map[string]map[*Join]presenceMeta{}}
		h.presence[topic] = ps
	}
	return ps
}

// PresenceState is the topic's full presence, as sent after a join.
func (h *Hub) PresenceState(topic string) json.RawMessage {
	h.mu.RLock()
	ps := h.presence[topic]
	h.mu.RUnlock()
	state := map[string]presenceMetas{}
	if ps != nil {
		ps.mu.Lock()
		for key, joins := range ps.entries {
			var metas []json.RawMessage
			for _, m := range joins {
				metas = append(metas, m.metaJSON())
			}
			state[key] = presenceMetas{Metas: metas}
		}
		ps.mu.Unlock()
	}
	b, _ := json.Marshal(state)
	return b
}

func (h *Hub) presenceDiff(topic string, diff any) {
	payload, err := json.Marshal(diff)
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

// Broadcast sends a client's message to the topic's members (the sender
// too when it asked for self). It reports false when the sender may not
// send on this private channel.
func (h *Hub) Broadcast(from *Join, msg BroadcastMessage) bool {
	if from != nil && !from.maySend {
		return false
	}
	for _, j := range h.members(fromTopic(from)) {
		if j == from && !from.Self {
			continue
		}
		if !j.mayRead {
			continue
		}
		m := msg
		j.conn.send(Message{Topic: j.Topic, Event: "broadcast", JoinRef: j.JoinRef, Broadcast: &m})
	}
	return true
}

// BroadcastTopic sends a server-side message to a topic.
func (h *Hub) BroadcastTopic(topic string, msg BroadcastMessage) {
	for _, j := range h.members(topic) {
		if j.mayRead {
			m := msg
			j.conn.send(Message{Topic: j.Topic, Event: "broadcast", JoinRef: j.JoinRef, Broadcast: &m})
		}
	}
}

func fromTopic(j *Join) string {
	if j == nil {
		return ""
	}
	return j.Topic
}
